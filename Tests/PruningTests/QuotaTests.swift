import Foundation
import Testing
@testable import Pruning

/// Layer shapes the quotas are tested on, written from the papers (as in NeuralNetTests'
/// ArchitectureTables), not read from the model zoo.
enum QuotaShapes {
    /// LeNet-300-100: 300·784 = 235 200, 100·300 = 30 000, 10·100 = 1 000; total 266 200.
    static let lenet300 = [[300, 784], [100, 300], [10, 100]]
    /// LeNet-5: 6·1·25 = 150, 16·6·25 = 2 400, 120·400 = 48 000, 84·120 = 10 080, 10·84 = 840; total 61 470.
    static let lenet5 = [[6, 1, 5, 5], [16, 6, 5, 5], [120, 400], [84, 120], [10, 84]]
    /// CIFAR VGG-16 as the model zoo builds it (13 3×3 convs, one dense 512→10): total 14 715 584.
    static let vgg16: [[Int]] = [
        [64, 3, 3, 3], [64, 64, 3, 3],
        [128, 64, 3, 3], [128, 128, 3, 3],
        [256, 128, 3, 3], [256, 256, 3, 3], [256, 256, 3, 3],
        [512, 256, 3, 3], [512, 512, 3, 3], [512, 512, 3, 3],
        [512, 512, 3, 3], [512, 512, 3, 3], [512, 512, 3, 3],
        [10, 512],
    ]
    /// The same convs with a three-layer classifier 512→512→512→10: total 14 710 464 + 2·262 144 + 5 120 = 15 239 872.
    static let vgg16ThreeDense = Array(vgg16.dropLast()) + [[512, 512], [512, 512], [10, 512]]
    /// Small enough to sweep every keptTotal: sizes 12, 10, 10, 3, 18; total 53.
    static let tiny = [[3, 4], [5, 2], [2, 5], [1, 3], [2, 1, 3, 3]]

    static func sizes(_ shapes: [[Int]]) -> [Int] { shapes.map { $0.reduce(1, *) } }
    static func total(_ shapes: [[Int]]) -> Int { sizes(shapes).reduce(0, +) }
}

@Suite("Layerwise quotas")
struct QuotaTests {
    // MARK: names

    @Test(arguments: [("uniform", Quota.uniform), ("uniform+", .uniformPlus), ("erk", .erk), ("igq", .igq)])
    func parsesItsNames(name: String, quota: Quota) throws {
        #expect(try Quota(parsing: name) == quota)
        #expect(quota.rawValue == name)
    }

    @Test(arguments: ["", "ERK", "uniform_plus", "uniformplus", "global", "igq "])
    func unknownNamesThrow(name: String) {
        #expect(throws: PruningError.unknownQuota(name)) { try Quota(parsing: name) }
    }

    // MARK: uniform

    /// LeNet-300-100, 266 200 weights. 10×: keep 26 620, density 0.1 → 23 520, 3 000, 100.
    /// 100×: keep 2 662, density 0.01 → 2 352, 300, 10. Both exact, nothing to round.
    /// Keep 1 000 (density 1/266.2): real 883.546, 112.697, 3.757 — rounded 884 + 113 + 4 = 1 001, one
    /// too many; the slot that arrived last is fc1's 884th (at density 883.5/235 200 = 0.0037564, after
    /// fc2's 113th at 112.5/30 000 = 0.00375 and fc3's 4th at 0.0035), so fc1 gives it up: 883, 113, 4.
    @Test(arguments: [(26_620, [23_520, 3_000, 100]), (2_662, [2_352, 300, 10]), (1_000, [883, 113, 4])])
    func uniformOnLeNet300(keptTotal: Int, expected: [Int]) throws {
        #expect(try Quota.uniform.keptCounts(keptTotal: keptTotal, shapes: QuotaShapes.lenet300) == expected)
        let densities = try Quota.uniform.densities(keptTotal: keptTotal, shapes: QuotaShapes.lenet300)
        #expect(densities == Array(repeating: Double(keptTotal) / 266_200, count: 3))
    }

    /// Why not largest-remainder rounding: it is not monotone (the Alabama paradox). uniform on
    /// LeNet-300-100 keeping 100: real 88.354, 11.270, 0.376 → floors 88, 11, 0 and the spare to the
    /// largest remainder (.376, fc3): (88, 11, 1). Keeping 101: 89.238, 11.382, 0.379 → floors 89, 11, 0,
    /// spare to .382 (fc2): (89, 12, 0) — fc3 loses its weight. Ours orders slots by arrival density
    /// (k − ½)/n: after the 99 that round(n·100/266 200) gives (88, 11, 0) come fc1's 89th at
    /// 88.5/235 200 = 3.763e-4, fc1's 90th at 89.5/235 200 = 3.805e-4, fc2's 12th at 11.5/30 000 =
    /// 3.833e-4: 100 → (89, 11, 0), 101 → (90, 11, 0), 102 → (90, 12, 0).
    @Test func largestRemainderIsNotMonotoneButOursIs() throws {
        func largestRemainder(_ keptTotal: Int) -> [Int] {
            let real = QuotaShapes.sizes(QuotaShapes.lenet300).map { Double($0 * keptTotal) / 266_200 }
            var counts = real.map { Int($0.rounded(.down)) }
            let byRemainder = real.indices.sorted { real[$0] - Double(counts[$0]) > real[$1] - Double(counts[$1]) }
            for l in byRemainder.prefix(keptTotal - counts.reduce(0, +)) { counts[l] += 1 }
            return counts
        }
        #expect(largestRemainder(100) == [88, 11, 1])
        #expect(largestRemainder(101) == [89, 12, 0])
        let ours = try [100, 101, 102].map { try Quota.uniform.keptCounts(keptTotal: $0, shapes: QuotaShapes.lenet300) }
        #expect(ours == [[89, 11, 0], [90, 11, 0], [90, 12, 0]])
    }

    // MARK: ERK

    /// LeNet-300-100: dimension sums s = 1 084, 400, 110 over sizes 235 200, 30 000, 1 000, so
    /// r = 0.004609, 0.013333, 0.11, and uncapped ε = keptTotal/1 594.
    /// 100× (2 662): ε = 1.670013, fc3 at 0.1837, nothing caps; real 1 810.294, 668.005, 183.701 → 1 810, 668, 184.
    /// 10× (26 620): ε = 16.70 would give fc3 1.837 > 1, so fc3 caps (1 000) and the other 25 620 spread
    /// over s = 1 484: ε = 17.26415, fc2 at 0.2302 ≤ 1; real 18 714.340, 6 905.660 → 18 714, 6 906, 1 000.
    /// 2× (133 100): fc3 caps, ε = 132 100/1 484 = 89.02 gives fc2 1.187 > 1, so fc2 caps too and fc1
    /// takes the remaining 102 100 (ε = 102 100/1 084 = 94.19, density 0.43410): 102 100, 30 000, 1 000.
    @Test(arguments: [
        (2_662, 2_662.0 / 1_594, [1_810, 668, 184]),
        (26_620, 25_620.0 / 1_484, [18_714, 6_906, 1_000]),
        (133_100, 102_100.0 / 1_084, [102_100, 30_000, 1_000]),
    ])
    func erkOnLeNet300(keptTotal: Int, epsilon: Double, expected: [Int]) throws {
        #expect(try Quota.erk.keptCounts(keptTotal: keptTotal, shapes: QuotaShapes.lenet300) == expected)
        let densities = try Quota.erk.densities(keptTotal: keptTotal, shapes: QuotaShapes.lenet300)
        let want = [1_084.0 / 235_200, 400.0 / 30_000, 110.0 / 1_000].map { min(1, epsilon * $0) }
        for (got, wanted) in zip(densities, want) { #expect(abs(got - wanted) <= 1e-12 * wanted) }
    }

    struct ERKCase: CustomTestStringConvertible, Sendable {
        let shapes: [[Int]]
        let name: String
        let compression: Double
        /// Layers at density 1, from the water-filling worked in the comment of `erkOnVGG16`.
        let capped: [Int]
        var testDescription: String { "\(name) at \(compression)×" }
    }

    /// VGG-16 (14 layers, 14 715 584 weights, Σ s = 8 539; r of conv1 73/1 728 = 0.04225, of the
    /// classifier 522/5 120 = 0.10195, of conv2 134/36 864 = 0.003635, conv3 0.002686, conv4 0.001777,
    /// conv5 0.001322, conv6–7 0.000878, conv8 0.000656, conv9–13 0.000437). keptTotal = ⌊total/c⌋.
    /// 1000× (14 715): ε = 14 715/8 539 = 1.723, classifier at 0.176: nothing caps.
    /// 100× (147 155): ε = 17.23 puts the classifier at 1.757, cap it: ε = 142 035/8 017 = 17.72, conv1 0.748.
    /// 73× (201 583): classifier caps, ε = 196 463/8 017 = 24.51 puts conv1 at 1.035, cap it too:
    ///   ε = 194 735/7 944 = 24.51, conv2 0.089. (A single round of capping fails here.)
    /// 10× (1 471 558): classifier and conv1 cap, ε = 1 464 710/7 944 = 184.4, conv2 0.670.
    /// 2× (7 357 792): one layer caps per round — ε = 861.7 puts the classifier at 87.8; then
    ///   7 352 672/8 017 = 917.1, conv1 at 38.7; 7 350 944/7 944 = 925.4, conv2 at 3.36;
    ///   7 314 080/7 810 = 936.5, conv3 at 2.52; 7 240 352/7 612 = 951.2, conv4 at 1.69;
    ///   7 092 896/7 350 = 965.0, conv5 at 1.28; finally 6 797 984/6 960 = 976.7 with conv6 at 0.858.
    /// With the three-layer classifier (Σ s = 9 583, the two 512×512 dense at r = 1/256): 1000× nothing,
    /// 100× and 73× the last dense, 10× the last dense and conv1, 2× conv1–conv5 and all three dense.
    static let erkCases: [ERKCase] =
        [(2.0, [0, 1, 2, 3, 4, 13]), (10, [0, 13]), (73, [0, 13]), (100, [13]), (1000, [])].map {
            ERKCase(shapes: QuotaShapes.vgg16, name: "VGG-16", compression: $0.0, capped: $0.1)
        }
        + [(2.0, [0, 1, 2, 3, 4, 13, 14, 15]), (10, [0, 15]), (73, [15]), (100, [15]), (1000, [])].map {
            ERKCase(shapes: QuotaShapes.vgg16ThreeDense, name: "VGG-16 with three dense", compression: $0.0, capped: $0.1)
        }

    @Test(arguments: erkCases)
    func erkOnVGG16(_ example: ERKCase) throws {
        let sizes = QuotaShapes.sizes(example.shapes)
        let keptTotal = Int(Double(QuotaShapes.total(example.shapes)) / example.compression)
        let counts = try Quota.erk.keptCounts(keptTotal: keptTotal, shapes: example.shapes)
        let densities = try Quota.erk.densities(keptTotal: keptTotal, shapes: example.shapes)
        #expect(counts.reduce(0, +) == keptTotal)
        #expect(densities.allSatisfy { $0 <= 1 })
        #expect(densities.indices.filter { densities[$0] == 1 } == example.capped)
        for l in example.capped { #expect(counts[l] == sizes[l], "capped layer \(l) keeps \(counts[l]) of \(sizes[l])") }
        // Uncapped layers share one ε: density · size / dimension sum is the same for all of them.
        let epsilons = densities.indices.filter { densities[$0] < 1 }.map {
            densities[$0] * Double(sizes[$0]) / Double(example.shapes[$0].reduce(0, +))
        }
        for epsilon in epsilons { #expect(abs(epsilon - epsilons[0]) <= 1e-12 * epsilons[0]) }
    }

    /// The water-filling works from barely pruned to a handful of weights (the one-shot ε fails below ~176×).
    @Test(arguments: [1.0001, 1.5, 5, 50, 176, 500, 10_000, 100_000, 1_000_000])
    func erkWorksAtEveryCompression(compression: Double) throws {
        let keptTotal = Int(Double(QuotaShapes.total(QuotaShapes.vgg16)) / compression)
        let counts = try Quota.erk.keptCounts(keptTotal: keptTotal, shapes: QuotaShapes.vgg16)
        let densities = try Quota.erk.densities(keptTotal: keptTotal, shapes: QuotaShapes.vgg16)
        #expect(counts.reduce(0, +) == keptTotal)
        #expect(densities.allSatisfy { (0...1).contains($0) })
        let realTotal = zip(densities, QuotaShapes.sizes(QuotaShapes.vgg16)).reduce(0) { $0 + $1.0 * Double($1.1) }
        #expect(abs(realTotal - Double(keptTotal)) <= 1e-9 * Double(keptTotal))
    }

    // MARK: IGQ

    /// Two layers of 100 and 300 weights keeping 125: n₁/(F·n₁ + 1) + n₂/(F·n₂ + 1) = K multiplies out to
    /// K·n₁n₂·F² + (K(n₁ + n₂) − 2n₁n₂)·F + (K − n₁ − n₂) = 0, here 3 750 000F² − 10 000F − 275 = 0 with
    /// discriminant 10⁸ + 4·3 750 000·275 = 4.225·10⁹ = 65 000², so F = (10 000 + 65 000)/7 500 000 = 0.01:
    /// densities 1/2 and 1/4, counts 50 and 75.
    @Test func igqTwoLayersByHand() throws {
        let shapes = [[10, 10], [30, 10]]
        let densities = try Quota.igq.densities(keptTotal: 125, shapes: shapes)
        #expect(abs(densities[0] - 0.5) <= 1e-12 && abs(densities[1] - 0.25) <= 1e-12, "\(densities)")
        #expect(try Quota.igq.keptCounts(keptTotal: 125, shapes: shapes) == [50, 75])
    }

    /// The same quadratic for other pairs, solved with the root formula written to avoid cancellation.
    @Test(arguments: [
        ([[300, 784], [100, 300]], 26_520), ([[64, 3, 3, 3], [10, 512]], 700), ([[7, 1], [1, 3]], 5),
        ([[512, 512, 3, 3], [10, 512]], 1), ([[512, 512, 3, 3], [10, 512]], 2_364_000),
    ])
    func igqTwoLayersMatchTheQuadratic(shapes: [[Int]], keptTotal: Int) throws {
        let n1 = Double(shapes[0].reduce(1, *)), n2 = Double(shapes[1].reduce(1, *)), k = Double(keptTotal)
        let a = k * n1 * n2, b = k * (n1 + n2) - 2 * n1 * n2, c = k - n1 - n2
        let root = (b * b - 4 * a * c).squareRoot()
        let f = b > 0 ? -2 * c / (b + root) : (root - b) / (2 * a)
        let densities = try Quota.igq.densities(keptTotal: keptTotal, shapes: shapes)
        for (got, n) in zip(densities, [n1, n2]) {
            let wanted = 1 / (f * n + 1)
            #expect(abs(got - wanted) <= 1e-9 * wanted, "got \(got), want \(wanted)")
        }
    }

    /// Returned densities obey d_l = 1/(F·n_l + 1) for one F (read off the largest layer, where it is
    /// best conditioned), and Σ n_l·d_l = keptTotal.
    @Test(arguments: [QuotaShapes.lenet300, QuotaShapes.lenet5, QuotaShapes.vgg16], [1.0001, 2, 10, 100, 1000, 10_000])
    func igqDensitiesShareOneF(shapes: [[Int]], compression: Double) throws {
        let sizes = QuotaShapes.sizes(shapes).map(Double.init)
        let keptTotal = Int(Double(QuotaShapes.total(shapes)) / compression)
        let densities = try Quota.igq.densities(keptTotal: keptTotal, shapes: shapes)
        let largest = sizes.indices.max { sizes[$0] < sizes[$1] }!
        let f = (1 / densities[largest] - 1) / sizes[largest]
        for (density, n) in zip(densities, sizes) {
            let wanted = 1 / (f * n + 1)
            #expect(abs(density - wanted) <= 1e-9 * wanted)
        }
        let realTotal = zip(densities, sizes).reduce(0) { $0 + $1.0 * $1.1 }
        #expect(abs(realTotal - Double(keptTotal)) <= 1e-12 * Double(keptTotal))
        // Smaller layers are denser.
        for a in sizes.indices { for b in sizes.indices where sizes[a] < sizes[b] { #expect(densities[a] > densities[b]) } }
    }

    // MARK: uniform+

    /// LeNet-300-100 at 10× (keep 26 620) cannot be reached: fc1 alone holds 235 200 weights and fc3 keeps
    /// at least 200, so at least 235 400 remain; the best is 266 200/235 400 = 1.1308×.
    @Test func uniformPlusUnreachableOnLeNet300() throws {
        let calls: [() throws -> Void] = [
            { _ = try Quota.uniformPlus.keptCounts(keptTotal: 26_620, shapes: QuotaShapes.lenet300) },
            { _ = try Quota.uniformPlus.densities(keptTotal: 26_620, shapes: QuotaShapes.lenet300) },
        ]
        for quotaCall in calls {
            let error = #expect(throws: PruningError.self) { try quotaCall() }
            guard case let .unreachableTarget(method, reason)? = error else {
                Issue.record("expected unreachableTarget, got \(String(describing: error))")
                continue
            }
            #expect(method == "uniform+")
            #expect(reason.contains("235400") && reason.contains("1.1308"), "\(reason)")
        }
        // One weight short of the least reachable, and the least reachable itself.
        #expect(throws: PruningError.self) { try Quota.uniformPlus.keptCounts(keptTotal: 235_399, shapes: QuotaShapes.lenet300) }
        #expect(try Quota.uniformPlus.keptCounts(keptTotal: 235_400, shapes: QuotaShapes.lenet300) == [235_200, 0, 200])
    }

    /// LeNet-300-100, fc1 dense (235 200), fc3 at least 200.
    /// Keep 242 000 (1.1×): 6 800 left for fc2 and fc3; d = (6 800 − 200)/30 000 = 0.22 would put fc3 below
    /// the common density, so both share d = 6 800/31 000 = 0.219355: real 6 580.645 and 219.355 → 6 581, 219.
    /// Keep 237 700: 2 500 left; d = (2 500 − 200)/30 000 = 0.07667 < 0.2, so fc3 stays at 200: 2 300, 200.
    static let uniformPlusLeNet300: [(keptTotal: Int, densities: [Double], counts: [Int])] = [
        (242_000, [1, 6_800.0 / 31_000, 6_800.0 / 31_000], [235_200, 6_581, 219]),
        (237_700, [1, 2_300.0 / 30_000, 0.2], [235_200, 2_300, 200]),
    ]

    @Test(arguments: uniformPlusLeNet300)
    func uniformPlusOnLeNet300(keptTotal: Int, densities: [Double], expected: [Int]) throws {
        #expect(try Quota.uniformPlus.keptCounts(keptTotal: keptTotal, shapes: QuotaShapes.lenet300) == expected)
        #expect(try Quota.uniformPlus.densities(keptTotal: keptTotal, shapes: QuotaShapes.lenet300) == densities)
    }

    /// VGG-16 at 10× (keep 1 471 558): conv1 dense (1 728), the classifier at its floor 1 024 of 5 120
    /// since the common density (1 471 558 − 1 728 − 1 024)/14 708 736 = 0.09986 is below 0.2.
    @Test func uniformPlusOnVGG16() throws {
        let sizes = QuotaShapes.sizes(QuotaShapes.vgg16)
        let counts = try Quota.uniformPlus.keptCounts(keptTotal: 1_471_558, shapes: QuotaShapes.vgg16)
        let densities = try Quota.uniformPlus.densities(keptTotal: 1_471_558, shapes: QuotaShapes.vgg16)
        #expect(counts.first == 1_728 && counts.last == 1_024)
        #expect(counts.reduce(0, +) == 1_471_558)
        #expect(densities.first == 1 && densities.last == 0.2)
        let common = 1_468_806.0 / 14_708_736
        for l in 1..<13 {
            #expect(densities[l] == common)
            #expect(abs(Double(counts[l]) - common * Double(sizes[l])) <= 7.5)
        }
    }

    /// Two layers: no middle, the last takes everything past the dense first (at least 20 %).
    /// One layer: it is the first layer, so it stays dense and only compression 1 is reachable.
    /// The floor rounds up: a last layer of 7 weights keeps at least ⌈1.4⌉ = 2.
    @Test func uniformPlusOnFewLayers() throws {
        let two = [[300, 784], [10, 100]]
        #expect(try Quota.uniformPlus.keptCounts(keptTotal: 235_700, shapes: two) == [235_200, 500])
        #expect(try Quota.uniformPlus.densities(keptTotal: 235_700, shapes: two) == [1, 0.5])
        #expect(throws: PruningError.self) { try Quota.uniformPlus.keptCounts(keptTotal: 235_399, shapes: two) }
        #expect(try Quota.uniformPlus.keptCounts(keptTotal: 100, shapes: [[10, 10]]) == [100])
        #expect(throws: PruningError.self) { try Quota.uniformPlus.keptCounts(keptTotal: 99, shapes: [[10, 10]]) }
        let floorRoundsUp = [[4, 4], [3, 3], [1, 7]]
        #expect(try Quota.uniformPlus.keptCounts(keptTotal: 18, shapes: floorRoundsUp) == [16, 0, 2])
        #expect(throws: PruningError.self) { try Quota.uniformPlus.keptCounts(keptTotal: 17, shapes: floorRoundsUp) }
    }

    // MARK: every quota

    @Test(arguments: Quota.allCases)
    func endpointsAndBadInput(quota: Quota) throws {
        let shapes = QuotaShapes.lenet5
        let total = QuotaShapes.total(shapes)
        #expect(try quota.keptCounts(keptTotal: total, shapes: shapes) == QuotaShapes.sizes(shapes))
        #expect(try quota.densities(keptTotal: total, shapes: shapes) == [1, 1, 1, 1, 1])
        if quota == .uniformPlus {
            #expect(throws: PruningError.self) { try quota.keptCounts(keptTotal: 0, shapes: shapes) }
        } else {
            #expect(try quota.keptCounts(keptTotal: 0, shapes: shapes) == [0, 0, 0, 0, 0])
            #expect(try quota.densities(keptTotal: 0, shapes: shapes) == [0, 0, 0, 0, 0])
        }
        for outside in [-1, total + 1] {
            #expect(throws: PruningError.self) { try quota.keptCounts(keptTotal: outside, shapes: shapes) }
            #expect(throws: PruningError.self) { try quota.densities(keptTotal: outside, shapes: shapes) }
        }
        #expect(throws: PruningError.self) { try quota.keptCounts(keptTotal: 1, shapes: [[3, 0]]) }
        #expect(throws: PruningError.self) { try quota.keptCounts(keptTotal: 1, shapes: [[3], []]) }
        #expect(try quota.keptCounts(keptTotal: 0, shapes: []) == [])
    }

    struct Sweep: CustomTestStringConvertible, Sendable {
        let name: String
        let shapes: [[Int]]
        let keptTotals: [Int]
        var testDescription: String { name }
    }

    /// keptTotal values: every one for the tiny net; otherwise runs of 40 consecutive values (where a
    /// non-monotone rounding shows) starting at 60 compressions from 1.0001 to 10⁶ and at 30 points
    /// across the few compressions uniform+ can reach, plus the two ends.
    static let sweeps: [Sweep] = {
        func sampled(_ shapes: [[Int]]) -> [Int] {
            let total = QuotaShapes.total(shapes)
            var values: Set<Int> = [0, 1, 2, total - 2, total - 1, total]
            for i in 0..<60 {
                let start = Int(Double(total) / pow(1e6 / 1.0001, Double(i) / 59) / 1.0001)
                for k in start..<min(total, start + 40) { values.insert(k) }
            }
            let sizes = QuotaShapes.sizes(shapes)
            let uniformPlusLeast = sizes[0] + (sizes[sizes.count - 1] + 4) / 5
            for i in 0..<30 {
                let start = uniformPlusLeast + (total - uniformPlusLeast) * i / 30
                for k in start..<min(total, start + 40) { values.insert(k) }
            }
            return values.sorted()
        }
        return [
            Sweep(name: "tiny", shapes: QuotaShapes.tiny, keptTotals: Array(0...QuotaShapes.total(QuotaShapes.tiny))),
            Sweep(name: "LeNet-300-100", shapes: QuotaShapes.lenet300, keptTotals: sampled(QuotaShapes.lenet300)),
            Sweep(name: "LeNet-5", shapes: QuotaShapes.lenet5, keptTotals: sampled(QuotaShapes.lenet5)),
            Sweep(name: "VGG-16", shapes: QuotaShapes.vgg16, keptTotals: sampled(QuotaShapes.vgg16)),
        ]
    }()

    /// For every keptTotal: Σ counts == keptTotal, 0 ≤ count ≤ size, |count − size·density| ≤ (L + 1)/2
    /// (the bound of MonotoneRounding), and no count decreases from one keptTotal to the next larger one.
    @Test(arguments: Quota.allCases, sweeps)
    func countsAreExactBoundedAndMonotone(quota: Quota, sweep: Sweep) throws {
        let sizes = QuotaShapes.sizes(sweep.shapes)
        let bound = Double(sizes.count + 1) / 2 + 1e-6
        var previous: (keptTotal: Int, counts: [Int])?
        var reachable = 0
        for keptTotal in sweep.keptTotals {
            let counts: [Int]
            let densities: [Double]
            do {
                counts = try quota.keptCounts(keptTotal: keptTotal, shapes: sweep.shapes)
                densities = try quota.densities(keptTotal: keptTotal, shapes: sweep.shapes)
            } catch PruningError.unreachableTarget where quota == .uniformPlus {
                #expect(previous == nil, "uniform+ unreachable at \(keptTotal) after reaching \(previous?.keptTotal ?? 0)")
                continue
            }
            reachable += 1
            #expect(counts.reduce(0, +) == keptTotal)
            for l in sizes.indices {
                #expect((0...sizes[l]).contains(counts[l]), "layer \(l) keeps \(counts[l]) of \(sizes[l]) at \(keptTotal)")
                #expect((0...1).contains(densities[l]))
                let deviation = abs(Double(counts[l]) - densities[l] * Double(sizes[l]))
                #expect(deviation <= bound, "layer \(l) at \(keptTotal): \(counts[l]) vs \(densities[l] * Double(sizes[l]))")
            }
            if let previous {
                let decreased = sizes.indices.filter { counts[$0] < previous.counts[$0] }
                #expect(decreased.isEmpty, "from \(previous.keptTotal) to \(keptTotal): \(previous.counts) → \(counts)")
            }
            previous = (keptTotal, counts)
        }
        #expect(reachable > 30)
    }
}
