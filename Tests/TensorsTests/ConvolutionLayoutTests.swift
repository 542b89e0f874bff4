import Testing
import Tensors

/// The same naive reference as `ConvolutionPlanTests`, with activations stored in the layouts
/// the layers use between them (blocked, channels-last): values go in and come out through
/// reorders, so only the numbers in NCHW order are compared.
@Suite("ConvolutionPlan in blocked and channels-last layouts against the naive convolution")
struct ConvolutionLayoutTests {
    struct LayoutPair: CustomTestStringConvertible, Sendable {
        let source: TensorLayout, destination: TensorLayout
        var testDescription: String { "\(source)→\(destination)" }
    }

    static let block = CPUBackend.nativeChannelBlock
    static let pairs = [
        LayoutPair(source: .channelBlocked(block), destination: .channelBlocked(block)),
        LayoutPair(source: .plain, destination: .channelBlocked(block)),
        LayoutPair(source: .channelsLast, destination: .channelsLast),
        LayoutPair(source: .channelsLast, destination: .channelBlocked(block)),
    ]

    /// A copy of plain `tensor` in `layout`.
    func stored(_ tensor: Tensor, in layout: TensorLayout) throws -> Tensor {
        if layout == .plain { return tensor }
        let result = Tensor(shape: tensor.shape, layout: layout)
        try CPUBackend.shared.makeReorder(shape: tensor.shape, from: .plain, to: layout).reorder(tensor, into: result)
        return result
    }

    @Test(arguments: ConvolutionPlanTests.cases, pairs)
    func allThreePasses(_ c: ConvolutionPlanTests.Case, _ layouts: LayoutPair) throws {
        let g = c.geometry
        // oneDNN has a primitive (direct or reference) for every pair; each must give the naive numbers.
        let plan = try ConvolutionPlan(g, sourceLayout: layouts.source, destinationLayout: layouts.destination)
        let naive = NaiveConvolution(g: g)
        let input = normalTensor(g.inputShape, seed: 91), weight = normalTensor(g.weightShape, seed: 92)
        let outputGradient = normalTensor(g.outputShape, seed: 93)
        let bias = g.hasBias ? normalTensor([g.outChannels], seed: 94) : nil
        let storedInput = try stored(input, in: layouts.source), storedGradient = try stored(outputGradient, in: layouts.destination)

        let output = Tensor(shape: g.outputShape, layout: layouts.destination)
        try plan.forward(input: storedInput, weight: weight, bias: bias, output: output)
        #expect(maxRelativeError(try plain(output), naive.forward(input: input.array, weight: weight.array, bias: bias?.array))
                < ConvolutionPlanTests.tolerance, "forward")

        let inputGradient = Tensor(shape: g.inputShape, layout: layouts.source)
        try plan.backwardData(outputGradient: storedGradient, weight: weight, inputGradient: inputGradient)
        #expect(maxRelativeError(try plain(inputGradient), naive.backwardData(outputGradient: outputGradient.array, weight: weight.array))
                < ConvolutionPlanTests.tolerance, "backward data")

        let weightGradient = Tensor(shape: g.weightShape), biasGradient = g.hasBias ? Tensor(shape: [g.outChannels]) : nil
        try plan.backwardWeights(input: storedInput, outputGradient: storedGradient, weightGradient: weightGradient, biasGradient: biasGradient)
        let expected = naive.backwardWeights(input: input.array, outputGradient: outputGradient.array)
        #expect(maxRelativeError(weightGradient.array, expected.weight) < ConvolutionPlanTests.tolerance, "backward weights")
        if let biasGradient { #expect(maxRelativeError(biasGradient.array, expected.bias) < ConvolutionPlanTests.tolerance, "bias gradient") }
    }
}
