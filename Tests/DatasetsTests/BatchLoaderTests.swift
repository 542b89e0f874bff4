import Testing
import Tensors
@testable import Datasets

@Suite struct BatchLoaderTests {
    /// `count` samples of [1, 2, 3] whose every pixel equals the sample index + 1; label = index % 5.
    static func indexedDataset(count: Int) -> Dataset {
        let images = (0..<count).flatMap { [Float](repeating: Float($0 + 1), count: 6) }
        return Dataset(name: "indexed", sampleShape: [1, 2, 3], classes: 5, images: images, labels: (0..<count).map { Int32($0 % 5) })
    }

    /// Every batch of the loader's current epoch: (images, labels) of the filled rows.
    static func epochBatches(_ loader: BatchLoader) -> [([Float], [Int32])] {
        let sampleSize = loader.dataset.sampleSize
        let images = Tensor(shape: [loader.batchSize] + loader.dataset.sampleShape)
        var labels = [Int32](repeating: -1, count: loader.batchSize)
        return (0..<loader.batchesPerEpoch).map { index in
            let n = labels.withUnsafeMutableBufferPointer { loader.fill(batch: index, images: images, labels: $0.baseAddress!) }
            return (Array(images.array.prefix(n * sampleSize)), Array(labels.prefix(n)))
        }
    }

    /// The sample index each row holds (recovered from its pixel value).
    static func sampleIndices(_ batches: [([Float], [Int32])], sampleSize: Int) -> [Int] {
        batches.flatMap { images, labels in
            labels.indices.map { Int(images[$0 * sampleSize]) - 1 }
        }
    }

    @Test func sameSeedGivesSameBatches() {
        let dataset = Self.indexedDataset(count: 37)
        let a = BatchLoader(dataset: dataset, batchSize: 8, shuffle: true, augmentation: .none, seed: 11, dropLast: false)
        let b = BatchLoader(dataset: dataset, batchSize: 8, shuffle: true, augmentation: .none, seed: 11, dropLast: false)
        a.startEpoch(3); b.startEpoch(3)
        let first = Self.epochBatches(a), second = Self.epochBatches(b)
        #expect(first.map(\.0) == second.map(\.0))
        #expect(first.map(\.1) == second.map(\.1))
        let other = BatchLoader(dataset: dataset, batchSize: 8, shuffle: true, augmentation: .none, seed: 12, dropLast: false)
        other.startEpoch(3)
        #expect(Self.sampleIndices(Self.epochBatches(other), sampleSize: 6) != Self.sampleIndices(first, sampleSize: 6))
    }

    @Test func everySampleOnceAndEpochsDiffer() {
        let dataset = Self.indexedDataset(count: 37)
        let loader = BatchLoader(dataset: dataset, batchSize: 8, shuffle: true, augmentation: .none, seed: 5, dropLast: false)
        var orders: [[Int]] = []
        for epoch in 0..<3 {
            loader.startEpoch(epoch)
            let batches = Self.epochBatches(loader)
            let indices = Self.sampleIndices(batches, sampleSize: 6)
            #expect(indices.sorted() == Array(0..<37))
            // Labels travel with their images.
            let labels = batches.flatMap(\.1)
            #expect(labels == indices.map { Int32($0 % 5) })
            orders.append(indices)
        }
        #expect(orders[0] != orders[1] && orders[1] != orders[2] && orders[0] != orders[2])
        #expect(orders[0] != Array(0..<37))
    }

    @Test func resumingAtAnEpochMatchesRunningThrough() {
        let dataset = Self.indexedDataset(count: 20)
        let through = BatchLoader(dataset: dataset, batchSize: 6, shuffle: true, augmentation: .cifar, seed: 9, dropLast: true)
        for epoch in 0..<4 { through.startEpoch(epoch) }
        let resumed = BatchLoader(dataset: dataset, batchSize: 6, shuffle: true, augmentation: .cifar, seed: 9, dropLast: true)
        resumed.startEpoch(3)
        #expect(through.order == resumed.order)
        #expect(Self.epochBatches(through).map(\.0) == Self.epochBatches(resumed).map(\.0))
    }

    @Test func withoutShuffleTheOrderIsTheDatasetOrder() {
        let loader = BatchLoader(dataset: Self.indexedDataset(count: 10), batchSize: 4, shuffle: false, augmentation: .none, seed: 1, dropLast: false)
        loader.startEpoch(7)
        #expect(Self.sampleIndices(Self.epochBatches(loader), sampleSize: 6) == Array(0..<10))
        #expect(Array(loader.indices(ofBatch: 2)) == [8, 9])
    }

    @Test func dropLastSkipsThePartialBatch() {
        let dataset = Self.indexedDataset(count: 10)
        let dropping = BatchLoader(dataset: dataset, batchSize: 4, shuffle: true, augmentation: .none, seed: 2, dropLast: true)
        #expect(dropping.batchesPerEpoch == 2)
        #expect(Self.epochBatches(dropping).map(\.1.count) == [4, 4])

        let keeping = BatchLoader(dataset: dataset, batchSize: 4, shuffle: true, augmentation: .none, seed: 2, dropLast: false)
        #expect(keeping.batchesPerEpoch == 3)
        #expect(Self.epochBatches(keeping).map(\.1.count) == [4, 4, 2])

        // Rows past n of the short batch are zeroed, not left over from the previous batch.
        let images = Tensor(shape: [4, 1, 2, 3])
        var labels = [Int32](repeating: 0, count: 4)
        labels.withUnsafeMutableBufferPointer { _ = keeping.fill(batch: 0, images: images, labels: $0.baseAddress!) }
        let n = labels.withUnsafeMutableBufferPointer { keeping.fill(batch: 2, images: images, labels: $0.baseAddress!) }
        #expect(n == 2)
        #expect(images.array[(2 * 6)...].allSatisfy { $0 == 0 })
        #expect(images.array[..<(2 * 6)].allSatisfy { $0 > 0 })

        let exact = BatchLoader(dataset: Self.indexedDataset(count: 8), batchSize: 4, shuffle: false, augmentation: .none, seed: 2, dropLast: false)
        #expect(exact.batchesPerEpoch == 2)
    }

    @Test func augmentedBatchesAreReproducibleAndMatchTheirStream() {
        // A dataset with distinct pixels, so shifts and flips are visible.
        let shape = [2, 5, 6]
        let size = 60
        let images = (0..<12 * size).map { Float($0 % 251 + 1) }
        let dataset = Dataset(name: "pix", sampleShape: shape, classes: 3, images: images, labels: (0..<12).map { Int32($0 % 3) })
        let loader = BatchLoader(dataset: dataset, batchSize: 5, shuffle: true, augmentation: .cifar, seed: 21, dropLast: false)
        loader.startEpoch(4)
        let first = Self.epochBatches(loader)
        let again = Self.epochBatches(loader)
        #expect(first.map(\.0) == again.map(\.0))

        // Batch 1 equals the transforms drawn from stream "augment-4-1" applied to its samples.
        var generator = RandomGenerator(seed: 21, stream: "augment-4-1")
        var expected: [Float] = []
        var changed = false
        for sample in loader.indices(ofBatch: 1) {
            let original = Array(images[(sample * size)..<((sample + 1) * size)])
            let transform = Augmentation.cifar.draw(using: &generator)
            changed = changed || transform != .identity
            expected += Augmentation.apply(transform, to: original, sampleShape: shape)
        }
        #expect(changed)
        #expect(first[1].0 == expected)
    }
}
