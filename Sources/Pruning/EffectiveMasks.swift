import NeuralNet
import Tensors

/// Direct and effective counts of one prunable layer.
public struct LayerSparsity: Codable, Equatable, Sendable {
    public var name: String
    public var shape: [Int]
    public var size: Int
    /// Weights the mask keeps.
    public var kept: Int
    /// Kept weights on at least one input–output path.
    public var effective: Int
}

/// Direct and effective sparsity of a mask set on a network.
public struct SparsityReport: Codable, Equatable, Sendable {
    public var layers: [LayerSparsity]

    public var total: Int { layers.reduce(0) { $0 + $1.size } }
    public var kept: Int { layers.reduce(0) { $0 + $1.kept } }
    public var effective: Int { layers.reduce(0) { $0 + $1.effective } }
    public var directSparsity: Double { 1 - Double(kept) / Double(total) }
    public var effectiveSparsity: Double { 1 - Double(effective) / Double(total) }
    /// total / kept (infinite when nothing is kept).
    public var directCompression: Double { Double(total) / Double(kept) }
    public var effectiveCompression: Double { Double(total) / Double(effective) }
}

/// Exact effective masks (docs/science.md): reachability from an all-ones
/// input and to an all-ones output through the masked graph in the boolean semiring; a kept
/// weight is effective iff the weight-gradient-shaped product of forward and backward reach is
/// non-zero. Data-independent: the weights' values do not matter, only the masks.
///
/// Create one per network and reuse it: the kernels and buffers are made once, so repeated
/// calls (bisection in effective pruning) cost two passes over a single sample.
public final class EffectiveMasks {
    public let network: Network
    public let layerNames: [String]
    let graph: PathGraph
    /// All-ones weights for layers passed without a mask, made on first use (most calls pass masks).
    private var ones: [Int: Tensor] = [:]

    /// Effective masks of `network`, computed on the network's backend.
    public init(network: Network) throws {
        self.network = network
        layerNames = network.prunableLayerNames
        graph = try PathGraph(network: network)
    }

    public var shapes: [[Int]] { graph.shapes }

    /// Counts of `masks` (one 0/1 tensor per prunable layer in canonical order; nil = dense).
    public func report(_ masks: [Tensor?]) throws -> SparsityReport {
        try run(masks, effectiveMasks: nil)
    }

    /// The effective masks of `masks` and their counts.
    public func compute(_ masks: [Tensor?]) throws -> (masks: [Tensor], report: SparsityReport) {
        let effective = graph.shapes.map { Tensor(shape: $0) }
        let report = try run(masks, effectiveMasks: effective)
        return (effective, report)
    }

    /// The masks currently set on the network's prunable parameters (nil = dense).
    public var networkMasks: [Tensor?] { network.prunableParameters.map(\.mask) }

    private func run(_ masks: [Tensor?], effectiveMasks: [Tensor]?) throws -> SparsityReport {
        guard masks.count == graph.shapes.count else { throw PruningError.maskCount(expected: graph.shapes.count, got: masks.count) }
        let weights = try masks.enumerated().map { index, mask -> Tensor in
            guard let mask else {
                if let dense = ones[index] { return dense }
                let dense = Tensor(shape: graph.shapes[index])
                dense.fill(1)
                ones[index] = dense
                return dense
            }
            guard mask.shape == graph.shapes[index] else {
                throw PruningError.maskShape(layer: layerNames[index], expected: graph.shapes[index], got: mask.shape)
            }
            guard mask.layout == .plain else { throw PruningError.unsupported("masks must be in plain layout") }
            return mask
        }
        try graph.run(weights: weights, semiring: .reach)
        var layers: [LayerSparsity] = []
        for index in weights.indices {
            let mask = weights[index].data, product = graph.products[index].data
            let size = weights[index].count
            var kept = 0, effective = 0
            if let destination = effectiveMasks?[index].data {
                for i in 0..<size {
                    let isKept = mask[i] != 0, isEffective = isKept && product[i] > 0
                    kept &+= isKept ? 1 : 0
                    effective &+= isEffective ? 1 : 0
                    destination[i] = isEffective ? 1 : 0
                }
            } else {
                for i in 0..<size {
                    let isKept = mask[i] != 0
                    kept &+= isKept ? 1 : 0
                    effective &+= isKept && product[i] > 0 ? 1 : 0
                }
            }
            layers.append(LayerSparsity(name: layerNames[index], shape: graph.shapes[index], size: size, kept: kept, effective: effective))
        }
        return SparsityReport(layers: layers)
    }
}
