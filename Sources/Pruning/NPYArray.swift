import Foundation

/// Element types of `.npy` arrays that widen to Float; raw values are the descrs NumPy writes on a
/// little-endian machine. Reading also takes big-endian ('>f4') and native ('=i8') variants.
public enum NPYDType: String, Sendable, CaseIterable {
    case bool = "|b1"
    case int8 = "|i1"
    case uint8 = "|u1"
    case int16 = "<i2"
    case uint16 = "<u2"
    case int32 = "<i4"
    case uint32 = "<u4"
    case int64 = "<i8"
    case uint64 = "<u8"
    case float32 = "<f4"
    case float64 = "<f8"

    /// Bytes per element.
    public var itemSize: Int {
        switch self {
        case .bool, .int8, .uint8: 1
        case .int16, .uint16: 2
        case .int32, .uint32, .float32: 4
        case .int64, .uint64, .float64: 8
        }
    }

    /// Parses a NumPy descr: an optional byte order ('<', '>', '=', or '|' for one-byte types) then
    /// kind and size ('f4', 'i8', 'b1', …). Nil for anything else (complex, float16, strings, …).
    static func parse(_ descr: String) -> (dtype: NPYDType, bigEndian: Bool)? {
        var body = Substring(descr)
        var order: Character = "="
        if let first = body.first, "<>|=".contains(first) {
            order = first
            body = body.dropFirst()
        }
        guard let dtype = allCases.first(where: { $0.rawValue.dropFirst() == body }) else { return nil }
        if dtype.itemSize == 1 { return (dtype, false) }
        switch order {
        // '=' is native order; prunelab runs on little-endian machines only (x86-64, arm64).
        case "<", "=": return (dtype, false)
        case ">": return (dtype, true)
        default: return nil  // '|' (no byte order) is meaningless for multi-byte types
        }
    }

    static var supportedList: String { allCases.map(\.rawValue).joined(separator: ", ") + " and their '>' variants" }
}

/// One NumPy array as stored in a `.npy` file: its shape, its dtype and its values widened to
/// Float in C (row-major) order; bool and integer dtypes hold 0, 1, ….
public struct NPYArray: Equatable, Sendable {
    public var shape: [Int]
    public var values: [Float]
    public var dtype: NPYDType

    /// An array of `shape` (`[]` for a scalar) holding `values` in C order.
    public init(shape: [Int], values: [Float], dtype: NPYDType) {
        precondition(shape.allSatisfy { $0 >= 0 } && values.count == shape.reduce(1, *), "\(values.count) values for shape \(shape)")
        self.shape = shape
        self.values = values
        self.dtype = dtype
    }

    /// Number of elements (1 for a scalar).
    public var count: Int { values.count }

    static let magic: [UInt8] = [0x93, 0x4E, 0x55, 0x4D, 0x50, 0x59]  // "\x93NUMPY"
    /// NumPy starts the data at a multiple of 64 bytes so that it can be memory-mapped aligned.
    static let alignment = 64

    /// Parses the bytes of a `.npy` file (format 1.0, 2.0 or 3.0); `path` and `entry` name it in errors.
    public init(npyData data: Data, path: String, entry: String) throws(NPZError) {
        self.init(try NPYEntry(npyData: data, path: path, entry: entry))
    }

    /// The values of a parsed entry, widened to Float in C order.
    init(_ entry: NPYEntry) {
        self.init(shape: entry.shape, values: entry.values(), dtype: entry.dtype)
    }

    /// The `.npy` bytes: format 1.0 (2.0 if the header outgrows 64 KiB, as NumPy does), C order,
    /// the header padded with spaces and ending in '\n' so that the data starts at a multiple of 64.
    /// Values the dtype cannot hold exactly (0.5 or 2 as bool, 300 as uint8) are an error.
    public func npyData(path: String, entry: String) throws(NPZError) -> Data {
        func invalid(_ reason: String) -> NPZError { .invalidArray(path: path, entry: entry, reason: reason) }
        guard shape.allSatisfy({ $0 >= 0 }), values.count == shape.reduce(1, *) else {
            throw invalid("\(values.count) values do not fill shape \(shape)")
        }
        var unrepresentable: Int?
        let data = Self.npyData(shape: shape, dtype: dtype) { payload in
            unrepresentable = values.withUnsafeBufferPointer { Self.store($0, as: dtype, into: payload) }
        }
        if let index = unrepresentable {
            throw invalid("value \(values[index]) at index \(index) is not representable as \(dtype.rawValue)")
        }
        return data
    }

    /// `.npy` bytes of `shape` and `dtype` (format 1.0, or 2.0 when the header outgrows 64 KiB),
    /// the payload written by `fill` into the space after the header.
    static func npyData(shape: [Int], dtype: NPYDType, fill: (UnsafeMutableRawPointer) -> Void) -> Data {
        let literal = NPYHeader(descr: dtype.rawValue, fortranOrder: false, shape: shape).literal
        var prefixLength = 10, version: UInt8 = 1
        var header = Self.padded(literal, after: prefixLength)
        if header.count > Int(UInt16.max) {
            (prefixLength, version) = (12, 2)
            header = Self.padded(literal, after: prefixLength)
        }
        let dataStart = prefixLength + header.count
        var data = Data(count: dataStart + shape.reduce(1, *) * dtype.itemSize)
        data.withUnsafeMutableBytes { raw in
            raw.copyBytes(from: Self.magic + [version, 0])
            for i in 0..<(prefixLength - 8) { raw[8 + i] = UInt8(truncatingIfNeeded: header.count >> (8 * i)) }
            UnsafeMutableRawBufferPointer(rebasing: raw[prefixLength..<dataStart]).copyBytes(from: header)
            fill(raw.baseAddress! + dataStart)
        }
        return data
    }

    /// `literal` plus the spaces and newline that end the header on a multiple of 64 bytes (1–64 spaces, as NumPy).
    static func padded(_ literal: String, after prefixLength: Int) -> [UInt8] {
        let length = literal.utf8.count + 1
        let padding = alignment - (prefixLength + length) % alignment
        return Array(literal.utf8) + [UInt8](repeating: 0x20, count: padding) + [0x0A]
    }

    // MARK: Element conversion (raw pointers: masks run to tens of millions of elements)

    static func load(_ raw: UnsafeRawBufferPointer, as dtype: NPYDType, bigEndian: Bool, into out: UnsafeMutableBufferPointer<Float>) {
        guard !out.isEmpty else { return }
        switch dtype {
        case .bool:
            for i in out.indices { out[i] = raw[i] == 0 ? 0 : 1 }
        case .int8: loadIntegers(Int8.self, raw, bigEndian, out)
        case .uint8: for i in out.indices { out[i] = Float(raw[i]) }
        case .int16: loadIntegers(Int16.self, raw, bigEndian, out)
        case .uint16: loadIntegers(UInt16.self, raw, bigEndian, out)
        case .int32: loadIntegers(Int32.self, raw, bigEndian, out)
        case .uint32: loadIntegers(UInt32.self, raw, bigEndian, out)
        case .int64: loadIntegers(Int64.self, raw, bigEndian, out)
        case .uint64: loadIntegers(UInt64.self, raw, bigEndian, out)
        case .float32:
            if bigEndian {
                for i in out.indices {
                    out[i] = Float(bitPattern: UInt32(bigEndian: raw.loadUnaligned(fromByteOffset: 4 * i, as: UInt32.self)))
                }
            } else {
                UnsafeMutableRawPointer(out.baseAddress!).copyMemory(from: raw.baseAddress!, byteCount: 4 * out.count)
            }
        case .float64:
            for i in out.indices {
                let bits = raw.loadUnaligned(fromByteOffset: 8 * i, as: UInt64.self)
                out[i] = Float(Double(bitPattern: bigEndian ? UInt64(bigEndian: bits) : UInt64(littleEndian: bits)))
            }
        }
    }

    private static func loadIntegers<T: FixedWidthInteger>(_: T.Type, _ raw: UnsafeRawBufferPointer, _ bigEndian: Bool,
                                                         _ out: UnsafeMutableBufferPointer<Float>) {
        let size = MemoryLayout<T>.size
        for i in out.indices {
            let bits = raw.loadUnaligned(fromByteOffset: size * i, as: T.self)
            out[i] = Float(bigEndian ? T(bigEndian: bits) : T(littleEndian: bits))
        }
    }

    /// Writes `values` little-endian as `dtype`; returns the index of the first value it cannot hold exactly.
    static func store(_ values: UnsafeBufferPointer<Float>, as dtype: NPYDType, into out: UnsafeMutableRawPointer) -> Int? {
        guard let source = values.baseAddress else { return nil }
        switch dtype {
        case .bool:
            for i in values.indices {
                let value = values[i]
                guard value == 0 || value == 1 else { return i }
                out.storeBytes(of: value == 0 ? 0 : 1, toByteOffset: i, as: UInt8.self)
            }
            return nil
        case .int8: return storeIntegers(Int8.self, values, out)
        case .uint8: return storeIntegers(UInt8.self, values, out)
        case .int16: return storeIntegers(Int16.self, values, out)
        case .uint16: return storeIntegers(UInt16.self, values, out)
        case .int32: return storeIntegers(Int32.self, values, out)
        case .uint32: return storeIntegers(UInt32.self, values, out)
        case .int64: return storeIntegers(Int64.self, values, out)
        case .uint64: return storeIntegers(UInt64.self, values, out)
        case .float32:
            out.copyMemory(from: source, byteCount: 4 * values.count)
            return nil
        case .float64:
            for i in values.indices {
                out.storeBytes(of: Double(values[i]).bitPattern.littleEndian, toByteOffset: 8 * i, as: UInt64.self)
            }
            return nil
        }
    }

    private static func storeIntegers<T: FixedWidthInteger>(_: T.Type, _ values: UnsafeBufferPointer<Float>,
                                                          _ out: UnsafeMutableRawPointer) -> Int? {
        let size = MemoryLayout<T>.size
        for i in values.indices {
            guard let value = T(exactly: values[i]) else { return i }
            out.storeBytes(of: value.littleEndian, toByteOffset: size * i, as: T.self)
        }
        return nil
    }

    /// Reorders Fortran-order (first index fastest) values into C order: walk the C indices like an
    /// odometer, carrying the Fortran offset along.
    static func cOrder(fromFortran values: [Float], shape: [Int]) -> [Float] {
        let count = values.count
        guard count > 0 else { return values }
        let rank = shape.count
        var strides = [Int](repeating: 1, count: rank)
        for axis in 1..<rank { strides[axis] = strides[axis - 1] * shape[axis - 1] }
        let innerLength = shape[rank - 1], innerStride = strides[rank - 1]
        return values.withUnsafeBufferPointer { source in
            [Float](unsafeUninitializedCapacity: count) { out, initialized in
                var index = [Int](repeating: 0, count: rank)
                var offset = 0, position = 0
                while position < count {
                    var from = offset
                    for _ in 0..<innerLength {
                        out[position] = source[from]
                        from += innerStride
                        position += 1
                    }
                    var axis = rank - 2
                    while axis >= 0 {
                        index[axis] += 1
                        offset += strides[axis]
                        if index[axis] < shape[axis] { break }
                        offset -= strides[axis] * shape[axis]
                        index[axis] = 0
                        axis -= 1
                    }
                }
                initialized = count
            }
        }
    }
}

/// A parsed `.npy` file whose values are still in their stored form: shape, dtype and byte order
/// checked against the payload's size, nothing converted yet. Reading one layer's values (or its
/// mask bytes) then costs one pass over its own payload.
struct NPYEntry {
    let shape: [Int]
    let dtype: NPYDType
    let bigEndian: Bool
    let fortranOrder: Bool
    let count: Int
    private let data: Data
    private let dataStart: Int

    init(npyData data: Data, path: String, entry: String) throws(NPZError) {
        func corrupt(_ reason: String) -> NPZError { .corruptArray(path: path, entry: entry, reason: reason) }
        let prefix = [UInt8](data.prefix(12))
        guard prefix.count >= 10, prefix.starts(with: NPYArray.magic) else { throw corrupt("not an .npy array (no \\x93NUMPY magic)") }
        let lengthBytes: Int
        switch prefix[6] {
        case 1: lengthBytes = 2
        case 2, 3: lengthBytes = 4
        default: throw corrupt("unsupported .npy format version \(prefix[6]).\(prefix[7])")
        }
        guard prefix.count >= 8 + lengthBytes else { throw corrupt("truncated header") }
        let headerLength = (0..<lengthBytes).reduce(0) { $0 | Int(prefix[8 + $1]) << (8 * $1) }
        let headerStart = 8 + lengthBytes
        guard data.count - headerStart >= headerLength else {
            throw corrupt("header of \(headerLength) bytes runs past the end of the \(data.count)-byte entry")
        }
        let dataStart = headerStart + headerLength
        let header: NPYHeader
        do {
            header = try NPYHeader(parsing: [UInt8](data[(data.startIndex + headerStart)..<(data.startIndex + dataStart)]))
        } catch {
            switch error {
            case let .malformed(reason): throw corrupt("bad header: \(reason)")
            case let .unsupportedDType(text): throw .unsupportedDType(path: path, entry: entry, dtype: text)
            }
        }
        guard let (dtype, bigEndian) = NPYDType.parse(header.descr) else {
            throw .unsupportedDType(path: path, entry: entry, dtype: header.descr)
        }
        var count = 1, byteCount = dtype.itemSize
        for dimension in header.shape {
            let (elements, overflow) = count.multipliedReportingOverflow(by: dimension)
            let (bytes, byteOverflow) = byteCount.multipliedReportingOverflow(by: dimension)
            guard !overflow, !byteOverflow else { throw corrupt("shape \(header.shape) is too large") }
            (count, byteCount) = (elements, bytes)
        }
        let payload = data.count - dataStart
        guard payload == byteCount else {
            throw corrupt("holds \(payload) data bytes, shape \(header.shape) of \(header.descr) needs \(byteCount)")
        }
        shape = header.shape
        self.dtype = dtype
        self.bigEndian = bigEndian
        fortranOrder = header.fortranOrder && header.shape.count > 1
        self.count = count
        self.data = data
        self.dataStart = dataStart
    }

    /// The values widened to Float, in C order.
    func values() -> [Float] {
        let values = data.withUnsafeBytes { raw in
            [Float](unsafeUninitializedCapacity: count) { buffer, initialized in
                NPYArray.load(UnsafeRawBufferPointer(rebasing: raw[dataStart...]), as: dtype, bigEndian: bigEndian, into: buffer)
                initialized = count
            }
        }
        return fortranOrder ? NPYArray.cOrder(fromFortran: values, shape: shape) : values
    }

    /// The values as 0/1 bytes in C order, written to `out` (`count` bytes); returns the first value
    /// (in C order) other than 0 and 1, as Float, when there is one. Bool and uint8 arrays in C
    /// order, what NumPy and prunelab write, are read byte for byte; bool is 1 wherever non-zero.
    func maskBytes(into out: UnsafeMutablePointer<UInt8>) -> Float? {
        if !fortranOrder, dtype == .bool || dtype == .uint8 {
            return data.withUnsafeBytes { raw -> Float? in
                let source = raw.baseAddress!.assumingMemoryBound(to: UInt8.self) + dataStart
                var largest: UInt8 = 0
                if dtype == .bool {
                    for i in 0..<count { out[i] = source[i] == 0 ? 0 : 1 }
                    return nil
                }
                for i in 0..<count {
                    let value = source[i]
                    out[i] = value
                    largest = max(largest, value)
                }
                guard largest > 1 else { return nil }
                return (0..<count).first { source[$0] > 1 }.map { Float(source[$0]) }
            }
        }
        let values = values()
        for i in 0..<count {
            let value = values[i]
            guard value == 0 || value == 1 else { return value }
            out[i] = value == 0 ? 0 : 1
        }
        return nil
    }
}

/// The Python dict literal of an `.npy` header: `{'descr': '<f4', 'fortran_order': False, 'shape': (3, 4), }`.
struct NPYHeader {
    var descr: String
    var fortranOrder: Bool
    var shape: [Int]

    enum Problem: Error {
        case malformed(String)
        /// A descr that is not a plain type string (a structured dtype's field list).
        case unsupportedDType(String)
    }

    init(descr: String, fortranOrder: Bool, shape: [Int]) {
        self.descr = descr
        self.fortranOrder = fortranOrder
        self.shape = shape
    }

    /// The literal NumPy writes (without its padding); `(5,)` for one dimension, `()` for a scalar.
    var literal: String {
        let dimensions = shape.count == 1 ? "(\(shape[0]),)" : "(" + shape.map(String.init).joined(separator: ", ") + ")"
        return "{'descr': '\(descr)', 'fortran_order': \(fortranOrder ? "True" : "False"), 'shape': \(dimensions), }"
    }

    /// Parses the dict literal; like NumPy it wants exactly the keys descr, fortran_order and shape.
    init(parsing bytes: [UInt8]) throws(Problem) {
        var scanner = LiteralScanner(bytes: bytes)
        var fields: [String: LiteralScanner.Value] = [:]
        try scanner.expect("{")
        while !scanner.consume("}") {
            let key = try scanner.string()
            try scanner.expect(":")
            let value = try scanner.value()
            guard fields.updateValue(value, forKey: key) == nil else { throw .malformed("key '\(key)' appears twice") }
            if !scanner.consume(",") {
                try scanner.expect("}")
                break
            }
        }
        guard scanner.atEnd else { throw .malformed("text after the closing brace") }
        let keys = fields.keys.sorted()
        guard keys == ["descr", "fortran_order", "shape"] else {
            throw .malformed("keys are \(keys), expected descr, fortran_order and shape")
        }
        switch fields["descr"]! {
        case let .string(text): descr = text
        case let .other(text): throw .unsupportedDType(text)
        default: throw .malformed("descr is not a string")
        }
        guard case let .boolean(fortran) = fields["fortran_order"]! else { throw .malformed("fortran_order is not True or False") }
        guard case let .integers(dimensions) = fields["shape"]! else { throw .malformed("shape is not a tuple of integers") }
        fortranOrder = fortran
        shape = dimensions
    }
}

/// Just enough of a Python literal reader for `.npy` headers: strings, True/False, tuples of
/// non-negative integers; anything else (lists, dicts) is kept as text.
private struct LiteralScanner {
    enum Value { case string(String), boolean(Bool), integers([Int]), other(String) }

    let bytes: [UInt8]
    var position = 0

    init(bytes: [UInt8]) { self.bytes = bytes }

    private static let space: Set<UInt8> = [0x20, 0x09, 0x0A, 0x0D]

    private mutating func skipSpace() { while position < bytes.count, Self.space.contains(bytes[position]) { position += 1 } }

    var atEnd: Bool {
        mutating get {
            skipSpace()
            return position == bytes.count
        }
    }

    private mutating func peek() -> UInt8? {
        skipSpace()
        return position < bytes.count ? bytes[position] : nil
    }

    mutating func consume(_ character: Unicode.Scalar) -> Bool {
        guard peek() == UInt8(ascii: character) else { return false }
        position += 1
        return true
    }

    mutating func expect(_ character: Unicode.Scalar) throws(NPYHeader.Problem) {
        guard consume(character) else {
            let found = peek().map { "'\(Unicode.Scalar($0))'" } ?? "the end"
            throw .malformed("expected '\(character)' at byte \(position), found \(found)")
        }
    }

    mutating func string() throws(NPYHeader.Problem) -> String {
        guard let quote = peek(), quote == UInt8(ascii: "'") || quote == UInt8(ascii: "\"") else {
            throw .malformed("expected a quoted string at byte \(position)")
        }
        let start = position + 1
        guard let end = bytes[start...].firstIndex(of: quote) else { throw .malformed("unterminated string") }
        position = end + 1
        return String(decoding: bytes[start..<end], as: UTF8.self)
    }

    mutating func value() throws(NPYHeader.Problem) -> Value {
        guard let next = peek() else { throw .malformed("missing value at the end") }
        switch next {
        case UInt8(ascii: "'"), UInt8(ascii: "\""): return .string(try string())
        case UInt8(ascii: "("): return .integers(try integers())
        case UInt8(ascii: "["), UInt8(ascii: "{"): return .other(try balanced())
        default:
            let start = position
            while position < bytes.count, !",}: ".utf8.contains(bytes[position]) { position += 1 }
            let word = String(decoding: bytes[start..<position], as: UTF8.self)
            switch word {
            case "True": return .boolean(true)
            case "False": return .boolean(false)
            case "": throw .malformed("missing value at byte \(start)")
            default: return .other(word)
            }
        }
    }

    /// A tuple of integers: `()`, `(5,)`, `(3, 4)`; Python 2's `3L` longs too.
    private mutating func integers() throws(NPYHeader.Problem) -> [Int] {
        try expect("(")
        var result: [Int] = []
        while !consume(")") {
            let start = position
            var number = 0
            while position < bytes.count, bytes[position] >= UInt8(ascii: "0"), bytes[position] <= UInt8(ascii: "9") {
                let (times10, overflow) = number.multipliedReportingOverflow(by: 10)
                let (sum, overflowSum) = times10.addingReportingOverflow(Int(bytes[position] - UInt8(ascii: "0")))
                guard !overflow, !overflowSum else { throw .malformed("dimension too large at byte \(start)") }
                number = sum
                position += 1
            }
            guard position > start else { throw .malformed("expected a non-negative integer at byte \(start)") }
            if position < bytes.count, bytes[position] == UInt8(ascii: "L") { position += 1 }
            result.append(number)
            if !consume(",") {
                try expect(")")
                break
            }
        }
        return result
    }

    /// The text of a bracketed literal, brackets balanced and strings skipped.
    private mutating func balanced() throws(NPYHeader.Problem) -> String {
        let start = position
        var depth = 0
        while position < bytes.count {
            let byte = bytes[position]
            if byte == UInt8(ascii: "'") || byte == UInt8(ascii: "\"") {
                guard let end = bytes[(position + 1)...].firstIndex(of: byte) else { throw .malformed("unterminated string") }
                position = end
            } else if "([{".utf8.contains(byte) {
                depth += 1
            } else if ")]}".utf8.contains(byte) {
                depth -= 1
                if depth == 0 {
                    position += 1
                    return String(decoding: bytes[start..<position], as: UTF8.self)
                }
            }
            position += 1
        }
        throw .malformed("unbalanced brackets")
    }
}
