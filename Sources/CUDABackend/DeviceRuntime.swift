import Tensors

/// An address in device memory (CUDA's `CUdeviceptr`).
public typealias DevicePointer = UInt64

/// One argument of a kernel launch, by value (as `cuLaunchKernel` takes them).
public enum KernelArgument: Sendable {
    case pointer(DevicePointer)
    case int32(Int32)
    case int64(Int64)
    case float(Float)
}

/// A compiled kernel, as the runtime that loaded it knows it.
public protocol KernelFunction: AnyObject {
    var name: String { get }
}

/// The few driver, NVRTC and cuBLAS services the CUDA backend is written against. `CUDARuntime`
/// implements it on NVIDIA's libraries loaded with `dlopen`; tests also run the backend on a host
/// emulation of it (the same kernel source compiled for the CPU), so everything above this line
/// is exercised on machines without a GPU.
///
/// Work is issued in order on one stream; errors of asynchronous work surface at `synchronize`.
public protocol DeviceRuntime: AnyObject {
    /// e.g. "NVIDIA H100 80GB HBM3 (sm_90, driver 12.4)".
    var deviceDescription: String { get }

    func allocate(bytes: Int) throws -> DevicePointer
    func free(_ pointer: DevicePointer)
    func copyToDevice(_ destination: DevicePointer, from source: UnsafeRawPointer, bytes: Int) throws
    func copyToHost(_ destination: UnsafeMutableRawPointer, from source: DevicePointer, bytes: Int) throws
    func copyOnDevice(_ destination: DevicePointer, from source: DevicePointer, bytes: Int) throws
    /// Sets `bytes` bytes (a multiple of 4) to zero.
    func zero(_ destination: DevicePointer, bytes: Int) throws

    /// Compiles `source` (CUDA C, kernels declared `extern "C" __global__`) for this device, or
    /// takes it from the cache, and returns the named kernels.
    func loadKernels(source: String, names: [String]) throws -> [String: any KernelFunction]
    /// Launches on the runtime's stream; `sharedBytes` of dynamic shared memory.
    func launch(_ kernel: any KernelFunction, grid: (x: Int, y: Int, z: Int), block: (x: Int, y: Int, z: Int),
                sharedBytes: Int, arguments: [KernelArgument]) throws

    /// cuBLAS `cublasSgemmStridedBatched` semantics (column-major; `batch` = 1 is plain sgemm):
    /// C_i = alpha · op(A_i) · op(B_i) + beta · C_i with op(A) m × k, op(B) k × n.
    func sgemm(transposeA: Bool, transposeB: Bool, m: Int, n: Int, k: Int, alpha: Float,
               a: DevicePointer, lda: Int, strideA: Int, b: DevicePointer, ldb: Int, strideB: Int,
               beta: Float, c: DevicePointer, ldc: Int, strideC: Int, batch: Int) throws

    /// Waits for all issued work; throws the first asynchronous error.
    func synchronize() throws

    /// A library's convolutions on this device (cuDNN), or nil: then the backend convolves with
    /// im2col and `sgemm`.
    var convolutions: (any DeviceConvolutions)? { get }
}

extension DeviceRuntime {
    public var convolutions: (any DeviceConvolutions)? { nil }
}

/// Convolutions (cross-correlation, float32, packed NCHW, no bias) done by a library, on the
/// runtime's stream.
public protocol DeviceConvolutions: AnyObject {
    /// e.g. "cuDNN 9.1.0".
    var libraryDescription: String { get }
    /// A plan for `geometry` whose passes need at most `workspaceLimit` bytes of workspace; nil when
    /// the library cannot compute this geometry exactly (padding it cannot express) or has no
    /// deterministic algorithm for it within the limit. Throws when the library fails.
    func plan(for geometry: ConvolutionGeometry, workspaceLimit: Int) throws -> (any DeviceConvolutionPlan)?
}

/// One geometry's algorithms. Each pass overwrites its output (beta = 0) and takes the whole batch.
public protocol DeviceConvolutionPlan: AnyObject {
    /// The algorithms chosen, for logs and benchmarks.
    var algorithms: String { get }
    /// The workspace the largest of the three passes needs, in bytes.
    var workspaceBytes: Int { get }
    func forward(input: DevicePointer, weight: DevicePointer, output: DevicePointer, workspace: DevicePointer) throws
    func backwardData(outputGradient: DevicePointer, weight: DevicePointer, inputGradient: DevicePointer,
                      workspace: DevicePointer) throws
    func backwardFilter(input: DevicePointer, outputGradient: DevicePointer, weightGradient: DevicePointer,
                        workspace: DevicePointer) throws
}
