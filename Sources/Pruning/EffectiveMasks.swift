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
/// weight is effective iff some input–output path runs through it. Data-independent: the weights'
/// values do not matter, only the masks, and the network's weights are never read (a network that
/// was never initialised serves as well).
///
/// Create one per network and reuse it: the path structure (`ReachGraph`) is built once, so
/// repeated calls (the probes of effective pruning) cost a scan of the masks and bit operations
/// per kept weight.
public final class EffectiveMasks {
    public let network: Network
    public let layerNames: [String]
    let graph: ReachGraph
    /// All-ones masks for layers passed without one, made on first use (most calls pass masks).
    private var ones: [Int: Tensor] = [:]

    /// Effective masks of `network`.
    public init(network: Network) throws {
        self.network = network
        layerNames = network.prunableLayerNames
        graph = try ReachGraph(network: network)
    }

    public var shapes: [[Int]] { graph.shapes }

    /// Counts of `masks` (one 0/1 tensor per prunable layer in canonical order; nil = dense).
    public func report(_ masks: [Tensor?]) throws -> SparsityReport {
        let masks = try checked(masks)
        let effective = graph.run(.floats(masks.map(\.readableData), effective: nil))
        return report(kept: masks.map { keptCount($0.readableData, $0.count) }, effective: effective)
    }

    /// The effective masks of `masks` and their counts.
    public func compute(_ masks: [Tensor?]) throws -> (masks: [Tensor], report: SparsityReport) {
        let masks = try checked(masks)
        let destinations = graph.shapes.map { Tensor(shape: $0) }
        let effective = graph.run(.floats(masks.map(\.readableData), effective: destinations.map(\.data)))
        return (destinations, report(kept: masks.map { keptCount($0.readableData, $0.count) }, effective: effective))
    }

    /// Counts of byte masks (one per prunable layer in canonical order).
    public func report(_ masks: [BinaryMask]) throws -> SparsityReport {
        try checked(masks)
        let effective = graph.run(.bytes(masks.map { UnsafePointer($0.bytes) }, effective: nil))
        return report(kept: masks.map(\.keptCount), effective: effective)
    }

    /// The effective masks of byte masks and their counts, as bytes: no float tensor is made.
    public func compute(_ masks: [BinaryMask]) throws -> (masks: [BinaryMask], report: SparsityReport) {
        try checked(masks)
        let destinations = graph.shapes.map { BinaryMask(shape: $0) }
        let effective = graph.run(.bytes(masks.map { UnsafePointer($0.bytes) }, effective: destinations.map(\.bytes)))
        return (destinations, report(kept: masks.map(\.keptCount), effective: effective))
    }

    /// The masks currently set on the network's prunable parameters (nil = dense).
    public var networkMasks: [Tensor?] { network.prunableParameters.map(\.mask) }

    private func report(kept: [Int], effective: [Int]) -> SparsityReport {
        SparsityReport(layers: graph.shapes.indices.map { index in
            LayerFigures(name: layerNames[index], shape: graph.shapes[index], size: graph.shapes[index].reduce(1, *),
                         kept: kept[index], effective: effective[index])
        })
    }

    private func keptCount(_ mask: UnsafePointer<Float>, _ count: Int) -> Int {
        var kept = 0
        for i in 0..<count { kept &+= mask[i] != 0 ? 1 : 0 }
        return kept
    }

    /// The masks with dense layers filled in, checked against the network's shapes.
    private func checked(_ masks: [Tensor?]) throws -> [Tensor] {
        guard masks.count == graph.shapes.count else { throw PruningError.maskCount(expected: graph.shapes.count, got: masks.count) }
        return try masks.enumerated().map { index, mask -> Tensor in
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
    }

    private func checked(_ masks: [BinaryMask]) throws {
        guard masks.count == graph.shapes.count else { throw PruningError.maskCount(expected: graph.shapes.count, got: masks.count) }
        for (index, mask) in masks.enumerated() where mask.shape != graph.shapes[index] {
            throw PruningError.maskShape(layer: layerNames[index], expected: graph.shapes[index], got: mask.shape)
        }
    }
}
