import Datasets
import Crypto
import Figures
import Foundation
import ONNX
import NeuralNet
import Pruning
import Tensors

/// Connectivity curves: effective against direct compression of networks pruned at
/// initialisation, without training (the paper's effective-vs-direct figures). Each point is one
/// architecture × pruner × seed × target; one network per architecture and seed serves every
/// target (its `EffectiveMasks` too), so a curve costs one pruning per point.
public enum ConnectivityCurves {
    /// The pruners that need neither data nor training: random with each quota, magnitude on the
    /// initial weights, SynFlow.
    public static let dataFreePruners = ["random/uniform", "random/uniform+", "random/erk", "random/igq", "magnitude/global", "synflow"]
    /// 10× to 10⁴×, about three points a decade.
    public static let defaultTargets: [Double] = [10, 20, 30, 50, 100, 200, 300, 500, 1000, 2000, 3000, 5000, 10000]
    /// Samples SNIP and GraSP score on per class (as `prunelab prune` by default).
    public static let scoringSamplesPerClass = 10

    /// A target a pruner cannot reach on an architecture (uniform+ keeps layers dense), with why.
    public struct Unreachable: Encodable, Sendable, Equatable {
        public var architecture, pruner: String
        public var seed: Int
        public var target: Double
        public var reason: String
    }

    /// What to compute: every combination of architecture, pruner, target and seed.
    public struct Request: Sendable {
        public var architectures: [String]
        public var pruners: [String]
        public var targets: [Double]
        public var seeds: [Int]
        public var rounds: Int
        /// Where data-dependent pruners get their samples: the data set's name and splits. Only
        /// architectures whose own input shape the data set has are scored (the curve of another
        /// input shape would be another network's).
        public var dataset: (name: String, splits: DatasetSplits)?
        /// Architectures that are ONNX files (`graphName(of:)` → file): pruned as imported graphs,
        /// at initialisation meaning the file's initializers or, without any, a seeded Kaiming draw.
        public var graphs: [String: URL] = [:]

        public init(architectures: [String], pruners: [String], targets: [Double], seeds: [Int], rounds: Int = 100,
                    dataset: (name: String, splits: DatasetSplits)? = nil) {
            self.architectures = architectures
            self.pruners = pruners
            self.targets = targets
            self.seeds = seeds
            self.rounds = rounds
            self.dataset = dataset
        }

        /// The identity a point of this request will have.
        public func identity(architecture: String, pruner: Pruner, seed: Int, target: Double) -> ConnectivityPoint.Identity {
            ConnectivityPoint.Identity(architecture: architecture, pruner: pruner.name, seed: seed, target: target,
                                       rounds: pruner.isIterative ? rounds : 1, dataset: pruner.needsData ? dataset?.name ?? "" : "")
        }
    }

    public enum Failure: Error, CustomStringConvertible, Equatable {
        case needsData(pruner: String)
        case inputShapeMismatch(architecture: String, dataset: String, shape: [Int], expected: [Int])

        public var description: String {
            switch self {
            case let .needsData(pruner): "\(pruner) scores on data: give a data set (--dataset)"
            case let .inputShapeMismatch(architecture, dataset, shape, expected):
                "\(dataset) has samples of shape \(shape), \(architecture) is defined for \(expected): its data-dependent curve would be another network's"
            }
        }
    }

    /// Checks a request before anything runs: pruner names, targets, seeds, rounds, and that
    /// data-dependent pruners have data of the right shape.
    public static func validate(_ request: Request) throws {
        for name in request.architectures where request.graphs[name] == nil { _ = try ModelZoo.entry(name) }
        for name in request.pruners {
            let pruner = try Pruner(name)
            guard !pruner.isDense else { throw PruningError.unsupported("dense prunes nothing: it has no curve") }
            guard !pruner.needsData || request.dataset != nil else { throw Failure.needsData(pruner: name) }
            if pruner.needsData, let graph = request.graphs.keys.sorted().first {
                throw PruningError.unsupported("\(name) scores on training data; \(graph) is an imported graph, pruned without data")
            }
        }
        for target in request.targets where !(target.isFinite && target > 1) { throw PruningError.invalidCompression(target) }
        guard request.rounds >= 1 else { throw PruningError.unsupported("rounds must be at least 1, got \(request.rounds)") }
        if let dataset = request.dataset, request.pruners.contains(where: { (try? Pruner($0).needsData) == true }) {
            for name in request.architectures where request.graphs[name] == nil {
                let expected = try ModelZoo.entry(name).inputShape
                guard dataset.splits.train.sampleShape == expected else {
                    throw Failure.inputShapeMismatch(architecture: name, dataset: dataset.name, shape: dataset.splits.train.sampleShape,
                                                     expected: expected)
                }
            }
        }
    }

    /// Computes the request's points in order (architecture, seed, pruner, target), skipping those
    /// `known` holds, and hands each to `record` as it is done (a caller stores them as they come,
    /// so an interrupted computation keeps what it did). Unreachable targets go to `unreachable`.
    public static func compute(_ request: Request, known: Set<ConnectivityPoint.Identity> = [], stop: StopCheck = .never,
                               record: (ConnectivityPoint) throws -> Void,
                               unreachable: (Unreachable) -> Void = { _ in }) throws {
        try validate(request)
        let pruners = try request.pruners.map { try Pruner($0) }
        for architecture in request.architectures {
            if let url = request.graphs[architecture] {
                try computeGraph(architecture, file: url, pruners: pruners, request: request, known: known, stop: stop, record: record,
                                 unreachable: unreachable)
                continue
            }
            let entry = try ModelZoo.entry(architecture)
            for seed in request.seeds {
                // One initialised network (and its effective masks) per seed, made when the first
                // pruner with missing points needs it.
                var prepared: (network: Network, effective: EffectiveMasks)?
                func prepare() throws -> (network: Network, effective: EffectiveMasks) {
                    if let prepared { return prepared }
                    let made = try ModelZoo.make(architecture, inputShape: entry.inputShape, classes: entry.classes)
                    made.initialize(seed: UInt64(seed))
                    let ready = (network: made, effective: try EffectiveMasks(network: made))
                    prepared = ready
                    return ready
                }
                var batches: [ScoringBatch]?
                for pruner in pruners {
                    let missing = request.targets.filter {
                        !known.contains(request.identity(architecture: architecture, pruner: pruner, seed: seed, target: $0))
                    }
                    guard !missing.isEmpty else { continue }
                    let (network, effective) = try prepare()
                    var scoring: [ScoringBatch] = []
                    if pruner.needsData, let dataset = request.dataset {
                        if batches == nil {
                            batches = RunData.scoringBatches(dataset.splits.train, samples: scoringSamplesPerClass * dataset.splits.train.classes,
                                                             batchSize: 256, seed: UInt64(seed))
                        }
                        scoring = batches ?? []
                    }
                    for target in missing {
                        try point(architecture, pruner: pruner, seed: seed, target: target, request: request, stop: stop, record: record,
                                  unreachable: unreachable) { (options: PruningOptions) throws -> PruningOutcome in
                            try pruner.prune(network, options: options, batches: scoring, effectiveMasks: effective)
                        }
                    }
                }
            }
        }
    }

    /// The name an ONNX file's points carry: its file name and the first 8 hex digits of its
    /// SHA-256, so an edited file never reuses the old file's points.
    public static func graphName(of url: URL) throws -> String {
        let data = try Data(contentsOf: url, options: .alwaysMapped)
        let digest = SHA256.hash(data: data).prefix(4).map { String(format: "%02x", $0) }.joined()
        return "\(url.lastPathComponent)#\(digest)"
    }

    /// An ONNX graph's points: data-free pruners in direct mode, one graph for every seed.
    private static func computeGraph(_ architecture: String, file url: URL, pruners: [Pruner], request: Request,
                                     known: Set<ConnectivityPoint.Identity>, stop: StopCheck, record: (ConnectivityPoint) throws -> Void,
                                     unreachable: (Unreachable) -> Void) throws {
        let model = try ONNXModel(contentsOf: url)
        let graph = try ONNXGraph(model: model)
        let fileWeights = graph.initialWeights(from: model)
        for seed in request.seeds {
            var drawn: [Tensor]?
            for pruner in pruners {
                let missing = request.targets.filter {
                    !known.contains(request.identity(architecture: architecture, pruner: pruner, seed: seed, target: $0))
                }
                guard !missing.isEmpty else { continue }
                var weights: [Tensor]?
                if pruner.readsWeights {
                    if fileWeights == nil, drawn == nil { drawn = graph.initializedWeights(seed: UInt64(seed)) }
                    weights = fileWeights ?? drawn
                }
                for target in missing {
                    try point(architecture, pruner: pruner, seed: seed, target: target, request: request, stop: stop, record: record,
                              unreachable: unreachable) { (options: PruningOptions) throws -> PruningOutcome in
                        try pruner.prune(graph, weights: weights, options: options)
                    }
                }
            }
        }
    }

    /// One point: `prune` in direct mode to `target`, timed and recorded, or reported unreachable.
    private static func point(_ architecture: String, pruner: Pruner, seed: Int, target: Double, request: Request, stop: StopCheck,
                              record: (ConnectivityPoint) throws -> Void, unreachable: (Unreachable) -> Void,
                              prune: (PruningOptions) throws -> PruningOutcome) throws {
        try stop.check("\(architecture) \(pruner.name) seed \(seed) target \(target)")
        let start = DispatchTime.now().uptimeNanoseconds
        let outcome: PruningOutcome
        do {
            outcome = try prune(PruningOptions(compression: target, mode: .direct, seed: UInt64(seed), rounds: request.rounds, stop: stop))
        } catch let PruningError.unreachableTarget(_, reason) {
            unreachable(Unreachable(architecture: architecture, pruner: pruner.name, seed: seed, target: target, reason: reason))
            return
        }
        let seconds = Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
        let identity = request.identity(architecture: architecture, pruner: pruner, seed: seed, target: target)
        try record(ConnectivityPoint(architecture: architecture, pruner: pruner.name, seed: seed, target: target,
                                     rounds: identity.rounds, dataset: identity.dataset, total: outcome.report.total,
                                     kept: outcome.report.kept, effective: outcome.report.effective, seconds: seconds))
    }
}
