import Foundation
import Testing
import Tensors

@Suite("BatchNormPlan against naive per-channel statistics")
struct BatchNormPlanTests {
    static let geometries: [BatchNormGeometry] = [
        BatchNormGeometry(batch: 6, channels: 5, epsilon: 1e-3, isFlat: true),
        BatchNormGeometry(batch: 3, channels: 4, height: 3, width: 5, epsilon: 1e-5, isFlat: false),
        BatchNormGeometry(batch: 2, channels: 3, height: 4, width: 4, epsilon: 0.1, isFlat: false),
    ]

    /// Index of element `i` of an [N, C] or [N, C, H, W] tensor's channel.
    static func channel(of index: Int, _ g: BatchNormGeometry) -> Int { (index / (g.height * g.width)) % g.channels }

    /// Biased mean and variance per channel in float64.
    static func statistics(_ x: [Float], _ g: BatchNormGeometry) -> (mean: [Double], variance: [Double]) {
        var sum = [Double](repeating: 0, count: g.channels), count = [Double](repeating: 0, count: g.channels)
        for (i, v) in x.enumerated() { sum[channel(of: i, g)] += Double(v); count[channel(of: i, g)] += 1 }
        let mean = zip(sum, count).map { $0 / $1 }
        var squares = [Double](repeating: 0, count: g.channels)
        for (i, v) in x.enumerated() { let d = Double(v) - mean[channel(of: i, g)]; squares[channel(of: i, g)] += d * d }
        return (mean, zip(squares, count).map { $0 / $1 })
    }

    static func normalize(_ x: [Float], _ g: BatchNormGeometry, scale: [Float], shift: [Float],
                          mean: [Double], variance: [Double]) -> [Double] {
        x.enumerated().map { i, v in
            let c = channel(of: i, g)
            return Double(scale[c]) * (Double(v) - mean[c]) / (variance[c] + Double(g.epsilon)).squareRoot() + Double(shift[c])
        }
    }

    @Test(arguments: geometries)
    func forwardTraining(_ g: BatchNormGeometry) throws {
        let plan = try BatchNormPlan(g)
        // Offset and scaled input so that mean ≠ 0 and variance ≠ 1 per channel.
        let input = normalTensor(g.shape, seed: 81, scale: 2)
        for i in 0..<input.count { input[i] += Float(Self.channel(of: i, g)) - 1 }
        let scale = normalTensor([g.channels], seed: 82), shift = normalTensor([g.channels], seed: 83)
        let output = Tensor(shape: g.shape), mean = Tensor(shape: [g.channels]), variance = Tensor(shape: [g.channels])
        try plan.forwardTraining(input: input, scale: scale, shift: shift, output: output, mean: mean, variance: variance)

        let reference = Self.statistics(input.array, g)
        #expect(maxRelativeError(mean.array, reference.mean) < 1e-5)
        // Biased (divide by n): the unbiased estimate would differ by n/(n−1) ≥ 1/31 here.
        #expect(maxRelativeError(variance.array, reference.variance) < 1e-5)
        let expected = Self.normalize(input.array, g, scale: scale.array, shift: shift.array,
                                      mean: reference.mean, variance: reference.variance)
        #expect(maxRelativeError(try plain(output), expected) < 1e-4)
    }

    @Test(arguments: geometries)
    func forwardInferenceUsesTheGivenStatistics(_ g: BatchNormGeometry) throws {
        let plan = try BatchNormPlan(g)
        let input = normalTensor(g.shape, seed: 84)
        let scale = normalTensor([g.channels], seed: 85), shift = normalTensor([g.channels], seed: 86)
        // Running statistics unrelated to the batch's own.
        let mean = Tensor(shape: [g.channels], values: (0..<g.channels).map { Float($0) * 0.5 - 1 })
        let variance = Tensor(shape: [g.channels], values: (0..<g.channels).map { 0.25 + Float($0) })
        let output = Tensor(shape: g.shape)
        try plan.forwardInference(input: input, scale: scale, shift: shift, mean: mean, variance: variance, output: output)
        let expected = Self.normalize(input.array, g, scale: scale.array, shift: shift.array,
                                      mean: mean.array.map(Double.init), variance: variance.array.map(Double.init))
        #expect(maxRelativeError(try plain(output), expected) < 1e-5)
        // The statistics are inputs here, not outputs.
        #expect(mean.array == (0..<g.channels).map { Float($0) * 0.5 - 1 })
    }

    /// Hand-computed: one channel, values (1, 3) → mean 2, biased variance 1; with ε = 0 scale 2,
    /// shift 1 the outputs are 2·(∓1)/1 + 1 = (−1, 3).
    @Test func handComputedTwoSamples() throws {
        let g = BatchNormGeometry(batch: 2, channels: 1, epsilon: 0, isFlat: true)
        let plan = try BatchNormPlan(g)
        let output = Tensor(shape: [2, 1]), mean = Tensor(shape: [1]), variance = Tensor(shape: [1])
        try plan.forwardTraining(input: Tensor(shape: [2, 1], values: [1, 3]), scale: Tensor(shape: [1], values: [2]),
                                 shift: Tensor(shape: [1], values: [1]), output: output, mean: mean, variance: variance)
        #expect(mean.array == [2])
        #expect(variance.array == [1])
        let got = try plain(output)
        #expect(abs(got[0] + 1) < 1e-6 && abs(got[1] - 3) < 1e-6, "\(got)")
    }

    /// The backward pass against the closed form with batch statistics
    /// dx = γ/σ · (dy − mean(dy) − x̂ · mean(dy · x̂)), dγ = Σ dy · x̂, dβ = Σ dy.
    @Test(arguments: geometries)
    func backward(_ g: BatchNormGeometry) throws {
        let plan = try BatchNormPlan(g)
        let input = normalTensor(g.shape, seed: 87, scale: 1.5)
        let scale = normalTensor([g.channels], seed: 88), shift = normalTensor([g.channels], seed: 89)
        let output = Tensor(shape: g.shape), mean = Tensor(shape: [g.channels]), variance = Tensor(shape: [g.channels])
        try plan.forwardTraining(input: input, scale: scale, shift: shift, output: output, mean: mean, variance: variance)
        let dy = normalTensor(g.shape, seed: 90)
        let dx = Tensor(shape: g.shape), dScale = Tensor(shape: [g.channels]), dShift = Tensor(shape: [g.channels])
        try plan.backward(input: input, outputGradient: dy, scale: scale, mean: mean, variance: variance,
                          inputGradient: dx, scaleGradient: dScale, shiftGradient: dShift)

        let (mu, sigma2) = Self.statistics(input.array, g)
        let n = Double(input.count / g.channels)
        let sigma = sigma2.map { ($0 + Double(g.epsilon)).squareRoot() }
        let xhat = input.array.enumerated().map { i, v in (Double(v) - mu[Self.channel(of: i, g)]) / sigma[Self.channel(of: i, g)] }
        var sumDy = [Double](repeating: 0, count: g.channels), sumDyXhat = sumDy
        for i in 0..<input.count {
            sumDy[Self.channel(of: i, g)] += Double(dy[i])
            sumDyXhat[Self.channel(of: i, g)] += Double(dy[i]) * xhat[i]
        }
        let expectedDx = (0..<input.count).map { i -> Double in
            let c = Self.channel(of: i, g)
            return Double(scale[c]) / sigma[c] * (Double(dy[i]) - sumDy[c] / n - xhat[i] * sumDyXhat[c] / n)
        }
        #expect(maxRelativeError(try plain(dx), expectedDx) < 1e-4)
        #expect(maxRelativeError(dScale.array, sumDyXhat) < 1e-4)
        #expect(maxRelativeError(dShift.array, sumDy) < 1e-4)
    }
}
