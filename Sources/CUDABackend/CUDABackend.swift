import Tensors

/// The GPU backend: NVIDIA's libraries loaded at run time (`CUDARuntime`), GEMM through cuBLAS,
/// everything else through the kernels of `CUDAKernelSource` compiled once per device with NVRTC.
///
/// Tensors keep their host storage; the backend attaches a device buffer to each tensor it
/// touches (allocated once, at the first step, since layers allocate their tensors once per
/// shape) and moves values only when the host copy is newer or the host asks for them, so on the
/// per-step path only images, labels and the per-row losses cross the bus. Activations stay in
/// plain NCHW.
///
/// Operations that cannot throw (element-wise ones, GEMM) keep the first error they meet and skip
/// all later work, as CUDA's sticky errors do; `synchronize()` (once per batch) throws it.
public final class CUDABackend: Backend, @unchecked Sendable {
    public let runtime: any DeviceRuntime
    public let ordinal: Int
    private let kernels: [String: any KernelFunction]
    private var stickyError: (any Error)?
    /// Scratch space shared by all layers (all work is ordered on one stream): im2col columns and
    /// channel-major GEMM outputs. Grows during the first step, then stays.
    private var workspaces: [Workspace: DeviceBuffer] = [:]
    /// The labels the softmax cross-entropy reads, and its per-row loss and correctness.
    private var lossBuffers: (labels: DeviceBuffer, rowFigures: DeviceBuffer)?
    private var hostRowFigures: [Float] = []

    enum Workspace: Hashable { case columns, channelMajor, library, padded }

    /// Floats of scratch (im2col columns plus channel-major output) one convolution chunk may use;
    /// larger batches are processed in chunks. 128 Mi floats = 512 MiB. Read when a layer makes its plan;
    /// also the most workspace a cuDNN algorithm may ask for.
    public var convolutionWorkspaceLimit = 1 << 27

    /// Rows of the per-batch loss buffers; batches are at most this large.
    static let maximumRows = 1 << 16

    /// A backend on `runtime` (the real `CUDARuntime` for gpu:`ordinal`, or an emulation in tests).
    public init(runtime: any DeviceRuntime, ordinal: Int = 0) throws {
        self.runtime = runtime
        self.ordinal = ordinal
        kernels = try runtime.loadKernels(source: CUDAKernelSource.source, names: CUDAKernelSource.names)
    }

    public var name: String { "gpu:\(ordinal) (\(runtime.deviceDescription))" }
    public var activationLayout: TensorLayout { .plain }

    // MARK: Errors

    public func synchronize() throws {
        if let stickyError { throw stickyError }
        do { try runtime.synchronize() } catch {
            stickyError = error
            throw error
        }
    }

    /// Runs `body` unless an earlier operation failed; keeps its error.
    @inline(__always)
    func perform(_ body: () throws -> Void) {
        guard stickyError == nil else { return }
        do { try body() } catch { stickyError = error }
    }

    /// `perform` for operations that can throw (the layer kernels): the sticky error, an earlier
    /// one or this one, is thrown rather than left for `synchronize`.
    func performThrowing(_ body: () throws -> Void) throws {
        perform(body)
        if let stickyError { throw stickyError }
    }

    // MARK: Device storage

    enum Access { case read, write, readWrite }

    /// The device address of `tensor`'s storage, uploading host values when they are newer
    /// (`read`, `readWrite`) and marking the device copy as the current one (`write`, `readWrite`).
    func address(_ tensor: Tensor, _ access: Access) throws -> DevicePointer {
        let storage = tensor.storage
        let buffer: DeviceBuffer
        if let mirror = storage.mirror as? DeviceBuffer, mirror.runtime === runtime {
            buffer = mirror
        } else {
            if storage.mirror != nil { _ = tensor.readableData }  // another device's copy: bring it home first
            buffer = try DeviceBuffer(runtime: runtime, bytes: storage.capacity * MemoryLayout<Float>.stride)
            storage.mirror = buffer
            storage.residency = .host
        }
        if access != .write, storage.residency == .host {
            try runtime.copyToDevice(buffer.pointer, from: storage.host, bytes: buffer.bytes)
            storage.residency = .both
        }
        if access != .read { storage.residency = .device }
        return buffer.pointer
    }

    /// A workspace of at least `floats` floats (contents undefined).
    func workspace(_ kind: Workspace, floats: Int) throws -> DevicePointer {
        let bytes = max(floats, 1) * MemoryLayout<Float>.stride
        if let buffer = workspaces[kind], buffer.bytes >= bytes { return buffer.pointer }
        workspaces[kind] = nil
        let buffer = try DeviceBuffer(runtime: runtime, bytes: bytes)
        workspaces[kind] = buffer
        return buffer.pointer
    }

    // MARK: Launching

    /// Launches an element-wise (grid-stride) kernel over `count` items.
    func launch(_ name: String, count: Int, _ arguments: [KernelArgument]) throws {
        guard count > 0 else { return }
        let threads = CUDAKernelSource.elementwiseThreads
        // Enough blocks to fill any current GPU; the grid-stride loop covers the rest.
        let blocks = min((count + threads - 1) / threads, 65_536)
        try runtime.launch(kernel(name), grid: (blocks, 1, 1), block: (threads, 1, 1), sharedBytes: 0, arguments: arguments)
    }

    /// Launches a reduction kernel: one block of `reductionThreads` per item.
    func launchReduction(_ name: String, blocks: Int, _ arguments: [KernelArgument]) throws {
        guard blocks > 0 else { return }
        try runtime.launch(kernel(name), grid: (blocks, 1, 1), block: (CUDAKernelSource.reductionThreads, 1, 1),
                           sharedBytes: 0, arguments: arguments)
    }

    private func kernel(_ name: String) throws -> any KernelFunction {
        guard let kernel = kernels[name] else { throw CUDABackendError.missingKernel(name) }
        return kernel
    }

    /// Row-major C (m × n) = alpha · op(A) · op(B) + beta · C on cuBLAS, which is column-major: a
    /// row-major matrix is its transpose in column-major order, so it computes Cᵀ = op(B)ᵀ · op(A)ᵀ.
    func rowMajorGemm(transposeA: Bool, transposeB: Bool, m: Int, n: Int, k: Int, alpha: Float,
                      a: DevicePointer, lda: Int, strideA: Int = 0, b: DevicePointer, ldb: Int, strideB: Int = 0,
                      beta: Float, c: DevicePointer, ldc: Int, strideC: Int = 0, batch: Int = 1) throws {
        try runtime.sgemm(transposeA: transposeB, transposeB: transposeA, m: n, n: m, k: k, alpha: alpha,
                          a: b, lda: ldb, strideA: strideB, b: a, ldb: lda, strideB: strideA,
                          beta: beta, c: c, ldc: ldc, strideC: strideC, batch: batch)
    }

    // MARK: Backend

    public func gemm(transposeA: Bool, transposeB: Bool, m: Int, n: Int, k: Int,
                     alpha: Float, a: Tensor, b: Tensor, beta: Float, c: Tensor) {
        precondition(a.count >= m * k && b.count >= k * n && c.count >= m * n, "gemm operand too small")
        perform {
            let pa = try address(a, .read), pb = try address(b, .read)
            let pc = try address(c, beta == 0 ? .write : .readWrite)
            try rowMajorGemm(transposeA: transposeA, transposeB: transposeB, m: m, n: n, k: k, alpha: alpha,
                             a: pa, lda: transposeA ? m : k, b: pb, ldb: transposeB ? k : n, beta: beta, c: pc, ldc: n)
        }
    }

    public func plainValues(of tensor: Tensor) throws -> [Float] {
        try synchronize()
        guard tensor.layout == .plain else { throw CUDABackendError.unsupportedLayout(tensor.layout) }
        return tensor.array
    }

    public func makeConvolution(_ geometry: ConvolutionGeometry, sourceLayout: TensorLayout, destinationLayout: TensorLayout) throws -> any ConvolutionKernel {
        guard sourceLayout == .plain else { throw CUDABackendError.unsupportedLayout(sourceLayout) }
        guard destinationLayout == .plain else { throw CUDABackendError.unsupportedLayout(destinationLayout) }
        try performThrowing {}  // an earlier failure first
        // The library's plan when it has one for this geometry; cuDNN pads symmetrically, so padding it
        // cannot express (TensorFlow's SAME at stride 2: none above, one below) is done explicitly, on
        // a copy of the input. Without a plan, or when the library refuses the geometry, im2col.
        var refusal: String?
        if let library = runtime.convolutions {
            let limit = convolutionWorkspaceLimit * 4
            do {
                if let plan = try library.plan(for: geometry, workspaceLimit: limit) {
                    return CUDALibraryConvolution(geometry, plan: plan, libraryName: library.libraryDescription, padsExplicitly: false,
                                                  backend: self)
                }
                let padded = CUDALibraryConvolution.explicitlyPadded(geometry)
                if padded != geometry, let plan = try library.plan(for: padded, workspaceLimit: limit) {
                    return CUDALibraryConvolution(geometry, plan: plan, libraryName: library.libraryDescription, padsExplicitly: true,
                                                  backend: self)
                }
            } catch {
                refusal = "\(library.libraryDescription) refused it: \(error)"
            }
        }
        return CUDAConvolution(geometry, backend: self, note: refusal)
    }

    public func makePooling(_ geometry: PoolingGeometry, layout: TensorLayout) throws -> any PoolingKernel {
        guard layout == .plain else { throw CUDABackendError.unsupportedLayout(layout) }
        return CUDAPooling(geometry, backend: self)
    }

    public func makeBatchNorm(_ geometry: BatchNormGeometry, layout: TensorLayout) throws -> any BatchNormKernel {
        guard layout == .plain else { throw CUDABackendError.unsupportedLayout(layout) }
        return CUDABatchNorm(geometry, backend: self)
    }

    public func makeReorder(shape: [Int], from: TensorLayout, to: TensorLayout) throws -> any ReorderKernel {
        guard from == .plain, to == .plain else { throw CUDABackendError.unsupportedLayout(from == .plain ? to : from) }
        return CUDACopy(backend: self)
    }

    public func relu(input: Tensor, output: Tensor, ceiling: Float) {
        let n = input.storageCount
        perform {
            try launch("relu_forward", count: n, [.pointer(try address(input, .read)), .pointer(try address(output, .write)),
                                                  .int64(Int64(n)), .float(ceiling)])
        }
    }

    public func reluBackward(output: Tensor, outputGradient: Tensor, inputGradient: Tensor, ceiling: Float) {
        let n = output.storageCount
        perform {
            try launch("relu_backward", count: n, [.pointer(try address(output, .read)), .pointer(try address(outputGradient, .read)),
                                                   .pointer(try address(inputGradient, .write)), .int64(Int64(n)), .float(ceiling)])
        }
    }

    public func addBias(_ bias: Tensor, to matrix: Tensor) {
        let columns = bias.count, rows = matrix.count / columns
        perform {
            try launch("add_bias_rows", count: rows * columns, [.pointer(try address(bias, .read)), .pointer(try address(matrix, .readWrite)),
                                                                .int64(Int64(rows)), .int64(Int64(columns))])
        }
    }

    public func sumRows(of matrix: Tensor, into result: Tensor) {
        let columns = result.count, rows = matrix.count / columns
        perform {
            try launch("sum_rows", count: columns, [.pointer(try address(matrix, .read)), .pointer(try address(result, .write)),
                                                    .int64(Int64(rows)), .int64(Int64(columns))])
        }
    }

    public func add(_ a: Tensor, _ b: Tensor, into output: Tensor) {
        let n = output.storageCount
        perform {
            try launch("add_tensors", count: n, [.pointer(try address(a, .read)), .pointer(try address(b, .read)),
                                                 .pointer(try address(output, .write)), .int64(Int64(n))])
        }
    }

    public func accumulate(_ source: Tensor, into target: Tensor) {
        let n = target.storageCount
        perform {
            try launch("accumulate", count: n, [.pointer(try address(source, .read)), .pointer(try address(target, .readWrite)), .int64(Int64(n))])
        }
    }

    public func applyMask(_ mask: Tensor, to tensor: Tensor) {
        let n = tensor.count
        perform {
            try launch("mask_multiply", count: n, [.pointer(try address(mask, .read)), .pointer(try address(tensor, .readWrite)), .int64(Int64(n))])
        }
    }

    public func binarize(_ tensor: Tensor) {
        let n = tensor.storageCount
        perform { try launch("binarize", count: n, [.pointer(try address(tensor, .readWrite)), .int64(Int64(n))]) }
    }

    public func sgdStep(weight: Tensor, gradient: Tensor, velocity: Tensor, mask: Tensor?,
                        learningRate: Float, momentum: Float, weightDecay: Float) {
        let n = weight.count
        perform {
            let m = try mask.map { try address($0, .read) } ?? 0
            try launch("sgd_step", count: n, [.pointer(try address(weight, .readWrite)), .pointer(try address(gradient, .read)),
                                              .pointer(try address(velocity, .readWrite)), .pointer(m), .int64(Int64(n)),
                                              .float(learningRate), .float(momentum), .float(weightDecay)])
        }
    }

    public func softmaxCrossEntropy(logits: Tensor, labels: UnsafePointer<Int32>, rows: Int,
                                    logitsGradient: Tensor?) -> (lossSum: Double, correct: Int) {
        precondition(rows <= Self.maximumRows, "batch of \(rows) rows exceeds \(Self.maximumRows)")
        let classes = logits.count / logits.rows
        for r in 0..<rows {
            precondition(labels[r] >= 0 && Int(labels[r]) < classes, "label \(labels[r]) outside 0..<\(classes)")
        }
        var result: (lossSum: Double, correct: Int) = (.nan, 0)
        perform {
            let buffers = try lossBuffers ?? (labels: DeviceBuffer(runtime: runtime, bytes: Self.maximumRows * MemoryLayout<Int32>.stride),
                                               rowFigures: DeviceBuffer(runtime: runtime, bytes: 2 * Self.maximumRows * MemoryLayout<Float>.stride))
            lossBuffers = buffers
            let labelAddress = buffers.labels.pointer, figures = buffers.rowFigures.pointer
            try runtime.copyToDevice(labelAddress, from: labels, bytes: rows * MemoryLayout<Int32>.stride)
            let gradient = try logitsGradient.map { try address($0, .write) } ?? 0
            try launch("softmax_cross_entropy", count: rows, [
                .pointer(try address(logits, .read)), .pointer(labelAddress), .pointer(gradient),
                .pointer(figures), .pointer(figures + UInt64(rows * MemoryLayout<Float>.stride)),
                .int64(Int64(rows)), .int64(Int64(classes)), .float(1 / Float(rows)),
            ])
            // The batch boundary: the per-row losses and hits come back and are summed in row order, as on the CPU.
            if hostRowFigures.count < 2 * rows { hostRowFigures = Array(repeating: 0, count: 2 * rows) }
            try hostRowFigures.withUnsafeMutableBytes {
                try runtime.copyToHost($0.baseAddress!, from: figures, bytes: 2 * rows * MemoryLayout<Float>.stride)
            }
            var lossSum = 0.0, correctCount = 0
            for r in 0..<rows {
                lossSum += Double(hostRowFigures[r])
                if hostRowFigures[rows + r] != 0 { correctCount += 1 }
            }
            result = (lossSum, correctCount)
        }
        return result
    }

    public func updateRunningStatistics(runningMean: Tensor, runningVariance: Tensor, batchMean: Tensor, batchVariance: Tensor,
                                        momentum: Float, varianceCorrection: Float) {
        let channels = runningMean.count
        perform {
            try launch("bn_running_update", count: channels, [
                .pointer(try address(runningMean, .readWrite)), .pointer(try address(runningVariance, .readWrite)),
                .pointer(try address(batchMean, .read)), .pointer(try address(batchVariance, .read)),
                .int64(Int64(channels)), .float(momentum), .float(varianceCorrection),
            ])
        }
    }
}

/// Device memory attached to a tensor's storage (or used as scratch); freed with it.
final class DeviceBuffer: DeviceMirror {
    let runtime: any DeviceRuntime
    let pointer: DevicePointer
    let bytes: Int

    init(runtime: any DeviceRuntime, bytes: Int) throws {
        self.runtime = runtime
        self.bytes = bytes
        pointer = try runtime.allocate(bytes: bytes)
    }

    deinit { runtime.free(pointer) }

    func download(into host: UnsafeMutablePointer<Float>, count: Int) {
        do {
            try runtime.copyToHost(host, from: pointer, bytes: min(count * MemoryLayout<Float>.stride, bytes))
        } catch {
            // Host code asked for values the device cannot deliver; there is nothing correct to return.
            fatalError("prunelab: reading a tensor back from the GPU failed: \(error)")
        }
    }
}

/// Plain-to-plain copies on the device (the only reorder a plain-layout backend needs).
final class CUDACopy: ReorderKernel {
    unowned let backend: CUDABackend
    init(backend: CUDABackend) { self.backend = backend }

    func reorder(_ source: Tensor, into destination: Tensor) throws {
        precondition(source.storageCount == destination.storageCount, "copy of \(source.shape) into \(destination.shape)")
        let bytes = source.storageCount * MemoryLayout<Float>.stride
        try backend.performThrowing {
            let from = try backend.address(source, .read), to = try backend.address(destination, .write)
            try backend.runtime.copyOnDevice(to, from: from, bytes: bytes)
        }
    }
}

/// What the CUDA backend refuses.
public enum CUDABackendError: Error, CustomStringConvertible {
    case unsupportedLayout(TensorLayout)
    case missingKernel(String)
    case backwardBeforeForward(String)

    public var description: String {
        switch self {
        case let .unsupportedLayout(layout): "the CUDA backend keeps activations in plain NCHW; \(layout) is not supported"
        case let .missingKernel(name): "CUDA kernel '\(name)' was not loaded"
        case let .backwardBeforeForward(what): "\(what): backward called before forward"
        }
    }
}
