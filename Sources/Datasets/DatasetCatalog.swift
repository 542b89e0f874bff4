/// The data sets the engine knows by name, where they live by default, and how to load them.
public enum DatasetCatalog {
    /// Every name `load` accepts.
    public static let names = ["fashion-mnist", "mnist", "cifar10", "cifar100", "synthetic", "tinyimagenet"]

    /// Training and test sizes of `load("synthetic")`.
    public static let syntheticTrainCount = 2000
    /// Test size of `load("synthetic")`.
    public static let syntheticTestCount = 500

    /// Where Debian's packages put a data set (`dataset-fashion-mnist`), or nil when there is no such place.
    public static func defaultDirectory(for name: String) -> String? {
        switch name {
        case "fashion-mnist": return "/usr/share/datasets/fashion-mnist"
        default: return nil
        }
    }

    /// Loads train+test. directory nil => default directory (error if none). "synthetic" ignores directory.
    public static func load(_ name: String, directory: String?) throws(DatasetError) -> DatasetSplits {
        guard names.contains(name) else { throw .unknownDataset(name: name) }
        if name == "synthetic" {
            let shape = [1, 28, 28]
            return DatasetSplits(
                train: SyntheticDataset.make(count: syntheticTrainCount, sampleShape: shape, classes: 10, seed: 1, name: name),
                test: SyntheticDataset.make(count: syntheticTestCount, sampleShape: shape, classes: 10, seed: 2, name: name))
        }
        guard let directory = directory ?? defaultDirectory(for: name) else { throw .noDefaultDirectory(name: name) }
        guard FileBytes.isDirectory(directory) else { throw .missingDirectory(path: directory) }
        switch name {
        case "cifar10":
            let folder = cifarFolder(directory, standardSubfolder: "cifar-10-batches-bin", probe: "data_batch_1.bin")
            return DatasetSplits(
                train: try CIFARReader.read(files: (1...5).map { "\(folder)/data_batch_\($0).bin" }, classes: 10, name: name),
                test: try CIFARReader.read(files: ["\(folder)/test_batch.bin"], classes: 10, name: name))
        case "cifar100":
            let folder = cifarFolder(directory, standardSubfolder: "cifar-100-binary", probe: "train.bin")
            return DatasetSplits(
                train: try CIFARReader.read(files: ["\(folder)/train.bin"], classes: 100, name: name),
                test: try CIFARReader.read(files: ["\(folder)/test.bin"], classes: 100, name: name))
        case "tinyimagenet":
            return try TinyImageNetReader.read(directory: directory, name: name)
        default:   // fashion-mnist, mnist: the four IDX files
            return DatasetSplits(
                train: try IDXReader.read(imagesPath: idxFile(directory, "train-images-idx3-ubyte"),
                                          labelsPath: idxFile(directory, "train-labels-idx1-ubyte"), name: name),
                test: try IDXReader.read(imagesPath: idxFile(directory, "t10k-images-idx3-ubyte"),
                                         labelsPath: idxFile(directory, "t10k-labels-idx1-ubyte"), name: name))
        }
    }

    /// The IDX file `base` in `directory`: the `.gz` when present, else the raw file (whose absence the reader reports).
    static func idxFile(_ directory: String, _ base: String) -> String {
        let compressed = "\(directory)/\(base).gz"
        return FileBytes.isFile(compressed) ? compressed : "\(directory)/\(base)"
    }

    /// `directory` when it holds the files itself, else its standard subfolder when that exists,
    /// else `directory` again so that the reader names the first missing file there.
    static func cifarFolder(_ directory: String, standardSubfolder: String, probe: String) -> String {
        if FileBytes.isFile("\(directory)/\(probe)") { return directory }
        let nested = "\(directory)/\(standardSubfolder)"
        return FileBytes.isDirectory(nested) ? nested : directory
    }
}
