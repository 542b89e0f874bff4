@testable import Pruning
import Tensors
import PropertyBased
import Testing

@Suite("narrow: the top `count` kept keys, ties to the lower index (radix selection over the kept entries)")
struct SelectionTests {
    /// The definition: the kept entries sorted by key (NaN lowest, −0 = +0) descending, then by
    /// index; the first `count` stay kept.
    static func reference(_ keep: [Bool], count: Int, keys: [Double]) -> [Bool] {
        let value = { (i: Int) in keys[i].isNaN ? -Double.infinity : keys[i] }
        let order = keep.indices.filter { keep[$0] }.sorted { less(value($1), value($0)) || (!less(value($0), value($1)) && $0 < $1) }
        var result = [Bool](repeating: false, count: keep.count)
        for i in order.prefix(max(0, count)) { result[i] = true }
        return result
    }

    /// a < b as real numbers (−0 = +0), from sign, exponent and significand: the test thread may
    /// treat denormals as zero (the compute thread does, and Swift Testing runs tests on threads
    /// that opened a backend), where `<` would call 5e-324 and 0 equal.
    static func less(_ a: Double, _ b: Double) -> Bool {
        let magnitudeA = (a.exponentBitPattern, a.significandBitPattern), magnitudeB = (b.exponentBitPattern, b.significandBitPattern)
        if magnitudeA == (0, 0) && magnitudeB == (0, 0) { return false }
        switch (a.sign, b.sign) {
        case (.minus, .plus): return true
        case (.plus, .minus): return false
        case (.plus, .plus): return magnitudeA < magnitudeB
        case (.minus, .minus): return magnitudeA > magnitudeB
        }
    }

    static func narrowed(_ keep: [Bool], count: Int, keys: [Double]) -> [Bool] {
        var keep = keep, scratch = SelectionScratch()
        narrow(&keep, to: count, keys: keys, scratch: &scratch)
        return keep
    }

    /// Keys from a small palette (ties everywhere, both zeros, infinities, NaN, neighbours one ulp
    /// apart, log-scores) or spread over many magnitudes, some not eligible, any count.
    @Test func matchesTheDefinition() async {
        let palette: [Double] = [0, -0.0, 1, -1, .infinity, -.infinity, .nan, 1e-300, -1e-300, 1.0.nextUp, 1.0.nextDown,
                                 -23.5, -23.5.nextUp, 7.25, .leastNonzeroMagnitude, .greatestFiniteMagnitude, -.greatestFiniteMagnitude]
        await propertyCheck(count: 500, input: Gen.int(in: 0...1_000_000).array(of: 1...1000), Gen.int(in: 0...3),
                            Gen.int(in: -1...1001), Gen.int(in: 0...Int(UInt32.max))) { draws, mode, countDraw, salt in
            var rng = SplitMix(salt)
            let keys: [Double] = draws.map { draw in
                switch mode {
                case 0: palette[draw % palette.count]
                case 1: Double(draw % 50) / 8 - 3 // many ties among few values
                case 2: -60 + Double(draw) / 1e4 // log-scores sharing their leading bits
                default: Double(bitPattern: rng.next()) // anything, NaNs and subnormals included
                }
            }
            let keep = draws.map { _ in rng.next() % 5 != 0 }
            let count = min(countDraw, draws.count + 1)
            #expect(Self.narrowed(keep, count: count, keys: keys) == Self.reference(keep, count: count, keys: keys))
        }
    }

    /// Large inputs: more candidates than the final sort takes share leading digits (further 16-bit
    /// digits are needed), all-equal keys take every digit; ties then go to the lower index.
    @Test func largeInputsWithTiesAndAllEqual() {
        let n = 100_000
        let close = (0..<n).map { 1 + Double($0 % 7919) * .ulpOfOne } // 7 919 distinct values, one ulp apart
        let keep = (0..<n).map { $0 % 3 != 0 }
        for count in [1, 17, 4_000, 33_333, 66_666] {
            #expect(Self.narrowed(keep, count: count, keys: close) == Self.reference(keep, count: count, keys: close))
        }
        let equal = [Double](repeating: -4.5, count: n)
        let top = Self.narrowed(keep, count: 10_000, keys: equal)
        #expect(top == Self.reference(keep, count: 10_000, keys: equal))
        // Ties go to the lowest indices: the first 10 000 kept ones are those below 15 000.
        #expect(Array(top.prefix(15_000)) == Array(keep.prefix(15_000)) && !top.dropFirst(15_000).contains(true))
    }

    @Test func handComputed() {
        // Kept: 0, 1, 3, 4, 5 with keys 3, NaN, 3, 5, −0; index 2 (key 9) is not kept.
        let keys: [Double] = [3, .nan, 9, 3, 5, -0.0]
        let keep = [true, true, false, true, true, true]
        #expect(Self.narrowed(keep, count: 2, keys: keys) == [true, false, false, false, true, false])
        #expect(Self.narrowed(keep, count: 4, keys: keys) == [true, false, false, true, true, true])
        #expect(Self.narrowed(keep, count: 5, keys: keys) == keep)
        #expect(Self.narrowed(keep, count: 0, keys: keys) == [false, false, false, false, false, false])
        #expect(Self.narrowed(keep, count: 9, keys: keys) == keep)
    }

    /// Round after round on one list of kept indices, as iterative pruners narrow: each round
    /// equals narrowing the flags alone, and the list stays the kept indices in ascending order.
    @Test func roundsOnAKeptList() {
        var rng = SplitMix(7)
        let n = 20_000
        var keep = [Bool](repeating: true, count: n), active = Array(0..<n), scratch = SelectionScratch()
        for count in [15_000, 9_000, 9_000, 4_321, 1_000, 17, 0] {
            let keys = (0..<n).map { _ in Double(rng.next() % 300) / 7 - 20 } // ties in every round
            let expected = Self.reference(keep, count: count, keys: keys)
            narrow(&keep, active: &active, to: count, keys: keys, scratch: &scratch)
            #expect(keep == expected)
            #expect(active == keep.indices.filter { keep[$0] })
        }
    }

    /// Also on the compute thread, which treats denormals as zero: the bits must not come from
    /// arithmetic there (CI once ran this test on such a thread, where ±5e-324 + 0 gave 0).
    @Test(arguments: [false, true]) func orderedBitsKeepTheOrderAndInvert(onTheComputeThread: Bool) async throws {
        if onTheComputeThread {
            try await ComputeThread.shared.run { Self.checkOrderedBits() }
        } else {
            Self.checkOrderedBits()
        }
    }

    static func checkOrderedBits() {
        // Denormals are numbers to narrow and to the reference, whatever the thread's mode.
        let tiny: [Double] = [0, .leastNonzeroMagnitude, -.leastNonzeroMagnitude, -0.0]
        for count in 0...4 {
            #expect(narrowed([true, true, true, true], count: count, keys: tiny) == reference([true, true, true, true], count: count, keys: tiny))
        }
        #expect(narrowed([true, true, true, true], count: 1, keys: tiny) == [false, true, false, false])
        #expect(narrowed([true, true, true, true], count: 3, keys: tiny) == [true, true, false, true])
        let floats: [Float] = [-.infinity, -1, -.leastNonzeroMagnitude, 0, .leastNonzeroMagnitude, 1, .infinity]
        for (a, b) in zip(floats, floats.dropFirst()) { #expect(orderedBits(a) < orderedBits(b), "\(a) < \(b)") }
        #expect(orderedBits(Float(-0.0)) == orderedBits(Float(0.0)))
        let values: [Double] = [-.infinity, -.greatestFiniteMagnitude, -1, -.leastNonzeroMagnitude, 0, .leastNonzeroMagnitude, 1,
                                1.0.nextUp, .greatestFiniteMagnitude, .infinity]
        for (a, b) in zip(values, values.dropFirst()) { #expect(orderedBits(a) < orderedBits(b), "\(a) < \(b)") }
        #expect(orderedBits(-0.0) == orderedBits(0.0))
        for value in values { #expect(doubleFromOrderedBits(orderedBits(value)) == value) }
    }

    struct SplitMix {
        var state: UInt64
        init(_ seed: Int) { state = UInt64(truncatingIfNeeded: seed) }
        mutating func next() -> UInt64 {
            state &+= 0x9E37_79B9_7F4A_7C15
            var z = state
            z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
            z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
            return z ^ (z >> 31)
        }
    }
}
