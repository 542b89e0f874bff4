import Tensors

/// How a convolution or pooling window pads its input. Effective sparsity depends on it: a tap
/// that only ever multiplies padding is not effective, so every model states its convention.
public enum Padding: Hashable, Sendable, CustomStringConvertible {
    /// No padding.
    case valid
    /// TensorFlow "same": output = ceil(input / stride); the odd pixel of padding goes to the
    /// bottom/right (so a stride-2 3×3 conv on an even input pads only bottom/right).
    case same
    /// PyTorch-style symmetric padding of `p` pixels on every side.
    case symmetric(Int)
    /// Explicit padding per side.
    case explicit(top: Int, left: Int, bottom: Int, right: Int)

    /// (top, left, bottom, right) for a given input size, kernel and stride.
    public func amounts(inHeight: Int, inWidth: Int, kernelHeight: Int, kernelWidth: Int,
                        strideHeight: Int, strideWidth: Int) -> (top: Int, left: Int, bottom: Int, right: Int) {
        switch self {
        case .valid: return (0, 0, 0, 0)
        case let .symmetric(p): return (p, p, p, p)
        case let .explicit(top, left, bottom, right): return (top, left, bottom, right)
        case .same:
            func split(_ size: Int, _ kernel: Int, _ stride: Int) -> (Int, Int) {
                let out = (size + stride - 1) / stride
                let total = max((out - 1) * stride + kernel - size, 0)
                return (total / 2, total - total / 2)
            }
            let (top, bottom) = split(inHeight, kernelHeight, strideHeight)
            let (left, right) = split(inWidth, kernelWidth, strideWidth)
            return (top, left, bottom, right)
        }
    }

    public var description: String {
        switch self {
        case .valid: "valid"
        case .same: "same(tf)"
        case let .symmetric(p): "pad \(p)"
        case let .explicit(t, l, b, r): "pad t\(t) l\(l) b\(b) r\(r)"
        }
    }
}

/// 2-D convolution on NCHW input with weights (out, in / groups, kh, kw), on oneDNN primitives.
public final class Conv2d: Layer {
    public let inChannels: Int, outChannels: Int
    public let kernelSize: (height: Int, width: Int)
    public let stride: (height: Int, width: Int)
    public let padding: Padding
    public let groups: Int
    public let weight: Parameter
    public let bias: Parameter?
    private let backend: any Backend
    private struct Plan {
        let kernel: any ConvolutionKernel
        /// The layout the kernel reads its input in (the input is reordered into it when they differ).
        let sourceLayout: TensorLayout
        let output: Tensor
        let sourceGradient: Tensor
    }
    private var plans = ShapeCache<Plan>()
    // One adapter per conversion site, so two conversions never share a buffer.
    private var inputAdapter = LayoutAdapter()
    private var outputGradientAdapter = LayoutAdapter()
    private var inputGradientAdapter = LayoutAdapter()
    private var input: Tensor?
    private var source: Tensor?

    public init(_ inChannels: Int, _ outChannels: Int, kernelSize: Int, stride: Int = 1, padding: Padding = .valid,
                groups: Int = 1, bias: Bool = true, backend: any Backend = CPUBackend.shared) {
        precondition(groups >= 1 && inChannels % groups == 0 && outChannels % groups == 0,
                     "Conv2d(\(inChannels)→\(outChannels)): channels must be divisible by groups \(groups)")
        self.inChannels = inChannels
        self.outChannels = outChannels
        self.kernelSize = (kernelSize, kernelSize)
        self.stride = (stride, stride)
        self.padding = padding
        self.groups = groups
        self.backend = backend
        let taps = kernelSize * kernelSize
        weight = Parameter(name: "weight", role: .weight, shape: [outChannels, inChannels / groups, kernelSize, kernelSize],
                           isPrunable: true, decays: true,
                           fans: (inChannels / groups * taps, outChannels / groups * taps))
        self.bias = bias ? Parameter(name: "bias", role: .bias, shape: [outChannels], isPrunable: false, decays: false) : nil
    }

    public var description: String {
        "Conv2d(\(inChannels)→\(outChannels), \(kernelSize.height)×\(kernelSize.width)"
            + (stride.height == 1 ? "" : ", stride \(stride.height)") + ", \(padding)"
            + (groups == 1 ? "" : ", groups \(groups)") + ")"
    }

    public var parameters: [Parameter] { bias.map { [weight, $0] } ?? [weight] }

    /// How the backend convolves each input shape this layer has seen (`ConvolutionKernel.implementation`).
    public var kernelImplementations: [String] { plans.values.map(\.kernel.implementation).sorted() }

    /// The convolution geometry for an input shape [N, C, H, W].
    public func geometry(for inputShape: [Int]) throws -> ConvolutionGeometry {
        guard inputShape.count == 4, inputShape[1] == inChannels else {
            throw LayerError.shapeMismatch(layer: description, expected: "[N, \(inChannels), H, W]", got: inputShape)
        }
        let pad = padding.amounts(inHeight: inputShape[2], inWidth: inputShape[3], kernelHeight: kernelSize.height,
                                  kernelWidth: kernelSize.width, strideHeight: stride.height, strideWidth: stride.width)
        let g = ConvolutionGeometry(batch: inputShape[0], inChannels: inChannels, outChannels: outChannels,
                                    inHeight: inputShape[2], inWidth: inputShape[3],
                                    kernelHeight: kernelSize.height, kernelWidth: kernelSize.width,
                                    strideHeight: stride.height, strideWidth: stride.width,
                                    padTop: pad.top, padLeft: pad.left, padBottom: pad.bottom, padRight: pad.right,
                                    groups: groups, hasBias: bias != nil)
        guard g.outHeight > 0, g.outWidth > 0 else {
            throw LayerError.invalidConfiguration(layer: description, reason: "input \(inputShape) is smaller than the kernel")
        }
        return g
    }

    public func outputShape(for inputShape: [Int]) throws -> [Int] { try geometry(for: inputShape).outputShape }

    /// Picks the activation layouts: the backend's blocked layout out, the input's layout in, unless
    /// oneDNN only has a reference kernel for that pair: then the next candidate (channels-last,
    /// plain), reordering the input (at most once per step, at the model's edge in the usual case).
    private func makePlan(for input: Tensor) throws -> Plan {
        let g = try geometry(for: input.shape)
        let blocked = backend.activationLayout
        var candidates: [(source: TensorLayout, destination: TensorLayout)] = [(input.layout, blocked), (.plain, blocked)]
        if blocked != .plain { candidates += [(.channelsLast, blocked), (.channelsLast, .channelsLast)] }
        candidates += [(input.layout, .plain), (.plain, .plain)]
        var fallback: (kernel: any ConvolutionKernel, source: TensorLayout, destination: TensorLayout)?
        for candidate in candidates {
            guard let kernel = try? backend.makeConvolution(g, sourceLayout: candidate.source, destinationLayout: candidate.destination) else {
                continue
            }
            if !kernel.usesReferenceImplementation {
                fallback = (kernel, candidate.source, candidate.destination)
                break
            }
            if fallback == nil { fallback = (kernel, candidate.source, candidate.destination) }
        }
        guard let chosen = fallback else {
            throw LayerError.invalidConfiguration(layer: description, reason: "no convolution kernel for input \(input.shape)")
        }
        return Plan(kernel: chosen.kernel, sourceLayout: chosen.source, output: Tensor(shape: g.outputShape, layout: chosen.destination),
                    sourceGradient: Tensor(shape: g.inputShape, layout: chosen.source))
    }

    public func forward(_ input: Tensor, training: Bool) throws -> Tensor {
        let plan = try plans.value(for: input.shape, layout: input.layout) { try makePlan(for: input) }
        let source = try inputAdapter.conform(input, to: plan.sourceLayout, backend: backend)
        try plan.kernel.forward(input: source, weight: weight.value, bias: bias?.value, output: plan.output)
        self.input = input
        self.source = source
        return plan.output
    }

    public func backward(_ outputGradient: Tensor, needsInputGradient: Bool) throws -> Tensor? {
        guard let input, let source else { throw LayerError.backwardBeforeForward(layer: description) }
        let plan = try plans.value(for: input.shape, layout: input.layout) { throw LayerError.backwardBeforeForward(layer: description) }
        let outputGradient = try outputGradientAdapter.conform(outputGradient, to: plan.output.layout, backend: backend)
        try plan.kernel.backwardWeights(input: source, outputGradient: outputGradient,
                                        weightGradient: weight.gradient, biasGradient: bias?.gradient)
        guard needsInputGradient else { return nil }
        try plan.kernel.backwardData(outputGradient: outputGradient, weight: weight.value, inputGradient: plan.sourceGradient)
        return try inputGradientAdapter.conform(plan.sourceGradient, to: input.layout, backend: backend)
    }
}
