import Datasets
import NeuralNet
import Tensors

/// The training step of every run, and the one `prunelab bench` times: step s (0-based) fills
/// batch s mod B of epoch s / B + 1 — whose order and augmentation depend only on (seed, epoch,
/// batch) — sets the learning rate of iteration s + 1, and runs forward, loss, backward and the
/// SGD step. Any step can be run first, so a resumed run replays exactly.
public final class TrainingSteps {
    public let network: Network
    public let optimizer: SGD
    public let batchSize: Int
    /// Full batches per epoch (the last partial batch is dropped).
    public let batchesPerEpoch: Int
    private let loader: BatchLoader
    private let schedule: StepSchedule
    private let images: Tensor
    private var labels: [Int32]

    /// `learningRateDrops`: 1-based iterations from which the rate is multiplied by 0.1. Throws
    /// when `dataset` has no full batch.
    public init(network: Network, optimizer: SGD, dataset: Dataset, batchSize: Int, learningRate: Double, learningRateDrops: [Int],
                augmentation: Augmentation, seed: UInt64) throws {
        loader = BatchLoader(dataset: dataset, batchSize: batchSize, shuffle: true, augmentation: augmentation, seed: seed, dropLast: true)
        guard loader.batchesPerEpoch > 0 else {
            throw ExperimentsError.invalidField(field: "training.batch_size",
                                                reason: "\(batchSize) exceeds the \(dataset.count) training samples")
        }
        self.network = network
        self.optimizer = optimizer
        self.batchSize = batchSize
        batchesPerEpoch = loader.batchesPerEpoch
        schedule = StepSchedule(base: Float(learningRate), milestones: learningRateDrops, factor: 0.1)
        images = Tensor(shape: [batchSize] + dataset.sampleShape)
        labels = [Int32](repeating: 0, count: batchSize)
    }

    /// A run's steps: its training setup, the data set's augmentation unless the run turns it off.
    public convenience init(network: Network, optimizer: SGD, splits: DatasetSplits, setup: TrainingSetup, seed: UInt64) throws {
        try self.init(network: network, optimizer: optimizer, dataset: splits.train, batchSize: setup.batchSize,
                      learningRate: setup.learningRate, learningRateDrops: setup.lrDrops,
                      augmentation: RunData.augmentation(for: splits, enabled: setup.augment), seed: seed)
    }

    /// Runs step `step`: the summed loss and the correct predictions of its batch.
    @discardableResult
    public func run(step: Int) throws -> (lossSum: Double, correct: Int) {
        let epoch = step / batchesPerEpoch + 1
        if loader.epoch != epoch { loader.startEpoch(epoch) }
        optimizer.learningRate = schedule.rate(at: step + 1)
        return try labels.withUnsafeMutableBufferPointer { labels in
            _ = loader.fill(batch: step % batchesPerEpoch, images: images, labels: labels.baseAddress!)
            return try network.trainStep(images: images, labels: labels.baseAddress!, optimizer: optimizer)
        }
    }
}
