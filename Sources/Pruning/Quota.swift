/// Layerwise quotas for random and layerwise magnitude pruning (docs/science.md):
/// how many weights each prunable layer keeps when the network keeps `keptTotal` in all.
///
/// Every quota is a one-parameter family of real per-layer kept counts q_l(t), nondecreasing in
/// t ∈ [0, +∞] with q_l(+∞) = n_l (the layer's size). `densities` solves Σ q_l(t) = keptTotal in the
/// reals; `keptCounts` rounds that family to integers with `MonotoneRounding`, whose counts sum to
/// exactly keptTotal and never decrease as keptTotal grows (nested random masks rely on it).
public enum Quota: String, CaseIterable, Sendable {
    /// Every layer at the same density keptTotal / total.
    case uniform
    /// Gale et al. 2019: first layer dense, last layer at least 20 % dense, the rest one uniform density.
    case uniformPlus = "uniform+"
    /// Evci et al. 2020 (RigL): density min(1, ε·(Σ dims)/(Π dims)), ε found by exact water-filling.
    case erk
    /// Vysogorets & Kempe 2023, Ideal Gas Quotas: density 1/(F·n_l + 1), F found by bisection.
    case igq

    /// Parses "uniform", "uniform+", "erk", "igq"; throws PruningError.unknownQuota(name) otherwise.
    public init(parsing name: String) throws {
        guard let quota = Quota(rawValue: name) else { throw PruningError.unknownQuota(name) }
        self = quota
    }

    /// Per-layer kept weight counts for keeping `keptTotal` of the layers' weights in all.
    /// shapes: weight shapes in canonical order — dense (out, in), conv (out, in/groups, kh, kw).
    /// The counts sum to exactly keptTotal, lie in 0…size, and none decreases when keptTotal grows.
    /// Throws `PruningError.unreachableTarget` when keptTotal is outside 0…total or uniform+ cannot
    /// keep that few (it keeps the first layer dense, so keptTotal == 0 is unreachable for it),
    /// `PruningError.unsupported` for an empty shape or a non-positive dimension.
    public func keptCounts(keptTotal: Int, shapes: [[Int]]) throws -> [Int] {
        let layers = try QuotaLayers(method: rawValue, keptTotal: keptTotal, shapes: shapes)
        if keptTotal == layers.total { return layers.sizes }
        try checkReachable(layers)
        let sizes = layers.sizes.map(Double.init)
        switch self {
        case .uniform:
            return MonotoneRounding.counts(keptTotal: keptTotal, sizes: layers.sizes) { l, t in sizes[l] * min(1, t) }
        case .uniformPlus:
            let last = layers.count - 1
            let lastFloor = Double(UniformPlus.lastLayerFloor(layers.sizes[last]))
            return MonotoneRounding.counts(keptTotal: keptTotal, sizes: layers.sizes) { l, t in
                l == 0 ? sizes[0] : l == last ? max(lastFloor, sizes[l] * min(1, t)) : sizes[l] * min(1, t)
            }
        case .erk:
            let dimensionSums = layers.dimensionSums.map(Double.init)
            return MonotoneRounding.counts(keptTotal: keptTotal, sizes: layers.sizes) { l, epsilon in
                ERKQuota.keptCount(size: sizes[l], dimensionSum: dimensionSums[l], epsilon: epsilon)
            }
        case .igq:
            return MonotoneRounding.counts(keptTotal: keptTotal, sizes: layers.sizes) { l, inverseF in
                IdealGasQuota.keptCount(size: sizes[l], inverseF: inverseF)
            }
        }
    }

    /// The real-valued per-layer densities before rounding (for reports); uniform+'s last-layer floor
    /// is ⌈n/5⌉/n, 20 % rounded up to whole weights. Throws as `keptCounts` does.
    public func densities(keptTotal: Int, shapes: [[Int]]) throws -> [Double] {
        let layers = try QuotaLayers(method: rawValue, keptTotal: keptTotal, shapes: shapes)
        if keptTotal == layers.total { return Array(repeating: 1, count: layers.count) }
        try checkReachable(layers)
        if keptTotal == 0 { return Array(repeating: 0, count: layers.count) }
        switch self {
        case .uniform:
            return Array(repeating: Double(keptTotal) / Double(layers.total), count: layers.count)
        case .uniformPlus:
            return UniformPlus.densities(keptTotal: keptTotal, sizes: layers.sizes)
        case .erk:
            return ERKQuota.densities(keptTotal: keptTotal, sizes: layers.sizes, dimensionSums: layers.dimensionSums)
        case .igq:
            return IdealGasQuota.densities(keptTotal: keptTotal, sizes: layers.sizes)
        }
    }

    private func checkReachable(_ layers: QuotaLayers) throws {
        if self == .uniformPlus { try UniformPlus.checkReachable(layers) }
    }
}

/// The validated input of a quota: layer sizes n_l, their dimension sums, and the kept total.
struct QuotaLayers {
    let sizes: [Int]
    /// Σ of each shape's dimensions: ERK's density is proportional to dimensionSum / size.
    let dimensionSums: [Int]
    let total: Int
    let keptTotal: Int
    var count: Int { sizes.count }

    init(method: String, keptTotal: Int, shapes: [[Int]]) throws {
        for shape in shapes where shape.isEmpty || shape.contains(where: { $0 <= 0 }) {
            throw PruningError.unsupported("quota \(method): weight shape \(shape) must have positive dimensions")
        }
        sizes = shapes.map { $0.reduce(1, *) }
        dimensionSums = shapes.map { $0.reduce(0, +) }
        total = sizes.reduce(0, +)
        guard (0...total).contains(keptTotal) else {
            throw PruningError.unreachableTarget(
                method: method, reason: "cannot keep \(keptTotal) weights of \(total) (keptTotal must lie in 0…\(total))")
        }
        self.keptTotal = keptTotal
    }
}

/// uniform+ (Gale et al. 2019, "The State of Sparsity in Deep Neural Networks"). With two layers
/// there is no middle: the first stays dense and the last takes the rest (at least 20 %). With one
/// layer, that layer is both first and last; the first-layer rule wins, so it stays dense and only
/// keptTotal == total is reachable: anything else throws `unreachableTarget`.
enum UniformPlus {
    /// The least the last layer keeps: 20 % of its weights, rounded up so that its count, not just
    /// its real density, is at most 80 % sparse.
    static func lastLayerFloor(_ size: Int) -> Int { (size + 4) / 5 }

    static func checkReachable(_ layers: QuotaLayers) throws {
        guard layers.count >= 1 else { return }
        let first = layers.sizes[0]
        if layers.count == 1 {
            guard layers.keptTotal == layers.total else {
                throw PruningError.unreachableTarget(
                    method: Quota.uniformPlus.rawValue,
                    reason: "the only layer (\(first) weights) is the first layer, which stays dense, so the maximum reachable compression is 1")
            }
            return
        }
        let lastSize = layers.sizes[layers.count - 1]
        let least = first + lastLayerFloor(lastSize)
        guard layers.keptTotal >= least else {
            let maximum = (Double(layers.total) / Double(least) * 10_000).rounded(.down) / 10_000
            throw PruningError.unreachableTarget(
                method: Quota.uniformPlus.rawValue,
                reason: "the first layer (\(first) weights) stays dense and the last keeps at least \(lastLayerFloor(lastSize)) of "
                    + "its \(lastSize), so at least \(least) of \(layers.total) weights remain (asked to keep \(layers.keptTotal)); "
                    + "the maximum reachable compression is \(maximum)")
        }
    }

    /// First layer 1, middle layers a common density d, last layer max(d, its floor), solved exactly.
    static func densities(keptTotal: Int, sizes: [Int]) -> [Double] {
        let last = sizes.count - 1
        let floor = lastLayerFloor(sizes[last])
        let middle = sizes[1..<last].reduce(0, +)
        let rest = keptTotal - sizes[0]
        let common: Double
        let lastDensity: Double
        if middle == 0 {
            common = 0
            lastDensity = Double(rest) / Double(sizes[last])
        } else if (rest - floor) * sizes[last] <= floor * middle {
            // d = (rest − floor)/middle leaves the last layer at its floor.
            common = Double(rest - floor) / Double(middle)
            lastDensity = Double(floor) / Double(sizes[last])
        } else {
            common = Double(rest) / Double(middle + sizes[last])
            lastDensity = common
        }
        return sizes.indices.map { $0 == 0 ? 1 : $0 == last ? lastDensity : common }
    }
}

/// Integer counts from a quota's family q_l(t) that are exact in sum and monotone in keptTotal.
///
/// Largest-remainder (Hamilton) rounding of the real counts is not monotone — the Alabama paradox.
/// uniform on LeNet-300-100 (sizes 235 200, 30 000, 1 000) keeping 100: real counts 88.35, 11.27,
/// 0.376, floors 88 + 11 + 0, the one spare to the largest remainder .376 → (88, 11, 1); keeping 101:
/// 89.24, 11.38, 0.379, floors 89 + 11 + 0, the spare to .382 → (89, 12, 0), and fc3 lost its weight.
///
/// So instead every weight slot (layer l, k-th weight) gets an arrival parameter: the least t (as a
/// Double) at which round(q_l(t)) ≥ k — Webster/Sainte-Laguë rounding, a divisor method. Sorting all
/// slots by (arrival, layer index) gives ONE order that does not depend on keptTotal, and the counts
/// for keptTotal are those of its first keptTotal slots. Prefixes of a fixed order are nested, so the
/// counts are monotone; they sum to keptTotal by construction; and 0 ≤ count ≤ n_l because a layer
/// has n_l slots. The price: a count is not always within one weight of n_l·density (Hamilton's
/// quota property). With L layers, |count_l − n_l·density_l| ≤ (L + 1)/2: the rounded total at the
/// chosen t is off from keptTotal by at most L/2, and at worst one layer absorbs all of it. In
/// practice it stays near Hamilton's: at most 1.3 weights over sweeps of LeNet-300-100, LeNet-5 and
/// VGG-16 for all four quotas (QuotaTests).
///
/// Requires: q_l(t) nondecreasing in t when evaluated in floating point (each family is built from
/// monotone operations: +, ×, ÷ by a positive quantity in the right direction, min, max), q_l(+∞) = n_l.
enum MonotoneRounding {
    static func counts(keptTotal: Int, sizes: [Int], keptAt: (Int, Double) -> Double) -> [Int] {
        func rounded(at bits: UInt64) -> [Int] {
            let t = Double(bitPattern: bits)
            return sizes.indices.map { l in min(sizes[l], max(0, Int((keptAt(l, t) + 0.5).rounded(.down)))) }
        }
        // Nonnegative Doubles order like their bit patterns, so bisecting on the bits finds the least t
        // whose rounded total reaches keptTotal in at most 64 steps.
        let arrival = leastBitPattern { rounded(at: $0).reduce(0, +) >= keptTotal }
        let arrived = rounded(at: arrival)
        // Slots that arrived strictly before `arrival` all count; those arriving at it go by layer index.
        var counts = arrival == 0 ? Array(repeating: 0, count: sizes.count) : rounded(at: arrival - 1)
        var spare = keptTotal - counts.reduce(0, +)
        for l in counts.indices where spare > 0 {
            let take = min(spare, arrived[l] - counts[l])
            counts[l] += take
            spare -= take
        }
        return counts
    }

    /// The least bit pattern b in [0, bits of +∞] with `holds(b)`, for a predicate that is false up to
    /// some b and true from there on, and true at +∞.
    static func leastBitPattern(where holds: (UInt64) -> Bool) -> UInt64 {
        var low: UInt64 = 0
        var high = Double.infinity.bitPattern
        if holds(low) { return low }
        // Invariant: holds(high), !holds(low).
        while high - low > 1 {
            let middle = low + (high - low) / 2
            if holds(middle) { high = middle } else { low = middle }
        }
        return high
    }
}
