import Crypto
import Datasets
import FileSupport
import Foundation
import NeuralNet
import Pruning

/// How a network is trained: plain SGD with momentum and a step learning-rate schedule.
public struct TrainingSetup: Codable, Hashable, Sendable {
    /// Total SGD steps.
    public var iterations: Int
    public var batchSize: Int
    public var learningRate: Double
    public var momentum: Double
    public var weightDecay: Double
    /// 1-based iterations from which the learning rate is multiplied by 0.1 (sorted, each in 1...iterations).
    public var lrDrops: [Int]
    /// Iterations between test evaluations (≥ 1; the final evaluation always happens).
    public var evalEvery: Int
    /// Whether training batches get the data set's augmentation (random shifts and flips for
    /// colour images, none for grey-scale ones: `RunData.augmentation`). In the canonical JSON only
    /// when false, so that the keys of runs from before the field existed stay what they were.
    public var augment: Bool

    public init(iterations: Int, batchSize: Int, learningRate: Double, momentum: Double, weightDecay: Double,
                lrDrops: [Int], evalEvery: Int, augment: Bool = true) {
        self.iterations = iterations
        self.batchSize = batchSize
        self.learningRate = learningRate
        self.momentum = momentum
        self.weightDecay = weightDecay
        self.lrDrops = lrDrops
        self.evalEvery = evalEvery
        self.augment = augment
    }

    enum CodingKeys: String, CodingKey {
        case iterations, momentum
        case batchSize = "batch_size", learningRate = "learning_rate", weightDecay = "weight_decay"
        case lrDrops = "lr_drops", evalEvery = "eval_every", augment
    }

    var jsonValue: JSONValue {
        var fields: [String: JSONValue] = [
            "iterations": .integer(Int64(iterations)), "batch_size": .integer(Int64(batchSize)),
            "learning_rate": .double(learningRate), "momentum": .double(momentum), "weight_decay": .double(weightDecay),
            "lr_drops": .array(lrDrops.map { .integer(Int64($0)) }), "eval_every": .integer(Int64(evalEvery)),
        ]
        if !augment { fields["augment"] = .bool(false) }
        return .object(fields)
    }
}

/// The options of the pruners that have any. In JSON they are the groups
/// `"synflow": {"rounds"}`, `"snip": {"batches", "rounds"}`, `"grasp": {"batches"}` and
/// `"lth": {"rate", "rounds"}`.
public struct PrunerSettings: Codable, Hashable, Sendable {
    /// synflow, random/synflow: scoring rounds.
    public var synflowRounds: Int?
    /// snip, snip/iterative, random/snip: training batches (of batch_size) to score on.
    public var snipBatches: Int?
    /// snip/iterative: pruning rounds.
    public var snipRounds: Int?
    /// grasp: training batches (of batch_size) to score on.
    public var graspBatches: Int?
    /// lth: fraction of the survivors pruned per round, in (0, 1).
    public var lthRate: Double?
    /// lth: pruning rounds, the last of which prunes to exactly the target compression.
    public var lthRounds: Int?

    public init(synflowRounds: Int? = nil, snipBatches: Int? = nil, snipRounds: Int? = nil, graspBatches: Int? = nil,
                lthRate: Double? = nil, lthRounds: Int? = nil) {
        self.synflowRounds = synflowRounds
        self.snipBatches = snipBatches
        self.snipRounds = snipRounds
        self.graspBatches = graspBatches
        self.lthRate = lthRate
        self.lthRounds = lthRounds
    }

    /// The non-empty groups by their JSON names.
    var groups: [String: JSONValue] {
        func group(_ fields: [String: JSONValue?]) -> JSONValue? {
            let present = fields.compactMapValues { $0 }
            return present.isEmpty ? nil : .object(present)
        }
        let all: [String: JSONValue?] = [
            "synflow": group(["rounds": synflowRounds.map { .integer(Int64($0)) }]),
            "snip": group(["batches": snipBatches.map { .integer(Int64($0)) }, "rounds": snipRounds.map { .integer(Int64($0)) }]),
            "grasp": group(["batches": graspBatches.map { .integer(Int64($0)) }]),
            "lth": group(["rate": lthRate.map { .double($0) }, "rounds": lthRounds.map { .integer(Int64($0)) }]),
        ]
        return all.compactMapValues { $0 }
    }

    public init(from decoder: any Decoder) throws {
        let root = try ConfigObject(JSONValue(from: decoder), path: "", allowed: Set(RunConfig.groupKeys.keys))
        let synflow = try root.object("synflow", allowed: RunConfig.groupKeys["synflow"]!)
        let snip = try root.object("snip", allowed: RunConfig.groupKeys["snip"]!)
        let grasp = try root.object("grasp", allowed: RunConfig.groupKeys["grasp"]!)
        let lth = try root.object("lth", allowed: RunConfig.groupKeys["lth"]!)
        self.init(synflowRounds: try synflow?.integer("rounds"), snipBatches: try snip?.integer("batches"),
                  snipRounds: try snip?.integer("rounds"), graspBatches: try grasp?.integer("batches"),
                  lthRate: try lth?.number("rate"), lthRounds: try lth?.integer("rounds"))
    }

    public func encode(to encoder: any Encoder) throws {
        try JSONValue.object(groups).encode(to: encoder)
    }
}

/// What prunes a run: one of the Pruning module's pruners (`dense` prunes nothing), or lottery
/// ticket rewinding (`lth`): rounds of global magnitude pruning of the trained network, each
/// rewound to the initialisation and trained again (docs/science.md).
public enum RunPruner: Hashable, Sendable, CustomStringConvertible {
    case oneShot(Pruner)
    case lth

    public static let dense = RunPruner.oneShot(.dense)

    /// The pruner of a spec name (`RunConfig.prunerNames`), nil for an unknown name.
    public init?(name: String) {
        if name == "lth" {
            self = .lth
        } else if let pruner = try? Pruner(name) {
            self = .oneShot(pruner)
        } else {
            return nil
        }
    }

    public var name: String {
        switch self {
        case .lth: "lth"
        case let .oneShot(pruner): pruner.name
        }
    }

    public var description: String { name }

    public var isDense: Bool { self == .dense }

    /// Whether it prunes a trained dense network (magnitude/*, lamp, lth), the run's parent.
    public var needsParent: Bool {
        switch self {
        case .lth: true
        case let .oneShot(pruner): pruner.needsTrainedWeights
        }
    }

    /// The pruner that scores each pruning step: global magnitude in every LTH round.
    public var scoring: Pruner {
        switch self {
        case .lth: (try? Pruner("magnitude/global")) ?? .dense
        case let .oneShot(pruner): pruner
        }
    }

    /// Pruning phases of a run: LTH's rounds, one otherwise.
    public func phases(_ settings: PrunerSettings) -> Int { self == .lth ? max(1, settings.lthRounds ?? 1) : 1 }
}

/// One run, one cell of a sweep: what to train, how to prune it and how to train it.
///
/// `parse` completes a config: every field a run depends on is filled in, so that two configs
/// meaning the same run have the same canonical JSON and hence the same `key`.
public struct RunConfig: Codable, Hashable, Sendable {
    public var architecture: String
    public var dataset: String
    public var pruner: RunPruner
    /// "direct" | "effective"; nil for dense.
    public var mode: String?
    /// Target compression (> 1); nil for dense.
    public var compression: Double?
    public var seed: UInt64
    /// Reshuffle the surviving weights within each layer after pruning; false for dense.
    public var shuffle: Bool
    public var training: TrainingSetup
    /// Only the groups that matter for `pruner` are non-nil.
    public var settings: PrunerSettings
    /// "data_dir": where the data set lives here; not part of the key.
    public var dataDirectory: String?

    /// The version of the config format; part of the canonical JSON and hence of every key.
    public static let format = 1
    /// Every pruner a run may name: the Pruning module's and "lth".
    public static let prunerNames = PrunerName.allNames + ["lth"]

    /// Upper bounds of a config's counts, so that nothing a client sends reaches arithmetic or an
    /// allocation it could overflow (and no run asks for more work than anyone could wait for).
    /// The service's OpenAPI document states the same numbers.
    public enum Limits {
        /// Training steps: 10⁸ (the paper's longest setup trains 62 400).
        public static let iterations = 100_000_000
        /// Images per step.
        public static let batchSize = 65_536
        /// Rounds and batches of the pruners (synflow.rounds, snip.batches/rounds, grasp.batches, lth.rounds).
        public static let prunerRepetitions = 10_000
        /// Test evaluations of a run, every LTH round together.
        public static let evaluations = 100_000
    }
    public static let modes = ["direct", "effective"]

    /// Parses a config, rejecting malformed JSON, unknown keys (at any level, named by dotted path), wrong types and bad values (field named), and fills every missing field (see defaults).
    public static func parse(_ json: Data) throws(ExperimentsError) -> RunConfig {
        try completed(JSONValue.parse(json))
    }

    /// The canonical JSON: completed config without data_dir, keys sorted, numbers normalised (Swift's shortest round-trip form; integral doubles like 100.0 print as 100), plus "format": 1.
    public var canonicalJSON: Data { jsonValue(includingDataDirectory: false).serialized() }

    /// Lowercase hex SHA-256 of `canonicalJSON`: the run key.
    public var key: String { Array(SHA256.hash(data: canonicalJSON)).hexString }

    /// The dense run this run depends on (magnitude/*, lamp, lth): same architecture, dataset, training, seed (and data_dir); nil for other pruners.
    public func parent() -> RunConfig? {
        guard pruner.needsParent else { return nil }
        return RunConfig(architecture: architecture, dataset: dataset, pruner: .dense, mode: nil, compression: nil,
                         seed: seed, shuffle: false, training: training, settings: PrunerSettings(),
                         dataDirectory: dataDirectory)
    }

    /// The JSON of the completed config including data_dir (pretty, sorted) for config.json on disk.
    public func encodedForDisk() throws -> Data {
        jsonValue(includingDataDirectory: true).serialized(pretty: true)
    }

    /// The one description of the JSON layout, for the key, the disk and `Encodable`.
    func jsonValue(includingDataDirectory: Bool) -> JSONValue {
        var fields: [String: JSONValue] = [
            "format": .integer(Int64(Self.format)), "architecture": .string(architecture), "dataset": .string(dataset),
            "pruner": .string(pruner.name), "shuffle": .bool(shuffle), "training": training.jsonValue,
            "seed": seed <= UInt64(Int64.max) ? .integer(Int64(seed)) : .unsigned(seed),
        ]
        if let mode { fields["mode"] = .string(mode) }
        if let compression { fields["compression"] = .double(compression) }
        fields.merge(settings.groups) { current, _ in current }
        if includingDataDirectory, let dataDirectory { fields["data_dir"] = .string(dataDirectory) }
        return .object(fields)
    }
}

extension RunConfig {
    /// Decodes and validates exactly as `parse` does (the same JSON, the same errors).
    public init(from decoder: any Decoder) throws {
        self = try Self.completed(JSONValue(from: decoder))
    }

    /// Writes the same fields as `encodedForDisk` (data_dir and "format" included).
    public func encode(to encoder: any Encoder) throws {
        try jsonValue(includingDataDirectory: true).encode(to: encoder)
    }
}

extension JSONValue: Encodable {
    func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        switch self {
        case .null: try container.encodeNil()
        case let .bool(value): try container.encode(value)
        case let .integer(value): try container.encode(value)
        case let .unsigned(value): try container.encode(value)
        case let .double(value): try container.encode(value)
        case let .string(value): try container.encode(value)
        case let .array(values): try container.encode(values)
        case let .object(fields): try container.encode(fields)
        }
    }
}

// MARK: - Validation and defaults

extension RunConfig {
    static let topLevelKeys: Set<String> = [
        "format", "architecture", "dataset", "pruner", "mode", "compression", "seed", "shuffle", "training",
        "synflow", "snip", "grasp", "lth", "data_dir",
    ]
    /// The nested objects and their keys. `training.epochs` is input only: it becomes iterations.
    static let groupKeys: [String: Set<String>] = [
        "synflow": ["rounds"], "snip": ["batches", "rounds"], "grasp": ["batches"], "lth": ["rate", "rounds"],
    ]
    static let trainingKeys: Set<String> = [
        "iterations", "epochs", "batch_size", "learning_rate", "momentum", "weight_decay", "lr_drops", "eval_every", "augment",
    ]

    /// Validates a parsed config and fills in every default. Unknown keys are reported before
    /// any value, so a misspelt key reads as such rather than as a missing field.
    static func completed(_ value: JSONValue) throws(ExperimentsError) -> RunConfig {
        let root = try ConfigObject(value, path: "", allowed: topLevelKeys)
        for (name, keys) in [("training", trainingKeys)] + groupKeys.sorted(by: { $0.key < $1.key }) {
            if let nested = root.value(name), case .object = nested { _ = try ConfigObject(nested, path: name, allowed: keys) }
        }

        if let format = try root.integer("format"), format != Self.format {
            throw .invalidField(field: "format", reason: "unsupported format \(format); this prunelab reads format \(Self.format)")
        }
        let architecture = try completedArchitecture(root)
        let description: Architecture.Description?
        if case .zoo = architecture { description = try? architecture.describe() } else { description = nil }
        guard let prunerName = try root.string("pruner") else {
            throw .invalidField(field: "pruner", reason: "required (one of \(prunerNames.joined(separator: ", ")))")
        }
        guard prunerNames.contains(prunerName), let pruner = RunPruner(name: prunerName) else {
            throw .invalidField(field: "pruner", reason: "unknown pruner '\(prunerName)' (known: \(prunerNames.joined(separator: ", ")))")
        }
        let knownDatasets = DatasetCatalog.names.joined(separator: ", ")
        let dataset: String
        if let given = try root.string("dataset") {
            guard DatasetCatalog.names.contains(given) else {
                throw .invalidField(field: "dataset", reason: "unknown data set '\(given)' (known: \(knownDatasets))")
            }
            dataset = given
        } else {
            guard let defaultDataset = description?.defaultDataset else {
                throw .invalidField(field: "dataset", reason: "required for an imported model (one of \(knownDatasets) "
                    + "whose samples the graph takes, or synthetic for data of the graph's own shape)")
            }
            guard DatasetCatalog.names.contains(defaultDataset) else {
                throw .invalidField(field: "dataset", reason: "\(architecture.name)'s default data set '\(defaultDataset)' "
                    + "cannot be loaded here; set dataset to one of \(knownDatasets)")
            }
            dataset = defaultDataset
        }
        let seed = try root.unsigned("seed") ?? 0

        let mode: String?, compression: Double?, shuffle: Bool
        let givenMode = try root.string("mode"), givenShuffle = try root.bool("shuffle")
        let givenCompression = try root.number("compression")
        if pruner.isDense {
            // A dense run prunes nothing: compression 1 and direct mode say so too, anything else
            // is a mistake the user should hear about.
            if let givenCompression, givenCompression != 1 {
                throw .invalidField(field: "compression", reason: "a dense run has no compression; leave it out "
                    + "(got \(JSONValue.canonicalNumber(givenCompression)))")
            }
            if let givenMode, givenMode != "direct" {
                throw .invalidField(field: "mode", reason: "a dense run has no mode; leave it out (got '\(givenMode)')")
            }
            if givenShuffle == true {
                throw .invalidField(field: "shuffle", reason: "a dense run has no pruned weights to shuffle")
            }
            (mode, compression, shuffle) = (nil, nil, false)
        } else {
            guard let givenCompression else {
                throw .invalidField(field: "compression", reason: "required for pruner \(pruner): a number greater than 1")
            }
            guard givenCompression > 1, givenCompression.isFinite else {
                throw .invalidField(field: "compression",
                                    reason: "must be greater than 1, got \(JSONValue.canonicalNumber(givenCompression))")
            }
            let completedMode = givenMode ?? "direct"
            guard modes.contains(completedMode) else {
                throw .invalidField(field: "mode", reason: "must be \"direct\" or \"effective\", got '\(completedMode)'")
            }
            (mode, compression, shuffle) = (completedMode, givenCompression, givenShuffle ?? false)
        }

        let training = try completedTraining(root.object("training", allowed: trainingKeys),
                                             architecture: architecture.name, dataset: dataset)
        let settings = try completedSettings(root, pruner: pruner, compression: compression)
        // Every evaluation is a pass over the test set and a row per metric; checkpoints carry them
        // all. Bounded by the limits above, this product cannot overflow.
        let evaluations = pruner.phases(settings) * (training.iterations / training.evalEvery + 1)
        guard evaluations <= Limits.evaluations else {
            throw .invalidField(field: "training.eval_every", reason: "\(evaluations) evaluations exceed \(Limits.evaluations); "
                + "evaluate less often")
        }
        let dataDirectory = try root.string("data_dir")
        if dataDirectory == "" { throw .invalidField(field: "data_dir", reason: "must not be empty (leave it out for the default)") }
        return RunConfig(architecture: architecture.name, dataset: dataset, pruner: pruner, mode: mode, compression: compression,
                         seed: seed, shuffle: shuffle, training: training, settings: settings, dataDirectory: dataDirectory)
    }

    /// A zoo name, or an imported model as `"onnx:<sha256>"` or `{"onnx": "<sha256>"}` (both
    /// complete to the string, so they are one run key).
    static func completedArchitecture(_ root: ConfigObject) throws(ExperimentsError) -> Architecture {
        let name: String
        switch root.value("architecture") {
        case nil, .null?:
            throw .invalidField(field: "architecture", reason: "required (one of \(Architecture.known))")
        case let .object(fields)?:
            let object = try ConfigObject(.object(fields), path: "architecture", allowed: ["onnx"])
            guard let hash = try object.string("onnx") else {
                throw .invalidField(field: "architecture.onnx", reason: "required: the SHA-256 POST /api/v1/models answered")
            }
            guard ContentAddress.isSHA256(hash) else {
                throw .invalidField(field: "architecture.onnx", reason: "must be 64 lowercase hexadecimal digits (a model's SHA-256), "
                    + "got '\(hash.prefix(80))'")
            }
            name = Architecture.importedPrefix + hash
        default:
            name = try root.string("architecture") ?? ""
        }
        guard let architecture = Architecture(name) else {
            throw .invalidField(field: "architecture", reason: "unknown architecture '\(name.prefix(200))' (known: \(Architecture.known))")
        }
        return architecture
    }

    /// Missing fields come from the architecture's setup (`PaperSetups`); lr_drops missing are
    /// the setup's drops scaled to the run's length.
    static func completedTraining(_ object: ConfigObject?, architecture: String,
                                  dataset: String) throws(ExperimentsError) -> TrainingSetup {
        let paper = PaperSetups.setup(for: architecture)?.training
        func given<T>(_ key: String, _ value: T?, else paperValue: T?) throws(ExperimentsError) -> T {
            guard let value = value ?? paperValue else {
                throw .invalidField(field: "training.\(key)", reason: "required: \(architecture) has no default training setup")
            }
            return value
        }
        let batchSize = try given("batch_size", object?.integer("batch_size"), else: paper?.batchSize)
        guard (1...Limits.batchSize).contains(batchSize) else {
            throw .invalidField(field: "training.batch_size", reason: "must be from 1 to \(Limits.batchSize), got \(batchSize)")
        }

        let iterations: Int
        let givenIterations = try object?.integer("iterations")
        if let epochs = try object?.integer("epochs") {
            guard givenIterations == nil else {
                throw .invalidField(field: "training.epochs", reason: "give either epochs or iterations, not both")
            }
            guard epochs >= 1 else { throw .invalidField(field: "training.epochs", reason: "must be at least 1, got \(epochs)") }
            guard let samples = PaperSetups.trainSampleCount(for: dataset) else {
                throw .invalidField(field: "training.epochs", reason: "the size of \(dataset) is not known; give iterations")
            }
            // The engine drops the last partial batch, so an epoch is ⌊samples / batch⌋ steps.
            let stepsPerEpoch = samples / batchSize
            guard stepsPerEpoch >= 1 else {
                throw .invalidField(field: "training.batch_size",
                                    reason: "\(batchSize) exceeds the \(samples) training samples of \(dataset): an epoch has no full batch")
            }
            let (product, overflow) = epochs.multipliedReportingOverflow(by: stepsPerEpoch)
            guard !overflow, product <= Limits.iterations else {
                throw .invalidField(field: "training.epochs", reason: "\(epochs) epochs of \(stepsPerEpoch) steps exceed "
                    + "\(Limits.iterations) iterations")
            }
            iterations = product
        } else {
            iterations = try given("iterations", givenIterations, else: paper?.iterations)
            guard (1...Limits.iterations).contains(iterations) else {
                throw .invalidField(field: "training.iterations", reason: "must be from 1 to \(Limits.iterations), got \(iterations)")
            }
        }

        let learningRate = try given("learning_rate", object?.number("learning_rate"), else: paper?.learningRate)
        guard learningRate > 0, learningRate.isFinite else {
            throw .invalidField(field: "training.learning_rate",
                                reason: "must be greater than 0, got \(JSONValue.canonicalNumber(learningRate))")
        }
        let momentum = try given("momentum", object?.number("momentum"), else: paper?.momentum)
        guard momentum >= 0, momentum < 1 else {
            throw .invalidField(field: "training.momentum", reason: "must be in [0, 1), got \(JSONValue.canonicalNumber(momentum))")
        }
        let weightDecay = try given("weight_decay", object?.number("weight_decay"), else: paper?.weightDecay)
        guard weightDecay >= 0, weightDecay.isFinite else {
            throw .invalidField(field: "training.weight_decay",
                                reason: "must not be negative, got \(JSONValue.canonicalNumber(weightDecay))")
        }

        let lrDrops: [Int]
        if let given = try object?.integers("lr_drops") {
            if let outside = given.first(where: { !(1...iterations).contains($0) }) {
                throw .invalidField(field: "training.lr_drops",
                                    reason: "\(outside) is outside the run's iterations 1...\(iterations)")
            }
            // A drop listed twice would be ambiguous (×0.1 or ×0.01?), so it is refused; order
            // carries no meaning, so the canonical form is sorted.
            lrDrops = given.sorted()
            if let repeated = zip(lrDrops, lrDrops.dropFirst()).first(where: { $0 == $1 })?.0 {
                throw .invalidField(field: "training.lr_drops", reason: "\(repeated) is listed twice")
            }
        } else {
            guard let paper else {
                throw .invalidField(field: "training.lr_drops", reason: "required: \(architecture) has no default training setup")
            }
            lrDrops = scaledDrops(paper.lrDrops, from: paper.iterations, to: iterations)
        }

        // By default ten evaluations a run, but none closer than an epoch: every evaluation is a
        // pass over the whole test set, which in a short run would cost more than its training.
        let epoch = PaperSetups.trainSampleCount(for: dataset).map { max(1, $0 / batchSize) } ?? 1
        let evalEvery = try object?.integer("eval_every") ?? min(iterations, max(1, iterations / 10, epoch))
        guard (1...Limits.iterations).contains(evalEvery) else {
            throw .invalidField(field: "training.eval_every", reason: "must be from 1 to \(Limits.iterations), got \(evalEvery)")
        }
        let augment = try object?.bool("augment") ?? true
        return TrainingSetup(iterations: iterations, batchSize: batchSize, learningRate: learningRate, momentum: momentum,
                             weightDecay: weightDecay, lrDrops: lrDrops, evalEvery: evalEvery, augment: augment)
    }

    /// The paper's drops at the same fractions of a run of `iterations`: round(d · iterations /
    /// paperIterations) (halves away from zero), keeping those in 1...iterations, once each.
    static func scaledDrops(_ drops: [Int], from paperIterations: Int, to iterations: Int) -> [Int] {
        var scaled: [Int] = []
        for drop in drops {
            let position = (Double(drop) * Double(iterations) / Double(paperIterations)).rounded(.toNearestOrAwayFromZero)
            guard position >= 1, position <= Double(iterations) else { continue }
            let iteration = Int(position)
            if scaled.last != iteration { scaled.append(iteration) }
        }
        return scaled
    }

    /// The pruner's own options with their defaults. Groups of other pruners are checked (keys,
    /// types, ranges) but dropped, so a sweep may give every group to every run without changing
    /// any key.
    static func completedSettings(_ root: ConfigObject, pruner: RunPruner,
                                  compression: Double?) throws(ExperimentsError) -> PrunerSettings {
        func positive(_ group: ConfigObject?, _ key: String) throws(ExperimentsError) -> Int? {
            guard let group, let value = try group.integer(key) else { return nil }
            let limit = Limits.prunerRepetitions
            guard (1...limit).contains(value) else {
                throw .invalidField(field: group.field(key), reason: "must be from 1 to \(limit), got \(value)")
            }
            return value
        }
        let synflow = try root.object("synflow", allowed: groupKeys["synflow"]!)
        let snip = try root.object("snip", allowed: groupKeys["snip"]!)
        let grasp = try root.object("grasp", allowed: groupKeys["grasp"]!)
        let lth = try root.object("lth", allowed: groupKeys["lth"]!)
        let synflowRounds = try positive(synflow, "rounds") ?? 100
        let snipBatches = try positive(snip, "batches") ?? 1
        let snipRounds = try positive(snip, "rounds") ?? 100
        let graspBatches = try positive(grasp, "batches") ?? 1
        let lthRate = try lth?.number("rate")
        if let lthRate, !(lthRate > 0 && lthRate < 1) {
            throw .invalidField(field: "lth.rate", reason: "must be in (0, 1), got \(JSONValue.canonicalNumber(lthRate))")
        }
        let lthRounds = try positive(lth, "rounds")

        switch pruner.name {
        case "synflow", "random/synflow":
            return PrunerSettings(synflowRounds: synflowRounds)
        case "snip", "random/snip":
            return PrunerSettings(snipBatches: snipBatches)
        case "snip/iterative":
            return PrunerSettings(snipBatches: snipBatches, snipRounds: snipRounds)
        case "grasp":
            return PrunerSettings(graspBatches: graspBatches)
        case "lth":
            guard let compression else { throw .invalidField(field: "compression", reason: "required for pruner lth") }
            let (rate, rounds) = try lthSchedule(rate: lthRate, rounds: lthRounds, compression: compression)
            return PrunerSettings(lthRate: rate, lthRounds: rounds)
        default:
            return PrunerSettings()
        }
    }

    /// Completes LTH's schedule. Each round keeps 1 − rate of the survivors and the last prunes
    /// to exactly C, so the fewest rounds that reach C at `rate` are ⌈ln C / −ln(1 − rate)⌉, and
    /// `rounds` equal rounds reach C at rate 1 − C^(−1/rounds). Given both, the first rounds − 1
    /// rounds must not already pass C.
    static func lthSchedule(rate: Double?, rounds: Int?,
                            compression: Double) throws(ExperimentsError) -> (rate: Double, rounds: Int) {
        let logCompression = log(compression)
        // A relative slack of 1e-9 keeps C = (1 − rate)^−k from rounding up to k + 1 rounds. A
        // tiny rate needs more rounds than anyone trains (and than an Int holds): refused.
        func roundsNeeded(_ rate: Double) throws(ExperimentsError) -> Int {
            let exact = (logCompression / -log1p(-rate) * (1 - 1e-9)).rounded(.up)
            guard exact <= Double(Limits.prunerRepetitions) else {
                throw .invalidField(field: "lth.rate", reason: "at rate \(JSONValue.canonicalNumber(rate)) compression "
                    + "\(JSONValue.canonicalNumber(compression)) takes more than \(Limits.prunerRepetitions) rounds")
            }
            return max(1, Int(exact))
        }
        switch (rate, rounds) {
        case let (rate?, rounds?):
            let needed = try roundsNeeded(rate)
            guard rounds <= needed else {
                throw .invalidField(field: "lth.rounds", reason: "at rate \(JSONValue.canonicalNumber(rate)) compression "
                    + "\(JSONValue.canonicalNumber(compression)) is reached after \(needed) rounds, before round \(rounds); "
                    + "give at most \(needed) rounds or a smaller rate")
            }
            return (rate, rounds)
        case let (rate?, nil):
            return (rate, try roundsNeeded(rate))
        case let (nil, rounds?):
            let rate = -expm1(-logCompression / Double(rounds))
            guard rate > 0 else {
                throw .invalidField(field: "lth.rounds", reason: "\(rounds) rounds to compression "
                    + "\(JSONValue.canonicalNumber(compression)) prune nothing per round")
            }
            return (rate, rounds)
        case (nil, nil):
            return (0.2, try roundsNeeded(0.2))
        }
    }
}
