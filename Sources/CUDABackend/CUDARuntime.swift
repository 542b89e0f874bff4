import Foundation

/// A kernel loaded into a `CUDARuntime`'s context.
final class CUDAKernel: KernelFunction {
    let name: String
    let function: OpaquePointer

    init(name: String, function: OpaquePointer) {
        self.name = name
        self.function = function
    }
}

/// `DeviceRuntime` on NVIDIA's driver, NVRTC and cuBLAS, loaded with `dlopen`; one device, its
/// primary context, and the legacy NULL stream for copies, kernels and cuBLAS alike, so all work is
/// ordered without events.
///
/// `@unchecked Sendable`: a runtime is used by one thread at a time (the worker's training loop); it
/// may move between threads, which is why every entry point makes the context current first.
public final class CUDARuntime: DeviceRuntime, @unchecked Sendable {
    /// e.g. "NVIDIA H100 80GB HBM3 (sm_90, driver 12.4, 79.1 GiB, cuBLAS 120400, NVRTC 12.4, cuDNN 9.1.0)".
    public var deviceDescription: String { "\(hardwareDescription), \(convolutionDescription))" }
    private let hardwareDescription: String
    /// The device's compute capability.
    public let architecture: CUDAArchitecture
    /// The device's memory in bytes.
    public let totalMemory: Int
    /// The driver ordinal this runtime uses (counted among CUDA_VISIBLE_DEVICES).
    public let ordinal: Int

    private let driver: DriverFunctions
    private let blas: CuBLASFunctions
    private let compiler: NVRTCCompiler
    private let device: CUdevice
    private let context: OpaquePointer
    private let blasHandle: OpaquePointer
    private var modules: [OpaquePointer] = []
    /// cuDNN's convolutions, when `convolution` allowed them and cuDNN loaded.
    public private(set) var convolutions: (any DeviceConvolutions)?
    /// How convolutions run and, with im2col, why not cuDNN: "cuDNN 9.1.0", "im2col + cuBLAS
    /// (PRUNELAB_CUDA_CONVOLUTION=im2col)" or "im2col + cuBLAS (no cuDNN: libcudnn not found …)".
    public private(set) var convolutionDescription = ""

    /// Opens device `ordinal` with the libraries `libraries` finds; cuDNN as `convolution` says
    /// (by default PRUNELAB_CUDA_CONVOLUTION of the search's environment).
    public init(ordinal: Int, libraries: CUDALibrarySearch = .init(), convolution: CUDAConvolutionChoice? = nil) throws {
        let convolution = try convolution ?? CUDAConvolutionChoice(environment: libraries.environment)
        // The driver first: without a device, the error should say so, not that cuBLAS is missing.
        let driver = try DriverFunctions(LoadedLibrary.load(.driver, search: libraries))
        let initialized = driver.cuInit(0)
        if initialized == CUDAConstant.errorNoDevice {
            throw CUDAError.noDevice(visibleDevices: libraries.environment["CUDA_VISIBLE_DEVICES"])
        }
        try Self.check(driver, "cuInit", initialized)
        var count: Int32 = 0
        try Self.check(driver, "cuDeviceGetCount", driver.cuDeviceGetCount(&count))
        guard ordinal >= 0, ordinal < Int(count) else {
            throw CUDAError.ordinalOutOfRange(ordinal: ordinal, count: Int(count))
        }
        var device: CUdevice = 0
        try Self.check(driver, "cuDeviceGet", driver.cuDeviceGet(&device, Int32(ordinal)))
        let (name, architecture, memory, driverVersion) = try Self.properties(of: device, driver)

        var context: OpaquePointer?
        try Self.check(driver, "cuDevicePrimaryCtxRetain", driver.cuDevicePrimaryCtxRetain(&context, device))
        var blas: CuBLASFunctions?
        var blasHandle: OpaquePointer?
        do {
            try Self.check(driver, "cuCtxSetCurrent", driver.cuCtxSetCurrent(context))
            let functions = try CuBLASFunctions(LoadedLibrary.load(.cublas, search: libraries))
            blas = functions
            let created = functions.cublasCreate(&blasHandle)
            guard created == 0, blasHandle != nil else {
                throw CUDAError.cublas(function: "cublasCreate_v2", status: created,
                                       name: CuBLASFunctions.statusName(created))
            }
            // CUBLAS_DEFAULT_MATH: on Ampere and newer it keeps FP32 GEMMs in FP32 (no TF32 tensor
            // cores), which, with cuBLAS picking one fixed algorithm per shape on one stream, keeps
            // results deterministic and close to the CPU backend's.
            let mathMode = functions.cublasSetMathMode(blasHandle, 0)
            guard mathMode == 0 else {
                throw CUDAError.cublas(function: "cublasSetMathMode", status: mathMode,
                                       name: CuBLASFunctions.statusName(mathMode))
            }
            compiler = try NVRTCCompiler(libraries: libraries)
        } catch {
            if let blas, let blasHandle { _ = blas.cublasDestroy(blasHandle) }
            _ = driver.cuDevicePrimaryCtxRelease(device)
            throw error
        }
        var blasVersion: Int32 = 0
        _ = blas!.cublasGetVersion(blasHandle, &blasVersion)
        self.blas = blas!
        self.driver = driver
        self.device = device
        self.context = context!
        self.blasHandle = blasHandle!
        self.ordinal = ordinal
        self.architecture = architecture
        self.totalMemory = memory
        hardwareDescription = "\(name) (\(architecture), driver \(driverVersion), "
            + String(format: "%.1f GiB", Double(memory) / 1_073_741_824)
            + ", cuBLAS \(blasVersion), NVRTC \(compiler.version)"
        // cuDNN last, after cuBLAS(Lt) and NVRTC, whose libraries its own need by soname.
        switch convolution {
        case .im2col:
            convolutionDescription = "im2col + cuBLAS (\(CUDAConvolutionChoice.variable)=im2col)"
        case .auto, .cudnn:
            do {
                let library = try LoadedLibrary.load(.cudnn, search: libraries)
                // Weak: a plan a layer still holds may outlive the runtime (its deinit then skips this).
                let cudnn = try CuDNNConvolutions(library) { [weak self] in
                    guard let self else { throw CUDAError.invalidArgument(function: "cuDNN", reason: "the runtime is gone") }
                    try makeCurrent()
                }
                convolutions = cudnn
                convolutionDescription = cudnn.libraryDescription
            } catch {
                // The handle and context are released by deinit, which runs when this init throws.
                if convolution == .cudnn { throw error }
                convolutionDescription = "im2col + cuBLAS (no cuDNN: \(Self.shortReason(error)))"
            }
        }
    }

    /// The first clause of a library error, for one line of a device description.
    private static func shortReason(_ error: any Error) -> String {
        if let error = error as? CUDALibraryError, case let .notFound(library, _, _, _, _) = error {
            return "\(library) not found; set PRUNELAB_CUDA_LIBS to its directory"
        }
        return "\(error)"
    }

    deinit {
        convolutions = nil  // its handle and descriptors go before the context is released
        _ = driver.cuCtxSetCurrent(context)
        for module in modules { _ = driver.cuModuleUnload(module) }
        _ = blas.cublasDestroy(blasHandle)
        // The primary context is shared per device and process: release drops our reference only.
        _ = driver.cuDevicePrimaryCtxRelease(device)
    }

    public func allocate(bytes: Int) throws -> DevicePointer {
        try makeCurrent()
        var pointer: UInt64 = 0
        // cuMemAlloc refuses zero bytes; one byte keeps "every tensor has an address" true.
        try check("cuMemAlloc_v2", driver.cuMemAlloc(&pointer, max(bytes, 1)))
        return pointer
    }

    public func free(_ pointer: DevicePointer) {
        // Freeing happens in cleanup paths that cannot throw; a failure here is a leak at worst.
        guard pointer != 0, (try? makeCurrent()) != nil else { return }
        _ = driver.cuMemFree(pointer)
    }

    public func copyToDevice(_ destination: DevicePointer, from source: UnsafeRawPointer, bytes: Int) throws {
        guard bytes > 0 else { return }
        try makeCurrent()
        try check("cuMemcpyHtoD_v2", driver.cuMemcpyHtoD(destination, source, bytes))
    }

    public func copyToHost(_ destination: UnsafeMutableRawPointer, from source: DevicePointer, bytes: Int) throws {
        guard bytes > 0 else { return }
        try makeCurrent()
        try check("cuMemcpyDtoH_v2", driver.cuMemcpyDtoH(destination, source, bytes))
    }

    public func copyOnDevice(_ destination: DevicePointer, from source: DevicePointer, bytes: Int) throws {
        guard bytes > 0 else { return }
        try makeCurrent()
        try check("cuMemcpyDtoD_v2", driver.cuMemcpyDtoD(destination, source, bytes))
    }

    public func zero(_ destination: DevicePointer, bytes: Int) throws {
        guard bytes > 0 else { return }
        guard bytes % 4 == 0 else {
            throw CUDAError.invalidArgument(function: "zero", reason: "\(bytes) bytes is not a multiple of 4")
        }
        try makeCurrent()
        try check("cuMemsetD32_v2", driver.cuMemsetD32(destination, 0, bytes / 4))
    }

    public func loadKernels(source: String, names: [String]) throws -> [String: any KernelFunction] {
        try makeCurrent()
        let compiled = try compiler.compile(source: source, for: architecture)
        var module: OpaquePointer?
        // PTX is JIT-compiled here by the driver (and cached by it in ~/.nv/ComputeCache).
        try compiled.image.withUnsafeBytes {
            try check("cuModuleLoadData (\(compiled.target) \(compiled.format.rawValue))",
                      driver.cuModuleLoadData(&module, $0.baseAddress))
        }
        guard let module else {
            throw CUDAError.invalidArgument(function: "cuModuleLoadData", reason: "returned no module")
        }
        modules.append(module)
        var kernels: [String: any KernelFunction] = [:]
        for name in names {
            var function: OpaquePointer?
            let result = driver.cuModuleGetFunction(&function, module, name)
            if result == 500 { throw CUDAError.kernelNotFound(name: name) } // CUDA_ERROR_NOT_FOUND
            try check("cuModuleGetFunction(\(name))", result)
            guard let function else { throw CUDAError.kernelNotFound(name: name) }
            kernels[name] = CUDAKernel(name: name, function: function)
        }
        return kernels
    }

    public func launch(_ kernel: any KernelFunction, grid: (x: Int, y: Int, z: Int), block: (x: Int, y: Int, z: Int),
                       sharedBytes: Int, arguments: [KernelArgument]) throws {
        guard let kernel = kernel as? CUDAKernel else {
            throw CUDAError.invalidArgument(function: "launch", reason: "\(kernel.name) was not loaded by a CUDARuntime")
        }
        let dimensions = try [grid.x, grid.y, grid.z, block.x, block.y, block.z, sharedBytes].map { value in
            guard value >= 0, value <= Int(UInt32.max) else {
                throw CUDAError.invalidArgument(function: "launch \(kernel.name)", reason: "dimension \(value) out of range")
            }
            return UInt32(value)
        }
        try makeCurrent()
        // cuLaunchKernel reads each argument through its pointer during the call; 8-byte slots hold
        // every KernelArgument case at its natural alignment.
        let slots = UnsafeMutableRawPointer.allocate(byteCount: max(arguments.count, 1) * 8, alignment: 8)
        defer { slots.deallocate() }
        var parameters: [UnsafeMutableRawPointer?] = []
        parameters.reserveCapacity(arguments.count)
        for (index, argument) in arguments.enumerated() {
            let slot = slots + index * 8
            switch argument {
            case let .pointer(value): slot.storeBytes(of: value, as: UInt64.self)
            case let .int32(value): slot.storeBytes(of: value, as: Int32.self)
            case let .int64(value): slot.storeBytes(of: value, as: Int64.self)
            case let .float(value): slot.storeBytes(of: value, as: Float.self)
            }
            parameters.append(slot)
        }
        let result = parameters.withUnsafeMutableBufferPointer {
            driver.cuLaunchKernel(kernel.function, dimensions[0], dimensions[1], dimensions[2], dimensions[3],
                                  dimensions[4], dimensions[5], dimensions[6], nil, $0.baseAddress, nil)
        }
        try check("cuLaunchKernel(\(kernel.name))", result)
    }

    public func sgemm(transposeA: Bool, transposeB: Bool, m: Int, n: Int, k: Int, alpha: Float,
                      a: DevicePointer, lda: Int, strideA: Int, b: DevicePointer, ldb: Int, strideB: Int,
                      beta: Float, c: DevicePointer, ldc: Int, strideC: Int, batch: Int) throws {
        let sizes = try [m, n, k, lda, ldb, ldc, batch].map { value in
            guard value >= 0, value <= Int(Int32.max) else {
                throw CUDAError.invalidArgument(function: "sgemm", reason: "size \(value) out of range")
            }
            return Int32(value)
        }
        try makeCurrent()
        var alpha = alpha, beta = beta
        // CUBLAS_OP_N = 0, CUBLAS_OP_T = 1; alpha and beta are host pointers (the default pointer mode).
        let opA: Int32 = transposeA ? 1 : 0, opB: Int32 = transposeB ? 1 : 0
        let pa = UnsafeRawPointer(bitPattern: UInt(a)), pb = UnsafeRawPointer(bitPattern: UInt(b))
        let pc = UnsafeMutableRawPointer(bitPattern: UInt(c))
        let status: Int32
        let function: String
        if batch == 1 {
            function = "cublasSgemm_v2"
            status = blas.cublasSgemm(blasHandle, opA, opB, sizes[0], sizes[1], sizes[2], &alpha, pa, sizes[3],
                                      pb, sizes[4], &beta, pc, sizes[5])
        } else {
            function = "cublasSgemmStridedBatched"
            status = blas.cublasSgemmStridedBatched(blasHandle, opA, opB, sizes[0], sizes[1], sizes[2], &alpha,
                                                    pa, sizes[3], Int64(strideA), pb, sizes[4], Int64(strideB),
                                                    &beta, pc, sizes[5], Int64(strideC), sizes[6])
        }
        guard status == 0 else {
            throw CUDAError.cublas(function: function, status: status, name: CuBLASFunctions.statusName(status))
        }
    }

    public func synchronize() throws {
        try makeCurrent()
        try check("cuCtxSynchronize", driver.cuCtxSynchronize())
    }

    /// The context is current per thread; the caller's thread may differ from the last one.
    private func makeCurrent() throws {
        try check("cuCtxSetCurrent", driver.cuCtxSetCurrent(context))
    }

    private func check(_ function: String, _ result: CUresult) throws {
        try Self.check(driver, function, result)
    }

    private static func check(_ driver: DriverFunctions, _ function: String, _ result: CUresult) throws {
        guard result != CUDAConstant.success else { return }
        let (name, message) = driver.describe(result)
        throw CUDAError.driver(function: function, code: result, name: name, message: message)
    }

    private static func properties(of device: CUdevice, _ driver: DriverFunctions) throws
        -> (name: String, architecture: CUDAArchitecture, memory: Int, driverVersion: String) {
        var nameBuffer = [CChar](repeating: 0, count: 256)
        try check(driver, "cuDeviceGetName", driver.cuDeviceGetName(&nameBuffer, Int32(nameBuffer.count - 1), device))
        var major: Int32 = 0, minor: Int32 = 0
        try check(driver, "cuDeviceGetAttribute(major)",
                  driver.cuDeviceGetAttribute(&major, CUDAConstant.computeCapabilityMajor, device))
        try check(driver, "cuDeviceGetAttribute(minor)",
                  driver.cuDeviceGetAttribute(&minor, CUDAConstant.computeCapabilityMinor, device))
        var memory = 0
        try check(driver, "cuDeviceTotalMem_v2", driver.cuDeviceTotalMem(&memory, device))
        var version: Int32 = 0
        try check(driver, "cuDriverGetVersion", driver.cuDriverGetVersion(&version))
        let name = String(decoding: nameBuffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
        return (name, CUDAArchitecture(major: Int(major), minor: Int(minor)), memory,
                "\(version / 1000).\(version % 1000 / 10)")
    }
}
