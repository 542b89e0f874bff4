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
}
