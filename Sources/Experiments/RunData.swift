import Datasets
import NeuralNet
import Pruning
import Tensors

/// The data a run trains, evaluates and scores on.
public enum RunData {
    /// Normalised splits of `dataset` (from `directory` or its standard location). `synthetic`
    /// takes the architecture's input shape and classes (2 000 / 500 samples, fewer for large inputs).
    public static func load(dataset: String, architecture: String, directory: String?) throws -> DatasetSplits {
        var splits: DatasetSplits
        if dataset == "synthetic" {
            let entry = try Architecture.resolve(architecture).describe()
            let size = entry.inputShape.reduce(1, *)
            let train = max(1, min(DatasetCatalog.syntheticTrainCount, 60_000_000 / size))
            let test = max(1, min(DatasetCatalog.syntheticTestCount, train / 4))
            splits = DatasetSplits(
                train: SyntheticDataset.make(count: train, sampleShape: entry.inputShape, classes: entry.classes, seed: 1, name: dataset),
                test: SyntheticDataset.make(count: test, sampleShape: entry.inputShape, classes: entry.classes, seed: 2, name: dataset))
        } else {
            splits = try DatasetCatalog.load(dataset, directory: directory)
        }
        splits.normalize()
        return splits
    }

    /// Training augmentation: random 4-pixel shifts and flips for colour images, none for
    /// grey-scale digits and clothes, none at all when the run turns it off (`training.augment`).
    public static func augmentation(for splits: DatasetSplits, enabled: Bool = true) -> Augmentation {
        !enabled || splits.train.sampleShape.first == 1 ? .none : .cifar
    }

    /// A seeded random subset of `samples` training samples, in batches of at most `batchSize`, for
    /// data-dependent pruners (SNIP, GraSP).
    public static func scoringBatches(_ dataset: Dataset, samples: Int, batchSize: Int, seed: UInt64) -> [ScoringBatch] {
        let count = min(samples, dataset.count)
        var rng = RandomGenerator(seed: seed, stream: "score-data")
        var indices = Array(0..<dataset.count)
        for i in 0..<count { indices.swapAt(i, i + rng.nextInt(below: dataset.count - i)) }
        let size = dataset.sampleSize
        return stride(from: 0, to: count, by: batchSize).map { start in
            let chosen = indices[start..<min(start + batchSize, count)]
            let images = Tensor(shape: [chosen.count] + dataset.sampleShape)
            dataset.images.withUnsafeBufferPointer { source in
                for (row, index) in chosen.enumerated() {
                    (images.data + row * size).update(from: source.baseAddress! + index * size, count: size)
                }
            }
            return ScoringBatch(images: images, labels: chosen.map { dataset.labels[$0] })
        }
    }
}
