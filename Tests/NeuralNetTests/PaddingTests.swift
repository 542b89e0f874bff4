import Testing
import Tensors
@testable import NeuralNet

@Suite("Padding amounts")
struct PaddingTests {
    struct SameCase: CustomTestStringConvertible, Sendable {
        let input: Int, kernel: Int, stride: Int
        let before: Int, after: Int
        var testDescription: String { "input \(input), kernel \(kernel), stride \(stride) → \(before), \(after)" }
    }

    /// TensorFlow "same": out = ⌈input / stride⌉, total = max((out − 1)·stride + kernel − input, 0),
    /// before = ⌊total / 2⌋, after = the rest. Worked out by hand:
    static let sameCases: [SameCase] = [
        SameCase(input: 64, kernel: 3, stride: 2, before: 0, after: 1),   // out 32, total 31·2 + 3 − 64 = 1
        SameCase(input: 5, kernel: 3, stride: 1, before: 1, after: 1),    // out 5, total 4 + 3 − 5 = 2
        SameCase(input: 7, kernel: 3, stride: 2, before: 1, after: 1),    // out 4, total 3·2 + 3 − 7 = 2
        SameCase(input: 8, kernel: 1, stride: 2, before: 0, after: 0),    // out 4, total 6 + 1 − 8 = −1 → 0
        SameCase(input: 7, kernel: 1, stride: 2, before: 0, after: 0),    // out 4, total 6 + 1 − 7 = 0
        SameCase(input: 6, kernel: 5, stride: 1, before: 2, after: 2),    // out 6, total 5 + 5 − 6 = 4
        SameCase(input: 5, kernel: 4, stride: 1, before: 1, after: 2),    // out 5, total 4 + 4 − 5 = 3
        SameCase(input: 7, kernel: 2, stride: 2, before: 0, after: 1),    // out 4, total 6 + 2 − 7 = 1
        SameCase(input: 32, kernel: 3, stride: 1, before: 1, after: 1),   // out 32, total 31 + 3 − 32 = 2
        SameCase(input: 9, kernel: 7, stride: 2, before: 3, after: 3),    // out 5, total 8 + 7 − 9 = 6
    ]

    @Test(arguments: sameCases)
    func sameOnSquareInputs(_ c: SameCase) {
        let pad = Padding.same.amounts(inHeight: c.input, inWidth: c.input, kernelHeight: c.kernel, kernelWidth: c.kernel,
                                       strideHeight: c.stride, strideWidth: c.stride)
        #expect(pad.top == c.before && pad.bottom == c.after)
        #expect(pad.left == c.before && pad.right == c.after)
    }

    @Test func sameSplitsHeightAndWidthIndependently() {
        // Height 64 with k3 s2 → (0, 1); width 7 with k3 s2 → (1, 1).
        let pad = Padding.same.amounts(inHeight: 64, inWidth: 7, kernelHeight: 3, kernelWidth: 3, strideHeight: 2, strideWidth: 2)
        #expect(pad == (top: 0, left: 1, bottom: 1, right: 1))
    }

    @Test func fixedPaddings() {
        let valid = Padding.valid.amounts(inHeight: 9, inWidth: 9, kernelHeight: 3, kernelWidth: 3, strideHeight: 2, strideWidth: 2)
        #expect(valid == (top: 0, left: 0, bottom: 0, right: 0))
        let symmetric = Padding.symmetric(2).amounts(inHeight: 9, inWidth: 4, kernelHeight: 5, kernelWidth: 5, strideHeight: 1, strideWidth: 1)
        #expect(symmetric == (top: 2, left: 2, bottom: 2, right: 2))
        let explicit = Padding.explicit(top: 1, left: 2, bottom: 3, right: 4)
            .amounts(inHeight: 9, inWidth: 9, kernelHeight: 3, kernelWidth: 3, strideHeight: 1, strideWidth: 1)
        #expect(explicit == (top: 1, left: 2, bottom: 3, right: 4))
    }

    /// "same" gives ⌈input / stride⌉ outputs through the layers that use it.
    @Test(arguments: [(64, 2, 32), (7, 2, 4), (5, 1, 5), (9, 3, 3), (10, 3, 4)])
    func sameOutputIsInputOverStrideRoundedUp(input: Int, stride: Int, output: Int) throws {
        let conv = Conv2d(2, 3, kernelSize: 3, stride: stride, padding: .same)
        #expect(try conv.outputShape(for: [1, 2, input, input]) == [1, 3, output, output])
        let pool = MaxPool2d(3, stride: stride, padding: .same)
        #expect(try pool.outputShape(for: [1, 2, input, input]) == [1, 2, output, output])
    }

    @Test func convolutionGeometryCarriesTheAsymmetricPadding() throws {
        let g = try Conv2d(3, 8, kernelSize: 3, stride: 2, padding: .same).geometry(for: [2, 3, 64, 64])
        #expect((g.padTop, g.padLeft, g.padBottom, g.padRight) == (0, 0, 1, 1))
        #expect(g.outputShape == [2, 8, 32, 32])
    }
}
