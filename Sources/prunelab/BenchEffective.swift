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

extension BenchCommand {
    static let effectiveArchitectures = ["lenet300-100", "lenet5", "vgg16", "vgg19", "resnet18", "resnet20", "resnet50", "mobilenetv2"]

    /// Times `EffectiveMasks` on uniformly random masks at 100× for each architecture.
    func measureEffectiveMasks(architectures: [String], repetitions: Int) throws -> [EffectiveBenchRow] {
        try architectures.map { arch in
            let network = try ModelZoo.make(arch)
            var start = monotonicSeconds()
            let effective = try EffectiveMasks(network: network)
            let setup = monotonicSeconds() - start
            var rng = RandomGenerator(seed: 1, stream: "bench-masks")
            let masks: [Tensor?] = network.prunableParameters.map { parameter in
                let mask = Tensor(shape: parameter.shape)
                for i in 0..<mask.count { mask[i] = rng.nextUniform() < 0.01 ? 1 : 0 }
                return mask
            }
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
