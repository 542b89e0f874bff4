import Testing
@testable import Datasets

@Suite struct NormalizationTests {
    /// Two channels with different scales: channel 0 around 0.2, channel 1 spread over [0, 1].
    static func twoChannelDataset() -> Dataset {
        var images: [Float] = []
        for sample in 0..<50 {
            for i in 0..<16 { images.append(0.2 + 0.01 * Float((sample + i) % 5)) }
            for i in 0..<16 { images.append(Float((sample * 16 + i) % 97) / 96) }
        }
        return Dataset(name: "two", sampleShape: [2, 4, 4], classes: 2, images: images,
                       labels: (0..<50).map { Int32($0 % 2) })
    }

    @Test func statisticsMatchANaiveComputation() {
        let dataset = Self.twoChannelDataset()
        let normalization = Normalization.perChannel(of: dataset)
        for channel in 0..<2 {
            var values: [Double] = []
            for sample in 0..<dataset.count {
                for i in 0..<16 { values.append(Double(dataset.images[sample * 32 + channel * 16 + i])) }
            }
            let mean = values.reduce(0, +) / Double(values.count)
            let variance = values.map { ($0 - mean) * ($0 - mean) }.reduce(0, +) / Double(values.count)
            #expect(abs(Double(normalization.mean[channel]) - mean) < 1e-6)
            #expect(abs(Double(normalization.std[channel]) - variance.squareRoot()) < 1e-6)
        }
        #expect(normalization.mean[0] < 0.25 && normalization.mean[1] > 0.4)
    }

    @Test func appliedDatasetHasZeroMeanUnitStdPerChannel() {
        var dataset = Self.twoChannelDataset()
        Normalization.perChannel(of: dataset).apply(to: &dataset)
        let after = Normalization.perChannel(of: dataset)
        for channel in 0..<2 {
            #expect(abs(after.mean[channel]) < 1e-5)
            #expect(abs(after.std[channel] - 1) < 1e-4)
        }
    }

    @Test func constantChannelGetsUnitStd() {
        var dataset = Dataset(name: "flat", sampleShape: [1, 2, 2], classes: 1, images: [Float](repeating: 0.5, count: 12),
                              labels: [0, 0, 0])
        let normalization = Normalization.perChannel(of: dataset)
        #expect(normalization == Normalization(mean: [0.5], std: [1]))
        normalization.apply(to: &dataset)
        #expect(dataset.images.allSatisfy { $0 == 0 })
    }

    @Test func splitsUseTrainingStatisticsForBoth() {
        let train = Self.twoChannelDataset()
        let test = train.prefix(10)
        var splits = DatasetSplits(train: train, test: test)
        let normalization = splits.normalize()
        #expect(normalization == Normalization.perChannel(of: train))
        // The test prefix is the same data as the training prefix, so it must be transformed identically.
        #expect(Array(splits.test.images) == Array(splits.train.images.prefix(10 * 32)))
        #expect(abs(splits.test.images[0] - (train.images[0] - normalization.mean[0]) / normalization.std[0]) < 1e-5)
    }
}
