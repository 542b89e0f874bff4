import Testing
import Tensors

@Suite("CPUBackend.gemm against a naive float64 product")
struct GEMMTests {
    struct Case: CustomTestStringConvertible, Sendable {
        let transposeA: Bool, transposeB: Bool
        let m: Int, n: Int, k: Int
        let alpha: Float, beta: Float
        var testDescription: String {
            "\(transposeA ? "Aᵀ" : "A")·\(transposeB ? "Bᵀ" : "B") \(m)×\(n)×\(k) α=\(alpha) β=\(beta)"
        }
    }

    /// Every transpose combination on non-square shapes (m, n, k all different, so a swapped
    /// leading dimension or a wrong stride cannot go unnoticed), with α and β away from 1 and 0.
    static let cases: [Case] = [false, true].flatMap { ta in
        [false, true].flatMap { tb in
            [Case(transposeA: ta, transposeB: tb, m: 5, n: 7, k: 3, alpha: 1.5, beta: -0.5),
             Case(transposeA: ta, transposeB: tb, m: 9, n: 4, k: 11, alpha: -0.75, beta: 2),
             Case(transposeA: ta, transposeB: tb, m: 3, n: 8, k: 6, alpha: 1, beta: 0)]
        }
    }

    @Test(arguments: cases)
    func matchesNaiveProduct(_ c: Case) throws {
        // Stored shapes: op(A) is m × k, so A is stored k × m when transposed; likewise B.
        let a = normalTensor(c.transposeA ? [c.k, c.m] : [c.m, c.k], seed: 1)
        let b = normalTensor(c.transposeB ? [c.n, c.k] : [c.k, c.n], seed: 2)
        let cTensor = normalTensor([c.m, c.n], seed: 3)
        let initialC = cTensor.array

        var expected = [Double](repeating: 0, count: c.m * c.n)
        for i in 0..<c.m {
            for j in 0..<c.n {
                var sum = 0.0
                for p in 0..<c.k {
                    let aip = c.transposeA ? a[p * c.m + i] : a[i * c.k + p]
                    let bpj = c.transposeB ? b[j * c.k + p] : b[p * c.n + j]
                    sum += Double(aip) * Double(bpj)
                }
                expected[i * c.n + j] = Double(c.alpha) * sum + Double(c.beta) * Double(initialC[i * c.n + j])
            }
        }

        CPUBackend.shared.gemm(transposeA: c.transposeA, transposeB: c.transposeB, m: c.m, n: c.n, k: c.k,
                               alpha: c.alpha, a: a, b: b, beta: c.beta, c: cTensor)
        // float32 accumulation over ≤ 11 products of O(1) values: ~1e-6 relative; 1e-5 leaves margin.
        #expect(maxRelativeError(cTensor.array, expected) < 1e-5)
    }

    /// A 2×2 by 2×2 product small enough to do by hand: [[1,2],[3,4]]·[[5,6],[7,8]] = [[19,22],[43,50]].
    @Test func handComputedProduct() {
        let a = Tensor(shape: [2, 2], values: [1, 2, 3, 4])
        let b = Tensor(shape: [2, 2], values: [5, 6, 7, 8])
        let c = Tensor(shape: [2, 2], values: [1, 1, 1, 1])
        // 2·[[19,22],[43,50]] + 3·1 = [[41,47],[89,103]]
        CPUBackend.shared.gemm(transposeA: false, transposeB: false, m: 2, n: 2, k: 2, alpha: 2, a: a, b: b, beta: 3, c: c)
        #expect(c.array == [41, 47, 89, 103])
        // Aᵀ·B = [[1,3],[2,4]]·[[5,6],[7,8]] = [[26,30],[38,44]] (β = 0 ignores the old C).
        CPUBackend.shared.gemm(transposeA: true, transposeB: false, m: 2, n: 2, k: 2, alpha: 1, a: a, b: b, beta: 0, c: c)
        #expect(c.array == [26, 30, 38, 44])
    }
}
