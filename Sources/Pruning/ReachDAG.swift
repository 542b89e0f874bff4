import Tensors

/// A network as steps between numbered values, whatever wrote it (an imported ONNX graph): the
/// description both semirings run on — `ReachDAG` (bits, effective masks) and `PathDAG` (floats,
/// SynFlow). Value 0 is the input; steps are in topological order and write each value once.
struct GraphDescription {
    enum Operation {
        /// A convolution with weight number `weight` (out, in / groups, kh, kw).
        case convolution(ReachWindow, weight: Int)
        /// A dense layer with weight number `weight` in (out, in) layout.
        case dense(inFeatures: Int, outFeatures: Int, weight: Int)
        /// Max or average pooling; `global` when the window is the whole map.
        case pooling(PoolingGeometry, global: Bool)
        /// [C, H, W] → C·H·W features in that order.
        case flatten
        /// Every feature of the input feeds every feature of the output (Softmax, LogSoftmax over features).
        case mix
        /// Inputs of one shape, summed (residual joins).
        case union
        /// Inputs of one height and width, channels one after the other.
        case concatenate
    }

    struct Step {
        let operation: Operation
        let inputs: [Int]
        let output: Int
    }

    /// Per value: channels, height, width (features are F channels of one position).
    let valueShapes: [[Int]]
    let steps: [Step]
    let outputs: [Int]
    let weightShapes: [[Int]]

    /// Per value, whether it depends on some weight (written by a convolution or dense step, or
    /// downstream of one): only into such values do backward passes need to flow.
    var weightedValues: [Bool] {
        var weighted = Array(repeating: false, count: valueShapes.count)
        for step in steps {
            switch step.operation {
            case .convolution, .dense: weighted[step.output] = true
            default: weighted[step.output] = step.inputs.contains { weighted[$0] }
            }
        }
        return weighted
    }
}

/// Reach over a directed acyclic graph of values (an imported ONNX graph): the same nodes as
/// `ReachGraph` (convolutions, dense layers, pools, flatten) between numbered values, plus the joins
/// a layer tree cannot express — a union of several values (Add: residuals) and a channel
/// concatenation (Concat: DenseNet, Inception). Forward runs the steps in order; backward runs them
/// in reverse, OR-ing each step's input reach into its inputs' gradients, so a value read by several
/// steps reaches the output through any of them. Every weighted step runs backward exactly once,
/// also when nothing reaches it (its weights are then not effective).
final class ReachDAG {
    let description: GraphDescription
    /// Per step, its reach node (convolution, dense, pooling, flatten, mix); nil for the joins.
    private let nodes: [ReachNode?]
    /// Prunable weight shapes (out, in / groups, kh, kw or out, in), in weight index order.
    var shapes: [[Int]] { description.weightShapes }
    /// Per value written by a join, the map it is written into.
    private let values: [ReachMap?]
    private let gradients: [ReachMap]
    /// Whether a value depends on some weight (a step writing it, or one upstream): only then do
    /// gradients flow into it.
    private let weighted: [Bool]
    private let input: ReachMap

    init(_ description: GraphDescription) throws {
        self.description = description
        var joins: [ReachMap?] = Array(repeating: nil, count: description.valueShapes.count)
        nodes = try description.steps.map { step -> ReachNode? in
            let shape = description.valueShapes[step.inputs[0]]
            switch step.operation {
            case let .convolution(window, weight): return ReachConvolution(index: weight, window: window)
            case let .dense(inFeatures, outFeatures, weight):
                return ReachConvolution(index: weight, inFeatures: inFeatures, outFeatures: outFeatures)
            case let .pooling(geometry, _): return ReachPooling(geometry: geometry)
            case .flatten: return ReachFlatten(channels: shape[0], height: shape[1], width: shape[2])
            case .mix: return ReachMix(features: shape[0])
            case .union, .concatenate:
                joins[step.output] = try ReachMap(shape: [1] + description.valueShapes[step.output])
                return nil
            }
        }
        values = joins
        weighted = description.weightedValues
        gradients = try description.valueShapes.map { try ReachMap(shape: [1] + $0) }
        input = try ReachMap(shape: [1] + description.valueShapes[0])
        input.fill()
    }

    /// One forward and one backward pass through `masks` (one per weight, shaped like `shapes`);
    /// returns the effective count per weight and writes the effective masks when given.
    func run(_ masks: ReachContext.Masks) -> [Int] {
        let context = ReachContext(masks: masks, layers: shapes.count)
        var current = values
        current[0] = input
        for (step, node) in zip(description.steps, nodes) {
            if let node {
                current[step.output] = node.forward(current[step.inputs[0]]!, context)
                continue
            }
            switch step.operation {
            case .union:
                let output = values[step.output]!
                let words = output.channels * output.wordsPerChannel
                output.words.update(from: current[step.inputs[0]]!.words, count: words)
                for other in step.inputs.dropFirst() {
                    let source = current[other]!.words
                    for i in 0..<words { output.words[i] |= source[i] }
                }
                current[step.output] = output
            case .concatenate:
                let output = values[step.output]!
                var offset = 0
                for index in step.inputs {
                    let source = current[index]!
                    let words = source.channels * source.wordsPerChannel
                    (output.words + offset).update(from: source.words, count: words)
                    offset += words
                }
                current[step.output] = output
            default: preconditionFailure("only joins have no node")
            }
        }
        for gradient in gradients { gradient.clear() }
        for output in description.outputs { gradients[output].fill() }
        for (step, node) in zip(description.steps, nodes).reversed() {
            let g = gradients[step.output]
            if let node {
                let input = step.inputs[0]
                if let reach = node.backward(g, context, needsInputGradient: weighted[input]), weighted[input] {
                    unite(reach, into: gradients[input])
                }
                continue
            }
            switch step.operation {
            case .union:
                for input in step.inputs where weighted[input] { unite(g, into: gradients[input]) }
            case .concatenate:
                var offset = 0
                for input in step.inputs {
                    let destination = gradients[input]
                    let words = destination.channels * destination.wordsPerChannel
                    if weighted[input] {
                        for i in 0..<words { destination.words[i] |= g.words[offset + i] }
                    }
                    offset += words
                }
            default: preconditionFailure("only joins have no node")
            }
        }
        precondition(context.visited.allSatisfy { $0 }, "every weight runs backward once")
        return context.effectiveCounts
    }

    private func unite(_ source: ReachMap, into destination: ReachMap) {
        let words = destination.channels * destination.wordsPerChannel
        precondition(source.channels * source.wordsPerChannel == words, "reach maps of one shape")
        for i in 0..<words { destination.words[i] |= source.words[i] }
    }
}

/// Softmax over features: each output depends on every input, so any reached input reaches every
/// output, and any output that reaches the graph's output makes every input reach it.
final class ReachMix: ReachNode {
    private let output: ReachMap, inputGradient: ReachMap

    init(features: Int) {
        output = ReachMap(channels: features, height: 1, width: 1)
        inputGradient = ReachMap(channels: features, height: 1, width: 1)
    }

    override func forward(_ x: ReachMap, _ context: ReachContext) -> ReachMap {
        if Bits.isEmpty(x.words, words: x.channels) { output.clear() } else { output.fill() }
        return output
    }

    override func backward(_ g: ReachMap, _ context: ReachContext, needsInputGradient: Bool) -> ReachMap? {
        guard needsInputGradient else { return nil }
        if Bits.isEmpty(g.words, words: g.channels) { inputGradient.clear() } else { inputGradient.fill() }
        return inputGradient
    }
}
