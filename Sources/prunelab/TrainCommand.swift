import ArgumentParser
import Datasets
import Experiments
import Foundation
import NeuralNet
import Tensors

/// `prunelab train`: train one dense network and report test accuracy and speed.
struct TrainCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "train",
        abstract: "Train a dense network on a dataset; progress on stderr, results as JSON with --json.")

    @Option(help: "Architecture (\(ModelZoo.names.joined(separator: ", "))).")
    var arch: String = "lenet300-100"
    @OptionGroup var data: DataOptions
    @OptionGroup var device: DeviceOptions
    @Option(help: "Epochs to train (≥ 1).")
    var epochs: Int = 1
    @Option(help: "Mini-batch size.")
    var batchSize: Int = 100
    @Option(help: "Initial learning rate.")
    var lr: Double = 0.1
    @Option(help: "SGD momentum.")
    var momentum: Double = 0.9
    @Option(help: "Weight decay on dense/conv kernels (PyTorch convention: gradient += decay · w).")
    var weightDecay: Double = 5e-4
    @Option(parsing: .upToNextOption, help: "Epochs (1-based) from which the learning rate is multiplied by 0.1.")
    var lrDrops: [Int] = []
    @Option(help: "Random seed (initialisation, data order, augmentation).")
    var seed: UInt64 = 0
    @Flag(help: "Disable data augmentation (default: shifts and flips for CIFAR, none for MNIST-like data).")
    var noAugment = false
    @Flag(help: "Print one JSON object with the results on stdout.")
    var json = false

    func validateOptions() throws {
        guard epochs >= 1 else { throw InvalidOption(option: "--epochs", reason: "must be at least 1, got \(epochs)") }
        guard batchSize >= 1 else { throw InvalidOption(option: "--batch-size", reason: "must be at least 1, got \(batchSize)") }
        guard lr > 0, lr.isFinite else { throw InvalidOption(option: "--lr", reason: "must be a positive number, got \(lr)") }
        guard momentum >= 0, momentum < 1 else { throw InvalidOption(option: "--momentum", reason: "must be in [0, 1), got \(momentum)") }
        guard weightDecay >= 0, weightDecay.isFinite else {
            throw InvalidOption(option: "--weight-decay", reason: "must be ≥ 0, got \(weightDecay)")
        }
        if let bad = lrDrops.first(where: { !(1...epochs).contains($0) }) {
            throw InvalidOption(option: "--lr-drops", reason: "epochs are 1 to \(epochs), got \(bad)")
        }
        guard ModelZoo.names.contains(arch) else { throw ModelZoo.Error.unknownArchitecture(arch) }
        try data.check()
    }

    /// A dense run of `epochs` epochs, evaluated after each: the same run a sweep would make of
    /// these settings, trained by `RunExecutor`.
    func runConfig(dataset: String, trainSamples: Int) throws -> RunConfig {
        let stepsPerEpoch = trainSamples / batchSize
        guard stepsPerEpoch >= 1 else {
            throw InvalidOption(option: "--batch-size", reason: "\(batchSize) exceeds the \(trainSamples) training samples")
        }
        let (iterations, overflow) = epochs.multipliedReportingOverflow(by: stepsPerEpoch)
        guard !overflow, iterations <= RunConfig.Limits.iterations else {
            throw InvalidOption(option: "--epochs", reason: "\(epochs) epochs of \(stepsPerEpoch) steps exceed \(RunConfig.Limits.iterations) steps")
        }
        // A drop at epoch e applies from the first step of that epoch.
        var training: [String: Any] = [
            "iterations": iterations, "batch_size": batchSize, "learning_rate": lr, "momentum": momentum, "weight_decay": weightDecay,
            "lr_drops": Set(lrDrops).sorted().map { ($0 - 1) * stepsPerEpoch + 1 }, "eval_every": stepsPerEpoch, "augment": !noAugment,
        ]
        var fields: [String: Any] = ["architecture": arch, "dataset": dataset, "pruner": "dense", "seed": seed, "training": training]
        if let dataDir = data.dataDir { fields["data_dir"] = dataDir }
        // Validated as any run's config is: the run a sweep would make of these settings.
        do {
            return try RunConfig.parse(try JSONSerialization.data(withJSONObject: fields))
        } catch {
            throw InvalidOption(option: "train", reason: "\(error)")
        }
    }

    func run() throws {
        try validateOptions()
        let backend = try device.openBackend()
        let entry = try ModelZoo.entry(arch)
        let dataset = try data.resolvedDataset(entry)
        let splits = try data.loadSplits(dataset, entry: entry)
        let config = try runConfig(dataset: dataset, trainSamples: splits.train.count)
        // Said once the network is built: an architecture that does not take the data's shape is
        // one line of error, not a header and an error.
        let reporter = EpochPrinter(epochs: epochs, stepsPerEpoch: config.training.evalEvery, batchSize: batchSize,
                                    header: "prunelab: training \(arch) on \(dataset) (\(splits.train.count) train / \(splits.test.count) test), "
                                        + backend.name)
        let executor = try RunExecutor(config: config, reporter: reporter, backend: backend)
        let augmentation = RunData.augmentation(for: splits, enabled: config.training.augment)
        let result = try executor.run(splits: splits)
        let summary = TrainingSummary(
            architecture: arch, dataset: dataset, epochs: epochs, batchSize: batchSize, learningRate: lr, momentum: momentum,
            weightDecay: weightDecay, learningRateDrops: lrDrops, seed: seed,
            augmentation: augmentation == .none ? "none" : "shift \(augmentation.maxShift) + flip")
        let report = TrainReport(
            config: summary, key: result.key, device: backend.name, prunableParameters: result.total,
            test: Evaluation(loss: result.testLoss, accuracy: result.testAccuracy),
            train: Evaluation(loss: result.trainLoss, accuracy: result.trainAccuracy),
            imagesPerSecond: result.imagesPerSecond, trainingSeconds: result.trainingSeconds,
            wallSeconds: result.wallSeconds, epochs: reporter.history)
        if json { try printJSON(report) }
    }
}

/// Prints one line per epoch from a run's events (its evaluations fall at the end of each epoch).
final class EpochPrinter: Reporter {
    let epochs: Int
    let stepsPerEpoch: Int
    let batchSize: Int
    /// Printed when the run enters its first stage (the network built).
    private var header: String?
    private(set) var history: [EpochResult] = []
    private var progress: RunProgress?
    private var figures: [String: Double] = [:]

    init(epochs: Int, stepsPerEpoch: Int, batchSize: Int, header: String) {
        self.epochs = epochs
        self.stepsPerEpoch = stepsPerEpoch
        self.batchSize = batchSize
        self.header = header
    }

    func report(_ event: RunEvent) {
        switch event {
        case .stage:
            if let header { printError(header) }
            header = nil
        case let .progress(progress): self.progress = progress
        case let .metric(record):
            let name = record.name
            figures[name] = record.value
            // test_accuracy is the evaluation's last figure.
            guard name == "test_accuracy", let progress else { return }
            let images = Double(stepsPerEpoch * batchSize)
            let epoch = EpochResult(epoch: progress.step / stepsPerEpoch, learningRate: progress.learningRate,
                                    trainLoss: figures["train_loss"] ?? .nan, trainAccuracy: figures["train_accuracy"] ?? .nan,
                                    testLoss: figures["test_loss"] ?? .nan, testAccuracy: record.value,
                                    seconds: progress.imagesPerSecond > 0 ? images / progress.imagesPerSecond : 0,
                                    imagesPerSecond: progress.imagesPerSecond)
            history.append(epoch)
            printError(String(format: "epoch %d/%d  lr %.4g  train loss %.4f acc %.2f%%  test loss %.4f acc %.2f%%  %.0f images/s  %.2f s",
                              epoch.epoch, epochs, epoch.learningRate, epoch.trainLoss, 100 * epoch.trainAccuracy, epoch.testLoss,
                              100 * epoch.testAccuracy, epoch.imagesPerSecond, epoch.seconds))
        default: break
        }
    }
}

/// The settings of `prunelab train`, as its JSON report shows them.
struct TrainingSummary: Codable, Equatable {
    var architecture: String
    var dataset: String
    var epochs: Int
    var batchSize: Int
    var learningRate: Double
    var momentum: Double
    var weightDecay: Double
    /// 1-based epochs from which the learning rate is multiplied by 0.1.
    var learningRateDrops: [Int]
    var seed: UInt64
    var augmentation: String
}

/// What one epoch did.
struct EpochResult: Codable {
    var epoch: Int
    var learningRate: Double
    var trainLoss: Double
    var trainAccuracy: Double
    var testLoss: Double
    var testAccuracy: Double
    /// Seconds spent training (batch fill, forward, backward, SGD), evaluation excluded.
    var seconds: Double
    var imagesPerSecond: Double
}

struct Evaluation: Codable {
    var loss: Double
    var accuracy: Double
}

struct TrainReport: Encodable {
    var config: TrainingSummary
    /// The run key of the same dense run in a sweep.
    var key: String
    var device: String
    var prunableParameters: Int
    var test: Evaluation
    var train: Evaluation
    var imagesPerSecond: Double
    var trainingSeconds: Double
    var wallSeconds: Double
    var epochs: [EpochResult]
}

/// One JSON object with snake_case keys on stdout.
func printJSON<T: Encodable>(_ value: T) throws {
    let data = try JSONCoding.encoder().encode(value)
    print(String(decoding: data, as: UTF8.self))
}
