// The C entry points of NVIDIA's libraries, typed as in their headers (cuda.h, nvrtc.h, cublas_api.h)
// and resolved with dlsym. Handles are opaque pointers, CUdeviceptr is UInt64, status codes are Int32.
// Device pointers handed to cuBLAS are `float *` in C, so they cross as raw pointers (bit patterns).

typealias CUresult = Int32
typealias CUdevice = Int32
typealias Handle = OpaquePointer?
typealias HandleOut = UnsafeMutablePointer<OpaquePointer?>?
typealias IntOut = UnsafeMutablePointer<Int32>?
typealias SizeOut = UnsafeMutablePointer<Int>?
typealias CString = UnsafePointer<CChar>?
typealias CStringOut = UnsafeMutablePointer<UnsafePointer<CChar>?>?

/// cuda.h constants the runtime uses.
enum CUDAConstant {
    static let success: CUresult = 0
    static let errorNoDevice: CUresult = 100
    static let computeCapabilityMajor: Int32 = 75
    static let computeCapabilityMinor: Int32 = 76
}

/// The CUDA driver API (libcuda). `_v2` names are what cuda.h maps the plain names to since CUDA 4
/// (64-bit sizes and pointers); the plain cuDevicePrimaryCtxRelease became `_v2` in CUDA 11.
struct DriverFunctions {
    let library: LoadedLibrary
    let cuInit: @convention(c) (UInt32) -> CUresult
    let cuDriverGetVersion: @convention(c) (IntOut) -> CUresult
    let cuDeviceGetCount: @convention(c) (IntOut) -> CUresult
    let cuDeviceGet: @convention(c) (IntOut, Int32) -> CUresult
    let cuDeviceGetName: @convention(c) (UnsafeMutablePointer<CChar>?, Int32, CUdevice) -> CUresult
    let cuDeviceGetAttribute: @convention(c) (IntOut, Int32, CUdevice) -> CUresult
    let cuDeviceTotalMem: @convention(c) (SizeOut, CUdevice) -> CUresult
    let cuDevicePrimaryCtxRetain: @convention(c) (HandleOut, CUdevice) -> CUresult
    let cuDevicePrimaryCtxRelease: @convention(c) (CUdevice) -> CUresult
    let cuCtxSetCurrent: @convention(c) (Handle) -> CUresult
    let cuCtxSynchronize: @convention(c) () -> CUresult
    let cuMemAlloc: @convention(c) (UnsafeMutablePointer<UInt64>?, Int) -> CUresult
    let cuMemFree: @convention(c) (UInt64) -> CUresult
    let cuMemcpyHtoD: @convention(c) (UInt64, UnsafeRawPointer?, Int) -> CUresult
    let cuMemcpyDtoH: @convention(c) (UnsafeMutableRawPointer?, UInt64, Int) -> CUresult
    let cuMemcpyDtoD: @convention(c) (UInt64, UInt64, Int) -> CUresult
    let cuMemsetD32: @convention(c) (UInt64, UInt32, Int) -> CUresult
    let cuModuleLoadData: @convention(c) (HandleOut, UnsafeRawPointer?) -> CUresult
    let cuModuleUnload: @convention(c) (Handle) -> CUresult
    let cuModuleGetFunction: @convention(c) (HandleOut, Handle, CString) -> CUresult
    /// f, grid x/y/z, block x/y/z, shared bytes, stream, kernelParams, extra.
    let cuLaunchKernel: @convention(c) (Handle, UInt32, UInt32, UInt32, UInt32, UInt32, UInt32, UInt32, Handle,
                                        UnsafeMutablePointer<UnsafeMutableRawPointer?>?,
                                        UnsafeMutablePointer<UnsafeMutableRawPointer?>?) -> CUresult
    let cuGetErrorName: @convention(c) (CUresult, CStringOut) -> CUresult
    let cuGetErrorString: @convention(c) (CUresult, CStringOut) -> CUresult

    init(_ library: LoadedLibrary) throws {
        self.library = library
        cuInit = try library.function("cuInit")
        cuDriverGetVersion = try library.function("cuDriverGetVersion")
        cuDeviceGetCount = try library.function("cuDeviceGetCount")
        cuDeviceGet = try library.function("cuDeviceGet")
        cuDeviceGetName = try library.function("cuDeviceGetName")
        cuDeviceGetAttribute = try library.function("cuDeviceGetAttribute")
        cuDeviceTotalMem = try library.function("cuDeviceTotalMem_v2")
        cuDevicePrimaryCtxRetain = try library.function("cuDevicePrimaryCtxRetain")
        cuDevicePrimaryCtxRelease = try library.function("cuDevicePrimaryCtxRelease_v2", "cuDevicePrimaryCtxRelease")
        cuCtxSetCurrent = try library.function("cuCtxSetCurrent")
        cuCtxSynchronize = try library.function("cuCtxSynchronize")
        cuMemAlloc = try library.function("cuMemAlloc_v2")
        cuMemFree = try library.function("cuMemFree_v2")
        cuMemcpyHtoD = try library.function("cuMemcpyHtoD_v2")
        cuMemcpyDtoH = try library.function("cuMemcpyDtoH_v2")
        cuMemcpyDtoD = try library.function("cuMemcpyDtoD_v2")
        cuMemsetD32 = try library.function("cuMemsetD32_v2")
        cuModuleLoadData = try library.function("cuModuleLoadData")
        cuModuleUnload = try library.function("cuModuleUnload")
        cuModuleGetFunction = try library.function("cuModuleGetFunction")
        cuLaunchKernel = try library.function("cuLaunchKernel")
        cuGetErrorName = try library.function("cuGetErrorName")
        cuGetErrorString = try library.function("cuGetErrorString")
    }

    /// "CUDA_ERROR_OUT_OF_MEMORY" and "out of memory" for a result code, or the number when unknown.
    func describe(_ result: CUresult) -> (name: String, message: String) {
        var name: UnsafePointer<CChar>?
        var message: UnsafePointer<CChar>?
        let known = cuGetErrorName(result, &name) == CUDAConstant.success && name != nil
        _ = cuGetErrorString(result, &message)
        return (known ? String(cString: name!) : "CUresult \(result)",
                message.map { String(cString: $0) } ?? "unknown error")
    }
}

/// The NVRTC API (libnvrtc): CUDA C++ to PTX/CUBIN, no GPU needed.
struct NVRTCFunctions {
    let library: LoadedLibrary
    let nvrtcVersion: @convention(c) (IntOut, IntOut) -> Int32
    /// prog, src, name, numHeaders, headers, includeNames.
    let nvrtcCreateProgram: @convention(c) (HandleOut, CString, CString, Int32,
                                            UnsafePointer<CString>?, UnsafePointer<CString>?) -> Int32
    let nvrtcCompileProgram: @convention(c) (Handle, Int32, UnsafePointer<CString>?) -> Int32
    let nvrtcGetProgramLogSize: @convention(c) (Handle, SizeOut) -> Int32
    let nvrtcGetProgramLog: @convention(c) (Handle, UnsafeMutablePointer<CChar>?) -> Int32
    let nvrtcGetCUBINSize: @convention(c) (Handle, SizeOut) -> Int32
    let nvrtcGetCUBIN: @convention(c) (Handle, UnsafeMutablePointer<CChar>?) -> Int32
    let nvrtcGetPTXSize: @convention(c) (Handle, SizeOut) -> Int32
    let nvrtcGetPTX: @convention(c) (Handle, UnsafeMutablePointer<CChar>?) -> Int32
    let nvrtcDestroyProgram: @convention(c) (HandleOut) -> Int32
    let nvrtcGetErrorString: @convention(c) (Int32) -> CString
    /// Since CUDA 11.2; without it the compiler learns an architecture is unknown from the compile.
    let nvrtcGetNumSupportedArchs: (@convention(c) (IntOut) -> Int32)?
    let nvrtcGetSupportedArchs: (@convention(c) (IntOut) -> Int32)?

    init(_ library: LoadedLibrary) throws {
        self.library = library
        nvrtcVersion = try library.function("nvrtcVersion")
        nvrtcCreateProgram = try library.function("nvrtcCreateProgram")
        nvrtcCompileProgram = try library.function("nvrtcCompileProgram")
        nvrtcGetProgramLogSize = try library.function("nvrtcGetProgramLogSize")
        nvrtcGetProgramLog = try library.function("nvrtcGetProgramLog")
        nvrtcGetCUBINSize = try library.function("nvrtcGetCUBINSize")
        nvrtcGetCUBIN = try library.function("nvrtcGetCUBIN")
        nvrtcGetPTXSize = try library.function("nvrtcGetPTXSize")
        nvrtcGetPTX = try library.function("nvrtcGetPTX")
        nvrtcDestroyProgram = try library.function("nvrtcDestroyProgram")
        nvrtcGetErrorString = try library.function("nvrtcGetErrorString")
        nvrtcGetNumSupportedArchs = library.has("nvrtcGetNumSupportedArchs")
            ? try library.function("nvrtcGetNumSupportedArchs") : nil
        nvrtcGetSupportedArchs = library.has("nvrtcGetSupportedArchs")
            ? try library.function("nvrtcGetSupportedArchs") : nil
    }

    /// NVRTC's text for a result code.
    func describe(_ result: Int32) -> String {
        nvrtcGetErrorString(result).map { String(cString: $0) } ?? "nvrtcResult \(result)"
    }
}

/// The cuBLAS API (libcublas), on the handle's default stream: the legacy NULL stream, which orders
/// its work with the driver's copies and kernel launches.
struct CuBLASFunctions {
    let library: LoadedLibrary
    let cublasCreate: @convention(c) (HandleOut) -> Int32
    let cublasDestroy: @convention(c) (Handle) -> Int32
    let cublasGetVersion: @convention(c) (Handle, IntOut) -> Int32
    let cublasSetMathMode: @convention(c) (Handle, Int32) -> Int32
    /// handle, transa, transb, m, n, k, alpha, A, lda, B, ldb, beta, C, ldc.
    let cublasSgemm: @convention(c) (Handle, Int32, Int32, Int32, Int32, Int32, UnsafePointer<Float>?,
                                     UnsafeRawPointer?, Int32, UnsafeRawPointer?, Int32, UnsafePointer<Float>?,
                                     UnsafeMutableRawPointer?, Int32) -> Int32
    /// As cublasSgemm with a stride (long long) after each matrix and the batch count last.
    let cublasSgemmStridedBatched: @convention(c) (Handle, Int32, Int32, Int32, Int32, Int32, UnsafePointer<Float>?,
                                                   UnsafeRawPointer?, Int32, Int64, UnsafeRawPointer?, Int32, Int64,
                                                   UnsafePointer<Float>?, UnsafeMutableRawPointer?, Int32, Int64,
                                                   Int32) -> Int32

    init(_ library: LoadedLibrary) throws {
        self.library = library
        cublasCreate = try library.function("cublasCreate_v2")
        cublasDestroy = try library.function("cublasDestroy_v2")
        cublasGetVersion = try library.function("cublasGetVersion_v2")
        cublasSetMathMode = try library.function("cublasSetMathMode")
        cublasSgemm = try library.function("cublasSgemm_v2")
        cublasSgemmStridedBatched = try library.function("cublasSgemmStridedBatched")
    }

    /// cublasStatus_t names (cublas_api.h); cuBLAS has no name function before 11.4.
    static func statusName(_ status: Int32) -> String {
        switch status {
        case 0: "CUBLAS_STATUS_SUCCESS"
        case 1: "CUBLAS_STATUS_NOT_INITIALIZED"
        case 3: "CUBLAS_STATUS_ALLOC_FAILED"
        case 7: "CUBLAS_STATUS_INVALID_VALUE"
        case 8: "CUBLAS_STATUS_ARCH_MISMATCH"
        case 11: "CUBLAS_STATUS_MAPPING_ERROR"
        case 13: "CUBLAS_STATUS_EXECUTION_FAILED"
        case 14: "CUBLAS_STATUS_INTERNAL_ERROR"
        case 15: "CUBLAS_STATUS_NOT_SUPPORTED"
        case 16: "CUBLAS_STATUS_LICENSE_ERROR"
        default: "cublasStatus_t \(status)"
        }
    }
}
