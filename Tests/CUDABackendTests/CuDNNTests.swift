import Foundation
@testable import CUDABackend
@testable import DeviceChecks
import NeuralNet
import Tensors
import Testing

// cuDNN's convolutions against the fake libcudnn (FakeCUDALibraries.swift): loading it and its
// sub-libraries, the descriptors, the algorithm choice, the three passes and their errors; then the
// backend on the emulated device with cuDNN, against the CPU backend.

enum FakeCuDNN {
    /// A directory with the fake driver, cuBLAS, NVRTC and cuDNN; `name` gives it its own counters.
    static func directory(_ name: String, _ cudnn: FakeCUDA.CuDNN = .init()) throws -> String {
        try FakeCUDA.directory("cudnn-" + name, cublas: true, nvrtc: true, cudnn: cudnn)
    }

    /// cuDNN's convolutions on the fake library without a driver: host pointers serve as device pointers.
    static func convolutions(_ directory: String) throws -> CuDNNConvolutions {
        try CuDNNConvolutions(LoadedLibrary.load(.cudnn, search: FakeCUDA.search([directory])), prepare: {})
    }

    /// The emulated device with the fake cuDNN's convolutions.
    static func emulatedRuntime() throws -> EmulatedRuntime {
        EmulatedRuntime(convolutions: try convolutions(directory("emulated")))
    }
}

/// Host memory handed to the plans as device memory, released at the end of the test.
private final class HostBuffers {
    private var pointers: [UnsafeMutablePointer<Float>] = []
    deinit { pointers.forEach { $0.deallocate() } }

    func make(_ values: [Float]) -> DevicePointer {
        let pointer = UnsafeMutablePointer<Float>.allocate(capacity: max(values.count, 1))
        pointer.initialize(from: values, count: values.count)
        pointers.append(pointer)
        return DevicePointer(UInt(bitPattern: pointer))
    }

    func make(count: Int) -> DevicePointer { make([Float](repeating: .nan, count: count)) }

    static func read(_ pointer: DevicePointer, count: Int) -> [Float] {
        Array(UnsafeBufferPointer(start: UnsafePointer<Float>(bitPattern: UInt(pointer)), count: count))
    }
}

/// The convolution by its definition: y[n][k][oy][ox] = Σ x[n][g·C/G + c][oy·s − pad + i][ox·s − pad + j] · w[k][c][i][j].
private struct ReferenceConvolution {
    let g: ConvolutionGeometry

    func terms(_ body: (_ x: Int, _ w: Int, _ y: Int) -> Void) {
        let groupInputs = g.inChannels / g.groups, groupOutputs = g.outChannels / g.groups
        for n in 0..<g.batch { for k in 0..<g.outChannels { for oy in 0..<g.outHeight { for ox in 0..<g.outWidth {
            let group = k / groupOutputs
            for c in 0..<groupInputs { for i in 0..<g.kernelHeight { for j in 0..<g.kernelWidth {
                let iy = oy * g.strideHeight - g.padTop + i, ix = ox * g.strideWidth - g.padLeft + j
                guard (0..<g.inHeight).contains(iy), (0..<g.inWidth).contains(ix) else { continue }
                body(((n * g.inChannels + group * groupInputs + c) * g.inHeight + iy) * g.inWidth + ix,
                     ((k * groupInputs + c) * g.kernelHeight + i) * g.kernelWidth + j,
                     ((n * g.outChannels + k) * g.outHeight + oy) * g.outWidth + ox)
            } } }
        } } } }
    }
}

private func random(_ count: Int, seed: Int) -> [Float] {
    (0..<count).map { Float(($0 * 7919 + seed * 104_729) % 2001) / 1000 - 1 }
}

private func expectClose(_ actual: [Float], _ expected: [Float], _ what: String) {
    let scale = max(expected.map(abs).max() ?? 0, 1e-6)
    let worst = zip(actual, expected).map { abs($0 - $1) }.max() ?? 0
    #expect(actual.count == expected.count && worst / scale <= 1e-5, "\(what): worst difference \(worst), scale \(scale)")
}

@Test func theRuntimeLoadsCuDNNWithItsSubLibrariesAndReleasesItsHandle() throws {
    let directory = try FakeCuDNN.directory("lifecycle")
    let shim = directory + "/libcudnn.so.9"
    do {
        let runtime = try CUDARuntime(ordinal: 0, libraries: FakeCUDA.search([directory]))
        #expect(runtime.convolutions != nil)
        #expect(runtime.convolutionDescription == "cuDNN 9.1.0")
        #expect(runtime.deviceDescription.hasPrefix("Fake GPU (sm_80, "))
        #expect(runtime.deviceDescription.hasSuffix(", cuDNN 9.1.0)"), "\(runtime.deviceDescription)")
        #expect(FakeCUDA.counter("fake_cudnn_handles", in: shim) == 1)
        // The fake shim's cudnnCreate opens libcudnn_cnn.so.9 by bare name, as cuDNN 9's does: it
        // succeeds only because the runtime loaded the sub-libraries from the shim's directory.
        #expect(FakeCUDA.counter("fake_cudnn_cnn_marker", in: directory + "/libcudnn_cnn.so.9") == 1)
    }
    #expect(FakeCUDA.counter("fake_cudnn_handles", in: shim) == 0)
}

@Test func withoutCuDNNConvolutionsFallBackToIm2colUnlessCuDNNIsRequired() throws {
    let directory = try FakeCUDA.directory("full", cublas: true, nvrtc: true)
    let runtime = try CUDARuntime(ordinal: 0, libraries: FakeCUDA.search([directory]))
    #expect(runtime.convolutions == nil)
    #expect(runtime.convolutionDescription == "im2col + cuBLAS (no cuDNN: libcudnn not found; set PRUNELAB_CUDA_LIBS to its directory)")
    let error = #expect(throws: CUDALibraryError.self) {
        try CUDARuntime(ordinal: 0, libraries: FakeCUDA.search([directory], environment: ["PRUNELAB_CUDA_CONVOLUTION": "cudnn"]))
    }
    #expect(error?.description.hasPrefix("libcudnn not found: tried libcudnn.so.9, libcudnn.so.8, libcudnn.so in ") == true)
}

@Test func theEnvironmentChoosesTheConvolution() throws {
    let directory = try FakeCuDNN.directory("choice")
    let im2col = try CUDARuntime(ordinal: 0, libraries: FakeCUDA.search([directory], environment: ["PRUNELAB_CUDA_CONVOLUTION": "im2col"]))
    #expect(im2col.convolutions == nil)
    #expect(im2col.deviceDescription.hasSuffix(", im2col + cuBLAS (PRUNELAB_CUDA_CONVOLUTION=im2col))"))
    let required = try CUDARuntime(ordinal: 0, libraries: FakeCUDA.search([directory]), convolution: .cudnn)
    #expect(required.convolutions?.libraryDescription == "cuDNN 9.1.0")
    let error = #expect(throws: CUDAError.self) {
        try CUDARuntime(ordinal: 0, libraries: FakeCUDA.search([directory], environment: ["PRUNELAB_CUDA_CONVOLUTION": "fft"]))
    }
    #expect(error?.description == "PRUNELAB_CUDA_CONVOLUTION: expected auto, cudnn or im2col, got 'fft'")
}

@Test func cuDNNVersionsReadAsTheirHeadersNumberThem() {
    #expect(CuDNNConvolutions.versionText(90_100) == "9.1.0")
    #expect(CuDNNConvolutions.versionText(91_002) == "9.10.2")
    #expect(CuDNNConvolutions.versionText(8_907) == "8.9.7")
}

@Test func aPlanTakesTheFirstDeterministicFloat32AlgorithmThatFitsTheWorkspace() throws {
    let directory = try FakeCuDNN.directory("choose")
    let shim = directory + "/libcudnn.so.9"
    let cudnn = try FakeCuDNN.convolutions(directory)
    let geometry = ConvolutionGeometry(batch: 2, inChannels: 4, outChannels: 6, inHeight: 7, inWidth: 5, kernelHeight: 3, kernelWidth: 3,
                                       padTop: 1, padLeft: 1, padBottom: 1, padRight: 1, groups: 2)
    do {
        // The fake lists a non-deterministic algorithm, a tensor-op one, then algorithm 1 (4096 bytes).
        let plan = try #require(try cudnn.plan(for: geometry, workspaceLimit: 1 << 20))
        #expect(plan.algorithms == "forward IMPLICIT_PRECOMP_GEMM, backward data ALGO_1, backward filter ALGO_1")
        #expect(plan.workspaceBytes == 4096)
        #expect(FakeCUDA.counter("fake_math_type", in: shim) == CuDNNConstant.fmaMath, "no TF32")
        #expect(FakeCUDA.counter("fake_group_count", in: shim) == 2)
        // Under 4096 bytes, algorithm 2 (no workspace) is next.
        let small = try #require(try cudnn.plan(for: geometry, workspaceLimit: 4095))
        #expect(small.algorithms == "forward GEMM, backward data FFT, backward filter FFT")
        #expect(small.workspaceBytes == 0)
        #expect(FakeCUDA.counter("fake_cudnn_descriptors", in: shim) == 8)
    }
    #expect(FakeCUDA.counter("fake_cudnn_descriptors", in: shim) == 0, "every descriptor destroyed with its plan")
}

@Test func paddingCuDNNCannotExpressGetsNoPlan() throws {
    let cudnn = try FakeCuDNN.convolutions(FakeCuDNN.directory("padding"))
    // TensorFlow's SAME at stride 2 on 32 rows pads 0 above and 1 below: 16 rows, where cuDNN's
    // symmetric padding gives 15 (pad 0) or 16 with a different first window (pad 1).
    let same = ConvolutionGeometry(batch: 1, inChannels: 2, outChannels: 2, inHeight: 32, inWidth: 32, kernelHeight: 3, kernelWidth: 3,
                                   strideHeight: 2, strideWidth: 2, padTop: 0, padLeft: 0, padBottom: 1, padRight: 1)
    #expect(try cudnn.plan(for: same, workspaceLimit: 1 << 20) == nil)
    // On 33 rows the padding below is reached by no window: cuDNN's (none) gives the same 16 rows.
    var unused = same
    (unused.inHeight, unused.inWidth) = (33, 33)
    #expect(unused.outHeight == 16 && unused.outWidth == 16)
    #expect(try cudnn.plan(for: unused, workspaceLimit: 1 << 20) != nil)
    // An empty output is left to the im2col path.
    let empty = ConvolutionGeometry(batch: 1, inChannels: 2, outChannels: 2, inHeight: 2, inWidth: 2, kernelHeight: 3, kernelWidth: 3)
    #expect(try cudnn.plan(for: empty, workspaceLimit: 1 << 20) == nil)
}

@Test(arguments: [
    ConvolutionGeometry(batch: 2, inChannels: 3, outChannels: 4, inHeight: 6, inWidth: 5, kernelHeight: 3, kernelWidth: 3,
                        padTop: 1, padLeft: 1, padBottom: 1, padRight: 1),
    ConvolutionGeometry(batch: 3, inChannels: 4, outChannels: 6, inHeight: 7, inWidth: 8, kernelHeight: 3, kernelWidth: 2,
                        strideHeight: 2, strideWidth: 3, padTop: 1, padLeft: 0, padBottom: 1, padRight: 0, groups: 2),
    ConvolutionGeometry(batch: 2, inChannels: 5, outChannels: 5, inHeight: 5, inWidth: 5, kernelHeight: 3, kernelWidth: 3,
                        padTop: 1, padLeft: 1, padBottom: 1, padRight: 1, groups: 5),
    ConvolutionGeometry(batch: 1, inChannels: 3, outChannels: 2, inHeight: 9, inWidth: 9, kernelHeight: 1, kernelWidth: 1,
                        strideHeight: 2, strideWidth: 2),
])
func thePassesComputeTheConvolutionAndItsGradients(_ g: ConvolutionGeometry) throws {
    let cudnn = try FakeCuDNN.convolutions(FakeCuDNN.directory("passes"))
    let plan = try #require(try cudnn.plan(for: g, workspaceLimit: 1 << 20))
    let inputs = g.inputShape.reduce(1, *), weights = g.weightShape.reduce(1, *), outputs = g.outputShape.reduce(1, *)
    let x = random(inputs, seed: 1), w = random(weights, seed: 2), dy = random(outputs, seed: 3)
    var y = [Float](repeating: 0, count: outputs), dx = [Float](repeating: 0, count: inputs), dw = [Float](repeating: 0, count: weights)
    ReferenceConvolution(g: g).terms { xi, wi, yi in
        y[yi] += x[xi] * w[wi]
        dx[xi] += dy[yi] * w[wi]
        dw[wi] += x[xi] * dy[yi]
    }
    let buffers = HostBuffers()
    let px = buffers.make(x), pw = buffers.make(w), pdy = buffers.make(dy), workspace = buffers.make(count: plan.workspaceBytes / 4)
    // Outputs start as NaN: each pass must overwrite (beta = 0), not accumulate.
    let py = buffers.make(count: outputs), pdx = buffers.make(count: inputs), pdw = buffers.make(count: weights)
    try plan.forward(input: px, weight: pw, output: py, workspace: workspace)
    try plan.backwardData(outputGradient: pdy, weight: pw, inputGradient: pdx, workspace: workspace)
    try plan.backwardFilter(input: px, outputGradient: pdy, weightGradient: pdw, workspace: workspace)
    expectClose(HostBuffers.read(py, count: outputs), y, "y")
    expectClose(HostBuffers.read(pdx, count: inputs), dx, "dx")
    expectClose(HostBuffers.read(pdw, count: weights), dw, "dw")
}

@Test func aFailingPassIsATypedErrorWithCuDNNsName() throws {
    let cudnn = try FakeCuDNN.convolutions(FakeCuDNN.directory("failing"))
    // The fake fails every pass on a batch of 13.
    let g = ConvolutionGeometry(batch: 13, inChannels: 1, outChannels: 1, inHeight: 3, inWidth: 3, kernelHeight: 3, kernelWidth: 3)
    let plan = try #require(try cudnn.plan(for: g, workspaceLimit: 1 << 20))
    let buffers = HostBuffers()
    let error = #expect(throws: CUDAError.self) {
        try plan.forward(input: buffers.make(count: 13 * 9), weight: buffers.make(count: 9), output: buffers.make(count: 13),
                         workspace: buffers.make(count: 1024))
    }
    #expect(error?.description == "cudnnConvolutionForward failed: CUDNN_STATUS_EXECUTION_FAILED (5000)")
}

/// The backend on the emulated device with cuDNN: every convolution the geometry allows goes to cuDNN.
@Suite struct EmulatedCuDNNBackendTests {
    @Test func convolutionsUseCuDNNWhereItCanComputeThem() throws {
        let backend = try CUDABackend(runtime: FakeCuDNN.emulatedRuntime())
        let symmetric = ConvolutionGeometry(batch: 2, inChannels: 3, outChannels: 4, inHeight: 8, inWidth: 8, kernelHeight: 3, kernelWidth: 3,
                                            padTop: 1, padLeft: 1, padBottom: 1, padRight: 1)
        #expect(try backend.makeConvolution(symmetric).implementation
            == "cuDNN 9.1.0: forward IMPLICIT_PRECOMP_GEMM, backward data ALGO_1, backward filter ALGO_1")
        // TensorFlow's SAME at stride 2 (nothing above, one row below): cuDNN on a padded copy.
        var same = symmetric
        (same.strideHeight, same.padTop, same.padBottom) = (2, 0, 1)
        #expect(try backend.makeConvolution(same).implementation.hasPrefix("cuDNN 9.1.0 (input padded explicitly): forward "))
        #expect(backend.name.hasSuffix("(host emulation, cuDNN 9.1.0)"))
        // Without cuDNN, im2col.
        let plain = try CUDABackend(runtime: EmulatedRuntime())
        #expect(try plain.makeConvolution(same).implementation.hasPrefix("im2col + cuBLAS sgemm"))
    }

    @Test func aGeometryCuDNNRefusesFallsBackToIm2colAndSaysWhy() throws {
        let backend = try CUDABackend(runtime: FakeCuDNN.emulatedRuntime())
        // The fake refuses 7 groups.
        let layer: LayerChecks.Make = { b in Conv2d(7, 14, kernelSize: 3, padding: .symmetric(1), groups: 7, backend: b) }
        let geometry = try (layer(backend) as! Conv2d).geometry(for: [2, 7, 6, 6])
        #expect(try backend.makeConvolution(geometry).implementation == "im2col + cuBLAS sgemm (chunks of 2); cuDNN 9.1.0 refused it: "
            + "cudnnSetConvolutionGroupCount failed: CUDNN_STATUS_NOT_SUPPORTED (3000)")
        let comparison = try LayerChecks.compareLayer(layer, inputShape: [2, 7, 6, 6], device: backend, cpu: CPUBackend.shared)
        #expect(comparison.worst <= 1e-5, "\(comparison.worstTensor): \(comparison.worst)")
    }

    /// Explicit padding on every side the geometry pads, against the CPU: asymmetric pads, strides,
    /// groups, with and without bias.
    @Test(arguments: [(top: 0, left: 0, bottom: 1, right: 1, stride: 2, groups: 1, bias: true),
                      (top: 2, left: 1, bottom: 3, right: 0, stride: 1, groups: 2, bias: false),
                      (top: 1, left: 2, bottom: 0, right: 2, stride: 2, groups: 4, bias: true)])
    func explicitPaddingMatchesTheCPU(_ p: (top: Int, left: Int, bottom: Int, right: Int, stride: Int, groups: Int, bias: Bool)) throws {
        let backend = try CUDABackend(runtime: FakeCuDNN.emulatedRuntime())
        let layer: LayerChecks.Make = { b in
            Conv2d(4, 8, kernelSize: 3, stride: p.stride, padding: .explicit(top: p.top, left: p.left, bottom: p.bottom, right: p.right),
                   groups: p.groups, bias: p.bias, backend: b)
        }
        let geometry = try (layer(backend) as! Conv2d).geometry(for: [3, 4, 9, 10])
        #expect(try backend.makeConvolution(geometry).implementation.contains("(input padded explicitly)"))
        let comparison = try LayerChecks.compareLayer(layer, inputShape: [3, 4, 9, 10], device: backend, cpu: CPUBackend.shared)
        #expect(comparison.worst <= 1e-5, "\(comparison.worstTensor): \(comparison.worst)")
    }

    /// The device checks that convolve: layers (bias included), the VGG-16 step against the CPU and
    /// repeated bit for bit.
    static let convolutionChecks = DeviceChecks.all.map(\.name).filter {
        $0.contains("Conv2d") || $0.contains("Residual") || $0.hasPrefix("VGG-16 training step")
    }

    @Test(arguments: convolutionChecks)
    func deviceCheckPassesWithCuDNNOnTheEmulatedDevice(_ name: String) throws {
        let check = try #require(DeviceChecks.all.first { $0.name == name })
        let backend = try CUDABackend(runtime: FakeCuDNN.emulatedRuntime())
        let result = check.run(device: backend)
        #expect(result.passed, "\(result)")
    }

    @Test func theConvolutionChecksIncludeBiasAndTheWholeModel() {
        #expect(Self.convolutionChecks.count >= 9, "\(Self.convolutionChecks)")
        #expect(Self.convolutionChecks.contains("VGG-16 training steps are bit-identical when repeated on the device"))
    }
}

/// NVIDIA's real libcudnn, when PRUNELAB_CUDNN_DIR names a folder that holds it (the
/// `nvidia/cudnn/lib` of a `pip download nvidia-cudnn-cu12` wheel, 700 MB: not in CI, which
/// prints a SKIPPED line): every function prunelab calls resolves through the shim with the
/// sub-libraries loaded beside it, the version reads right, and without a GPU `cudnnCreate`
/// fails as a typed error in cuDNN's own words rather than a crash.
enum RealCuDNN {
    static let directory = ProcessInfo.processInfo.environment["PRUNELAB_CUDNN_DIR"] ?? ""
    static let isPresent: Bool = {
        let found = !directory.isEmpty && FileManager.default.fileExists(atPath: directory + "/libcudnn.so.9")
        if !found { print("SKIPPED (no cuDNN): set PRUNELAB_CUDNN_DIR to a folder with libcudnn.so.9 to check prunelab's calls against it") }
        return found
    }()
}

@Suite(.enabled(if: RealCuDNN.isPresent, "needs PRUNELAB_CUDNN_DIR"))
struct RealCuDNNTests {
    @Test func everyFunctionResolvesAndCreateFailsTypedWithoutAGPU() throws {
        let library = try LoadedLibrary.load(.cudnn, search: FakeCUDA.search([RealCuDNN.directory]))
        let functions = try CuDNNFunctions(library)
        let version = CuDNNConvolutions.versionText(functions.cudnnGetVersion())
        #expect(version.hasPrefix("9."), "\(version)")
        let error = #expect(throws: CUDAError.self) { try CuDNNConvolutions(library, prepare: {}) }
        guard case let .cudnn(function, status, name) = try #require(error) else {
            Issue.record("expected a cuDNN error, got \(String(describing: error))")
            return
        }
        #expect(function == "cudnnCreate" && status != 0 && name.hasPrefix("CUDNN_STATUS_"), "\(function) \(status) \(name)")
    }
}
