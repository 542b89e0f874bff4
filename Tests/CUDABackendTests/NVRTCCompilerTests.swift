import Foundation
import Testing
@testable import CUDABackend

/// The real NVRTC (pip wheel nvidia-cuda-nvrtc-cu12, see scripts/install-nvrtc): PRUNELAB_NVRTC_DIR,
/// else a PRUNELAB_CUDA_LIBS directory holding it, else where the script installs it.
enum RealNVRTC {
    static let environment = ProcessInfo.processInfo.environment
    /// CI sets PRUNELAB_REQUIRE_NVRTC=1: there a missing NVRTC fails the tests instead of skipping them.
    static let isRequired = environment["PRUNELAB_REQUIRE_NVRTC"] == "1"
    static let defaultDirectory = "/opt/prunelab-nvidia/nvidia/cuda_nvrtc/lib"

    static let directory: String = {
        if let directory = environment["PRUNELAB_NVRTC_DIR"], !directory.isEmpty { return directory }
        let explicit = (environment["PRUNELAB_CUDA_LIBS"] ?? "").split(separator: ":").map(String.init)
        return explicit.first(where: holdsNVRTC) ?? defaultDirectory
    }()

    static func holdsNVRTC(_ directory: String) -> Bool {
        CUDALibrary.nvrtc.fileNames.contains { FileManager.default.fileExists(atPath: directory + "/" + $0) }
    }

    /// Whether the real-NVRTC tests run; says loudly when they do not.
    static let shouldRun: Bool = {
        let found = holdsNVRTC(directory)
        if !found && !isRequired {
            print("SKIPPED (no NVRTC): no libnvrtc in \(directory); run scripts/install-nvrtc or set PRUNELAB_NVRTC_DIR "
                + "(PRUNELAB_REQUIRE_NVRTC=1 makes this a failure)")
        }
        return found || isRequired
    }()

    static func compiler(cacheDirectory: String?) throws -> NVRTCCompiler {
        try NVRTCCompiler(libraries: FakeCUDA.search([directory]), cacheDirectory: cacheDirectory)
    }
}

/// A fresh saxpy each time (the comment), so the process-wide memory cache does not answer for it.
private func saxpySource() -> String {
    """
    // \(UUID())
    extern "C" __global__ void saxpy(int n, float a, const float *x, float *y) {
        int i = blockIdx.x * blockDim.x + threadIdx.x;
        if (i < n) y[i] = a * x[i] + y[i];
    }
    """
}

private let elfMagic: [UInt8] = [0x7f, 0x45, 0x4c, 0x46]

// `.enabled(if:)` keeps these out where NVRTC is not installed (RealNVRTC.shouldRun prints the
// SKIPPED line); with PRUNELAB_REQUIRE_NVRTC=1 they run and fail on the missing library.
@Suite(.enabled(if: RealNVRTC.shouldRun, "needs libnvrtc: scripts/install-nvrtc or PRUNELAB_NVRTC_DIR"))
struct RealNVRTCTests {
    @Test(arguments: [CUDAArchitecture(major: 8, minor: 0), CUDAArchitecture(major: 9, minor: 0)])
    func compilesCUBIN(for architecture: CUDAArchitecture) throws {
        let compiler = try RealNVRTC.compiler(cacheDirectory: nil)
        #expect(compiler.version.hasPrefix("12."))
        let compiled = try compiler.compile(source: saxpySource(), for: architecture)
        #expect(compiled.format == .cubin && compiled.target == "sm_\(architecture.number)")
        #expect(compiled.origin == .compiled)
        #expect(compiled.image.starts(with: elfMagic))
        // ELF e_machine (offset 18, little-endian) is EM_CUDA = 190.
        #expect(compiled.image.count > 20 && compiled.image[18] == 190 && compiled.image[19] == 0)
    }

    @Test func aDeviceNewerThanNVRTCGetsPTXForTheNewestArchitectureItKnows() throws {
        let compiler = try RealNVRTC.compiler(cacheDirectory: nil)
        let newest = try #require(compiler.supportedArchitectures?.max())
        let compiled = try compiler.compile(source: saxpySource(), for: CUDAArchitecture(major: 99, minor: 0))
        #expect(compiled.format == .ptx && compiled.target == "compute_\(newest)")
        #expect(compiled.image.last == 0)
        let text = String(decoding: compiled.image.dropLast(), as: UTF8.self)
        #expect(text.contains(".entry saxpy") && text.contains(".target sm_\(newest)"))
    }

    @Test func aSyntaxErrorIsATypedErrorWithNVRTCsLog() throws {
        let compiler = try RealNVRTC.compiler(cacheDirectory: nil)
        let source = "extern \"C\" __global__ void broken(float *x) { x[0] = undeclared_name; }"
        let error = #expect(throws: NVRTCError.self) { try compiler.compile(source: source, for: .init(major: 8, minor: 0)) }
        guard case let .compilation(target, log) = try #require(error) else {
            Issue.record("expected compilation, got \(String(describing: error))")
            return
        }
        #expect(target == "sm_80")
        #expect(log.contains("undeclared_name") && log.contains("error"))
        let text = error?.description ?? ""
        #expect(text.hasPrefix("NVRTC could not compile the kernels for sm_80: ") && text.contains("undeclared_name"))
        #expect(!text.contains("\n"))
    }

    @Test func theDiskCacheAnswersTheSecondTime() throws {
        let cache = FakeCUDA.temporaryDirectory("nvrtc-cache") + "/nested/kernels"
        let compiler = try RealNVRTC.compiler(cacheDirectory: cache)
        let source = saxpySource(), architecture = CUDAArchitecture(major: 8, minor: 0)
        let first = try compiler.compile(source: source, for: architecture)
        let key = compiler.cacheKey(source: source, for: architecture)
        let file = "\(cache)/\(key).cubin"
        #expect(first.origin == .compiled)
        #expect(FileManager.default.contents(atPath: file).map([UInt8].init) == first.image)
        #expect(try compiler.compile(source: source, for: architecture).origin == .memoryCache)

        // Without the in-memory copy, the file is read: a marked file proves it.
        let marked = elfMagic + Array("marked by the test".utf8)
        #expect(FileManager.default.createFile(atPath: file, contents: Data(marked)))
        KernelCache.forget(key)
        let second = try compiler.compile(source: source, for: architecture)
        #expect(second.origin == .diskCache && second.image == marked)
    }

    @Test func theRuntimeLoadsRealCUBINThroughTheFakeDriver() throws {
        // Real NVRTC first in the search, the fake driver and cuBLAS behind it.
        let fake = try FakeCUDA.directory("full", cublas: true, nvrtc: true)
        let runtime = try CUDARuntime(ordinal: 0, libraries: FakeCUDA.search([RealNVRTC.directory, fake]))
        #expect(runtime.deviceDescription.contains(", NVRTC \(try RealNVRTC.compiler(cacheDirectory: nil).version), "))
        let kernels = try runtime.loadKernels(source: saxpySource(), names: ["saxpy"])
        #expect(kernels["saxpy"]?.name == "saxpy")
    }
}

// The compiler's own logic against the fake NVRTC (always runs).

private func fakeCompiler(_ name: String, cacheDirectory: String?) throws -> (NVRTCCompiler, String) {
    let directory = try FakeCUDA.directory(name, driver: nil, nvrtc: true)
    return (try NVRTCCompiler(libraries: FakeCUDA.search([directory]), cacheDirectory: cacheDirectory),
            directory + "/libnvrtc.so.12")
}

@Test(arguments: [(80, "cubin", "sm_80"), (90, "cubin", "sm_90"), (86, "ptx", "compute_80"), (120, "ptx", "compute_90"),
                  (70, "cubin", "sm_70")])
func theTargetIsCUBINWhenKnownElsePTXOfTheNewestOlderArchitecture(number: Int, format: String, target: String) throws {
    let (compiler, _) = try fakeCompiler("nvrtc-targets", cacheDirectory: nil)
    let planned = compiler.target(for: CUDAArchitecture(major: number / 10, minor: number % 10))
    #expect(planned.format.rawValue == format && planned.target == target)
}

@Test func optionsAreTheArchitectureAndIEEEMath() throws {
    let (compiler, library) = try fakeCompiler("nvrtc-options", cacheDirectory: nil)
    #expect(compiler.version == "99.1")
    let compiled = try compiler.compile(source: "// options \(UUID())", for: .init(major: 8, minor: 6))
    #expect(compiled.format == .ptx && compiled.image == Array("// fake ptx\n".utf8) + [0])
    let handle = try #require(dlopen(library, RTLD_NOW | RTLD_NOLOAD))
    defer { dlclose(handle) }
    let options = String(cString: try #require(dlsym(handle, "fake_last_options")).assumingMemoryBound(to: CChar.self))
    #expect(options == "--gpu-architecture=compute_80 -default-device --std=c++14 ")
}

@Test func cachesSkipTheCompilerAndABadFileIsCompiledAgain() throws {
    let cache = FakeCUDA.temporaryDirectory("fake-cache")
    let (compiler, library) = try fakeCompiler("nvrtc-cache", cacheDirectory: cache)
    let source = "// cache \(UUID())", architecture = CUDAArchitecture(major: 9, minor: 0)
    let compiles = { FakeCUDA.counter("fake_compiles", in: library) }
    #expect(try compiler.compile(source: source, for: architecture).origin == .compiled)
    #expect(try compiler.compile(source: source, for: architecture).origin == .memoryCache)
    let key = compiler.cacheKey(source: source, for: architecture)
    KernelCache.forget(key)
    #expect(try compiler.compile(source: source, for: architecture).origin == .diskCache)
    #expect(compiles() == 1)

    #expect(FileManager.default.createFile(atPath: "\(cache)/\(key).cubin", contents: Data("truncated".utf8)))
    KernelCache.forget(key)
    #expect(try compiler.compile(source: source, for: architecture).origin == .compiled)
    #expect(compiles() == 2)
    #expect(FileManager.default.contents(atPath: "\(cache)/\(key).cubin")?.starts(with: elfMagic) == true)
    #expect(try FileManager.default.contentsOfDirectory(atPath: cache) == ["\(key).cubin"])
}

@Test func anUnwritableCacheOnlyMeansCompilingAgain() throws {
    let blocker = FakeCUDA.temporaryDirectory("blocker") + "/a-file"
    #expect(FileManager.default.createFile(atPath: blocker, contents: Data()))
    let (compiler, _) = try fakeCompiler("nvrtc-unwritable", cacheDirectory: blocker + "/kernels")
    let compiled = try compiler.compile(source: "// unwritable \(UUID())", for: .init(major: 8, minor: 0))
    #expect(compiled.origin == .compiled && compiled.image.starts(with: elfMagic))
}

@Test func aCompileErrorCarriesTheLog() throws {
    let (compiler, _) = try fakeCompiler("nvrtc-error", cacheDirectory: nil)
    let error = #expect(throws: NVRTCError.self) { try compiler.compile(source: "#error no", for: .init(major: 8, minor: 0)) }
    #expect(error?.description == "NVRTC could not compile the kernels for sm_80: prunelab.cu(1): error: fake failure")
}

@Test(arguments: [
    (["PRUNELAB_CACHE_DIR": "/p", "XDG_CACHE_HOME": "/x", "HOME": "/h"], "/p"),
    (["XDG_CACHE_HOME": "/x", "HOME": "/h"], "/x/prunelab/kernels"),
    (["PRUNELAB_CACHE_DIR": "", "HOME": "/h"], "/h/.cache/prunelab/kernels"),
    ([:], nil),
] as [([String: String], String?)])
func theCacheDirectoryFollowsTheEnvironment(environment: [String: String], expected: String?) {
    #expect(NVRTCCompiler.defaultCacheDirectory(environment: environment) == expected)
}

@Test func cacheKeysAreFNV1aOfEverythingThatChangesTheImage() {
    // Published FNV-1a 64 test vectors.
    #expect(KernelCache.fnv1a64(Array("".utf8)) == 0xcbf2_9ce4_8422_2325)
    #expect(KernelCache.fnv1a64(Array("a".utf8)) == 0xaf63_dc4c_8601_ec8c)
    #expect(KernelCache.fnv1a64(Array("foobar".utf8)) == 0x8594_4171_f739_67e8)
    let base = KernelCache.key(source: "s", target: "sm_80", compilerVersion: "12.9", options: ["-x"])
    #expect(base.count == 16 && base.allSatisfy(\.isHexDigit))
    let variants = [
        KernelCache.key(source: "t", target: "sm_80", compilerVersion: "12.9", options: ["-x"]),
        KernelCache.key(source: "s", target: "sm_90", compilerVersion: "12.9", options: ["-x"]),
        KernelCache.key(source: "s", target: "sm_80", compilerVersion: "12.8", options: ["-x"]),
        KernelCache.key(source: "s", target: "sm_80", compilerVersion: "12.9", options: ["-y"]),
        KernelCache.key(source: "ssm_80", target: "", compilerVersion: "12.9", options: ["-x"]),
    ]
    #expect(Set(variants + [base]).count == 6)
}

/// The backend's own kernels, compiled by the real NVRTC for the architectures our users run
/// (V100, A100, H100), with every kernel the backend launches present in the image.
@Suite(.enabled(if: RealNVRTC.shouldRun, "needs libnvrtc: scripts/install-nvrtc or PRUNELAB_NVRTC_DIR"))
struct BackendKernelsCompileTests {
    @Test(arguments: [CUDAArchitecture(major: 7, minor: 0), CUDAArchitecture(major: 8, minor: 0), CUDAArchitecture(major: 9, minor: 0)])
    func theBackendKernelSourceCompiles(for architecture: CUDAArchitecture) throws {
        let compiler = try RealNVRTC.compiler(cacheDirectory: nil)
        let compiled = try compiler.compile(source: CUDAKernelSource.source, for: architecture)
        #expect(compiled.image.starts(with: elfMagic))
        // extern "C" keeps the names unmangled: each appears in the CUBIN's symbol table.
        let text = String(decoding: compiled.image.map { $0 == 0 ? 10 : $0 }, as: UTF8.self)
        let symbols = Set(text.split(separator: "\n").map(String.init))
        for name in CUDAKernelSource.names {
            #expect(symbols.contains(name), "kernel \(name) missing from the \(architecture) image")
        }
    }
}
