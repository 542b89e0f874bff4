import Foundation

/// The search behind effective pruning (docs/science.md): the smallest direct kept count K whose
/// masks keep at least `needed` effective weights, in few probes. Iterative pruners (SynFlow,
/// iterative SNIP) re-run every round per probe, so each probe may cost minutes.
///
/// Effective counts are smooth and nearly proportional to K for most methods (SynFlow keeps
/// effective ≈ direct), so the search steps proportionally up from K = `needed`, then interpolates
/// the crossing on log scale inside the bracket: three or four probes when the counts are smooth
/// (K = needed, a step past the answer, the answer, the answer − 1), against bisection's 18 on
/// VGG-16. Regula falsi with the Illinois rule keeps one-sided convergence from stalling, and a
/// halving budget bounds the worst case like bisection's. SynFlow's counts scatter by tens of
/// weights between neighbouring K, so it takes 6–7 probes there (BENCHMARKS.md).
enum EffectiveSearch {
    enum Answer: Equatable {
        /// `kept` is sufficient, and it is `needed` or `kept − 1` was probed insufficient.
        case kept(Int)
        /// Even every eligible weight (the limit) leaves only `effectiveAtLimit` effective.
        case unreachable(effectiveAtLimit: Int)
    }

    /// Probes beyond bisection's ⌈log₂ width⌉ that interpolation may spend inside the bracket.
    static let slack = 3

    /// Searches kept counts in `needed...limit` with `effective`, the effective count of the masks
    /// keeping K weights (at most K), probing no count twice. When `effective` is nondecreasing the
    /// answer is the smallest sufficient K, as a linear scan would find; otherwise it is a K that is
    /// sufficient where K − 1 is not. At most 2⌈log₂(limit − needed)⌉ + 5 probes.
    static func smallestSufficient(needed: Int, limit: Int, effective: (Int) throws -> Int) rethrows -> Answer {
        precondition(needed >= 1 && needed <= limit, "needed \(needed) outside 1...\(limit)")
        // K − 1 < needed can never be sufficient (effective ≤ kept), so K = needed is the first probe.
        var lo = needed, effectiveLo = try effective(needed)
        if effectiveLo >= needed { return .kept(needed) }

        // Step up to where the effective count would reach `needed` if it were proportional to K:
        // ⌈K · needed / effective⌉, one past the answer when effective = K − c for a small c
        // (SynFlow), on it when effective = ⌊r K⌋. The m-th step is at least 2^(m−1), so the misses
        // are O(log n) while a near miss may still take a small proportional step; ×2 while nothing
        // is effective.
        var hi: Int, effectiveHi: Int, minimumStep = 1
        while true {
            guard lo < limit else { return .unreachable(effectiveAtLimit: effectiveLo) }
            var next: Int
            if effectiveLo == 0 {
                next = lo.multipliedReportingOverflow(by: 2).overflow ? limit : 2 * lo
            } else {
                let (product, overflow) = lo.multipliedReportingOverflow(by: needed)
                next = overflow ? limit : (product + effectiveLo - 1) / effectiveLo
            }
            next = min(max(next, lo + minimumStep), limit)
            let effectiveNext = try effective(next)
            if effectiveNext >= needed {
                (hi, effectiveHi) = (next, effectiveNext)
                break
            }
            minimumStep = minimumStep < limit ? 2 * minimumStep : limit
            (lo, effectiveLo) = (next, effectiveNext)
        }

        // Bracketed: effective(lo) < needed ≤ effective(hi). Aim at needed − ½, the boundary between
        // the whole counts below and at `needed`, so a count landing exactly on `needed` is not taken
        // for the crossing (the crossing may lie a plateau earlier).
        let target = Double(needed) - 0.5
        // After each probe the bracket is at most `budget` wide: a power of two that starts `slack`
        // doublings above the width and halves per probe, forcing probes toward the middle only when
        // interpolation has stalled.
        var budget = 1 << (bitWidth(hi - lo - 1) + slack)
        // Illinois: a side kept twice in a row weighs its residual half as much the next time.
        var weightLo = 1.0, weightHi = 1.0, lastMoved: Bool?  // true: hi moved
        while hi - lo > 1 {
            budget /= 2
            // The K where the line through both ends (log K against log effective; linear in K from
            // a count with nothing effective) reaches the target.
            let estimate: Double
            if effectiveLo > 0 {
                let residualLo = weightLo * (log(Double(effectiveLo)) - log(target))
                let residualHi = weightHi * (log(Double(effectiveHi)) - log(target))
                let t = residualLo / (residualLo - residualHi)
                estimate = exp(log(Double(lo)) + t * (log(Double(hi)) - log(Double(lo))))
            } else {
                let residualLo = weightLo * (Double(effectiveLo) - target)
                let residualHi = weightHi * (Double(effectiveHi) - target)
                estimate = Double(lo) + residualLo / (residualLo - residualHi) * Double(hi - lo)
            }
            // Strictly inside the bracket, and within the budget whichever side the probe lands on.
            let low = max(lo + 1, hi - budget), high = min(hi - 1, lo + budget)
            let probe = estimate.isFinite ? Int(min(max(estimate.rounded(.up), Double(low)), Double(high))) : low + (high - low) / 2
            let effectiveProbe = try effective(probe)
            let hiMoved = effectiveProbe >= needed
            if hiMoved {
                (hi, effectiveHi) = (probe, effectiveProbe)
            } else {
                (lo, effectiveLo) = (probe, effectiveProbe)
            }
            if hiMoved == lastMoved {
                if hiMoved { weightLo /= 2 } else { weightHi /= 2 }
            } else {
                (weightLo, weightHi) = (1, 1)
            }
            lastMoved = hiMoved
        }
        return .kept(hi)
    }

    /// Bits needed to write `n` ≥ 0: ⌈log₂(n + 1)⌉.
    private static func bitWidth(_ n: Int) -> Int { Int.bitWidth - n.leadingZeroBitCount }
}
