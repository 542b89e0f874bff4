import Testing
import Tensors

/// Naive helpers shared by the kernel reference tests: float64 references, seeded inputs.

/// A plain tensor of normal samples from a seeded stream.
func normalTensor(_ shape: [Int], seed: UInt64, scale: Double = 1) -> Tensor {
    var rng = RandomGenerator(seed: seed, stream: "tensors-tests")
    let t = Tensor(shape: shape)
    for i in 0..<t.count { t[i] = Float(rng.nextNormal() * scale) }
    return t
}

/// The values of a tensor read in NCHW order (through the backend, layout-independent).
func plain(_ tensor: Tensor) throws -> [Float] { try CPUBackend.shared.plainValues(of: tensor) }

/// max_i |a_i − b_i| / (1 + |b_i|): relative for large values, absolute near zero.
func maxRelativeError(_ actual: [Float], _ expected: [Double]) -> Double {
    precondition(actual.count == expected.count, "\(actual.count) vs \(expected.count) values")
    var worst = 0.0
    for (a, e) in zip(actual, expected) { worst = max(worst, abs(Double(a) - e) / (1 + abs(e))) }
    return worst
}
