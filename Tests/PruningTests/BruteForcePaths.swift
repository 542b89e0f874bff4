import NeuralNet
import Tensors

/// An independent oracle for effective masks: the explicit unit graph of a network (one node per
/// activation element, one edge per kept weight per output position) searched breadth-first from
/// every input unit and, reversed, from every output unit. Slow and obvious on purpose.
struct BruteForcePaths {
    private var edgeSources: [Int] = [], edgeTargets: [Int] = []
    /// For weight edges: (layer, flat weight index); nil for routing edges (pooling, residual joins).
    private var edgeWeights: [(layer: Int, index: Int)?] = []
    private var unitCount = 0
    private let prunable: [ObjectIdentifier: Int]
    private let masks: [[Float]]

    /// Effective masks of `masks` (flat, canonical order) on `network`, by graph search.
    static func effectiveMasks(_ network: Network, masks: [[Float]]) throws -> [[Float]] {
        var graph = BruteForcePaths(network: network, masks: masks)
        let inputs = graph.newUnits(network.inputShape.reduce(1, *))
        let outputs = try graph.add(network.body, inputs: inputs, shape: [1] + network.inputShape).units
        return graph.effective(inputs: inputs, outputs: outputs)
    }

    private init(network: Network, masks: [[Float]]) {
        prunable = Dictionary(uniqueKeysWithValues: network.prunableLayers.enumerated().map { (ObjectIdentifier($1.layer), $0) })
        self.masks = masks
    }

    private mutating func newUnits(_ count: Int) -> [Int] {
        defer { unitCount += count }
        return Array(unitCount..<(unitCount + count))
    }

    private mutating func edge(_ from: Int, _ to: Int, weight: (layer: Int, index: Int)?) {
        edgeSources.append(from)
        edgeTargets.append(to)
        edgeWeights.append(weight)
    }

    /// Adds `layer` fed by `inputs` (units of a tensor of `shape`, batch 1); returns its output units.
    private mutating func add(_ layer: any Layer, inputs: [Int], shape: [Int]) throws -> (units: [Int], shape: [Int]) {
        let outputShape = try layer.outputShape(for: shape)
        switch layer {
        case let sequential as Sequential:
            var current = (units: inputs, shape: shape)
            for child in sequential.layers { current = try add(child, inputs: current.units, shape: current.shape) }
            return current
        case let residual as Residual:
            let main = try add(residual.body, inputs: inputs, shape: shape)
            let side = try residual.shortcut.map { try add($0, inputs: inputs, shape: shape) } ?? (units: inputs, shape: shape)
            let joined = newUnits(main.units.count)
            for i in joined.indices {
                edge(main.units[i], joined[i], weight: nil)
                edge(side.units[i], joined[i], weight: nil)
            }
            return (joined, outputShape)
        case let linear as Linear:
            let layerIndex = prunable[ObjectIdentifier(linear)]!
            let outputs = newUnits(linear.outFeatures)
            for o in 0..<linear.outFeatures {
                for i in 0..<linear.inFeatures where masks[layerIndex][o * linear.inFeatures + i] != 0 {
                    edge(inputs[i], outputs[o], weight: (layerIndex, o * linear.inFeatures + i))
                }
            }
            return (outputs, outputShape)
        case let conv as Conv2d:
            let layerIndex = prunable[ObjectIdentifier(conv)]!
            let g = try conv.geometry(for: shape)
            let outputs = newUnits(outputShape.reduce(1, *))
            let inPerGroup = g.inChannels / g.groups, outPerGroup = g.outChannels / g.groups
            for oc in 0..<g.outChannels {
                let group = oc / outPerGroup
                for j in 0..<inPerGroup {
                    let ic = group * inPerGroup + j
                    for ky in 0..<g.kernelHeight {
                        for kx in 0..<g.kernelWidth {
                            let w = ((oc * inPerGroup + j) * g.kernelHeight + ky) * g.kernelWidth + kx
                            guard masks[layerIndex][w] != 0 else { continue }
                            for oy in 0..<g.outHeight {
                                for ox in 0..<g.outWidth {
                                    let y = oy * g.strideHeight - g.padTop + ky, x = ox * g.strideWidth - g.padLeft + kx
                                    guard y >= 0, y < g.inHeight, x >= 0, x < g.inWidth else { continue }  // padding
                                    edge(inputs[(ic * g.inHeight + y) * g.inWidth + x],
                                         outputs[(oc * g.outHeight + oy) * g.outWidth + ox], weight: (layerIndex, w))
                                }
                            }
                        }
                    }
                }
            }
            return (outputs, outputShape)
        case let pool as Pool2d:
            let g = try pool.geometry(for: shape)
            let outputs = newUnits(g.channels * g.outHeight * g.outWidth)
            for c in 0..<g.channels {
                for oy in 0..<g.outHeight {
                    for ox in 0..<g.outWidth {
                        for ky in 0..<g.kernelHeight {
                            for kx in 0..<g.kernelWidth {
                                let y = oy * g.strideHeight - g.padTop + ky, x = ox * g.strideWidth - g.padLeft + kx
                                guard y >= 0, y < g.inHeight, x >= 0, x < g.inWidth else { continue }
                                edge(inputs[(c * g.inHeight + y) * g.inWidth + x], outputs[(c * g.outHeight + oy) * g.outWidth + ox],
                                     weight: nil)
                            }
                        }
                    }
                }
            }
            return (outputs, outputShape)
        default:  // Flatten, BatchNorm, ReLU: the same units
            return (inputs, outputShape)
        }
    }

    private func reach(from start: [Int], forward: Bool) -> [Bool] {
        var adjacency = Array(repeating: [Int](), count: unitCount)
        for e in edgeSources.indices {
            if forward { adjacency[edgeSources[e]].append(edgeTargets[e]) } else { adjacency[edgeTargets[e]].append(edgeSources[e]) }
        }
        var seen = Array(repeating: false, count: unitCount)
        var queue = start
        for unit in start { seen[unit] = true }
        var head = 0
        while head < queue.count {
            let unit = queue[head]
            head += 1
            for next in adjacency[unit] where !seen[next] {
                seen[next] = true
                queue.append(next)
            }
        }
        return seen
    }

    private func effective(inputs: [Int], outputs: [Int]) -> [[Float]] {
        let fromInput = reach(from: inputs, forward: true), toOutput = reach(from: outputs, forward: false)
        var result = masks.map { Array(repeating: Float(0), count: $0.count) }
        for e in edgeSources.indices {
            guard let weight = edgeWeights[e], fromInput[edgeSources[e]], toOutput[edgeTargets[e]] else { continue }
            result[weight.layer][weight.index] = 1
        }
        return result
    }
}
