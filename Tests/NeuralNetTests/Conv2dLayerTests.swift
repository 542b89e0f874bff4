import Testing
import Tensors
@testable import NeuralNet

/// Conv2d as a layer (whatever activation layouts it picks inside) against a naive float64
/// convolution: forward output and both gradients, read back in NCHW order.
@Suite("Conv2d layer against a naive convolution")
struct Conv2dLayerTests {
    struct Case: CustomTestStringConvertible, Sendable {
        let inChannels, outChannels, kernel, stride, groups, size: Int
        let padding: Padding
        var testDescription: String { "\(inChannels)→\(outChannels) k\(kernel) s\(stride) g\(groups) \(padding) on \(size)²" }
    }

    static let cases = [
        Case(inChannels: 3, outChannels: 2, kernel: 1, stride: 2, groups: 1, size: 6, padding: .valid),
        Case(inChannels: 3, outChannels: 16, kernel: 1, stride: 2, groups: 1, size: 6, padding: .valid),
        Case(inChannels: 16, outChannels: 8, kernel: 1, stride: 1, groups: 1, size: 5, padding: .valid),
        Case(inChannels: 3, outChannels: 4, kernel: 3, stride: 1, groups: 1, size: 6, padding: .valid),
        Case(inChannels: 3, outChannels: 6, kernel: 5, stride: 1, groups: 1, size: 9, padding: .valid),
        Case(inChannels: 2, outChannels: 8, kernel: 3, stride: 2, groups: 1, size: 8, padding: .same),
        Case(inChannels: 8, outChannels: 16, kernel: 3, stride: 1, groups: 1, size: 5, padding: .symmetric(1)),
        Case(inChannels: 4, outChannels: 6, kernel: 3, stride: 1, groups: 2, size: 5, padding: .symmetric(1)),
        Case(inChannels: 8, outChannels: 8, kernel: 3, stride: 2, groups: 8, size: 7, padding: .same),
    ]

    /// Calls `body(inputIndex, weightIndex, outputIndex)` for every product of the convolution `g`.
    static func forEachTap(_ g: ConvolutionGeometry, _ body: (Int, Int, Int) -> Void) {
        let inPerGroup = g.inChannels / g.groups, outPerGroup = g.outChannels / g.groups
        for n in 0..<g.batch { for o in 0..<g.outChannels { for i in 0..<g.outHeight { for j in 0..<g.outWidth {
            let outputIndex = ((n * g.outChannels + o) * g.outHeight + i) * g.outWidth + j
            for c in 0..<inPerGroup { for p in 0..<g.kernelHeight { for q in 0..<g.kernelWidth {
                let y = i * g.strideHeight - g.padTop + p, x = j * g.strideWidth - g.padLeft + q
                guard y >= 0, y < g.inHeight, x >= 0, x < g.inWidth else { continue }
                let channel = (o / outPerGroup) * inPerGroup + c
                body(((n * g.inChannels + channel) * g.inHeight + y) * g.inWidth + x,
                     ((o * inPerGroup + c) * g.kernelHeight + p) * g.kernelWidth + q, outputIndex)
            } } }
        } } } }
    }

    static func maxRelativeError(_ got: [Float], _ want: [Double]) -> Double {
        guard got.count == want.count else { return .infinity }
        return zip(got, want).reduce(0) { max($0, abs(Double($1.0) - $1.1) / (1 + abs($1.1))) }
    }

    @Test(arguments: cases)
    func forwardAndBothGradients(_ c: Case) throws {
        let layer = Conv2d(c.inChannels, c.outChannels, kernelSize: c.kernel, stride: c.stride, padding: c.padding, groups: c.groups)
        randomizeParameters(layer, seed: 41)
        let input = randomTensor([2, c.inChannels, c.size, c.size], seed: 42)
        let g = try layer.geometry(for: input.shape)
        let (x, w, b) = (input.array, layer.weight.value.array, layer.bias!.value.array)
        let backend = CPUBackend.shared

        // Two forward passes on different inputs first, so cached buffers must follow the latest one.
        _ = try layer.forward(randomTensor(input.shape, seed: 43), training: true)
        let output = try layer.forward(input, training: true)
        var expected = [Double](repeating: 0, count: g.outputShape.reduce(1, *))
        let plane = g.outHeight * g.outWidth
        for index in expected.indices { expected[index] = Double(b[(index / plane) % g.outChannels]) }
        Self.forEachTap(g) { xi, wi, yi in expected[yi] += Double(x[xi]) * Double(w[wi]) }
        #expect(output.shape == g.outputShape)
        #expect(Self.maxRelativeError(try backend.plainValues(of: output), expected) < 1e-4, "forward")

        let outputGradient = randomTensor(g.outputShape, seed: 44)
        let dy = outputGradient.array
        let inputGradient = try #require(try layer.backward(outputGradient, needsInputGradient: true))
        var dx = [Double](repeating: 0, count: x.count), dw = [Double](repeating: 0, count: w.count)
        Self.forEachTap(g) { xi, wi, yi in
            dx[xi] += Double(dy[yi]) * Double(w[wi])
            dw[wi] += Double(dy[yi]) * Double(x[xi])
        }
        var db = [Double](repeating: 0, count: g.outChannels)
        for (index, value) in dy.enumerated() { db[(index / plane) % g.outChannels] += Double(value) }
        #expect(inputGradient.shape == input.shape)
        #expect(Self.maxRelativeError(try backend.plainValues(of: inputGradient), dx) < 1e-4, "input gradient")
        #expect(Self.maxRelativeError(layer.weight.gradient.array, dw) < 1e-4, "weight gradient")
        #expect(Self.maxRelativeError(layer.bias!.gradient.array, db) < 1e-4, "bias gradient")
    }
}
