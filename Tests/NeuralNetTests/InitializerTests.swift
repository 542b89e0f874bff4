import Testing
import Tensors
@testable import NeuralNet

@Suite("Kaiming normal fan_avg initialisation")
struct InitializerTests {
    static func moments(_ values: [Float]) -> (mean: Double, std: Double) {
        let n = Double(values.count)
        let mean = values.reduce(0.0) { $0 + Double($1) } / n
        let variance = values.reduce(0.0) { $0 + (Double($1) - mean) * (Double($1) - mean) } / n
        return (mean, variance.squareRoot())
    }

    /// std = sqrt(2 / ((784 + 300) / 2)) = sqrt(4 / 1084) ≈ 0.060745. With n = 235 200 samples the
    /// sample std has relative standard error 1/sqrt(2n) ≈ 0.15 %, so 3 % is ~20 of them; the mean's
    /// standard error is 0.0607/sqrt(n) ≈ 1.25e-4, and 1e-3 is 8 of them.
    @Test func dense300By784() {
        let tensor = Tensor(shape: [300, 784])
        var rng = RandomGenerator(seed: 9, stream: "init")
        Initializer.kaimingNormalFanAverage(tensor, fanIn: 784, fanOut: 300, rng: &rng)
        let (mean, std) = Self.moments(tensor.array)
        let expected = (4.0 / 1084.0).squareRoot()
        #expect(abs(std / expected - 1) < 0.03, "std \(std), want \(expected)")
        #expect(abs(mean) < 1e-3)
    }

    /// Network.initialize uses each layer's fans: Linear (in, out); Conv2d (in·k², out·k²).
    /// LeNet-5's second conv: fanIn 6·25 = 150, fanOut 16·25 = 400 ⇒ std sqrt(4/550) ≈ 0.08528;
    /// 2 400 samples give a 1.4 % standard error, so 8 % is ~5.5 of them. Biases and shifts 0,
    /// scales 1, running statistics reset.
    @Test func networkInitializeUsesLayerFans() throws {
        let network = try ModelZoo.make("lenet5")
        network.initialize(seed: 3)
        let weights = network.prunableParameters
        let conv2 = Self.moments(weights[1].value.array)
        #expect(abs(conv2.std / (4.0 / 550).squareRoot() - 1) < 0.08, "conv2 std \(conv2.std)")
        let dense1 = Self.moments(weights[2].value.array)   // 400 → 120: sqrt(4/520) ≈ 0.0877
        #expect(abs(dense1.std / (4.0 / 520).squareRoot() - 1) < 0.03, "dense1 std \(dense1.std)")
        for p in network.parameters {
            switch p.role {
            case .bias, .shift: #expect(p.value.array.allSatisfy { $0 == 0 }, "\(p.role) \(p.shape)")
            case .scale: #expect(p.value.array.allSatisfy { $0 == 1 }, "\(p.role) \(p.shape)")
            case .weight: break
            }
        }
        for (name, tensor) in network.buffers {
            let want: Float = name == "running_variance" ? 1 : 0
            let reset = tensor.array.allSatisfy { $0 == want }
            #expect(reset, "\(name)")
        }
    }
}
