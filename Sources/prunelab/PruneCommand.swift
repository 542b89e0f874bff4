import ArgumentParser
import Experiments
import Foundation
import NeuralNet
import ONNX
import Pruning
import Tensors

/// `prunelab prune`: masks for one architecture, pruner and target, with direct and effective figures.
struct PruneCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "prune",
        abstract: "Prune a freshly initialised network to a target compression and report direct and effective sparsity.",
        discussion: """
            --mode direct prunes to the target compression (total / kept, within one weight).
            --mode effective prunes until the effective compression (weights on some input–output path)
            reaches the target: the largest effective sparsity not above it (an interpolation search on the
            kept count, a few probes). Iterative pruners (synflow, snip/iterative, random/synflow) run until
            one run is sufficient, then that run is trimmed by its last round's scores to the smallest
            sufficient count (the last round with a slightly smaller target): probes counts pruner runs,
            trim_probes the trimmed masks evaluated, trimmed_from the kept count of the run trimmed; with
            --json, search lists every mask evaluated (kept, effective, trimmed) in order.
            Magnitude and LAMP rank the initial weights unless --weights gives trained ones. SNIP, GraSP
            and random/snip score on --score-samples training samples of --dataset. Pruners that never
            read weights (dense, random with a quota) skip initialising them: the masks are the same.
            With --onnx MODEL: the pruners that need no training data (random with every quota, SynFlow,
            random/synflow, magnitude, LAMP) on the model's Conv, Gemm and MatMul weights; magnitude and
            LAMP rank the model's initializers or --weights (keyed by the model's weight names), SynFlow
            scores those or, in a model exported without parameters, a Kaiming-normal draw from --seed.
            --save writes the masks keyed by the model's weight names.
            """)

    @OptionGroup var network: NetworkOptions
    @OptionGroup var prunerOptions: PrunerOptions
    @Option(help: "Target compression (total / kept weights), > 1.")
    var compression: Double
    @Option(help: "direct or effective.")
    var mode: String = "direct"
    @Option(help: "Random seed (initialisation, random positions, scoring data).")
    var seed: UInt64 = 0
    @Flag(help: "Layerwise shuffle: the pruner's count per layer at random positions (with --mode effective, the shuffled masks reach the target).")
    var shuffle = false
    @Option(help: "Write the masks to this .npz file (one bool array per prunable layer, keyed conv1…/fc1…).")
    var save: String?
    @Flag(help: "Print one JSON object on stdout.")
    var json = false

    struct Output: Encodable {
        var pruner: String
        var mode: String
        var seed: UInt64
        var shuffle: Bool
        var targetCompression: Double
        var probes: Int
        var trimProbes: Int
        var trimmedFrom: Int?
        /// Effective mode: each mask evaluated (kept, effective, trimmed), in order.
        var search: [EffectiveProbe]?
        var seconds: Double
        var masks: SparsityFigures
        var saved: String?
    }

    func run() throws {
        try network.check()
        let pruner = try prunerOptions.check()
        guard let mode = PruningMode(rawValue: mode) else {
            throw InvalidOption(option: "--mode", reason: "expected direct or effective, got '\(self.mode)'")
        }
        guard compression.isFinite, compression > 1 || (pruner.name == "dense" && compression == 1) else {
            throw PruningError.invalidCompression(compression)
        }
        if let save { try checkWritable(save, option: "--save") }
        if network.onnx != nil { return try runONNX(pruner, mode: mode) }
        let (model, batches) = try prunerOptions.prepare(network, pruner: pruner, seed: seed)
        let start = monotonicSeconds()
        let outcome = try pruner.prune(model, options: PruningOptions(compression: compression, mode: mode, seed: seed, shuffle: shuffle,
                                                                      rounds: prunerOptions.rounds), batches: batches)
        let seconds = monotonicSeconds() - start
        if let save { try MaskFile.write(outcome.masks, network: model, to: save) }
        try present(outcome, pruner: pruner, mode: mode, seconds: seconds,
                    figures: SparsityFigures(architecture: network.architecture, inputShape: model.inputShape, report: outcome.report,
                                             quotas: outcome.quotaDensities))
    }

    /// The outcome as JSON or as a line and a table, for zoo networks and ONNX models alike;
    /// `weights` says where the ranked weights came from when that is worth saying.
    private func present(_ outcome: PruningOutcome, pruner: Pruner, mode: PruningMode, seconds: Double, figures: SparsityFigures,
                         weights: String = "") throws {
        if json {
            try printJSON(Output(pruner: pruner.name, mode: mode.rawValue, seed: seed, shuffle: shuffle, targetCompression: compression,
                                 probes: outcome.probes, trimProbes: outcome.trimProbes, trimmedFrom: outcome.trimmedFrom,
                                 search: mode == .effective ? outcome.search : nil, seconds: seconds, masks: figures, saved: save))
        } else {
            print("\(pruner.name) on \(figures.architecture) \(figures.inputShape), \(mode.rawValue) target \(compression)×, seed \(seed)"
                  + (shuffle ? ", shuffled" : "") + weights + String(format: " (%.2f s, %d probes", seconds, outcome.probes)
                  + (outcome.trimmedFrom.map { ", trimmed from \($0) in \(outcome.trimProbes) evaluations)" } ?? ")"))
            print(figures.table)
            if let save { print("masks written to \(save)") }
        }
    }
}

extension PruneCommand {
    /// The same for an ONNX model: masks and figures keyed by its weight names.
    private func runONNX(_ pruner: Pruner, mode: PruningMode) throws {
        guard prunerOptions.data.dataset == nil else {
            throw InvalidOption(option: "--dataset", reason: "an ONNX model is pruned without data (SNIP and GraSP need the model to train)")
        }
        let file = try ONNXModel(contentsOf: URL(fileURLWithPath: network.onnx ?? ""))
        let graph = try ONNXGraph(model: file)
        var weights: [Tensor]?
        if let path = prunerOptions.weights {
            weights = try WeightFile.read(path: path, layers: graph.weightNames, shapes: graph.weightShapes)
        } else if pruner.readsWeights {
            weights = graph.initialWeights(from: file)
        }
        let start = monotonicSeconds()
        let outcome = try pruner.prune(graph, weights: weights, options: PruningOptions(compression: compression, mode: mode, seed: seed,
                                                                                       shuffle: shuffle, rounds: prunerOptions.rounds))
        let seconds = monotonicSeconds() - start
        if let save { try MaskFile.write(outcome.masks, layers: graph.weightNames, shapes: graph.weightShapes, to: save) }
        let name = URL(fileURLWithPath: network.onnx ?? "").lastPathComponent
        try present(outcome, pruner: pruner, mode: mode, seconds: seconds,
                    figures: SparsityFigures(architecture: name, inputShape: graph.inputShape, report: outcome.report,
                                             quotas: outcome.quotaDensities),
                    weights: weights == nil ? (pruner.readsWeights ? ", weights drawn from the seed" : "") : ", given weights")
    }
}

/// Fails early (before any work) when `path`'s directory does not exist.
func checkWritable(_ path: String, option: String) throws {
    let directory = URL(fileURLWithPath: path).deletingLastPathComponent().path
    var isDirectory: ObjCBool = false
    guard FileManager.default.fileExists(atPath: directory, isDirectory: &isDirectory), isDirectory.boolValue else {
        throw InvalidOption(option: option, reason: "directory \(directory) does not exist")
    }
}
