import ArgumentParser
import Datasets
import Experiments
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

    /// The normalised splits of `dataset`; synthetic data takes the architecture's input shape and
    /// classes (2 000 / 500 samples, fewer for large inputs so that they fit in memory).
    func loadSplits(_ dataset: String, entry: ModelZoo.Entry) throws -> DatasetSplits {
        do {
            return try RunData.load(dataset: dataset, architecture: entry.name, directory: dataDir)
        } catch let error as DatasetError {
            if case let .noDefaultDirectory(name) = error {
                throw InvalidOption(option: "--data-dir", reason: "dataset \(name) has no standard location here; pass the directory that holds its files")
            }
            throw error
        }
    }
}
