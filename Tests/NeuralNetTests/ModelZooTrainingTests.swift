import Testing
import Tensors
@testable import NeuralNet

/// Mean softmax cross-entropy of `network` on a batch, forward only.
func meanLoss(_ network: Network, _ batch: SyntheticBatch, training: Bool) throws -> (loss: Double, logits: [Float]) {
    let logits = try network.forward(batch.images, training: training)
    let values = try CPUBackend.shared.plainValues(of: logits)
    let rows = batch.labels.count
    let result = batch.labels.withUnsafeBufferPointer {
        CPUBackend.shared.softmaxCrossEntropy(logits: logits, labels: $0.baseAddress!, rows: rows, logitsGradient: nil)
    }
    return (result.lossSum / Double(rows), values)
}

@Suite("ModelZoo forward passes and training steps")
struct ModelZooTrainingTests {
    struct Case: CustomTestStringConvertible, Sendable {
        let arch: String
        /// nil: the architecture's default input.
        let inputShape: [Int]?
        let batch: Int
        var testDescription: String { "\(arch) \(inputShape.map { "\($0)" } ?? "default") ×\(batch)" }
    }

    /// Every architecture at its default input; the heavy ones at batch 1–2 to stay fast in debug builds.
    static let defaultInputs: [Case] = [
        Case(arch: "lenet300-100", inputShape: nil, batch: 4), Case(arch: "lenet5", inputShape: nil, batch: 4),
        Case(arch: "vgg16", inputShape: nil, batch: 2), Case(arch: "vgg19", inputShape: nil, batch: 2),
        Case(arch: "resnet18", inputShape: nil, batch: 2), Case(arch: "resnet20", inputShape: nil, batch: 2),
        Case(arch: "resnet50", inputShape: nil, batch: 1), Case(arch: "mobilenetv2", inputShape: nil, batch: 2),
    ]

    @Test(arguments: defaultInputs)
    func forwardGivesFiniteLogitsAndLoss(_ c: Case) throws {
        let network = try ModelZoo.make(c.arch, inputShape: c.inputShape)
        network.initialize(seed: 11)
        let batch = SyntheticBatch(batch: c.batch, sampleShape: network.inputShape, classes: network.classes, seed: 12)
        for training in [true, false] {
            let output = try network.forward(batch.images, training: training)
            #expect(output.shape == [c.batch, network.classes], "training \(training)")
            let (loss, logits) = try meanLoss(network, batch, training: training)
            #expect(logits.count == c.batch * network.classes)
            let finite = logits.allSatisfy(\.isFinite)
            #expect(finite, "\(c.arch) training \(training): non-finite logits")
            #expect(loss.isFinite && loss > 0, "\(c.arch) training \(training): loss \(loss)")
        }
    }

    /// Train-mode steps on small inputs where the architecture allows it (all but the LeNets are
    /// fully convolutional up to a global pool or, for VGG, need exactly 32×32).
    static let trainingInputs: [Case] = [
        Case(arch: "lenet300-100", inputShape: nil, batch: 4), Case(arch: "lenet5", inputShape: nil, batch: 4),
        Case(arch: "vgg16", inputShape: [3, 32, 32], batch: 4), Case(arch: "vgg19", inputShape: [3, 32, 32], batch: 4),
        Case(arch: "resnet18", inputShape: [3, 32, 32], batch: 4), Case(arch: "resnet20", inputShape: [3, 32, 32], batch: 4),
        Case(arch: "resnet50", inputShape: [3, 32, 32], batch: 4), Case(arch: "mobilenetv2", inputShape: [3, 32, 32], batch: 4),
    ]

    /// One plain SGD step (no momentum, no decay) on a fixed batch lowers that batch's loss; both
    /// losses in train mode, so BatchNorm normalises with the batch's own statistics each time.
    @Test(arguments: trainingInputs)
    func oneSGDStepLowersTheLoss(_ c: Case) throws {
        let network = try ModelZoo.make(c.arch, inputShape: c.inputShape)
        network.initialize(seed: 21)
        let batch = SyntheticBatch(batch: c.batch, sampleShape: network.inputShape, classes: network.classes, seed: 22)
        let (before, _) = try meanLoss(network, batch, training: true)
        let optimizer = SGD(learningRate: 0.01, momentum: 0, weightDecay: 0)
        let step = try batch.trainStep(network, optimizer)
        // trainStep reports the summed loss of the same train-mode forward pass.
        #expect(abs(step.lossSum / Double(c.batch) - before) <= 1e-4 * max(1, before), "\(step.lossSum / Double(c.batch)) vs \(before)")
        // The gradient reaches both ends of the network.
        for parameter in [network.prunableParameters.first!, network.prunableParameters.last!] {
            var norm = 0.0
            for i in 0..<parameter.count { norm += Double(parameter.gradient[i]) * Double(parameter.gradient[i]) }
            #expect(norm.isFinite && norm > 0, "\(c.arch) \(parameter.shape): gradient norm² \(norm)")
        }
        let (after, logits) = try meanLoss(network, batch, training: true)
        let finite = logits.allSatisfy(\.isFinite)
        #expect(finite)
        #expect(after < before, "\(c.arch): loss \(before) → \(after) after one step")
    }
}
