import Testing
@testable import Datasets

@Suite struct SyntheticDatasetTests {
    @Test func deterministicInSeedAndBalanced() {
        let a = SyntheticDataset.make(count: 103, sampleShape: [1, 8, 8], classes: 10, seed: 4)
        let b = SyntheticDataset.make(count: 103, sampleShape: [1, 8, 8], classes: 10, seed: 4)
        let c = SyntheticDataset.make(count: 103, sampleShape: [1, 8, 8], classes: 10, seed: 5)
        #expect(a.images == b.images && a.labels == b.labels)
        #expect(a.images != c.images)
        #expect(a.name == "synthetic" && a.count == 103 && a.sampleShape == [1, 8, 8])
        #expect(a.classCounts() == [11, 11, 11, 10, 10, 10, 10, 10, 10, 10])
        #expect(a.images.allSatisfy { (0...1).contains($0) })
    }

    /// Nearest class mean, fitted on one seed and scored on another, must beat chance by far:
    /// the classes share their patterns across seeds and are learnable.
    @Test func learnableAcrossSeeds() {
        let shape = [3, 12, 12]
        let train = SyntheticDataset.make(count: 600, sampleShape: shape, classes: 10, seed: 1)
        let test = SyntheticDataset.make(count: 200, sampleShape: shape, classes: 10, seed: 2)
        let size = train.sampleSize
        var means = [Double](repeating: 0, count: 10 * size)
        let counts = train.classCounts()
        for sample in 0..<train.count {
            let label = Int(train.labels[sample])
            for i in 0..<size { means[label * size + i] += Double(train.images[sample * size + i]) / Double(counts[label]) }
        }
        var correct = 0
        for sample in 0..<test.count {
            var best = 0, bestDistance = Double.infinity
            for label in 0..<10 {
                var distance = 0.0
                for i in 0..<size {
                    let d = Double(test.images[sample * size + i]) - means[label * size + i]
                    distance += d * d
                }
                if distance < bestDistance { bestDistance = distance; best = label }
            }
            if best == Int(test.labels[sample]) { correct += 1 }
        }
        #expect(Double(correct) / Double(test.count) > 0.9)
    }
}
