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
    var lr: Float = 0.1
    @Option(help: "SGD momentum.")
    var momentum: Float = 0.9
    @Option(help: "Weight decay on dense/conv kernels (PyTorch convention: gradient += decay · w).")
    var weightDecay: Float = 5e-4
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
        if let bad = lrDrops.first(where: { $0 < 1 }) { throw InvalidOption(option: "--lr-drops", reason: "epochs are 1-based, got \(bad)") }
        guard ModelZoo.names.contains(arch) else { throw ModelZoo.Error.unknownArchitecture(arch) }
        try data.check()
    }

    func run() throws {
        try validateOptions()
        let backend = try device.openBackend()
        let entry = try ModelZoo.entry(arch)
        let dataset = try data.resolvedDataset(entry)
        let splits = try data.loadSplits(dataset, entry: entry)
        guard splits.train.count >= batchSize else {
            throw InvalidOption(option: "--batch-size", reason: "\(batchSize) exceeds the \(splits.train.count) training samples")
        }
        let augmentation: Augmentation = noAugment || splits.train.sampleShape.first == 1 ? .none : .cifar
        let network = try ModelZoo.make(arch, inputShape: splits.train.sampleShape, classes: splits.train.classes, backend: backend)
        network.initialize(seed: seed)
        let config = TrainingConfig(architecture: arch, dataset: dataset, epochs: epochs, batchSize: batchSize, learningRate: lr,
                                    momentum: momentum, weightDecay: weightDecay, learningRateDrops: lrDrops, seed: seed,
                                    augmentation: augmentation == .none ? "none" : "shift \(augmentation.maxShift) + flip")
        printError("prunelab: training \(arch) (\(network.prunableParameterCount) prunable weights) on \(dataset) "
                   + "(\(splits.train.count) train / \(splits.test.count) test), \(backend.name)")
        let trainer = Trainer(network: network, splits: splits, config: config, augmentation: augmentation)
        let start = monotonicSeconds()
        let history = try trainer.run { e in
            printError(String(format: "epoch %d/%d  lr %.4g  train loss %.4f acc %.2f%%  test loss %.4f acc %.2f%%  %.0f images/s  %.2f s",
                              e.epoch, epochs, e.learningRate, e.trainLoss, 100 * e.trainAccuracy, e.testLoss,
                              100 * e.testAccuracy, e.imagesPerSecond, e.seconds))
        }
        let trainingSeconds = history.reduce(0) { $0 + $1.seconds }
        let trainedImages = Double(history.count * (splits.train.count / batchSize) * batchSize)
        let report = TrainReport(
            config: config, device: backend.name, prunableParameters: network.prunableParameterCount,
            test: Evaluation(loss: history.last!.testLoss, accuracy: history.last!.testAccuracy),
            train: Evaluation(loss: history.last!.trainLoss, accuracy: history.last!.trainAccuracy),
            imagesPerSecond: trainedImages / trainingSeconds, trainingSeconds: trainingSeconds,
            wallSeconds: monotonicSeconds() - start, epochs: history)
        if json { try printJSON(report) }
    }
}

struct TrainReport: Encodable {
    var config: TrainingConfig
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
