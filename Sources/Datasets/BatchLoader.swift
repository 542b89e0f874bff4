import Tensors

/// Cuts a data set into mini-batches: a seeded per-epoch order, optional augmentation, and
/// copies into caller-owned buffers without allocating per batch.
///
/// Everything random is a function of `(seed, epoch)` for the order and `(seed, epoch, batch)`
/// for augmentation, so training resumed at any epoch, or any single batch regenerated, sees
/// exactly the same data.
public final class BatchLoader {
    /// The samples being served.
    public let dataset: Dataset
    /// Samples per full batch.
    public let batchSize: Int
    /// Whether each epoch visits the samples in a fresh random order.
    public let shuffle: Bool
    /// The transforms applied while copying.
    public let augmentation: Augmentation
    /// The seed from which order and augmentation streams derive.
    public let seed: UInt64
    /// Whether a final partial batch is skipped.
    public let dropLast: Bool
    /// The epoch whose order `fill` uses.
    public private(set) var epoch: Int = 0
    /// This epoch's sample order.
    public private(set) var order: [Int]

    /// A loader over `dataset`; the order of epoch 0 is ready without calling `startEpoch`.
    public init(dataset: Dataset, batchSize: Int, shuffle: Bool, augmentation: Augmentation, seed: UInt64, dropLast: Bool) {
        precondition(batchSize > 0, "batch size must be positive, got \(batchSize)")
        self.dataset = dataset
        self.batchSize = batchSize
        self.shuffle = shuffle
        self.augmentation = augmentation
        self.seed = seed
        self.dropLast = dropLast
        self.order = Array(0..<dataset.count)
        startEpoch(0)
    }

    /// Batches in one epoch: `count / batchSize`, plus one for the remainder unless `dropLast`.
    public var batchesPerEpoch: Int {
        dropLast ? dataset.count / batchSize : (dataset.count + batchSize - 1) / batchSize
    }

    /// Sets the order for `epoch`, derived only from `(seed, epoch)`.
    public func startEpoch(_ epoch: Int) {
        self.epoch = epoch
        for i in order.indices { order[i] = i }
        if shuffle {
            var generator = RandomGenerator(seed: seed, stream: "data-order-\(epoch)")
            generator.shuffle(&order)
        }
    }

    /// The data set indices that batch `index` of the current epoch holds.
    public func indices(ofBatch index: Int) -> ArraySlice<Int> {
        precondition(index >= 0 && index < batchesPerEpoch, "batch \(index) outside 0..<\(batchesPerEpoch)")
        let start = index * batchSize
        return order[start..<min(start + batchSize, dataset.count)]
    }

    /// Fills images (shape [batchSize, C, H, W], preallocated by the caller) and labels[0..<n]; returns n (smaller than batchSize only for the last batch when dropLast is false).
    ///
    /// Rows `n..<batchSize` of a short batch are zeroed so that stale samples never leak in.
    @discardableResult
    public func fill(batch index: Int, images: Tensor, labels: UnsafeMutablePointer<Int32>) -> Int {
        precondition(index >= 0 && index < batchesPerEpoch, "batch \(index) outside 0..<\(batchesPerEpoch)")
        let sampleSize = dataset.sampleSize
        precondition(images.count == batchSize * sampleSize,
                     "batch tensor \(images.shape) does not hold \(batchSize) samples of \(dataset.sampleShape)")
        let start = index * batchSize
        let n = min(batchSize, dataset.count - start)
        let shape = dataset.sampleShape
        let destination = images.data

        order.withUnsafeBufferPointer { orderBuffer in
            dataset.labels.withUnsafeBufferPointer { labelBuffer in
                dataset.images.withUnsafeBufferPointer { imageBuffer in
                    let samples = orderBuffer.baseAddress! + start
                    let sourceLabels = labelBuffer.baseAddress!, source = imageBuffer.baseAddress!
                    if augmentation.isIdentity {
                        for row in 0..<n {
                            let sample = samples[row]
                            (destination + row * sampleSize).update(from: source + sample * sampleSize, count: sampleSize)
                            labels[row] = sourceLabels[sample]
                        }
                    } else {
                        var generator = RandomGenerator(seed: seed, stream: "augment-\(epoch)-\(index)")
                        for row in 0..<n {
                            let sample = samples[row]
                            let transform = augmentation.draw(using: &generator)
                            Augmentation.apply(transform, source: source + sample * sampleSize, destination: destination + row * sampleSize,
                                               channels: shape[0], height: shape[1], width: shape[2])
                            labels[row] = sourceLabels[sample]
                        }
                    }
                }
            }
        }
        if n < batchSize {
            (destination + n * sampleSize).update(repeating: 0, count: (batchSize - n) * sampleSize)
        }
        return n
    }
}
