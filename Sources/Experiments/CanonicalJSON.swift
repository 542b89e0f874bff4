import Foundation

/// A JSON value as configs see it: integers kept apart from other numbers so that seeds up to
/// 2⁶⁴ − 1 survive, and a serializer whose output depends on the value alone.
///
/// The canonical form is written here rather than by `JSONEncoder` because the run key hashes
/// it: the bytes must not change when Foundation changes how it spells numbers (Linux writes
/// `1e+20`, other versions have written `100.0` for integral doubles).
enum JSONValue: Hashable, Sendable {
    case null
    case bool(Bool)
    case integer(Int64)
    /// Integers above `Int64.max`.
    case unsigned(UInt64)
    case double(Double)
    case string(String)
    case array([JSONValue])
    case object([String: JSONValue])

    /// Converts what `JSONSerialization.jsonObject` returns. Booleans are told from numbers by
    /// their Objective-C type "c" (both on Darwin's CFBoolean and Linux's __NSCFBoolean), which
    /// JSONSerialization gives no integer.
    init(foundationObject object: Any) throws(ExperimentsError) {
        switch object {
        case is NSNull:
            self = .null
        case let number as NSNumber:
            switch String(cString: number.objCType) {
            case "c": self = .bool(number.boolValue)
            case "d", "f": self = .double(number.doubleValue)
            case "Q", "L", "I", "S", "C":
                let value = number.uint64Value
                self = value > UInt64(Int64.max) ? .unsigned(value) : .integer(Int64(value))
            default: self = .integer(number.int64Value)
            }
        case let string as String:
            self = .string(string)
        case let array as [Any]:
            var values: [JSONValue] = []
            values.reserveCapacity(array.count)
            for element in array { values.append(try JSONValue(foundationObject: element)) }
            self = .array(values)
        case let dictionary as [String: Any]:
            var fields: [String: JSONValue] = [:]
            for (key, value) in dictionary { fields[key] = try JSONValue(foundationObject: value) }
            self = .object(fields)
        default:
            throw .malformedConfig(reason: "unexpected JSON value of type \(type(of: object))")
        }
    }

    /// Parses JSON text; anything that is not JSON is a `malformedConfig` error.
    static func parse(_ data: Data) throws(ExperimentsError) -> JSONValue {
        if data.allSatisfy({ [0x20, 0x09, 0x0a, 0x0d].contains($0) }) { throw .malformedConfig(reason: "empty config") }
        let object: Any
        do {
            object = try JSONSerialization.jsonObject(with: data, options: [.fragmentsAllowed])
        } catch {
            let reason = (error as NSError).userInfo[NSDebugDescriptionErrorKey] as? String ?? "\(error)"
            throw .malformedConfig(reason: "not valid JSON: \(reason)")
        }
        return try JSONValue(foundationObject: object)
    }

    /// The compact canonical text, for messages.
    var text: String { String(decoding: serialized(), as: UTF8.self) }

    /// What a value is, for error messages ("found a string").
    var kindName: String {
        switch self {
        case .null: "null"
        case .bool: "a boolean"
        case .integer, .unsigned, .double: "a number"
        case .string: "a string"
        case .array: "an array"
        case .object: "an object"
        }
    }

    /// The canonical bytes: keys sorted by their UTF-8 bytes, no insignificant whitespace (or,
    /// when `pretty`, two-space indentation with scalar arrays on one line), slashes unescaped,
    /// integral doubles below 2⁵³ written as integers and other doubles in Swift's shortest
    /// round-trip form. Non-finite doubles, which no validated config holds, are written as null.
    func serialized(pretty: Bool = false) -> Data {
        var text = ""
        write(to: &text, pretty: pretty, indent: 0)
        if pretty { text += "\n" }
        return Data(text.utf8)
    }

    private func write(to text: inout String, pretty: Bool, indent: Int) {
        switch self {
        case .null: text += "null"
        case let .bool(value): text += value ? "true" : "false"
        case let .integer(value): text += String(value)
        case let .unsigned(value): text += String(value)
        case let .double(value): text += Self.canonicalNumber(value)
        case let .string(value): Self.writeString(value, to: &text)
        case let .array(values):
            let scalars = values.allSatisfy { if case .array = $0 { false } else if case .object = $0 { false } else { true } }
            if !pretty || scalars || values.isEmpty {
                text += "["
                for (index, value) in values.enumerated() {
                    if index > 0 { text += pretty ? ", " : "," }
                    value.write(to: &text, pretty: pretty, indent: indent)
                }
                text += "]"
            } else {
                text += "[\n"
                for (index, value) in values.enumerated() {
                    text += String(repeating: "  ", count: indent + 1)
                    value.write(to: &text, pretty: pretty, indent: indent + 1)
                    text += index + 1 < values.count ? ",\n" : "\n"
                }
                text += String(repeating: "  ", count: indent) + "]"
            }
        case let .object(fields):
            let keys = fields.keys.sorted { $0.utf8.lexicographicallyPrecedes($1.utf8) }
            if keys.isEmpty { text += "{}"; return }
            text += pretty ? "{\n" : "{"
            for (index, key) in keys.enumerated() {
                if pretty { text += String(repeating: "  ", count: indent + 1) }
                Self.writeString(key, to: &text)
                text += pretty ? ": " : ":"
                fields[key]!.write(to: &text, pretty: pretty, indent: indent + 1)
                if index + 1 < keys.count { text += pretty ? ",\n" : "," }
            }
            text += pretty ? "\n" + String(repeating: "  ", count: indent) + "}" : "}"
        }
    }

    /// 100.0 → "100", 0.1 → "0.1", 5e-4 → "0.0005", 1e20 → "1e+20": one spelling per Double.
    static func canonicalNumber(_ value: Double) -> String {
        guard value.isFinite else { return "null" }
        // Below 2⁵³ every integral double is an exact Int64; above it Swift's shortest form is
        // exact too, and switching there keeps huge values short ("1e+20").
        if value == value.rounded(), abs(value) < 9_007_199_254_740_992 { return String(Int64(value)) }
        return value.description
    }

    private static func writeString(_ value: String, to text: inout String) {
        text += "\""
        for scalar in value.unicodeScalars {
            switch scalar {
            case "\"": text += "\\\""
            case "\\": text += "\\\\"
            case "\n": text += "\\n"
            case "\r": text += "\\r"
            case "\t": text += "\\t"
            case _ where scalar.value < 0x20:
                let hex = String(scalar.value, radix: 16)
                text += "\\u" + String(repeating: "0", count: 4 - hex.count) + hex
            default: text.unicodeScalars.append(scalar)
            }
        }
        text += "\""
    }
}

extension JSONValue: Decodable {
    /// Any JSON subtree, so that `RunConfig` can validate what a `Decoder` hands it the same way
    /// as text given to `RunConfig.parse`.
    init(from decoder: any Decoder) throws {
        let container = try decoder.singleValueContainer()
        if container.decodeNil() {
            self = .null
        } else if let value = try? container.decode(Bool.self) {
            self = .bool(value)
        } else if let value = try? container.decode(Int64.self) {
            self = .integer(value)
        } else if let value = try? container.decode(UInt64.self) {
            self = .unsigned(value)
        } else if let value = try? container.decode(Double.self) {
            self = .double(value)
        } else if let value = try? container.decode(String.self) {
            self = .string(value)
        } else if let value = try? container.decode([JSONValue].self) {
            self = .array(value)
        } else {
            self = .object(try container.decode([String: JSONValue].self))
        }
    }
}

/// One JSON object of a config at a dotted path, with typed reads whose errors name the field.
/// JSON null counts as absent.
struct ConfigObject {
    let path: String
    let fields: [String: JSONValue]

    /// `value` must be an object (else `invalidField(path)`, or `malformedConfig` at the top
    /// level) whose keys are all in `allowed` (else `unknownKey` of the first, in sorted order).
    init(_ value: JSONValue, path: String, allowed: Set<String>) throws(ExperimentsError) {
        guard case let .object(fields) = value else {
            if path.isEmpty { throw .malformedConfig(reason: "expected a JSON object, found \(value.kindName)") }
            throw .invalidField(field: path, reason: "must be an object, found \(value.kindName)")
        }
        if let unknown = fields.keys.filter({ !allowed.contains($0) }).sorted().first {
            throw .unknownKey(path.isEmpty ? unknown : "\(path).\(unknown)")
        }
        self.path = path
        self.fields = fields
    }

    func field(_ key: String) -> String { path.isEmpty ? key : "\(path).\(key)" }

    func has(_ key: String) -> Bool { value(key) != nil }

    func value(_ key: String) -> JSONValue? {
        guard let value = fields[key], value != .null else { return nil }
        return value
    }

    private func mismatch(_ key: String, _ expected: String, _ value: JSONValue) -> ExperimentsError {
        .invalidField(field: field(key), reason: "must be \(expected), found \(value.kindName)")
    }

    func object(_ key: String, allowed: Set<String>) throws(ExperimentsError) -> ConfigObject? {
        guard let value = value(key) else { return nil }
        return try ConfigObject(value, path: field(key), allowed: allowed)
    }

    func string(_ key: String) throws(ExperimentsError) -> String? {
        guard let value = value(key) else { return nil }
        guard case let .string(string) = value else { throw mismatch(key, "a string", value) }
        return string
    }

    func bool(_ key: String) throws(ExperimentsError) -> Bool? {
        guard let value = value(key) else { return nil }
        guard case let .bool(bool) = value else { throw mismatch(key, "true or false", value) }
        return bool
    }

    /// Any JSON number, finite.
    func number(_ key: String) throws(ExperimentsError) -> Double? {
        guard let value = value(key) else { return nil }
        let number: Double
        switch value {
        case let .integer(integer): number = Double(integer)
        case let .unsigned(integer): number = Double(integer)
        case let .double(double): number = double
        default: throw mismatch(key, "a number", value)
        }
        guard number.isFinite else { throw .invalidField(field: field(key), reason: "must be finite") }
        return number
    }

    /// An integer in any spelling (100, 100.0, 1e2), possibly negative.
    func integer(_ key: String) throws(ExperimentsError) -> Int? {
        guard let value = value(key) else { return nil }
        return try Self.integer(value, field: field(key))
    }

    /// A non-negative integer up to 2⁶⁴ − 1 in any spelling; negative values name the field.
    func unsigned(_ key: String) throws(ExperimentsError) -> UInt64? {
        guard let value = value(key) else { return nil }
        switch value {
        case let .integer(integer):
            guard integer >= 0 else { throw .invalidField(field: field(key), reason: "must not be negative, got \(integer)") }
            return UInt64(integer)
        case let .unsigned(integer):
            return integer
        case let .double(double):
            guard double.isFinite, double == double.rounded() else {
                throw .invalidField(field: field(key), reason: "must be an integer, got \(double)")
            }
            guard double >= 0 else { throw .invalidField(field: field(key), reason: "must not be negative, got \(double)") }
            guard let exact = UInt64(exactly: double) else {
                throw .invalidField(field: field(key), reason: "must be at most \(UInt64.max), got \(double)")
            }
            return exact
        default:
            throw mismatch(key, "a non-negative integer", value)
        }
    }

    /// An array of integers.
    func integers(_ key: String) throws(ExperimentsError) -> [Int]? {
        guard let value = value(key) else { return nil }
        guard case let .array(elements) = value else { throw mismatch(key, "an array of integers", value) }
        var integers: [Int] = []
        for (index, element) in elements.enumerated() {
            integers.append(try Self.integer(element, field: "\(field(key))[\(index)]"))
        }
        return integers
    }

    private static func integer(_ value: JSONValue, field: String) throws(ExperimentsError) -> Int {
        switch value {
        case let .integer(integer):
            guard let exact = Int(exactly: integer) else { throw .invalidField(field: field, reason: "\(integer) is out of range") }
            return exact
        case let .unsigned(integer):
            throw .invalidField(field: field, reason: "\(integer) is out of range")
        case let .double(double):
            guard double.isFinite, double == double.rounded() else {
                throw .invalidField(field: field, reason: "must be an integer, got \(double)")
            }
            guard let exact = Int(exactly: double) else { throw .invalidField(field: field, reason: "\(double) is out of range") }
            return exact
        default:
            throw .invalidField(field: field, reason: "must be an integer, found \(value.kindName)")
        }
    }
}
