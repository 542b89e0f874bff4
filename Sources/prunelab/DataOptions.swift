import ArgumentParser
import Datasets
import Foundation
import NeuralNet

/// Where training or scoring data comes from: `--dataset` and `--data-dir`.
struct DataOptions: ParsableArguments {
    @Option(help: "Dataset (\(DatasetCatalog.names.joined(separator: ", "))); default: the architecture's own. 'synthetic' takes the architecture's input shape and classes.")
    var dataset: String?
    @Option(help: "Directory holding the dataset files (default: the dataset's standard location).")
    var dataDir: String?

    func check() throws {
        if let dataset, !DatasetCatalog.names.contains(dataset) { throw DatasetError.unknownDataset(name: dataset) }
        if let dataDir {
            var isDirectory: ObjCBool = false
            guard FileManager.default.fileExists(atPath: dataDir, isDirectory: &isDirectory), isDirectory.boolValue else {
                throw DatasetError.missingDirectory(path: dataDir)
            }
        }
    }

    /// `--dataset`, or the architecture's default when the catalog has it.
    func resolvedDataset(_ entry: ModelZoo.Entry) throws -> String {
        if let dataset { return dataset }
        guard DatasetCatalog.names.contains(entry.defaultDataset) else {
            throw InvalidOption(option: "--dataset", reason: "\(entry.name)'s dataset \(entry.defaultDataset) has no reader yet; pass --dataset (e.g. synthetic)")
        }
        return entry.defaultDataset
    }

    /// The splits of `dataset`; synthetic data takes the architecture's input shape and classes
    /// (2 000 / 500 samples, fewer for large inputs so that they fit in memory).
    func loadSplits(_ dataset: String, entry: ModelZoo.Entry) throws -> DatasetSplits {
        guard dataset == "synthetic" else {
            do {
                return try DatasetCatalog.load(dataset, directory: dataDir)
            } catch {
                if case let .noDefaultDirectory(name) = error {
                    throw InvalidOption(option: "--data-dir", reason: "dataset \(name) has no standard location here; pass the directory that holds its files")
                }
                throw error
            }
        }
        let size = entry.inputShape.reduce(1, *)
        let train = max(1, min(DatasetCatalog.syntheticTrainCount, 60_000_000 / size))
        let test = max(1, min(DatasetCatalog.syntheticTestCount, train / 4))
        return DatasetSplits(
            train: SyntheticDataset.make(count: train, sampleShape: entry.inputShape, classes: entry.classes, seed: 1, name: dataset),
            test: SyntheticDataset.make(count: test, sampleShape: entry.inputShape, classes: entry.classes, seed: 2, name: dataset))
    }
}
