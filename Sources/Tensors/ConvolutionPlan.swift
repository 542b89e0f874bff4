import CDNNL

/// oneDNN convolution primitives (forward, backward-data, backward-weights) for one geometry and
/// activation layouts, created once and reused every step.
///
/// Activations come and go in the layouts given (blocked layouts between layers let oneDNN use its
/// direct kernels). Weights stay in PyTorch's plain layout (out, in / groups, kh, kw), which masks
/// use too; when a kernel wants another weight format, the plan keeps a formatted copy and reorders
/// the (small) weight tensor per call.
public final class ConvolutionPlan: ConvolutionKernel {
    public let geometry: ConvolutionGeometry
    public let sourceLayout: TensorLayout
    public let destinationLayout: TensorLayout
    private let forwardPrimitive: DNNLPrimitive
    private let forwardWeights: FormattedBuffer
    private var backwardData: (primitive: DNNLPrimitive, weights: FormattedBuffer)?
    private let backwardWeightsPrimitive: DNNLPrimitive
    private let weightGradients: FormattedBuffer
    private let sourceMD, plainWeightMD, destinationMD: dnnl_memory_desc_t
    private let strides: [Int], paddingLeft: [Int], paddingRight: [Int]
    /// Input channels as the kernels see them (rounded up to a whole block on blocked input).
    private let paddedInChannels: Int

    public init(_ geometry: ConvolutionGeometry, sourceLayout: TensorLayout = .plain, destinationLayout: TensorLayout = .plain) throws {
        let g = geometry
        guard g.groups >= 1, g.inChannels % g.groups == 0, g.outChannels % g.groups == 0 else {
            throw DNNLError(operation: "convolution: channels \(g.inChannels)→\(g.outChannels) not divisible by groups \(g.groups)", status: -1)
        }
        guard g.outHeight > 0, g.outWidth > 0 else {
            throw DNNLError(operation: "convolution: empty output for input \(g.inputShape) and kernel \(g.kernelHeight)×\(g.kernelWidth)", status: -1)
        }
        self.geometry = g
        self.sourceLayout = sourceLayout
        self.destinationLayout = destinationLayout
        // oneDNN's direct kernels want whole channel blocks on blocked input. A blocked tensor of C
        // channels is stored exactly like one of ⌈C/b⌉·b channels whose extra channels are zero, so
        // the kernel sees the padded count and the weights get zero taps for the padding channels.
        var k = g
        if case let .channelBlocked(block) = sourceLayout, g.groups == 1, g.inChannels % block != 0 {
            k.inChannels = (g.inChannels + block - 1) / block * block
        }
        let paddedChannels = k.inChannels
        var sourceMD = try memoryDescriptor(k.inputShape, layout: sourceLayout)
        var destinationMD = try memoryDescriptor(g.outputShape, layout: destinationLayout)
        let weightDims = g.groups == 1 ? g.weightShape
            : [g.groups, g.outChannels / g.groups, g.inChannels / g.groups, g.kernelHeight, g.kernelWidth]
        let plainWeightMD = try plainMemoryDescriptor(weightDims)
        var anyWeightMD = try anyMemoryDescriptor(g.groups == 1 ? k.weightShape : weightDims)
        var biasMD = try plainMemoryDescriptor([g.outChannels])
        let strides = [g.strideHeight, g.strideWidth]
        let paddingLeft = [g.padTop, g.padLeft]
        let paddingRight = [g.padBottom, g.padRight]
        let hasBias = g.hasBias

        var forwardOp = dnnl_convolution_desc_t()
        try withDims(strides) { s in try withDims(paddingLeft) { pl in try withDims(paddingRight) { pr in
            try withUnsafePointer(to: &biasMD) { bias in
                try dnnlCheck(dnnl_convolution_forward_desc_init(
                    &forwardOp, dnnl_forward_training, dnnl_convolution_direct, &sourceMD, &anyWeightMD,
                    hasBias ? bias : nil, &destinationMD, s, pl, pr), "convolution forward desc \(g.inputShape)")
            }
        } } }
        let forwardPD = try makePrimitiveDescriptor(&forwardOp, name: "convolution forward")
        forwardPrimitive = try DNNLPrimitive(descriptor: forwardPD, name: "convolution forward")
        forwardWeights = try FormattedBuffer(wanted: forwardPrimitive.memoryDescriptor(dnnl_query_weights_md) ?? plainWeightMD,
                                             plain: plainWeightMD, logicalInChannels: k.inChannels == g.inChannels ? nil : g.inChannels, toPlain: false,
                                             name: "convolution weights")
        try forwardPrimitive.bind(DNNL_ARG_SRC, sourceMD)
        try forwardPrimitive.bind(DNNL_ARG_WEIGHTS, forwardWeights.descriptor)
        if g.hasBias { try forwardPrimitive.bind(DNNL_ARG_BIAS, biasMD) }
        try forwardPrimitive.bind(DNNL_ARG_DST, destinationMD)

        var weightsOp = dnnl_convolution_desc_t()
        try withDims(strides) { s in try withDims(paddingLeft) { pl in try withDims(paddingRight) { pr in
            try withUnsafePointer(to: &biasMD) { bias in
                try dnnlCheck(dnnl_convolution_backward_weights_desc_init(
                    &weightsOp, dnnl_convolution_direct, &sourceMD, &anyWeightMD, hasBias ? bias : nil,
                    &destinationMD, s, pl, pr), "convolution backward-weights desc")
            }
        } } }
        let weightsPD = try makePrimitiveDescriptor(&weightsOp, hint: forwardPD, name: "convolution backward weights")
        backwardWeightsPrimitive = try DNNLPrimitive(descriptor: weightsPD, name: "convolution backward weights")
        weightGradients = try FormattedBuffer(
            wanted: backwardWeightsPrimitive.memoryDescriptor(dnnl_query_diff_weights_md) ?? plainWeightMD,
            plain: plainWeightMD, logicalInChannels: k.inChannels == g.inChannels ? nil : g.inChannels, toPlain: true,
            name: "convolution weight gradients")
        try backwardWeightsPrimitive.bind(DNNL_ARG_SRC, sourceMD)
        try backwardWeightsPrimitive.bind(DNNL_ARG_DIFF_DST, destinationMD)
        try backwardWeightsPrimitive.bind(DNNL_ARG_DIFF_WEIGHTS, weightGradients.descriptor)
        if g.hasBias { try backwardWeightsPrimitive.bind(DNNL_ARG_DIFF_BIAS, biasMD) }
        self.paddedInChannels = paddedChannels
        self.sourceMD = sourceMD; self.plainWeightMD = plainWeightMD; self.destinationMD = destinationMD
        self.strides = strides; self.paddingLeft = paddingLeft; self.paddingRight = paddingRight
    }

    public var implementation: String {
        "forward \(forwardPrimitive.implementation), backward-data \(backwardData?.primitive.implementation ?? "not created"), "
            + "backward-weights \(backwardWeightsPrimitive.implementation); activations \(sourceLayout)→\(destinationLayout)"
            + (forwardWeights.needsReorder ? ", weights reordered" : "")
    }

    public var usesReferenceImplementation: Bool {
        forwardPrimitive.implementation.hasPrefix("ref") || backwardWeightsPrimitive.implementation.hasPrefix("ref")
    }

    public func forward(input: Tensor, weight: Tensor, bias: Tensor?, output: Tensor) throws {
        try forwardWeights.fill(from: weight)
        try forwardPrimitive.set(DNNL_ARG_SRC, input)
        try forwardPrimitive.set(DNNL_ARG_WEIGHTS, forwardWeights.pointer(for: weight))
        if geometry.hasBias {
            guard let bias else { throw DNNLError(operation: "convolution forward: bias missing", status: -1) }
            try forwardPrimitive.set(DNNL_ARG_BIAS, bias)
        }
        try forwardPrimitive.set(DNNL_ARG_DST, output)
        try forwardPrimitive.execute()
    }

    /// Created on first use: the first layer of a network never needs it.
    private func makeBackwardData() throws -> (primitive: DNNLPrimitive, weights: FormattedBuffer) {
        var op = dnnl_convolution_desc_t()
        var source = sourceMD, destination = destinationMD
        var anyWeightMD = try anyWeightDescriptor()
        try withDims(strides) { s in try withDims(paddingLeft) { pl in try withDims(paddingRight) { pr in
            try dnnlCheck(dnnl_convolution_backward_data_desc_init(
                &op, dnnl_convolution_direct, &source, &anyWeightMD, &destination, s, pl, pr),
                "convolution backward-data desc")
        } } }
        let pd = try makePrimitiveDescriptor(&op, hint: forwardPrimitive.descriptor, name: "convolution backward data")
        let primitive = try DNNLPrimitive(descriptor: pd, name: "convolution backward data")
        let weights = try FormattedBuffer(wanted: primitive.memoryDescriptor(dnnl_query_weights_md) ?? plainWeightMD,
                                          plain: plainWeightMD,
                                          logicalInChannels: paddedInChannels == geometry.inChannels ? nil : geometry.inChannels, toPlain: false,
                                          name: "convolution backward-data weights")
        try primitive.bind(DNNL_ARG_DIFF_DST, destinationMD)
        try primitive.bind(DNNL_ARG_WEIGHTS, weights.descriptor)
        try primitive.bind(DNNL_ARG_DIFF_SRC, sourceMD)
        return (primitive, weights)
    }

    private func anyWeightDescriptor() throws -> dnnl_memory_desc_t {
        var g = geometry
        g.inChannels = paddedInChannels
        return try anyMemoryDescriptor(g.groups == 1 ? g.weightShape
            : [g.groups, g.outChannels / g.groups, g.inChannels / g.groups, g.kernelHeight, g.kernelWidth])
    }

    public func backwardData(outputGradient: Tensor, weight: Tensor, inputGradient: Tensor) throws {
        if backwardData == nil { backwardData = try makeBackwardData() }
        let (primitive, weights) = backwardData!
        try weights.fill(from: weight)
        try primitive.set(DNNL_ARG_DIFF_DST, outputGradient)
        try primitive.set(DNNL_ARG_WEIGHTS, weights.pointer(for: weight))
        try primitive.set(DNNL_ARG_DIFF_SRC, inputGradient)
        try primitive.execute()
    }

    public func backwardWeights(input: Tensor, outputGradient: Tensor, weightGradient: Tensor, biasGradient: Tensor?) throws {
        try backwardWeightsPrimitive.set(DNNL_ARG_SRC, input)
        try backwardWeightsPrimitive.set(DNNL_ARG_DIFF_DST, outputGradient)
        try backwardWeightsPrimitive.set(DNNL_ARG_DIFF_WEIGHTS, weightGradients.pointer(for: weightGradient))
        if geometry.hasBias {
            guard let biasGradient else { throw DNNLError(operation: "convolution backward-weights: bias gradient missing", status: -1) }
            try backwardWeightsPrimitive.set(DNNL_ARG_DIFF_BIAS, biasGradient)
        }
        try backwardWeightsPrimitive.execute()
        try weightGradients.drain(into: weightGradient)
    }
}
