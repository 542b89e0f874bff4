import Experiments
import Foundation
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
}
