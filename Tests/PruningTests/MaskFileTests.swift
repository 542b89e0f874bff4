import Foundation
import NeuralNet
import Tensors
import Testing
@testable import Pruning

/// Masks with a pattern both sides can compute: entry i of layer l is kept when (7i + l) mod 5 < 2
/// (NumPy: `(np.arange(n) * 7 + l) % 5 < 2`).
func patternMasks(_ network: Network) -> [Tensor] {
    network.prunableParameters.enumerated().map { layer, parameter in
        let mask = Tensor(shape: parameter.shape)
        for i in 0..<mask.count where (7 * i + layer) % 5 < 2 { mask.data[i] = 1 }
        return mask
    }
}

func arrays(_ masks: [Tensor], names: [String], dtype: NPYDType) -> [(name: String, array: NPYArray)] {
    zip(names, masks).map { ($0, NPYArray(shape: $1.shape, values: $1.array, dtype: dtype)) }
}

func json(_ value: some Encodable) throws -> String { String(decoding: try JSONEncoder().encode(value), as: UTF8.self) }

@Suite("Mask and weight files")
struct MaskFileTests {
    static let lenet5Names = ["conv1", "conv2", "fc1", "fc2", "fc3"]

    @Test(arguments: [("lenet5", false), ("lenet5", true), ("lenet300-100", false), ("lenet300-100", true)])
    func masksRoundTripAsBoolArraysKeyedByLayerName(architecture: String, compressed: Bool) throws {
        let scratch = try ScratchDirectory()
        defer { scratch.remove() }
        let network = try ModelZoo.make(architecture)
        let masks = patternMasks(network)
        let path = scratch.file("masks.npz")
        try MaskFile.write(masks, network: network, to: path, compressed: compressed)
        let read = try MaskFile.read(path: path, network: network)
        #expect(read.map(\.shape) == network.prunableParameters.map(\.shape))
        #expect(read.map(\.array) == masks.map(\.array))
        let stored = try NPZArchive.read(path: path)
        #expect(stored.map(\.name) == network.prunableLayerNames)
        #expect(stored.allSatisfy { $0.array.dtype == .bool })
        #expect(scratch.contents == ["masks.npz"])
    }

    @Test func layerNamesInAnyArchiveOrderComeBackInCanonicalOrder() throws {
        let scratch = try ScratchDirectory()
        defer { scratch.remove() }
        let network = try ModelZoo.make("lenet5")
        let masks = patternMasks(network)
        let path = scratch.file("shuffled.npz")
        let shuffled = arrays(masks, names: Self.lenet5Names, dtype: .float32)
        try NPZArchive.write([shuffled[3], shuffled[0], shuffled[4], shuffled[2], shuffled[1]], to: path, compressed: false)
        #expect(try MaskFile.read(path: path, network: network).map(\.array) == masks.map(\.array))
    }

    @Test(arguments: [NPYDType.uint8, .float64, .int64])
    func positionalArraysAreInCanonicalOrder(dtype: NPYDType) throws {
        let scratch = try ScratchDirectory()
        defer { scratch.remove() }
        let network = try ModelZoo.make("lenet5")
        let masks = patternMasks(network)
        let positional = arrays(masks, names: (0..<5).map { "arr_\($0)" }, dtype: dtype)
        try NPZArchive.write(positional, to: scratch.file("ordered.npz"), compressed: true)
        #expect(try MaskFile.read(path: scratch.file("ordered.npz"), network: network).map(\.array) == masks.map(\.array))
        try NPZArchive.write(positional.reversed(), to: scratch.file("reversed.npz"), compressed: true)
        #expect(try MaskFile.read(path: scratch.file("reversed.npz"), network: network).map(\.array) == masks.map(\.array))
    }

    @Test func wrongNumberOfArrays() throws {
        let scratch = try ScratchDirectory()
        defer { scratch.remove() }
        let network = try ModelZoo.make("lenet5")
        let masks = patternMasks(network)
        let extra = NPYArray(shape: [3], values: [1, 0, 1], dtype: .bool)
        let cases: [([(name: String, array: NPYArray)], Int)] = [
            (arrays(Array(masks.prefix(4)), names: (0..<4).map { "arr_\($0)" }, dtype: .bool), 4),
            (arrays(masks, names: (0..<5).map { "arr_\($0)" }, dtype: .bool) + [("arr_5", extra)], 6),
            (arrays(Array(masks.prefix(4)), names: Array(Self.lenet5Names.prefix(4)), dtype: .bool), 4),
            ([], 0),
        ]
        for (index, (entries, got)) in cases.enumerated() {
            let path = scratch.file("count\(index).npz")
            try NPZArchive.write(entries, to: path, compressed: false)
            #expect(throws: PruningError.maskCount(expected: 5, got: got)) { try MaskFile.read(path: path, network: network) }
        }
    }

    /// The exact shape must match: a dense mask given flat, a conv mask as (out, in·kh·kw) or a
    /// transposed dense mask are shape errors even though the element counts agree.
    @Test(arguments: [(2, [48_000]), (0, [6, 75]), (3, [120, 84]), (1, [16, 6, 25]), (4, [10, 84, 1])])
    func wrongShapesAreNamed(layer: Int, shape: [Int]) throws {
        let scratch = try ScratchDirectory()
        defer { scratch.remove() }
        let network = try ModelZoo.make("lenet5")
        var entries = arrays(patternMasks(network), names: Self.lenet5Names, dtype: .bool)
        entries[layer].array.shape = shape
        let path = scratch.file("shape.npz")
        try NPZArchive.write(entries, to: path, compressed: true)
        let expected = network.prunableParameters[layer].shape
        #expect(throws: PruningError.maskShape(layer: Self.lenet5Names[layer], expected: expected, got: shape)) {
            try MaskFile.read(path: path, network: network)
        }
    }

    @Test(arguments: [(NPYDType.float32, Float(0.5), 1), (.uint8, 2, 4), (.float64, -1, 0), (.int32, 3, 2)])
    func nonBinaryValuesAreNamed(dtype: NPYDType, value: Float, layer: Int) throws {
        let scratch = try ScratchDirectory()
        defer { scratch.remove() }
        let network = try ModelZoo.make("lenet5")
        var entries = arrays(patternMasks(network), names: Self.lenet5Names, dtype: dtype)
        entries[layer].array.values[17] = value
        let path = scratch.file("values.npz")
        try NPZArchive.write(entries, to: path, compressed: false)
        #expect(throws: PruningError.nonBinaryMask(layer: Self.lenet5Names[layer], value: value)) {
            try MaskFile.read(path: path, network: network)
        }
        #expect(throws: PruningError.nonBinaryMask(layer: Self.lenet5Names[layer], value: value)) {
            try MaskFile.readBinary(path: path, network: network)
        }
    }

    /// Masks read as bytes are the masks read as floats, whatever the dtype, stored or deflated.
    @Test(arguments: [NPYDType.bool, .uint8, .int8, .float32, .float64, .int64], [false, true])
    func binaryReadsAgreeWithFloatReads(dtype: NPYDType, compressed: Bool) throws {
        let scratch = try ScratchDirectory()
        defer { scratch.remove() }
        let network = try ModelZoo.make("lenet5")
        let masks = patternMasks(network)
        let path = scratch.file("masks.npz")
        try NPZArchive.write(arrays(masks, names: Self.lenet5Names, dtype: dtype), to: path, compressed: compressed)
        let binary = try MaskFile.readBinary(path: path, network: network)
        #expect(binary.map(\.shape) == network.prunableParameters.map(\.shape))
        #expect(binary.map { $0.tensor.array } == masks.map(\.array))
        #expect(try MaskFile.read(path: path, network: network).map(\.array) == masks.map(\.array))
    }

    /// A bool array's byte is true wherever it is not 0, as NumPy reads it (`np.bool_(2)` is True).
    @Test func boolBytesOtherThanZeroAreKept() throws {
        let scratch = try ScratchDirectory()
        defer { scratch.remove() }
        let network = try ModelZoo.make("lenet300-100", inputShape: [1, 2, 2], classes: 2)
        let path = scratch.file("masks.npz")
        let entries = zip(network.prunableLayerNames, network.prunableParameters).map { name, parameter in
            (name: name, npyData: { () throws(NPZError) -> Data in
                NPYArray.npyData(shape: parameter.shape, dtype: .bool) { payload in
                    for i in 0..<parameter.count { payload.storeBytes(of: UInt8(i % 4 == 0 ? 0 : i % 3 + 1), toByteOffset: i, as: UInt8.self) }
                }
            })
        }
        try NPZArchive.write(entries: entries, to: path, compressed: false)
        let expected = network.prunableParameters.map { parameter in (0..<parameter.count).map { UInt8($0 % 4 == 0 ? 0 : 1) } }
        #expect(try MaskFile.readBinary(path: path, network: network).map(\.array) == expected)
        #expect(try MaskFile.read(path: path, network: network).map { $0.array.map { UInt8($0) } } == expected)
    }

    /// Byte masks are written exactly as the same masks as floats: bool arrays, same names, same values.
    @Test(arguments: [false, true])
    func binaryMasksWriteTheSameArchive(compressed: Bool) throws {
        let scratch = try ScratchDirectory()
        defer { scratch.remove() }
        let network = try ModelZoo.make("lenet5")
        let masks = patternMasks(network)
        try MaskFile.write(masks, network: network, to: scratch.file("floats.npz"), compressed: compressed)
        let binary = masks.map { BinaryMask.from($0).mask! }
        try MaskFile.write(binary, network: network, to: scratch.file("bytes.npz"), compressed: compressed)
        let fromFloats = try NPZArchive.read(path: scratch.file("floats.npz")), fromBytes = try NPZArchive.read(path: scratch.file("bytes.npz"))
        #expect(fromBytes.map(\.name) == fromFloats.map(\.name) && fromBytes.map(\.array) == fromFloats.map(\.array))
        #expect(try MaskFile.readBinary(path: scratch.file("bytes.npz"), network: network) == binary)
        #expect(throws: PruningError.maskShape(layer: "conv1", expected: [6, 3, 5, 5], got: [16, 6, 5, 5])) {
            try MaskFile.write([binary[1], binary[0]] + binary.dropFirst(2), network: network, to: scratch.file("bad.npz"))
        }
        #expect(throws: PruningError.maskCount(expected: 5, got: 4)) {
            try MaskFile.write(Array(binary.prefix(4)), network: network, to: scratch.file("bad.npz"))
        }
        #expect(!FileManager.default.fileExists(atPath: scratch.file("bad.npz")))
    }

    @Test(arguments: [
        (["conv1", "conv2", "fc1", "fc2", "fc4"], "unknown array names fc4"),
        (["conv1", "conv2", "fc1", "fc2", "weights"], "unknown array names weights"),
        (["conv1", "arr_1", "fc1", "fc2", "fc3"], "mixes layer names and positional names"),
        (["arr_0", "arr_1", "arr_2", "arr_3", "arr_5"], "positional arrays must be arr_0 … arr_4"),
        (["arr_0", "arr_1", "arr_2", "arr_3", "arr_04"], "unknown array names arr_04"),
    ])
    func unknownOrMixedNamesAreNamed(names: [String], message: String) throws {
        let scratch = try ScratchDirectory()
        defer { scratch.remove() }
        let network = try ModelZoo.make("lenet5")
        let path = scratch.file("names.npz")
        try NPZArchive.write(arrays(patternMasks(network), names: names, dtype: .bool), to: path, compressed: false)
        do {
            _ = try MaskFile.read(path: path, network: network)
            Issue.record("read masks named \(names)")
        } catch let PruningError.unsupported(what) {
            #expect(what.contains(message) && what.contains(path), "\(what)")
            #expect(what.contains("conv1, conv2, fc1, fc2, fc3") || message.hasPrefix("positional"), "\(what)")
        }
    }

    @Test func fileProblemsAreNPZErrors() throws {
        let scratch = try ScratchDirectory()
        defer { scratch.remove() }
        let network = try ModelZoo.make("lenet300-100")
        #expect(throws: NPZError.cannotOpen(path: scratch.file("absent.npz"), reason: "no such file")) {
            try MaskFile.read(path: scratch.file("absent.npz"), network: network)
        }
        let path = scratch.file("masks.npz")
        try MaskFile.write(patternMasks(network), network: network, to: path)
        let bytes = try Data(contentsOf: URL(fileURLWithPath: path))
        try bytes.prefix(bytes.count - 30).write(to: URL(fileURLWithPath: path))
        #expect(throws: NPZError.self) { try MaskFile.read(path: path, network: network) }
        try Data("fc1,fc2,fc3\n".utf8).write(to: URL(fileURLWithPath: path))
        #expect(throws: NPZError.corruptArchive(path: path, reason: "not a zip file (no end-of-central-directory record)")) {
            try MaskFile.read(path: path, network: network)
        }
    }

    /// Bad masks are rejected before anything is written: no file appears, an existing one stays.
    @Test func badMasksAreNotWritten() throws {
        let scratch = try ScratchDirectory()
        defer { scratch.remove() }
        let network = try ModelZoo.make("lenet5")
        let masks = patternMasks(network)
        let flat = Tensor(shape: [48_000], values: masks[2].array)
        func with(_ value: Float, in layer: Int) -> [Tensor] {
            var copy = masks.map { $0.clone() }
            copy[layer] = copy[layer].clone()
            copy[layer][5] = value
            return copy
        }
        let cases: [([Tensor], PruningError)] = [
            (Array(masks.prefix(4)), .maskCount(expected: 5, got: 4)),
            (masks + [masks[4]], .maskCount(expected: 5, got: 6)),
            ([masks[0], masks[1], flat, masks[3], masks[4]], .maskShape(layer: "fc1", expected: [120, 400], got: [48_000])),
            ([masks[1], masks[0], masks[2], masks[3], masks[4]], .maskShape(layer: "conv1", expected: [6, 3, 5, 5], got: [16, 6, 5, 5])),
            (with(0.5, in: 3), .nonBinaryMask(layer: "fc2", value: 0.5)),
            (with(2, in: 0), .nonBinaryMask(layer: "conv1", value: 2)),
        ]
        let path = scratch.file("masks.npz")
        for (bad, error) in cases {
            #expect(throws: error) { try MaskFile.write(bad, network: network, to: path) }
            #expect(!FileManager.default.fileExists(atPath: path), "\(error)")
        }
        #expect(throws: PruningError.self) { try MaskFile.write(with(.nan, in: 1), network: network, to: path) }
        #expect(scratch.contents.isEmpty)
        try MaskFile.write(masks, network: network, to: path)
        let before = try Data(contentsOf: URL(fileURLWithPath: path))
        for (bad, error) in cases {
            #expect(throws: error) { try MaskFile.write(bad, network: network, to: path) }
        }
        #expect(try Data(contentsOf: URL(fileURLWithPath: path)) == before)
        #expect(scratch.contents == ["masks.npz"])
    }

    // MARK: Weight files

    @Test func weightsRoundTripAsFloat32KeyedByLayerName() throws {
        let scratch = try ScratchDirectory()
        defer { scratch.remove() }
        let network = try ModelZoo.make("lenet5")
        network.initialize(seed: 7)
        let path = scratch.file("weights.npz")
        try WeightFile.write(network: network, to: path)
        let stored = try NPZArchive.read(path: path)
        #expect(stored.map(\.name) == Self.lenet5Names && stored.allSatisfy { $0.array.dtype == .float32 })
        let read = try WeightFile.read(path: path, network: network)
        #expect(read.map(\.shape) == network.prunableParameters.map(\.shape))
        #expect(read.map(\.array) == network.prunableParameters.map(\.value.array))
        let other = try ModelZoo.make("lenet5")
        other.initialize(seed: 8)
        #expect(try WeightFile.read(path: path, network: other).map(\.array) == network.prunableParameters.map(\.value.array))
    }

    @Test func weightFilesTakeFloat64AndPositionalArrays() throws {
        let scratch = try ScratchDirectory()
        defer { scratch.remove() }
        let network = try ModelZoo.make("lenet300-100")
        network.initialize(seed: 1)
        let weights = network.prunableParameters.map(\.value)
        let path = scratch.file("float64.npz")
        try NPZArchive.write(arrays(weights, names: ["arr_0", "arr_1", "arr_2"], dtype: .float64), to: path, compressed: true)
        #expect(try WeightFile.read(path: path, network: network).map(\.array) == weights.map(\.array))
    }

    @Test func weightFilesRejectIntegersNonFiniteValuesAndWrongShapes() throws {
        let scratch = try ScratchDirectory()
        defer { scratch.remove() }
        let network = try ModelZoo.make("lenet300-100")
        let names = ["fc1", "fc2", "fc3"]
        let masks = patternMasks(network)
        var cases: [([(name: String, array: NPYArray)], String)] = [
            (arrays(masks, names: names, dtype: .int32), "weights for fc1 ('fc1' in"),
            (arrays(masks, names: ["arr_0", "arr_1", "arr_2"], dtype: .uint8), "are |u1; weight files hold float32 or float64"),
            (arrays(Array(masks.prefix(2)), names: ["fc1", "fc2"], dtype: .float32), "holds 2 weight arrays, expected 3"),
            (arrays(masks, names: ["fc1", "fc2", "out"], dtype: .float32), "unknown array names out"),
        ]
        var notFinite = arrays(masks, names: names, dtype: .float32)
        notFinite[1].array.values[3] = .infinity
        cases.append((notFinite, "weights for fc2 ('fc2' in"))
        var flat = arrays(masks, names: names, dtype: .float32)
        flat[2].array.shape = [1000]
        cases.append((flat, "weights for fc3 in"))
        for (index, (entries, message)) in cases.enumerated() {
            let path = scratch.file("bad\(index).npz")
            try NPZArchive.write(entries, to: path, compressed: false)
            do {
                _ = try WeightFile.read(path: path, network: network)
                Issue.record("read bad weight file \(index)")
            } catch let PruningError.unsupported(what) {
                #expect(what.contains(message), "\(what)")
            }
        }
    }

    // MARK: NumPy interop

    /// `np.savez(path, **masks)` (keys in reverse canonical order) and `np.savez(path, *masks)`,
    /// stored and compressed, bool, uint8 and float32: read exactly, in canonical order.
    @Test(arguments: ["bool", "uint8", "float32"], [false, true])
    func readsMasksNumPyWrites(dtype: String, compressed: Bool) throws {
        let scratch = try ScratchDirectory()
        defer { scratch.remove() }
        let network = try ModelZoo.make("lenet5")
        let shapes = network.prunableParameters.map(\.shape)
        let script = """
            path, shapes, names, dt, compressed = sys.argv[1], json.loads(sys.argv[2]), json.loads(sys.argv[3]), sys.argv[4], sys.argv[5] == 'yes'
            masks = [((np.arange(int(np.prod(s))) * 7 + l) % 5 < 2).reshape(s).astype(dt) for l, s in enumerate(shapes)]
            save = np.savez_compressed if compressed else np.savez
            save(path + '/named.npz', **dict(reversed(list(zip(names, masks)))))
            save(path + '/positional.npz', *masks)
            """
        _ = try NumPy.run(script, [scratch.path, try json(shapes), try json(Self.lenet5Names), dtype, compressed ? "yes" : "no"])
        let expected = patternMasks(network).map(\.array)
        let named = try NPZArchive.read(path: scratch.file("named.npz"))
        #expect(named.map(\.name) == Self.lenet5Names.reversed())
        #expect(named.allSatisfy { $0.array.dtype.rawValue.contains(dtype == "bool" ? "b1" : dtype == "uint8" ? "u1" : "f4") })
        #expect(try MaskFile.read(path: scratch.file("named.npz"), network: network).map(\.array) == expected)
        #expect(try NPZArchive.read(path: scratch.file("positional.npz")).map(\.name) == (0..<5).map { "arr_\($0)" })
        #expect(try MaskFile.read(path: scratch.file("positional.npz"), network: network).map(\.array) == expected)
    }

    /// NumPy loads our mask files: keys in canonical order, dtype bool, the weights' shapes, every value.
    @Test(arguments: ["lenet5", "lenet300-100"], [false, true])
    func numPyLoadsMasksWeWrite(architecture: String, compressed: Bool) throws {
        let scratch = try ScratchDirectory()
        defer { scratch.remove() }
        let network = try ModelZoo.make(architecture)
        let path = scratch.file("masks.npz")
        try MaskFile.write(patternMasks(network), network: network, to: path, compressed: compressed)
        let script = """
            path, shapes, names = sys.argv[1], json.loads(sys.argv[2]), json.loads(sys.argv[3])
            with np.load(path) as f:
                print(f.files == names)
                for l, (n, s) in enumerate(zip(names, shapes)):
                    a = f[n]
                    expected = ((np.arange(int(np.prod(s))) * 7 + l) % 5 < 2).reshape(s)
                    print(n, a.dtype.str, list(a.shape), bool(np.array_equal(a, expected)))
            """
        let shapes = network.prunableParameters.map(\.shape)
        let output = try NumPy.run(script, [path, try json(shapes), try json(network.prunableLayerNames)])
        let expected = ["True"] + zip(network.prunableLayerNames, shapes).map { "\($0) |b1 \($1) True" }
        #expect(output.split(separator: "\n").map(String.init) == expected)
    }

    @Test func numPyLoadsWeightsWeWrite() throws {
        let scratch = try ScratchDirectory()
        defer { scratch.remove() }
        let network = try ModelZoo.make("lenet300-100", inputShape: [1, 8, 8], classes: 4)
        network.initialize(seed: 5)
        let path = scratch.file("weights.npz")
        try WeightFile.write(network: network, to: path)
        let loaded = try NumPy.load(path)
        #expect(loaded.map(\.name) == ["fc1", "fc2", "fc3"] && loaded.allSatisfy { $0.dtype == "<f4" })
        #expect(loaded.map(\.shape) == network.prunableParameters.map(\.shape))
        #expect(loaded.map(\.values) == network.prunableParameters.map { $0.value.array.map(Double.init) })
    }

    // MARK: Size

    /// VGG-16's ~15 M mask entries round-trip in well under a second in release builds; the
    /// bound here is loose enough for debug builds on a loaded 2-core machine.
    @Test func vgg16MaskSetRoundTrips() throws {
        let scratch = try ScratchDirectory()
        defer { scratch.remove() }
        let network = try ModelZoo.make("vgg16")
        let masks = patternMasks(network)
        let path = scratch.file("vgg16.npz")
        let clock = ContinuousClock()
        let start = clock.now
        try MaskFile.write(masks, network: network, to: path)
        let written = clock.now
        let read = try MaskFile.read(path: path, network: network)
        let end = clock.now
        #expect(network.prunableParameterCount > 14_000_000)
        for (got, want) in zip(read, masks) {
            #expect(got.shape == want.shape && memcmp(got.data, want.data, 4 * got.count) == 0)
        }
        print("vgg16 masks (\(network.prunableParameterCount) entries): write \(written - start), read \(end - written)")
        #expect(end - start < .seconds(20))
    }
}
