import Foundation
import Testing
@testable import CUDABackend

/// An empty file at `directory/name`: the search looks at names, not contents.
private func touch(_ directory: String, _ name: String) {
    try? FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
    #expect(FileManager.default.createFile(atPath: directory + "/" + name, contents: Data()))
}

@Test func searchOrderIsExplicitThenLoaderPathThenSystemThenWheelsThenLoaderCache() {
    let root = FakeCUDA.temporaryDirectory("search")
    let explicitA = root + "/explicit-a", explicitB = root + "/explicit-b", missing = root + "/missing"
    let ld = root + "/ld", system = root + "/system"
    let newToolkit = root + "/cuda-12.4/lib64", oldToolkit = root + "/cuda-11.8/lib64"
    let venvSite = root + "/venv/lib/python3.11/site-packages"
    let targetSite = root + "/target" // `pip install --target`, then on PYTHONPATH
    let userSite = root + "/home/.local/lib/python3.12/site-packages"
    touch(explicitA, "libnvrtc.so")
    touch(explicitA, "libnvrtc.so.12")
    touch(explicitB, "libnvrtc.so.11.2")
    for directory in [ld, system, newToolkit, oldToolkit] { touch(directory, "libnvrtc.so.12") }
    for site in [venvSite, targetSite, userSite] { touch(site + "/nvidia/cuda_nvrtc/lib", "libnvrtc.so.12") }
    touch(venvSite + "/nvidia/cublas/lib", "libcublas.so.12")

    let search = CUDALibrarySearch(
        environment: ["PRUNELAB_CUDA_LIBS": "\(explicitA):\(missing):\(explicitB)", "LD_LIBRARY_PATH": "\(ld)::\(explicitA)/",
                      "VIRTUAL_ENV": root + "/venv", "PYTHONPATH": targetSite, "HOME": root + "/home"],
        systemDirectories: [system, root + "/cuda-*/lib64"],
        sitePackagesPatterns: ["~/.local/lib/python3*/site-packages"])

    #expect(search.directories() == [
        explicitA, missing, explicitB, ld, system, newToolkit, oldToolkit,
        venvSite + "/nvidia/cuda_nvrtc/lib", venvSite + "/nvidia/cublas/lib",
        targetSite + "/nvidia/cuda_nvrtc/lib", userSite + "/nvidia/cuda_nvrtc/lib",
    ])
    #expect(search.candidates(for: .nvrtc) == [
        explicitA + "/libnvrtc.so.12", explicitA + "/libnvrtc.so", explicitB + "/libnvrtc.so.11.2",
        ld + "/libnvrtc.so.12", system + "/libnvrtc.so.12", newToolkit + "/libnvrtc.so.12",
        oldToolkit + "/libnvrtc.so.12", venvSite + "/nvidia/cuda_nvrtc/lib/libnvrtc.so.12",
        targetSite + "/nvidia/cuda_nvrtc/lib/libnvrtc.so.12", userSite + "/nvidia/cuda_nvrtc/lib/libnvrtc.so.12",
    ] + CUDALibrary.nvrtc.fileNames)
    #expect(search.candidates(for: .cublas).first == venvSite + "/nvidia/cublas/lib/libcublas.so.12")
}

@Test func systemWheelDirectoriesAreFoundByPattern() {
    let root = FakeCUDA.temporaryDirectory("wheels")
    let site = root + "/usr/lib/python3/dist-packages"
    touch(site + "/nvidia/cuda_nvrtc/lib", "libnvrtc.so.12")
    touch(root + "/pyenv/versions/3.11.9/lib/python3.11/site-packages/nvidia/cuda_nvrtc/lib", "libnvrtc.so.12")
    let search = CUDALibrarySearch(environment: ["HOME": root], systemDirectories: [],
                                   sitePackagesPatterns: [root + "/usr/lib/python3*/dist-packages",
                                                          "~/pyenv/versions/*/lib/python3*/site-packages"],
                                   usesLoaderCache: false)
    #expect(search.candidates(for: .nvrtc) == [
        site + "/nvidia/cuda_nvrtc/lib/libnvrtc.so.12",
        root + "/pyenv/versions/3.11.9/lib/python3.11/site-packages/nvidia/cuda_nvrtc/lib/libnvrtc.so.12",
    ])
}

/// PyTorch's CUDA 13 wheels in a virtual environment that is on PATH but not activated (as in GPU
/// containers: /opt/torch/.venv/bin): found through the python3 beside them, with the .13 names.
@Test func aVirtualEnvironmentOnPathWithCUDA13WheelsIsFound() {
    let root = FakeCUDA.temporaryDirectory("cu13")
    let venv = root + "/opt/torch/.venv"
    touch(venv + "/bin", "python3")
    let lib = venv + "/lib/python3.12/site-packages/nvidia/cu13/lib"
    for name in ["libcublas.so.13", "libcublasLt.so.13", "libnvrtc.so.13"] { touch(lib, name) }
    let search = CUDALibrarySearch(environment: ["PATH": "/nonexistent/bin:\(venv)/bin:/usr/bin"], systemDirectories: [],
                                   sitePackagesPatterns: [], usesLoaderCache: false)
    #expect(search.directories() == [lib])
    #expect(search.candidates(for: .cublas) == [lib + "/libcublas.so.13"])
    #expect(search.candidates(for: .cublasLt) == [lib + "/libcublasLt.so.13"])
    #expect(search.candidates(for: .nvrtc) == [lib + "/libnvrtc.so.13"])
    // Where both majors sit side by side, 12 comes first: a CUDA 13 driver also runs it.
    touch(lib, "libnvrtc.so.12")
    #expect(search.candidates(for: .nvrtc) == [lib + "/libnvrtc.so.12", lib + "/libnvrtc.so.13"])
}

@Test func defaultSearchLooksInTheUsualPlacesAfterTheEnvironment() {
    let search = CUDALibrarySearch(environment: ["PRUNELAB_CUDA_LIBS": "/nonexistent/first"])
    #expect(search.directories().first == "/nonexistent/first")
    for directory in ["/usr/lib/x86_64-linux-gnu", "/usr/local/cuda/lib64", "/usr/lib/wsl/lib", "/usr/local/cuda-*/lib64"] {
        #expect(CUDALibrarySearch.defaultSystemDirectories.contains(directory))
    }
    #expect(CUDALibrarySearch.defaultSitePackagesPatterns.contains("~/.local/lib/python3*/site-packages"))
    #expect(search.candidates(for: .driver).suffix(2) == ["libcuda.so.1", "libcuda.so"])
}

@Test func aMissingLibraryIsOneLineNamingFilesDirectoriesAndTheFix() throws {
    let empty = FakeCUDA.temporaryDirectory("empty")
    let error = #expect(throws: CUDALibraryError.self) {
        try NVRTCCompiler(libraries: FakeCUDA.search([empty, "/nonexistent/cuda"]))
    }
    let text = try #require(error).description
    #expect(!text.contains("\n"))
    #expect(text.hasSuffix("set PRUNELAB_CUDA_LIBS to the directory that holds it (colon-separated list)"))
    for expected in ["libnvrtc not found", "libnvrtc.so.12", "libnvrtc.so.11.2", "libnvrtc.so.11.1", empty,
                     "/nonexistent/cuda", "PRUNELAB_CUDA_LIBS"] {
        #expect(text.contains(expected), "\(expected) missing from: \(text)")
    }
}

@Test func manyDirectoriesAreShortenedInTheMessage() throws {
    let directories = (0..<10).map { "/nonexistent/dir\($0)" }
    let error = #expect(throws: CUDALibraryError.self) {
        try CUDARuntime(ordinal: 0, libraries: FakeCUDA.search(directories))
    }
    let text = try #require(error).description
    #expect(text.hasPrefix("libcuda not found: tried libcuda.so.1, libcuda.so in /nonexistent/dir0"))
    #expect(text.contains("/nonexistent/dir5 and 4 more"))
    #expect(!text.contains("/nonexistent/dir6"))
    #expect(!text.contains("loader's cache"))
}

@Test func aFileThatFailsToLoadKeepsTheLoaderMessage() throws {
    let directory = FakeCUDA.temporaryDirectory("broken")
    #expect(FileManager.default.createFile(atPath: directory + "/libnvrtc.so.12", contents: Data("not a library".utf8)))
    let error = #expect(throws: CUDALibraryError.self) { try NVRTCCompiler(libraries: FakeCUDA.search([directory])) }
    guard case let .notFound(library, _, _, false, loadErrors) = try #require(error) else {
        Issue.record("expected notFound, got \(String(describing: error))")
        return
    }
    #expect(library == "libnvrtc")
    #expect(loadErrors.count == 1)
    #expect(loadErrors.first?.contains(directory + "/libnvrtc.so.12") == true)
    #expect(error?.description.contains(directory + "/libnvrtc.so.12:") == true)
    #expect(error?.description.contains("\n") == false)
}

@Test func aMissingFunctionNamesLibraryAndSymbol() throws {
    let directory = try FakeCUDA.directory("no-launch", driver: .init(omitsLaunch: true))
    let error = #expect(throws: CUDALibraryError.self) {
        try CUDARuntime(ordinal: 0, libraries: FakeCUDA.search([directory]))
    }
    guard case let .missingSymbol(library, path, symbol) = try #require(error) else {
        Issue.record("expected missingSymbol, got \(String(describing: error))")
        return
    }
    #expect(library == "libcuda" && symbol == "cuLaunchKernel" && path == directory + "/libcuda.so.1")
    #expect(error?.description.contains("lacks the function cuLaunchKernel") == true)
}
