import Datasets
import Foundation
import NeuralNet
@testable import Pruning
import Tensors
import Testing

/// Seeded batches of a synthetic dataset shaped for `network`.
func syntheticBatches(for network: Network, samples: Int = 40, seed: UInt64 = 3) -> [ScoringBatch] {
    let shape = network.inputShape.count == 3 ? network.inputShape : [1, 1, network.inputShape.reduce(1, *)]
    let data = SyntheticDataset.make(count: samples, sampleShape: shape, classes: network.classes, seed: seed)
    let images = Tensor(shape: [samples] + network.inputShape, values: data.images)
    return [ScoringBatch(images: images, labels: data.labels)]
}

func keptCounts(_ masks: [Tensor]) -> [Int] {
    masks.map { mask in (0..<mask.count).reduce(0) { $0 + (mask[$1] != 0 ? 1 : 0) } }
}

@Suite struct PrunerDirectTests {
    static let pruners = PrunerName.allNames.filter { $0 != "dense" }

    /// Every pruner keeps exactly round(total / compression) weights (within one weight of the
    /// target) and leaves the network as it found it.
    @Test(arguments: pruners)
    func directCompressionHitsTheTargetAndLeavesTheNetworkAlone(name: String) throws {
        let network = try ModelZoo.make("lenet5")
        network.initialize(seed: 1)
        let before = network.parameters.map(\.value.array), buffers = network.buffers.map(\.tensor.array)
        let pruner = try Pruner(name)
        let batches = syntheticBatches(for: network)
        // uniform+ keeps LeNet-5's first layer dense and 20 % of its last: at most 99.95×.
        for compression in name.hasSuffix("uniform+") ? [10.0, 50.0] : [10.0, 100.0, 333.3] {
            let outcome = try pruner.prune(network, options: PruningOptions(compression: compression, seed: 5, rounds: 8), batches: batches)
            let expected = Int((Double(network.prunableParameterCount) / compression).rounded())
            #expect(outcome.report.kept == expected, "\(name) at \(compression)×")
            #expect(keptCounts(outcome.masks) == outcome.report.layers.map(\.kept))
            #expect(outcome.report.effective <= outcome.report.kept)
        }
        #expect(network.parameters.map(\.value.array) == before, "\(name) changed the weights")
        #expect(network.buffers.map(\.tensor.array) == buffers, "\(name) changed BatchNorm statistics")
        #expect(network.prunableParameters.allSatisfy { $0.mask == nil })
    }

    @Test(arguments: pruners)
    func sameSeedSameMasks(name: String) throws {
        let network = try ModelZoo.make("lenet5")
        network.initialize(seed: 2)
        let pruner = try Pruner(name)
        let batches = syntheticBatches(for: network)
        let options = PruningOptions(compression: 50, seed: 9, rounds: 5)
        let a = try pruner.prune(network, options: options, batches: batches)
        let b = try pruner.prune(network, options: options, batches: batches)
        #expect(a.masks.map(\.array) == b.masks.map(\.array))
    }

    @Test func randomMasksAreNestedAcrossTargetsAndDependOnTheSeed() throws {
        let network = try ModelZoo.make("lenet5")
        for name in ["random/uniform", "random/erk", "random/igq", "magnitude/uniform", "magnitude/erk", "magnitude/global", "lamp"] {
            let pruner = try Pruner(name)
            let loose = try pruner.prune(network, options: PruningOptions(compression: 10, seed: 4)).masks
            let tight = try pruner.prune(network, options: PruningOptions(compression: 100, seed: 4)).masks
            for (l, t) in zip(loose, tight) {
                #expect((0..<t.count).allSatisfy { t[$0] == 0 || l[$0] == 1 }, "\(name): 100× mask not inside the 10× mask")
            }
        }
        let other = try Pruner("random/uniform").prune(network, options: PruningOptions(compression: 10, seed: 5)).masks
        let same = try Pruner("random/uniform").prune(network, options: PruningOptions(compression: 10, seed: 4)).masks
        #expect(other.map(\.array) != same.map(\.array))
    }

    /// Quota pruners put exactly the quota's counts in each layer.
    @Test func layerwisePrunersFollowTheirQuota() throws {
        let network = try ModelZoo.make("lenet5")
        network.initialize(seed: 0)
        let shapes = network.prunableParameters.map(\.shape)
        let kept = Int((Double(network.prunableParameterCount) / 20).rounded())
        for quota in Quota.allCases where quota != .uniformPlus {
            for kind in ["random", "magnitude"] {
                let outcome = try Pruner("\(kind)/\(quota.rawValue)").prune(network, options: PruningOptions(compression: 20))
                #expect(keptCounts(outcome.masks) == (try quota.keptCounts(keptTotal: kept, shapes: shapes)), "\(kind)/\(quota)")
            }
        }
    }

    /// Two dense layers with chosen weights: magnitude/global keeps the K largest |w| over both
    /// layers, magnitude/uniform the largest per layer.
    @Test func magnitudeKeepsTheLargestWeights() throws {
        let network = try makeNetwork([Linear(2, 2, bias: false), Linear(2, 2, bias: false)], input: [2], classes: 2)
        let (first, second) = (network.prunableParameters[0].value, network.prunableParameters[1].value)
        for (i, v) in [Float(0.1), -0.9, 0.3, 0.05].enumerated() { first[i] = v }
        for (i, v) in [Float(-0.5), 0.2, 0.8, -0.01].enumerated() { second[i] = v }
        // |w| sorted: 0.9 (fc1[1]), 0.8 (fc2[2]), 0.5 (fc2[0]), 0.3 (fc1[2]), 0.2, 0.1, 0.05, 0.01.
        let global = try Pruner("magnitude/global").prune(network, options: PruningOptions(compression: 2)).masks
        #expect(global[0].array == [0, 1, 1, 0])
        #expect(global[1].array == [1, 0, 1, 0])
        // Uniform at 2×: two per layer.
        let uniform = try Pruner("magnitude/uniform").prune(network, options: PruningOptions(compression: 2)).masks
        #expect(uniform[0].array == [0, 1, 1, 0])
        #expect(uniform[1].array == [1, 0, 1, 0])
        // At 8/3× (3 kept): 0.9, 0.8, 0.5.
        let three = try Pruner("magnitude/global").prune(network, options: PruningOptions(compression: 8.0 / 3)).masks
        #expect(three[0].array == [0, 1, 0, 0] && three[1].array == [1, 0, 1, 0])
    }

    /// LAMP by hand. Layer 1 |w| = 1, 2, 3 (squares 1, 4, 9; suffix sums 14, 13, 9) scores
    /// 1/14 ≈ 0.071, 4/13 ≈ 0.308, 1. Layer 2 |w| = 10, 20, 0.5, 30 (squares 100, 400, 0.25, 900;
    /// ascending 0.25, 100, 400, 900; suffix sums 1400.25, 1400, 1300, 900) scores 0.25/1400.25 ≈
    /// 0.00018, 100/1400 ≈ 0.071, 400/1300 ≈ 0.308, 1. Keeping 4: the two 1s, then 4/13 = 0.3077 (layer
    /// 1) and 400/1300 = 0.3077 (layer 2) — equal: both kept. Keeping 3: the tie goes to the lower index.
    @Test func lampScoresByHand() throws {
        let network = try makeNetwork([Linear(3, 1, bias: false), Linear(1, 4, bias: false)], input: [3], classes: 4)
        for (i, v) in [Float(1), -2, 3].enumerated() { network.prunableParameters[0].value[i] = v }
        for (i, v) in [Float(10), 20, -0.5, 30].enumerated() { network.prunableParameters[1].value[i] = v }
        let layout = FlatLayout(shapes: network.prunableParameters.map(\.shape))
        let scores = Scores.lamp(network.prunableParameters.map(\.value), layout: layout, eligible: Array(repeating: true, count: 7))
        let expected = [1.0 / 14, 4.0 / 13, 1, 100.0 / 1400, 400.0 / 1300, 0.25 / 1400.25, 1]
        for (s, e) in zip(scores, expected) { #expect(abs(s - e) < 1e-12) }
        let four = try Pruner("lamp").prune(network, options: PruningOptions(compression: 7.0 / 4)).masks
        #expect(four[0].array == [0, 1, 1] && four[1].array == [0, 1, 0, 1])
        let three = try Pruner("lamp").prune(network, options: PruningOptions(compression: 7.0 / 3)).masks
        #expect(three[0].array == [0, 1, 1] && three[1].array == [0, 0, 0, 1])
    }

    /// Inputs that are always zero give their weights zero gradient and zero SNIP score: at 2×
    /// SNIP on a single dense layer keeps exactly the weights reading the live inputs.
    @Test func snipPrunesWeightsOfDeadInputsFirst() throws {
        let network = try makeNetwork([Linear(4, 3)], input: [4], classes: 3)
        network.initialize(seed: 3)
        var rng = RandomGenerator(seed: 1, stream: "data")
        let images = Tensor(shape: [16, 4])
        for row in 0..<16 { images[row * 4] = rng.nextUniform() + 0.5; images[row * 4 + 2] = rng.nextUniform() - 1.5 }
        let batches = [ScoringBatch(images: images, labels: (0..<16).map { Int32($0 % 3) })]
        let masks = try Pruner("snip").prune(network, options: PruningOptions(compression: 2), batches: batches).masks
        #expect(masks[0].array == [1, 0, 1, 0, 1, 0, 1, 0, 1, 0, 1, 0])
    }

    /// random/snip takes SNIP's per-layer counts at random positions.
    @Test func randomLikeKeepsTheSourceLayerCounts() throws {
        let network = try ModelZoo.make("lenet5")
        network.initialize(seed: 6)
        let batches = syntheticBatches(for: network)
        let snip = try Pruner("snip").prune(network, options: PruningOptions(compression: 30), batches: batches).masks
        let random = try Pruner("random/snip").prune(network, options: PruningOptions(compression: 30), batches: batches).masks
        #expect(keptCounts(snip) == keptCounts(random))
        #expect(snip.map(\.array) != random.map(\.array))
        let synflow = try Pruner("synflow").prune(network, options: PruningOptions(compression: 30, rounds: 4)).masks
        let randomSynflow = try Pruner("random/synflow").prune(network, options: PruningOptions(compression: 30, rounds: 4)).masks
        #expect(keptCounts(synflow) == keptCounts(randomSynflow))
    }

    @Test func shuffleKeepsLayerCountsAndMovesPositions() throws {
        let network = try ModelZoo.make("lenet5")
        network.initialize(seed: 0)
        let plain = try Pruner("magnitude/global").prune(network, options: PruningOptions(compression: 10, seed: 1))
        let shuffled = try Pruner("magnitude/global").prune(network, options: PruningOptions(compression: 10, seed: 1, shuffle: true))
        #expect(keptCounts(plain.masks) == keptCounts(shuffled.masks))
        #expect(plain.masks.map(\.array) != shuffled.masks.map(\.array))
        let again = try Pruner("magnitude/global").prune(network, options: PruningOptions(compression: 10, seed: 1, shuffle: true))
        #expect(again.masks.map(\.array) == shuffled.masks.map(\.array))
        #expect(shuffled.report.kept == plain.report.kept)
    }

    /// In effective mode the search runs on the shuffled masks: they reach the effective target
    /// (which the method's own masks, shuffled afterwards, generally do not), each layer keeps the
    /// method's count at the kept total found, and one weight fewer would not suffice.
    @Test(arguments: ["snip", "magnitude/global", "random/igq", "synflow"])
    func effectiveShuffleReachesTheTargetWithTheShuffledMasks(name: String) throws {
        let network = try ModelZoo.make("lenet5")
        network.initialize(seed: 2)
        let batches = syntheticBatches(for: network)
        let pruner = try Pruner(name)
        let compression = 300.0
        let options = PruningOptions(compression: compression, mode: .effective, seed: 4, shuffle: true, rounds: 6)
        let outcome = try pruner.prune(network, options: options, batches: batches)
        let total = network.prunableParameterCount
        let needed = Int((Double(total) / compression).rounded(.up))
        #expect(outcome.report.effective >= needed)
        let kept = outcome.report.kept
        #expect(keptCounts(outcome.masks) == outcome.report.layers.map(\.kept))
        let session = try PruningSession(network: network, options: options, batches: batches, effective: EffectiveMasks(network: network))
        defer { session.snapshot.restore(network) }
        // The same masks from the session, and one weight fewer falls short (nested masks).
        if pruner.isIterative {
            let run = try session.iterative(pruner.method, kept: outcome.trimmedFrom ?? kept)
            #expect(session.masks(.shuffled(pruner.method), iterativeKeep: run.trimmed(to: kept)).map(\.array) == outcome.masks.map(\.array))
            let fewer = session.masks(.shuffled(pruner.method), iterativeKeep: run.trimmed(to: kept - 1))
            #expect(try session.subject.effectiveReport(fewer).effective < needed)
        } else {
            #expect(try session.masks(.shuffled(pruner.method), kept: kept).map(\.array) == outcome.masks.map(\.array))
            #expect(keptCounts(outcome.masks) == keptCounts(try session.masks(pruner.method, kept: kept)))
            let fewer = try session.masks(.shuffled(pruner.method), kept: kept - 1)
            #expect(try session.subject.effectiveReport(fewer).effective < needed)
        }
        // A shuffled random pruner is a fresh draw: same counts, other positions.
        if name == "random/igq" {
            let plain = try pruner.prune(network, options: PruningOptions(compression: 30, seed: 4))
            let shuffled = try pruner.prune(network, options: PruningOptions(compression: 30, seed: 4, shuffle: true))
            #expect(keptCounts(plain.masks) == keptCounts(shuffled.masks))
            #expect(plain.masks.map(\.array) != shuffled.masks.map(\.array))
        }
    }

    @Test func badRequestsAreErrors() throws {
        let network = try ModelZoo.make("lenet300-100")
        #expect(throws: PruningError.unknownPruner("magnitude/fancy")) { try Pruner("magnitude/fancy") }
        #expect(throws: PruningError.unknownPruner("random")) { try Pruner("random") }
        #expect(throws: PruningError.unknownPruner("Synflow")) { try Pruner("Synflow") }
        for bad in [1.0, 0.5, -3, .infinity, .nan] {
            #expect(throws: PruningError.self) { try Pruner("random/uniform").prune(network, options: PruningOptions(compression: bad)) }
        }
        #expect(throws: PruningError.missingData(pruner: "snip")) { try Pruner("snip").prune(network, options: PruningOptions(compression: 10)) }
        #expect(throws: PruningError.self) { try Pruner("random/uniform").prune(network, options: PruningOptions(compression: 1e9)) }
        // uniform+ keeps LeNet-300-100's first layer (235 200 of 266 200 weights) dense.
        #expect(throws: PruningError.self) { try Pruner("random/uniform+").prune(network, options: PruningOptions(compression: 10)) }
    }
}

@Suite struct EffectivePruningTests {
    /// The paper's observation on LeNet-300-100: random/uniform at direct 100× leaves far fewer
    /// effective weights (effective compression several hundred to over a thousand).
    @Test func randomUniformOnLeNet300IsFarSparserEffectively() throws {
        let network = try ModelZoo.make("lenet300-100")
        for seed in 0..<3 as Range<UInt64> {
            let report = try Pruner("random/uniform").prune(network, options: PruningOptions(compression: 100, seed: seed)).report
            #expect(report.directCompression > 99.9 && report.directCompression < 100.1)
            #expect(report.effectiveCompression > 400, "seed \(seed): \(report.effectiveCompression)")
        }
    }

    /// Effective mode returns the largest effective sparsity not above the target: the effective
    /// count reaches total / C, and one weight less (the next nested mask) falls short.
    @Test(arguments: ["random/uniform", "random/erk", "magnitude/global", "lamp", "magnitude/igq"])
    func effectiveModeStopsAtTheTarget(name: String) throws {
        let network = try ModelZoo.make("lenet5")
        network.initialize(seed: 2)
        let pruner = try Pruner(name)
        let target = 200.0
        let outcome = try pruner.prune(network, options: PruningOptions(compression: target, mode: .effective, seed: 3))
        let total = network.prunableParameterCount
        let needed = Int((Double(total) / target).rounded(.up))
        #expect(outcome.report.effective >= needed)
        #expect(outcome.report.effectiveCompression <= target)
        #expect(outcome.report.kept == outcome.directKeptTarget && outcome.probes > 1)
        #expect(outcome.trimProbes == 0 && outcome.trimmedFrom == nil, "\(name): nested masks need no trimming")
        let fewer = try pruner.prune(network, options: PruningOptions(compression: Double(total) / Double(outcome.report.kept - 1), seed: 3))
        #expect(fewer.report.kept == outcome.report.kept - 1)
        #expect(fewer.report.effective < needed, "\(name): one weight less still reaches the target")
    }

    /// Iterative pruners run until one run suffices, then trim it by its last round's scores: the
    /// answer keeps the needed effective weights, the same run trimmed by one weight more does not,
    /// and the trimmed masks are what the run's last round keeps with the answer as its target (the
    /// rounds before it scheduled for the run's count).
    @Test(arguments: ["synflow", "snip/iterative", "random/synflow"])
    func iterativePrunersTrimTheirLastRun(name: String) throws {
        let network = try ModelZoo.make("lenet5")
        network.initialize(seed: 2)
        let batches = syntheticBatches(for: network)
        let pruner = try Pruner(name)
        let options = PruningOptions(compression: 50, mode: .effective, seed: 3, rounds: 5)
        let outcome = try pruner.prune(network, options: options, batches: batches)
        let needed = Int((Double(network.prunableParameterCount) / 50).rounded(.up))
        let kept = outcome.report.kept
        #expect(outcome.report.effective >= needed && outcome.report.effectiveCompression <= 50)
        #expect(kept == outcome.directKeptTarget)
        let from = try #require(outcome.trimmedFrom, "\(name): K = needed fell short, so the answer is a trimmed run")
        #expect(kept < from && outcome.trimProbes > 0 && outcome.probes <= 3, "\(name): \(outcome.probes) runs")

        let session = try PruningSession(network: network, options: options, batches: batches, effective: EffectiveMasks(network: network))
        defer { session.snapshot.restore(network) }
        let source = try #require(session.iterativeSource(pruner.method))
        let run = try session.iterative(source, kept: from)
        #expect(session.masks(pruner.method, iterativeKeep: run.trimmed(to: kept)).map(\.array) == outcome.masks.map(\.array))
        let fewer = try session.subject.effectiveReport(session.masks(pruner.method, iterativeKeep: run.trimmed(to: kept - 1)))
        #expect(fewer.kept == kept - 1 && fewer.effective < needed, "\(name): one weight fewer still reaches the target")
        #expect(run.trimmed(to: kept) == (try session.iterative(source, kept: kept, scheduledFor: from)).keep)
        #expect(run.trimmed(to: from) == run.keep)
    }

    /// With one round SynFlow is one-shot (its masks are nested in K), so trimming a run is running
    /// it again at the smaller count: the answer's masks are direct SynFlow's at that count, and
    /// direct SynFlow one weight lower falls short.
    @Test func oneRoundSynflowTrimsToWhatARerunGives() throws {
        let network = try ModelZoo.make("lenet5")
        network.initialize(seed: 2)
        let total = network.prunableParameterCount, needed = Int((Double(total) / 50).rounded(.up))
        let outcome = try Pruner("synflow").prune(network, options: PruningOptions(compression: 50, mode: .effective, rounds: 1))
        let kept = outcome.report.kept
        #expect(outcome.report.effective >= needed)
        func direct(_ kept: Int) throws -> PruningOutcome {
            try Pruner("synflow").prune(network, options: PruningOptions(compression: Double(total) / Double(kept), rounds: 1))
        }
        #expect(try direct(kept).masks.map(\.array) == outcome.masks.map(\.array))
        let fewer = try direct(kept - 1).report
        #expect(fewer.kept == kept - 1 && fewer.effective < needed)
    }

    @Test func unreachableEffectiveTargetIsAnError() throws {
        // A padding-only tap can never be effective, so even the dense network falls short of a
        // target that needs (nearly) every weight effective.
        let network = try makeNetwork([Conv2d(1, 1, kernelSize: 3, stride: 2, padding: .same), Flatten(), Linear(1, 2)],
                                      input: [1, 2, 2], classes: 2)
        #expect(throws: PruningError.self) {
            try Pruner("random/uniform").prune(network, options: PruningOptions(compression: 1.01, mode: .effective))
        }
    }
}

@Suite struct PrunersThatIgnoreWeightsTests {
    static let weightFree = ["dense", "random/uniform", "random/uniform+", "random/erk", "random/igq"]

    @Test func onlyDenseAndQuotaRandomPrunersIgnoreTheWeights() throws {
        for name in PrunerName.allNames {
            #expect(try Pruner(name).readsWeights == !Self.weightFree.contains(name), "\(name)")
        }
    }

    /// Random pruners with a quota give the same masks on a network whose weights were never
    /// initialised as on an initialised one, and never read or write its weights: the lazily mapped
    /// weight and gradient storage stays out of memory (no snapshot, no restore).
    @Test(arguments: ["random/uniform", "random/uniform+", "random/erk", "random/igq"], [PruningMode.direct, .effective])
    func randomPrunersLeaveUninitialisedWeightsUntouched(name: String, mode: PruningMode) throws {
        // The middle layer's 2 MB weight and gradient are mapped lazily (uniform+ keeps the first layer dense).
        func network() throws -> Network {
            try makeNetwork([Flatten(), Linear(64, 512), ReLU(), Linear(512, 1024), ReLU(), Linear(1024, 10)], input: [1, 8, 8],
                            classes: 10)
        }
        let structure = try network(), initialised = try network()
        initialised.initialize(seed: 3)
        let large = structure.parameters.flatMap { [$0.value, $0.gradient] }.filter { $0.count * 4 >= 1 << 20 }
        #expect(large.count == 2)
        let options = PruningOptions(compression: 10, mode: mode, seed: 6)
        let outcome = try Pruner(name).prune(structure, options: options)
        #expect(large.map(residentPages).reduce(0, +) == 0, "\(name) touched the weights")
        #expect(try Pruner("magnitude/global").prune(structure, options: options).report.total > 0 && residentPages(large[0]) > 0,
                "reading the weights shows")
        let reference = try Pruner(name).prune(initialised, options: options)
        #expect(outcome.masks.map(\.array) == reference.masks.map(\.array))
        #expect(outcome.report == reference.report && outcome.probes == reference.probes)
    }
}
