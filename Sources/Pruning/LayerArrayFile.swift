import Foundation
import NeuralNet
import Tensors

/// How the arrays of an npz file map onto a network's prunable layers, for mask and weight files
/// alike: keyed by layer name (`conv1`, …, `fc3`, in any archive order) or by position (`arr_0`,
/// `arr_1`, … as `np.savez(path, *arrays)` writes them) in canonical order; shapes must match
/// the weights' exactly (a dense layer's array given flat is a shape error, not reshaped).
enum LayerArrayFile {
    enum Kind {
        case mask, weights
    }

    /// The arrays in canonical layer order, each with the name it has in the file. Masks get
    /// `PruningError`'s mask cases; weights get `.unsupported` with the same facts.
    static func match<Array: ShapedArray>(_ arrays: [(name: String, array: Array)], network: Network, path: String,
                                          kind: Kind) throws(PruningError) -> [(name: String, array: Array)] {
        try match(arrays, layers: network.prunableLayerNames, shapes: network.prunableParameters.map(\.shape), path: path, kind: kind)
    }

    /// The same for any named layers with these shapes (an ONNX graph's weights).
    static func match<Array: ShapedArray>(_ arrays: [(name: String, array: Array)], layers: [String], shapes: [[Int]], path: String,
                                          kind: Kind) throws(PruningError) -> [(name: String, array: Array)] {
        let names = arrays.map(\.name)
        let positions = names.map(position(in:))
        let byName = names.allSatisfy(layers.contains)
        guard byName || positions.allSatisfy({ $0 != nil }) else {
            let unknown = zip(names, positions).filter { !layers.contains($0.0) && $0.1 == nil }.map(\.0)
            let expected = "the layer names \(layers.joined(separator: ", ")) or arr_0 … arr_\(layers.count - 1) in that order"
            if unknown.isEmpty {
                throw .unsupported("\(path) mixes layer names and positional names (\(names.joined(separator: ", "))); expected \(expected)")
            }
            throw .unsupported("\(path) has unknown array names \(unknown.joined(separator: ", ")); expected \(expected)")
        }
        guard arrays.count == layers.count else {
            switch kind {
            case .mask: throw .maskCount(expected: layers.count, got: arrays.count)
            case .weights: throw .unsupported("\(path) holds \(arrays.count) weight arrays, expected \(layers.count) (one per prunable layer)")
            }
        }
        let ordered: [(name: String, array: Array)]
        if byName {
            ordered = layers.map { layer in arrays.first { $0.name == layer }! }
        } else {
            guard Set(positions.map { $0! }) == Set(0..<layers.count) else {
                let got = names.joined(separator: ", ")
                throw .unsupported("\(path): positional arrays must be arr_0 … arr_\(layers.count - 1), got \(got)")
            }
            ordered = zip(positions, arrays).sorted { $0.0! < $1.0! }.map(\.1)
        }
        for ((layer, shape), entry) in zip(zip(layers, shapes), ordered) where entry.array.shape != shape {
            switch kind {
            case .mask: throw .maskShape(layer: layer, expected: shape, got: entry.array.shape)
            case .weights: throw .unsupported("weights for \(layer) in \(path) have shape \(entry.array.shape), expected \(shape)")
            }
        }
        return ordered
    }

    /// The index of a positional name `arr_<n>` as `np.savez` writes it; nil for anything else.
    static func position(in name: String) -> Int? {
        guard name.hasPrefix("arr_"), let index = Int(name.dropFirst(4)), index >= 0, String(index) == name.dropFirst(4) else {
            return nil
        }
        return index
    }
}

/// An array whose shape is known before its values are read.
protocol ShapedArray {
    var shape: [Int] { get }
}

extension NPYArray: ShapedArray {}
extension NPYEntry: ShapedArray {}

/// Pruning masks as npz files, one 0/1 array per prunable layer: NumPy's `np.savez` output in, bool
/// arrays keyed by layer name out.
public enum MaskFile {
    /// Reads masks (any dtype holding only 0 and 1) in canonical layer order, shaped like the weights.
    public static func read(path: String, network: Network) throws -> [Tensor] {
        try readBinary(path: path, network: network).map(\.tensor)
    }

    /// Reads masks as bytes (any dtype holding only 0 and 1), in canonical layer order, shaped like
    /// the weights: bool and uint8 arrays straight from the file's bytes, no float tensor made.
    public static func readBinary(path: String, network: Network) throws -> [BinaryMask] {
        try readBinary(path: path, layers: network.prunableLayerNames, shapes: network.prunableParameters.map(\.shape))
    }

    /// Reads byte masks for named layers of these shapes (an ONNX graph's weights, by ONNX name).
    public static func readBinary(path: String, layers: [String], shapes: [[Int]]) throws -> [BinaryMask] {
        let entries = try LayerArrayFile.match(NPZArchive.entries(path: path), layers: layers, shapes: shapes, path: path, kind: .mask)
        return try zip(layers, entries).map { layer, item throws(PruningError) in
            let mask = BinaryMask(shape: item.array.shape)
            if let value = item.array.maskBytes(into: mask.bytes) { throw .nonBinaryMask(layer: layer, value: value) }
            return mask
        }
    }

    /// Writes `masks` (canonical order) as bool arrays keyed by layer name, atomically. Count,
    /// shapes and 0/1 values are checked first, so bad masks leave nothing behind.
    public static func write(_ masks: [Tensor], network: Network, to path: String, compressed: Bool = true) throws {
        try write(masks, layers: network.prunableLayerNames, shapes: network.prunableParameters.map(\.shape), to: path,
                  compressed: compressed)
    }

    /// Writes float masks for named layers of these shapes as bool arrays, atomically.
    public static func write(_ masks: [Tensor], layers: [String], shapes: [[Int]], to path: String, compressed: Bool = true) throws {
        guard masks.count == layers.count else { throw PruningError.maskCount(expected: layers.count, got: masks.count) }
        var binary: [BinaryMask] = []
        for (layer, (shape, mask)) in zip(layers, zip(shapes, masks)) {
            guard mask.shape == shape else { throw PruningError.maskShape(layer: layer, expected: shape, got: mask.shape) }
            guard mask.layout == .plain else { throw PruningError.unsupported("mask for \(layer) is stored \(mask.layout), not plain") }
            let (converted, nonBinary) = BinaryMask.from(mask)
            guard let converted else { throw PruningError.nonBinaryMask(layer: layer, value: nonBinary ?? .nan) }
            binary.append(converted)
        }
        try write(binary, layers: layers, shapes: shapes, to: path, compressed: compressed)
    }

    /// Writes byte masks (canonical order) as bool arrays keyed by layer name, atomically.
    public static func write(_ masks: [BinaryMask], network: Network, to path: String, compressed: Bool = true) throws {
        try write(masks, layers: network.prunableLayerNames, shapes: network.prunableParameters.map(\.shape), to: path, compressed: compressed)
    }

    /// Writes byte masks as bool arrays keyed by `layers`, atomically.
    public static func write(_ masks: [BinaryMask], layers: [String], shapes: [[Int]], to path: String, compressed: Bool = true) throws {
        guard masks.count == layers.count else { throw PruningError.maskCount(expected: layers.count, got: masks.count) }
        for (layer, (shape, mask)) in zip(layers, zip(shapes, masks)) where mask.shape != shape {
            throw PruningError.maskShape(layer: layer, expected: shape, got: mask.shape)
        }
        let entries = zip(layers, masks).map { layer, mask in
            (name: layer, npyData: { () throws(NPZError) -> Data in
                NPYArray.npyData(shape: mask.shape, dtype: .bool) { $0.copyMemory(from: mask.bytes, byteCount: mask.count) }
            })
        }
        try NPZArchive.write(entries: entries, to: path, compressed: compressed)
    }
}

/// Trained weights of the prunable layers as npz files (float32 arrays keyed by layer name), so
/// that weights trained elsewhere can be pruned by magnitude.
public enum WeightFile {
    /// Reads float32 or float64 weights in canonical layer order, shaped like the network's.
    public static func read(path: String, network: Network) throws -> [Tensor] {
        try read(path: path, layers: network.prunableLayerNames, shapes: network.prunableParameters.map(\.shape))
    }

    /// Reads float32 or float64 weights for named layers of these shapes (an ONNX graph's weights).
    public static func read(path: String, layers: [String], shapes: [[Int]]) throws -> [Tensor] {
        let arrays = try LayerArrayFile.match(NPZArchive.read(path: path), layers: layers, shapes: shapes, path: path, kind: .weights)
        return try zip(layers, arrays).map { layer, entry throws(PruningError) in
            guard entry.array.dtype == .float32 || entry.array.dtype == .float64 else {
                let dtype = entry.array.dtype.rawValue
                throw .unsupported("weights for \(layer) ('\(entry.name)' in \(path)) are \(dtype); weight files hold float32 or float64")
            }
            if let value = entry.array.values.first(where: { !$0.isFinite }) {
                throw .unsupported("weights for \(layer) ('\(entry.name)' in \(path)) hold \(value)")
            }
            return Tensor(shape: entry.array.shape, values: entry.array.values)
        }
    }

    /// Writes the values of the network's prunable weights as float32 arrays keyed by layer name, atomically.
    public static func write(network: Network, to path: String, compressed: Bool = false) throws {
        var arrays: [(name: String, array: NPYArray)] = []
        for (layer, parameter) in zip(network.prunableLayerNames, network.prunableParameters) {
            let values = try CPUBackend.shared.plainValues(of: parameter.value)
            arrays.append((layer, NPYArray(shape: parameter.shape, values: values, dtype: .float32)))
        }
        try NPZArchive.write(arrays, to: path, compressed: compressed)
    }
}
