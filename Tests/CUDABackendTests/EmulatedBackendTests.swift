import CUDABackend
@testable import DeviceChecks
import NeuralNet
import Tensors
import Testing

/// The CUDA backend on `EmulatedRuntime`: the backend's Swift code and its CUDA C kernels (compiled
/// for the CPU) against the CPU backend, with the same suite `prunelab device-check` runs on a GPU.
@Suite struct EmulatedBackendTests {
    static func makeBackend() throws -> (CUDABackend, EmulatedRuntime) {
        let runtime = EmulatedRuntime()
        return (try CUDABackend(runtime: runtime), runtime)
    }

    @Test func emulatedSgemmFollowsCuBLASColumnMajorContract() throws {
        let runtime = EmulatedRuntime()
        let (m, n, k) = (5, 4, 3)
        for (transposeA, transposeB) in [(false, false), (true, false), (false, true), (true, true)] {
            // Column-major operands with padded leading dimensions.
            let lda = (transposeA ? k : m) + 2, ldb = (transposeB ? n : k) + 1, ldc = m + 3
            var a = [Float](repeating: 0, count: lda * (transposeA ? m : k)), b = [Float](repeating: 0, count: ldb * (transposeB ? k : n))
            var c = [Float](repeating: 0, count: ldc * n)
            for i in a.indices { a[i] = Float(i % 7) - 3 }
            for i in b.indices { b[i] = Float(i % 5) - 2 }
            for i in c.indices { c[i] = Float(i % 3) }
            func opA(_ i: Int, _ l: Int) -> Float { transposeA ? a[l + i * lda] : a[i + l * lda] }
            func opB(_ l: Int, _ j: Int) -> Float { transposeB ? b[j + l * ldb] : b[l + j * ldb] }
            var expected = c
            for i in 0..<m { for j in 0..<n {
                var s: Float = 0
                for l in 0..<k { s += opA(i, l) * opB(l, j) }
                expected[i + j * ldc] = 2 * s + 0.5 * c[i + j * ldc]
            } }
            let pa = try runtime.allocate(bytes: a.count * 4), pb = try runtime.allocate(bytes: b.count * 4), pc = try runtime.allocate(bytes: c.count * 4)
            try a.withUnsafeBytes { try runtime.copyToDevice(pa, from: $0.baseAddress!, bytes: $0.count) }
            try b.withUnsafeBytes { try runtime.copyToDevice(pb, from: $0.baseAddress!, bytes: $0.count) }
            try c.withUnsafeBytes { try runtime.copyToDevice(pc, from: $0.baseAddress!, bytes: $0.count) }
            try runtime.sgemm(transposeA: transposeA, transposeB: transposeB, m: m, n: n, k: k, alpha: 2, a: pa, lda: lda, strideA: 0,
                              b: pb, ldb: ldb, strideB: 0, beta: 0.5, c: pc, ldc: ldc, strideC: 0, batch: 1)
            var result = [Float](repeating: 0, count: c.count)
            try result.withUnsafeMutableBytes { try runtime.copyToHost($0.baseAddress!, from: pc, bytes: $0.count) }
            for j in 0..<n { for i in 0..<m { #expect(result[i + j * ldc] == expected[i + j * ldc], "C[\(i), \(j)] \(transposeA) \(transposeB)") } }
            [pa, pb, pc].forEach(runtime.free)
        }
        #expect(runtime.liveAllocations == 0)
    }

    @Test func emulatedBarriersOrderSharedMemory() throws {
        // bn_statistics reduces through shared memory between barriers: a broken barrier gives a wrong mean.
        let (backend, _) = try Self.makeBackend()
        let kernel = try backend.makeBatchNorm(BatchNormGeometry(batch: 3, channels: 2, height: 20, width: 30, isFlat: false))
        let input = Tensor(shape: [3, 2, 20, 30])
        for i in 0..<input.count { input[i] = Float((i / 600) % 2 == 0 ? i % 7 : 100 + i % 3) }
        let mean = Tensor(shape: [2]), variance = Tensor(shape: [2])
        let scale = Tensor(shape: [2], values: [1, 1]), shift = Tensor(shape: [2]), output = Tensor(shape: input.shape)
        try kernel.forwardTraining(input: input, scale: scale, shift: shift, output: output, mean: mean, variance: variance)
        var sums = [0.0, 0.0]
        for i in 0..<input.count { sums[(i / 600) % 2] += Double(input[i]) }
        #expect(abs(Double(mean[0]) - sums[0] / 1800) < 1e-4)
        #expect(abs(Double(mean[1]) - sums[1] / 1800) < 1e-4)
    }

    @Test(arguments: DeviceChecks.all.map(\.name))
    func deviceCheckPassesOnTheEmulatedDevice(_ name: String) throws {
        let check = try #require(DeviceChecks.all.first { $0.name == name })
        let (backend, _) = try Self.makeBackend()
        let result = check.run(device: backend)
        #expect(result.passed, "\(result)")
    }

    /// Large batches are convolved in chunks (weight gradients added chunk by chunk): force 3-sample
    /// chunks of an 8-sample batch, groups included, and compare with the CPU.
    @Test(arguments: [1, 2])
    func chunkedConvolutionMatchesTheCPU(groups: Int) throws {
        let (backend, _) = try Self.makeBackend()
        let perSample = (4 * 9 + 6) * 6 * 6
        backend.convolutionWorkspaceLimit = 3 * perSample
        let layer: LayerChecks.Make = { b in Conv2d(4, 6, kernelSize: 3, padding: .symmetric(1), groups: groups, backend: b) }
        let plan = try backend.makeConvolution(try (layer(backend) as! Conv2d).geometry(for: [8, 4, 6, 6]))
        #expect(plan.implementation.contains("chunks of 3"), "\(plan.implementation)")
        let comparison = try LayerChecks.compareLayer(layer, inputShape: [8, 4, 6, 6], device: backend, cpu: CPUBackend.shared)
        #expect(comparison.worst <= 1e-5, "\(comparison.worstTensor): \(comparison.worst)")
    }

    @Test func aTrainingStepMovesOnlyItsBatchAcrossTheBus() throws {
        let (backend, runtime) = try Self.makeBackend()
        let network = try ModelZoo.make("lenet300-100", inputShape: [1, 28, 28], classes: 10, backend: backend)
        network.initialize(seed: 1)
        let optimizer = SGD(learningRate: 0.1, momentum: 0.9, weightDecay: 5e-4, backend: backend)
        let batch = 32
        let images = Tensor(shape: [batch, 1, 28, 28])
        let labels = [Int32](repeating: 3, count: batch)
        func step(_ seed: Int) throws {
            let p = images.data  // the data loader writes the next batch on the host
            for i in 0..<images.count { p[i] = Float((i * 31 + seed) % 17) / 17 }
            _ = try labels.withUnsafeBufferPointer { try network.trainStep(images: images, labels: $0.baseAddress!, optimizer: optimizer) }
            try backend.synchronize()
        }
        try step(0)  // first step: parameters go up once
        runtime.resetCounters()
        try step(1)
        #expect(runtime.hostToDeviceBytes == images.count * 4 + batch * 4, "uploads: images and labels only")
        #expect(runtime.deviceToHostBytes == 2 * batch * 4, "downloads: per-row loss and hits only")
        // Reading a parameter on the host downloads it; the device copy stays valid, so nothing goes back up.
        let weight = network.parameters[0].value
        _ = weight.array
        runtime.resetCounters()
        try step(2)
        #expect(runtime.hostToDeviceBytes == images.count * 4 + batch * 4)
    }

    @Test func hostWritesReachTheDeviceAndDeviceWritesReachTheHost() throws {
        let (backend, _) = try Self.makeBackend()
        let x = Tensor(shape: [4], values: [-1, 2, -3, 4]), y = Tensor(shape: [4])
        backend.relu(input: x, output: y)
        #expect(y.storage.residency == .device)
        #expect(y.array == [0, 2, 0, 4])
        x[0] = 5  // host write: the device copy is stale and must be uploaded again
        backend.relu(input: x, output: y)
        #expect(y.array == [5, 2, 0, 4])
        let view = Tensor(viewing: y, shape: [2, 2])
        backend.binarize(view)
        #expect(y.array == [1, 1, 0, 1], "a view shares its base's device copy")
    }

    @Test func layoutsOtherThanPlainAreRefusedNotMisread() throws {
        let (backend, _) = try Self.makeBackend()
        let geometry = ConvolutionGeometry(batch: 1, inChannels: 8, outChannels: 8, inHeight: 4, inWidth: 4, kernelHeight: 3, kernelWidth: 3)
        #expect(throws: CUDABackendError.self) { try backend.makeConvolution(geometry, sourceLayout: .channelBlocked(8), destinationLayout: .plain) }
        #expect(throws: CUDABackendError.self) { try backend.makeReorder(shape: [1, 8, 4, 4], from: .plain, to: .channelsLast) }
    }

    @Test func aFailingDeviceStopsWorkAndReportsAtTheBatchBoundary() throws {
        let runtime = FailingRuntime()
        let backend = try CUDABackend(runtime: runtime)
        let x = Tensor(shape: [8]), y = Tensor(shape: [8])
        backend.relu(input: x, output: y)
        backend.relu(input: y, output: x)
        #expect(runtime.launchAttempts == 1, "after the first error nothing more is issued")
        #expect(throws: FailingRuntime.Failure.self) { try backend.synchronize() }
    }
}

/// A runtime whose launches fail (as after a device fault): the backend must not crash.
final class FailingRuntime: DeviceRuntime, @unchecked Sendable {
    struct Failure: Error {}
    let inner = EmulatedRuntime()
    var launchAttempts = 0
    var deviceDescription: String { "failing" }
    func allocate(bytes: Int) throws -> DevicePointer { try inner.allocate(bytes: bytes) }
    func free(_ pointer: DevicePointer) { inner.free(pointer) }
    func copyToDevice(_ d: DevicePointer, from s: UnsafeRawPointer, bytes: Int) throws { try inner.copyToDevice(d, from: s, bytes: bytes) }
    func copyToHost(_ d: UnsafeMutableRawPointer, from s: DevicePointer, bytes: Int) throws { try inner.copyToHost(d, from: s, bytes: bytes) }
    func copyOnDevice(_ d: DevicePointer, from s: DevicePointer, bytes: Int) throws { try inner.copyOnDevice(d, from: s, bytes: bytes) }
    func zero(_ d: DevicePointer, bytes: Int) throws { try inner.zero(d, bytes: bytes) }
    func loadKernels(source: String, names: [String]) throws -> [String: any KernelFunction] { try inner.loadKernels(source: source, names: names) }
    func launch(_ kernel: any KernelFunction, grid: (x: Int, y: Int, z: Int), block: (x: Int, y: Int, z: Int),
                sharedBytes: Int, arguments: [KernelArgument]) throws {
        launchAttempts += 1
        throw Failure()
    }
    func sgemm(transposeA: Bool, transposeB: Bool, m: Int, n: Int, k: Int, alpha: Float, a: DevicePointer, lda: Int, strideA: Int,
               b: DevicePointer, ldb: Int, strideB: Int, beta: Float, c: DevicePointer, ldc: Int, strideC: Int, batch: Int) throws {
        throw Failure()
    }
    func synchronize() throws {}
}

/// The same suite on a real GPU (gpu:0) when this machine has one; otherwise every case is
/// disabled and a SKIPPED line says why — a skip is not a pass.
enum RealGPU {
    static let backend: CUDABackend? = {
        do {
            let runtime = try CUDARuntime(ordinal: 0)
            return try CUDABackend(runtime: runtime, ordinal: 0)
        } catch {
            print("SKIPPED (no GPU): the GPU-vs-CPU checks did not run on a device: \(error)")
            return nil
        }
    }()
}

@Suite(.enabled(if: RealGPU.backend != nil, "needs a CUDA GPU (gpu:0)"), .serialized)
struct RealGPUTests {
    @Test(arguments: DeviceChecks.all.map(\.name))
    func deviceCheckPassesOnGPU0(_ name: String) throws {
        let check = try #require(DeviceChecks.all.first { $0.name == name })
        let result = check.run(device: try #require(RealGPU.backend))
        #expect(result.passed, "\(result)")
    }
}

/// The device checks' limits are derived from float32 rounding and from near-ties measured in the
/// same run; these prove they still catch what a broken kernel does: a reduction that loses a term.
@Suite struct DeviceCheckLimitTests {
    static let layerCases = LayerChecks.cases.filter { $0.limit > 0 }.map(\.name)

    @Test(arguments: layerCases)
    func aLayerCheckFailsWhenABackwardPassDropsOneTerm(_ name: String) throws {
        let layer = try #require(LayerChecks.cases.first { $0.name == name })
        // The same layer, inputs and gradients on the CPU twice: identical, then with one term dropped.
        let clean = try LayerChecks.compareLayer(layer.make, inputShape: layer.shape, device: CPUBackend.shared, cpu: CPUBackend.shared)
        #expect(clean.worst == 0, "\(clean.worstTensor) \(clean.worst)")
        let broken = try LayerChecks.compareLayer(layer.make, inputShape: layer.shape, device: CPUBackend.shared, cpu: CPUBackend.shared,
                                                  dropTerm: true)
        #expect(broken.worst > layer.limit, "\(name): dropping one term moved \(broken.worstTensor) by \(broken.worst), limit \(layer.limit)")
    }

    @Test func theVGGCheckFailsWhenEveryConvolutionDropsItsLastTap() throws {
        let cpu = CPUBackend.shared
        let broken = try ModelChecks.trainingSteps("vgg16", inputShape: [3, 32, 32], batch: 8, steps: 1, density: nil, device: cpu, cpu: cpu,
                                                   dropLastTap: true)
        let yardstick = try ModelChecks.trainingSteps("vgg16", inputShape: [3, 32, 32], batch: 8, steps: 1, density: nil, device: cpu, cpu: cpu,
                                                      reverseFirstBatch: true)
        let limit = max(Tolerance.rounding(terms: 512 * 9, depth: 16), ModelChecks.tieYardstick * yardstick.worst)
        #expect(yardstick.worst > 0, "reversing the batch should change the rounding of batch reductions")
        #expect(broken.worst > limit, "a dropped tap moved \(broken.worstTensor) by \(broken.worst), limit \(limit)")
    }
}
