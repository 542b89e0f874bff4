import Testing
import Tensors
@testable import NeuralNet

@Suite("SGD and the step schedule")
struct SGDTests {
    func parameter(_ role: Parameter.Role, decays: Bool, values: [Float], gradient: [Float]) -> Parameter {
        let p = Parameter(name: role.rawValue, role: role, shape: [values.count], isPrunable: role == .weight, decays: decays)
        for i in values.indices { p.value[i] = values[i]; p.gradient[i] = gradient[i] }
        return p
    }

    func expectClose(_ got: [Float], _ want: [Double], sourceLocation: SourceLocation = #_sourceLocation) {
        for (g, w) in zip(got, want) {
            #expect(abs(Double(g) - w) <= 1e-6 * max(1, abs(w)), "got \(got), want \(want)", sourceLocation: sourceLocation)
        }
    }

    /// lr 0.1, momentum 0.9, weight decay 0.1; both parameters start at (1, −2) with gradient (0.5, 0.5).
    /// Weight (decays):  step 1 v = (0.5 + 0.1, 0.5 − 0.2) = (0.6, 0.3), w = (0.94, −2.03);
    ///                   step 2 v = (0.54 + 0.5 + 0.094, 0.27 + 0.5 − 0.203) = (1.134, 0.567), w = (0.8266, −2.0867).
    /// Bias (no decay):  step 1 v = (0.5, 0.5), w = (0.95, −2.05);
    ///                   step 2 v = (0.95, 0.95), w = (0.855, −2.145).
    @Test func twoHandComputedStepsDecayOnlyKernels() throws {
        let weight = parameter(.weight, decays: true, values: [1, -2], gradient: [0.5, 0.5])
        let bias = parameter(.bias, decays: false, values: [1, -2], gradient: [0.5, 0.5])
        let optimizer = SGD(learningRate: 0.1, momentum: 0.9, weightDecay: 0.1)
        #expect(optimizer.velocity(of: weight) == nil)
        optimizer.step([weight, bias])
        expectClose(weight.value.array, [0.94, -2.03])
        expectClose(bias.value.array, [0.95, -2.05])
        expectClose(try #require(optimizer.velocity(of: weight)).array, [0.6, 0.3])
        optimizer.step([weight, bias])
        expectClose(weight.value.array, [0.8266, -2.0867])
        expectClose(bias.value.array, [0.855, -2.145])
        expectClose(try #require(optimizer.velocity(of: weight)).array, [1.134, 0.567])
        expectClose(try #require(optimizer.velocity(of: bias)).array, [0.95, 0.95])
    }

    /// In a real model, a zero gradient leaves biases and BatchNorm scale/shift untouched
    /// (no decay) while kernels shrink by exactly (1 − lr·decay).
    @Test func weightDecayOnlyOnDecayingParametersOfAModel() throws {
        let network = try ModelZoo.make("lenet5", inputShape: [1, 16, 16], classes: 3)
        network.initialize(seed: 4)
        for p in network.parameters where p.role != .weight {
            for i in 0..<p.count { p.value[i] = 0.25 + Float(i % 3) }
        }
        let before = network.parameters.map { $0.value.array }
        for p in network.parameters { p.gradient.fill(0) }
        SGD(learningRate: 0.5, momentum: 0.9, weightDecay: 0.01).step(network.parameters)
        for (p, old) in zip(network.parameters, before) {
            if p.decays {
                #expect(p.role == .weight)
                var worst: Float = 0
                for i in 0..<p.count { worst = max(worst, abs(p.value[i] - old[i] * (1 - 0.5 * 0.01))) }
                #expect(worst < 1e-6, "\(p.role) \(p.shape) shrank wrongly by up to \(worst)")
            } else {
                #expect(p.value.array == old, "\(p.role) \(p.shape) changed without a gradient")
            }
        }
    }

    @Test func learningRateChangesApplyToTheNextStep() {
        let weight = parameter(.weight, decays: false, values: [1], gradient: [1])
        let optimizer = SGD(learningRate: 0.1)
        optimizer.step([weight])            // v = 1, w = 0.9
        optimizer.learningRate = 0.01
        optimizer.step([weight])            // momentum 0: v = 1, w = 0.89
        expectClose(weight.value.array, [0.89])
    }

    @Test(arguments: [
        ([9], [(1, 0.1), (8, 0.1), (9, 0.01), (10, 0.01), (30, 0.01)]),
        ([3, 6], [(1, 0.1), (2, 0.1), (3, 0.01), (5, 0.01), (6, 0.001), (100, 0.001)]),
        ([6, 3], [(2, 0.1), (3, 0.01), (6, 0.001)]),   // milestones are sorted
        ([], [(1, 0.1), (1000, 0.1)]),
    ])
    func stepSchedule(milestones: [Int], expected: [(Int, Double)]) {
        let schedule = StepSchedule(base: 0.1, milestones: milestones)
        for (unit, rate) in expected {
            let got = Double(schedule.rate(at: unit))
            #expect(abs(got - rate) <= 1e-6 * rate, "epoch \(unit): \(got), want \(rate)")
        }
    }

    @Test func stepScheduleWithAnotherFactor() {
        let schedule = StepSchedule(base: 2, milestones: [2, 4], factor: 0.5)
        #expect([1, 2, 3, 4, 5].map { schedule.rate(at: $0) } == [2, 1, 1, 0.5, 0.5])
    }
}
