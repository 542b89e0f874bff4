/// Ideal Gas Quotas (Vysogorets & Kempe 2023, "Connectivity Matters", §5): layer l of size n_l keeps
/// density 1/(F·n_l + 1) for the one F ≥ 0 with Σ n_l/(F·n_l + 1) = keptTotal. F = 0 is dense, F → ∞
/// empties every layer, and the total is strictly decreasing in F, so bisection finds it.
enum IdealGasQuota {
    /// Densities for 0 < keptTotal < total.
    static func densities(keptTotal: Int, sizes: [Int]) -> [Double] {
        let f = compressionFactor(keptTotal: keptTotal, sizes: sizes)
        return sizes.map { 1 / (f * Double($0) + 1) }
    }

    /// F to full Double precision: the adjacent pair of Doubles around the root, whichever total is closer.
    static func compressionFactor(keptTotal: Int, sizes: [Int]) -> Double {
        let target = Double(keptTotal)
        let sizes = sizes.map(Double.init)
        // Each term n/(F·n + 1) is nonincreasing in F in floating point, so is their sum in a fixed order.
        func kept(_ f: Double) -> Double { sizes.reduce(0) { $0 + $1 / (f * $1 + 1) } }
        let above = MonotoneRounding.leastBitPattern { kept(Double(bitPattern: $0)) <= target }
        guard above > 0 else { return 0 }
        let high = Double(bitPattern: above), low = Double(bitPattern: above - 1)
        return abs(kept(low) - target) < abs(kept(high) - target) ? low : high
    }

    /// The real kept count as a function of u = 1/F, written n/(n/u + 1) so that every operation is
    /// monotone in u (nondecreasing): 0 at u = 0, n at u = +∞.
    static func keptCount(size: Double, inverseF: Double) -> Double {
        size / (size / inverseF + 1)
    }
}
