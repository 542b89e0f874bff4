import ArgumentParser
import Experiments
import Foundation

/// `prunelab run`: one run from a JSON config, stored under runs-dir/<key>/.
struct RunCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "run",
        abstract: "Run one experiment (initialise → prune → train → evaluate) from a JSON config.",
        discussion: """
            The config names architecture, dataset, pruner, mode, compression, seed, shuffle, training
            {iterations|epochs, batch_size, learning_rate, momentum, weight_decay, lr_drops, eval_every} and
            pruner options (synflow.rounds, snip.batches, snip.rounds, grasp.batches, lth.rate, lth.rounds);
            missing fields take the paper's setup for the architecture. The run key is the SHA-256 of the
            canonical completed config: a finished run with the same key is reused, a missing dense parent
            (magnitude, lamp, lth) is trained first. Files: runs-dir/<key>/{config.json, masks.npz,
            metrics.jsonl, checkpoint.bin, final.bin, result.json}. An ONNX model is named
            "onnx:<sha256 of the file>" (or {"onnx": "<sha256>"}) and given with --onnx FILE; it has no
            paper setup, so dataset and the training fields are required.
            """)

    @Option(help: "The run's JSON config file ('-' reads standard input).")
    var config: String
    @Option(help: "Directory holding one folder per run key.")
    var runsDir: String = "runs"
    @Flag(help: "Continue an unfinished run from its last checkpoint (otherwise it starts over).")
    var resume = false
    @Option(help: "Steps between the points where a checkpoint may be written (default: every step, subject to --checkpoint-seconds).")
    var checkpointEvery: Int?
    @Option(help: "Least seconds between checkpoints; 0 writes one at every --checkpoint-every point. A run that ends sooner writes none, only its final state.")
    var checkpointSeconds: Double = 60
    @Flag(help: "Print where the run's wall time went (data, network, pruning, masks, training, evaluation, checkpoints, final state) on stderr.")
    var profile = false
    @Option(help: ArgumentHelp("Stop after this many steps of the final phase, leaving a checkpoint (for testing resume).",
                               visibility: .hidden))
    var stopAfterSteps: Int?
    @OptionGroup var device: DeviceOptions
    @Flag(help: "Print the final result as one JSON object on stdout.")
    var json = false
    @Option(help: ArgumentHelp("An ONNX model the config may name as \"onnx:<sha256 of the file>\" (repeatable).", valueName: "file"))
    var onnx: [String] = []

    func run() throws {
        let backend = try device.openBackend()
        let data: Data
        if config == "-" {
            data = FileHandle.standardInput.readDataToEndOfFile()
        } else {
            guard let contents = FileManager.default.contents(atPath: config) else {
                throw InvalidOption(option: "--config", reason: "cannot read \(config)")
            }
            data = contents
        }
        let runConfig = try RunConfig.parse(data)
        if let checkpointEvery, checkpointEvery < 1 {
            throw InvalidOption(option: "--checkpoint-every", reason: "must be at least 1, got \(checkpointEvery)")
        }
        guard checkpointSeconds >= 0, checkpointSeconds.isFinite else {
            throw InvalidOption(option: "--checkpoint-seconds", reason: "must be 0 or more seconds, got \(checkpointSeconds)")
        }
        let store = try RunStore(path: runsDir)
        // A finished run is reused without its model.
        if case let .imported(sha256)? = Architecture(runConfig.architecture), store.result(for: runConfig.key) == nil {
            try provideModel(sha256)
        }
        let reporter = ProgressPrinter()
        let stopAfter = stopAfterSteps.map { (phase: runConfig.pruner == .lth ? runConfig.pruner.phases(runConfig.settings) : 0, step: $0) }
        let (result, reused) = try store.execute(runConfig, resume: resume, reporter: reporter, stopAfter: stopAfter,
                                                 checkpointEvery: checkpointEvery, checkpointSeconds: checkpointSeconds, backend: backend)
        if profile, !reused, let runProfile = store.lastProfile { printError(runProfile.table) }
        if reused { printError("prunelab: run \(result.key) already finished; reusing its result") }
        if json {
            try printJSON(RunOutput(result: result, reused: reused, runDirectory: store.folder(for: result.key).path))
        } else {
            print(String(format: "run %@: test accuracy %.2f%%, loss %.4f; direct %@, effective %@; %.1f s",
                         result.key, 100 * result.testAccuracy, result.testLoss, formatCompression(result.directCompression),
                         formatCompression(result.effectiveCompression), result.wallSeconds))
            print("files: \(store.folder(for: result.key).path)")
        }
    }
}

extension RunCommand {
    /// Makes the config's model one of `--onnx`'s files, found by its SHA-256.
    func provideModel(_ sha256: String) throws {
        var given: [String] = []
        for path in onnx {
            guard let bytes = FileManager.default.contents(atPath: path) else { throw InvalidOption(option: "--onnx", reason: "cannot read \(path)") }
            let hash = ImportedModels.sha256(of: bytes)
            if hash == sha256 {
                ImportedModels.shared.addSource { $0 == sha256 ? bytes : nil }
                return
            }
            given.append("\(path) is onnx:\(hash)")
        }
        throw InvalidOption(option: "--onnx", reason: "the config names onnx:\(sha256); give its file"
                            + (given.isEmpty ? "" : " (\(given.joined(separator: "; ")))"))
    }
}

struct RunOutput: Encodable {
    var result: RunResult
    var reused: Bool
    var runDirectory: String
}

/// Prints a run's stages and progress on stderr, one line each.
final class ProgressPrinter: Reporter {
    func report(_ event: RunEvent) {
        switch event {
        case let .started(key, config):
            printError("prunelab: run \(key): \(config.architecture) on \(config.dataset), \(config.pruner)"
                       + (config.compression.map { " \(config.mode ?? "direct") \($0)×" } ?? "") + ", seed \(config.seed)")
        case let .stage(name):
            printError("prunelab: \(name)")
        case let .masks(_, _, report):
            printError("prunelab: masks keep \(report.kept) of \(report.total) weights (direct \(formatCompression(report.directCompression))), "
                       + "\(report.effective) effective (\(formatCompression(report.effectiveCompression)))")
        case let .progress(p):
            printError(String(format: "step %d/%d%@  lr %.4g  train loss %.4f acc %.2f%%  %.0f images/s", p.step, p.steps,
                              p.phase > 0 ? " (round \(p.phase))" : "", p.learningRate, p.loss, 100 * p.accuracy, p.imagesPerSecond))
        case let .metric(record) where record.name == "test_accuracy":
            printError(String(format: "  test accuracy %.2f%%", 100 * record.value))
        case .metric, .checkpoint, .finished:
            break
        }
    }
}
