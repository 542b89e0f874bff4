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
/// weights between neighbouring K, so searching its runs this way took 6–7 probes; iterative
/// pruners instead trim their first sufficient run (`smallestSufficientByTrimming`): two runs on
/// VGG-16 (BENCHMARKS.md).
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
        switch try stepUp(needed: needed, limit: limit, margin: { _ in 0 }, effective: effective) {
        case let .answer(answer): answer
        case let .bracket(lo, effectiveLo, hi, effectiveHi):
            .kept(try crossing(needed: needed, lo: (lo, effectiveLo), hi: (hi, effectiveHi), effective: effective))
        }
    }

    /// The search for pruners whose masks are not nested in K (SynFlow, iterative SNIP: one run of
    /// every round per K), when a run's result can be trimmed: `run(K)` runs the pruner to K and
    /// returns its effective count; `trimmed(k)` is the effective count of the last run's masks
    /// trimmed to k of its weights, nested and so nondecreasing in k. Runs step up as
    /// `smallestSufficient` does, each aiming `trimMargin` past `needed`, until one at K_hi is
    /// sufficient; then the trimmed masks are searched in `needed...K_hi` without running the
    /// pruner again. The answer K* is sufficient and K* − 1 trimmed is not (or K* = `needed`): the
    /// exact smallest sufficient count of the trimmed family, as for nested masks. `trimmed` is
    /// only asked below K_hi, whose count `run` gave.
    static func smallestSufficientByTrimming(needed: Int, limit: Int, run: (Int) throws -> Int,
                                             trimmed: (Int) throws -> Int) rethrows -> Answer {
        switch try stepUp(needed: needed, limit: limit, margin: { trimMargin(shortfall: $0, needed: needed) }, effective: run) {
        case let .answer(answer): return answer
        case let .bracket(_, _, hi, effectiveHi):
            return try smallestSufficient(needed: needed, limit: hi) { kept in kept == hi ? effectiveHi : try trimmed(kept) }
        }
    }

    /// How far past `needed` a run of the trimming search aims: the last run's shortfall again,
    /// at most 1 % of `needed`. SynFlow's effective count is K − c(K) with c scattering by tens of
    /// weights between neighbouring K, so aiming at `needed` alone misses about half the time,
    /// and each miss is a whole run; aiming a shortfall further cannot miss while the scatter
    /// stays within c (TrimmingSearchTests), and costs only a few more trimmed weights (K_hi − K*
    /// 99–202 of 147 k on VGG-16 at 100×), which trimming evaluates in a fraction of a second.
    static func trimMargin(shortfall: Int, needed: Int) -> Int { min(shortfall, (needed + 99) / 100) }

    /// Where stepping up ended: an answer (K = `needed` sufficed, or nothing up to the limit does),
    /// or a bracket effective(lo) < needed ≤ effective(hi).
    enum StepUp: Equatable {
        case answer(Answer)
        case bracket(lo: Int, effectiveLo: Int, hi: Int, effectiveHi: Int)
    }

    /// Probes K = `needed`, then steps up until a probe is sufficient. Each step aims at `needed`
    /// plus `margin(shortfall)` effective weights, where the shortfall is what the last probe
    /// missed `needed` by.
    static func stepUp(needed: Int, limit: Int, margin: (Int) -> Int, effective: (Int) throws -> Int) rethrows -> StepUp {
        precondition(needed >= 1 && needed <= limit, "needed \(needed) outside 1...\(limit)")
        // K − 1 < needed can never be sufficient (effective ≤ kept), so K = needed is the first probe.
        var lo = needed, effectiveLo = try effective(needed)
        if effectiveLo >= needed { return .answer(.kept(needed)) }

        // Step up to where the effective count would reach the aim if it were proportional to K:
        // ⌈K · aim / effective⌉, one past the answer when effective = K − c for a small c
        // (SynFlow) and the aim is `needed`, on it when effective = ⌊r K⌋. The m-th step is at
        // least 2^(m−1), so the misses are O(log n) while a near miss may still take a small
        // proportional step; ×2 while nothing is effective.
        var minimumStep = 1
        while true {
            guard lo < limit else { return .answer(.unreachable(effectiveAtLimit: effectiveLo)) }
            var next: Int
            if effectiveLo == 0 {
                next = lo.multipliedReportingOverflow(by: 2).overflow ? limit : 2 * lo
            } else {
                let aim = needed + max(0, min(margin(needed - effectiveLo), limit - needed))
                let (product, overflow) = lo.multipliedReportingOverflow(by: aim)
                next = overflow ? limit : (product + effectiveLo - 1) / effectiveLo
            }
            next = min(max(next, lo + minimumStep), limit)
            let effectiveNext = try effective(next)
            if effectiveNext >= needed { return .bracket(lo: lo, effectiveLo: effectiveLo, hi: next, effectiveHi: effectiveNext) }
            minimumStep = minimumStep < limit ? 2 * minimumStep : limit
            (lo, effectiveLo) = (next, effectiveNext)
        }
    }

    /// Inside a bracket effective(lo) < needed ≤ effective(hi), probes until hi − lo = 1 and
    /// returns hi.
    static func crossing(needed: Int, lo bracketLo: (kept: Int, effective: Int), hi bracketHi: (kept: Int, effective: Int),
                         effective: (Int) throws -> Int) rethrows -> Int {
        var (lo, effectiveLo) = bracketLo, (hi, effectiveHi) = bracketHi
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
        return hi
    }

    /// Bits needed to write `n` ≥ 0: ⌈log₂(n + 1)⌉.
    private static func bitWidth(_ n: Int) -> Int { Int.bitWidth - n.leadingZeroBitCount }
}
