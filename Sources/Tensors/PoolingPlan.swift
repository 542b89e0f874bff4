import CDNNL

/// oneDNN max / average pooling (forward and backward) for one geometry.
public final class PoolingPlan: PoolingKernel {
    public let geometry: PoolingGeometry
    public let layout: TensorLayout
    private let forwardPrimitive: DNNLPrimitive
    private let backwardPrimitive: DNNLPrimitive

    public init(_ geometry: PoolingGeometry, layout: TensorLayout = .plain) throws {
        let g = geometry
        guard g.outHeight > 0, g.outWidth > 0 else {
            throw DNNLError(operation: "pooling: empty output for input \(g.inputShape)", status: -1)
        }
        self.geometry = g
        self.layout = layout
        var sourceMD = try memoryDescriptor(g.inputShape, layout: layout)
        var destinationMD = try memoryDescriptor(g.outputShape, layout: layout)
        let algorithm = g.kind == .max ? dnnl_pooling_max : dnnl_pooling_avg_exclude_padding
        let strides = [g.strideHeight, g.strideWidth], kernel = [g.kernelHeight, g.kernelWidth]
        let paddingLeft = [g.padTop, g.padLeft], paddingRight = [g.padBottom, g.padRight]

        var forwardOp = dnnl_pooling_desc_t()
        try withDims(strides) { s in try withDims(kernel) { k in try withDims(paddingLeft) { pl in try withDims(paddingRight) { pr in
            try dnnlCheck(dnnl_pooling_forward_desc_init(&forwardOp, dnnl_forward_training, algorithm,
                                                         &sourceMD, &destinationMD, s, k, pl, pr), "pooling forward desc")
        } } } }
        let forwardPD = try makePrimitiveDescriptor(&forwardOp, name: "pooling forward")
        forwardPrimitive = try DNNLPrimitive(descriptor: forwardPD, name: "pooling forward")
        try forwardPrimitive.bind(DNNL_ARG_SRC, sourceMD)
        try forwardPrimitive.bind(DNNL_ARG_DST, destinationMD)
        let workspace = forwardPrimitive.memoryDescriptor(dnnl_query_workspace_md)
        if g.kind == .max, let workspace { try forwardPrimitive.bindOwned(DNNL_ARG_WORKSPACE, workspace) }

        var backwardOp = dnnl_pooling_desc_t()
        try withDims(strides) { s in try withDims(kernel) { k in try withDims(paddingLeft) { pl in try withDims(paddingRight) { pr in
            try dnnlCheck(dnnl_pooling_backward_desc_init(&backwardOp, algorithm, &sourceMD, &destinationMD, s, k, pl, pr),
                          "pooling backward desc")
        } } } }
        let backwardPD = try makePrimitiveDescriptor(&backwardOp, hint: forwardPD, name: "pooling backward")
        backwardPrimitive = try DNNLPrimitive(descriptor: backwardPD, name: "pooling backward")
        try backwardPrimitive.bind(DNNL_ARG_DIFF_DST, destinationMD)
        try backwardPrimitive.bind(DNNL_ARG_DIFF_SRC, sourceMD)
        if g.kind == .max, let workspace {
            // The backward pass reads the forward pass's workspace: share the same buffer.
            try backwardPrimitive.bind(DNNL_ARG_WORKSPACE, workspace)
            guard let handle = forwardPrimitive.ownedHandle(DNNL_ARG_WORKSPACE) else {
                throw DNNLError(operation: "pooling: forward workspace missing", status: -1)
            }
            try backwardPrimitive.set(DNNL_ARG_WORKSPACE, handle)
        }
    }


    public func forward(input: Tensor, output: Tensor, training: Bool) throws {
        try forwardPrimitive.set(DNNL_ARG_SRC, input)
        try forwardPrimitive.set(DNNL_ARG_DST, output)
        try forwardPrimitive.execute()
    }

    public func backward(outputGradient: Tensor, inputGradient: Tensor) throws {
        try backwardPrimitive.set(DNNL_ARG_DIFF_DST, outputGradient)
        try backwardPrimitive.set(DNNL_ARG_DIFF_SRC, inputGradient)
        try backwardPrimitive.execute()
    }
}
