import Foundation
import NeuralNet
import ONNX
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

    /// Prunes an imported ONNX graph: data-free methods (random with every quota, SynFlow) and
    /// magnitude/LAMP on `weights` (per graph weight, shaped as declared; nil when the file and the
    /// caller have none: then SynFlow scores a seeded Kaiming-normal initialisation and magnitude
    /// and LAMP are refused). Masks come back shaped as the graph declares its weights.
    public func prune(_ graph: ONNXGraph, weights: [Tensor]?, options: PruningOptions) throws -> PruningOutcome {
        guard options.compression.isFinite, options.compression > 1 else { throw PruningError.invalidCompression(options.compression) }
        guard options.rounds >= 1 else { throw PruningError.unsupported("rounds must be at least 1, got \(options.rounds)") }
        if needsData { throw PruningError.unsupported("\(name) scores on training data, which an ONNX graph does not come with (prune it where it trains: a sweep)") }
        if case .dense = method { throw PruningError.unsupported("dense keeps every weight: nothing to prune") }
        let subject = try GraphSubject(graph: graph, weights: weights, seed: options.seed, needsWeights: needsTrainedWeights, pruner: name)
        let session = try PruningSession(subject: subject, options: options, batches: [], snapshotting: false)
        var outcome = try session.run(method, pruner: name)
        outcome.masks = zip(graph.weights, outcome.masks).map { weight, mask in weight.isTransposed ? mask.transposed2D() : mask }
        outcome.report = ONNXGraph.declaredShapes(outcome.report, graph: graph)
        return outcome
    }
}

/// One pruning call: caches what probes share (rankings, the SynFlow path graph).
final class PruningSession {
    /// The network, when the subject is one (SNIP, GraSP and iterative SNIP need it).
    let network: Network?
    let subject: any PruningSubject
    let options: PruningOptions
    let batches: [ScoringBatch]
    /// The network as it was, for the methods that change it while scoring; an empty snapshot for
    /// the others (copying VGG-19's 20 M weights and back would cost more than random pruning).
    let snapshot: NetworkSnapshot
    let layout: FlatLayout
    /// Weights that may be kept (those the network's own masks keep).
    let eligible: [Bool]
    let eligibleCount: Int
    private var randomRanks: [[Int32]]?
    private var shuffledRanks: [[Int32]]?
    private var magnitudeRanks: [[Int32]]?
    private var globalRanks: [Int32]?
    private var synflowGraph: (graph: any PathScoring, scratch: [Tensor])?

    convenience init(network: Network, options: PruningOptions, batches: [ScoringBatch], effective: EffectiveMasks,
                     snapshotting: Bool = true) throws {
        try self.init(subject: NetworkSubject(network: network, effective: effective), options: options, batches: batches,
                      snapshotting: snapshotting)
    }

    init(subject: any PruningSubject, options: PruningOptions, batches: [ScoringBatch], snapshotting: Bool = true) throws {
        self.subject = subject
        network = subject.network
        self.options = options
        self.batches = batches
        snapshot = snapshotting ? subject.network.map(NetworkSnapshot.init) ?? .nothing : .nothing
        layout = FlatLayout(shapes: subject.weightShapes)
        eligible = layout.flatten(subject.existingMasks)
        eligibleCount = eligible.reduce(0) { $0 + ($1 ? 1 : 0) }
    }

    private func needNetwork(_ method: Pruner.Method) throws -> Network {
        guard let network else { throw PruningError.unsupported("\(method) needs a network that trains on data") }
        return network
    }

    /// Kept weights for a compression: the nearest whole number (within one weight of the target).
    func keptTarget(_ compression: Double) -> Int { Int((Double(layout.total) / compression).rounded()) }

    func run(_ source: Pruner.Method, pruner: String) throws -> PruningOutcome {
        let method = options.shuffle && source != .dense ? Pruner.Method.shuffled(source) : source
        var kept: Int, masks: [Tensor], report: SparsityReport, probes = 1, trimmedFrom: Int?, search: [EffectiveProbe] = []
        switch options.mode {
        case .direct:
            kept = keptTarget(options.compression)
            try checkReachable(kept, pruner: pruner)
            masks = try self.masks(method, kept: kept)
            report = try subject.effectiveReport(masks)
        case .effective:
            let found = try searchEffective(method, pruner: pruner)
            (kept, masks, report, probes, trimmedFrom, search) =
                (found.kept, found.masks, found.report, found.probes, found.trimmedFrom, found.search)
        }
        var quotaDensities: [Double]?
        if case let .random(quota) = source { quotaDensities = try quota.densities(keptTotal: kept, shapes: layout.shapes) }
        if case let .magnitude(quota) = source { quotaDensities = try quota.densities(keptTotal: kept, shapes: layout.shapes) }
        return PruningOutcome(masks: masks, report: report, quotaDensities: quotaDensities, probes: probes, trimmedFrom: trimmedFrom,
                              directKeptTarget: kept, search: search)
    }

    private func checkReachable(_ kept: Int, pruner: String) throws {
        guard kept >= 1 else {
            throw PruningError.unreachableTarget(method: pruner, reason: "compression \(options.compression) keeps no weight of \(layout.total)")
        }
        guard kept <= eligibleCount else {
            throw PruningError.unreachableTarget(method: pruner, reason: "the network's own masks already keep only \(eligibleCount) weights")
        }
    }

    /// What the effective search settled on, and what it cost.
    struct EffectiveFound {
        var kept: Int
        var masks: [Tensor]
        var report: SparsityReport
        /// Pruner runs (masks built by `method`).
        var probes: Int
        /// The kept count of the run whose masks were trimmed to `kept`, when they were.
        var trimmedFrom: Int?
        /// Every mask evaluated, runs and trimmed ones, in order.
        var search: [EffectiveProbe]
    }

    /// The paper's effective pruning: the smallest direct kept count K whose masks keep at least
    /// total / compression effective weights, i.e. the largest effective sparsity not above the
    /// target. Masks are nested in K for the one-shot and layerwise methods, so effective counts
    /// grow with K and `EffectiveSearch` finds the exact answer. Iterative methods are re-run per
    /// probe and their masks are not nested in K, so they run until one run suffices and that
    /// run's masks are then trimmed by its last round's scores (`searchTrimming`).
    private func searchEffective(_ method: Pruner.Method, pruner: String) throws -> EffectiveFound {
        let exact = Double(layout.total) / options.compression
        // Effective kept ≥ total / C, as a whole number (tolerating float noise in total / C).
        let needed = abs(exact - exact.rounded()) < 1e-9 * exact ? Int(exact.rounded()) : Int(exact.rounded(.up))
        try checkReachable(needed, pruner: pruner)
        if let source = iterativeSource(method) { return try searchTrimming(method, source: source, needed: needed, pruner: pruner) }
        var probes = 0, search: [EffectiveProbe] = []
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
            let report = try subject.effectiveReport(masks)
            search.append(EffectiveProbe(kept: kept, effective: report.effective, trimmed: false))
            if report.effective >= needed, kept < best?.kept ?? .max { best = (kept, masks, report) }
            return report.effective
        }
        switch answer {
        case let .unreachable(effectiveAtLimit):
            throw unreachable(needed: needed, effectiveAtLimit: effectiveAtLimit, pruner: pruner)
        case let .kept(kept):
            guard let best, best.kept == kept else { preconditionFailure("the answer \(kept) is not the smallest sufficient probe") }
            return EffectiveFound(kept: best.kept, masks: best.masks, report: best.report, probes: probes, search: search)
        }
    }

    /// The effective search of an iterative method (`source`, or the random method taking its
    /// layerwise counts): runs it until one run at K_hi is sufficient, then trims that run's result
    /// by the scores of its last round, which is what the last round keeps when its target is
    /// smaller (the rounds before it follow the schedule to K_hi, a fraction of a percent away).
    /// The trimmed masks are nested, so the answer is exact for them: K* suffices and the same run
    /// trimmed to K* − 1 does not. Only runs count as probes (docs/science.md).
    private func searchTrimming(_ method: Pruner.Method, source: Pruner.Method, needed: Int, pruner: String) throws -> EffectiveFound {
        var probes = 0, trimProbes = 0, search: [EffectiveProbe] = []
        var last: IterativeRun?
        var best: (kept: Int, masks: [Tensor], report: SparsityReport)?
        func evaluate(_ kept: Int, _ keep: [Bool], trimmed: Bool) throws -> Int {
            let masks = self.masks(method, iterativeKeep: keep)
            let report = try subject.effectiveReport(masks)
            search.append(EffectiveProbe(kept: kept, effective: report.effective, trimmed: trimmed))
            if report.effective >= needed, kept < best?.kept ?? .max { best = (kept, masks, report) }
            return report.effective
        }
        let answer = try EffectiveSearch.smallestSufficientByTrimming(needed: needed, limit: eligibleCount, run: { kept in
            try options.stop.check("probe \(probes + 1) (kept \(kept))")
            probes += 1
            do {
                last = try iterative(source, kept: kept)
            } catch let stopped as ComputationStopped {
                throw stopped.within("probe \(probes) (kept \(kept))")
            }
            return try evaluate(kept, last!.keep, trimmed: false)
        }, trimmed: { kept in
            try options.stop.check("trim \(trimProbes + 1) (kept \(kept))")
            trimProbes += 1
            return try evaluate(kept, last!.trimmed(to: kept), trimmed: true)
        })
        switch answer {
        case let .unreachable(effectiveAtLimit):
            throw unreachable(needed: needed, effectiveAtLimit: effectiveAtLimit, pruner: pruner)
        case let .kept(kept):
            guard let best, best.kept == kept, let last else { preconditionFailure("the answer \(kept) is not the smallest sufficient mask") }
            return EffectiveFound(kept: kept, masks: best.masks, report: best.report, probes: probes,
                                  trimmedFrom: last.kept == kept ? nil : last.kept, search: search)
        }
    }

    private func unreachable(needed: Int, effectiveAtLimit: Int, pruner: String) -> PruningError {
        PruningError.unreachableTarget(method: pruner, reason:
            "keeping all \(eligibleCount) weights leaves only \(effectiveAtLimit) effective, fewer than the \(needed) the target needs")
    }

    /// The iterative method behind `method` (itself, or the source of a random method taking its
    /// layerwise counts); nil for one-shot and layerwise methods.
    func iterativeSource(_ method: Pruner.Method) -> Pruner.Method? {
        switch method {
        case .synflow, .snipIterative: method
        case let .randomLike(source), let .shuffled(source): iterativeSource(source)
        default: nil
        }
    }

    /// `method`'s masks from the flat result of its iterative source: those masks, or random ones
    /// with their layerwise counts (random/synflow, a shuffle).
    func masks(_ method: Pruner.Method, iterativeKeep keep: [Bool]) -> [Tensor] {
        guard let (source, ranks) = randomPlacement(method) else { return layout.masks(from: keep) }
        return layerwise(counts: keptCounts(masks(source, iterativeKeep: keep)), ranks: ranks)
    }

    /// For the methods that place another method's layerwise counts at random positions, that
    /// method and the order: random/snip and random/synflow the random pruners' order, a shuffle
    /// its own. Nil for every other method.
    private func randomPlacement(_ method: Pruner.Method) -> (source: Pruner.Method, ranks: [[Int32]])? {
        switch method {
        case let .randomLike(source): (source, randomLayerRanks())
        case let .shuffled(source): (source, shuffleRanks())
        default: nil
        }
    }

    private func keptCounts(_ masks: [Tensor]) -> [Int] {
        masks.map { mask in (0..<mask.count).reduce(0) { $0 + (mask[$1] != 0 ? 1 : 0) } }
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
                let keys = Scores.magnitude(try subject.weightValues(), layout: layout)
                magnitudeRanks = layout.layers.map { layer in
                    let range = layout.offsets[layer]..<(layout.offsets[layer] + layout.sizes[layer])
                    return descendingRanks(keys, eligible: eligible, range: range)
                }
            }
            return layerwise(counts: counts, ranks: magnitudeRanks!)
        case .randomLike, .shuffled:
            guard let (source, ranks) = randomPlacement(method) else { preconditionFailure("\(method) places no counts") }
            return layerwise(counts: keptCounts(try masks(source, kept: kept)), ranks: ranks)
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
            return layout.masks(from: try iterative(method, kept: kept).keep)
        }
    }

    private func oneShotKeys(_ method: Pruner.Method) throws -> [Double] {
        switch method {
        case .magnitudeGlobal: return Scores.magnitude(try subject.weightValues(), layout: layout)
        case .lamp: return Scores.lamp(try subject.weightValues(), layout: layout, eligible: eligible)
        case .snip:
            let network = try needNetwork(method)
            defer { snapshot.restore(network) }
            return try Scores.snip(network, layout: layout, batches: batches, stop: options.stop)
        case .grasp:
            let network = try needNetwork(method)
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

    /// The random pruners' order of each layer's eligible weights (`layerRanks`).
    private func randomLayerRanks() -> [[Int32]] {
        if let randomRanks { return randomRanks }
        let ranks = layerRanks(stream: "prune-random")
        randomRanks = ranks
        return ranks
    }

    /// The layerwise shuffle's order, from a stream of its own: a shuffled random pruner is a
    /// fresh draw with the same layerwise counts, not the same masks again.
    private func shuffleRanks() -> [[Int32]] {
        if let shuffledRanks { return shuffledRanks }
        let ranks = layerRanks(stream: "layerwise-shuffle")
        shuffledRanks = ranks
        return ranks
    }

    /// A uniformly random order of each layer's eligible weights (ranks 0…e−1, ineligible after),
    /// fixed per call so masks for different kept counts are nested. A Fisher–Yates shuffle per layer.
    private func layerRanks(stream: String) -> [[Int32]] {
        var rng = RandomGenerator(seed: options.seed, stream: stream)
        return layout.layers.map { layer -> [Int32] in
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
    }

    /// SynFlow and iterative SNIP: `rounds` rounds of scoring the masked network and keeping the
    /// top fraction, on the exponential schedule density_r = (S / K₀)^(r / R) with S = `scheduledFor`
    /// (`kept` unless given), the last round keeping exactly `kept`.
    func iterative(_ method: Pruner.Method, kept: Int, scheduledFor scheduled: Int? = nil) throws -> IterativeRun {
        var current = eligible
        let start = Double(eligibleCount), ratio = Double(scheduled ?? kept) / Double(eligibleCount)
        let rounds = options.rounds
        // Buffers reused by every round: masks, keys and the selection's scratch.
        let masks = layout.masks(from: current)
        var keys: [Double] = [], scratch = SelectionScratch()
        var active = current.indices.filter { current[$0] }
        for round in 1...rounds {
            try options.stop.check("round \(round) of \(rounds)")
            let target = round == rounds ? kept : Int((start * pow(ratio, Double(round) / Double(rounds))).rounded())
            if round > 1 { layout.fill(masks, from: current) }
            switch method {
            case .synflow:
                if synflowGraph == nil {
                    synflowGraph = (try subject.makePathScoring(), layout.shapes.map { Tensor(shape: $0) })
                }
                try Scores.synflowLog(try subject.weightValues(), graph: synflowGraph!.graph, layout: layout, masks: masks,
                                      scratch: synflowGraph!.scratch,
                                      into: &keys)
            default:
                let network = try needNetwork(method)
                for (parameter, mask) in zip(network.prunableParameters, masks) { parameter.setMask(mask.clone()) }
                do {
                    keys = try Scores.snip(network, layout: layout, batches: batches, stop: options.stop)
                } catch let stopped as ComputationStopped {
                    throw stopped.within("round \(round) of \(rounds)")
                }
                snapshot.restore(network)
            }
            narrow(&current, active: &active, to: target, keys: keys, scratch: &scratch)
        }
        return IterativeRun(keep: current, kept: kept, lastRoundKeys: keys)
    }
}

/// An iterative pruner's result and the scores of its last round (computed on the masks before
/// that round), which rank the weights it kept.
struct IterativeRun {
    /// Flat keep/drop over the prunable weights.
    let keep: [Bool]
    /// How many weights `keep` keeps.
    let kept: Int
    /// Larger is more important (only those of the weights in `keep` are read).
    let lastRoundKeys: [Double]

    /// The `count` ≤ `kept` weights with the largest last-round scores, ties to the lower index:
    /// exactly what the last round keeps when its target is `count` instead of `kept` (`narrow`
    /// keeps a prefix of one order, by score then index, so the top `count` of the round's input
    /// are the top `count` of its top `kept`).
    func trimmed(to count: Int) -> [Bool] {
        precondition(count <= kept, "trimming \(kept) kept weights to \(count)")
        var keep = self.keep, scratch = SelectionScratch()
        narrow(&keep, to: count, keys: lastRoundKeys, scratch: &scratch)
        return keep
    }
}
