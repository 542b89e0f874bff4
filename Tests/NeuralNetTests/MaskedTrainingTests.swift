import Testing
import Tensors
@testable import NeuralNet

@Suite("Masked weights stay exactly zero through training")
struct MaskedTrainingTests {
    struct Case: CustomTestStringConvertible, Sendable {
        let arch: String, sampleShape: [Int], classes: Int
        var testDescription: String { "\(arch) on \(sampleShape)" }
    }

    static let cases = [
        Case(arch: "lenet300-100", sampleShape: [1, 8, 8], classes: 4),
        Case(arch: "lenet5", sampleShape: [1, 16, 16], classes: 4),
    ]

    @Test(arguments: cases)
    func twentyStepsKeepMaskedWeightsAndVelocitiesAtZero(_ c: Case) throws {
        let network = try ModelZoo.make(c.arch, inputShape: c.sampleShape, classes: c.classes)
        network.initialize(seed: 11)
        for (index, parameter) in network.prunableParameters.enumerated() {
            parameter.setMask(randomMask(parameter.shape, keep: 0.5, seed: UInt64(100 + index)))
        }
        let initial = network.prunableParameters.map { $0.value.array }
        let optimizer = SGD(learningRate: 0.05, momentum: 0.9, weightDecay: 5e-4)
        let data = SyntheticBatch(batch: 16, sampleShape: c.sampleShape, classes: c.classes, seed: 12)
        let firstLoss = try data.trainStep(network, optimizer).lossSum
        for _ in 1..<20 { try data.trainStep(network, optimizer) }
        let lastLoss = try data.trainStep(network, optimizer).lossSum
        #expect(lastLoss < firstLoss, "training on one batch should lower its loss: \(firstLoss) → \(lastLoss)")

        for (parameter, before) in zip(network.prunableParameters, initial) {
            let mask = try #require(parameter.mask)
            let velocity = try #require(optimizer.velocity(of: parameter))
            var maskedNonZero = 0, maskedVelocityNonZero = 0, kept = 0, keptChanged = 0
            for i in 0..<parameter.count {
                if mask[i] == 0 {
                    if parameter.value[i] != 0 { maskedNonZero += 1 }
                    if velocity[i] != 0 { maskedVelocityNonZero += 1 }
                } else {
                    kept += 1
                    if parameter.value[i] != before[i] { keptChanged += 1 }
                }
            }
            #expect(maskedNonZero == 0, "\(parameter.shape): \(maskedNonZero) masked weights are not 0")
            #expect(maskedVelocityNonZero == 0, "\(parameter.shape): \(maskedVelocityNonZero) masked velocities are not 0")
            // About half kept (Binomial(n, 1/2) with n ≥ 150: within 35 % – 65 %).
            #expect(Double(kept) > 0.35 * Double(parameter.count) && Double(kept) < 0.65 * Double(parameter.count))
            #expect(parameter.keptCount == kept)
            // Every kept weight sees weight decay at least, so all of them move.
            #expect(keptChanged == kept, "\(parameter.shape): only \(keptChanged) of \(kept) kept weights changed")
        }
    }

    @Test func setMaskZeroesAtOnceAndInitializeReappliesIt() throws {
        let network = try ModelZoo.make("lenet300-100", inputShape: [1, 8, 8], classes: 4)
        network.initialize(seed: 1)
        let weight = network.prunableParameters[0]
        let mask = randomMask(weight.shape, keep: 0.3, seed: 2)
        weight.setMask(mask)
        var violations = 0
        for i in 0..<weight.count where mask[i] == 0 && weight.value[i] != 0 { violations += 1 }
        #expect(violations == 0)
        network.initialize(seed: 3)
        violations = 0
        var keptNonZero = 0
        for i in 0..<weight.count {
            if mask[i] == 0 && weight.value[i] != 0 { violations += 1 }
            if mask[i] == 1 && weight.value[i] != 0 { keptNonZero += 1 }
        }
        #expect(violations == 0, "initialize must reapply the mask")
        #expect(keptNonZero == weight.keptCount, "kept weights are freshly drawn (non-zero)")
    }

    @Test func unmaskedParameterKeepsAllWeights() {
        let parameter = Parameter(name: "w", role: .weight, shape: [3, 4], isPrunable: true, decays: true)
        #expect(parameter.mask == nil)
        #expect(parameter.keptCount == 12)
        parameter.setMask(Tensor(shape: [3, 4], values: [1, 0, 0, 1, 1, 1, 0, 0, 0, 0, 0, 1]))
        #expect(parameter.keptCount == 5)
    }
}
