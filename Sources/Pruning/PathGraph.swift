import Foundation
import NeuralNet
import Tensors

/// The network seen as the paths that connect its input to its output: dense and convolution
/// layers carry paths through their (masked) weights, pooling and flatten route them, residual
/// joins merge them, and activations and BatchNorm are transparent. Built once per network and
/// run on a single all-ones sample, on the same oneDNN kernels the layers train with.
///
/// Two semirings run over it:
/// - `reach`: every layer's output is clamped to {0, 1}, so the pass counts nothing and cannot
///   overflow; values stay small integers, which float32 holds exactly. `EffectiveMasks` computes
///   the same reach on bits (`ReachGraph`, no float tensors the size of the weights); this float
///   version on the training kernels is what the tests check that one against.
/// - `synflow` (SynFlow scores): the linearised network on |w|, no clamping. To survive depth the
///   forward activations and backward gradients are divided by their maximum at every point all
///   paths pass through (between the top-level blocks), and the logarithms of those factors are
///   kept per layer so scores stay comparable across layers (`logScale`).
final class PathGraph {
    enum Semiring { case reach, synflow }

    /// Per prunable layer, after `run`: Σ over positions of (input reach ⊗ output-gradient reach),
    /// shaped like the weight.
    let products: [Tensor]
    /// Per prunable layer, after a `synflow` run: log of the factor by which `products` was scaled
    /// down (true product = products · exp(logScale)).
    private(set) var logScale: [Double]
    let shapes: [[Int]]
    private let root: PathSequence
    private let backend: any Backend
    private let inputShape: [Int]
    private let input: Tensor
    private let outputGradient: Tensor

    /// The path graph of `network`, run on the network's backend.
    init(network: Network) throws {
        let backend = network.backend
        inputShape = [1] + network.inputShape
        self.backend = backend
        var builder = PathBuilder(layers: PrunableLayerNumbers(network), backend: backend)
        root = try builder.sequence(network.body, inputShape: inputShape, isMainChain: true).node as! PathSequence
        shapes = network.prunableParameters.map(\.shape)
        products = shapes.map { Tensor(shape: $0) }
        logScale = Array(repeating: 0, count: shapes.count)
        input = Tensor(shape: inputShape)
        outputGradient = Tensor(shape: [1, network.classes])
        try builder.layers.checkAllMet(in: network)
    }

    /// One forward pass from an all-ones input and one backward pass from an all-ones output
    /// through `weights` (per prunable layer, plain layout); fills `products` (and `logScale`).
    func run(weights: [Tensor], semiring: Semiring) throws {
        precondition(weights.count == products.count, "one weight tensor per prunable layer")
        let context = PathContext(semiring: semiring, weights: weights, products: products, layers: products.count, backend: backend)
        input.fill(1)
        outputGradient.fill(1)
        _ = try root.forward(input, context)
        _ = try root.backward(outputGradient, context, needsInputGradient: false)
        logScale = zip(context.forwardLog, context.backwardLog).map { $0 + $1 }
    }
}

/// State of one pass: the weights it multiplies by and the running log scales (synflow only).
final class PathContext {
    let semiring: PathGraph.Semiring
    let weights: [Tensor]
    let products: [Tensor]
    /// Log of the factor removed from activations so far (forward) / from gradients (backward).
    var forwardScale = 0.0, backwardScale = 0.0
    /// Per prunable layer: the scale of its input and of its output gradient when it ran.
    var forwardLog: [Double], backwardLog: [Double]
    let backend: any Backend

    init(semiring: PathGraph.Semiring, weights: [Tensor], products: [Tensor], layers: Int, backend: any Backend) {
        self.backend = backend
        self.semiring = semiring
        self.weights = weights
        self.products = products
        forwardLog = Array(repeating: 0, count: layers)
        backwardLog = Array(repeating: 0, count: layers)
    }

    /// Reach: clamp to {0, 1} (values are non-negative counts). Synflow: nothing.
    func settle(_ tensor: Tensor) {
        guard semiring == .reach else { return }
        backend.binarize(tensor)
    }
}

/// Divides `tensor` by its maximum and returns log(maximum) (0 when it is all zero).
func normalizeByMaximum(_ tensor: Tensor) -> Double {
    let p = tensor.data
    var maximum: Float = 0
    for i in 0..<tensor.count { maximum = max(maximum, p[i]) }
    guard maximum > 0, maximum.isFinite else { return 0 }
    let inverse = 1 / maximum
    for i in 0..<tensor.count { p[i] *= inverse }
    return log(Double(maximum))
}

class PathNode {
    func forward(_ x: Tensor, _ context: PathContext) throws -> Tensor { x }
    func backward(_ g: Tensor, _ context: PathContext, needsInputGradient: Bool) throws -> Tensor? { g }
    /// Whether the node or a node below it holds a prunable layer.
    var carriesWeights: Bool { false }
}

/// Children in order; on the main chain (every path passes between two children) the synflow
/// semiring rescales there.
final class PathSequence: PathNode {
    let children: [PathNode]
    let isMainChain: Bool
    private let firstWeighted: Int

    init(_ children: [PathNode], isMainChain: Bool) {
        self.children = children
        self.isMainChain = isMainChain
        firstWeighted = children.firstIndex(where: \.carriesWeights) ?? children.count
    }

    override var carriesWeights: Bool { firstWeighted < children.count }

    override func forward(_ x: Tensor, _ context: PathContext) throws -> Tensor {
        var x = x
        for child in children {
            x = try child.forward(x, context)
            if isMainChain, context.semiring == .synflow, child.carriesWeights {
                context.forwardScale += normalizeByMaximum(x)
            }
        }
        return x
    }

    override func backward(_ g: Tensor, _ context: PathContext, needsInputGradient: Bool) throws -> Tensor? {
        var g = g
        let first = needsInputGradient ? 0 : firstWeighted
        for index in children.indices.reversed() {
            if index < first { return nil }
            if isMainChain, context.semiring == .synflow, children[index].carriesWeights {
                context.backwardScale += normalizeByMaximum(g)
            }
            guard let next = try children[index].backward(g, context, needsInputGradient: index > first || needsInputGradient) else {
                return nil
            }
            g = next
        }
        return g
    }
}

final class PathDense: PathNode {
    let index: Int, inFeatures: Int, outFeatures: Int
    private let backend: any Backend
    private let output: Tensor, inputGradient: Tensor
    private var input: Tensor?

    init(index: Int, inFeatures: Int, outFeatures: Int, backend: any Backend) {
        self.index = index
        self.inFeatures = inFeatures
        self.outFeatures = outFeatures
        self.backend = backend
        output = Tensor(shape: [1, outFeatures])
        inputGradient = Tensor(shape: [1, inFeatures])
    }

    override var carriesWeights: Bool { true }

    override func forward(_ x: Tensor, _ context: PathContext) throws -> Tensor {
        input = x
        context.forwardLog[index] = context.forwardScale
        backend.gemm(transposeA: false, transposeB: true, m: 1, n: outFeatures, k: inFeatures,
                     alpha: 1, a: x, b: context.weights[index], beta: 0, c: output)
        context.settle(output)
        return output
    }

    override func backward(_ g: Tensor, _ context: PathContext, needsInputGradient: Bool) throws -> Tensor? {
        guard let input else { throw PruningError.unsupported("path graph: backward before forward") }
        context.backwardLog[index] = context.backwardScale
        backend.gemm(transposeA: true, transposeB: false, m: outFeatures, n: inFeatures, k: 1,
                     alpha: 1, a: g, b: input, beta: 0, c: context.products[index])
        guard needsInputGradient else { return nil }
        backend.gemm(transposeA: false, transposeB: false, m: 1, n: inFeatures, k: outFeatures,
                     alpha: 1, a: g, b: context.weights[index], beta: 0, c: inputGradient)
        context.settle(inputGradient)
        return inputGradient
    }
}

final class PathConvolution: PathNode {
    let index: Int
    private let kernel: any ConvolutionKernel
    private let output: Tensor, inputGradient: Tensor
    private var input: Tensor?

    init(index: Int, geometry: ConvolutionGeometry, backend: any Backend) throws {
        self.index = index
        var g = geometry
        g.batch = 1
        g.hasBias = false
        kernel = try backend.makeConvolution(g, sourceLayout: .plain, destinationLayout: .plain)
        output = Tensor(shape: g.outputShape)
        inputGradient = Tensor(shape: g.inputShape)
    }

    override var carriesWeights: Bool { true }

    override func forward(_ x: Tensor, _ context: PathContext) throws -> Tensor {
        input = x
        context.forwardLog[index] = context.forwardScale
        try kernel.forward(input: x, weight: context.weights[index], bias: nil, output: output)
        context.settle(output)
        return output
    }

    override func backward(_ g: Tensor, _ context: PathContext, needsInputGradient: Bool) throws -> Tensor? {
        guard let input else { throw PruningError.unsupported("path graph: backward before forward") }
        context.backwardLog[index] = context.backwardScale
        try kernel.backwardWeights(input: input, outputGradient: g, weightGradient: context.products[index], biasGradient: nil)
        guard needsInputGradient else { return nil }
        try kernel.backwardData(outputGradient: g, weight: context.weights[index], inputGradient: inputGradient)
        context.settle(inputGradient)
        return inputGradient
    }
}

/// Max, average and global pooling by hand: windows over in-bounds positions only (padding
/// carries no path). Reach: a unit is reached if any unit of its window is (forward) and feeds
/// the output if any window containing it does (backward). Synflow: max routes to the first
/// maximum of a window, average spreads evenly over the in-bounds positions.
final class PathPooling: PathNode {
    private let geometry: PoolingGeometry
    private let output: Tensor, inputGradient: Tensor
    private var argmax: [Int32]

    init(geometry: PoolingGeometry, flatOutput: Bool) {
        var g = geometry
        g.batch = 1
        self.geometry = g
        output = Tensor(shape: flatOutput ? [1, g.channels] : g.outputShape)
        inputGradient = Tensor(shape: g.inputShape)
        argmax = Array(repeating: 0, count: g.channels * g.outHeight * g.outWidth)
    }

    /// In-bounds window rows/columns of output position (oy, ox).
    @inline(__always)
    private func window(_ oy: Int, _ ox: Int) -> (y0: Int, y1: Int, x0: Int, x1: Int) {
        let g = geometry
        let top = oy * g.strideHeight - g.padTop, left = ox * g.strideWidth - g.padLeft
        return (max(top, 0), min(top + g.kernelHeight, g.inHeight), max(left, 0), min(left + g.kernelWidth, g.inWidth))
    }

    override func forward(_ x: Tensor, _ context: PathContext) throws -> Tensor {
        let g = geometry
        let (h, w, oh, ow) = (g.inHeight, g.inWidth, g.outHeight, g.outWidth)
        let src = x.data, dst = output.data
        let isMax = g.kind == .max
        for c in 0..<g.channels {
            let plane = src + c * h * w
            for oy in 0..<oh {
                for ox in 0..<ow {
                    let (y0, y1, x0, x1) = window(oy, ox)
                    let o = (c * oh + oy) * ow + ox
                    var best: Float = -.infinity, bestIndex = y0 * w + x0, sum: Float = 0
                    for y in y0..<y1 {
                        for x in x0..<x1 {
                            let v = plane[y * w + x]
                            sum += v
                            if v > best { best = v; bestIndex = y * w + x }
                        }
                    }
                    argmax[o] = Int32(bestIndex)
                    let count = Float((y1 - y0) * (x1 - x0))
                    switch context.semiring {
                    case .reach: dst[o] = sum > 0 ? 1 : 0
                    case .synflow: dst[o] = isMax ? best : sum / count
                    }
                }
            }
        }
        return output
    }

    override func backward(_ gradient: Tensor, _ context: PathContext, needsInputGradient: Bool) throws -> Tensor? {
        guard needsInputGradient else { return nil }
        let g = geometry
        let (h, w, oh, ow) = (g.inHeight, g.inWidth, g.outHeight, g.outWidth)
        let src = gradient.data, dst = inputGradient.data
        inputGradient.fill(0)
        let isMax = g.kind == .max
        for c in 0..<g.channels {
            let plane = dst + c * h * w
            for oy in 0..<oh {
                for ox in 0..<ow {
                    let o = (c * oh + oy) * ow + ox
                    let value = src[o]
                    guard value != 0 else { continue }
                    let (y0, y1, x0, x1) = window(oy, ox)
                    switch context.semiring {
                    case .reach:
                        for y in y0..<y1 { for x in x0..<x1 { plane[y * w + x] = 1 } }
                    case .synflow where isMax:
                        plane[Int(argmax[o])] += value
                    case .synflow:
                        let share = value / Float((y1 - y0) * (x1 - x0))
                        for y in y0..<y1 { for x in x0..<x1 { plane[y * w + x] += share } }
                    }
                }
            }
        }
        return inputGradient
    }
}

/// [1, C, H, W] ↔ [1, C·H·W]: a view both ways.
final class PathFlatten: PathNode {
    private let inputShape: [Int]
    init(inputShape: [Int]) { self.inputShape = [1] + inputShape.dropFirst() }

    override func forward(_ x: Tensor, _ context: PathContext) throws -> Tensor {
        Tensor(viewing: x, shape: [1, x.count])
    }

    override func backward(_ g: Tensor, _ context: PathContext, needsInputGradient: Bool) throws -> Tensor? {
        needsInputGradient ? Tensor(viewing: g, shape: inputShape) : nil
    }
}

/// body(x) + shortcut(x): paths from either side join.
final class PathResidual: PathNode {
    private let body: PathSequence, shortcut: PathSequence?
    private let output: Tensor, inputGradient: Tensor
    private let backend: any Backend

    init(body: PathSequence, shortcut: PathSequence?, inputShape: [Int], outputShape: [Int], backend: any Backend) {
        self.body = body
        self.shortcut = shortcut
        self.backend = backend
        output = Tensor(shape: outputShape)
        inputGradient = Tensor(shape: inputShape)
    }

    override var carriesWeights: Bool { body.carriesWeights || (shortcut?.carriesWeights ?? false) }

    override func forward(_ x: Tensor, _ context: PathContext) throws -> Tensor {
        let main = try body.forward(x, context)
        let side = try shortcut?.forward(x, context) ?? x
        backend.add(main, side, into: output)
        context.settle(output)
        return output
    }

    override func backward(_ g: Tensor, _ context: PathContext, needsInputGradient: Bool) throws -> Tensor? {
        let main = try body.backward(g, context, needsInputGradient: needsInputGradient)
        let side = try shortcut.map { try $0.backward(g, context, needsInputGradient: needsInputGradient) } ?? g
        guard needsInputGradient, let main, let side else { return nil }
        backend.add(main, side, into: inputGradient)
        context.settle(inputGradient)
        return inputGradient
    }
}

/// Turns a layer tree into path nodes, tracking shapes at batch 1.
struct PathBuilder {
    private(set) var layers: PrunableLayerNumbers
    let backend: any Backend

    init(layers: PrunableLayerNumbers, backend: any Backend) {
        self.layers = layers
        self.backend = backend
    }

    mutating func sequence(_ sequential: Sequential, inputShape: [Int], isMainChain: Bool) throws -> (node: PathNode, shape: [Int]) {
        var shape = inputShape
        var nodes: [PathNode] = []
        for layer in sequential.layers {
            let (node, next) = try self.node(layer, inputShape: shape, isMainChain: isMainChain)
            nodes.append(node)
            shape = next
        }
        return (PathSequence(nodes, isMainChain: isMainChain), shape)
    }

    mutating func node(_ layer: any Layer, inputShape: [Int], isMainChain: Bool) throws -> (PathNode, [Int]) {
        let outputShape = try layer.outputShape(for: inputShape)
        switch layer {
        case let sequential as Sequential:
            return try sequence(sequential, inputShape: inputShape, isMainChain: isMainChain)
        case let residual as Residual:
            let body = try sequence(residual.body, inputShape: inputShape, isMainChain: false).node as! PathSequence
            let shortcut = try residual.shortcut.map { try sequence($0, inputShape: inputShape, isMainChain: false).node as! PathSequence }
            return (PathResidual(body: body, shortcut: shortcut, inputShape: inputShape, outputShape: outputShape, backend: backend),
                    outputShape)
        case let linear as Linear:
            return (PathDense(index: try layers.number(of: linear), inFeatures: linear.inFeatures, outFeatures: linear.outFeatures,
                              backend: backend), outputShape)
        case let conv as Conv2d:
            return (try PathConvolution(index: try layers.number(of: conv), geometry: try conv.geometry(for: inputShape), backend: backend),
                    outputShape)
        case let pool as Pool2d:
            return (PathPooling(geometry: try pool.geometry(for: inputShape), flatOutput: pool.isGlobal), outputShape)
        case is Flatten:
            return (PathFlatten(inputShape: inputShape), outputShape)
        case is BatchNorm, is ReLU:
            return (PathNode(), outputShape)
        default:
            throw PruningError.unsupported("effective masks do not know layer \(layer.description)")
        }
    }
}

/// The canonical number of each prunable layer of a network, for the path engines (`PathGraph`,
/// `ReachGraph`) that turn its layer tree into nodes: a walk asks for each dense or convolution
/// layer's number and must meet every prunable layer once.
struct PrunableLayerNumbers {
    private let numbers: [ObjectIdentifier: Int]
    private(set) var met = 0

    init(_ network: Network) {
        numbers = Dictionary(uniqueKeysWithValues: network.prunableLayers.enumerated().map { (ObjectIdentifier($1.layer), $0) })
    }

    mutating func number(of layer: any Layer) throws -> Int {
        guard let number = numbers[ObjectIdentifier(layer)] else {
            throw PruningError.unsupported("layer \(layer.description) is not among the network's prunable layers")
        }
        met += 1
        return number
    }

    /// Throws unless the walk met every prunable layer of `network`.
    func checkAllMet(in network: Network) throws {
        guard met == numbers.count else {
            throw PruningError.unsupported("\(network.name): \(numbers.count - met) prunable layers are outside the path graph")
        }
    }
}
