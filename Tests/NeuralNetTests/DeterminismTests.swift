import Testing
import Tensors
@testable import NeuralNet

@Suite("Same seed, same data ⇒ bit-identical training")
struct DeterminismTests {
    /// Trains a fresh network for `steps` steps and returns every parameter's and buffer's bit patterns.
    func train(arch: String, sampleShape: [Int], initSeed: UInt64, steps: Int) throws -> (parameters: [[UInt32]], buffers: [[UInt32]]) {
        let network = try ModelZoo.make(arch, inputShape: sampleShape, classes: 3)
        network.initialize(seed: initSeed)
        let optimizer = SGD(learningRate: 0.02, momentum: 0.9, weightDecay: 5e-4)
        let batches = (0..<3).map { SyntheticBatch(batch: 8, sampleShape: sampleShape, classes: 3, seed: 50 + UInt64($0)) }
        for step in 0..<steps { try batches[step % batches.count].trainStep(network, optimizer) }
        return (network.parameters.map { $0.value.array.map(\.bitPattern) },
                network.buffers.map { $0.tensor.array.map(\.bitPattern) })
    }

    @Test(arguments: [("lenet5", [2, 16, 16]), ("lenet300-100", [1, 8, 8])])
    func thirtyStepsAreBitIdentical(arch: String, sampleShape: [Int]) throws {
        let first = try train(arch: arch, sampleShape: sampleShape, initSeed: 5, steps: 30)
        let second = try train(arch: arch, sampleShape: sampleShape, initSeed: 5, steps: 30)
        #expect(first.parameters.count == second.parameters.count)
        for (index, (a, b)) in zip(first.parameters, second.parameters).enumerated() {
            #expect(a == b, "parameter \(index) differs between identical runs")
        }
        #expect(!first.buffers.isEmpty)
        for (index, (a, b)) in zip(first.buffers, second.buffers).enumerated() {
            #expect(a == b, "buffer \(index) differs between identical runs")
        }
        // Training happened: the running means moved away from their initial zeros.
        let runningMeanMoved = first.buffers[0].contains { $0 != 0 }
        #expect(runningMeanMoved)
    }

    @Test func differentInitSeedGivesDifferentWeights() throws {
        let a = try ModelZoo.make("lenet300-100", inputShape: [1, 8, 8], classes: 3)
        let b = try ModelZoo.make("lenet300-100", inputShape: [1, 8, 8], classes: 3)
        a.initialize(seed: 1)
        b.initialize(seed: 2)
        for (pa, pb) in zip(a.prunableParameters, b.prunableParameters) {
            var equal = 0
            for i in 0..<pa.count where pa.value[i] == pb.value[i] { equal += 1 }
            #expect(equal == 0, "\(pa.shape): \(equal) weights coincide across seeds")
        }
        // And the same seed twice reproduces the weights exactly.
        b.initialize(seed: 1)
        for (pa, pb) in zip(a.parameters, b.parameters) { #expect(pa.value.array == pb.value.array) }
    }
}
