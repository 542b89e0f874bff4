/// The figures a run produces, each defined once and shared by the engine (`Pruning`,
/// `Experiments`), the store (`Store` adds their GRDB conformances) and the HTTP API (the
/// document's `Layer`, `Metric` and `RunFigures` are these types). No dependencies.

/// Direct and effective counts of one prunable layer, and the quota's target density for it.
public struct LayerFigures: Codable, Hashable, Sendable {
    public var name: String
    public var shape: [Int]
    public var size: Int
    /// Weights the mask keeps (direct).
    public var kept: Int
    /// Kept weights on at least one input–output path.
    public var effective: Int
    /// The quota's target density for the layer (quota-based pruners only).
    public var quota: Double?

    public init(name: String, shape: [Int], size: Int, kept: Int, effective: Int, quota: Double? = nil) {
        self.name = name
        self.shape = shape
        self.size = size
        self.kept = kept
        self.effective = effective
        self.quota = quota
    }
}

/// Totals and ratios of a per-layer table, computed where they are read, never stored beside it.
public protocol LayerTotals {
    var layers: [LayerFigures] { get }
}

extension LayerTotals {
    public var total: Int { layers.reduce(0) { $0 + $1.size } }
    public var kept: Int { layers.reduce(0) { $0 + $1.kept } }
    public var effective: Int { layers.reduce(0) { $0 + $1.effective } }
    public var directSparsity: Double { 1 - Double(kept) / Double(total) }
    public var effectiveSparsity: Double { 1 - Double(effective) / Double(total) }
    /// total / kept (infinite when nothing is kept).
    public var directCompression: Double { Double(total) / Double(kept) }
    /// total / effective (infinite when nothing is effective).
    public var effectiveCompression: Double { Double(total) / Double(effective) }

    /// Writes the totals and ratios beside the encoder's other fields, for readers of result.json
    /// and CLI output; nothing reads them back (the table is the figure).
    public func encodeTotals(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: TotalsKey.self)
        try container.encode(total, forKey: .total)
        try container.encode(kept, forKey: .kept)
        try container.encode(effective, forKey: .effective)
        try container.encode(directSparsity, forKey: .directSparsity)
        try container.encode(effectiveSparsity, forKey: .effectiveSparsity)
        try container.encode(directCompression, forKey: .directCompression)
        try container.encode(effectiveCompression, forKey: .effectiveCompression)
    }
}

private enum TotalsKey: String, CodingKey {
    case total, kept, effective, directSparsity = "direct_sparsity", effectiveSparsity = "effective_sparsity"
    case directCompression = "direct_compression", effectiveCompression = "effective_compression"
}

/// A named scalar a run records at a step of a phase (test accuracy and loss at each evaluation):
/// metrics.jsonl, checkpoint headers, the metrics a worker uploads and the API returns.
public struct MetricRecord: Codable, Hashable, Sendable {
    /// 0 for ordinary runs, the round (1-based) for lottery-ticket rounds.
    public var phase: Int
    public var step: Int
    public var name: String
    public var value: Double

    public init(phase: Int, step: Int, name: String, value: Double) {
        self.phase = phase
        self.step = step
        self.name = name
        self.value = value
    }
}

/// What a finished run measured, each figure once: the per-layer table (totals and compressions
/// derive from it), the final evaluation and the run's timings. A worker's finish carries exactly
/// this; the store keeps it as the run's `result`.
///
/// Keys are snake_case on every encoder (the API's, prunelab's own). A loss that is not finite
/// (a diverged run) is written as null and read back as NaN: JSON has no NaN.
public struct RunFigures: Codable, Hashable, Sendable, LayerTotals {
    public var testAccuracy: Double
    public var testLoss: Double
    /// Mean training loss and accuracy over the final window of training.
    public var trainLoss: Double
    public var trainAccuracy: Double
    public var layers: [LayerFigures]
    /// SGD steps of the final training phase, and of all phases (lottery-ticket rounds train several).
    public var steps: Int
    public var totalSteps: Int
    public var trainingSeconds: Double
    public var wallSeconds: Double
    public var imagesPerSecond: Double
    /// Step the final phase resumed from (nil when it ran from the start).
    public var resumedFromStep: Int?

    public init(testAccuracy: Double, testLoss: Double, trainLoss: Double, trainAccuracy: Double, layers: [LayerFigures],
                steps: Int, totalSteps: Int, trainingSeconds: Double, wallSeconds: Double, imagesPerSecond: Double,
                resumedFromStep: Int? = nil) {
        self.testAccuracy = testAccuracy
        self.testLoss = testLoss
        self.trainLoss = trainLoss
        self.trainAccuracy = trainAccuracy
        self.layers = layers
        self.steps = steps
        self.totalSteps = totalSteps
        self.trainingSeconds = trainingSeconds
        self.wallSeconds = wallSeconds
        self.imagesPerSecond = imagesPerSecond
        self.resumedFromStep = resumedFromStep
    }

    public enum CodingKeys: String, CodingKey, CaseIterable {
        case testAccuracy = "test_accuracy", testLoss = "test_loss", trainLoss = "train_loss", trainAccuracy = "train_accuracy"
        case layers, steps, totalSteps = "total_steps", trainingSeconds = "training_seconds", wallSeconds = "wall_seconds"
        case imagesPerSecond = "images_per_second", resumedFromStep = "resumed_from_step"
    }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        testAccuracy = try container.decode(Double.self, forKey: .testAccuracy)
        testLoss = try container.decodeIfPresent(Double.self, forKey: .testLoss) ?? .nan
        trainLoss = try container.decodeIfPresent(Double.self, forKey: .trainLoss) ?? .nan
        trainAccuracy = try container.decode(Double.self, forKey: .trainAccuracy)
        layers = try container.decode([LayerFigures].self, forKey: .layers)
        steps = try container.decode(Int.self, forKey: .steps)
        totalSteps = try container.decode(Int.self, forKey: .totalSteps)
        trainingSeconds = try container.decode(Double.self, forKey: .trainingSeconds)
        wallSeconds = try container.decode(Double.self, forKey: .wallSeconds)
        imagesPerSecond = try container.decode(Double.self, forKey: .imagesPerSecond)
        resumedFromStep = try container.decodeIfPresent(Int.self, forKey: .resumedFromStep)
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(testAccuracy, forKey: .testAccuracy)
        try container.encode(testLoss.isFinite ? testLoss : nil, forKey: .testLoss)
        try container.encode(trainLoss.isFinite ? trainLoss : nil, forKey: .trainLoss)
        try container.encode(trainAccuracy, forKey: .trainAccuracy)
        try container.encode(layers, forKey: .layers)
        try container.encode(steps, forKey: .steps)
        try container.encode(totalSteps, forKey: .totalSteps)
        try container.encode(trainingSeconds, forKey: .trainingSeconds)
        try container.encode(wallSeconds, forKey: .wallSeconds)
        try container.encode(imagesPerSecond, forKey: .imagesPerSecond)
        try container.encodeIfPresent(resumedFromStep, forKey: .resumedFromStep)
    }
}

/// One point of a connectivity curve (`prunelab curves`, `GET /curves`): an architecture pruned
/// at initialisation by one pruner, in direct mode, to one target compression with one seed — no
/// training. What the paper's effective-vs-direct figures plot.
public struct ConnectivityPoint: Codable, Hashable, Sendable {
    public var architecture: String
    public var pruner: String
    public var seed: Int
    /// The target (direct) compression.
    public var target: Double
    /// Rounds of the iterative pruners (1 for the others).
    public var rounds: Int
    /// The data set data-dependent pruners scored on; "" for the data-free ones.
    public var dataset: String
    /// Prunable weights, kept weights, and kept weights on an input–output path.
    public var total: Int
    public var kept: Int
    public var effective: Int
    /// Time to prune and compute the effective masks.
    public var seconds: Double

    public init(architecture: String, pruner: String, seed: Int, target: Double, rounds: Int, dataset: String,
                total: Int, kept: Int, effective: Int, seconds: Double) {
        self.architecture = architecture
        self.pruner = pruner
        self.seed = seed
        self.target = target
        self.rounds = rounds
        self.dataset = dataset
        self.total = total
        self.kept = kept
        self.effective = effective
        self.seconds = seconds
    }

    /// total / kept and total / effective (infinite when nothing is kept or effective).
    public var directCompression: Double { Double(total) / Double(kept) }
    public var effectiveCompression: Double { Double(total) / Double(effective) }

    /// What identifies a point: the same identity means the same numbers (pruning is deterministic).
    public struct Identity: Hashable, Sendable {
        public var architecture, pruner: String
        public var seed: Int
        public var target: Double
        public var rounds: Int
        public var dataset: String

        public init(architecture: String, pruner: String, seed: Int, target: Double, rounds: Int, dataset: String) {
            self.architecture = architecture
            self.pruner = pruner
            self.seed = seed
            self.target = target
            self.rounds = rounds
            self.dataset = dataset
        }
    }

    public var identity: Identity {
        Identity(architecture: architecture, pruner: pruner, seed: seed, target: target, rounds: rounds, dataset: dataset)
    }
}
