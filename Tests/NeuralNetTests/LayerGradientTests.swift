import Testing
import Tensors
@testable import NeuralNet

@Suite("Backward passes agree with central finite differences")
struct LayerGradientTests {
    let check = GradientCheck()

    @Test func linear() throws {
        let layer = Linear(7, 5)
        randomizeParameters(layer, seed: 1)
        #expect(try check.check(layer, input: randomTensor([4, 7], seed: 2)) > 40)
    }

    @Test func linearWithoutBias() throws {
        let layer = Linear(6, 3, bias: false)
        randomizeParameters(layer, seed: 3)
        try check.check(layer, input: randomTensor([5, 6], seed: 4))
    }

    struct ConvCase: CustomTestStringConvertible, Sendable {
        let inChannels, outChannels, kernel, stride, groups, size: Int
        let padding: Padding
        var testDescription: String { "\(inChannels)→\(outChannels) k\(kernel) s\(stride) g\(groups) \(padding) on \(size)²" }
    }

    @Test(arguments: [
        ConvCase(inChannels: 3, outChannels: 4, kernel: 3, stride: 1, groups: 1, size: 6, padding: .valid),
        ConvCase(inChannels: 2, outChannels: 3, kernel: 3, stride: 1, groups: 1, size: 5, padding: .symmetric(1)),
        ConvCase(inChannels: 2, outChannels: 4, kernel: 3, stride: 2, groups: 1, size: 6, padding: .same),
        ConvCase(inChannels: 3, outChannels: 2, kernel: 1, stride: 2, groups: 1, size: 6, padding: .valid),
        ConvCase(inChannels: 4, outChannels: 6, kernel: 3, stride: 1, groups: 2, size: 5, padding: .symmetric(1)),
        ConvCase(inChannels: 4, outChannels: 4, kernel: 3, stride: 2, groups: 4, size: 7, padding: .same),
        ConvCase(inChannels: 3, outChannels: 6, kernel: 5, stride: 1, groups: 1, size: 9, padding: .valid),
    ])
    func conv2d(_ c: ConvCase) throws {
        for layout in [TensorLayout.plain, .channelBlocked(8), .channelBlocked(16), .channelsLast] {
            let backend = CPUBackend(activationLayout: layout)
            let layer = Conv2d(c.inChannels, c.outChannels, kernelSize: c.kernel, stride: c.stride, padding: c.padding,
                               groups: c.groups, backend: backend)
            randomizeParameters(layer, seed: 5)
            try check.check(layer, input: randomTensor([2, c.inChannels, c.size, c.size], seed: 6))
        }
    }

    /// A conv stack whose second conv reads blocked input (channels 8, a full block) and whose third
    /// reads blocked input with a partial block (6 channels): layouts chosen per layer, reorders at edges.
    @Test(arguments: [4, 8, 16])
    func blockedConvolutionStack(block: Int) throws {
        let backend = CPUBackend(activationLayout: .channelBlocked(block))
        let layer = Sequential([
            // No ReLU here: with ε = 1e-2 a deep stack pushes some pre-activations across the kink.
            Conv2d(3, 8, kernelSize: 3, padding: .same, backend: backend), BatchNorm(8, backend: backend),
            Conv2d(8, 6, kernelSize: 3, stride: 2, padding: .same, backend: backend), BatchNorm(6, backend: backend),
            AvgPool2d(2, backend: backend),
            Conv2d(6, 5, kernelSize: 1, backend: backend), MaxPool2d(1, backend: backend),
            Residual(body: Sequential([Conv2d(5, 5, kernelSize: 1, backend: backend)]), backend: backend),
            GlobalAvgPool2d(backend: backend), Linear(5, 3, backend: backend),
        ])
        randomizeParameters(layer, seed: 25)
        try check.check(layer, input: randomTensor([2, 3, 8, 8], seed: 26))
    }

    @Test func blockedAndPlainLayoutsGiveTheSameNumbers() throws {
        func run(_ layout: TensorLayout) throws -> [[Float]] {
            let backend = CPUBackend(activationLayout: layout)
            let net = Sequential([
                Conv2d(3, 6, kernelSize: 5, backend: backend), BatchNorm(6, backend: backend), ReLU(backend: backend),
                AvgPool2d(2, backend: backend), Conv2d(6, 16, kernelSize: 3, padding: .same, backend: backend),
                BatchNorm(16, backend: backend), ReLU(backend: backend), Flatten(backend: backend), Linear(16 * 4 * 4, 4, backend: backend),
            ])
            randomizeParameters(net, seed: 27)
            let output = try net.forward(randomTensor([3, 3, 12, 12], seed: 28), training: true)
            _ = try net.backward(randomTensor(output.shape, seed: 29), needsInputGradient: false)
            return [try backend.plainValues(of: output)] + net.parameters.map(\.gradient.array)
        }
        let plain = try run(.plain)
        for layout in [TensorLayout.channelBlocked(8), .channelBlocked(16), .channelsLast] {
            let other = try run(layout)
            #expect(plain.count == other.count)
            for (a, b) in zip(plain, other) {
                for (x, y) in zip(a, b) { #expect(abs(x - y) <= 1e-4 + 1e-4 * abs(x), "\(layout): \(x) vs \(y)") }
            }
        }
    }

    @Test func batchNormFlatTraining() throws {
        let layer = BatchNorm(5)
        randomizeParameters(layer, seed: 7)
        try check.check(layer, input: randomTensor([6, 5], seed: 8, scale: 2))
    }

    @Test func batchNormSpatialTraining() throws {
        let layer = BatchNorm(3)
        randomizeParameters(layer, seed: 9)
        try check.check(layer, input: randomTensor([2, 3, 4, 4], seed: 10, scale: 2))
    }

    @Test func relu() throws {
        try check.check(ReLU(), input: distinctTensor([3, 2, 3, 3], seed: 11))
    }

    @Test func maxPool() throws {
        try check.check(MaxPool2d(2), input: distinctTensor([2, 2, 4, 6], seed: 12))
    }

    @Test func maxPoolOverlappingWithSamePadding() throws {
        try check.check(MaxPool2d(3, stride: 2, padding: .same), input: distinctTensor([1, 2, 6, 6], seed: 13))
    }

    @Test func averagePool() throws {
        try check.check(AvgPool2d(2), input: randomTensor([2, 3, 4, 4], seed: 14))
    }

    @Test func globalAveragePool() throws {
        try check.check(GlobalAvgPool2d(), input: randomTensor([2, 3, 3, 5], seed: 15))
    }

    @Test func flattenThenLinear() throws {
        let layer = Sequential([Flatten(), Linear(12, 4)])
        randomizeParameters(layer, seed: 16)
        try check.check(layer, input: randomTensor([3, 3, 2, 2], seed: 17))
    }

    @Test func residualIdentityShortcut() throws {
        let layer = Residual(body: Sequential([Conv2d(3, 3, kernelSize: 3, padding: .symmetric(1)), BatchNorm(3)]))
        randomizeParameters(layer, seed: 18)
        try check.check(layer, input: randomTensor([2, 3, 4, 4], seed: 19))
    }

    @Test func residualProjectionShortcut() throws {
        let layer = Residual(
            body: Sequential([Conv2d(2, 4, kernelSize: 3, stride: 2, padding: .same), BatchNorm(4)]),
            shortcut: Sequential([Conv2d(2, 4, kernelSize: 1, stride: 2), BatchNorm(4)]))
        randomizeParameters(layer, seed: 20)
        try check.check(layer, input: randomTensor([2, 2, 6, 6], seed: 21))
    }

    @Test func smallConvNetEndToEnd() throws {
        let layer = Sequential([
            Conv2d(2, 3, kernelSize: 3, padding: .same), BatchNorm(3), AvgPool2d(2),
            Conv2d(3, 4, kernelSize: 3, padding: .valid), BatchNorm(4), GlobalAvgPool2d(), Linear(4, 3),
        ])
        randomizeParameters(layer, seed: 22)
        try check.check(layer, input: randomTensor([3, 2, 6, 6], seed: 23))
    }

    @Test func softmaxCrossEntropyGradient() throws {
        let backend = CPUBackend.shared
        let logits = randomTensor([4, 5], seed: 24)
        let labels: [Int32] = [0, 3, 4, 1]
        let gradient = Tensor(shape: [4, 5])
        _ = labels.withUnsafeBufferPointer { backend.softmaxCrossEntropy(logits: logits, labels: $0.baseAddress!, rows: 4, logitsGradient: gradient) }
        for index in 0..<logits.count {
            func loss() -> Double {
                labels.withUnsafeBufferPointer { backend.softmaxCrossEntropy(logits: logits, labels: $0.baseAddress!, rows: 4, logitsGradient: nil).lossSum / 4 }
            }
            let original = logits[index]
            logits[index] = original + 1e-2; let plus = loss()
            logits[index] = original - 1e-2; let minus = loss()
            logits[index] = original
            let numeric = (plus - minus) / 2e-2
            #expect(abs(numeric - Double(gradient[index])) < 1e-3, "logit \(index): \(gradient[index]) vs \(numeric)")
        }
    }
}
