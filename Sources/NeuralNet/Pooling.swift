import Tensors

/// Shared machinery of the pooling layers: one oneDNN plan and buffers per input shape.
public class Pool2d: Layer {
    public let kind: PoolingKind
    public let kernelSize: Int, stride: Int
    public let padding: Padding
    /// Global pooling: the window is the whole feature map and the output is [N, C].
    public let isGlobal: Bool
    private let backend: any Backend
    private var plans = ShapeCache<(kernel: any PoolingKernel, output: Tensor, inputGradient: Tensor)>()
    // One adapter per conversion site, so two conversions never share a buffer.
    private var outputAdapter = LayoutAdapter()
    private var flatGradientAdapter = LayoutAdapter()
    private var outputGradientAdapter = LayoutAdapter()
    private var flatViews: [ObjectIdentifier: Tensor] = [:]
    private var input: Tensor?

    init(kind: PoolingKind, kernelSize: Int, stride: Int, padding: Padding, isGlobal: Bool, backend: any Backend) {
        self.kind = kind
        self.kernelSize = kernelSize
        self.stride = stride
        self.padding = padding
        self.isGlobal = isGlobal
        self.backend = backend
    }

    public var description: String {
        let name = kind == .max ? "MaxPool2d" : "AvgPool2d"
        return isGlobal ? "GlobalAvgPool2d" : "\(name)(\(kernelSize), stride \(stride), \(padding))"
    }

    public func geometry(for inputShape: [Int]) throws -> PoolingGeometry {
        guard inputShape.count == 4 else {
            throw LayerError.shapeMismatch(layer: description, expected: "[N, C, H, W]", got: inputShape)
        }
        let (h, w) = (inputShape[2], inputShape[3])
        let kh = isGlobal ? h : kernelSize, kw = isGlobal ? w : kernelSize
        let sh = isGlobal ? h : stride, sw = isGlobal ? w : stride
        let pad = padding.amounts(inHeight: h, inWidth: w, kernelHeight: kh, kernelWidth: kw, strideHeight: sh, strideWidth: sw)
        let g = PoolingGeometry(kind: kind, batch: inputShape[0], channels: inputShape[1], inHeight: h, inWidth: w,
                                kernelHeight: kh, kernelWidth: kw, strideHeight: sh, strideWidth: sw,
                                padTop: pad.top, padLeft: pad.left, padBottom: pad.bottom, padRight: pad.right)
        guard g.outHeight > 0, g.outWidth > 0 else {
            throw LayerError.invalidConfiguration(layer: description, reason: "input \(inputShape) is smaller than the window")
        }
        return g
    }

    public func outputShape(for inputShape: [Int]) throws -> [Int] {
        let g = try geometry(for: inputShape)
        return isGlobal ? [g.batch, g.channels] : g.outputShape
    }

    public func forward(_ input: Tensor, training: Bool) throws -> Tensor {
        let layout = input.layout
        let plan = try plans.value(for: input.shape, layout: layout) {
            let g = try geometry(for: input.shape)
            return (try backend.makePooling(g, layout: layout), Tensor(shape: g.outputShape, layout: layout),
                    Tensor(shape: g.inputShape, layout: layout))
        }
        try plan.kernel.forward(input: input, output: plan.output, training: training)
        self.input = input
        guard isGlobal else { return plan.output }
        // Global pooling ends the convolutional part: hand [N, C] on in plain layout.
        return flatView(of: try outputAdapter.conform(plan.output, to: .plain, backend: backend), shape: [input.shape[0], input.shape[1]])
    }

    /// A cached view of a plain buffer with another shape.
    private func flatView(of tensor: Tensor, shape: [Int]) -> Tensor {
        if let view = flatViews[ObjectIdentifier(tensor)], view.shape == shape { return view }
        let view = Tensor(viewing: tensor, shape: shape)
        flatViews[ObjectIdentifier(tensor)] = view
        return view
    }

    public func backward(_ outputGradient: Tensor, needsInputGradient: Bool) throws -> Tensor? {
        guard let input else { throw LayerError.backwardBeforeForward(layer: description) }
        guard needsInputGradient else { return nil }
        let plan = try plans.value(for: input.shape, layout: input.layout) { throw LayerError.backwardBeforeForward(layer: description) }
        var gradient = outputGradient
        if isGlobal {
            let plain = try flatGradientAdapter.conform(outputGradient, to: .plain, backend: backend)
            gradient = flatView(of: plain, shape: plan.output.shape)
        }
        gradient = try outputGradientAdapter.conform(gradient, to: plan.output.layout, backend: backend)
        try plan.kernel.backward(outputGradient: gradient, inputGradient: plan.inputGradient)
        return plan.inputGradient
    }
}

/// Max pooling over `kernelSize`² windows.
public final class MaxPool2d: Pool2d {
    public init(_ kernelSize: Int, stride: Int? = nil, padding: Padding = .valid, backend: any Backend = CPUBackend.shared) {
        super.init(kind: .max, kernelSize: kernelSize, stride: stride ?? kernelSize, padding: padding, isGlobal: false, backend: backend)
    }
}

/// Average pooling over `kernelSize`² windows (padding excluded from the average).
public final class AvgPool2d: Pool2d {
    public init(_ kernelSize: Int, stride: Int? = nil, padding: Padding = .valid, backend: any Backend = CPUBackend.shared) {
        super.init(kind: .average, kernelSize: kernelSize, stride: stride ?? kernelSize, padding: padding, isGlobal: false, backend: backend)
    }
}

/// Global average pooling: [N, C, H, W] → [N, C].
public final class GlobalAvgPool2d: Pool2d {
    public init(backend: any Backend = CPUBackend.shared) {
        super.init(kind: .average, kernelSize: 0, stride: 0, padding: .valid, isGlobal: true, backend: backend)
    }
}
