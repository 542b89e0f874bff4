import Foundation
import Testing
import Tensors

@Suite("softmaxCrossEntropy: loss, correct count and gradient")
struct SoftmaxCrossEntropyTests {
    let backend = CPUBackend.shared

    func evaluate(_ logits: Tensor, _ labels: [Int32], gradient: Tensor?) -> (lossSum: Double, correct: Int) {
        labels.withUnsafeBufferPointer {
            backend.softmaxCrossEntropy(logits: logits, labels: $0.baseAddress!, rows: labels.count, logitsGradient: gradient)
        }
    }

    /// Row 0: logits (0, ln 3, 0), label 1 → softmax (1/5, 3/5, 1/5), loss −ln(3/5) = ln(5/3) ≈ 0.5108256; correct.
    /// Row 1: logits (0, ln 2, ln 5), label 0 → softmax (1/8, 2/8, 5/8), loss −ln(1/8) = ln 8 ≈ 2.0794415;
    /// wrong (argmax is class 2). Sum ln(5/3) + ln 8 = ln(40/3) ≈ 2.5902672.
    /// Gradient = (softmax − onehot) / rows: row 0 (0.2, −0.4, 0.2)/2 = (0.1, −0.2, 0.1);
    /// row 1 (0.125 − 1, 0.25, 0.625)/2 = (−0.4375, 0.125, 0.3125).
    @Test func handComputedTwoByThree() {
        let logits = Tensor(shape: [2, 3], values: [0, Float(log(3.0)), 0, 0, Float(log(2.0)), Float(log(5.0))])
        let gradient = Tensor(shape: [2, 3])
        let result = evaluate(logits, [1, 0], gradient: gradient)
        #expect(abs(result.lossSum - 2.590_267_2) < 1e-5)
        #expect(result.correct == 1)
        let expected: [Float] = [0.1, -0.2, 0.1, -0.4375, 0.125, 0.3125]
        for (got, want) in zip(gradient.array, expected) { #expect(abs(got - want) < 1e-6, "\(gradient.array)") }
    }

    @Test func withoutGradientGivesTheSameLossAndLeavesNothingWritten() {
        let logits = Tensor(shape: [2, 3], values: [0, Float(log(3.0)), 0, 0, Float(log(2.0)), Float(log(5.0))])
        let result = evaluate(logits, [1, 2], gradient: nil)
        // ln(5/3) + ln(8/5) = ln(8/3) ≈ 0.9808293; both rows correct.
        #expect(abs(result.lossSum - 0.980_829_3) < 1e-5)
        #expect(result.correct == 2)
    }

    @Test func gradientRowsSumToZeroAndEqualSoftmaxMinusOneHot() {
        let rows = 6, classes = 5
        let logits = normalTensor([rows, classes], seed: 41, scale: 3)
        let labels: [Int32] = [0, 4, 2, 2, 1, 3]
        let gradient = Tensor(shape: [rows, classes])
        let result = evaluate(logits, labels, gradient: gradient)
        var expectedLoss = 0.0, expectedCorrect = 0
        for r in 0..<rows {
            let row = (0..<classes).map { Double(logits[r * classes + $0]) }
            let maximum = row.max()!
            let sum = row.reduce(0) { $0 + exp($1 - maximum) }
            expectedLoss += log(sum) - (row[Int(labels[r])] - maximum)
            if row.firstIndex(of: maximum)! == Int(labels[r]) { expectedCorrect += 1 }
            var rowSum = 0.0
            for j in 0..<classes {
                let softmax = exp(row[j] - maximum) / sum
                let want = (softmax - (j == Int(labels[r]) ? 1 : 0)) / Double(rows)
                let got = Double(gradient[r * classes + j])
                #expect(abs(got - want) < 1e-6, "row \(r) class \(j): \(got) vs \(want)")
                rowSum += got
            }
            #expect(abs(rowSum) < 1e-6, "row \(r) sums to \(rowSum)")
        }
        #expect(abs(result.lossSum - expectedLoss) < 1e-4 * max(1, expectedLoss))
        #expect(result.correct == expectedCorrect)
    }

    /// Large logits must not overflow exp: the loss of a confident right answer is ~0, of a
    /// confident wrong one ~ the logit gap.
    @Test func largeLogitsStayFinite() {
        let logits = Tensor(shape: [2, 3], values: [1000, 0, -1000, 1000, 0, -1000])
        let gradient = Tensor(shape: [2, 3])
        let result = evaluate(logits, [0, 2], gradient: gradient)
        // Row 0: ln(1 + e^−1000 + e^−2000) ≈ 0; row 1: 2000 + ln(1 + …) ≈ 2000.
        #expect(abs(result.lossSum - 2000) < 1e-3)
        #expect(result.correct == 1)
        let allFinite = gradient.array.allSatisfy { $0.isFinite }
        #expect(allFinite)
        // Row 1 gradient: softmax ≈ (1, 0, 0) − onehot(2), halved.
        #expect(abs(gradient[3] - 0.5) < 1e-6 && abs(gradient[5] + 0.5) < 1e-6)
    }

    /// Evaluation passes fewer rows than the batch tensor holds (the last partial batch): rows
    /// beyond `rows` are ignored and the gradient scale is 1/rows.
    @Test func onlyTheFirstRowsCount() {
        let logits = Tensor(shape: [3, 2], values: [0, 0, 5, 0, 0, 5])
        let gradient = Tensor(shape: [3, 2])
        gradient.fill(7)
        let result = [Int32(1), 0, 0].withUnsafeBufferPointer {
            backend.softmaxCrossEntropy(logits: logits, labels: $0.baseAddress!, rows: 1, logitsGradient: gradient)
        }
        // One row (0, 0) with label 1: loss ln 2; argmax is class 0 (first of a tie) ≠ 1.
        #expect(abs(result.lossSum - log(2.0)) < 1e-6)
        #expect(result.correct == 0)
        #expect(Array(gradient.array[0..<2]) == [0.5, -0.5])
        #expect(Array(gradient.array[2...]) == [7, 7, 7, 7])
    }
}
