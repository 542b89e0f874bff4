import CDNNL

/// The CPU backend: oneDNN for GEMM, convolution, pooling and batch norm; plain vectorised loops
/// (auto-vectorised by the optimiser, split over cores when large) for the rest.
public final class CPUBackend: Backend, @unchecked Sendable {
    public static let shared = CPUBackend()

    public let activationLayout: TensorLayout

    /// The channel block oneDNN's direct kernels use on this processor: 16 floats with AVX-512, 8 with AVX2.
    public static var nativeChannelBlock: Int {
        let isa = dnnl_get_effective_cpu_isa()
        let avx512 = dnnl_cpu_isa_avx512_core.rawValue
        return isa.rawValue & avx512 == avx512 ? 16 : 8
    }

    /// Flushes denormals to zero on this thread and oneDNN's worker threads (see `Parallel.flushDenormals`).
    /// `activationLayout` nil picks the processor's blocked layout.
    public init(activationLayout: TensorLayout? = nil) {
        _ = Parallel.flushDenormals
        self.activationLayout = activationLayout ?? .channelBlocked(Self.nativeChannelBlock)
    }

    public var name: String { "cpu (oneDNN \(DNNLContext.version))" }

    public func gemm(transposeA: Bool, transposeB: Bool, m: Int, n: Int, k: Int,
                     alpha: Float, a: Tensor, b: Tensor, beta: Float, c: Tensor) {
        let lda = transposeA ? m : k
        let ldb = transposeB ? k : n
        precondition(a.count >= m * k && b.count >= k * n && c.count >= m * n, "gemm operand too small")
        let status = dnnl_sgemm(transposeA ? 84 : 78, transposeB ? 84 : 78, dnnl_dim_t(m), dnnl_dim_t(n), dnnl_dim_t(k),
                                alpha, a.data, dnnl_dim_t(lda), b.data, dnnl_dim_t(ldb), beta, c.data, dnnl_dim_t(n))
        precondition(status == dnnl_success, "dnnl_sgemm failed for \(m)×\(n)×\(k)")
    }

    public func plainValues(of tensor: Tensor) throws -> [Float] {
        if tensor.layout == .plain { return tensor.array }
        let plain = Tensor(shape: tensor.shape)
        try makeReorder(shape: tensor.shape, from: tensor.layout, to: .plain).reorder(tensor, into: plain)
        return plain.array
    }

    public func makeConvolution(_ geometry: ConvolutionGeometry, sourceLayout: TensorLayout, destinationLayout: TensorLayout) throws -> any ConvolutionKernel {
        try ConvolutionPlan(geometry, sourceLayout: sourceLayout, destinationLayout: destinationLayout)
    }
    public func makePooling(_ geometry: PoolingGeometry, layout: TensorLayout) throws -> any PoolingKernel {
        try PoolingPlan(geometry, layout: layout)
    }
    public func makeBatchNorm(_ geometry: BatchNormGeometry, layout: TensorLayout) throws -> any BatchNormKernel {
        try BatchNormPlan(geometry, layout: layout)
    }
    public func makeReorder(shape: [Int], from: TensorLayout, to: TensorLayout) throws -> any ReorderKernel {
        try ReorderPlan(shape: shape, from: from, to: to)
    }

    /// Elementwise loops below this many elements per chunk are not worth a thread hand-off.
    static let elementwiseChunk = 1 << 17

    public func relu(input: Tensor, output: Tensor, ceiling: Float) {
        precondition(input.layout == output.layout, "relu from \(input.layout) to \(output.layout)")
        let x = input.data, y = output.data
        Parallel.forEachChunk(count: input.storageCount, minimumChunk: Self.elementwiseChunk) { range in
            if ceiling == .infinity {
                for i in range { y[i] = max(x[i], 0) }
            } else {
                for i in range { y[i] = min(max(x[i], 0), ceiling) }
            }
        }
    }

    public func reluBackward(output: Tensor, outputGradient: Tensor, inputGradient: Tensor, ceiling: Float) {
        precondition(output.layout == outputGradient.layout && output.layout == inputGradient.layout, "relu backward layouts differ")
        let y = output.data, dy = outputGradient.data, dx = inputGradient.data
        Parallel.forEachChunk(count: output.storageCount, minimumChunk: Self.elementwiseChunk) { range in
            // Load dy unconditionally and select: a conditional load keeps the loop scalar and
            // branchy (half the branches mispredict on ReLU outputs).
            if ceiling == .infinity {
                for i in range {
                    let g = dy[i]
                    dx[i] = y[i] > 0 ? g : 0
                }
            } else {
                for i in range {
                    let g = dy[i], v = y[i]
                    dx[i] = v > 0 && v < ceiling ? g : 0
                }
            }
        }
    }

    public func addBias(_ bias: Tensor, to matrix: Tensor) {
        let columns = bias.count, rows = matrix.count / columns
        let b = bias.data, y = matrix.data
        for r in 0..<rows {
            let row = y + r * columns
            for j in 0..<columns { row[j] += b[j] }
        }
    }

    public func sumRows(of matrix: Tensor, into result: Tensor) {
        let columns = result.count, rows = matrix.count / columns
        let x = matrix.data, s = result.data
        s.update(repeating: 0, count: columns)
        for r in 0..<rows {
            let row = x + r * columns
            for j in 0..<columns { s[j] += row[j] }
        }
    }

    public func add(_ a: Tensor, _ b: Tensor, into output: Tensor) {
        precondition(a.layout == output.layout && b.layout == output.layout, "add of \(a.layout) and \(b.layout) into \(output.layout)")
        let x = a.data, y = b.data, z = output.data
        Parallel.forEachChunk(count: output.storageCount, minimumChunk: Self.elementwiseChunk) { range in
            for i in range { z[i] = x[i] + y[i] }
        }
    }

    public func accumulate(_ source: Tensor, into target: Tensor) {
        precondition(source.layout == target.layout, "accumulate \(source.layout) into \(target.layout)")
        let x = source.data, y = target.data
        Parallel.forEachChunk(count: target.storageCount, minimumChunk: Self.elementwiseChunk) { range in
            for i in range { y[i] += x[i] }
        }
    }

    public func applyMask(_ mask: Tensor, to tensor: Tensor) {
        let m = mask.data, x = tensor.data
        for i in 0..<tensor.count { x[i] *= m[i] }
    }

    public func sgdStep(weight: Tensor, gradient: Tensor, velocity: Tensor, mask: Tensor?,
                        learningRate: Float, momentum: Float, weightDecay: Float) {
        let w = weight.data, g = gradient.data, v = velocity.data
        if let mask {
            let m = mask.data
            Parallel.forEachChunk(count: weight.count, minimumChunk: Self.elementwiseChunk) { range in
                for i in range {
                    let grad = m[i] * (g[i] + weightDecay * w[i])
                    let vel = momentum * v[i] + grad
                    v[i] = vel
                    w[i] = m[i] * (w[i] - learningRate * vel)
                }
            }
        } else {
            Parallel.forEachChunk(count: weight.count, minimumChunk: Self.elementwiseChunk) { range in
                for i in range {
                    let vel = momentum * v[i] + (g[i] + weightDecay * w[i])
                    v[i] = vel
                    w[i] -= learningRate * vel
                }
            }
        }
    }

    public func softmaxCrossEntropy(logits: Tensor, labels: UnsafePointer<Int32>, rows: Int,
                                    logitsGradient: Tensor?) -> (lossSum: Double, correct: Int) {
        let classes = logits.count / logits.rows
        let z = logits.data
        var lossSum = 0.0, correct = 0
        let scale = 1 / Float(rows)
        for r in 0..<rows {
            let row = z + r * classes
            var best = 0, maximum = row[0]
            for j in 1..<classes where row[j] > maximum { maximum = row[j]; best = j }
            var sum: Float = 0
            for j in 0..<classes { sum += expf(row[j] - maximum) }
            let label = Int(labels[r])
            precondition(label >= 0 && label < classes, "label \(label) outside 0..<\(classes)")
            lossSum += Double(logf(sum) - (row[label] - maximum))
            if best == label { correct += 1 }
            if let logitsGradient {
                let d = logitsGradient.data + r * classes
                let inverse = 1 / sum
                for j in 0..<classes { d[j] = expf(row[j] - maximum) * inverse * scale }
                d[label] -= scale
            }
        }
        return (lossSum, correct)
    }

    public func updateRunningStatistics(runningMean: Tensor, runningVariance: Tensor, batchMean: Tensor, batchVariance: Tensor,
                                        momentum m: Float, varianceCorrection: Float) {
        let mean = runningMean.data, variance = runningVariance.data
        let batchMean = batchMean.data, batchVariance = batchVariance.data
        for c in 0..<runningMean.count {
            mean[c] = (1 - m) * mean[c] + m * batchMean[c]
            variance[c] = (1 - m) * variance[c] + m * batchVariance[c] * varianceCorrection
        }
    }

    public func binarize(_ tensor: Tensor) {
        let p = tensor.data
        for i in 0..<tensor.storageCount { p[i] = p[i] > 0 ? 1 : 0 }
    }
}

#if canImport(Glibc)
import Glibc
#endif
