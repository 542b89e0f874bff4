import CDNNL

/// oneDNN batch normalisation with separate scale and shift, for one geometry.
public final class BatchNormPlan: BatchNormKernel {
    public let geometry: BatchNormGeometry
    public let layout: TensorLayout
    private let trainingPrimitive: DNNLPrimitive
    private let backwardPrimitive: DNNLPrimitive
    private var inferencePrimitive: DNNLPrimitive?
    private var dataMD: dnnl_memory_desc_t
    private let channelMD: dnnl_memory_desc_t

    public init(_ geometry: BatchNormGeometry, layout: TensorLayout = .plain) throws {
        self.geometry = geometry
        self.layout = layout
        if geometry.isFlat && layout == .plain {
            // [N, C] is byte for byte [N, C, 1, 1] in NHWC, which oneDNN's vectorised channels-last
            // kernels handle far faster than its generic 2-D path (per-channel strided loops).
            dataMD = try memoryDescriptor([geometry.batch, geometry.channels, 1, 1], layout: .channelsLast)
        } else {
            dataMD = try memoryDescriptor(geometry.shape, layout: layout)
        }
        channelMD = try plainMemoryDescriptor([geometry.channels])
        let flags = dnnl_use_scale.rawValue | dnnl_use_shift.rawValue

        var forwardOp = dnnl_batch_normalization_desc_t()
        try dnnlCheck(dnnl_batch_normalization_forward_desc_init(&forwardOp, dnnl_forward_training, &dataMD, geometry.epsilon, flags),
                      "batch norm forward desc \(geometry.shape)")
        let forwardPD = try makePrimitiveDescriptor(&forwardOp, name: "batch norm forward")
        trainingPrimitive = try DNNLPrimitive(descriptor: forwardPD, name: "batch norm forward")
        for argument in [DNNL_ARG_SRC, DNNL_ARG_DST] { try trainingPrimitive.bind(argument, dataMD) }
        for argument in [DNNL_ARG_SCALE, DNNL_ARG_SHIFT, DNNL_ARG_MEAN, DNNL_ARG_VARIANCE] { try trainingPrimitive.bind(argument, channelMD) }

        var backwardOp = dnnl_batch_normalization_desc_t()
        try dnnlCheck(dnnl_batch_normalization_backward_desc_init(&backwardOp, dnnl_backward, &dataMD, &dataMD, geometry.epsilon, flags),
                      "batch norm backward desc")
        let backwardPD = try makePrimitiveDescriptor(&backwardOp, hint: forwardPD, name: "batch norm backward")
        backwardPrimitive = try DNNLPrimitive(descriptor: backwardPD, name: "batch norm backward")
        for argument in [DNNL_ARG_SRC, DNNL_ARG_DIFF_DST, DNNL_ARG_DIFF_SRC] { try backwardPrimitive.bind(argument, dataMD) }
        for argument in [DNNL_ARG_SCALE, DNNL_ARG_SHIFT, DNNL_ARG_MEAN, DNNL_ARG_VARIANCE, DNNL_ARG_DIFF_SCALE, DNNL_ARG_DIFF_SHIFT] {
            try backwardPrimitive.bind(argument, channelMD)
        }
    }

    public func forwardTraining(input: Tensor, scale: Tensor, shift: Tensor, output: Tensor, mean: Tensor, variance: Tensor) throws {
        let p = trainingPrimitive
        try p.set(DNNL_ARG_SRC, input); try p.set(DNNL_ARG_DST, output)
        try p.set(DNNL_ARG_SCALE, scale); try p.set(DNNL_ARG_SHIFT, shift)
        try p.set(DNNL_ARG_MEAN, mean); try p.set(DNNL_ARG_VARIANCE, variance)
        try p.execute()
    }

    private func makeInference() throws -> DNNLPrimitive {
        var op = dnnl_batch_normalization_desc_t()
        let flags = dnnl_use_scale.rawValue | dnnl_use_shift.rawValue | dnnl_use_global_stats.rawValue
        try dnnlCheck(dnnl_batch_normalization_forward_desc_init(&op, dnnl_forward_inference, &dataMD, geometry.epsilon, flags),
                      "batch norm inference desc")
        let pd = try makePrimitiveDescriptor(&op, name: "batch norm inference")
        let p = try DNNLPrimitive(descriptor: pd, name: "batch norm inference")
        for argument in [DNNL_ARG_SRC, DNNL_ARG_DST] { try p.bind(argument, dataMD) }
        for argument in [DNNL_ARG_SCALE, DNNL_ARG_SHIFT, DNNL_ARG_MEAN, DNNL_ARG_VARIANCE] { try p.bind(argument, channelMD) }
        return p
    }

    public func forwardInference(input: Tensor, scale: Tensor, shift: Tensor, mean: Tensor, variance: Tensor, output: Tensor) throws {
        if inferencePrimitive == nil { inferencePrimitive = try makeInference() }
        let p = inferencePrimitive!
        try p.set(DNNL_ARG_SRC, input); try p.set(DNNL_ARG_DST, output)
        try p.set(DNNL_ARG_SCALE, scale); try p.set(DNNL_ARG_SHIFT, shift)
        try p.set(DNNL_ARG_MEAN, mean); try p.set(DNNL_ARG_VARIANCE, variance)
        try p.execute()
    }

    public func backward(input: Tensor, outputGradient: Tensor, scale: Tensor, mean: Tensor, variance: Tensor,
                         inputGradient: Tensor, scaleGradient: Tensor, shiftGradient: Tensor) throws {
        let p = backwardPrimitive
        try p.set(DNNL_ARG_SRC, input); try p.set(DNNL_ARG_DIFF_DST, outputGradient); try p.set(DNNL_ARG_DIFF_SRC, inputGradient)
        // oneDNN 2.6 checks that a shift argument is present although the backward pass does not read it.
        try p.set(DNNL_ARG_SCALE, scale); try p.set(DNNL_ARG_SHIFT, scale)
        try p.set(DNNL_ARG_MEAN, mean); try p.set(DNNL_ARG_VARIANCE, variance)
        try p.set(DNNL_ARG_DIFF_SCALE, scaleGradient); try p.set(DNNL_ARG_DIFF_SHIFT, shiftGradient)
        try p.execute()
    }
}
