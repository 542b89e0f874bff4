import CDNNL

/// oneDNN convolution primitives (forward, backward-data, backward-weights) for one geometry,
/// created once and reused every step. Tensors stay in plain NCHW / PyTorch weight layout, so no
/// reorders happen on the per-step path.
public final class ConvolutionPlan: ConvolutionKernel {
    public let geometry: ConvolutionGeometry
    private let forwardPrimitive: DNNLPrimitive
    private var backwardDataPrimitive: DNNLPrimitive?
    private let backwardWeightsPrimitive: DNNLPrimitive
    private var sourceMD, weightMD, destinationMD: dnnl_memory_desc_t
    private let strides: [Int], paddingLeft: [Int], paddingRight: [Int]

    public init(_ geometry: ConvolutionGeometry) throws {
        let g = geometry
        guard g.groups >= 1, g.inChannels % g.groups == 0, g.outChannels % g.groups == 0 else {
            throw DNNLError(operation: "convolution: channels \(g.inChannels)→\(g.outChannels) not divisible by groups \(g.groups)", status: -1)
        }
        guard g.outHeight > 0, g.outWidth > 0 else {
            throw DNNLError(operation: "convolution: empty output for input \(g.inputShape) and kernel \(g.kernelHeight)×\(g.kernelWidth)", status: -1)
        }
        self.geometry = g
        var sourceMD = try plainMemoryDescriptor(g.inputShape)
        var destinationMD = try plainMemoryDescriptor(g.outputShape)
        var weightMD = try plainMemoryDescriptor(g.groups == 1 ? g.weightShape
            : [g.groups, g.outChannels / g.groups, g.inChannels / g.groups, g.kernelHeight, g.kernelWidth])
        var biasMD = try plainMemoryDescriptor([g.outChannels])
        let strides = [g.strideHeight, g.strideWidth]
        let paddingLeft = [g.padTop, g.padLeft]
        let paddingRight = [g.padBottom, g.padRight]
        let hasBias = g.hasBias

        var forwardOp = dnnl_convolution_desc_t()
        try withDims(strides) { s in try withDims(paddingLeft) { pl in try withDims(paddingRight) { pr in
            try withUnsafePointer(to: &biasMD) { bias in
                try dnnlCheck(dnnl_convolution_forward_desc_init(
                    &forwardOp, dnnl_forward_training, dnnl_convolution_direct, &sourceMD, &weightMD,
                    hasBias ? bias : nil, &destinationMD, s, pl, pr), "convolution forward desc \(g.inputShape)")
            }
        } } }
        let forwardPD = try makePrimitiveDescriptor(&forwardOp, name: "convolution forward")
        forwardPrimitive = try DNNLPrimitive(descriptor: forwardPD, name: "convolution forward")
        try forwardPrimitive.bind(DNNL_ARG_SRC, sourceMD)
        try forwardPrimitive.bind(DNNL_ARG_WEIGHTS, weightMD)
        if g.hasBias { try forwardPrimitive.bind(DNNL_ARG_BIAS, biasMD) }
        try forwardPrimitive.bind(DNNL_ARG_DST, destinationMD)

        var weightsOp = dnnl_convolution_desc_t()
        try withDims(strides) { s in try withDims(paddingLeft) { pl in try withDims(paddingRight) { pr in
            try withUnsafePointer(to: &biasMD) { bias in
                try dnnlCheck(dnnl_convolution_backward_weights_desc_init(
                    &weightsOp, dnnl_convolution_direct, &sourceMD, &weightMD, hasBias ? bias : nil,
                    &destinationMD, s, pl, pr), "convolution backward-weights desc")
            }
        } } }
        let weightsPD = try makePrimitiveDescriptor(&weightsOp, hint: forwardPD, name: "convolution backward weights")
        backwardWeightsPrimitive = try DNNLPrimitive(descriptor: weightsPD, name: "convolution backward weights")
        try backwardWeightsPrimitive.bind(DNNL_ARG_SRC, sourceMD)
        try backwardWeightsPrimitive.bind(DNNL_ARG_DIFF_DST, destinationMD)
        try backwardWeightsPrimitive.bind(DNNL_ARG_DIFF_WEIGHTS, weightMD)
        if g.hasBias { try backwardWeightsPrimitive.bind(DNNL_ARG_DIFF_BIAS, biasMD) }
        self.sourceMD = sourceMD; self.weightMD = weightMD; self.destinationMD = destinationMD
        self.strides = strides; self.paddingLeft = paddingLeft; self.paddingRight = paddingRight
    }

    public var implementation: String {
        "forward \(forwardPrimitive.implementation), backward-data \(backwardDataPrimitive?.implementation ?? "not created"), backward-weights \(backwardWeightsPrimitive.implementation)"
    }

    public func forward(input: Tensor, weight: Tensor, bias: Tensor?, output: Tensor) throws {
        try forwardPrimitive.set(DNNL_ARG_SRC, input)
        try forwardPrimitive.set(DNNL_ARG_WEIGHTS, weight)
        if geometry.hasBias, let bias { try forwardPrimitive.set(DNNL_ARG_BIAS, bias) }
        try forwardPrimitive.set(DNNL_ARG_DST, output)
        try forwardPrimitive.execute()
    }

    /// Created on first use: the first layer of a network never needs it.
    private func makeBackwardData() throws -> DNNLPrimitive {
        var op = dnnl_convolution_desc_t()
        try withDims(strides) { s in try withDims(paddingLeft) { pl in try withDims(paddingRight) { pr in
            try dnnlCheck(dnnl_convolution_backward_data_desc_init(
                &op, dnnl_convolution_direct, &sourceMD, &weightMD, &destinationMD, s, pl, pr),
                "convolution backward-data desc")
        } } }
        let pd = try makePrimitiveDescriptor(&op, hint: forwardPrimitive.descriptor, name: "convolution backward data")
        let primitive = try DNNLPrimitive(descriptor: pd, name: "convolution backward data")
        try primitive.bind(DNNL_ARG_DIFF_DST, destinationMD)
        try primitive.bind(DNNL_ARG_WEIGHTS, weightMD)
        try primitive.bind(DNNL_ARG_DIFF_SRC, sourceMD)
        return primitive
    }

    public func backwardData(outputGradient: Tensor, weight: Tensor, inputGradient: Tensor) throws {
        if backwardDataPrimitive == nil { backwardDataPrimitive = try makeBackwardData() }
        let primitive = backwardDataPrimitive!
        try primitive.set(DNNL_ARG_DIFF_DST, outputGradient)
        try primitive.set(DNNL_ARG_WEIGHTS, weight)
        try primitive.set(DNNL_ARG_DIFF_SRC, inputGradient)
        try primitive.execute()
    }

    public func backwardWeights(input: Tensor, outputGradient: Tensor, weightGradient: Tensor, biasGradient: Tensor?) throws {
        try backwardWeightsPrimitive.set(DNNL_ARG_SRC, input)
        try backwardWeightsPrimitive.set(DNNL_ARG_DIFF_DST, outputGradient)
        try backwardWeightsPrimitive.set(DNNL_ARG_DIFF_WEIGHTS, weightGradient)
        if geometry.hasBias {
            guard let biasGradient else { throw DNNLError(operation: "convolution backward-weights: bias gradient missing", status: -1) }
            try backwardWeightsPrimitive.set(DNNL_ARG_DIFF_BIAS, biasGradient)
        }
        try backwardWeightsPrimitive.execute()
    }
}
