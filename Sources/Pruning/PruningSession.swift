import Foundation
import NeuralNet
import Tensors

extension Pruner {
    /// Prunes `network` to `options.compression` and returns the masks; the network itself is left
    /// as it was (weights, masks and BatchNorm statistics are restored), so the caller decides
    /// whether to apply them. Weights already masked on the network stay pruned.
    ///
    /// Magnitude and LAMP rank the network's current weights (load trained weights first); SNIP,
    /// GraSP and random/snip score on `batches`. Deterministic given `options.seed`.
    public func prune(_ network: Network, options: PruningOptions, batches: [ScoringBatch] = [],
                      effectiveMasks: EffectiveMasks? = nil) throws -> PruningOutcome {
        if case .dense = method {
            guard options.compression == 1 else {
                throw PruningError.unreachableTarget(method: name, reason: "dense keeps every weight: its compression is 1, not \(options.compression)")
            }
        } else {
            guard options.compression.isFinite, options.compression > 1 else { throw PruningError.invalidCompression(options.compression) }
        }
        guard options.rounds >= 1 else { throw PruningError.unsupported("rounds must be at least 1, got \(options.rounds)") }
        if needsData, batches.isEmpty { throw PruningError.missingData(pruner: name) }
        let session = try PruningSession(network: network, options: options, batches: batches,
                                         effective: effectiveMasks ?? EffectiveMasks(network: network),
                                         snapshotting: method.changesNetwork)
        defer { session.snapshot.restore(network) }
        return try session.run(method, pruner: name)
    }
}

/// One pruning call: caches what probes share (rankings, the SynFlow path graph).
final class PruningSession {
    let network: Network
    let options: PruningOptions
    let batches: [ScoringBatch]
    let effective: EffectiveMasks
    /// The network as it was, for the methods that change it while scoring; an empty snapshot for
    /// the others (copying VGG-19's 20 M weights and back would cost more than random pruning).
    let snapshot: NetworkSnapshot
    let layout: FlatLayout
    /// Weights that may be kept (those the network's own masks keep).
    let eligible: [Bool]
    let eligibleCount: Int
    private var randomRanks: [[Int32]]?
    private var magnitudeRanks: [[Int32]]?
    private var globalRanks: [Int32]?
    private var synflowGraph: (graph: PathGraph, scratch: [Tensor])?

    init(network: Network, options: PruningOptions, batches: [ScoringBatch], effective: EffectiveMasks,
         snapshotting: Bool = true) throws {
        self.network = network
        self.options = options
        self.batches = batches
        self.effective = effective
        snapshot = snapshotting ? NetworkSnapshot(network) : .nothing
        layout = FlatLayout(shapes: network.prunableParameters.map(\.shape))
        eligible = layout.flatten(network.prunableParameters.map(\.mask))
        eligibleCount = eligible.reduce(0) { $0 + ($1 ? 1 : 0) }
    }

    /// Kept weights for a compression: the nearest whole number (within one weight of the target).
    func keptTarget(_ compression: Double) -> Int { Int((Double(layout.total) / compression).rounded()) }

    func run(_ method: Pruner.Method, pruner: String) throws -> PruningOutcome {
        var kept: Int, masks: [Tensor], report: SparsityReport, probes = 1
        switch options.mode {
        case .direct:
            kept = keptTarget(options.compression)
            try checkReachable(kept, pruner: pruner)
            masks = try self.masks(method, kept: kept)
            report = try effective.report(masks)
        case .effective:
            (kept, masks, report, probes) = try searchEffective(method, pruner: pruner)
        }
        if options.shuffle {
            masks = shuffleWithinLayers(masks, seed: options.seed)
            report = try effective.report(masks)
        }
        var quotaDensities: [Double]?
        if case let .random(quota) = method { quotaDensities = try quota.densities(keptTotal: kept, shapes: layout.shapes) }
        if case let .magnitude(quota) = method { quotaDensities = try quota.densities(keptTotal: kept, shapes: layout.shapes) }
        return PruningOutcome(masks: masks, report: report, quotaDensities: quotaDensities, probes: probes, directKeptTarget: kept)
    }

    private func checkReachable(_ kept: Int, pruner: String) throws {
        guard kept >= 1 else {
            throw PruningError.unreachableTarget(method: pruner, reason: "compression \(options.compression) keeps no weight of \(layout.total)")
        }
        guard kept <= eligibleCount else {
            throw PruningError.unreachableTarget(method: pruner, reason: "the network's own masks already keep only \(eligibleCount) weights")
        }
    }

    /// The paper's effective pruning: the smallest direct kept count K whose masks keep at least
    /// total / compression effective weights, i.e. the largest effective sparsity not above the
    /// target. Masks are nested in K for the one-shot and layerwise methods, so effective counts
    /// grow with K and the search is exact; iterative methods are re-run per probe, which is why
    /// `EffectiveSearch` interpolates rather than bisects.
    private func searchEffective(_ method: Pruner.Method, pruner: String) throws
        -> (kept: Int, masks: [Tensor], report: SparsityReport, probes: Int) {
        let exact = Double(layout.total) / options.compression
        // Effective kept ≥ total / C, as a whole number (tolerating float noise in total / C).
        let needed = abs(exact - exact.rounded()) < 1e-9 * exact ? Int(exact.rounded()) : Int(exact.rounded(.up))
        try checkReachable(needed, pruner: pruner)
        var probes = 0
        // The smallest sufficient probe is the answer: keeping it saves probing the answer again.
        var best: (kept: Int, masks: [Tensor], report: SparsityReport)?
        let answer = try EffectiveSearch.smallestSufficient(needed: needed, limit: eligibleCount) { kept in
            try options.stop.check("probe \(probes + 1) (kept \(kept))")
            probes += 1
            let masks: [Tensor]
            do {
                masks = try self.masks(method, kept: kept)
            } catch let stopped as ComputationStopped {
                throw stopped.within("probe \(probes) (kept \(kept))")
            }
            let report = try effective.report(masks)
            if report.effective >= needed, kept < best?.kept ?? .max { best = (kept, masks, report) }
            return report.effective
        }
        switch answer {
        case let .unreachable(effectiveAtLimit):
            throw PruningError.unreachableTarget(method: pruner, reason:
                "keeping all \(eligibleCount) weights leaves only \(effectiveAtLimit) effective, fewer than the \(needed) the target needs")
        case let .kept(kept):
            guard let best, best.kept == kept else { preconditionFailure("the answer \(kept) is not the smallest sufficient probe") }
            return (best.kept, best.masks, best.report, probes)
        }
    }

    /// Masks keeping exactly `kept` weights by `method`.
    func masks(_ method: Pruner.Method, kept: Int) throws -> [Tensor] {
        switch method {
        case .dense:
            return layout.masks(from: eligible)
        case let .random(quota):
            let counts = try quota.keptCounts(keptTotal: kept, shapes: layout.shapes)
            return layerwise(counts: counts, ranks: randomLayerRanks())
        case let .magnitude(quota):
            let counts = try quota.keptCounts(keptTotal: kept, shapes: layout.shapes)
            if magnitudeRanks == nil {
                let keys = Scores.magnitude(network, layout: layout)
                magnitudeRanks = layout.layers.map { layer in
                    let range = layout.offsets[layer]..<(layout.offsets[layer] + layout.sizes[layer])
                    return descendingRanks(keys, eligible: eligible, range: range)
                }
            }
            return layerwise(counts: counts, ranks: magnitudeRanks!)
        case .randomLike(let source):
            let sourceMasks = try masks(source, kept: kept)
            let counts = sourceMasks.map { mask in (0..<mask.count).reduce(0) { $0 + (mask[$1] != 0 ? 1 : 0) } }
            return layerwise(counts: counts, ranks: randomLayerRanks())
        case .magnitudeGlobal, .lamp, .snip, .grasp:
            if globalRanks == nil { globalRanks = descendingRanks(try oneShotKeys(method), eligible: eligible) }
            return layout.layers.map { layer in
                let tensor = Tensor(shape: layout.shapes[layer])
                let p = tensor.data, offset = layout.offsets[layer], limit = Int32(clamping: kept)
                globalRanks!.withUnsafeBufferPointer { r in
                    for i in 0..<layout.sizes[layer] { p[i] = r[offset + i] < limit ? 1 : 0 }
                }
                return tensor
            }
        case .synflow, .snipIterative:
            return try iterative(method, kept: kept)
        }
    }

    private func oneShotKeys(_ method: Pruner.Method) throws -> [Double] {
        switch method {
        case .magnitudeGlobal: return Scores.magnitude(network, layout: layout)
        case .lamp: return Scores.lamp(network, layout: layout, eligible: eligible)
        case .snip:
            defer { snapshot.restore(network) }
            return try Scores.snip(network, layout: layout, batches: batches, stop: options.stop)
        case .grasp:
            defer { snapshot.restore(network) }
            return try Scores.grasp(network, layout: layout, batches: batches, stop: options.stop)
        default: preconditionFailure("not a one-shot method")
        }
    }

    /// Per layer: keep the `counts[l]` lowest ranks. Ranks put ineligible weights last, and the
    /// counts never exceed the eligible weights for the quotas' nested use, so pruned stays pruned.
    private func layerwise(counts: [Int], ranks: [[Int32]]) -> [Tensor] {
        layout.layers.map { layer in
            let tensor = Tensor(shape: layout.shapes[layer])
            let p = tensor.data, offset = layout.offsets[layer], count = Int32(counts[layer])
            ranks[layer].withUnsafeBufferPointer { r in
                for i in 0..<r.count { p[i] = r[i] < count && eligible[offset + i] ? 1 : 0 }
            }
            return tensor
        }
    }

    /// A uniformly random order of each layer's eligible weights (ranks 0…e−1, ineligible after),
    /// fixed per call so masks for different kept counts are nested. A Fisher–Yates shuffle per layer.
    private func randomLayerRanks() -> [[Int32]] {
        if let randomRanks { return randomRanks }
        var rng = RandomGenerator(seed: options.seed, stream: "prune-random")
        let ranks = layout.layers.map { layer -> [Int32] in
            let offset = layout.offsets[layer], size = layout.sizes[layer]
            // Int32 positions, filled once: the shuffle's random accesses then span half the memory
            // (VGG-19's largest layer: 9 MB, within the L3 cache) and no array grows while filling.
            var order = [Int32](unsafeUninitializedCapacity: size) { buffer, count in
                eligible.withUnsafeBufferPointer { keep in
                    for index in 0..<size where keep[offset + index] {
                        buffer[count] = Int32(index)
                        count += 1
                    }
                }
            }
            let eligibleCount = order.count
            var ranks = [Int32](repeating: Int32(eligibleCount), count: size)
            order.withUnsafeMutableBufferPointer { order in
                for i in stride(from: eligibleCount - 1, to: 0, by: -1) { order.swapAt(i, rng.nextInt(below: i + 1)) }
                ranks.withUnsafeMutableBufferPointer { ranks in
                    for rank in 0..<eligibleCount { ranks[Int(order[rank])] = Int32(rank) }
                }
            }
            return ranks
        }
        randomRanks = ranks
        return ranks
    }

    /// SynFlow and iterative SNIP: `rounds` rounds of scoring the masked network and keeping the
    /// top fraction, on the exponential schedule density_r = (K / K₀)^(r / R).
    private func iterative(_ method: Pruner.Method, kept: Int) throws -> [Tensor] {
        var current = eligible
        let start = Double(eligibleCount), ratio = Double(kept) / Double(eligibleCount)
        let rounds = options.rounds
        // Buffers reused by every round: masks, keys and the selection's scratch.
        let masks = layout.masks(from: current)
        var keys: [Double] = [], scratch: [Double] = []
        for round in 1...rounds {
            try options.stop.check("round \(round) of \(rounds)")
            let target = round == rounds ? kept : Int((start * pow(ratio, Double(round) / Double(rounds))).rounded())
            if round > 1 { layout.fill(masks, from: current) }
            switch method {
            case .synflow:
                if synflowGraph == nil {
                    synflowGraph = (try PathGraph(network: network), layout.shapes.map { Tensor(shape: $0) })
                }
                try Scores.synflowLog(network, graph: synflowGraph!.graph, layout: layout, masks: masks, scratch: synflowGraph!.scratch,
                                      into: &keys)
            default:
                for (parameter, mask) in zip(network.prunableParameters, masks) { parameter.setMask(mask.clone()) }
                do {
                    keys = try Scores.snip(network, layout: layout, batches: batches, stop: options.stop)
                } catch let stopped as ComputationStopped {
                    throw stopped.within("round \(round) of \(rounds)")
                }
                snapshot.restore(network)
            }
            narrow(&current, to: target, keys: keys, scratch: &scratch)
        }
        return layout.masks(from: current)
    }
}

/// The layerwise-shuffle sanity check (Frankle et al. 2021): each layer keeps as many weights as
/// before, at uniformly random positions.
public func shuffleWithinLayers(_ masks: [Tensor], seed: UInt64) -> [Tensor] {
    var rng = RandomGenerator(seed: seed, stream: "layerwise-shuffle")
    return masks.map { mask in
        let n = mask.count
        var kept = 0
        for i in 0..<n where mask[i] != 0 { kept += 1 }
        // Partial Fisher–Yates: the first `kept` entries of a random permutation.
        var positions = Array(0..<n)
        let shuffled = Tensor(shape: mask.shape)
        for i in 0..<kept {
            let j = i + rng.nextInt(below: n - i)
            positions.swapAt(i, j)
            shuffled[positions[i]] = 1
        }
        return shuffled
    }
}
