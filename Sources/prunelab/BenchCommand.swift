import ArgumentParser
import CDNNL
import Datasets
import Foundation
import NeuralNet
import Tensors

/// `prunelab bench`: speed figures next to the machine's own sgemm, measured in the same run.
struct BenchCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bench",
        abstract: "Measure training speed against oneDNN's sgemm on 2048² in the same run.",
        discussion: """
            gemm: dnnl_sgemm GFLOP/s on 2048² (best of 5).
            lenet300: LeNet-300-100 training at batch 100; lenet5: LeNet-5 (3×32×32) at batch 128.
            Training GFLOP/s = images/s × 3 × forward FLOPs (2 × multiply-adds of dense/conv layers).
            """)

    enum Target: String, ExpressibleByArgument, CaseIterable {
        case gemm, lenet300, lenet5
    }

    @Argument(help: "What to measure: gemm, lenet300 or lenet5.")
    var target: Target
    @Option(help: "Length of each timed window in seconds.")
    var seconds: Double = 2
    @Option(help: "Number of timed windows (the median is reported).")
    var windows: Int = 5
    @Option(help: "Batch size (default: 100 for lenet300, 128 for lenet5).")
    var batchSize: Int?
    @Flag(help: "Print one JSON object on stdout.")
    var json = false

    func run() throws {
        guard seconds > 0 else { throw InvalidOption(option: "--seconds", reason: "must be positive, got \(seconds)") }
        guard windows >= 1 else { throw InvalidOption(option: "--windows", reason: "must be at least 1, got \(windows)") }
        if let batchSize, batchSize < 1 { throw InvalidOption(option: "--batch-size", reason: "must be at least 1, got \(batchSize)") }
        let sgemm = Self.sgemmGFLOPS(size: 2048)
        var report = BenchReport(bench: target.rawValue, device: CPUBackend.shared.name, sgemmGflops: sgemm)
        switch target {
        case .gemm:
            report.gflops = sgemm
            report.ratio = 1
        case .lenet300:
            try measureTraining(arch: "lenet300-100", sampleShape: [1, 28, 28], batch: batchSize ?? 100, into: &report)
        case .lenet5:
            try measureTraining(arch: "lenet5", sampleShape: [3, 32, 32], batch: batchSize ?? 128, into: &report)
        }
        if json {
            try printJSON(report)
        } else {
            print(report.summary)
        }
    }

    /// dnnl_sgemm on n×n×n, best of 5 after one warm-up, as in shared/anchors/sgemm_peak.c.
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
    func measureTraining(arch: String, sampleShape: [Int], batch: Int, into report: inout BenchReport) throws {
        let dataset = SyntheticDataset.make(count: max(4096, 2 * batch), sampleShape: sampleShape, classes: 10, seed: 1)
        let network = try ModelZoo.make(arch, inputShape: sampleShape, classes: 10)
        network.initialize(seed: 0)
        let optimizer = SGD(learningRate: 0.01, momentum: 0.9, weightDecay: 5e-4)
        let loader = BatchLoader(dataset: dataset, batchSize: batch, shuffle: true, augmentation: .none, seed: 0, dropLast: true)
        let images = Tensor(shape: [batch] + sampleShape)
        var labels = [Int32](repeating: 0, count: batch)
        var step = 0, epoch = 0
        func runSteps(_ count: Int) throws {
            try labels.withUnsafeMutableBufferPointer { labels in
                for _ in 0..<count {
                    if step % loader.batchesPerEpoch == 0 { epoch += 1; loader.startEpoch(epoch) }
                    loader.fill(batch: step % loader.batchesPerEpoch, images: images, labels: labels.baseAddress!)
                    _ = try network.trainStep(images: images, labels: labels.baseAddress!, optimizer: optimizer)
                    step += 1
                }
            }
        }
        // Warm up (primitive creation, page faults) and calibrate the steps per window.
        let warmStart = monotonicSeconds()
        try runSteps(20)
        let perStep = (monotonicSeconds() - warmStart) / 20
        let stepsPerWindow = max(10, Int(seconds / perStep))
        var rates: [Double] = []
        for _ in 0..<windows {
            let start = monotonicSeconds()
            try runSteps(stepsPerWindow)
            rates.append(Double(stepsPerWindow * batch) / (monotonicSeconds() - start))
        }
        rates.sort()
        let flopsPerImage = 3 * 2 * Double(try network.multiplyAddsPerSample())
        let median = rates[rates.count / 2]
        report.architecture = arch
        report.batch = batch
        report.flopsPerImage = flopsPerImage
        report.imagesPerSecond = median
        report.imagesPerSecondMin = rates.first
        report.imagesPerSecondMax = rates.last
        report.gflops = median * flopsPerImage / 1e9
        report.ratio = report.gflops! / report.sgemmGflops
        report.windows = windows
        report.stepsPerWindow = stepsPerWindow
    }
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
    var windows: Int?
    var stepsPerWindow: Int?

    var summary: String {
        var lines = [String(format: "sgemm 2048²: %.1f GFLOP/s (%@)", sgemmGflops, device)]
        if let architecture, let batch, let imagesPerSecond, let gflops, let ratio, let flopsPerImage {
            lines.append(String(format: "%@ batch %d: %.0f images/s (min %.0f, max %.0f), %.3f MFLOP/image, %.1f GFLOP/s = %.1f%% of sgemm",
                                architecture, batch, imagesPerSecond, imagesPerSecondMin ?? 0, imagesPerSecondMax ?? 0,
                                flopsPerImage / 1e6, gflops, 100 * ratio))
        }
        return lines.joined(separator: "\n")
    }
}
