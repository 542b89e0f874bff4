import Foundation
import Pruning
import Tensors

/// Per-layer figures of a run's masks.
public struct LayerFigures: Codable, Equatable, Sendable {
    public var name: String
    public var shape: [Int]
    public var size: Int
    /// Weights the mask keeps (direct).
    public var kept: Int
    /// Kept weights on some input–output path.
    public var effective: Int
    /// The quota's target density for the layer (quota-based pruners only).
    public var quota: Double?
}

extension LayerFigures {
    /// The layers of a sparsity report, with the quota's per-layer densities when there are any.
    public static func of(_ report: SparsityReport, quotas: [Double]?) -> [LayerFigures] {
        report.layers.enumerated().map { index, layer in
            LayerFigures(name: layer.name, shape: layer.shape, size: layer.size, kept: layer.kept, effective: layer.effective,
                         quota: quotas?[index])
        }
    }
}

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

/// What a finished run reports (also `result.json`).
public struct RunResult: Codable, Equatable, Sendable {
    public var key: String
    public var config: RunConfig
    public var parentKey: String?
    public var testAccuracy: Double
    public var testLoss: Double
    public var trainLoss: Double
    public var trainAccuracy: Double
    public var total: Int
    public var kept: Int
    public var effective: Int
    public var directSparsity: Double
    public var effectiveSparsity: Double
    public var directCompression: Double
    public var effectiveCompression: Double
    public var layers: [LayerFigures]
    /// SGD steps of the final training phase, and of all phases (lottery-ticket rounds train several).
    public var steps: Int
    public var totalSteps: Int
    public var trainingSeconds: Double
    public var wallSeconds: Double
    public var imagesPerSecond: Double
    /// Step the final phase resumed from (nil when it ran from the start).
    public var resumedFromStep: Int?
}

/// Everything a run tells the outside world, in order.
public enum RunEvent {
    case started(key: String, config: RunConfig)
    /// A new stage: "pruning", "training", "lottery-ticket round 2 of 5", …
    case stage(String)
    case progress(RunProgress)
    /// A named scalar at a step (test_accuracy, test_loss, train_loss, …).
    case metric(step: Int, phase: Int, name: String, value: Double)
    /// The masks the run trains with: per-layer figures, the masks themselves and their effective
    /// masks (canonical order), and the pruning figures (direct and effective counts).
    case masks(layers: [LayerFigures], masks: [Tensor], effectiveMasks: [Tensor], report: SparsityReport)
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
