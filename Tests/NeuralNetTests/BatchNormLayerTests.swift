import Testing
import Tensors
@testable import NeuralNet

@Suite("BatchNorm layer: running statistics and evaluation mode")
struct BatchNormLayerTests {
    func expectClose(_ got: [Float], _ want: [Double], tolerance: Double = 1e-5, sourceLocation: SourceLocation = #_sourceLocation) {
        #expect(got.count == want.count, sourceLocation: sourceLocation)
        for (g, w) in zip(got, want) {
            #expect(abs(Double(g) - w) <= tolerance * max(1, abs(w)), "got \(got), want \(want)", sourceLocation: sourceLocation)
        }
    }

    /// Channel 0: (1, 2, 3, 6), mean 3, squared deviations 4 + 1 + 0 + 9 = 14: biased variance 3.5,
    /// unbiased 14/3. Channel 1: (−1, −1, 1, 1), mean 0, biased 1, unbiased 4/3.
    /// Momentum 0.1 from (mean 0, variance 1):
    ///   after one step  mean (0.3, 0),   variance (0.9 + 1.4/3, 0.9 + 0.4/3) = (1.366667, 1.033333);
    ///   after two steps mean (0.57, 0),  variance (0.9·1.366667 + 1.4/3, 0.9·1.033333 + 0.4/3) = (1.696667, 1.063333).
    @Test func runningStatisticsFlat() throws {
        let layer = BatchNorm(2)
        let input = Tensor(shape: [4, 2], values: [1, -1, 2, -1, 3, 1, 6, 1])
        let output = try CPUBackend.shared.plainValues(of: try layer.forward(input, training: true))
        expectClose(layer.runningMean.array, [0.3, 0])
        expectClose(layer.runningVariance.array, [0.9 + 1.4 / 3, 0.9 + 0.4 / 3])
        // The training output uses the batch statistics (biased variance), ε = 1e-3, scale 1, shift 0.
        let expected = [1.0, -1, 2, -1, 3, 1, 6, 1].enumerated().map { i, x in
            i % 2 == 0 ? (x - 3) / (3.5 + 1e-3).squareRoot() : x / (1 + 1e-3).squareRoot()
        }
        expectClose(output, expected)

        _ = try layer.forward(input, training: true)
        expectClose(layer.runningMean.array, [0.57, 0])
        expectClose(layer.runningVariance.array, [1.696667, 1.063333])
    }

    /// [2, 1, 2, 2] with values 0…7: n = N·H·W = 8, mean 3.5, squared deviations
    /// 2·(12.25 + 6.25 + 2.25 + 0.25) = 42, unbiased 42/7 = 6 ⇒ running (0.35, 0.9 + 0.6 = 1.5).
    @Test func runningStatisticsSpatialCountEveryPixel() throws {
        let layer = BatchNorm(1)
        _ = try layer.forward(Tensor(shape: [2, 1, 2, 2], values: [0, 1, 2, 3, 4, 5, 6, 7]), training: true)
        expectClose(layer.runningMean.array, [0.35])
        expectClose(layer.runningVariance.array, [1.5])
    }

    @Test func evaluationUsesRunningStatisticsAndLeavesThemAlone() throws {
        let layer = BatchNorm(2)
        layer.runningMean[0] = 1; layer.runningMean[1] = -2
        layer.runningVariance[0] = 4; layer.runningVariance[1] = 0.25
        layer.scale.value[0] = 2; layer.scale.value[1] = 0.5
        layer.shift.value[0] = 0.5; layer.shift.value[1] = -1
        let input = Tensor(shape: [3, 2], values: [3, 0, -1, -2, 1, 1])
        let output = try CPUBackend.shared.plainValues(of: try layer.forward(input, training: false))
        // y = scale·(x − running mean)/sqrt(running variance + 1e-3) + shift, per channel.
        let expected = [3.0, 0, -1, -2, 1, 1].enumerated().map { i, x in
            i % 2 == 0 ? 2 * (x - 1) / (4 + 1e-3).squareRoot() + 0.5 : 0.5 * (x + 2) / (0.25 + 1e-3).squareRoot() - 1
        }
        expectClose(output, expected)
        #expect(layer.runningMean.array == [1, -2])
        #expect(layer.runningVariance.array == [4, 0.25])
    }

    @Test func spatialEvaluationPerChannel() throws {
        let layer = BatchNorm(2, epsilon: 0)
        layer.runningMean[0] = 1; layer.runningMean[1] = 10
        layer.runningVariance[0] = 4; layer.runningVariance[1] = 1
        let input = Tensor(shape: [1, 2, 1, 3], values: [1, 3, 5, 10, 11, 12])
        let output = try CPUBackend.shared.plainValues(of: try layer.forward(input, training: false))
        // Channel 0: (x − 1)/2 = (0, 1, 2); channel 1: (x − 10)/1 = (0, 1, 2).
        expectClose(output, [0, 1, 2, 0, 1, 2])
    }

    @Test func rejectsWrongChannelCount() {
        #expect(throws: LayerError.self) { try BatchNorm(3).forward(Tensor(shape: [2, 4]), training: true) }
    }
}
