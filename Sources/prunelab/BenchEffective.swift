import Experiments
import Foundation
import ONNX
import NeuralNet
import Pruning
import Tensors

/// `prunelab bench effective`: how long exact effective masks take per architecture.
struct EffectiveBenchRow: Encodable {
    var architecture: String
    var inputShape: [Int]
    var prunableParameters: Int
    /// Building the path graph (kernels, buffers) once per network.
    var setupSeconds: Double
    /// One effective-mask computation (median over repetitions) at the given compression.
    var seconds: Double
    var secondsMin: Double
    var directCompression: Double
    var effectiveCompression: Double
}

/// `prunelab bench effective --arch A --onnx F`: an imported graph against the zoo's, same masks.
struct ONNXEffectiveBenchRow: Encodable {
    var architecture: String
    var file: String
    var prunableParameters: Int
    var repetitions: Int
    var zooSeconds: Double
    var onnxSeconds: Double
    /// onnxSeconds / zooSeconds, measured alternately in one sitting.
    var ratio: Double
    var zooSetupSeconds: Double
    var onnxSetupSeconds: Double
}

/// One timed effective-pruning call (`prunelab bench effective`).
struct EffectivePruningBenchRow: Encodable {
    var architecture: String
    var pruner: String
    var targetEffectiveCompression: Double
    /// Whole call: rankings, effective-target probes (masks + effective masks each), report.
    var seconds: Double
    var probes: Int
    var directCompression: Double
    var effectiveCompression: Double
}

extension BenchCommand {
    /// Effective random pruning of VGG-16 to 1000× (the paper's Algorithm 1), the speed target.
    func measureEffectivePruning(architecture: String = "vgg16", pruner name: String = "random/uniform",
                                 compression: Double = 1000) throws -> EffectivePruningBenchRow {
        let network = try ModelZoo.make(architecture)
        network.initialize(seed: 0)
        let start = monotonicSeconds()
        let outcome = try Pruner(name).prune(network, options: PruningOptions(compression: compression, mode: .effective, seed: 0))
        return EffectivePruningBenchRow(architecture: architecture, pruner: name, targetEffectiveCompression: compression,
                                        seconds: monotonicSeconds() - start, probes: outcome.probes,
                                        directCompression: outcome.report.directCompression,
                                        effectiveCompression: outcome.report.effectiveCompression)
    }

    static let effectiveArchitectures = ["lenet300-100", "lenet5", "vgg16", "vgg19", "resnet18", "resnet20", "resnet50", "mobilenetv2"]

    /// Times `EffectiveMasks` on random/uniform masks at 100× for each architecture.
    func measureEffectiveMasks(architectures: [String], repetitions: Int) throws -> [EffectiveBenchRow] {
        try architectures.map { arch in
            let network = try ModelZoo.make(arch)
            var start = monotonicSeconds()
            let effective = try EffectiveMasks(network: network)
            let setup = monotonicSeconds() - start
            let masks: [Tensor?] = try Pruner("random/uniform").prune(network, options: PruningOptions(compression: 100, seed: 1),
                                                                      effectiveMasks: effective).masks
            var times: [Double] = []
            var report: SparsityReport?
            for _ in 0..<max(repetitions, 1) {
                start = monotonicSeconds()
                report = try effective.compute(masks).report
                times.append(monotonicSeconds() - start)
            }
            times.sort()
            return EffectiveBenchRow(architecture: arch, inputShape: network.inputShape, prunableParameters: network.prunableParameterCount,
                                     setupSeconds: setup, seconds: times[times.count / 2], secondsMin: times[0],
                                     directCompression: report!.directCompression, effectiveCompression: report!.effectiveCompression)
        }
    }

    /// Effective masks of random/uniform 100× byte masks on the zoo network and on the ONNX graph
    /// of the same architecture, alternating calls so both see the same machine.
    func measureONNXEffective(path: String, architecture: String, repetitions: Int) throws -> ONNXEffectiveBenchRow {
        let network = try ModelZoo.make(architecture)
        var start = monotonicSeconds()
        let zoo = try EffectiveMasks(network: network)
        let zooSetup = monotonicSeconds() - start
        start = monotonicSeconds()
        let graph = try ONNXGraph(model: ONNXModel(contentsOf: URL(fileURLWithPath: path)))
        let onnxSetup = monotonicSeconds() - start
        guard graph.weightShapes == zoo.shapes else {
            throw InvalidOption(option: "--onnx", reason: "\(path)'s weights \(graph.weightShapes.count) do not match \(architecture)'s \(zoo.shapes.count) in order and shape")
        }
        let masks = try Pruner("random/uniform").prune(network, options: PruningOptions(compression: 100, seed: 1), effectiveMasks: zoo)
            .masks.map { BinaryMask.from($0).mask! }
        var zooTimes: [Double] = [], onnxTimes: [Double] = []
        for _ in 0..<max(repetitions, 1) {
            start = monotonicSeconds()
            let expected = try zoo.compute(masks).masks
            zooTimes.append(monotonicSeconds() - start)
            start = monotonicSeconds()
            let got = try graph.compute(masks).masks
            onnxTimes.append(monotonicSeconds() - start)
            guard got == expected else { throw InvalidOption(option: "--onnx", reason: "effective masks differ from \(architecture)'s") }
        }
        zooTimes.sort()
        onnxTimes.sort()
        let zooMedian = zooTimes[zooTimes.count / 2], onnxMedian = onnxTimes[onnxTimes.count / 2]
        return ONNXEffectiveBenchRow(architecture: architecture, file: URL(fileURLWithPath: path).lastPathComponent,
                                     prunableParameters: network.prunableParameterCount, repetitions: zooTimes.count,
                                     zooSeconds: zooMedian, onnxSeconds: onnxMedian, ratio: onnxMedian / zooMedian,
                                     zooSetupSeconds: zooSetup, onnxSetupSeconds: onnxSetup)
    }
}
