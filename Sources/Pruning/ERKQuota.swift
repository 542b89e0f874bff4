/// Erdős–Rényi-Kernel quotas (Evci et al. 2020, "Rigging the Lottery", §3): layer l keeps density
/// min(1, ε·r_l) with r_l = (Σ of its shape's dimensions)/(Π of them), so n_l·r_l is the dimension sum s_l
/// and the real kept count is min(n_l, ε·s_l).
///
/// ε comes from exact water-filling, not one-shot rescaling ε = keptTotal/Σ s, which breaks as soon as
/// a layer's ε·r_l exceeds 1 (on VGG-16, Σ s = 8 539, the classifier's r = 522/5 120 exceeds 1/ε below
/// about 176×), nor from a single round of capping (after capping the classifier, the first conv,
/// r = 73/1 728, needs capping too below about 75.5×). Water-filling: sort layers by r_l, largest first; cap
/// the first m at dense and spread the rest, ε_m = (keptTotal − Σ_{capped} n)/(Σ_{uncapped} s); take the
/// least m for which the largest uncapped layer stays at density ≤ 1. Capping a layer whose ε·r_l
/// exceeds 1 only raises ε, so every capped layer still has ε·r_l ≥ 1 at the end: the solution is
/// consistent at every target from compression 1 to ∞.
enum ERKQuota {
    static func densities(keptTotal: Int, sizes: [Int], dimensionSums: [Int]) -> [Double] {
        let epsilon = self.epsilon(keptTotal: keptTotal, sizes: sizes, dimensionSums: dimensionSums)
        return sizes.indices.map { l in
            keptCount(size: Double(sizes[l]), dimensionSum: Double(dimensionSums[l]), epsilon: epsilon) / Double(sizes[l])
        }
    }

    /// ε for 0 ≤ keptTotal < total (at keptTotal == total every ε ≥ max 1/r_l works).
    static func epsilon(keptTotal: Int, sizes: [Int], dimensionSums: [Int]) -> Double {
        // r_a > r_b compared without division: s_a·n_b > s_b·n_a (exact in Int for real networks).
        let byRatio = sizes.indices.sorted { a, b in
            let left = dimensionSums[a] * sizes[b], right = dimensionSums[b] * sizes[a]
            return left != right ? left > right : a < b
        }
        var cappedSize = 0
        var uncappedSum = dimensionSums.reduce(0, +)
        for l in byRatio {
            let epsilon = Double(keptTotal - cappedSize) / Double(uncappedSum)
            // Layer l has the largest r among the uncapped: if it fits, all of them do.
            if epsilon * Double(dimensionSums[l]) <= Double(sizes[l]) { return epsilon }
            cappedSize += sizes[l]
            uncappedSum -= dimensionSums[l]
        }
        preconditionFailure("ERK water-filling capped every layer below the total (\(keptTotal) of \(cappedSize))")
    }

    /// The real kept count min(n, ε·s): nondecreasing in ε in floating point, n at ε = +∞.
    static func keptCount(size: Double, dimensionSum: Double, epsilon: Double) -> Double {
        min(size, epsilon * dimensionSum)
    }
}
