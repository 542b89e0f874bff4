import Foundation
import Tensors

/// The paths of a network that `PathGraph` scores (the same interface): products of weight
/// magnitudes along every input–output path, for SynFlow.
protocol PathScoring: AnyObject {
    /// Per prunable layer, after `run`: Σ over positions of input ⊗ output gradient, shaped like the weight.
    var products: [Tensor] { get }
    /// Per prunable layer: log of the factor `products` was scaled down by.
    var logScale: [Double] { get }
    func run(weights: [Tensor], semiring: PathGraph.Semiring) throws
}

extension PathGraph: PathScoring {}

/// SynFlow's linearised network over a `GraphDescription` (an imported ONNX graph): PathGraph's
/// synflow semiring — convolutions and dense layers on |w| with the training kernels, max pooling
/// routing to the first maximum, average pooling spreading evenly, residual joins summing, Concat
/// stacking channels — on a DAG. Scale is kept per value instead of per chain link: every value is
/// divided by its maximum after the step that writes it and carries the log of what was removed;
/// a join brings its inputs to the largest scale first. Gradients work the same way backwards, so
/// no depth or branching overflows float32.
final class PathDAG: PathScoring {
    private enum Operation {
        case node(PathNode)
        case union, concatenate
    }

    let products: [Tensor]
    private(set) var logScale: [Double]
    private let description: GraphDescription
    private let operations: [Operation]
    private let backend: any Backend
    private let weighted: [Bool]
    /// Per value: the forward tensor (owned buffers for joins and the input) and the gradient
    /// accumulator, both [1, C, H, W].
    private let joinBuffers: [Tensor?]
    private let gradients: [Tensor]
    private let input: Tensor

    init(_ description: GraphDescription, backend: any Backend) throws {
        self.description = description
        self.backend = backend
        products = description.weightShapes.map { Tensor(shape: $0) }
        logScale = Array(repeating: 0, count: description.weightShapes.count)
        var joins: [Tensor?] = Array(repeating: nil, count: description.valueShapes.count)
        operations = try description.steps.map { step -> Operation in
            let shape = description.valueShapes[step.inputs[0]]
            let operation: Operation
            switch step.operation {
            case let .convolution(window, weight):
                operation = .node(try PathConvolution(index: weight, geometry: try Self.geometry(window), backend: backend))
            case let .dense(inFeatures, outFeatures, weight):
                operation = .node(PathDense(index: weight, inFeatures: inFeatures, outFeatures: outFeatures, backend: backend))
            case let .pooling(geometry, _): operation = .node(PathPooling(geometry: geometry, flatOutput: false))
            case .flatten: operation = .node(PathFlatten(inputShape: [1] + shape))
            // SynFlow's linearised network bypasses nonlinearities: a softmax passes scores through.
            case .mix: operation = .node(PathNode())
            case .union, .concatenate:
                joins[step.output] = Tensor(shape: [1] + description.valueShapes[step.output])
                if case .union = step.operation { operation = .union } else { operation = .concatenate }
            }
            return operation
        }
        weighted = description.weightedValues
        joinBuffers = joins
        gradients = description.valueShapes.map { Tensor(shape: [1] + $0) }
        input = Tensor(shape: [1] + description.valueShapes[0])
    }

    /// The engine's convolution geometry of a window: no dilation, end padding as the extent needs.
    private static func geometry(_ w: ReachWindow) throws -> ConvolutionGeometry {
        guard w.dilationHeight == 1, w.dilationWidth == 1 else {
            throw PruningError.unsupported("SynFlow scores do not support dilated convolutions yet")
        }
        let bottom = (w.outHeight - 1) * w.strideHeight + w.kernelHeight - w.inHeight - w.padTop
        let right = (w.outWidth - 1) * w.strideWidth + w.kernelWidth - w.inWidth - w.padLeft
        let g = ConvolutionGeometry(batch: 1, inChannels: w.inChannels, outChannels: w.outChannels, inHeight: w.inHeight,
                                    inWidth: w.inWidth, kernelHeight: w.kernelHeight, kernelWidth: w.kernelWidth,
                                    strideHeight: w.strideHeight, strideWidth: w.strideWidth, padTop: w.padTop, padLeft: w.padLeft,
                                    padBottom: max(bottom, 0), padRight: max(right, 0), groups: w.groups, hasBias: false)
        guard g.outHeight == w.outHeight, g.outWidth == w.outWidth else {
            throw PruningError.unsupported("SynFlow scores: a convolution's output extent cannot be expressed without negative padding")
        }
        return g
    }

    /// `t` seen as [1, C, H, W] of value `id` (nodes return [1, F] for features).
    private func view(_ t: Tensor, value id: Int) -> Tensor {
        let shape = [1] + description.valueShapes[id]
        return t.shape == shape ? t : Tensor(viewing: t, shape: shape)
    }

    /// `t` as a step's node reads it, forward (its input) or backward (its output gradient):
    /// [1, F] for dense layers, [1, C, H, W] otherwise.
    private func argument(_ t: Tensor, for operation: GraphDescription.Operation, backward: Bool = false) -> Tensor {
        guard case let .dense(inFeatures, outFeatures, _) = operation else { return t }
        let features = backward ? outFeatures : inFeatures
        return t.shape == [1, features] ? t : Tensor(viewing: t, shape: [1, features])
    }

    func run(weights: [Tensor], semiring: PathGraph.Semiring) throws {
        precondition(semiring == .synflow, "PathDAG scores SynFlow; reach runs on ReachDAG")
        precondition(weights.count == products.count, "one weight tensor per prunable layer")
        let context = PathContext(semiring: .synflow, weights: weights, products: products, layers: products.count, backend: backend)
        let steps = description.steps
        var values: [Tensor?] = Array(repeating: nil, count: description.valueShapes.count)
        var scales = [Double](repeating: 0, count: values.count)
        input.fill(1)
        values[0] = input
        for (step, operation) in zip(steps, operations) {
            switch operation {
            case let .node(node):
                let x = step.inputs[0]
                context.forwardScale = scales[x]
                let output = view(try node.forward(argument(values[x]!, for: step.operation), context), value: step.output)
                values[step.output] = output
                // A flatten's output is a view of its input and a bypassed softmax's is the input
                // itself, which other steps may read: left as they are.
                if case .flatten = step.operation {
                    scales[step.output] = scales[x]
                } else if case .mix = step.operation {
                    scales[step.output] = scales[x]
                } else {
                    scales[step.output] = scales[x] + normalizeByMaximum(output)
                }
            case .union, .concatenate:
                let output = joinBuffers[step.output]!
                let common = step.inputs.map { scales[$0] }.max()!
                var offset = 0
                output.fill(0)
                for x in step.inputs {
                    let source = values[x]!, factor = Float(exp(scales[x] - common))
                    let destination = output.data + offset
                    for i in 0..<source.count { destination[i] += factor * source.data[i] }
                    if case .concatenate = operation { offset += source.count }
                }
                values[step.output] = output
                scales[step.output] = common + normalizeByMaximum(output)
            }
        }
        // Backward: gradient accumulators with their own scales; nil scale = nothing arrived yet.
        var gradientScales = [Double?](repeating: nil, count: values.count)
        for gradient in gradients { gradient.fill(0) }
        for output in description.outputs {
            gradients[output].fill(1)
            gradientScales[output] = 0
        }
        for (step, operation) in zip(steps, operations).reversed() {
            let g = gradients[step.output]
            let scale = (gradientScales[step.output] ?? 0) + normalizeByMaximum(g)
            switch operation {
            case let .node(node):
                let x = step.inputs[0]
                context.backwardScale = scale
                let needed = weighted[x]
                if let reach = try node.backward(argument(g, for: step.operation, backward: true), context, needsInputGradient: needed), needed {
                    accumulate(view(reach, value: x).data, count: reach.count, scale: scale, into: x, scales: &gradientScales)
                }
            case .union, .concatenate:
                var offset = 0
                for x in step.inputs {
                    let count = gradients[x].count
                    if weighted[x] { accumulate(g.data + offset, count: count, scale: scale, into: x, scales: &gradientScales) }
                    if case .concatenate = operation { offset += count }
                }
            }
        }
        logScale = zip(context.forwardLog, context.backwardLog).map { $0 + $1 }
    }

    /// gradients[x] += source (both with their scales), kept at the larger scale.
    private func accumulate(_ source: UnsafeMutablePointer<Float>, count: Int, scale: Double, into x: Int, scales: inout [Double?]) {
        let destination = gradients[x].data
        guard let current = scales[x] else {
            destination.update(from: source, count: count)
            scales[x] = scale
            return
        }
        let common = max(current, scale)
        let keep = Float(exp(current - common)), add = Float(exp(scale - common))
        for i in 0..<count { destination[i] = destination[i] * keep + source[i] * add }
        scales[x] = common
    }
}
