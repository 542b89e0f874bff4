import Foundation

/// A GPU's compute capability, e.g. 8.0 for the A100 (sm_80).
public struct CUDAArchitecture: Hashable, Sendable, CustomStringConvertible {
    public var major: Int
    public var minor: Int

    /// The capability `major`.`minor`.
    public init(major: Int, minor: Int) {
        self.major = major
        self.minor = minor
    }

    /// The number NVRTC spells it with: 80 for 8.0, 120 for 12.0.
    public var number: Int { major * 10 + minor }
    public var description: String { "sm_\(number)" }
}

/// Kernels compiled by NVRTC, ready for `cuModuleLoadData`.
public struct CompiledKernels: Sendable {
    /// Machine code for one architecture, or PTX the driver compiles for the device when loading it.
    public enum Format: String, Sendable { case cubin, ptx }
    /// Where the image came from this time.
    public enum Origin: Sendable { case compiled, memoryCache, diskCache }

    public let format: Format
    /// The `--gpu-architecture` value: "sm_80" for CUBIN, "compute_90" for PTX.
    public let target: String
    /// The image; PTX keeps its terminating NUL, as cuModuleLoadData expects text.
    public let image: [UInt8]
    public let origin: Origin
}

/// NVRTC could not compile, or one of its calls failed.
public enum NVRTCError: Error, CustomStringConvertible {
    /// The source does not compile for `target`; `log` is NVRTC's whole log.
    case compilation(target: String, log: String)
    /// An NVRTC call other than the compile itself returned `code`.
    case call(function: String, code: Int32, message: String)

    public var description: String {
        switch self {
        case let .compilation(target, log):
            let lines = log.split(whereSeparator: \.isNewline).map(String.init).filter { !$0.isEmpty }
            let shown = lines.prefix(8).joined(separator: "\n")
            return "NVRTC could not compile the kernels for \(target): "
                + oneLine(shown) + (lines.count > 8 ? " | (\(lines.count - 8) more lines)" : "")
        case let .call(function, code, message):
            return "\(function) failed: \(message) (\(code))"
        }
    }
}

/// Compiles CUDA C with NVRTC to CUBIN (PTX for devices newer than this NVRTC), caching the result in
/// memory and on disk; needs libnvrtc only, no GPU and no driver.
///
/// `@unchecked Sendable`: its state is immutable after `init` and NVRTC is thread-safe across programs;
/// the shared memory cache has its own lock.
public final class NVRTCCompiler: @unchecked Sendable {
    /// NVRTC's version, e.g. "12.9".
    public let version: String
    /// Where compiled images are kept between processes; nil keeps them in memory only.
    public let cacheDirectory: String?
    /// The architecture numbers this NVRTC compiles for (nil when it cannot tell, before CUDA 11.2).
    public let supportedArchitectures: [Int]?
    private let functions: NVRTCFunctions

    /// Options besides the architecture. No `--use_fast_math`: results are compared with the CPU
    /// backend, so division, square roots and denormals stay IEEE; no `-lineinfo` (smaller images).
    public static let options = ["-default-device", "--std=c++14"]

    /// Loads libnvrtc through `libraries`; the cache directory follows `libraries.environment`.
    public convenience init(libraries: CUDALibrarySearch = .init()) throws {
        try self.init(libraries: libraries,
                      cacheDirectory: NVRTCCompiler.defaultCacheDirectory(environment: libraries.environment))
    }

    /// Loads libnvrtc through `libraries` and caches on disk in `cacheDirectory` (nil: memory only).
    public init(libraries: CUDALibrarySearch, cacheDirectory: String?) throws {
        functions = try NVRTCFunctions(LoadedLibrary.load(.nvrtc, search: libraries))
        self.cacheDirectory = cacheDirectory
        var major: Int32 = 0, minor: Int32 = 0
        let result = functions.nvrtcVersion(&major, &minor)
        guard result == 0 else {
            throw NVRTCError.call(function: "nvrtcVersion", code: result, message: functions.describe(result))
        }
        version = "\(major).\(minor)"
        supportedArchitectures = Self.querySupportedArchitectures(functions)
    }

    /// $PRUNELAB_CACHE_DIR, else $XDG_CACHE_HOME/prunelab/kernels, else ~/.cache/prunelab/kernels.
    public static func defaultCacheDirectory(environment: [String: String]) -> String? {
        if let directory = environment["PRUNELAB_CACHE_DIR"], !directory.isEmpty { return directory }
        if let cache = environment["XDG_CACHE_HOME"], !cache.isEmpty { return cache + "/prunelab/kernels" }
        if let home = environment["HOME"], !home.isEmpty { return home + "/.cache/prunelab/kernels" }
        return nil
    }

    /// What `compile` produces for `architecture`: CUBIN when this NVRTC knows it, else PTX for the
    /// newest virtual architecture it knows below it, which the driver compiles for the device (PTX is
    /// forward compatible, machine code is not).
    public func target(for architecture: CUDAArchitecture) -> (format: CompiledKernels.Format, target: String) {
        guard let supported = supportedArchitectures, !supported.contains(architecture.number) else {
            return (.cubin, "sm_\(architecture.number)")
        }
        guard let newest = supported.filter({ $0 < architecture.number }).max() else {
            // Older than anything this NVRTC supports: compiling it reports NVRTC's own message.
            return (.cubin, "sm_\(architecture.number)")
        }
        return (.ptx, "compute_\(newest)")
    }

    /// Compiles `source` (kernels `extern "C" __global__`) for `architecture`, or takes it from a cache.
    public func compile(source: String, for architecture: CUDAArchitecture) throws -> CompiledKernels {
        let (format, target) = target(for: architecture)
        let options = ["--gpu-architecture=\(target)"] + Self.options
        let key = cacheKey(source: source, for: architecture)
        if let image = KernelCache.memory(key) {
            return CompiledKernels(format: format, target: target, image: image, origin: .memoryCache)
        }
        if let directory = cacheDirectory, let image = KernelCache.read(key: key, format: format, directory: directory) {
            KernelCache.remember(key, image)
            return CompiledKernels(format: format, target: target, image: image, origin: .diskCache)
        }
        let image = try run(source: source, format: format, target: target, options: options)
        KernelCache.remember(key, image)
        if let directory = cacheDirectory { KernelCache.write(image, key: key, format: format, directory: directory) }
        return CompiledKernels(format: format, target: target, image: image, origin: .compiled)
    }

    /// The cache's name for what `compile(source:for:)` produces (the disk file is `<key>.<format>`).
    func cacheKey(source: String, for architecture: CUDAArchitecture) -> String {
        let target = target(for: architecture).target
        return KernelCache.key(source: source, target: target, compilerVersion: version,
                               options: ["--gpu-architecture=\(target)"] + Self.options)
    }

    private func run(source: String, format: CompiledKernels.Format, target: String,
                     options: [String]) throws -> [UInt8] {
        let f = functions
        var program: OpaquePointer?
        try check("nvrtcCreateProgram", f.nvrtcCreateProgram(&program, source, "prunelab.cu", 0, nil, nil))
        defer { _ = f.nvrtcDestroyProgram(&program) }
        let result = withCStringArray(options) { f.nvrtcCompileProgram(program, Int32(options.count), $0) }
        guard result == 0 else {
            let log = programLog(program)
            throw NVRTCError.compilation(target: target, log: log.isEmpty ? f.describe(result) : log)
        }
        var size = 0
        switch format {
        case .cubin:
            try check("nvrtcGetCUBINSize", f.nvrtcGetCUBINSize(program, &size))
            return try bytes(size) { try check("nvrtcGetCUBIN", f.nvrtcGetCUBIN(program, $0)) }
        case .ptx:
            try check("nvrtcGetPTXSize", f.nvrtcGetPTXSize(program, &size))
            return try bytes(size) { try check("nvrtcGetPTX", f.nvrtcGetPTX(program, $0)) }
        }
    }

    private func programLog(_ program: OpaquePointer?) -> String {
        var size = 0
        guard functions.nvrtcGetProgramLogSize(program, &size) == 0, size > 1,
              let log = try? bytes(size, { _ = functions.nvrtcGetProgramLog(program, $0) }) else { return "" }
        return String(decoding: log.prefix { $0 != 0 }, as: UTF8.self)
            .trimmingCharacters(in: .whitespacesAndNewlines)
    }

    private func bytes(_ count: Int, _ fill: (UnsafeMutablePointer<CChar>) throws -> Void) throws -> [UInt8] {
        try [UInt8](unsafeUninitializedCapacity: max(count, 1)) { buffer, initialized in
            buffer.initialize(repeating: 0)
            try buffer.withMemoryRebound(to: CChar.self) { try fill($0.baseAddress!) }
            initialized = count
        }
    }

    private func check(_ function: String, _ result: Int32) throws {
        guard result == 0 else {
            throw NVRTCError.call(function: function, code: result, message: functions.describe(result))
        }
    }

    private static func querySupportedArchitectures(_ f: NVRTCFunctions) -> [Int]? {
        guard let count = f.nvrtcGetNumSupportedArchs, let list = f.nvrtcGetSupportedArchs else { return nil }
        var n: Int32 = 0
        guard count(&n) == 0, n > 0 else { return nil }
        var architectures = [Int32](repeating: 0, count: Int(n))
        guard list(&architectures) == 0 else { return nil }
        return architectures.map(Int.init)
    }
}

/// Calls `body` with a C array of C strings that live for the call.
func withCStringArray<R>(_ strings: [String], _ body: (UnsafePointer<UnsafePointer<CChar>?>?) -> R) -> R {
    let copies = strings.map { strdup($0) }
    defer { copies.forEach { free($0) } }
    let pointers = copies.map { UnsafePointer($0) }
    return pointers.withUnsafeBufferPointer { body($0.baseAddress) }
}
