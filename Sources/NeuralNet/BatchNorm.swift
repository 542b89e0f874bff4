import Tensors

/// Batch normalisation per channel of [N, C] or [N, C, H, W] input, with learned scale and shift
/// and running statistics for evaluation (PyTorch conventions: momentum 0.1, unbiased running variance).
public final class BatchNorm: Layer {
    public let channels: Int
    public let epsilon: Float
    public let momentum: Float
    public let scale: Parameter
    public let shift: Parameter
    public let runningMean: Tensor
    public let runningVariance: Tensor
    private let batchMean: Tensor
    private let batchVariance: Tensor
    private let backend: any Backend
    private var plans = ShapeCache<(kernel: any BatchNormKernel, output: Tensor, inputGradient: Tensor)>()
    private var outputGradientAdapter = LayoutAdapter()
    private var input: Tensor?

    public init(_ channels: Int, epsilon: Float = 1e-3, momentum: Float = 0.1, backend: any Backend = CPUBackend.shared) {
        self.channels = channels
        self.epsilon = epsilon
        self.momentum = momentum
        self.backend = backend
        scale = Parameter(name: "scale", role: .scale, shape: [channels], isPrunable: false, decays: false)
        shift = Parameter(name: "shift", role: .shift, shape: [channels], isPrunable: false, decays: false)
        scale.value.fill(1)
        runningMean = Tensor(shape: [channels])
        runningVariance = Tensor(shape: [channels])
        runningVariance.fill(1)
        batchMean = Tensor(shape: [channels])
        batchVariance = Tensor(shape: [channels])
    }

    public var description: String { "BatchNorm(\(channels))" }
    public var parameters: [Parameter] { [scale, shift] }
    public var buffers: [(name: String, tensor: Tensor)] { [("running_mean", runningMean), ("running_variance", runningVariance)] }

    public func outputShape(for inputShape: [Int]) throws -> [Int] {
        guard inputShape.count == 2 || inputShape.count == 4, inputShape[1] == channels else {
            throw LayerError.shapeMismatch(layer: description, expected: "[N, \(channels)] or [N, \(channels), H, W]", got: inputShape)
        }
        return inputShape
    }

    public func forward(_ input: Tensor, training: Bool) throws -> Tensor {
        let shape = try outputShape(for: input.shape)
        let layout = input.layout
        let plan = try plans.value(for: shape, layout: layout) {
            let flat = shape.count == 2
            let g = BatchNormGeometry(batch: shape[0], channels: channels, height: flat ? 1 : shape[2], width: flat ? 1 : shape[3],
                                      epsilon: epsilon, isFlat: flat)
            return (try backend.makeBatchNorm(g, layout: layout), Tensor(shape: shape, layout: layout), Tensor(shape: shape, layout: layout))
        }
        if training {
            try plan.kernel.forwardTraining(input: input, scale: scale.value, shift: shift.value, output: plan.output,
                                            mean: batchMean, variance: batchVariance)
            let n = Float(input.count / channels)
            let correction = n > 1 ? n / (n - 1) : 1
            backend.updateRunningStatistics(runningMean: runningMean, runningVariance: runningVariance, batchMean: batchMean,
                                            batchVariance: batchVariance, momentum: momentum, varianceCorrection: correction)
            self.input = input
        } else {
            try plan.kernel.forwardInference(input: input, scale: scale.value, shift: shift.value,
                                             mean: runningMean, variance: runningVariance, output: plan.output)
        }
        return plan.output
    }

    public func backward(_ outputGradient: Tensor, needsInputGradient: Bool) throws -> Tensor? {
        guard let input else { throw LayerError.backwardBeforeForward(layer: description) }
        let plan = try plans.value(for: input.shape, layout: input.layout) { throw LayerError.backwardBeforeForward(layer: description) }
        let outputGradient = try outputGradientAdapter.conform(outputGradient, to: input.layout, backend: backend)
        // oneDNN computes the input gradient together with the scale/shift gradients.
        try plan.kernel.backward(input: input, outputGradient: outputGradient, scale: scale.value, mean: batchMean,
                                 variance: batchVariance, inputGradient: plan.inputGradient,
                                 scaleGradient: scale.gradient, shiftGradient: shift.gradient)
        return needsInputGradient ? plan.inputGradient : nil
    }
}
