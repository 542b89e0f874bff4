import ArgumentParser
import CDNNL
import Datasets
import Experiments
import Foundation
import NeuralNet
import Tensors

/// `prunelab bench`: speed figures next to the machine's own sgemm, measured in the same run.
struct BenchCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bench",
        abstract: "Measure training speed against oneDNN's sgemm on 2048² in the same run.",
        discussion: """
            gemm: dnnl_sgemm GFLOP/s on 2048² (best of 5).
            service: this binary's `serve` on a new SQLite file over loopback: start-up, a 7 000-run sweep,
            GET /runs/{key} under wrk (apt-get install wrk) while four simulated workers write, batched
            metric ingest, lease→finish cycles (--seconds per timed phase).
            sweep: this binary's `serve` with --workers local workers on a new SQLite file runs a sweep of short
            LeNet-300-100 runs on Fashion-MNIST (random/erk and snip at 10×, 50 and 600 iterations, --seeds seeds);
            reported against the pure training time of those runs at `bench lenet300` speed, measured first in the
            same run: runs/s, per-run overhead (lease→finish − pure training) and sweep efficiency
            (Σ pure training ÷ (sweep wall × workers)).
            effective: exact effective masks of uniformly random 100× masks per architecture (median of
            --windows calls, --arch for one), and effective random/uniform pruning of VGG-16 to 1000×.
            Networks train on synthetic data of the architecture's input shape at its default batch:
            lenet300 (100), lenet5 (128), vgg16 and vgg19 (128, 3×32×32), resnet18 (64, 3×64×64),
            resnet20 (128, 3×32×32), resnet50 and mobilenetv2 (32, 3×224×224).
            Training GFLOP/s = images/s × 3 × forward FLOPs (2 × multiply-adds of dense/conv layers).
            """)

    /// Bench name → (architecture, default batch).
    static let networks: [String: (architecture: String, batch: Int)] = [
        "lenet300": ("lenet300-100", 100), "lenet5": ("lenet5", 128), "vgg16": ("vgg16", 128), "vgg19": ("vgg19", 128),
        "resnet18": ("resnet18", 64), "resnet20": ("resnet20", 128), "resnet50": ("resnet50", 32),
        "mobilenetv2": ("mobilenetv2", 32),
    ]
    static var targets: [String] { ["gemm", "effective", "service", "sweep"] + networks.keys.sorted() }

    @Argument(help: "What to measure: gemm, effective, service, sweep or a network (lenet300, lenet5, vgg16, vgg19, resnet18, resnet20, resnet50, mobilenetv2).")
    var target: String
    @Option(help: "Length of each timed window in seconds.")
    var seconds: Double = 2
    @Option(help: "Number of timed windows (the median is reported).")
    var windows: Int = 5
    @Option(help: "Batch size (default: 100 for lenet300, 128 for lenet5).")
    var batchSize: Int?
    @Flag(help: "Print one JSON object on stdout.")
    var json = false
    @Flag(help: "Also print where a training step spends its time, layer by layer.")
    var profile = false
    @Option(help: "effective: one architecture instead of all.")
    var arch: String?
    @Option(help: "effective: also time this ONNX model's effective masks against --arch's on the same masks (their weights must match).")
    var onnx: String?
    @Option(help: "Activation layout of the convolution-family layers: native (the processor's blocked layout), plain, nhwc, blocked8, blocked16.")
    var layout: String = "native"
    @OptionGroup var device: DeviceOptions
    @Option(help: "sweep: local workers serve spawns.")
    var workers: Int = 1
    @Option(help: "sweep: seeds per pruner and iteration count (runs = 2 pruners × 2 lengths × seeds).")
    var seeds: Int = 4
    @Option(help: "sweep: another prunelab binary to serve and work with (an older build, to compare in one sitting).")
    var executable: String?

    /// The backend for `--device` and `--layout` (a GPU compiles or loads its kernels on opening).
    func makeBackend() throws -> any Backend {
        let chosen = try device.parsed()
        if chosen != .cpu {
            guard layout == "native" else { throw InvalidOption(option: "--layout", reason: "applies to the CPU only; the GPU keeps plain NCHW") }
            return try chosen.openBackend()
        }
        switch layout {
        case "native": return CPUBackend.shared
        case "plain": return CPUBackend(activationLayout: .plain)
        case "nhwc": return CPUBackend(activationLayout: .channelsLast)
        case "blocked8": return CPUBackend(activationLayout: .channelBlocked(8))
        case "blocked16": return CPUBackend(activationLayout: .channelBlocked(16))
        default: throw InvalidOption(option: "--layout", reason: "unknown layout '\(layout)' (native, plain, nhwc, blocked8, blocked16)")
        }
    }

    func run() async throws {
        guard Self.targets.contains(target) else {
            throw InvalidOption(option: "target", reason: "unknown benchmark '\(target)' (\(Self.targets.joined(separator: ", ")))")
        }
        guard seconds > 0 else { throw InvalidOption(option: "--seconds", reason: "must be positive, got \(seconds)") }
        if target == "service" {
            let sgemm = Self.sgemmGFLOPS(size: 2048)
            let report = try await ServiceBench(seconds: seconds).run()
            if json {
                try printJSON(ServiceBenchOutput(sgemmGflops: sgemm, service: report))
            } else {
                print(String(format: "sgemm 2048²: %.1f GFLOP/s (machine speed now)", sgemm))
                print(report.summary)
            }
            return
        }
        guard windows >= 1 else { throw InvalidOption(option: "--windows", reason: "must be at least 1, got \(windows)") }
        if let batchSize, batchSize < 1 { throw InvalidOption(option: "--batch-size", reason: "must be at least 1, got \(batchSize)") }
        if target == "sweep" {
            guard (1...64).contains(workers) else { throw InvalidOption(option: "--workers", reason: "must be from 1 to 64, got \(workers)") }
            guard (1...1000).contains(seeds) else { throw InvalidOption(option: "--seeds", reason: "must be from 1 to 1000, got \(seeds)") }
            // The engine's own speed first, in this sitting: the yardstick of the sweep's cost.
            var speed = BenchReport(bench: "lenet300", device: CPUBackend.shared.name, sgemmGflops: Self.sgemmGFLOPS(size: 2048))
            let entry = try ModelZoo.entry("lenet300-100")
            try measureTraining(arch: "lenet300-100", sampleShape: entry.inputShape, classes: entry.classes, backend: CPUBackend.shared,
                                batch: 100, into: &speed)
            if let executable, !FileManager.default.isExecutableFile(atPath: executable) {
                throw InvalidOption(option: "--executable", reason: "\(executable) is not an executable file")
            }
            let report = try await SweepBench(workers: workers, seeds: seeds, imagesPerSecond: speed.imagesPerSecond ?? 1,
                                              executable: executable.map { URL(fileURLWithPath: $0) }).run()
            if json {
                try printJSON(SweepBenchOutput(lenet300: speed, sweep: report))
            } else {
                print(speed.summary)
                print(report.summary)
            }
            return
        }
        let backend = try makeBackend()
        let sgemm = Self.sgemmGFLOPS(size: 2048)
        var report = BenchReport(bench: target, device: backend.name, sgemmGflops: sgemm)
        if target == "effective", let onnx {
            guard let arch else { throw InvalidOption(option: "--onnx", reason: "needs --arch, the zoo architecture to compare with") }
            report.onnxEffective = try measureONNXEffective(path: onnx, architecture: arch, repetitions: windows)
        } else if target == "effective" {
            report.effective = try measureEffectiveMasks(architectures: arch.map { [$0] } ?? Self.effectiveArchitectures,
                                                         repetitions: windows)
            if arch == nil || arch == "vgg16" { report.effectivePruning = try measureEffectivePruning() }
        } else if let network = Self.networks[target] {
            let entry = try ModelZoo.entry(network.architecture)
            try measureTraining(arch: network.architecture, sampleShape: entry.inputShape, classes: entry.classes, backend: backend,
                                batch: batchSize ?? network.batch, into: &report)
        } else {
            report.gflops = sgemm
            report.ratio = 1
        }
        if json {
            try printJSON(report)
        } else {
            print(report.summary)
        }
    }

    /// dnnl_sgemm on n×n×n, best of 5 after one warm-up, as in bench/sgemm_peak.c.
    static func sgemmGFLOPS(size n: Int) -> Double {
        let a = Tensor(shape: [n, n]), b = Tensor(shape: [n, n]), c = Tensor(shape: [n, n])
        for i in 0..<(n * n) { a[i] = Float(i % 7 - 3) / 4; b[i] = Float(i % 5 - 2) / 4 }
        var best = Double.infinity
        for round in 0..<6 {
            let start = monotonicSeconds()
            CPUBackend.shared.gemm(transposeA: false, transposeB: false, m: n, n: n, k: n, alpha: 1, a: a, b: b, beta: 0, c: c)
            let elapsed = monotonicSeconds() - start
            if round > 0 { best = min(best, elapsed) }
        }
        return 2 * Double(n * n * n) / best / 1e9
    }

    /// Steady-state training throughput: data loading (batch fill from memory), forward, loss,
    /// backward and the SGD step, on synthetic data of the network's input shape.
    func measureTraining(arch: String, sampleShape: [Int], classes: Int, backend: any Backend, batch: Int,
                         into report: inout BenchReport) throws {
        // Enough samples for several batches, at most ~30 M floats in memory.
        let samples = max(2 * batch, min(4096, 30_000_000 / sampleShape.reduce(1, *)))
        let dataset = SyntheticDataset.make(count: samples, sampleShape: sampleShape, classes: classes, seed: 1)
        let network = try ModelZoo.make(arch, inputShape: sampleShape, classes: classes, backend: backend)
        network.initialize(seed: 0)
        let optimizer = SGD(learningRate: 0.01, momentum: 0.9, weightDecay: 5e-4, backend: backend)
        report.layout = "\(backend.activationLayout)"
        // The runs' own step (batch fill, learning rate, forward, loss, backward, SGD), not a copy of it.
        let training = try TrainingSteps(network: network, optimizer: optimizer, dataset: dataset, batchSize: batch, learningRate: 0.01,
                                         learningRateDrops: [], augmentation: .none, seed: 0)
        var step = 0
        func runSteps(_ count: Int) throws {
            for _ in 0..<count {
                try training.run(step: step)
                step += 1
            }
        }
        // Warm up (primitive creation, page faults) and calibrate the steps per window.
        let warmStart = monotonicSeconds()
        try runSteps(3)
        let perStep = (monotonicSeconds() - warmStart) / 3
        let stepsPerWindow = max(2, Int(seconds / perStep))
        // The machine is shared and its speed drifts: measure sgemm right before every window and
        // report the median of the per-window ratios next to the median rate.
        let flopsPerImage = 3 * 2 * Double(try network.multiplyAddsPerSample())
        var rates: [Double] = [], ratios: [Double] = [], sgemms: [Double] = [report.sgemmGflops]
        for _ in 0..<windows {
            let sgemm = Self.sgemmGFLOPS(size: 2048)
            let start = monotonicSeconds()
            try runSteps(stepsPerWindow)
            let rate = Double(stepsPerWindow * batch) / (monotonicSeconds() - start)
            rates.append(rate)
            sgemms.append(sgemm)
            ratios.append(rate * flopsPerImage / 1e9 / sgemm)
        }
        rates.sort(); ratios.sort(); sgemms.sort()
        if profile {
            // The profile times each layer of the step apart, so it runs its pieces itself.
            let loader = BatchLoader(dataset: dataset, batchSize: batch, shuffle: true, augmentation: .none, seed: 0, dropLast: true)
            try printProfile(network: network, loader: loader, images: Tensor(shape: [batch] + sampleShape), optimizer: optimizer,
                             perStepEstimate: perStep)
        }
        let median = rates[rates.count / 2]
        report.sgemmGflops = sgemms[sgemms.count / 2]
        report.architecture = arch
        report.batch = batch
        report.flopsPerImage = flopsPerImage
        report.imagesPerSecond = median
        report.imagesPerSecondMin = rates.first
        report.imagesPerSecondMax = rates.last
        report.gflops = median * flopsPerImage / 1e9
        report.ratio = ratios[ratios.count / 2]
        report.ratioMin = ratios.first
        report.ratioMax = ratios.last
        report.windows = windows
        report.stepsPerWindow = stepsPerWindow
        // Which convolution each layer ran (on a GPU: cuDNN and its algorithms, or im2col + cuBLAS).
        let implementations = network.leafLayers.compactMap { $0 as? Conv2d }.flatMap(\.kernelImplementations)
        if !implementations.isEmpty {
            report.convolutions = Dictionary(grouping: implementations, by: { $0 })
                .map { ConvolutionUse(implementation: $0.key, layers: $0.value.count) }
                .sorted { ($0.layers, $1.implementation) > ($1.layers, $0.implementation) }
        }
    }
}

/// How many convolution layers of a benchmarked network ran one implementation.
struct ConvolutionUse: Encodable {
    var implementation: String
    var layers: Int
}

struct SweepBenchOutput: Encodable {
    var lenet300: BenchReport
    var sweep: SweepBench.Report
}

struct BenchReport: Encodable {
    var bench: String
    var device: String
    var sgemmGflops: Double
    var architecture: String?
    var batch: Int?
    var flopsPerImage: Double?
    var imagesPerSecond: Double?
    var imagesPerSecondMin: Double?
    var imagesPerSecondMax: Double?
    var gflops: Double?
    var ratio: Double?
    var ratioMin: Double?
    var ratioMax: Double?
    var windows: Int?
    var stepsPerWindow: Int?
    var layout: String?
    var convolutions: [ConvolutionUse]?
    var effective: [EffectiveBenchRow]?
    var effectivePruning: EffectivePruningBenchRow?
    var onnxEffective: ONNXEffectiveBenchRow?

    var summary: String {
        var lines = [String(format: "sgemm 2048²: %.1f GFLOP/s median (%@, %d threads)", sgemmGflops, device, Parallel.threads)]
        if let architecture, let batch, let imagesPerSecond, let gflops, let ratio, let flopsPerImage {
            lines.append(String(format: "%@ batch %d (%@ activations): %.0f images/s (min %.0f, max %.0f), %.3f MFLOP/image, %.1f GFLOP/s",
                                architecture, batch, layout ?? "?", imagesPerSecond, imagesPerSecondMin ?? 0, imagesPerSecondMax ?? 0,
                                flopsPerImage / 1e6, gflops))
            lines.append(String(format: "ratio to sgemm measured before each window: median %.1f%% (min %.1f%%, max %.1f%%)",
                                100 * ratio, 100 * (ratioMin ?? 0), 100 * (ratioMax ?? 0)))
        }
        for use in convolutions ?? [] {
            lines.append("convolution layers: \(use.layers) × \(use.implementation)")
        }
        for row in effective ?? [] {
            lines.append(String(format: "effective masks %@ %@ (%d weights): %.3f s (min %.3f, setup %.3f s) at direct %.0f×, effective %.0f×",
                                row.architecture, "\(row.inputShape)", row.prunableParameters, row.seconds, row.secondsMin,
                                row.setupSeconds, row.directCompression, row.effectiveCompression))
        }
        if let row = onnxEffective {
            lines.append(String(format: "effective masks of %@ (%d weights) on the same byte masks: zoo %@ %.4f s, ONNX graph %@ %.4f s (median of %d, alternating): ONNX / zoo = %.2f; setup zoo %.3f s, ONNX %.3f s (reading the file included)",
                                row.architecture, row.prunableParameters, row.architecture, row.zooSeconds, row.file, row.onnxSeconds,
                                row.repetitions, row.ratio, row.zooSetupSeconds, row.onnxSetupSeconds))
        }
        if let row = effectivePruning {
            lines.append(String(format: "effective %@ pruning of %@ to %.0f×: %.2f s (%d probes), direct %.1f×, effective %.1f×",
                                row.pruner, row.architecture, row.targetEffectiveCompression, row.seconds, row.probes,
                                row.directCompression, row.effectiveCompression))
        }
        return lines.joined(separator: "\n")
    }
}

extension BenchCommand {
    /// Times each top-level layer's forward and backward, the loss, the optimiser step and the batch fill.
    func printProfile(network: Network, loader: BatchLoader, images: Tensor, optimizer: SGD, perStepEstimate: Double) throws {
        let layers = network.body.layers
        var forward = [Double](repeating: 0, count: layers.count), backward = forward
        var fill = 0.0, loss = 0.0, step = 0.0
        var labels = [Int32](repeating: 0, count: images.rows)
        let steps = max(5, min(200, Int(3 * seconds / max(perStepEstimate, 1e-6))))
        let backend = CPUBackend.shared
        // As in Sequential.backward: no input gradients below the first layer with parameters.
        let firstTrainable = layers.firstIndex { !$0.parameters.isEmpty } ?? layers.count
        let gradient = Tensor(shape: try network.body.outputShape(for: images.shape))
        try labels.withUnsafeMutableBufferPointer { labels in
            loader.startEpoch(1)
            for s in 0..<steps {
                var t = monotonicSeconds()
                loader.fill(batch: s % loader.batchesPerEpoch, images: images, labels: labels.baseAddress!)
                fill += monotonicSeconds() - t
                var x = images
                for (i, layer) in layers.enumerated() {
                    t = monotonicSeconds()
                    x = try layer.forward(x, training: true)
                    forward[i] += monotonicSeconds() - t
                }
                t = monotonicSeconds()
                _ = backend.softmaxCrossEntropy(logits: x, labels: labels.baseAddress!, rows: images.rows, logitsGradient: gradient)
                loss += monotonicSeconds() - t
                var g = gradient
                for i in layers.indices.reversed() where i >= firstTrainable {
                    t = monotonicSeconds()
                    if let next = try layers[i].backward(g, needsInputGradient: i > firstTrainable) { g = next }
                    backward[i] += monotonicSeconds() - t
                }
                t = monotonicSeconds()
                optimizer.step(network.parameters)
                step += monotonicSeconds() - t
            }
        }
        let total = forward.reduce(0, +) + backward.reduce(0, +) + fill + loss + step
        func line(_ name: String, _ seconds: Double) -> String {
            String(format: "  %-40@ %8.1f µs/step %5.1f%%", name, seconds / Double(steps) * 1e6, 100 * seconds / total)
        }
        print("profile over \(steps) steps (µs per step):")
        print(line("batch fill", fill))
        for (i, layer) in layers.enumerated() {
            print(line("forward  " + layer.description, forward[i]))
        }
        print(line("softmax cross-entropy", loss))
        for i in layers.indices.reversed() {
            print(line("backward " + layers[i].description, backward[i]))
        }
        print(line("SGD step", step))
        print(line("total", total))
    }
}

struct ServiceBenchOutput: Encodable {
    var bench = "service"
    var sgemmGflops: Double
    var service: ServiceBench.Report
}
