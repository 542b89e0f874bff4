import Foundation
import Testing
import Tensors

/// A naive float64 convolution on NCHW input with (out, in / groups, kh, kw) weights, and its two
/// adjoints, written straight from the definition
///   y[n, o, i, j] = b[o] + Σ_{c ∈ group(o), p, q} x[n, c, i·sh − padTop + p, j·sw − padLeft + q] · w[o, c − c₀, p, q],
/// so every sum visits the same (output, input, weight) triples in forward and backward.
struct NaiveConvolution {
    let g: ConvolutionGeometry

    /// Calls `body(inputIndex, weightIndex, outputIndex)` for every product of the convolution.
    func forEachTap(_ body: (Int, Int, Int) -> Void) {
        let inPerGroup = g.inChannels / g.groups, outPerGroup = g.outChannels / g.groups
        for n in 0..<g.batch {
            for o in 0..<g.outChannels {
                let group = o / outPerGroup
                for i in 0..<g.outHeight {
                    for j in 0..<g.outWidth {
                        let outputIndex = ((n * g.outChannels + o) * g.outHeight + i) * g.outWidth + j
                        for c in 0..<inPerGroup {
                            let channel = group * inPerGroup + c
                            for p in 0..<g.kernelHeight {
                                let y = i * g.strideHeight - g.padTop + p
                                guard y >= 0 && y < g.inHeight else { continue }
                                for q in 0..<g.kernelWidth {
                                    let x = j * g.strideWidth - g.padLeft + q
                                    guard x >= 0 && x < g.inWidth else { continue }
                                    let inputIndex = ((n * g.inChannels + channel) * g.inHeight + y) * g.inWidth + x
                                    let weightIndex = ((o * inPerGroup + c) * g.kernelHeight + p) * g.kernelWidth + q
                                    body(inputIndex, weightIndex, outputIndex)
                                }
                            }
                        }
                    }
                }
            }
        }
    }

    func forward(input: [Float], weight: [Float], bias: [Float]?) -> [Double] {
        var output = [Double](repeating: 0, count: g.outputShape.reduce(1, *))
        if let bias {
            let plane = g.outHeight * g.outWidth
            for index in output.indices { output[index] = Double(bias[(index / plane) % g.outChannels]) }
        }
        forEachTap { xi, wi, yi in output[yi] += Double(input[xi]) * Double(weight[wi]) }
        return output
    }

    func backwardData(outputGradient: [Float], weight: [Float]) -> [Double] {
        var inputGradient = [Double](repeating: 0, count: g.inputShape.reduce(1, *))
        forEachTap { xi, wi, yi in inputGradient[xi] += Double(outputGradient[yi]) * Double(weight[wi]) }
        return inputGradient
    }

    func backwardWeights(input: [Float], outputGradient: [Float]) -> (weight: [Double], bias: [Double]) {
        var weightGradient = [Double](repeating: 0, count: g.weightShape.reduce(1, *))
        forEachTap { xi, wi, yi in weightGradient[wi] += Double(input[xi]) * Double(outputGradient[yi]) }
        var biasGradient = [Double](repeating: 0, count: g.outChannels)
        let plane = g.outHeight * g.outWidth
        for (index, value) in outputGradient.enumerated() { biasGradient[(index / plane) % g.outChannels] += Double(value) }
        return (weightGradient, biasGradient)
    }
}

@Suite("ConvolutionPlan against a naive float64 convolution")
struct ConvolutionPlanTests {
    struct Case: CustomTestStringConvertible, Sendable {
        let name: String
        let geometry: ConvolutionGeometry
        var testDescription: String { name }
    }

    static let cases: [Case] = [
        Case(name: "valid 5×5", geometry: ConvolutionGeometry(
            batch: 2, inChannels: 3, outChannels: 4, inHeight: 9, inWidth: 8, kernelHeight: 5, kernelWidth: 5)),
        Case(name: "valid 5×5 without bias", geometry: ConvolutionGeometry(
            batch: 2, inChannels: 3, outChannels: 4, inHeight: 9, inWidth: 8, kernelHeight: 5, kernelWidth: 5, hasBias: false)),
        Case(name: "3×3 symmetric pad 1", geometry: ConvolutionGeometry(
            batch: 2, inChannels: 3, outChannels: 5, inHeight: 6, inWidth: 7, kernelHeight: 3, kernelWidth: 3,
            padTop: 1, padLeft: 1, padBottom: 1, padRight: 1)),
        // TensorFlow "same" on an even input with stride 2: the one pixel of padding goes bottom/right.
        Case(name: "3×3 stride 2 pad bottom/right only", geometry: ConvolutionGeometry(
            batch: 2, inChannels: 2, outChannels: 3, inHeight: 8, inWidth: 8, kernelHeight: 3, kernelWidth: 3,
            strideHeight: 2, strideWidth: 2, padTop: 0, padLeft: 0, padBottom: 1, padRight: 1)),
        Case(name: "3×3 stride 2 asymmetric, no bias", geometry: ConvolutionGeometry(
            batch: 1, inChannels: 3, outChannels: 2, inHeight: 6, inWidth: 10, kernelHeight: 3, kernelWidth: 3,
            strideHeight: 2, strideWidth: 2, padTop: 0, padLeft: 0, padBottom: 1, padRight: 1, hasBias: false)),
        Case(name: "1×1 stride 2", geometry: ConvolutionGeometry(
            batch: 2, inChannels: 4, outChannels: 3, inHeight: 7, inWidth: 6, kernelHeight: 1, kernelWidth: 1,
            strideHeight: 2, strideWidth: 2)),
        Case(name: "groups 2", geometry: ConvolutionGeometry(
            batch: 2, inChannels: 4, outChannels: 6, inHeight: 5, inWidth: 6, kernelHeight: 3, kernelWidth: 3,
            padTop: 1, padLeft: 1, padBottom: 1, padRight: 1, groups: 2)),
        Case(name: "depthwise (groups = channels)", geometry: ConvolutionGeometry(
            batch: 2, inChannels: 4, outChannels: 4, inHeight: 7, inWidth: 7, kernelHeight: 3, kernelWidth: 3,
            padTop: 1, padLeft: 1, padBottom: 1, padRight: 1, groups: 4)),
        Case(name: "depthwise stride 2 asymmetric, no bias", geometry: ConvolutionGeometry(
            batch: 2, inChannels: 6, outChannels: 6, inHeight: 8, inWidth: 8, kernelHeight: 3, kernelWidth: 3,
            strideHeight: 2, strideWidth: 2, padTop: 0, padLeft: 0, padBottom: 1, padRight: 1, groups: 6, hasBias: false)),
        Case(name: "depthwise multiplier 2", geometry: ConvolutionGeometry(
            batch: 1, inChannels: 3, outChannels: 6, inHeight: 5, inWidth: 5, kernelHeight: 3, kernelWidth: 3, groups: 3)),
    ]

    /// float32 sums of ≤ 75 products of N(0, 1) values: rounding ~1e-6 relative to the magnitudes;
    /// 1e-4 relative (absolute below 1) is the brief's bound and still catches any wrong tap.
    static let tolerance = 1e-4

    @Test(arguments: cases)
    func forward(_ c: Case) throws {
        let g = c.geometry
        let plan = try ConvolutionPlan(g)
        let input = normalTensor(g.inputShape, seed: 61), weight = normalTensor(g.weightShape, seed: 62)
        let bias = g.hasBias ? normalTensor([g.outChannels], seed: 63) : nil
        let output = Tensor(shape: g.outputShape)
        try plan.forward(input: input, weight: weight, bias: bias, output: output)
        let expected = NaiveConvolution(g: g).forward(input: input.array, weight: weight.array, bias: bias?.array)
        #expect(maxRelativeError(try plain(output), expected) < Self.tolerance)
    }

    @Test(arguments: cases)
    func backwardData(_ c: Case) throws {
        let g = c.geometry
        let plan = try ConvolutionPlan(g)
        let weight = normalTensor(g.weightShape, seed: 64), outputGradient = normalTensor(g.outputShape, seed: 65)
        let inputGradient = Tensor(shape: g.inputShape)
        inputGradient.fill(123)   // must be overwritten, padding rows/columns included
        try plan.backwardData(outputGradient: outputGradient, weight: weight, inputGradient: inputGradient)
        let expected = NaiveConvolution(g: g).backwardData(outputGradient: outputGradient.array, weight: weight.array)
        #expect(maxRelativeError(try plain(inputGradient), expected) < Self.tolerance)
    }

    @Test(arguments: cases)
    func backwardWeights(_ c: Case) throws {
        let g = c.geometry
        let plan = try ConvolutionPlan(g)
        let input = normalTensor(g.inputShape, seed: 66), outputGradient = normalTensor(g.outputShape, seed: 67)
        let weightGradient = Tensor(shape: g.weightShape), biasGradient = g.hasBias ? Tensor(shape: [g.outChannels]) : nil
        weightGradient.fill(123); biasGradient?.fill(123)   // overwritten, not accumulated
        try plan.backwardWeights(input: input, outputGradient: outputGradient, weightGradient: weightGradient, biasGradient: biasGradient)
        let expected = NaiveConvolution(g: g).backwardWeights(input: input.array, outputGradient: outputGradient.array)
        #expect(maxRelativeError(weightGradient.array, expected.weight) < Self.tolerance)
        if let biasGradient { #expect(maxRelativeError(biasGradient.array, expected.bias) < Self.tolerance) }
    }

    /// ⟨conv(x), dy⟩ = ⟨x, conv_dataᵀ(dy)⟩ = ⟨w, conv_weightsᵀ(x, dy)⟩ (bias-free): the three
    /// primitives are adjoint to one another, independent of the naive reference.
    @Test(arguments: cases.filter { !$0.geometry.hasBias })
    func primitivesAreAdjoint(_ c: Case) throws {
        let g = c.geometry
        let plan = try ConvolutionPlan(g)
        let x = normalTensor(g.inputShape, seed: 68), w = normalTensor(g.weightShape, seed: 69), dy = normalTensor(g.outputShape, seed: 70)
        let y = Tensor(shape: g.outputShape), dx = Tensor(shape: g.inputShape), dw = Tensor(shape: g.weightShape)
        try plan.forward(input: x, weight: w, bias: nil, output: y)
        try plan.backwardData(outputGradient: dy, weight: w, inputGradient: dx)
        try plan.backwardWeights(input: x, outputGradient: dy, weightGradient: dw, biasGradient: nil)
        func dot(_ a: [Float], _ b: [Float]) -> Double { zip(a, b).reduce(0) { $0 + Double($1.0) * Double($1.1) } }
        let lhs = dot(try plain(y), dy.array)
        let viaData = dot(x.array, try plain(dx)), viaWeights = dot(w.array, dw.array)
        #expect(abs(lhs - viaData) < 1e-4 * max(1, abs(lhs)))
        #expect(abs(lhs - viaWeights) < 1e-4 * max(1, abs(lhs)))
    }

    /// A 1-channel 3×3 input with a 2×2 all-ones kernel sums each 2×2 window: hand-checkable.
    @Test func handComputedWindowSums() throws {
        let g = ConvolutionGeometry(batch: 1, inChannels: 1, outChannels: 1, inHeight: 3, inWidth: 3, kernelHeight: 2, kernelWidth: 2)
        let plan = try ConvolutionPlan(g)
        let input = Tensor(shape: [1, 1, 3, 3], values: [1, 2, 3, 4, 5, 6, 7, 8, 9])
        let output = Tensor(shape: g.outputShape)
        try plan.forward(input: input, weight: Tensor(shape: [1, 1, 2, 2], values: [1, 1, 1, 1]),
                         bias: Tensor(shape: [1], values: [0.5]), output: output)
        // 1+2+4+5 = 12, 2+3+5+6 = 16, 4+5+7+8 = 24, 5+6+8+9 = 28; plus 0.5.
        #expect(try plain(output) == [12.5, 16.5, 24.5, 28.5])
    }

    @Test func geometryArithmetic() {
        let g = ConvolutionGeometry(batch: 2, inChannels: 4, outChannels: 6, inHeight: 8, inWidth: 7, kernelHeight: 3, kernelWidth: 3,
                                    strideHeight: 2, strideWidth: 2, padTop: 0, padLeft: 1, padBottom: 1, padRight: 1, groups: 2)
        // (8 + 0 + 1 − 3)/2 + 1 = 4; (7 + 1 + 1 − 3)/2 + 1 = 4.
        #expect(g.outputShape == [2, 6, 4, 4])
        #expect(g.weightShape == [6, 2, 3, 3])
        // 2 · 6 · 4 · 4 outputs, each 2 · 3 · 3 = 18 multiply-adds.
        #expect(g.multiplyAdds == 2 * 6 * 16 * 18)
    }

    @Test func rejectsIndivisibleGroupsAndEmptyOutputs() {
        #expect(throws: DNNLError.self) {
            try ConvolutionPlan(ConvolutionGeometry(batch: 1, inChannels: 3, outChannels: 4, inHeight: 5, inWidth: 5,
                                                    kernelHeight: 3, kernelWidth: 3, groups: 2))
        }
        #expect(throws: DNNLError.self) {
            try ConvolutionPlan(ConvolutionGeometry(batch: 1, inChannels: 1, outChannels: 1, inHeight: 2, inWidth: 2,
                                                    kernelHeight: 3, kernelWidth: 3))
        }
    }
}

@Suite("ConvolutionPlan misuse fails as a Swift error")
struct ConvolutionPlanMisuseTests {
    /// A plan made with `hasBias: true` but called with `bias: nil` must throw (as `backwardWeights`
    /// does for a missing bias gradient), not hand oneDNN an unbound bias argument. Runs in a child
    /// process: a crash there fails this test instead of taking the whole suite down.
    @Test func forwardWithoutTheBiasItsGeometryNeedsThrows() async {
        await #expect(processExitsWith: .success) {
            let g = ConvolutionGeometry(batch: 1, inChannels: 2, outChannels: 3, inHeight: 6, inWidth: 6,
                                        kernelHeight: 3, kernelWidth: 3, hasBias: true)
            let plan = try ConvolutionPlan(g)
            do {
                try plan.forward(input: Tensor(shape: g.inputShape), weight: Tensor(shape: g.weightShape), bias: nil,
                                 output: Tensor(shape: g.outputShape))
                // Reaching here means oneDNN ran with no bias bound; the output is meaningless.
                exit(2)
            } catch {
                exit(0)   // the wanted outcome: a thrown error
            }
        }
    }

    @Test func backwardWeightsWithoutTheBiasGradientThrows() throws {
        let g = ConvolutionGeometry(batch: 1, inChannels: 2, outChannels: 3, inHeight: 6, inWidth: 6, kernelHeight: 3, kernelWidth: 3)
        let plan = try ConvolutionPlan(g)
        #expect(throws: DNNLError.self) {
            try plan.backwardWeights(input: Tensor(shape: g.inputShape), outputGradient: Tensor(shape: g.outputShape),
                                     weightGradient: Tensor(shape: g.weightShape), biasGradient: nil)
        }
    }
}
