import Figures
import Foundation
import Pruning
import Tensors

/// Training progress at one step.
public struct RunProgress: Codable, Equatable, Sendable {
    /// Steps completed in this phase, and the phase's total.
    public var step: Int
    public var steps: Int
    /// Training phase: 0 for ordinary runs, the round (1-based) for lottery-ticket rounds.
    public var phase: Int
    public var learningRate: Double
    /// Mean training loss and accuracy since the previous progress report.
    public var loss: Double
    public var accuracy: Double
    public var imagesPerSecond: Double
}

/// A finished run: which run, and what it measured (`RunFigures`, each figure once; read through
/// this type as `result.testAccuracy`, `result.effectiveCompression`, …).
///
/// As `result.json` and in `prunelab run --json` it is one flat object: key, config, parent key,
/// the figures' fields and, for readers, the totals and ratios the per-layer table implies
/// (written, never read back).
@dynamicMemberLookup
public struct RunResult: Codable, Equatable, Sendable {
    public var key: String
    public var config: RunConfig
    public var parentKey: String?
    public var figures: RunFigures

    public init(key: String, config: RunConfig, parentKey: String?, figures: RunFigures) {
        self.key = key
        self.config = config
        self.parentKey = parentKey
        self.figures = figures
    }

    public subscript<Value>(dynamicMember path: KeyPath<RunFigures, Value>) -> Value { figures[keyPath: path] }

    enum CodingKeys: String, CodingKey {
        case key, config, parentKey = "parent_key"
    }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        key = try container.decode(String.self, forKey: .key)
        config = try container.decode(RunConfig.self, forKey: .config)
        parentKey = try container.decodeIfPresent(String.self, forKey: .parentKey)
        figures = try RunFigures(from: decoder)
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(key, forKey: .key)
        try container.encode(config, forKey: .config)
        try container.encodeIfPresent(parentKey, forKey: .parentKey)
        try figures.encode(to: encoder)
        try figures.encodeTotals(to: encoder)
    }
}

/// Everything a run tells the outside world, in order.
public enum RunEvent {
    case started(key: String, config: RunConfig)
    /// A new stage: "pruning", "training", "lottery-ticket round 2 of 5", …
    case stage(String)
    case progress(RunProgress)
    /// A named scalar at a step (test_accuracy, test_loss, train_loss, …).
    case metric(MetricRecord)
    /// The masks the run trains with: the masks themselves and their effective masks (canonical
    /// order), and their per-layer table (with the quota's densities, when it has any).
    case masks(masks: [Tensor], effectiveMasks: [Tensor], report: SparsityReport)
    /// A checkpoint after `step` steps of `phase`, with its SHA-256 (its content address): its
    /// bytes when the reporter takes them (`takesCheckpoints`), else nil (written to the run's
    /// checkpoint file).
    case checkpoint(step: Int, phase: Int, sha256: String, bytes: Data?)
    case finished(RunResult)
}

/// Receives a run's events: the CLI prints progress lines, the service streams them.
public protocol Reporter: AnyObject {
    func report(_ event: RunEvent)
    /// Whether checkpoints come to this reporter as bytes (a worker uploads them from memory);
    /// the run then checkpoints even without a checkpoint file.
    var takesCheckpoints: Bool { get }
}

extension Reporter {
    public var takesCheckpoints: Bool { false }
}

/// A reporter that ignores everything (tests, parent runs nobody watches).
public final class SilentReporter: Reporter {
    public init() {}
    public func report(_ event: RunEvent) {}
}
