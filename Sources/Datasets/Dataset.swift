/// A labelled image data set held in memory as NCHW float32 samples.
///
/// Readers store raw pixel / 255; `Normalization.apply(to:)` turns that into zero-mean,
/// unit-variance channels.
public struct Dataset: Sendable {
    /// The catalog name ("fashion-mnist", "cifar10", …) or a caller's label.
    public let name: String
    /// The shape of one sample, `[C, H, W]`.
    public let sampleShape: [Int]
    /// The number of classes; every label lies in `0..<classes`.
    public let classes: Int
    /// `count * sampleSize` values, sample after sample, each in CHW order.
    public internal(set) var images: [Float]
    /// One label a sample.
    public let labels: [Int32]

    /// A data set from already decoded samples (validated with preconditions: a programming error, not bad input).
    public init(name: String, sampleShape: [Int], classes: Int, images: [Float], labels: [Int32]) {
        precondition(sampleShape.count == 3 && sampleShape.allSatisfy { $0 > 0 }, "sample shape must be [C, H, W], got \(sampleShape)")
        precondition(classes > 0, "classes must be positive, got \(classes)")
        let sampleSize = sampleShape.reduce(1, *)
        precondition(images.count == labels.count * sampleSize,
                     "\(images.count) values for \(labels.count) samples of \(sampleShape)")
        precondition(labels.allSatisfy { $0 >= 0 && Int($0) < classes }, "label outside 0..<\(classes)")
        self.name = name
        self.sampleShape = sampleShape
        self.classes = classes
        self.images = images
        self.labels = labels
    }

    /// The number of samples.
    public var count: Int { labels.count }
    /// Values per sample, `C * H * W`.
    public var sampleSize: Int { sampleShape.reduce(1, *) }
    /// Channels per sample.
    public var channels: Int { sampleShape[0] }

    /// The first `n` samples (all of them when `n >= count`), for quick runs on a subset.
    public func prefix(_ n: Int) -> Dataset {
        precondition(n >= 0, "negative prefix length \(n)")
        let kept = min(n, count)
        return Dataset(name: name, sampleShape: sampleShape, classes: classes,
                       images: Array(images[0..<(kept * sampleSize)]), labels: Array(labels[0..<kept]))
    }

    /// How many samples carry each label, indexed by class.
    public func classCounts() -> [Int] {
        var counts = [Int](repeating: 0, count: classes)
        for label in labels { counts[Int(label)] += 1 }
        return counts
    }
}

/// The train and test halves of a data set, as the catalog loads them.
public struct DatasetSplits: Sendable {
    /// The training samples.
    public var train: Dataset
    /// The held-out test samples.
    public var test: Dataset

    /// Both halves.
    public init(train: Dataset, test: Dataset) {
        self.train = train
        self.test = test
    }

    /// Normalises both halves with the per-channel statistics of the training half and returns them.
    @discardableResult
    public mutating func normalize() -> Normalization {
        let normalization = Normalization.perChannel(of: train)
        normalization.apply(to: &train)
        normalization.apply(to: &test)
        return normalization
    }
}
