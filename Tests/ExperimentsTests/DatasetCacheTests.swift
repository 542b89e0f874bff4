import Datasets
import Experiments
import Figures
import Foundation
import Testing

@Suite struct DatasetCacheTests {
    /// The figures of a run without its timings (the only figures a warm worker may change).
    static func untimed(_ figures: RunFigures) -> RunFigures {
        var figures = figures
        figures.trainingSeconds = 0
        figures.wallSeconds = 0
        figures.imagesPerSecond = 0
        return figures
    }

    /// A run on cached splits (the second run of a warm worker, after another run used and kept
    /// them) computes exactly what a cold run computes: same figures, metrics and final weights,
    /// bit for bit.
    @Test(arguments: ["snip", "random/erk"])
    func aWarmRunIsBitIdenticalToAColdOne(pruner: String) throws {
        let config = try smallConfig(pruner: pruner, compression: 20)
        let cold = try temporaryDirectory("cold"), warm = try temporaryDirectory("warm")
        defer { try? FileManager.default.removeItem(at: cold); try? FileManager.default.removeItem(at: warm) }
        let coldEvents = RecordingReporter()
        let coldResult = try RunExecutor(config: config, reporter: coldEvents,
                                         files: RunFiles(final: cold.appendingPathComponent("final.bin").path)).run()

        let cache = DatasetCache(capacityBytes: 1 << 30)
        // Another run first, on the same data: it trains on the cached splits and must leave them as they were.
        _ = try RunExecutor(config: try smallConfig(pruner: "dense", seed: 3))
            .run(splits: try cache.splits(dataset: config.dataset, architecture: config.architecture, directory: nil))
        #expect(cache.keys.count == 1)
        let warmEvents = RecordingReporter()
        let warmResult = try RunExecutor(config: config, reporter: warmEvents,
                                         files: RunFiles(final: warm.appendingPathComponent("final.bin").path))
            .run(splits: try cache.splits(dataset: config.dataset, architecture: config.architecture, directory: nil))

        #expect(Self.untimed(warmResult.figures) == Self.untimed(coldResult.figures))
        func metrics(_ reporter: RecordingReporter) -> [MetricRecord] {
            reporter.events.compactMap { if case let .metric(record) = $0 { record } else { nil } }
        }
        #expect(metrics(warmEvents) == metrics(coldEvents) && !metrics(coldEvents).isEmpty)
        let a = try Checkpoint.read(path: cold.appendingPathComponent("final.bin").path)
        let b = try Checkpoint.read(path: warm.appendingPathComponent("final.bin").path)
        #expect(a.header.tensors == b.header.tensors)
        for (entry, (x, y)) in zip(a.header.tensors, zip(a.values, b.values)) {
            #expect(zip(x, y).allSatisfy { $0.bitPattern == $1.bitPattern }, "\(entry.name) differs")
        }
    }

    /// Hits return the held splits without loading; entries beyond the cap go least recently used
    /// first; a data set larger than the cap is returned and not kept.
    @Test func evictsLeastRecentlyUsedBeyondItsCap() throws {
        // Data sets of 10 samples of 1×2×2 (16 + 4 bytes each): 200 bytes a split pair of 10 + 0 samples.
        final class Loads: @unchecked Sendable { var names: [String] = [] }
        let loads = Loads()
        @Sendable func splits(_ name: String, samples: Int) -> DatasetSplits {
            let train = Dataset(name: name, sampleShape: [1, 2, 2], classes: 2, images: (0..<(4 * samples)).map(Float.init),
                                labels: [Int32](repeating: 1, count: samples))
            return DatasetSplits(train: train, test: train.prefix(0))
        }
        let cache = DatasetCache(capacityBytes: 400) { name, _, _ in
            loads.names.append(name)
            return splits(name, samples: name == "huge" ? 100 : 10)
        }
        let a = try cache.splits(dataset: "a", architecture: "lenet300-100", directory: nil)
        #expect(a.train.images == splits("a", samples: 10).train.images && cache.heldBytes == 200)
        _ = try cache.splits(dataset: "b", architecture: "lenet300-100", directory: nil)
        _ = try cache.splits(dataset: "a", architecture: "lenet300-100", directory: nil)  // a hit: a is now the newer
        #expect(loads.names == ["a", "b"] && cache.heldBytes == 400)
        _ = try cache.splits(dataset: "c", architecture: "lenet300-100", directory: nil)
        #expect(cache.keys == ["a|", "c|"], "b, least recently used, went")
        _ = try cache.splits(dataset: "huge", architecture: "lenet300-100", directory: nil)
        #expect(cache.keys == ["a|", "c|"] && cache.heldBytes == 400, "2 000 bytes over a 400-byte cap: returned, not kept")
        // Folders are part of the key; synthetic data is keyed by the architecture's input.
        _ = try cache.splits(dataset: "a", architecture: "lenet300-100", directory: "/elsewhere")
        #expect(loads.names.last == "a" && cache.keys.contains("a|/elsewhere"))
        let none = DatasetCache(capacityBytes: 0) { name, _, _ in splits(name, samples: 1) }
        _ = try none.splits(dataset: "a", architecture: "lenet300-100", directory: nil)
        #expect(none.keys.isEmpty && none.heldBytes == 0)
    }
}
