import Testing
import Tensors

@Suite("CPUBackend element-wise operations")
struct ElementwiseTests {
    let backend = CPUBackend.shared

    /// Small tensors run inline; 300 000 elements exceed the 2¹⁷ chunk and run split over the team.
    static let sizes = [7, 300_000]

    @Test(arguments: sizes)
    func relu(count: Int) throws {
        let input = normalTensor([count], seed: 51)
        input[0] = 0; input[1] = -0.0; input[2] = 3; input[3] = -3
        let output = Tensor(shape: [count])
        output.fill(99)
        backend.relu(input: input, output: output)
        let got = try plain(output)
        #expect(Array(got[0..<4]) == [0, 0, 3, 0])
        var mismatches = 0
        for i in 0..<count where got[i] != (input[i] > 0 ? input[i] : 0) { mismatches += 1 }
        #expect(mismatches == 0)
    }

    @Test(arguments: sizes)
    func reluBackward(count: Int) throws {
        let output = normalTensor([count], seed: 52)
        for i in 0..<count where output[i] < 0 { output[i] = 0 }   // a ReLU output is never negative
        output[0] = 0; output[1] = 2
        let outputGradient = normalTensor([count], seed: 53)
        outputGradient[0] = 4; outputGradient[1] = -5
        let inputGradient = Tensor(shape: [count])
        inputGradient.fill(99)
        backend.reluBackward(output: output, outputGradient: outputGradient, inputGradient: inputGradient)
        let got = try plain(inputGradient)
        // At output 0 the gradient is dropped (subgradient 0), elsewhere passed through.
        #expect(got[0] == 0 && got[1] == -5)
        var mismatches = 0
        for i in 0..<count where got[i] != (output[i] > 0 ? outputGradient[i] : 0) { mismatches += 1 }
        #expect(mismatches == 0)
    }

    @Test func addBiasToEveryRow() {
        let matrix = Tensor(shape: [2, 3], values: [1, 2, 3, 4, 5, 6])
        backend.addBias(Tensor(shape: [3], values: [10, 20, 30]), to: matrix)
        #expect(matrix.array == [11, 22, 33, 14, 25, 36])
    }

    @Test func sumRowsOverwrites() {
        let matrix = Tensor(shape: [3, 2], values: [1, 2, 3, 4, 5, 6])
        let result = Tensor(shape: [2], values: [100, 100])
        backend.sumRows(of: matrix, into: result)
        // (1 + 3 + 5, 2 + 4 + 6), the old 100s gone.
        #expect(result.array == [9, 12])
    }

    @Test(arguments: sizes)
    func addAndAccumulate(count: Int) throws {
        let a = normalTensor([count], seed: 54), b = normalTensor([count], seed: 55)
        let sum = Tensor(shape: [count])
        backend.add(a, b, into: sum)
        let got = try plain(sum)
        var mismatches = 0
        for i in 0..<count where got[i] != a[i] + b[i] { mismatches += 1 }
        #expect(mismatches == 0)

        let target = b.clone()
        backend.accumulate(a, into: target)
        backend.accumulate(a, into: target)
        mismatches = 0
        for i in 0..<count where target[i] != (b[i] + a[i]) + a[i] { mismatches += 1 }
        #expect(mismatches == 0)
    }

    @Test func addHandComputed() {
        let out = Tensor(shape: [2, 2])
        backend.add(Tensor(shape: [2, 2], values: [1, -2, 3.5, 0]), Tensor(shape: [2, 2], values: [0.5, 2, -1, 4]), into: out)
        #expect(out.array == [1.5, 0, 2.5, 4])
        backend.accumulate(Tensor(shape: [2, 2], values: [1, 1, 1, 1]), into: out)
        #expect(out.array == [2.5, 1, 3.5, 5])
    }

    @Test func applyMaskZeroesExactly() {
        let tensor = Tensor(shape: [5], values: [1.5, -2, 3, -4, 5])
        backend.applyMask(Tensor(shape: [5], values: [1, 0, 1, 0, 0]), to: tensor)
        #expect(tensor.array == [1.5, 0, 3, 0, 0])
        // −4 · 0 is −0, which equals 0; what matters is that no value survives.
        #expect(tensor.array.enumerated().allSatisfy { [0, 2].contains($0.offset) || $0.element == 0 })
    }

    /// Two hand-computed steps, lr 0.1, momentum 0.9, weight decay 0.01, mask (1, 0, 1, 1):
    ///
    /// step 1, g = (0.5, 1, −1, 0), v = 0:
    ///   i0: grad 0.5 + 0.01·1 = 0.51,  v 0.51,   w 1 − 0.051 = 0.949
    ///   i1: masked → grad 0, v 0, w 0
    ///   i2: grad −1 + 0.005 = −0.995,  v −0.995, w 0.5 + 0.0995 = 0.5995
    ///   i3: grad 0 + 0.03 = 0.03,      v 0.03,   w 3 − 0.003 = 2.997
    /// step 2, g = (0.2, 5, 0.1, −0.3):
    ///   i0: grad 0.2 + 0.00949 = 0.20949,     v 0.459 + 0.20949 = 0.66849,      w 0.949 − 0.066849 = 0.882151
    ///   i2: grad 0.1 + 0.005995 = 0.105995,   v −0.8955 + 0.105995 = −0.789505, w 0.5995 + 0.0789505 = 0.6784505
    ///   i3: grad −0.3 + 0.02997 = −0.27003,   v 0.027 − 0.27003 = −0.24303,     w 2.997 + 0.024303 = 3.021303
    @Test func sgdStepTwoStepsWithMomentumDecayAndMask() {
        let weight = Tensor(shape: [4], values: [1, -2, 0.5, 3])
        let velocity = Tensor(shape: [4])
        let mask = Tensor(shape: [4], values: [1, 0, 1, 1])
        func step(_ g: [Float]) {
            backend.sgdStep(weight: weight, gradient: Tensor(shape: [4], values: g), velocity: velocity, mask: mask,
                            learningRate: 0.1, momentum: 0.9, weightDecay: 0.01)
        }
        step([0.5, 1, -1, 0])
        expectClose(weight.array, [0.949, 0, 0.5995, 2.997])
        expectClose(velocity.array, [0.51, 0, -0.995, 0.03])
        step([0.2, 5, 0.1, -0.3])
        expectClose(weight.array, [0.882151, 0, 0.6784505, 3.021303])
        expectClose(velocity.array, [0.66849, 0, -0.789505, -0.24303])
        #expect(weight[1] == 0 && velocity[1] == 0, "masked weight \(weight[1]) velocity \(velocity[1]) must be exactly 0")
    }

    /// Without a mask the same formula holds everywhere: one step from w = (2, −1), v = (1, 0),
    /// g = (0.5, 0.5), lr 0.5, momentum 0.5, decay 0.1:
    ///   i0: v 0.5·1 + 0.5 + 0.2 = 1.2,  w 2 − 0.6 = 1.4
    ///   i1: v 0 + 0.5 − 0.1 = 0.4,      w −1 − 0.2 = −1.2
    @Test func sgdStepWithoutMask() {
        let weight = Tensor(shape: [2], values: [2, -1]), velocity = Tensor(shape: [2], values: [1, 0])
        backend.sgdStep(weight: weight, gradient: Tensor(shape: [2], values: [0.5, 0.5]), velocity: velocity, mask: nil,
                        learningRate: 0.5, momentum: 0.5, weightDecay: 0.1)
        expectClose(weight.array, [1.4, -1.2])
        expectClose(velocity.array, [1.2, 0.4])
    }

    /// The chunked (multi-threaded) path computes the same as the formula on every element.
    @Test func sgdStepLargeMaskedTensor() {
        let count = 300_000
        let weight = normalTensor([count], seed: 56), gradient = normalTensor([count], seed: 57)
        let velocity = normalTensor([count], seed: 58, scale: 0.1)
        let mask = Tensor(shape: [count])
        for i in 0..<count where i % 3 != 0 { mask[i] = 1 }
        for i in 0..<count where mask[i] == 0 { weight[i] = 0; velocity[i] = 0 }
        let (w0, v0) = (weight.array, velocity.array)
        backend.sgdStep(weight: weight, gradient: gradient, velocity: velocity, mask: mask,
                        learningRate: 0.05, momentum: 0.9, weightDecay: 5e-4)
        var worst = 0.0, maskedNonZero = 0
        for i in 0..<count {
            if mask[i] == 0 {
                if weight[i] != 0 || velocity[i] != 0 { maskedNonZero += 1 }
                continue
            }
            let v = 0.9 * Double(v0[i]) + Double(gradient[i]) + 5e-4 * Double(w0[i])
            let w = Double(w0[i]) - 0.05 * v
            worst = max(worst, abs(Double(velocity[i]) - v), abs(Double(weight[i]) - w))
        }
        #expect(maskedNonZero == 0)
        #expect(worst < 1e-5)
    }

    func expectClose(_ got: [Float], _ want: [Double], sourceLocation: SourceLocation = #_sourceLocation) {
        #expect(got.count == want.count, sourceLocation: sourceLocation)
        for (g, w) in zip(got, want) {
            #expect(abs(Double(g) - w) <= 1e-6 * max(1, abs(w)), "got \(got), want \(want)", sourceLocation: sourceLocation)
        }
    }
}
