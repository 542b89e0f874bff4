import Datasets
import Experiments
import NeuralNet
import Tensors
#if canImport(Glibc)
import Glibc
#endif

/// Hyper-parameters of one training run.
struct TrainingConfig: Codable, Equatable {
    var architecture: String
    var dataset: String
    var epochs: Int
    var batchSize: Int
    var learningRate: Float
    var momentum: Float
    var weightDecay: Float
    /// 1-based epochs from which the learning rate is multiplied by 0.1 (once per listed epoch).
    var learningRateDrops: [Int]
    var seed: UInt64
    var augmentation: String
}

/// What one epoch did.
struct EpochResult: Codable {
    var epoch: Int
    var learningRate: Float
    var trainLoss: Double
    var trainAccuracy: Double
    var testLoss: Double
    var testAccuracy: Double
    var seconds: Double
    var imagesPerSecond: Double
}

struct Evaluation: Codable {
    var loss: Double
    var accuracy: Double
}

/// Trains a network on a dataset split epoch by epoch, evaluating on the test split after each.
final class Trainer {
    let network: Network
    let splits: DatasetSplits
    let config: TrainingConfig
    let optimizer: SGD
    let schedule: StepSchedule
    private let trainLoader: BatchLoader
    private let testLoader: BatchLoader
    private let images: Tensor
    private var labels: [Int32]

    init(network: Network, splits: DatasetSplits, config: TrainingConfig, augmentation: Augmentation) {
        self.network = network
        self.splits = splits
        self.config = config
        optimizer = SGD(learningRate: config.learningRate, momentum: config.momentum, weightDecay: config.weightDecay,
                        backend: network.backend)
        schedule = StepSchedule(base: config.learningRate, milestones: config.learningRateDrops, factor: 0.1)
        trainLoader = BatchLoader(dataset: splits.train, batchSize: config.batchSize, shuffle: true,
                                  augmentation: augmentation, seed: config.seed, dropLast: true)
        testLoader = BatchLoader(dataset: splits.test, batchSize: config.batchSize, shuffle: false,
                                 augmentation: .none, seed: config.seed, dropLast: false)
        images = Tensor(shape: [config.batchSize] + splits.train.sampleShape)
        labels = [Int32](repeating: 0, count: config.batchSize)
    }

    /// Runs one epoch (1-based) of training; returns loss, accuracy, seconds spent training.
    func trainEpoch(_ epoch: Int) throws -> (loss: Double, accuracy: Double, seconds: Double, images: Int) {
        optimizer.learningRate = schedule.rate(at: epoch)
        trainLoader.startEpoch(epoch)
        let start = monotonicSeconds()
        let totals = try sweep(trainLoader) { images, labels, _ in
            try network.trainStep(images: images, labels: labels, optimizer: optimizer)
        }
        let seconds = monotonicSeconds() - start
        return (totals.loss, totals.accuracy, seconds, totals.seen)
    }

    /// Mean loss and accuracy over the whole test split in evaluation mode.
    func evaluate() throws -> Evaluation {
        testLoader.startEpoch(0)
        let totals = try sweep(testLoader) { images, labels, count in
            try network.evaluate(images: images, labels: labels, count: count)
        }
        return Evaluation(loss: totals.loss, accuracy: totals.accuracy)
    }

    /// Runs `step` on every batch of the loader's current epoch; mean loss and accuracy per sample.
    private func sweep(_ loader: BatchLoader,
                       _ step: (Tensor, UnsafePointer<Int32>, Int) throws -> (lossSum: Double, correct: Int))
        throws -> (loss: Double, accuracy: Double, seen: Int) {
        var lossSum = 0.0, correct = 0, seen = 0
        try labels.withUnsafeMutableBufferPointer { labels in
            for batch in 0..<loader.batchesPerEpoch {
                let n = loader.fill(batch: batch, images: images, labels: labels.baseAddress!)
                let result = try step(images, labels.baseAddress!, n)
                lossSum += result.lossSum
                correct += result.correct
                seen += n
            }
        }
        let samples = Double(max(seen, 1))
        return (lossSum / samples, Double(correct) / samples, seen)
    }

    /// Trains for `config.epochs`, calling `progress` after each epoch.
    func run(progress: (EpochResult) -> Void) throws -> [EpochResult] {
        var results: [EpochResult] = []
        for epoch in 1...config.epochs {
            let train = try trainEpoch(epoch)
            let test = try evaluate()
            let result = EpochResult(epoch: epoch, learningRate: optimizer.learningRate, trainLoss: train.loss,
                                     trainAccuracy: train.accuracy, testLoss: test.loss, testAccuracy: test.accuracy,
                                     seconds: train.seconds, imagesPerSecond: Double(train.images) / train.seconds)
            results.append(result)
            progress(result)
        }
        return results
    }
}
