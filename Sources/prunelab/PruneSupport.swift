import ArgumentParser
import Datasets
import Experiments
import Figures
import Foundation
import NeuralNet
import ONNX
import Pruning
import Tensors

/// Direct and effective counts of one mask set, as printed by the CLI: the report's per-layer
/// table and, for readers, the totals and ratios it implies.
struct SparsityFigures: Encodable {
    var architecture: String
    var inputShape: [Int]
    var report: SparsityReport

    init(architecture: String, inputShape: [Int], report: SparsityReport, quotas: [Double]? = nil) {
        self.architecture = architecture
        self.inputShape = inputShape
        self.report = report.withQuotas(quotas)
    }

    enum CodingKeys: String, CodingKey {
        case architecture, inputShape, layers
    }

    func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(architecture, forKey: .architecture)
        try container.encode(inputShape, forKey: .inputShape)
        try container.encode(report.layers, forKey: .layers)
        try report.encodeTotals(to: encoder)
    }

    var layers: [LayerFigures] { report.layers }

    /// A readable table for the terminal.
    var table: String {
        let showQuota = layers.contains { $0.quota != nil }
        let width = max(8, (layers.map(\.name.count).max() ?? 0) + 2)
        var lines = [pad("layer", width) + pad("shape", 20) + pad("size", 11) + pad("kept", 11) + pad("effective", 11)
                     + (showQuota ? "quota" : "")]
        for layer in layers {
            lines.append(pad(layer.name, width) + pad("\(layer.shape)", 20) + pad("\(layer.size)", 11) + pad("\(layer.kept)", 11)
                         + pad("\(layer.effective)", 11) + (layer.quota.map { String(format: "%.4f", $0) } ?? ""))
        }
        lines.append(String(format: "total %d weights: kept %d (direct sparsity %.6f, compression %@), effective %d (sparsity %.6f, compression %@)",
                            report.total, report.kept, report.directSparsity, formatCompression(report.directCompression), report.effective, report.effectiveSparsity,
                            formatCompression(report.effectiveCompression)))
        return lines.joined(separator: "\n")
    }
}

func formatCompression(_ value: Double) -> String {
    value.isFinite ? String(format: "%.2f×", value) : "∞ (nothing effective)"
}

/// Architecture, input and initialisation shared by `prune`, `effective` and `curve`.
struct NetworkOptions: ParsableArguments {
    @Option(help: "Architecture (\(ModelZoo.names.joined(separator: ", "))).")
    var arch: String?
    @Option(help: "An ONNX model instead of --arch (as torch.onnx.export writes it; weights and masks keyed by its weight names).")
    var onnx: String?
    @Option(help: "Per-sample input shape C,H,W (default: the architecture's, or the dataset's when one is given).")
    var inputShape: String?
    @Option(help: "Number of classes (default: the architecture's, or the dataset's).")
    var classes: Int?

    /// At most this many classes (ImageNet-21k has 21 841): the classifier's weights grow with them.
    static let maximumClasses = 100_000
    /// At most this many values per sample (C×H×W; ResNet-50's 3×224×224 is 150 528): the first
    /// dense layer's weights and every activation grow with it, and a shape from the command line
    /// must not reach an allocation of terabytes.
    static let maximumInputValues = 1 << 20

    func check() throws {
        if let onnx {
            guard arch == nil else { throw InvalidOption(option: "--onnx", reason: "name either --arch or --onnx, not both") }
            guard inputShape == nil, classes == nil else {
                throw InvalidOption(option: inputShape != nil ? "--input-shape" : "--classes",
                                    reason: "an ONNX model declares its own input shape and outputs")
            }
            guard !onnx.isEmpty else { throw InvalidOption(option: "--onnx", reason: "must name a file") }
            return
        }
        guard let arch else { throw InvalidOption(option: "--arch", reason: "name an architecture (--arch) or an ONNX model (--onnx)") }
        guard ModelZoo.names.contains(arch) else { throw ModelZoo.Error.unknownArchitecture(arch) }
        if let classes, !(2...Self.maximumClasses).contains(classes) {
            throw InvalidOption(option: "--classes", reason: "must be from 2 to \(Self.maximumClasses), got \(classes)")
        }
        _ = try parsedInputShape()
    }

    func parsedInputShape() throws -> [Int]? {
        guard let inputShape else { return nil }
        let parts = inputShape.split(separator: ",", omittingEmptySubsequences: false).map { Int($0.trimmingCharacters(in: .whitespaces)) }
        guard parts.count == 3, parts.allSatisfy({ ($0 ?? 0) > 0 }) else {
            throw InvalidOption(option: "--input-shape", reason: "expected three positive integers C,H,W, got '\(inputShape)'")
        }
        let shape = parts.compactMap { $0 }
        guard Checkpoint.elementCount(shape, atMost: Self.maximumInputValues) != nil else {
            throw InvalidOption(option: "--input-shape", reason: "C×H×W must be at most \(Self.maximumInputValues) values, got '\(inputShape)'")
        }
        return shape
    }

    /// The network for an input shape and class count (explicit options win, then the dataset's).
    func makeNetwork(sampleShape: [Int]? = nil, classes datasetClasses: Int? = nil) throws -> Network {
        try ModelZoo.make(architecture, inputShape: try parsedInputShape() ?? sampleShape, classes: classes ?? datasetClasses)
    }

    /// The architecture's name (check() made sure there is one when no ONNX model is named).
    var architecture: String { arch ?? "" }

}

/// Options every pruning command shares.
struct PrunerOptions: ParsableArguments {
    @Option(help: "Pruning method (\(PrunerName.allNames.joined(separator: ", "))).")
    var pruner: String
    @Option(help: "Rounds of the iterative pruners (synflow, snip/iterative, random/synflow).")
    var rounds: Int = 100
    @Option(help: "Training samples SNIP and GraSP score on (default: 10 per class).")
    var scoreSamples: Int?
    @Option(help: "Weights for the pruners that read them (magnitude, LAMP, SynFlow, SNIP, GraSP): an npz with one float array per prunable layer (layer names — an ONNX model's weight names with --onnx — or arr_0…). Default: the initial weights (an ONNX model's initializers).")
    var weights: String?
    @OptionGroup var data: DataOptions

    func check() throws -> Pruner {
        let pruner = try Pruner(self.pruner)
        guard rounds >= 1 else { throw InvalidOption(option: "--rounds", reason: "must be at least 1, got \(rounds)") }
        if let scoreSamples, scoreSamples < 1 { throw InvalidOption(option: "--score-samples", reason: "must be at least 1, got \(scoreSamples)") }
        if weights != nil, !pruner.readsWeights {
            throw InvalidOption(option: "--weights", reason: "\(pruner.name) never reads weights (only magnitude, LAMP, SynFlow, SNIP and GraSP do)")
        }
        try data.check()
        return pruner
    }

    /// The network (initialised from `seed`, trained weights loaded when given) and, for
    /// data-dependent pruners, its scoring batches. For pruners that never read weights (dense,
    /// random with a quota) the weights stay uninitialised: their storage is mapped lazily, so a
    /// network nobody writes costs address space, not time or memory (VGG-19: 20 M normal draws).
    func prepare(_ network: NetworkOptions, pruner: Pruner, seed: UInt64) throws -> (Network, [ScoringBatch]) {
        let entry = try ModelZoo.entry(network.architecture)
        var batches: [ScoringBatch] = []
        var model: Network
        if pruner.needsData || data.dataset != nil {
            let dataset = try data.resolvedDataset(entry)
            let splits = try data.loadSplits(dataset, entry: entry)
            model = try network.makeNetwork(sampleShape: splits.train.sampleShape, classes: splits.train.classes)
            if pruner.needsData {
                batches = RunData.scoringBatches(splits.train, samples: scoreSamples ?? 10 * splits.train.classes, batchSize: 256,
                                                 seed: seed)
            }
        } else {
            model = try network.makeNetwork()
        }
        if pruner.readsWeights { model.initialize(seed: seed) }
        if let weights {
            let values = try WeightFile.read(path: weights, network: model)
            for (parameter, value) in zip(model.prunableParameters, values) { parameter.value.copy(from: value) }
        }
        return (model, batches)
    }
}
