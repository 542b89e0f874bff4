import Foundation
@testable import Pruning
import PropertyBased
import Testing

/// `EffectiveSearch` on functions standing in for "effective count of the masks keeping K weights":
/// hand-worked tables, then generated monotone and arbitrary ones against a linear scan.
@Suite struct EffectiveSearchTests {
    /// Runs the search, recording every probe.
    static func search(needed: Int, limit: Int, _ effective: (Int) -> Int) -> (answer: EffectiveSearch.Answer, probes: [Int]) {
        var probes: [Int] = []
        let answer = EffectiveSearch.smallestSufficient(needed: needed, limit: limit) { kept in
            probes.append(kept)
            return effective(kept)
        }
        return (answer, probes)
    }

    /// The first K in needed...limit a linear scan finds sufficient.
    static func linearScan(needed: Int, limit: Int, _ effective: (Int) -> Int) -> EffectiveSearch.Answer {
        for kept in needed...limit where effective(kept) >= needed { return .kept(kept) }
        return .unreachable(effectiveAtLimit: effective(limit))
    }

    /// The probe bound the search promises: two ⌈log₂⌉ of the range (stepping up, then inside the
    /// bracket) plus the first probe, one more step and the interpolation's slack.
    static func probeBound(needed: Int, limit: Int) -> Int {
        let range = max(limit - needed, 1)
        return 2 * (Int.bitWidth - (range - 1).leadingZeroBitCount) + 2 + EffectiveSearch.slack
    }

    /// Worked by hand. Identity: K = needed suffices at once. ⌊K/2⌋ from 5: effective(5) = 2, so
    /// the proportional step is ⌈5·5/2⌉ = 13 (6, sufficient); log–log interpolation towards 4.5
    /// from (5, 2) and (13, 6) gives 10.1 → 11 (5, sufficient), then 10.05 → 11, clamped inside the
    /// bracket to 10 (5), then from the halved residual at 5, 8.7 → 9 (4): 10 with 9 insufficient.
    /// ⌊3K/4⌋ from 6: (6, 4) → ⌈36/4⌉ = 9 (6); interpolation 8.25 → 9, clamped to 8 (6); then
    /// 7.5 → 8, clamped to 7 (5). K − 3 from 1000: ⌈10⁶/997⌉ = 1004 (1001), then 1003 (1000)
    /// and 1002 (999). A cliff at 40 (nothing effective below): ×2 from 5 up to 40, then linear
    /// interpolation from 20 creeps up, each Illinois halving doubling the stride: 23, 25, 29, 33, 37, 39.
    @Test(arguments: [
        ("identity", 5, 10, 5, [5]),
        ("half", 5, 100, 10, [5, 13, 11, 10, 9]),
        ("three quarters", 6, 100, 8, [6, 9, 8, 7]),
        ("minus three", 1000, 5000, 1003, [1000, 1004, 1003, 1002]),
        ("cliff", 5, 100, 40, [5, 10, 20, 40, 23, 25, 29, 33, 37, 39]),
    ])
    func handWorkedSearches(name: String, needed: Int, limit: Int, answer: Int, probes: [Int]) {
        let functions: [String: (Int) -> Int] = [
            "identity": { $0 }, "half": { $0 / 2 }, "three quarters": { 3 * $0 / 4 }, "minus three": { max($0 - 3, 0) },
            "cliff": { $0 < 40 ? 0 : $0 },
        ]
        let result = Self.search(needed: needed, limit: limit, functions[name]!)
        #expect(result.answer == .kept(answer), "\(name)")
        #expect(result.probes == probes, "\(name)")
    }

    /// Too few effective weights even with every eligible weight kept: the step is clamped to the
    /// limit, and the answer names what the limit leaves.
    @Test func unreachableTargetsStopAtTheLimit() {
        let result = Self.search(needed: 5, limit: 8) { min($0, 3) }
        #expect(result.answer == .unreachable(effectiveAtLimit: 3))
        #expect(result.probes == [5, 8])
        #expect(Self.search(needed: 7, limit: 7) { $0 - 1 }.probes == [7])
    }

    /// SynFlow-like counts (effective = K − 74 around VGG-16's 147 156 at 100×): four masks
    /// where bisection built 18.
    @Test func nearlyProportionalCountsTakeFourProbes() {
        let result = Self.search(needed: 147_156, limit: 14_715_584) { $0 - 74 }
        #expect(result.answer == .kept(147_230))
        #expect(result.probes == [147_156, 147_231, 147_230, 147_229])
    }

    /// A near miss (SynFlow's counts scatter by tens of weights from K to K + 1) takes a small
    /// proportional step: ⌈112·100/99⌉ = 114, not a doubled one past 136.
    @Test func aNearMissTakesASmallStep() {
        let result = Self.search(needed: 100, limit: 1000) { $0 <= 110 ? $0 - 10 : $0 - 13 }
        #expect(result.answer == .kept(113))
        #expect(result.probes == [100, 112, 114, 113])
    }

    /// Not monotone (an iterative pruner re-run per K): the answer is sufficient and one weight
    /// fewer was probed and is not, the criterion bisection met.
    @Test func nonMonotoneCountsEndAtAProbedCrossing() {
        let counts = [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 9, 9, 10, 9, 9, 11, 9, 9, 12, 12, 9, 9, 9, 9, 13, 14, 14, 14, 14, 14, 14]
        let result = Self.search(needed: 10, limit: 30) { counts[$0] }
        #expect(result.answer == .kept(12))
        #expect(result.probes == [10, 12, 11])
    }

    /// Cumulative sums of random 0/1 steps (each step taken with a random rate): nondecreasing and
    /// at most K, with plateaus of every length. The search finds the linear scan's answer within
    /// the bound, never probing a count twice.
    @Test func monotoneStepFunctionsMatchALinearScan() async {
        await propertyCheck(count: 400, input: Gen.int(in: 0...99).array(of: 1...3000), Gen.int(in: 1...100), Gen.int(in: 0...3000)) {
            draws, rate, neededDraw in
            var counts = [0]
            for draw in draws { counts.append(counts.last! + (draw < rate ? 1 : 0)) }
            let limit = draws.count, needed = 1 + neededDraw % limit
            let result = Self.search(needed: needed, limit: limit) { counts[$0] }
            #expect(result.answer == Self.linearScan(needed: needed, limit: limit) { counts[$0] })
            #expect(Set(result.probes).count == result.probes.count, "a count probed twice: \(result.probes)")
            #expect(result.probes.count <= Self.probeBound(needed: needed, limit: limit), "\(result.probes)")
        }
    }

    /// ⌊r K⌋ − c with r in (0, 1] and c up to 500, over ranges of up to a million counts: the
    /// linear scan's answer within the bound.
    @Test func affineFunctionsMatchALinearScan() async {
        await propertyCheck(count: 300, input: Gen.int(in: 1...1000), Gen.int(in: 0...500), Gen.int(in: 1...20_000), Gen.int(in: 1...50)) {
            permille, offset, needed, headroom in
            let limit = needed * headroom
            let effective = { (kept: Int) in max(0, min(kept, kept * permille / 1000 - offset)) }
            let result = Self.search(needed: needed, limit: limit, effective)
            #expect(result.answer == Self.linearScan(needed: needed, limit: limit, effective))
            #expect(result.probes.count <= Self.probeBound(needed: needed, limit: limit), "\(result.probes)")
        }
    }

    /// Nearly proportional counts, as most pruners' are (r ≥ ½, c within 1 % of the target; SynFlow
    /// on VGG-16 has r = 1, c ≈ 0.05 %): a handful of probes, not the bound.
    @Test func nearlyProportionalFunctionsTakeAFewProbes() async {
        await propertyCheck(count: 300, input: Gen.int(in: 500...1000), Gen.int(in: 0...200), Gen.int(in: 1...20_000), Gen.int(in: 2...50)) {
            permille, offsetDraw, needed, headroom in
            let limit = needed * headroom, offset = offsetDraw % (needed / 100 + 1)
            let effective = { (kept: Int) in max(0, min(kept, kept * permille / 1000 - offset)) }
            let result = Self.search(needed: needed, limit: limit, effective)
            #expect(result.answer == Self.linearScan(needed: needed, limit: limit, effective))
            if case .kept = result.answer {
                #expect(result.probes.count <= 7, "⌊\(permille)‰ K⌋ − \(offset) to \(needed): \(result.probes)")
            }
        }
    }

    /// Anything at all (each probe a random count, not monotone): the answer is sufficient and is
    /// `needed` or has K − 1 probed insufficient; the probes stay within the bound.
    @Test func arbitraryFunctionsEndAtAProbedCrossing() async {
        await propertyCheck(count: 400, input: Gen.int(in: 0...1000).array(of: 2...2000), Gen.int(in: 0...2000)) { draws, neededDraw in
            let limit = draws.count - 1, needed = 1 + neededDraw % limit
            // effective ≤ K, as for masks.
            let effective = { (kept: Int) in draws[kept] * kept / 1000 }
            var seen: [Int: Int] = [:]
            let result = Self.search(needed: needed, limit: limit) { kept in
                let count = effective(kept)
                seen[kept] = count
                return count
            }
            #expect(result.probes.count <= Self.probeBound(needed: needed, limit: limit), "\(result.probes)")
            #expect(Set(result.probes).count == result.probes.count)
            switch result.answer {
            case let .kept(kept):
                #expect(seen[kept].map { $0 >= needed } == true)
                #expect(kept == needed || seen[kept - 1].map { $0 < needed } == true, "\(kept) after \(result.probes)")
            case let .unreachable(effectiveAtLimit):
                #expect(seen[limit] == effectiveAtLimit && effectiveAtLimit < needed)
            }
        }
    }
}

/// `EffectiveSearch.smallestSufficientByTrimming` on stand-ins for an iterative pruner: `run(K)` the
/// effective count of a fresh run to K (not monotone in K), `trimmed(k)` that of the last run
/// trimmed to k (nested, so nondecreasing in k).
@Suite struct TrimmingSearchTests {
    enum Call: Equatable { case run(Int), trim(Int) }

    /// Runs the search, recording every call in order.
    static func search(needed: Int, limit: Int, run: (Int) -> Int, trimmed: (_ last: Int, _ kept: Int) -> Int)
        -> (answer: EffectiveSearch.Answer, calls: [Call]) {
        var calls: [Call] = [], last = 0
        let answer = EffectiveSearch.smallestSufficientByTrimming(needed: needed, limit: limit, run: { kept in
            calls.append(.run(kept))
            last = kept
            return run(kept)
        }, trimmed: { kept in
            calls.append(.trim(kept))
            return trimmed(last, kept)
        })
        return (answer, calls)
    }

    /// SynFlow-like counts (K − 74 around VGG-16's 147 156 at 100×, each dropped weight one
    /// effective weight less). Run 147 156 misses by 74, so the next run aims 74 past: ⌈147 156 ·
    /// 147 230 / 147 082⌉ = 147 305 (147 231, sufficient). Trimming it: 147 156 (147 082), the
    /// proportional step 147 231 (147 157), the interpolation 147 229.5 → 147 230 (147 156, sufficient),
    /// the same estimate clamped below it to 147 229 (147 155): two runs where the search without
    /// trimming ran four.
    @Test func synflowLikeCountsTakeTwoRuns() {
        let result = Self.search(needed: 147_156, limit: 14_715_584, run: { $0 - 74 }, trimmed: { _, kept in kept - 74 })
        #expect(result.answer == .kept(147_230))
        #expect(result.calls == [.run(147_156), .run(147_305), .trim(147_156), .trim(147_231), .trim(147_230), .trim(147_229)])
    }

    /// A run that misses: c jumps from 10 to 40 past K = 1015. Run 1000 (990) aims 10 past:
    /// ⌈1000 · 1010 / 990⌉ = 1021 (981, a miss by 19, but the margin stays at 1 % of 1000 = 10), then
    /// ⌈1021 · 1010 / 981⌉ = 1052 (1012). Trimming run 1052 (k − 40): 1000 (960), ⌈1000 · 1000 / 960⌉ =
    /// 1042 (1002), log interpolation 1039.5 → 1040 (1000), again 1039.5 → 1040 clamped to 1039 (999).
    @Test func aMissedRunStepsAgainThenTrims() {
        let result = Self.search(needed: 1000, limit: 100_000, run: { $0 < 1015 ? $0 - 10 : $0 - 40 }, trimmed: { _, kept in kept - 40 })
        #expect(result.answer == .kept(1040))
        #expect(result.calls == [.run(1000), .run(1021), .run(1052), .trim(1000), .trim(1042), .trim(1040), .trim(1039)])
    }

    /// Sufficient at K = `needed`: nothing to trim (fewer than `needed` weights never suffice).
    /// Unreachable: the runs step to the limit and the answer names its count; nothing is trimmed.
    @Test func noTrimmingAtNeededOrWhenUnreachable() {
        #expect(Self.search(needed: 50, limit: 100, run: { $0 }, trimmed: { _, _ in 0 }).calls == [.run(50)])
        let result = Self.search(needed: 5, limit: 8, run: { min($0, 3) }, trimmed: { _, _ in 0 })
        #expect(result.answer == .unreachable(effectiveAtLimit: 3))
        #expect(result.calls == [.run(5), .run(8)])
    }

    /// A run's trimmed family, as masks give it: from the run's own count at K, each dropped
    /// weight takes itself and `extra[i]` others off the effective paths, at most k effective.
    static func trimmedFamily(runEffective: Int, runKept: Int, extra: [Int]) -> (Int) -> Int {
        var effective = [Int](repeating: 0, count: runKept + 1)
        effective[runKept] = runEffective
        for k in stride(from: runKept - 1, through: 0, by: -1) {
            effective[k] = max(0, min(k, effective[k + 1] - 1 - extra[k % extra.count]))
        }
        return { effective[$0] }
    }

    /// Noisy runs (K − c − noise(K), the noise drawn per K as SynFlow's scatter is) and nested
    /// trimmed families: the answer is sufficient, one weight fewer trimmed is not (the linear
    /// scan's answer over the trimmed family), trims only follow the last run and stay below it.
    /// Where the counts look like SynFlow's (c within 1 % of the target, the scatter within c;
    /// VGG-16 at 100×: c ≈ 74 of 147 156, scatter tens) two runs always do: the first misses by
    /// s = c + noise ≥ c, the margin min(s, ⌈needed/100⌉) is then at least c, and the second run,
    /// ⌈needed · (needed + margin) / (needed − s)⌉ ≥ needed + margin + s, keeps at least
    /// needed + margin + s − c − scatter ≥ needed effective weights.
    @Test func noisyRunsEndExactlyOnTheTrimmedFamily() async {
        var synflowLikeCases = 0
        await propertyCheck(count: 400, input: Gen.int(in: 100...200_000), Gen.int(in: 0...2000), Gen.int(in: 0...2000),
                            Gen.int(in: 0...3).array(of: 1...50), Gen.int(in: 0...Int(UInt32.max))) { needed, offset, scatter, extra, salt in
            let limit = needed * 20
            // Noise in 0...scatter, a fixed pseudo-random draw per K (a hash of K and the salt).
            let run = { (kept: Int) in
                var hash = UInt64(kept) &* 0x9E37_79B9_7F4A_7C15 ^ UInt64(salt)
                hash = (hash ^ (hash >> 31)) &* 0xBF58_476D_1CE4_E5B9
                return max(0, kept - offset - Int((hash >> 33) % UInt64(scatter + 1)))
            }
            var family: ((Int) -> Int)?
            var calls: [Call] = []
            let answer = EffectiveSearch.smallestSufficientByTrimming(needed: needed, limit: limit, run: { kept in
                calls.append(.run(kept))
                let effective = run(kept)
                family = Self.trimmedFamily(runEffective: effective, runKept: kept, extra: extra)
                return effective
            }, trimmed: { kept in
                calls.append(.trim(kept))
                return family!(kept)
            })
            let runs = calls.compactMap { if case let .run(kept) = $0 { kept } else { nil } }
            let trims = calls.compactMap { if case let .trim(kept) = $0 { kept } else { nil } }
            if offset <= needed / 100, scatter <= offset {
                synflowLikeCases += 1
                #expect(runs.count <= 2, "SynFlow-like counts (c \(offset), scatter \(scatter)) took runs \(runs)")
            }
            guard case let .kept(kept) = answer else {
                #expect(answer == .unreachable(effectiveAtLimit: run(limit)) && run(limit) < needed && trims.isEmpty)
                return
            }
            let last = runs.last!
            #expect(calls == runs.map(Call.run) + trims.map(Call.trim), "a trim before the last run")
            #expect(trims.allSatisfy { $0 < last && $0 >= needed })
            #expect(Set(trims).count == trims.count)
            let effective = { (k: Int) in k == last ? run(last) : family!(k) }
            #expect(effective(kept) >= needed)
            #expect(kept == needed || effective(kept - 1) < needed, "\(kept) after \(calls)")
            #expect(kept == (needed...last).first { effective($0) >= needed }, "not the trimmed family's smallest sufficient count")
            #expect(runs.count <= EffectiveSearchTests.probeBound(needed: needed, limit: limit))
        }
        #expect(synflowLikeCases > 20, "too few SynFlow-like cases generated")
    }
}
