import Foundation
import Testing
@testable import Pruning

/// A fresh directory under the system temporary directory; `remove()` deletes it with its contents.
struct ScratchDirectory {
    let path: String

    init() throws {
        path = FileManager.default.temporaryDirectory.appendingPathComponent("prunelab-npz-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    }

    func file(_ name: String) -> String { "\(path)/\(name)" }
    /// Every name in the directory, hidden temporary files included.
    var contents: [String] { ((try? FileManager.default.contentsOfDirectory(atPath: path)) ?? []).sorted() }
    func remove() { try? FileManager.default.removeItem(atPath: path) }
}

/// Debian's Python with python3-numpy: the reference our npz files must agree with. Deliberately
/// /usr/bin/python3, not the `python3` on PATH (a pyenv build without numpy on developer machines).
enum NumPy {
    static let python = "/usr/bin/python3"

    struct Failure: Error, CustomStringConvertible {
        let description: String
    }

    /// Runs `script` with `numpy` imported as `np` and `sys.argv[1:] == arguments`; returns its
    /// standard output. Fails (never skips) when /usr/bin/python3 or its numpy is missing.
    static func run(_ script: String, _ arguments: [String] = []) throws -> String {
        let install = "install Debian's python3-numpy (scripts/install-system-packages) for the npz interop tests"
        guard FileManager.default.isExecutableFile(atPath: python) else { throw Failure(description: "\(python) is missing: \(install)") }
        let prelude = "import sys, json\ntry:\n    import numpy as np\nexcept ImportError:\n    sys.exit(97)\n"
        // Output goes through files, so a chatty child can never block on a full pipe.
        let base = FileManager.default.temporaryDirectory.appendingPathComponent("prunelab-numpy-\(UUID().uuidString)")
        let outURL = base.appendingPathExtension("out"), errURL = base.appendingPathExtension("err")
        _ = FileManager.default.createFile(atPath: outURL.path, contents: nil)
        _ = FileManager.default.createFile(atPath: errURL.path, contents: nil)
        defer {
            try? FileManager.default.removeItem(at: outURL)
            try? FileManager.default.removeItem(at: errURL)
        }
        let process = Process()
        process.executableURL = URL(fileURLWithPath: python)
        // -I: isolated mode, so PYTHONPATH or user site-packages cannot swap in another numpy.
        process.arguments = ["-I", "-c", prelude + script] + arguments
        process.standardOutput = try FileHandle(forWritingTo: outURL)
        process.standardError = try FileHandle(forWritingTo: errURL)
        try process.run()
        process.waitUntilExit()
        let output = (try? String(contentsOf: outURL, encoding: .utf8)) ?? ""
        let errors = (try? String(contentsOf: errURL, encoding: .utf8)) ?? ""
        if process.terminationStatus == 97 { throw Failure(description: "\(python) cannot import numpy: \(install)") }
        guard process.terminationStatus == 0 else {
            throw Failure(description: "\(python) exited with \(process.terminationStatus):\n\(errors)\(output)")
        }
        return output
    }

    /// One array as NumPy loaded it from an npz file.
    struct Loaded: Decodable, Equatable {
        let name: String
        let dtype: String
        let shape: [Int]
        let values: [Double]
    }

    /// Loads `path` with `np.load` and describes every array in `files` order.
    static func load(_ path: String) throws -> [Loaded] {
        let script = """
            with np.load(sys.argv[1]) as f:
                for k in f.files:
                    a = f[k]
                    print(json.dumps({'name': k, 'dtype': a.dtype.str, 'shape': list(a.shape),
                                      'values': a.astype(np.float64).ravel(order='C').tolist()}))
            """
        return try run(script, [path]).split(separator: "\n").map { try JSONDecoder().decode(Loaded.self, from: Data($0.utf8)) }
    }
}

/// Arrays whose values every dtype holds exactly; the Python scripts below build the same ones
/// from `np.arange(n)`: bool i % 3 == 0, unsigned 37i mod 250, signed 37i mod 200 − 100, float i/4 − 3.
enum Samples {
    static func values(_ dtype: NPYDType, count: Int) -> [Float] {
        (0..<count).map { i in
            switch dtype {
            case .bool: i % 3 == 0 ? 1 : 0
            case .uint8, .uint16, .uint32, .uint64: Float(i * 37 % 250)
            case .int8, .int16, .int32, .int64: Float(i * 37 % 200 - 100)
            case .float32, .float64: Float(i) / 4 - 3
            }
        }
    }

    static func array(_ dtype: NPYDType, shape: [Int]) -> NPYArray {
        NPYArray(shape: shape, values: values(dtype, count: shape.reduce(1, *)), dtype: dtype)
    }

    /// The same arrays in Python, for a script that has `shape` and a dtype string `dt` in scope.
    static let python = """
        def sample(dt, shape):
            i = np.arange(int(np.prod(shape)))
            kind = np.dtype(dt).kind
            if kind == 'b': v = i % 3 == 0
            elif kind == 'u': v = i * 37 % 250
            elif kind == 'i': v = i * 37 % 200 - 100
            else: v = i / 4 - 3
            return v.astype(dt).reshape(shape)

        """
}

/// `.npy` bytes with a header written by hand (no padding unless the text has it).
func npyBytes(header: String, version: UInt8 = 1, data: [UInt8]) -> Data {
    let text = Array(header.utf8)
    var bytes: [UInt8] = [0x93] + Array("NUMPY".utf8) + [version, 0]
    let lengthBytes = version == 1 ? 2 : 4
    for i in 0..<lengthBytes { bytes.append(UInt8(truncatingIfNeeded: text.count >> (8 * i))) }
    return Data(bytes + text + data)
}

func littleEndianBytes(_ values: [Float]) -> [UInt8] { values.flatMap { withUnsafeBytes(of: $0.bitPattern.littleEndian, Array.init) } }

@Suite("npy and npz files")
struct NPZTests {
    static let shapes: [[Int]] = [[2, 3], [], [5], [0], [3, 0], [2, 3, 4]]

    // MARK: .npy

    @Test(arguments: NPYDType.allCases)
    func npyRoundTripsEveryDTypeAndShape(dtype: NPYDType) throws {
        for shape in Self.shapes {
            let array = Samples.array(dtype, shape: shape)
            let bytes = try array.npyData(path: "mem", entry: "a")
            #expect(try NPYArray(npyData: bytes, path: "mem", entry: "a") == array, "\(dtype) \(shape)")
        }
    }

    /// NumPy's rule: format 1.0, the dict, spaces and '\n' so that the data starts on a multiple of 64.
    @Test(arguments: [([300, 784], NPYDType.bool), ([], .float32), ([7], .int64), ([120, 400], .uint8),
                      ([1, 2, 1, 3, 1, 1, 2, 1, 1, 1, 2, 1], .float64)])
    func headerIsPaddedSoDataStartsAtAMultipleOf64(shape: [Int], dtype: NPYDType) throws {
        let bytes = [UInt8](try Samples.array(dtype, shape: shape).npyData(path: "mem", entry: "a"))
        #expect(Array(bytes[0..<8]) == [0x93, 0x4E, 0x55, 0x4D, 0x50, 0x59, 1, 0])
        let headerLength = Int(bytes[8]) | Int(bytes[9]) << 8
        #expect((10 + headerLength) % 64 == 0)
        #expect(bytes.count == 10 + headerLength + shape.reduce(1, *) * dtype.itemSize)
        let header = String(decoding: bytes[10..<(10 + headerLength)], as: UTF8.self)
        #expect(header.hasSuffix("\n"))
        let dimensions = shape.count == 1 ? "(\(shape[0]),)" : "(" + shape.map(String.init).joined(separator: ", ") + ")"
        let literal = "{'descr': '\(dtype.rawValue)', 'fortran_order': False, 'shape': \(dimensions), }"
        #expect(header.dropLast().trimmingCharacters(in: .whitespaces) == literal)
        #expect(header.dropLast().allSatisfy { $0 != "\n" })
    }

    /// A deflated entry that expands past the size its headers declare (a zip bomb's trick) is
    /// refused when extraction reaches the declared size, not after inflating all of it.
    @Test func entriesExpandingPastTheirDeclaredSizeAreRefused() throws {
        let scratch = try ScratchDirectory()
        defer { scratch.remove() }
        let path = scratch.file("bomb.npz")
        // 4 MB of zeros deflate to a few kB; then both headers claim 1000 bytes.
        try NPZArchive.write([("fc1", NPYArray(shape: [1000, 1000], values: [Float](repeating: 0, count: 1_000_000), dtype: .float32))],
                             to: path, compressed: true)
        var bytes = [UInt8](try Data(contentsOf: URL(fileURLWithPath: path)))
        func patch(signature: [UInt8], sizeOffset: Int) -> Int {
            var patched = 0
            for start in 0..<(bytes.count - 4) where Array(bytes[start..<(start + 4)]) == signature {
                let value = UInt32(1000)
                for k in 0..<4 { bytes[start + sizeOffset + k] = UInt8(truncatingIfNeeded: value >> (8 * UInt32(k))) }
                patched += 1
            }
            return patched
        }
        #expect(patch(signature: [0x50, 0x4B, 0x03, 0x04], sizeOffset: 22) == 1)  // local header: uncompressed size
        #expect(patch(signature: [0x50, 0x4B, 0x01, 0x02], sizeOffset: 24) == 1)  // central directory: uncompressed size
        try Data(bytes).write(to: URL(fileURLWithPath: path))
        #expect { _ = try NPZArchive.read(path: path) } throws: { error in "\(error)".contains("expands past the 1000 bytes") }
    }

    @Test func maskHeaderIsNumPysLiteral() throws {
        let bytes = [UInt8](try Samples.array(.bool, shape: [300, 784]).npyData(path: "mem", entry: "fc1"))
        let header = String(decoding: bytes[10..<128], as: UTF8.self)
        #expect(header == "{'descr': '|b1', 'fortran_order': False, 'shape': (300, 784), }" + String(repeating: " ", count: 54) + "\n")
    }

    @Test(arguments: [UInt8(2), 3])
    func readsFormatVersions2And3(version: UInt8) throws {
        let bytes = npyBytes(header: "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 2), }\n", version: version,
                             data: littleEndianBytes([1, 2, 3, 4]))
        #expect(try NPYArray(npyData: bytes, path: "mem", entry: "a") == NPYArray(shape: [2, 2], values: [1, 2, 3, 4], dtype: .float32))
    }

    /// Column-major (2, 3) data 0 3 1 4 2 5 is the C-order matrix [[0 1 2] [3 4 5]].
    @Test func fortranOrderBecomesCOrder() throws {
        let matrix = npyBytes(header: "{'descr': '<f4', 'fortran_order': True, 'shape': (2, 3), }\n",
                              data: littleEndianBytes([0, 3, 1, 4, 2, 5]))
        #expect(try NPYArray(npyData: matrix, path: "mem", entry: "a").values == [0, 1, 2, 3, 4, 5])
        // (2, 3, 4): element (i, j, k) sits at i + 2j + 6k in Fortran order; its C index is 12i + 4j + k.
        var fortran = [Float](repeating: 0, count: 24)
        for i in 0..<2 { for j in 0..<3 { for k in 0..<4 { fortran[i + 2 * j + 6 * k] = Float(12 * i + 4 * j + k) } } }
        let cube = npyBytes(header: "{'descr': '<f4', 'fortran_order': True, 'shape': (2, 3, 4), }\n", data: littleEndianBytes(fortran))
        let parsed = try NPYArray(npyData: cube, path: "mem", entry: "a")
        #expect(parsed.shape == [2, 3, 4] && parsed.values == (0..<24).map(Float.init))
        let vector = npyBytes(header: "{'descr': '<f4', 'fortran_order': True, 'shape': (3,), }\n", data: littleEndianBytes([7, 8, 9]))
        #expect(try NPYArray(npyData: vector, path: "mem", entry: "a").values == [7, 8, 9])
    }

    @Test func scalarsOneDimensionalAndEmptyShapes() throws {
        let scalar = npyBytes(header: "{'descr': '<f8', 'fortran_order': False, 'shape': (), }\n",
                              data: withUnsafeBytes(of: (2.5).bitPattern.littleEndian, Array.init))
        #expect(try NPYArray(npyData: scalar, path: "mem", entry: "s") == NPYArray(shape: [], values: [2.5], dtype: .float64))
        let vector = npyBytes(header: "{'shape': (3,), 'fortran_order': False, 'descr': '|u1'}", data: [0, 7, 255])
        #expect(try NPYArray(npyData: vector, path: "mem", entry: "v") == NPYArray(shape: [3], values: [0, 7, 255], dtype: .uint8))
        let empty = npyBytes(header: "{'descr': '<i8', 'fortran_order': False, 'shape': (4, 0), }", data: [])
        #expect(try NPYArray(npyData: empty, path: "mem", entry: "e") == NPYArray(shape: [4, 0], values: [], dtype: .int64))
        let python2 = npyBytes(header: "{'descr': '|b1', 'fortran_order': False, 'shape': (2L,), }", data: [1, 0])
        #expect(try NPYArray(npyData: python2, path: "mem", entry: "p").values == [1, 0])
    }

    @Test func bigEndianAndByteOrderVariantsAreRead() throws {
        let bigFloat = npyBytes(header: "{'descr': '>f4', 'fortran_order': False, 'shape': (2,), }",
                                data: [0x3F, 0xC0, 0, 0, 0xC0, 0x20, 0, 0])
        #expect(try NPYArray(npyData: bigFloat, path: "mem", entry: "b") == NPYArray(shape: [2], values: [1.5, -2.5], dtype: .float32))
        let bigInt = npyBytes(header: "{'descr': '>i2', 'fortran_order': False, 'shape': (2,), }", data: [0xFF, 0xFE, 0x01, 0x00])
        #expect(try NPYArray(npyData: bigInt, path: "mem", entry: "b") == NPYArray(shape: [2], values: [-2, 256], dtype: .int16))
        let native = npyBytes(header: "{'descr': '=u2', 'fortran_order': False, 'shape': (1,), }", data: [0x01, 0x02])
        #expect(try NPYArray(npyData: native, path: "mem", entry: "n").values == [513])
        let byteVariant = npyBytes(header: "{'descr': '<u1', 'fortran_order': False, 'shape': (2,), }", data: [3, 4])
        #expect(try NPYArray(npyData: byteVariant, path: "mem", entry: "u") == NPYArray(shape: [2], values: [3, 4], dtype: .uint8))
        let signedByte = npyBytes(header: "{'descr': '|i1', 'fortran_order': False, 'shape': (2,), }", data: [0xFF, 0x7F])
        #expect(try NPYArray(npyData: signedByte, path: "mem", entry: "i").values == [-1, 127])
    }

    static let goodHeader = "{'descr': '<f4', 'fortran_order': False, 'shape': (2,), }"

    /// (bytes, reason fragment): every one is a corruptArray naming the entry.
    static let corruptArrays: [(Data, String)] = [
        (Data("not numpy at all".utf8), "magic"),
        (Data([0x93, 0x4E, 0x55]), "magic"),
        (npyBytes(header: goodHeader, data: littleEndianBytes([1])), "holds 4 data bytes"),  // truncated data
        (npyBytes(header: goodHeader, data: littleEndianBytes([1, 2, 3])), "holds 12 data bytes"),  // trailing data
        (npyBytes(header: goodHeader, version: 4, data: littleEndianBytes([1, 2])), "version 4.0"),
        (npyBytes(header: goodHeader, data: []).prefix(30), "runs past the end"),
        (npyBytes(header: "{'descr': '<f4', 'fortran_order': False}", data: []), "keys"),
        (npyBytes(header: "{'descr': '<f4', 'fortran_order': False, 'shape': (2,), 'extra': 1}", data: littleEndianBytes([1, 2])), "keys"),
        (npyBytes(header: "{'descr': '<f4', 'fortran_order': 0, 'shape': (2,), }", data: littleEndianBytes([1, 2])), "fortran_order"),
        (npyBytes(header: "{'descr': '<f4', 'fortran_order': False, 'shape': 2, }", data: littleEndianBytes([1, 2])), "shape"),
        (npyBytes(header: "{'descr': '<f4', 'fortran_order': False, 'shape': (-2,), }", data: littleEndianBytes([1, 2])), "integer"),
        (npyBytes(header: "{'descr': '<f4, 'fortran_order': False, 'shape': (2,), }", data: littleEndianBytes([1, 2])), "bad header"),
        (npyBytes(header: "['descr', '<f4']", data: littleEndianBytes([1, 2])), "bad header"),
        (npyBytes(header: "{'descr': '<f4', 'fortran_order': False, 'shape': (2,), } x", data: littleEndianBytes([1, 2])), "after"),
        (npyBytes(header: "{'descr': '<f4', 'fortran_order': False, 'shape': (99999999999999999999,), }", data: []), "too large"),
        (npyBytes(header: "{'descr': '<f4', 'fortran_order': False, 'shape': (4611686018427387904, 4), }", data: []), "too large"),
    ]

    @Test(arguments: corruptArrays)
    func corruptArraysAreNamedErrors(bytes: Data, reason: String) {
        do {
            let array = try NPYArray(npyData: bytes, path: "masks.npz", entry: "fc1")
            Issue.record("parsed \(array) from a corrupt array")
        } catch {
            guard case let .corruptArray(path, entry, message) = error else {
                Issue.record("expected corruptArray, got \(error)")
                return
            }
            #expect(path == "masks.npz" && entry == "fc1")
            #expect(message.contains(reason), "\(message)")
        }
    }

    @Test(arguments: ["<c8", "<f2", "|f4", "<U3", "|O", "[('a', '<f4'), ('b', '<i4')]"])
    func unsupportedDTypesAreNamed(descr: String) {
        let literal = descr.hasPrefix("[") ? descr : "'\(descr)'"
        let bytes = npyBytes(header: "{'descr': \(literal), 'fortran_order': False, 'shape': (1,), }", data: [0, 0, 0, 0])
        #expect(throws: NPZError.unsupportedDType(path: "w.npz", entry: "conv1", dtype: descr)) {
            try NPYArray(npyData: bytes, path: "w.npz", entry: "conv1")
        }
    }

    @Test func valuesADTypeCannotHoldAreNotWritten() {
        let cases: [(NPYDType, Float)] = [(.bool, 0.5), (.bool, 2), (.uint8, 256), (.uint8, -1), (.int8, 1.5), (.int32, .nan), (.uint64, -3)]
        for (dtype, value) in cases {
            let array = NPYArray(shape: [2], values: [0, value], dtype: dtype)
            #expect(throws: NPZError.self, "\(dtype) \(value)") { try array.npyData(path: "x.npz", entry: "a") }
            do {
                _ = try array.npyData(path: "x.npz", entry: "a")
            } catch {
                guard case let .invalidArray(path, entry, reason) = error else {
                    Issue.record("expected invalidArray, got \(error)")
                    continue
                }
                #expect(path == "x.npz" && entry == "a" && reason.contains("index 1"), "\(reason)")
            }
        }
        var inconsistent = NPYArray(shape: [2], values: [1, 2], dtype: .float32)
        inconsistent.values.append(3)
        #expect(throws: NPZError.self) { try inconsistent.npyData(path: "x.npz", entry: "a") }
    }

    // MARK: .npz

    @Test(arguments: [false, true])
    func npzRoundTripsEveryDTypeInOrder(compressed: Bool) throws {
        let scratch = try ScratchDirectory()
        defer { scratch.remove() }
        var arrays: [(name: String, array: NPYArray)] = NPYDType.allCases.reversed().map { ("a_\($0)", Samples.array($0, shape: [3, 5])) }
        arrays += [("scalar", Samples.array(.float64, shape: [])), ("vector", Samples.array(.int32, shape: [7])),
                   ("empty", Samples.array(.float32, shape: [0, 4])), ("nested/name", Samples.array(.bool, shape: [2, 2, 2]))]
        let path = scratch.file("all.npz")
        try NPZArchive.write(arrays, to: path, compressed: compressed)
        let read = try NPZArchive.read(path: path)
        #expect(read.map(\.name) == arrays.map(\.name))
        #expect(read.map(\.array) == arrays.map(\.array))
        #expect(scratch.contents == ["all.npz"])
    }

    @Test func emptyArchiveRoundTrips() throws {
        let scratch = try ScratchDirectory()
        defer { scratch.remove() }
        try NPZArchive.write([], to: scratch.file("none.npz"), compressed: true)
        #expect(try NPZArchive.read(path: scratch.file("none.npz")).isEmpty)
    }

    @Test func missingFileAndDirectoryCannotBeOpened() throws {
        let scratch = try ScratchDirectory()
        defer { scratch.remove() }
        #expect(throws: NPZError.cannotOpen(path: scratch.file("absent.npz"), reason: "no such file")) {
            try NPZArchive.read(path: scratch.file("absent.npz"))
        }
        #expect(throws: NPZError.cannotOpen(path: scratch.path, reason: "is a directory")) { try NPZArchive.read(path: scratch.path) }
    }

    @Test func nonZipFilesAreCorruptArchives() throws {
        let scratch = try ScratchDirectory()
        defer { scratch.remove() }
        let cases: [(String, Data)] = [("text.npz", Data("mask: 1 0 1\n".utf8)), ("empty.npz", Data()),
                                       ("npy.npz", try Samples.array(.bool, shape: [4]).npyData(path: "", entry: ""))]
        for (name, bytes) in cases {
            try bytes.write(to: URL(fileURLWithPath: scratch.file(name)))
            expectCorruptArchive(scratch.file(name))
        }
    }

    /// A stored entry's data with one byte flipped fails its CRC-32; a deflated one fails to inflate or its CRC.
    @Test(arguments: [false, true])
    func flippedDataBytesAreCorruptArrays(compressed: Bool) throws {
        let scratch = try ScratchDirectory()
        defer { scratch.remove() }
        let path = scratch.file("masks.npz")
        try NPZArchive.write([("conv1", Samples.array(.float32, shape: [64, 64])), ("fc1", Samples.array(.float32, shape: [40, 40]))],
                             to: path, compressed: compressed)
        var bytes = try [UInt8](Data(contentsOf: URL(fileURLWithPath: path)))
        bytes[100] ^= 0x5A  // inside conv1 (its local header is 39 bytes): the .npy header or the deflate stream
        try Data(bytes).write(to: URL(fileURLWithPath: path))
        do {
            _ = try NPZArchive.read(path: path)
            Issue.record("read an archive with a flipped data byte")
        } catch {
            guard case let .corruptArray(errorPath, entry, _) = error else {
                Issue.record("expected corruptArray, got \(error)")
                return
            }
            #expect(errorPath == path && entry == "conv1")
        }
    }

    @Test func truncatedAndDamagedDirectoriesAreCorruptArchives() throws {
        let scratch = try ScratchDirectory()
        defer { scratch.remove() }
        let path = scratch.file("masks.npz")
        try NPZArchive.write([("a", Samples.array(.bool, shape: [100])), ("b", Samples.array(.bool, shape: [100]))], to: path,
                             compressed: false)
        let bytes = try [UInt8](Data(contentsOf: URL(fileURLWithPath: path)))
        // Truncated: the end-of-central-directory record is gone.
        try Data(bytes.prefix(bytes.count / 2)).write(to: URL(fileURLWithPath: scratch.file("half.npz")))
        expectCorruptArchive(scratch.file("half.npz"))
        // The second central-directory header's signature broken: iteration would stop after one entry.
        var damaged = bytes
        let signature: [UInt8] = [0x50, 0x4B, 0x01, 0x02]
        let headers = (0..<(damaged.count - 4)).filter { Array(damaged[$0..<($0 + 4)]) == signature }
        #expect(headers.count == 2)
        damaged[headers[1]] = 0
        try Data(damaged).write(to: URL(fileURLWithPath: scratch.file("damaged.npz")))
        expectCorruptArchive(scratch.file("damaged.npz"))
    }

    @Test func entriesThatAreNotNpyArraysAreRejected() throws {
        let scratch = try ScratchDirectory()
        defer { scratch.remove() }
        let path = scratch.file("mixed.npz")
        try NPZArchive.write([("a", Samples.array(.bool, shape: [3]))], to: path, compressed: false)
        // Rename the entry in place (local and central header) to a non-.npy name of the same length.
        var bytes = try [UInt8](Data(contentsOf: URL(fileURLWithPath: path)))
        for start in 0..<(bytes.count - 5) where Array(bytes[start..<(start + 5)]) == Array("a.npy".utf8) {
            bytes.replaceSubrange(start..<(start + 5), with: Array("a.txt".utf8))
        }
        try Data(bytes).write(to: URL(fileURLWithPath: path))
        #expect(throws: NPZError.corruptArchive(path: path, reason: "entry 'a.txt' is not an .npy array")) {
            try NPZArchive.read(path: path)
        }
    }

    // MARK: Atomic writes

    @Test func writingIntoAMissingDirectoryFailsAndLeavesNothing() throws {
        let scratch = try ScratchDirectory()
        defer { scratch.remove() }
        let path = scratch.file("missing/masks.npz")
        do {
            try NPZArchive.write([("a", Samples.array(.bool, shape: [3]))], to: path, compressed: true)
            Issue.record("wrote into a missing directory")
        } catch {
            guard case let .cannotWrite(errorPath, reason) = error else {
                Issue.record("expected cannotWrite, got \(error)")
                return
            }
            #expect(errorPath == path && reason.contains("does not exist"))
        }
        #expect(!FileManager.default.fileExists(atPath: path))
        #expect(scratch.contents.isEmpty)
    }

    /// The second array cannot be encoded after the first is already in the temporary archive:
    /// the old file stays byte for byte, and no temporary file is left beside it.
    @Test(arguments: [false, true])
    func aFailingWriteLeavesTheExistingFileUntouched(compressed: Bool) throws {
        let scratch = try ScratchDirectory()
        defer { scratch.remove() }
        let path = scratch.file("masks.npz")
        try NPZArchive.write([("old", Samples.array(.uint8, shape: [10]))], to: path, compressed: compressed)
        let before = try Data(contentsOf: URL(fileURLWithPath: path))
        let bad = NPYArray(shape: [3], values: [1, 0.5, 0], dtype: .bool)
        #expect(throws: NPZError.self) {
            try NPZArchive.write([("good", Samples.array(.float32, shape: [1000])), ("bad", bad)], to: path, compressed: compressed)
        }
        #expect(try Data(contentsOf: URL(fileURLWithPath: path)) == before)
        #expect(scratch.contents == ["masks.npz"])
        #expect(throws: NPZError.invalidArray(path: path, entry: "x", reason: "name used twice")) {
            try NPZArchive.write([("x", bad), ("x", bad)], to: path, compressed: compressed)
        }
        #expect(try Data(contentsOf: URL(fileURLWithPath: path)) == before)
        // A good write replaces it.
        try NPZArchive.write([("new", Samples.array(.int16, shape: [4]))], to: path, compressed: compressed)
        #expect(try NPZArchive.read(path: path).map(\.name) == ["new"])
        #expect(scratch.contents == ["masks.npz"])
    }

    @Test func writingOverADirectoryFails() throws {
        let scratch = try ScratchDirectory()
        defer { scratch.remove() }
        try FileManager.default.createDirectory(atPath: scratch.file("taken.npz"), withIntermediateDirectories: false)
        #expect(throws: NPZError.cannotWrite(path: scratch.file("taken.npz"), reason: "is a directory")) {
            try NPZArchive.write([("a", Samples.array(.bool, shape: [1]))], to: scratch.file("taken.npz"), compressed: false)
        }
        #expect(scratch.contents == ["taken.npz"])
    }

    @Test func descriptionsAreOneLineAndNameFileAndEntry() {
        let errors: [NPZError] = [
            .cannotOpen(path: "/d/m.npz", reason: "no such file"), .corruptArchive(path: "/d/m.npz", reason: "not a zip file"),
            .corruptArray(path: "/d/m.npz", entry: "fc1", reason: "bad magic"),
            .unsupportedDType(path: "/d/m.npz", entry: "fc1", dtype: "<c8"), .invalidArray(path: "/d/m.npz", entry: "fc1", reason: "r"),
            .cannotWrite(path: "/d/m.npz", reason: "directory /d does not exist"),
        ]
        for error in errors {
            #expect(!error.description.contains("\n") && error.description.contains("/d/m.npz"), "\(error)")
        }
        for error in errors[2...4] { #expect(error.description.contains("'fc1'"), "\(error)") }
    }

    func expectCorruptArchive(_ path: String, sourceLocation: SourceLocation = #_sourceLocation) {
        do {
            let arrays = try NPZArchive.read(path: path)
            Issue.record("read \(arrays.count) arrays from a corrupt archive", sourceLocation: sourceLocation)
        } catch {
            guard case let .corruptArchive(errorPath, _) = error else {
                Issue.record("expected corruptArchive, got \(error)", sourceLocation: sourceLocation)
                return
            }
            #expect(errorPath == path, sourceLocation: sourceLocation)
        }
    }

    // MARK: NumPy interop

    static let numpyDTypes = ["|b1", "|u1", "|i1", "<i2", "<u2", "<i4", "<u4", "<i8", "<u8", "<f4", "<f8", ">f4", ">f8", ">i8", ">u2"]

    /// Every dtype NumPy writes, plus Fortran order, a scalar, 1-D and empty arrays, read exactly.
    @Test(arguments: [false, true])
    func readsWhatNumPyWrites(compressed: Bool) throws {
        let scratch = try ScratchDirectory()
        defer { scratch.remove() }
        let path = scratch.file("numpy.npz")
        let script = Samples.python + """
            arrays = {}
            for dt in \(Self.numpyDTypes):
                arrays['a' + dt.replace('<', 'le_').replace('>', 'be_').replace('|', '')] = sample(dt, (3, 5))
            arrays['fortran'] = np.asfortranarray(np.arange(24, dtype='<f4').reshape(2, 3, 4))
            assert arrays['fortran'].flags.f_contiguous and not arrays['fortran'].flags.c_contiguous
            arrays['scalar'] = np.float64(-2.5)
            arrays['vector'] = np.arange(7, dtype=np.int32)
            arrays['empty'] = np.zeros((0, 4), dtype=np.float32)
            (np.savez_compressed if sys.argv[2] == 'yes' else np.savez)(sys.argv[1], **arrays)
            print(','.join(arrays))
            """
        let names = try NumPy.run(script, [path, compressed ? "yes" : "no"]).trimmingCharacters(in: .whitespacesAndNewlines)
        let read = try NPZArchive.read(path: path)
        #expect(read.map(\.name).joined(separator: ",") == names)
        for (descr, (name, array)) in zip(Self.numpyDTypes, read) {
            let (dtype, _) = try #require(NPYDType.parse(descr))
            #expect(array == Samples.array(dtype, shape: [3, 5]), "\(name)")
        }
        let tail = Dictionary(uniqueKeysWithValues: read.suffix(4).map { ($0.name, $0.array) })
        #expect(tail["fortran"] == NPYArray(shape: [2, 3, 4], values: (0..<24).map(Float.init), dtype: .float32))
        #expect(tail["scalar"] == NPYArray(shape: [], values: [-2.5], dtype: .float64))
        #expect(tail["vector"] == NPYArray(shape: [7], values: (0..<7).map(Float.init), dtype: .int32))
        #expect(tail["empty"] == NPYArray(shape: [0, 4], values: [], dtype: .float32))
    }

    /// NumPy loads what we write: names in order, dtype, shape and every value.
    @Test(arguments: [false, true])
    func numPyReadsWhatWeWrite(compressed: Bool) throws {
        let scratch = try ScratchDirectory()
        defer { scratch.remove() }
        let path = scratch.file("ours.npz")
        var arrays: [(name: String, array: NPYArray)] = NPYDType.allCases.map { ("\($0)", Samples.array($0, shape: [4, 3])) }
        arrays += [("scalar", Samples.array(.float32, shape: [])), ("vector", Samples.array(.bool, shape: [9])),
                   ("empty", Samples.array(.float64, shape: [2, 0])), ("cube", Samples.array(.uint8, shape: [2, 3, 4]))]
        try NPZArchive.write(arrays, to: path, compressed: compressed)
        let loaded = try NumPy.load(path)
        #expect(loaded == arrays.map { NumPy.Loaded(name: $0.name, dtype: $0.array.dtype.rawValue, shape: $0.array.shape,
                                                     values: $0.array.values.map(Double.init)) })
    }

    /// `.npy` files of NumPy's format versions 1.0, 2.0 and 3.0 (forced), and Fortran order on disk.
    @Test func readsNumPysNpyFormatVersions() throws {
        let scratch = try ScratchDirectory()
        defer { scratch.remove() }
        let script = Samples.python + """
            from numpy.lib import format
            a = sample('<f4', (3, 4))
            for v in (1, 2, 3):
                with open(sys.argv[1] + '/v%d.npy' % v, 'wb') as f:
                    format.write_array(f, a, version=(v, 0))
            np.save(sys.argv[1] + '/fortran.npy', np.asfortranarray(a))
            """
        _ = try NumPy.run(script, [scratch.path])
        for name in ["v1", "v2", "v3", "fortran"] {
            let bytes = try Data(contentsOf: URL(fileURLWithPath: scratch.file("\(name).npy")))
            if name.hasPrefix("v") { #expect(bytes[6] == UInt8(name.dropFirst())!, "\(name)") }
            #expect(try NPYArray(npyData: bytes, path: name, entry: name) == Samples.array(.float32, shape: [3, 4]), "\(name)")
        }
    }

    /// Our `.npy` bytes load with `np.load`, and NumPy finds the data 64-byte aligned.
    @Test func numPyLoadsOurNpyBytes() throws {
        let scratch = try ScratchDirectory()
        defer { scratch.remove() }
        try Samples.array(.bool, shape: [300, 784]).npyData(path: "", entry: "").write(to: URL(fileURLWithPath: scratch.file("m.npy")))
        let script = Samples.python + """
            from numpy.lib import format
            with open(sys.argv[1], 'rb') as f:
                version = format.read_magic(f)
                shape, fortran, dtype = format.read_array_header_1_0(f)
                offset = f.tell()
            a = np.load(sys.argv[1])
            print(version, offset % 64, shape, fortran, dtype.str, bool((a == sample('|b1', (300, 784))).all()))
            """
        let output = try NumPy.run(script, [scratch.file("m.npy")])
        #expect(output == "(1, 0) 0 (300, 784) False |b1 True\n")
    }
}
