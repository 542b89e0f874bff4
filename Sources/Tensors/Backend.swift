/// The seam between layers and the hardware: every numerical operation a layer performs goes
/// through a `Backend`, so a CUDA backend can be added without touching the layers.
///
/// Matrices are row-major views of tensors: a tensor of shape [r, …] is an r × (count / r) matrix.
public protocol Backend: AnyObject {
    /// A short name, e.g. "cpu (oneDNN 2.6.3)".
    var name: String { get }

    /// C = alpha · op(A) · op(B) + beta · C with op(A) m × k, op(B) k × n, all row-major and dense.
    func gemm(transposeA: Bool, transposeB: Bool, m: Int, n: Int, k: Int,
              alpha: Float, a: Tensor, b: Tensor, beta: Float, c: Tensor)

    /// The values of `tensor` in plain row-major (NCHW) order, whatever layout it is stored in.
    func plainValues(of tensor: Tensor) throws -> [Float]

    /// The layout convolution-family layers keep their activations in (plain or channel-blocked).
    var activationLayout: TensorLayout { get }

    /// A convolution from `sourceLayout` activations to `destinationLayout` activations.
    func makeConvolution(_ geometry: ConvolutionGeometry, sourceLayout: TensorLayout, destinationLayout: TensorLayout) throws -> any ConvolutionKernel
    /// Pooling with input and output in `layout`.
    func makePooling(_ geometry: PoolingGeometry, layout: TensorLayout) throws -> any PoolingKernel
    /// Batch normalisation with input and output in `layout`.
    func makeBatchNorm(_ geometry: BatchNormGeometry, layout: TensorLayout) throws -> any BatchNormKernel
    /// Copies `source` into `destination` (same shape), converting between their layouts.
    func makeReorder(shape: [Int], from: TensorLayout, to: TensorLayout) throws -> any ReorderKernel

    /// output = min(max(input, 0), ceiling) (any layout: element-wise over the storage);
    /// ceiling = .infinity is ReLU, 6 is MobileNetV2's ReLU6.
    func relu(input: Tensor, output: Tensor, ceiling: Float)
    /// inputGradient = outputGradient where 0 < output < ceiling, else 0.
    func reluBackward(output: Tensor, outputGradient: Tensor, inputGradient: Tensor, ceiling: Float)
    /// Adds `bias[j]` to every row's column j (dense layer bias).
    func addBias(_ bias: Tensor, to matrix: Tensor)
    /// `result[j] = Σ_rows matrix[row, j]` (dense bias gradient), overwriting `result`.
    func sumRows(of matrix: Tensor, into result: Tensor)
    /// output = a + b (residual joins).
    func add(_ a: Tensor, _ b: Tensor, into output: Tensor)
    /// target += source.
    func accumulate(_ source: Tensor, into target: Tensor)
    /// tensor *= mask (elementwise 0/1).
    func applyMask(_ mask: Tensor, to tensor: Tensor)
    /// One SGD-with-momentum step (PyTorch's formulation, decay on the gradient):
    /// g = mask·(g + weightDecay·w); v = momentum·v + g; w = mask·(w − learningRate·v).
    func sgdStep(weight: Tensor, gradient: Tensor, velocity: Tensor, mask: Tensor?,
                 learningRate: Float, momentum: Float, weightDecay: Float)
    /// Mean softmax cross-entropy of `logits` (rows × classes) against `labels`; writes
    /// d(loss)/d(logits) when `logitsGradient` is given. Returns the summed loss and correct count.
    func softmaxCrossEntropy(logits: Tensor, labels: UnsafePointer<Int32>, rows: Int,
                             logitsGradient: Tensor?) -> (lossSum: Double, correct: Int)
    /// BatchNorm's running statistics (PyTorch): running = (1 − momentum)·running + momentum·batch,
    /// the batch variance multiplied by `varianceCorrection` (n / (n − 1), unbiased) first.
    func updateRunningStatistics(runningMean: Tensor, runningVariance: Tensor, batchMean: Tensor, batchVariance: Tensor,
                                 momentum: Float, varianceCorrection: Float)
    /// t = (t > 0) ? 1 : 0 over the whole storage (the reachability semiring of effective masks).
    func binarize(_ tensor: Tensor)
    /// Waits for queued device work and reports the first error a non-throwing operation met since
    /// the last call (device backends run asynchronously and keep errors sticky, as CUDA does). A
    /// no-op on the CPU.
    func synchronize() throws
}

extension Backend {
    public func synchronize() throws {}

    public func relu(input: Tensor, output: Tensor) { relu(input: input, output: output, ceiling: .infinity) }
    public func reluBackward(output: Tensor, outputGradient: Tensor, inputGradient: Tensor) {
        reluBackward(output: output, outputGradient: outputGradient, inputGradient: inputGradient, ceiling: .infinity)
    }

    public func makeConvolution(_ geometry: ConvolutionGeometry) throws -> any ConvolutionKernel {
        try makeConvolution(geometry, sourceLayout: .plain, destinationLayout: .plain)
    }
    public func makePooling(_ geometry: PoolingGeometry) throws -> any PoolingKernel { try makePooling(geometry, layout: .plain) }
    public func makeBatchNorm(_ geometry: BatchNormGeometry) throws -> any BatchNormKernel { try makeBatchNorm(geometry, layout: .plain) }
}

/// Converts tensors of one shape between two layouts.
public protocol ReorderKernel: AnyObject {
    func reorder(_ source: Tensor, into destination: Tensor) throws
}

/// Shape and hyper-parameters of a 2-D convolution on NCHW tensors with PyTorch weight layout
/// (out, in / groups, kh, kw). Padding may be asymmetric (TensorFlow "same").
public struct ConvolutionGeometry: Hashable, Sendable {
    public var batch: Int
    public var inChannels: Int, outChannels: Int
    public var inHeight: Int, inWidth: Int
    public var kernelHeight: Int, kernelWidth: Int
    public var strideHeight: Int, strideWidth: Int
    public var padTop: Int, padLeft: Int, padBottom: Int, padRight: Int
    public var groups: Int
    public var hasBias: Bool

    public init(batch: Int, inChannels: Int, outChannels: Int, inHeight: Int, inWidth: Int,
                kernelHeight: Int, kernelWidth: Int, strideHeight: Int = 1, strideWidth: Int = 1,
                padTop: Int = 0, padLeft: Int = 0, padBottom: Int = 0, padRight: Int = 0,
                groups: Int = 1, hasBias: Bool = true) {
        self.batch = batch; self.inChannels = inChannels; self.outChannels = outChannels
        self.inHeight = inHeight; self.inWidth = inWidth
        self.kernelHeight = kernelHeight; self.kernelWidth = kernelWidth
        self.strideHeight = strideHeight; self.strideWidth = strideWidth
        self.padTop = padTop; self.padLeft = padLeft; self.padBottom = padBottom; self.padRight = padRight
        self.groups = groups; self.hasBias = hasBias
    }

    /// Output rows; 0 when the padded input is smaller than the window (integer division would
    /// otherwise round the negative span towards zero and claim one row).
    public var outHeight: Int { outputExtent(inHeight + padTop + padBottom, kernelHeight, strideHeight) }
    public var outWidth: Int { outputExtent(inWidth + padLeft + padRight, kernelWidth, strideWidth) }
    public var inputShape: [Int] { [batch, inChannels, inHeight, inWidth] }
    public var outputShape: [Int] { [batch, outChannels, outHeight, outWidth] }
    public var weightShape: [Int] { [outChannels, inChannels / groups, kernelHeight, kernelWidth] }
    /// Multiply-adds of one forward pass over the whole batch.
    public var multiplyAdds: Int {
        batch * outChannels * outHeight * outWidth * (inChannels / groups) * kernelHeight * kernelWidth
    }
}

public protocol ConvolutionKernel: AnyObject {
    var geometry: ConvolutionGeometry { get }
    /// A description of the chosen implementations (for benchmarks and logs).
    var implementation: String { get }
    /// True when a pass fell back to a slow reference implementation (another layout may do better).
    var usesReferenceImplementation: Bool { get }
    func forward(input: Tensor, weight: Tensor, bias: Tensor?, output: Tensor) throws
    func backwardData(outputGradient: Tensor, weight: Tensor, inputGradient: Tensor) throws
    /// Overwrites weightGradient (and biasGradient when given).
    func backwardWeights(input: Tensor, outputGradient: Tensor, weightGradient: Tensor, biasGradient: Tensor?) throws
}

public enum PoolingKind: String, Hashable, Sendable { case max, average }

/// Shape of a 2-D pooling window on NCHW tensors. Average pooling excludes padding.
public struct PoolingGeometry: Hashable, Sendable {
    public var kind: PoolingKind
    public var batch: Int, channels: Int, inHeight: Int, inWidth: Int
    public var kernelHeight: Int, kernelWidth: Int
    public var strideHeight: Int, strideWidth: Int
    public var padTop: Int, padLeft: Int, padBottom: Int, padRight: Int

    public init(kind: PoolingKind, batch: Int, channels: Int, inHeight: Int, inWidth: Int,
                kernelHeight: Int, kernelWidth: Int, strideHeight: Int, strideWidth: Int,
                padTop: Int = 0, padLeft: Int = 0, padBottom: Int = 0, padRight: Int = 0) {
        self.kind = kind; self.batch = batch; self.channels = channels
        self.inHeight = inHeight; self.inWidth = inWidth
        self.kernelHeight = kernelHeight; self.kernelWidth = kernelWidth
        self.strideHeight = strideHeight; self.strideWidth = strideWidth
        self.padTop = padTop; self.padLeft = padLeft; self.padBottom = padBottom; self.padRight = padRight
    }

    /// Output rows; 0 when the padded input is smaller than the window (integer division would
    /// otherwise round the negative span towards zero and claim one row).
    public var outHeight: Int { outputExtent(inHeight + padTop + padBottom, kernelHeight, strideHeight) }
    public var outWidth: Int { outputExtent(inWidth + padLeft + padRight, kernelWidth, strideWidth) }
    public var inputShape: [Int] { [batch, channels, inHeight, inWidth] }
    public var outputShape: [Int] { [batch, channels, outHeight, outWidth] }
}

public protocol PoolingKernel: AnyObject {
    var geometry: PoolingGeometry { get }
    /// In training mode max pooling remembers where each maximum came from for `backward`.
    func forward(input: Tensor, output: Tensor, training: Bool) throws
    func backward(outputGradient: Tensor, inputGradient: Tensor) throws
}

/// Batch normalisation over N (and H, W) per channel of an [N, C] or [N, C, H, W] tensor.
public struct BatchNormGeometry: Hashable, Sendable {
    public var batch: Int, channels: Int, height: Int, width: Int
    public var epsilon: Float
    /// True for [N, C] inputs (after dense layers).
    public var isFlat: Bool

    public init(batch: Int, channels: Int, height: Int = 1, width: Int = 1, epsilon: Float = 1e-5, isFlat: Bool) {
        self.batch = batch; self.channels = channels; self.height = height; self.width = width
        self.epsilon = epsilon; self.isFlat = isFlat
    }

    public var shape: [Int] { isFlat ? [batch, channels] : [batch, channels, height, width] }
}

public protocol BatchNormKernel: AnyObject {
    var geometry: BatchNormGeometry { get }
    /// Normalises with the batch's statistics, which it writes into `mean` and `variance` (biased).
    func forwardTraining(input: Tensor, scale: Tensor, shift: Tensor, output: Tensor, mean: Tensor, variance: Tensor) throws
    /// Normalises with the given (running) statistics.
    func forwardInference(input: Tensor, scale: Tensor, shift: Tensor, mean: Tensor, variance: Tensor, output: Tensor) throws
    /// Overwrites inputGradient, scaleGradient and shiftGradient.
    func backward(input: Tensor, outputGradient: Tensor, scale: Tensor, mean: Tensor, variance: Tensor,
                  inputGradient: Tensor, scaleGradient: Tensor, shiftGradient: Tensor) throws
}

/// Positions of a window of `kernel` at `stride` over `paddedSize` elements.
@inline(__always)
func outputExtent(_ paddedSize: Int, _ kernel: Int, _ stride: Int) -> Int {
    paddedSize < kernel ? 0 : (paddedSize - kernel) / stride + 1
}
