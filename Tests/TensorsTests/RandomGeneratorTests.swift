import Testing
import Tensors

@Suite("RandomGenerator: reproducible, independent streams, right distributions")
struct RandomGeneratorTests {
    /// Reference splitmix64 + xoshiro256** written from Vigna's published C code, independent of the engine.
    struct ReferenceXoshiro {
        var s: [UInt64]
        init(seed: UInt64) {
            var x = seed
            s = (0..<4).map { _ in ReferenceXoshiro.splitmix64(&x) }
        }
        static func splitmix64(_ x: inout UInt64) -> UInt64 {
            x = x &+ 0x9E37_79B9_7F4A_7C15
            var z = x
            z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
            z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
            return z ^ (z >> 31)
        }
        static func rotl(_ x: UInt64, _ k: UInt64) -> UInt64 { (x << k) | (x >> (64 - k)) }
        mutating func next() -> UInt64 {
            let result = ReferenceXoshiro.rotl(s[1] &* 5, 7) &* 9
            let t = s[1] << 17
            s[2] ^= s[0]; s[3] ^= s[1]; s[1] ^= s[2]; s[0] ^= s[3]
            s[2] ^= t
            s[3] = ReferenceXoshiro.rotl(s[3], 45)
            return result
        }
    }

    @Test func splitmixReferenceKnownAnswer() {
        // The first output of splitmix64 from state 0 is the published 0xE220A8397B1DCDAF;
        // this pins the reference the next test compares against.
        var x: UInt64 = 0
        #expect(ReferenceXoshiro.splitmix64(&x) == 0xE220_A839_7B1D_CDAF)
    }

    @Test(arguments: [0, 1, 42, UInt64.max])
    func matchesReferenceXoshiro(seed: UInt64) {
        var generator = RandomGenerator(seed: seed)
        var reference = ReferenceXoshiro(seed: seed)
        for i in 0..<1000 {
            let (got, want) = (generator.next(), reference.next())
            #expect(got == want, "draw \(i) of seed \(seed)")
            if got != want { return }
        }
    }

    @Test func sameSeedSameSequence() {
        var a = RandomGenerator(seed: 1234, stream: "init"), b = RandomGenerator(seed: 1234, stream: "init")
        let first = (0..<256).map { _ in a.next() }, second = (0..<256).map { _ in b.next() }
        #expect(first == second)
        var c = RandomGenerator(seed: 9), d = RandomGenerator(seed: 9)
        #expect((0..<64).map { _ in c.nextNormal() } == (0..<64).map { _ in d.nextNormal() })
    }

    @Test func differentStreamsAndSeedsDiffer() {
        func draws(_ g: RandomGenerator) -> [UInt64] { var g = g; return (0..<16).map { _ in g.next() } }
        let initStream = draws(RandomGenerator(seed: 7, stream: "init"))
        let dataStream = draws(RandomGenerator(seed: 7, stream: "data"))
        let otherSeed = draws(RandomGenerator(seed: 8, stream: "init"))
        let unnamed = draws(RandomGenerator(seed: 7))
        #expect(initStream != dataStream)
        #expect(initStream != otherSeed)
        #expect(initStream != unnamed)
        // Not merely different: no value of one stream appears among the first draws of the other.
        #expect(Set(initStream).isDisjoint(with: dataStream))
    }

    @Test func uniformIsInUnitIntervalWith24Bits() {
        var rng = RandomGenerator(seed: 3, stream: "uniform")
        let n = 100_000
        var sum = 0.0, smallest: Float = 1, largest: Float = 0, outside = 0, notOn24BitGrid = 0
        for _ in 0..<n {
            let u = rng.nextUniform()
            if !(u >= 0 && u < 1) { outside += 1 }
            // Exactly representable as k / 2²⁴.
            if (u * 16_777_216).rounded() != u * 16_777_216 { notOn24BitGrid += 1 }
            sum += Double(u); smallest = min(smallest, u); largest = max(largest, u)
        }
        #expect(outside == 0)
        #expect(notOn24BitGrid == 0)
        // Mean of U[0,1) has std 1/sqrt(12 n) ≈ 9.1e-4 for n = 1e5; 0.005 is > 5 standard deviations.
        #expect(abs(sum / Double(n) - 0.5) < 0.005)
        #expect(smallest < 1e-3 && largest > 0.999)
    }

    @Test(arguments: [1, 2, 7, 10, 1000])
    func nextIntStaysBelowBound(bound: Int) {
        var rng = RandomGenerator(seed: 11, stream: "int")
        var outside = 0, seen = Set<Int>()
        for _ in 0..<10_000 {
            let value = rng.nextInt(below: bound)
            if value < 0 || value >= bound { outside += 1 }
            seen.insert(value)
        }
        #expect(outside == 0)
        // 10 000 draws reach every value of a small range (P(missing one of 10) ≈ 10·0.9¹⁰⁰⁰⁰ ≈ 0).
        if bound <= 10 { #expect(seen.count == bound) }
    }

    @Test func nextIntIsRoughlyUniform() {
        var rng = RandomGenerator(seed: 5, stream: "histogram")
        let bound = 10, n = 100_000
        var counts = [Int](repeating: 0, count: bound)
        for _ in 0..<n { counts[rng.nextInt(below: bound)] += 1 }
        let expected = Double(n) / Double(bound)
        let chiSquare = counts.reduce(0.0) { $0 + (Double($1) - expected) * (Double($1) - expected) / expected }
        // χ² with 9 degrees of freedom: mean 9, P(χ² > 40) ≈ 5e-6, so 40 only fails for a biased generator.
        #expect(chiSquare < 40, "counts \(counts)")
        // Each bin is Binomial(1e5, 0.1): std ≈ 95, so ±500 is > 5 standard deviations.
        for count in counts { #expect(abs(Double(count) - expected) < 500, "counts \(counts)") }
    }

    @Test func normalHasZeroMeanUnitVariance() {
        var rng = RandomGenerator(seed: 17, stream: "normal")
        let n = 100_000
        var sum = 0.0, sumSquares = 0.0, sumFourth = 0.0, withinOne = 0, notFinite = 0
        for _ in 0..<n {
            let x = rng.nextNormal()
            if !x.isFinite { notFinite += 1 }
            sum += x; sumSquares += x * x; sumFourth += x * x * x * x
            if abs(x) < 1 { withinOne += 1 }
        }
        #expect(notFinite == 0)
        let mean = sum / Double(n)
        let std = (sumSquares / Double(n) - mean * mean).squareRoot()
        // Standard errors for n = 1e5: mean 1/sqrt(n) ≈ 3.2e-3; std sqrt(1/(2n)) ≈ 2.2e-3;
        // P(|x| < 1) sqrt(p(1−p)/n) ≈ 1.5e-3; E[x⁴] = 3 with sqrt(96/n) ≈ 0.031. Each bound is ≥ 5 of them.
        #expect(abs(mean) < 0.02)
        #expect(abs(std - 1) < 0.015)
        #expect(abs(Double(withinOne) / Double(n) - 0.682_689) < 0.008)
        #expect(abs(sumFourth / Double(n) - 3) < 0.16)
    }

    @Test(arguments: [0, 1, 2, 10, 1000])
    func shuffleIsAPermutation(count: Int) {
        var rng = RandomGenerator(seed: 23, stream: "shuffle")
        var indices = Array(0..<count)
        rng.shuffle(&indices)
        #expect(indices.sorted() == Array(0..<count))
        if count >= 10 { #expect(indices != Array(0..<count), "a shuffle of \(count) left everything in place") }
    }

    @Test func shuffleIsDeterministicAndMovesEveryPositionSometimes() {
        var a = RandomGenerator(seed: 29), b = RandomGenerator(seed: 29)
        var x = Array(0..<50), y = Array(0..<50)
        a.shuffle(&x); b.shuffle(&y)
        #expect(x == y)
        // Over many shuffles each element lands in position 0 about 1/n of the time (Fisher–Yates is
        // uniform; an off-by-one in the swap range would never leave the last element in place).
        var rng = RandomGenerator(seed: 31)
        let n = 5, trials = 20_000
        var lastStaysLast = 0, firstCounts = [Int](repeating: 0, count: n)
        for _ in 0..<trials {
            var v = Array(0..<n)
            rng.shuffle(&v)
            if v[n - 1] == n - 1 { lastStaysLast += 1 }
            firstCounts[v[0]] += 1
        }
        // Expected 4000 each, std ≈ 57: ±400 is 7 standard deviations.
        #expect(abs(lastStaysLast - trials / n) < 400)
        for count in firstCounts { #expect(abs(count - trials / n) < 400, "\(firstCounts)") }
    }
}
