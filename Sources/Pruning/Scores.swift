import Foundation
import NeuralNet
import Tensors

/// A batch of training samples for data-dependent pruners (SNIP, GraSP).
public struct ScoringBatch {
    public var images: Tensor
    public var labels: [Int32]
    public init(images: Tensor, labels: [Int32]) {
        precondition(images.rows == labels.count, "one label per image")
        self.images = images
        self.labels = labels
    }
}

/// Everything pruning touches on a network — parameter values, masks, BatchNorm running
/// statistics — so a pruner can score, perturb and re-score and leave the network as it found it.
struct NetworkSnapshot {
    private let values: [[Float]]
    private let masks: [Tensor?]
    private let buffers: [[Float]]

    init(_ network: Network) {
        values = network.parameters.map(\.value.array)
        masks = network.parameters.map { $0.mask?.clone() }
        buffers = network.buffers.map(\.tensor.array)
    }

    private init(values: [[Float]], masks: [Tensor?], buffers: [[Float]]) {
        self.values = values
        self.masks = masks
        self.buffers = buffers
    }

    /// A snapshot of nothing, for pruning methods that leave the network as they found it:
    /// restoring it changes nothing.
    static let nothing = NetworkSnapshot(values: [], masks: [], buffers: [])

    func restore(_ network: Network) {
        for (parameter, (value, mask)) in zip(network.parameters, zip(values, masks)) {
            value.withUnsafeBufferPointer { parameter.value.data.update(from: $0.baseAddress!, count: $0.count) }
            parameter.mask = mask?.clone()
        }
        for (buffer, value) in zip(network.buffers, buffers) {
            value.withUnsafeBufferPointer { buffer.tensor.data.update(from: $0.baseAddress!, count: $0.count) }
        }
    }
}

/// Per-weight importance scores, flat over the prunable layers in canonical order; larger is
/// more important.
enum Scores {
    /// |w|.
    static func magnitude(_ weights: [Tensor], layout: FlatLayout) -> [Double] {
        var keys = [Double](repeating: 0, count: layout.total)
        for (layer, weight) in weights.enumerated() {
            let w = weight.data, offset = layout.offsets[layer]
            for i in 0..<weight.count { keys[offset + i] = Double(abs(w[i])) }
        }
        return keys
    }

    /// LAMP (Lee et al. 2021): within a layer, with weights sorted by ascending w²,
    /// score(u) = w_u² / Σ_{v ≥ u} w_v² — a weight's share of the magnitude at or above it.
    /// Comparable across layers, so the top K are kept globally. Pruned weights count as zero.
    static func lamp(_ weights: [Tensor], layout: FlatLayout, eligible: [Bool]) -> [Double] {
        var keys = [Double](repeating: 0, count: layout.total)
        for (layer, weight) in weights.enumerated() {
            let w = weight.data, offset = layout.offsets[layer], n = weight.count
            let squares = (0..<n).map { eligible[offset + $0] ? Double(w[$0]) * Double(w[$0]) : 0 }
            let order = (0..<n).sorted { squares[$0] < squares[$1] || (squares[$0] == squares[$1] && $0 < $1) }
            var suffix = 0.0
            for position in order.indices.reversed() {
                let index = order[position]
                suffix += squares[index]
                keys[offset + index] = suffix > 0 ? squares[index] / suffix : 0
            }
        }
        return keys
    }

    /// Mean loss gradient of the prunable weights over `batches` (BatchNorm in training mode, as
    /// during training), with the logits divided by `temperature` (GraSP uses 200).
    static func weightGradients(_ network: Network, batches: [ScoringBatch], temperature: Float = 1, stop: StopCheck = .never) throws
        -> [[Float]] {
        let backend = network.backend
        let prunable = network.prunableParameters
        var sums = prunable.map { [Float](repeating: 0, count: $0.count) }
        let totalRows = batches.reduce(0) { $0 + $1.labels.count }
        for (index, batch) in batches.enumerated() {
            try stop.check("scoring batch \(index + 1) of \(batches.count)")
            let logits = try network.forward(batch.images, training: true)
            let scaled = Tensor(shape: logits.shape), gradient = Tensor(shape: logits.shape)
            let l = try backend.plainValues(of: logits)
            for i in 0..<l.count { scaled[i] = l[i] / temperature }
            _ = batch.labels.withUnsafeBufferPointer { labels in
                backend.softmaxCrossEntropy(logits: scaled, labels: labels.baseAddress!, rows: batch.labels.count, logitsGradient: gradient)
            }
            // d loss / d logits = (d loss / d scaled) / T; the loss is the batch mean, so weight
            // batches by their share of the samples.
            let factor = Float(batch.labels.count) / Float(totalRows) / temperature
            for i in 0..<gradient.count { gradient[i] *= factor }
            _ = try network.body.backward(gradient, needsInputGradient: false)
            for (layer, parameter) in prunable.enumerated() {
                let g = parameter.gradient.data
                sums[layer].withUnsafeMutableBufferPointer { s in for i in 0..<s.count { s[i] += g[i] } }
            }
        }
        return sums
    }

    /// SNIP (Lee et al. 2019): |g ⊙ w| on the masked network.
    static func snip(_ network: Network, layout: FlatLayout, batches: [ScoringBatch], stop: StopCheck = .never) throws -> [Double] {
        let gradients = try weightGradients(network, batches: batches, stop: stop)
        var keys = [Double](repeating: 0, count: layout.total)
        for (layer, parameter) in network.prunableParameters.enumerated() {
            let w = parameter.value.data, offset = layout.offsets[layer]
            for i in 0..<parameter.count { keys[offset + i] = Double(abs(gradients[layer][i] * w[i])) }
        }
        return keys
    }

    /// Hessian-gradient product H·g of the prunable weights by a central difference of gradients:
    /// Hg ≈ (∇L(w + εg) − ∇L(w − εg)) / 2ε, with the step εg of length `relativeStep`·‖w‖. The
    /// error is O(ε²) from the third derivative plus float32 rounding of the two gradients over 2ε.
    static func hessianGradientProduct(_ network: Network, batches: [ScoringBatch], temperature: Float,
                                       relativeStep: Double = 1e-3, stop: StopCheck = .never) throws -> (gradient: [[Float]], hg: [[Float]]) {
        let prunable = network.prunableParameters
        let snapshot = NetworkSnapshot(network)
        let g = try weightGradients(network, batches: batches, temperature: temperature, stop: stop)
        snapshot.restore(network)
        let gradientNorm = sqrt(g.joined().reduce(0.0) { $0 + Double($1) * Double($1) })
        let weightNorm = sqrt(prunable.reduce(0.0) { sum, p in
            (0..<p.count).reduce(sum) { $0 + Double(p.value[$1]) * Double(p.value[$1]) }
        })
        guard gradientNorm > 0 else { return (g, g) }
        let epsilon = relativeStep * max(weightNorm, 1) / gradientNorm
        func gradient(at sign: Double) throws -> [[Float]] {
            for (layer, parameter) in prunable.enumerated() {
                let w = parameter.value.data
                for i in 0..<parameter.count { w[i] += Float(sign * epsilon) * g[layer][i] }
                // Masked weights stay exactly zero: the perturbation lives in the kept subspace.
                if let mask = parameter.mask { for i in 0..<parameter.count where mask[i] == 0 { w[i] = 0 } }
            }
            defer { snapshot.restore(network) }
            return try weightGradients(network, batches: batches, temperature: temperature, stop: stop)
        }
        let plus = try gradient(at: 1), minus = try gradient(at: -1)
        let hg = zip(plus, minus).map { p, m in zip(p, m).map { Float((Double($0) - Double($1)) / (2 * epsilon)) } }
        return (g, hg)
    }

    /// GraSP (Wang et al. 2020): score w ⊙ Hg at temperature 200; keeping the largest removes the
    /// weights whose removal least reduces gradient flow (the paper's S(−θ) = −θ ⊙ Hg, lowest kept).
    static func grasp(_ network: Network, layout: FlatLayout, batches: [ScoringBatch], stop: StopCheck = .never) throws -> [Double] {
        let (_, hg) = try hessianGradientProduct(network, batches: batches, temperature: 200, stop: stop)
        var keys = [Double](repeating: 0, count: layout.total)
        for (layer, parameter) in network.prunableParameters.enumerated() {
            let w = parameter.value.data, offset = layout.offsets[layer]
            for i in 0..<parameter.count { keys[offset + i] = Double(w[i]) * Double(hg[layer][i]) }
        }
        return keys
    }

    /// SynFlow (Tanaka et al. 2020): with R = 1ᵀ(Π|W|)1 on the linearised network from an all-ones
    /// input, score = |w| ⊙ ∂R/∂|w|. Returned as log-scores (the path graph rescales by depth to
    /// avoid overflow and reports the factors in log space): log|w| + log(∂R/∂|w|); −∞ when pruned.
    static func synflowLog(_ weights: [Tensor], graph: any PathScoring, layout: FlatLayout, masks: [Tensor?],
                           scratch: [Tensor]) throws -> [Double] {
        var keys: [Double] = []
        try synflowLog(weights, graph: graph, layout: layout, masks: masks, scratch: scratch, into: &keys)
        return keys
    }

    /// `synflowLog` into a caller-owned buffer (resized to the weight count).
    static func synflowLog(_ weights: [Tensor], graph: any PathScoring, layout: FlatLayout, masks: [Tensor?],
                           scratch: [Tensor], into keys: inout [Double]) throws {
        for (layer, weight) in weights.enumerated() {
            let w = weight.data, d = scratch[layer].data
            if let mask = masks[layer] {
                let m = mask.data
                for i in 0..<weight.count { d[i] = abs(w[i]) * m[i] }
            } else {
                for i in 0..<weight.count { d[i] = abs(w[i]) }
            }
        }
        try graph.run(weights: scratch, semiring: .synflow)
        if keys.count != layout.total { keys = [Double](repeating: -.infinity, count: layout.total) }
        keys.withUnsafeMutableBufferPointer { k in
            for layer in layout.layers {
                let w = scratch[layer].data, product = graph.products[layer].data
                let offset = layout.offsets[layer], scale = graph.logScale[layer]
                for i in 0..<layout.sizes[layer] {
                    let score = Double(w[i]) * Double(product[i])
                    k[offset + i] = score > 0 ? log(score) + scale : -.infinity
                }
            }
        }
    }
}
