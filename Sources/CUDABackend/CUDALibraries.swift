import Foundation

/// One of NVIDIA's shared libraries the CUDA backend opens at run time.
public enum CUDALibrary: String, Sendable, CaseIterable {
    case driver = "libcuda"
    case cublas = "libcublas"
    case cublasLt = "libcublasLt"
    case nvrtc = "libnvrtc"
    /// Optional: convolutions use it when it loads, im2col + cuBLAS otherwise (`CUDAConvolutionChoice`).
    case cudnn = "libcudnn"

    /// File names to try, newest ABI first; the unversioned name last (it is often only in -dev packages).
    public var fileNames: [String] {
        switch self {
        case .driver: ["libcuda.so.1", "libcuda.so"]
        // 12 before 13: a CUDA 13 driver runs what CUDA 12 libraries build, not the other way round,
        // and PyTorch's cu13 wheels (nvidia/cu13/lib) bring only the .13 names.
        case .cublas: ["libcublas.so.12", "libcublas.so.13", "libcublas.so.11", "libcublas.so"]
        case .cublasLt: ["libcublasLt.so.12", "libcublasLt.so.13", "libcublasLt.so.11", "libcublasLt.so"]
        case .nvrtc: ["libnvrtc.so.12", "libnvrtc.so.13", "libnvrtc.so.11.2", "libnvrtc.so.11.1", "libnvrtc.so"]
        // cuDNN 9 is what CUDA 12 and 13 wheels bring; 8 still has the same convolution API.
        case .cudnn: ["libcudnn.so.9", "libcudnn.so.8", "libcudnn.so"]
        }
    }

    /// Libraries loaded `RTLD_GLOBAL` from the directory of `candidate` first, in order, each given as
    /// the file names to try: libcublas needs libcublasLt, and cuDNN's `libcudnn` is a shim that opens
    /// its sub-libraries by bare name at run time. A directory given only in PRUNELAB_CUDA_LIBS (or a
    /// pip wheel's) is not on the loader's path, so without this DT_NEEDED and the shim's `dlopen`
    /// would fail; once loaded, they are found by their soname.
    func companions(of candidate: String) -> [[String]] {
        switch self {
        case .cublas: return [CUDALibrary.cublasLt.fileNames]
        case .cudnn:
            // The sub-libraries of the candidate's major version, dependencies first.
            if candidate.hasSuffix(".so.8") {
                return ["ops_infer", "ops_train", "cnn_infer", "cnn_train"].map { ["libcudnn_\($0).so.8"] }
            }
            let major = candidate.hasSuffix(".so.9") ? ".so.9" : ".so"
            // (cuDNN 9.28's wheel: graph needs nothing of cuDNN; the engines, heuristic and ops need
            // graph; cnn needs ops and graph; runtime_compiled needs libcuda, loaded before.)
            return ["graph", "engines_precompiled", "engines_runtime_compiled", "engines_tensor_ir", "heuristic", "ops", "cnn"]
                .map { ["libcudnn_\($0)\(major)"] }
        default: return []
        }
    }
}

/// Where to look for NVIDIA's libraries: a pure function of an environment and directory lists, so
/// tests can point it at temporary directories.
public struct CUDALibrarySearch: Sendable {
    /// The environment consulted (PRUNELAB_CUDA_LIBS, LD_LIBRARY_PATH, HOME, Python variables, and
    /// by the runtime CUDA_VISIBLE_DEVICES, PRUNELAB_CACHE_DIR, XDG_CACHE_HOME, PATH).
    public var environment: [String: String]
    /// Fixed install locations, searched after the environment's directories; `*` patterns allowed.
    public var systemDirectories: [String]
    /// Python site-packages directories searched for NVIDIA's pip wheels (`nvidia/*/lib`) besides
    /// those of VIRTUAL_ENV, CONDA_PREFIX and PYTHONPATH; `*` patterns allowed, `~` is $HOME.
    public var sitePackagesPatterns: [String]
    /// Whether the last resort is a bare `dlopen(name)`, which lets the loader's cache (ldconfig) find it.
    public var usesLoaderCache: Bool

    /// Where distributions, the CUDA toolkit and WSL put the libraries.
    public static let defaultSystemDirectories = [
        "/usr/lib/x86_64-linux-gnu", "/usr/lib64", "/usr/lib", "/usr/local/cuda/lib64",
        "/usr/local/cuda/targets/x86_64-linux/lib", "/opt/cuda/lib64", "/usr/lib/wsl/lib",
        "/usr/local/cuda-*/lib64",
    ]

    /// Where pip installs wheels for the user, the system and pyenv.
    public static let defaultSitePackagesPatterns = [
        "~/.local/lib/python3*/site-packages", "/usr/lib/python3*/dist-packages",
        "/usr/local/lib/python3*/site-packages", "/usr/local/lib/python3*/dist-packages",
        "~/.pyenv/versions/*/lib/python3*/site-packages",
    ]

    /// A search of this process's environment and the usual places.
    public init(environment: [String: String] = ProcessInfo.processInfo.environment,
                systemDirectories: [String] = CUDALibrarySearch.defaultSystemDirectories,
                sitePackagesPatterns: [String] = CUDALibrarySearch.defaultSitePackagesPatterns,
                usesLoaderCache: Bool = true) {
        self.environment = environment
        self.systemDirectories = systemDirectories
        self.sitePackagesPatterns = sitePackagesPatterns
        self.usesLoaderCache = usesLoaderCache
    }

    /// The directories searched, in order, without repeats: PRUNELAB_CUDA_LIBS, LD_LIBRARY_PATH, the
    /// system directories, then every `nvidia/*/lib` of the site-packages directories found.
    public func directories() -> [String] {
        var result: [String] = []
        var seen = Set<String>()
        func add(_ directory: String) {
            let normalized = directory.count > 1 && directory.hasSuffix("/") ? String(directory.dropLast()) : directory
            if !normalized.isEmpty, seen.insert(normalized).inserted { result.append(normalized) }
        }
        // Explicit directories stay listed even when absent: a typo in PRUNELAB_CUDA_LIBS shows in the error.
        pathList("PRUNELAB_CUDA_LIBS").forEach(add)
        pathList("LD_LIBRARY_PATH").forEach(add)
        for pattern in systemDirectories {
            if pattern.contains("*") { expand(pattern).forEach(add) } else { add(pattern) }
        }
        for sitePackages in sitePackagesDirectories() {
            expand(sitePackages + "/nvidia/*/lib").forEach(add)
        }
        return result
    }

    /// Full paths of existing files for `library`, in search order, then (with `usesLoaderCache`) the
    /// bare file names for `dlopen` to resolve.
    public func candidates(for library: CUDALibrary) -> [String] {
        var paths: [String] = []
        for directory in directories() {
            for name in library.fileNames where isFile(directory + "/" + name) {
                paths.append(directory + "/" + name)
            }
        }
        if usesLoaderCache { paths += library.fileNames }
        return paths
    }

    /// Site-packages (or dist-packages) directories that exist, environment first.
    func sitePackagesDirectories() -> [String] {
        var patterns: [String] = []
        for variable in ["VIRTUAL_ENV", "CONDA_PREFIX"] {
            if let prefix = environment[variable], !prefix.isEmpty {
                patterns.append(prefix + "/lib/python3*/site-packages")
            }
        }
        // A virtual environment whose bin/ is on PATH without being activated (containers often do
        // this, e.g. /opt/torch/.venv/bin): its python3 sits beside its site-packages.
        for directory in pathList("PATH") where directory.hasSuffix("/bin") && isFile(directory + "/python3") {
            patterns.append(String(directory.dropLast(4)) + "/lib/python3*/site-packages")
        }
        // `pip install --target DIR` puts `nvidia/` straight into DIR, which is then on PYTHONPATH.
        patterns += pathList("PYTHONPATH")
        for pattern in sitePackagesPatterns {
            if pattern.hasPrefix("~/") {
                guard let home = environment["HOME"], !home.isEmpty else { continue }
                patterns.append(home + pattern.dropFirst())
            } else {
                patterns.append(pattern)
            }
        }
        return patterns.flatMap { $0.contains("*") ? expand($0) : (isDirectory($0) ? [$0] : []) }
    }

    private func pathList(_ variable: String) -> [String] {
        (environment[variable] ?? "").split(separator: ":").map(String.init).filter { !$0.isEmpty }
    }

    /// Existing directories matching a `*` pattern; newest first where names carry versions
    /// (cuda-12.4 before cuda-11.8), which is a reverse sort for the common one-digit-major case.
    private func expand(_ pattern: String) -> [String] {
        var matches = glob_t()
        defer { globfree(&matches) }
        guard glob(pattern, 0, nil, &matches) == 0 else { return [] }
        var paths: [String] = []
        for index in 0..<Int(matches.gl_pathc) {
            if let path = matches.gl_pathv[index] { paths.append(String(cString: path)) }
        }
        return paths.sorted(by: >).filter(isDirectory)
    }

    private func isDirectory(_ path: String) -> Bool {
        var directory: ObjCBool = false
        return FileManager.default.fileExists(atPath: path, isDirectory: &directory) && directory.boolValue
    }

    private func isFile(_ path: String) -> Bool {
        var directory: ObjCBool = false
        return FileManager.default.fileExists(atPath: path, isDirectory: &directory) && !directory.boolValue
    }
}

/// A library that could not be opened, or lacks a function the backend calls.
public enum CUDALibraryError: Error, CustomStringConvertible {
    /// No candidate loaded; `loadErrors` holds every `dlerror` text, in the order tried.
    case notFound(library: String, fileNames: [String], directories: [String], searchedLoaderCache: Bool,
                  loadErrors: [String])
    /// The library loaded from `path` but does not export `symbol` (too old a version?).
    case missingSymbol(library: String, path: String, symbol: String)

    public var description: String {
        switch self {
        case let .notFound(library, fileNames, directories, searchedLoaderCache, loadErrors):
            let shown = directories.prefix(6).joined(separator: ", ")
            let more = directories.count > 6 ? " and \(directories.count - 6) more" : ""
            let searched = directories.isEmpty ? "no directories" : "\(shown)\(more)"
            // A file that exists but fails to load (missing dependency, wrong architecture) says more
            // than the loader cache's "No such file"; show the first one of those.
            let failure = loadErrors.first { $0.contains("/") && !$0.contains("No such file") }
                .map { "; \(oneLine($0))" } ?? ""
            return "\(library) not found: tried \(fileNames.joined(separator: ", ")) in \(searched)"
                + (searchedLoaderCache ? " and the loader's cache" : "")
                + "\(failure); set PRUNELAB_CUDA_LIBS to the directory that holds it (colon-separated list)"
        case let .missingSymbol(library, path, symbol):
            return "\(library) at \(path) lacks the function \(symbol); install a newer CUDA (12.x) or "
                + "point PRUNELAB_CUDA_LIBS at one"
        }
    }
}

/// Joins lines so an error stays one log line.
func oneLine(_ text: String) -> String {
    text.split(whereSeparator: \.isNewline).map { $0.trimmingCharacters(in: .whitespaces) }
        .filter { !$0.isEmpty }.joined(separator: " | ")
}

/// A library opened with `dlopen`. Never closed: NVIDIA's libraries register exit handlers and do not
/// support being unloaded, and the loader reference-counts repeated opens anyway.
final class LoadedLibrary: @unchecked Sendable {
    let library: CUDALibrary
    let path: String
    private let handle: UnsafeMutableRawPointer

    private init(library: CUDALibrary, path: String, handle: UnsafeMutableRawPointer) {
        self.library = library
        self.path = path
        self.handle = handle
    }

    /// Opens the first candidate of `search` that loads, with its companions first.
    static func load(_ library: CUDALibrary, search: CUDALibrarySearch) throws -> LoadedLibrary {
        var loadErrors: [String] = []
        for candidate in search.candidates(for: library) {
            if candidate.contains("/") {
                let directory = (candidate as NSString).deletingLastPathComponent
                for companion in library.companions(of: candidate) {
                    openCompanion(companion, in: directory, errors: &loadErrors)
                }
            }
            if let handle = dlopen(candidate, RTLD_NOW | RTLD_LOCAL) {
                return LoadedLibrary(library: library, path: candidate, handle: handle)
            }
            loadErrors.append(lastLoaderError(default: "\(candidate): cannot be opened"))
        }
        throw CUDALibraryError.notFound(library: library.rawValue, fileNames: library.fileNames,
                                        directories: search.directories(), searchedLoaderCache: search.usesLoaderCache,
                                        loadErrors: loadErrors)
    }

    private static func openCompanion(_ fileNames: [String], in directory: String, errors: inout [String]) {
        for name in fileNames {
            let path = directory + "/" + name
            guard FileManager.default.fileExists(atPath: path) else { continue }
            if dlopen(path, RTLD_NOW | RTLD_GLOBAL) != nil { return }
            errors.append(lastLoaderError(default: "\(path): cannot be opened"))
        }
    }

    private static func lastLoaderError(default fallback: String) -> String {
        dlerror().map { String(cString: $0) } ?? fallback
    }

    /// Whether the library exports `name`.
    func has(_ name: String) -> Bool { dlsym(handle, name) != nil }

    /// The C function `name` as the `@convention(c)` type `T`; the first of `names` that exists.
    func function<T>(_ names: String...) throws -> T {
        precondition(MemoryLayout<T>.size == MemoryLayout<UnsafeRawPointer>.size, "\(T.self) is not a C function pointer")
        for name in names {
            if let address = dlsym(handle, name) { return unsafeBitCast(address, to: T.self) }
        }
        throw CUDALibraryError.missingSymbol(library: library.rawValue, path: path, symbol: names[0])
    }
}
