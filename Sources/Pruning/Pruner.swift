import NeuralNet
import Tensors

/// Direct: prune to the target compression. Effective: prune until the *effective* compression
/// reaches the target (docs/science.md).
public enum PruningMode: String, Codable, CaseIterable, Sendable { case direct, effective }

/// A pruning method by its spec name (`random/erk`, `synflow`, …; see `PrunerName.allNames`).
public struct Pruner: Hashable, Sendable, CustomStringConvertible {
    indirect enum Method: Hashable, Sendable {
        case dense
        /// Uniformly random positions, layerwise counts from a quota.
        case random(Quota)
        /// Uniformly random positions with the layerwise counts another method arrives at.
        case randomLike(Method)
        /// The layerwise shuffle of another method (`shuffle: true`): its layerwise counts at
        /// uniformly random positions, from a random stream of their own. Unlike a shuffle of the
        /// finished masks, it is a method of its own, so an effective-mode search reaches the
        /// target with the shuffled masks (the comparison at equal effective sparsity).
        case shuffled(Method)
        case magnitudeGlobal
        /// Largest |w| per layer, layerwise counts from a quota.
        case magnitude(Quota)
        case snip, snipIterative, grasp, synflow, lamp

        /// Whether masks depend on the weights' values (|w|, gradients, SynFlow's |w| paths).
        var readsWeights: Bool {
            switch self {
            case .dense, .random: false
            case let .randomLike(source), let .shuffled(source): source.readsWeights
            case .magnitudeGlobal, .magnitude, .snip, .snipIterative, .grasp, .synflow, .lamp: true
            }
        }

        /// Whether scoring changes the network while it runs (weights, masks, BatchNorm running
        /// statistics), so that pruning must snapshot it first and restore it after.
        var changesNetwork: Bool {
            switch self {
            case .snip, .snipIterative, .grasp: true
            case let .randomLike(source), let .shuffled(source): source.changesNetwork
            case .dense, .random, .magnitudeGlobal, .magnitude, .synflow, .lamp: false
            }
        }
    }

    let method: Method
    public let name: String

    public init(_ name: String) throws {
        self.name = name
        switch name {
        case "dense": method = .dense
        case "magnitude/global": method = .magnitudeGlobal
        case "snip": method = .snip
        case "snip/iterative": method = .snipIterative
        case "grasp": method = .grasp
        case "synflow": method = .synflow
        case "lamp": method = .lamp
        case "random/snip": method = .randomLike(.snip)
        case "random/synflow": method = .randomLike(.synflow)
        default:
            let parts = name.split(separator: "/", maxSplits: 1).map(String.init)
            guard parts.count == 2, parts[0] == "random" || parts[0] == "magnitude" else { throw PruningError.unknownPruner(name) }
            guard let quota = Quota(rawValue: parts[1]) else { throw PruningError.unknownPruner(name) }
            method = parts[0] == "random" ? .random(quota) : .magnitude(quota)
        }
    }

    public var description: String { name }

    /// The pruner that prunes nothing (a dense run).
    public static let dense = Pruner(method: .dense, name: "dense")

    private init(method: Method, name: String) {
        self.method = method
        self.name = name
    }

    public var isDense: Bool { method == .dense }

    /// Whether the pruner reads training batches (SNIP, GraSP and the random variant of SNIP).
    public var needsData: Bool {
        switch method {
        case .snip, .snipIterative, .grasp, .randomLike(.snip): true
        default: false
        }
    }

    /// Whether the pruner ranks trained weights (magnitude, LAMP): the paper applies these to a
    /// trained dense network and rewinds to its initialisation.
    public var needsTrainedWeights: Bool {
        switch method {
        case .magnitudeGlobal, .magnitude, .lamp: true
        default: false
        }
    }

    /// Whether the pruner reads the network's weight values. Those that do not (dense and the
    /// random pruners with a quota) only need the network's structure: commands skip initialising
    /// its weights for them, and pruning neither copies nor restores them.
    public var readsWeights: Bool { method.readsWeights }

    /// Whether scores are recomputed over several rounds (one run per effective-mode probe).
    public var isIterative: Bool {
        switch method {
        case .snipIterative, .synflow, .randomLike(.synflow): true
        default: false
        }
    }

    /// The quota when the layerwise densities come from one.
    public var quota: Quota? {
        switch method {
        case let .random(quota), let .magnitude(quota): quota
        default: nil
        }
    }
}

/// Settings of one pruning call.
public struct PruningOptions: Sendable {
    /// Target compression (total / kept), direct or effective by `mode`; must exceed 1 except for `dense`.
    public var compression: Double
    public var mode: PruningMode
    public var seed: UInt64
    /// The layerwise shuffle (Frankle et al. 2021): each layer keeps the method's count of weights
    /// at uniformly random positions. In effective mode the search runs on the shuffled masks, so
    /// they, not the method's own, reach the effective target.
    public var shuffle: Bool
    /// Rounds of the iterative pruners (SynFlow, iterative SNIP); the paper uses 100.
    public var rounds: Int
    /// Asked before every round, probe and scoring batch: pruning VGG-16 with SynFlow to an
    /// effective target runs hundreds of rounds, minutes a worker told to stop cannot wait.
    public var stop: StopCheck

    public init(compression: Double, mode: PruningMode = .direct, seed: UInt64 = 0, shuffle: Bool = false, rounds: Int = 100,
                stop: StopCheck = .never) {
        self.compression = compression
        self.mode = mode
        self.seed = seed
        self.shuffle = shuffle
        self.rounds = rounds
        self.stop = stop
    }
}

/// What a pruning call produced.
public struct PruningOutcome {
    /// One 0/1 mask per prunable layer, canonical order.
    public var masks: [Tensor]
    /// Direct and effective counts of `masks`.
    public var report: SparsityReport
    /// Per-layer target density of the quota (nil for methods without one).
    public var quotaDensities: [Double]?
    /// Pruner runs (masks built by the method) while searching for the effective target
    /// (`EffectiveSearch`), 1 for direct pruning.
    public var probes: Int
    /// Iterative pruners in effective mode: masks of the last run trimmed by its last round's
    /// scores and evaluated, without running the pruner (0 otherwise).
    public var trimProbes: Int { search.reduce(0) { $0 + ($1.trimmed ? 1 : 0) } }
    /// Iterative pruners in effective mode: the kept count of the run whose masks were trimmed to
    /// `directKeptTarget`; nil when nothing was trimmed.
    public var trimmedFrom: Int?
    /// Kept weights the direct pruning step was asked for (before any shuffle).
    public var directKeptTarget: Int
    /// Effective mode: every mask the search evaluated, in order (empty for direct pruning).
    public var search: [EffectiveProbe]
}

/// One mask the effective search evaluated: its direct and effective kept counts, and whether it
/// was the last run trimmed (no pruner run) rather than a run of the pruner.
public struct EffectiveProbe: Equatable, Sendable, Encodable {
    public var kept: Int
    public var effective: Int
    public var trimmed: Bool
}
