import Figures
import NeuralNet
import Tensors

/// Direct and effective sparsity of a mask set on a network: its per-layer table (quotas unset),
/// with totals and compressions derived from it (`LayerTotals`).
public struct SparsityReport: Codable, Equatable, Sendable, LayerTotals {
    public var layers: [LayerFigures]

    public init(layers: [LayerFigures]) { self.layers = layers }

    /// The same table with the quota's per-layer target densities (one a layer), when there are any.
    public func withQuotas(_ quotas: [Double]?) -> SparsityReport {
        guard let quotas else { return self }
        var report = self
        for index in report.layers.indices where index < quotas.count { report.layers[index].quota = quotas[index] }
        return report
    }
}

/// Exact effective masks (docs/science.md): reachability from an all-ones
/// input and to an all-ones output through the masked graph in the boolean semiring; a kept
/// weight is effective iff the weight-gradient-shaped product of forward and backward reach is
/// non-zero. Data-independent: the weights' values do not matter, only the masks.
///
/// Create one per network and reuse it: the kernels and buffers are made once, so repeated
/// calls (the probes of effective pruning) cost two passes over a single sample.
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
        var layers: [LayerFigures] = []
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
            layers.append(LayerFigures(name: layerNames[index], shape: graph.shapes[index], size: size, kept: kept, effective: effective))
        }
        return SparsityReport(layers: layers)
    }
}
