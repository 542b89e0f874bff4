/// Everything that can go wrong while finding, reading or validating a data set; every case
/// names the file, directory or data set it is about.
public enum DatasetError: Error, Equatable, Sendable, CustomStringConvertible {
    /// The catalog has no data set of this name.
    case unknownDataset(name: String)
    /// No directory was given and the data set has no default location.
    case noDefaultDirectory(name: String)
    /// An expected file does not exist.
    case missingFile(path: String)
    /// An expected directory does not exist (or is not a directory).
    case missingDirectory(path: String)
    /// The file exists but could not be read or written (permissions, I/O error, a directory).
    case unreadableFile(path: String, reason: String)
    /// The file's contents do not follow its format (bad magic, short, truncated gzip, bad size).
    case corruptFile(path: String, reason: String)
    /// The image file and the label file hold different numbers of samples.
    case mismatchedCounts(images: String, labels: String)
    /// A label is outside `0..<classes`.
    case labelOutOfRange(path: String, index: Int, label: Int, classes: Int)

    /// One line saying what went wrong and where.
    public var description: String {
        switch self {
        case .unknownDataset(let name):
            return "unknown dataset '\(name)'; known datasets: \(DatasetCatalog.names.joined(separator: ", "))"
        case .noDefaultDirectory(let name):
            return "dataset '\(name)' has no default directory; pass a directory that holds its files"
        case .missingFile(let path):
            return "missing file: \(path)"
        case .missingDirectory(let path):
            return "missing directory: \(path)"
        case .unreadableFile(let path, let reason):
            return "cannot access \(path): \(reason)"
        case .corruptFile(let path, let reason):
            return "corrupt file \(path): \(reason)"
        case .mismatchedCounts(let images, let labels):
            return "image file \(images) and label file \(labels) hold different numbers of samples"
        case .labelOutOfRange(let path, let index, let label, let classes):
            return "label \(label) of sample \(index) in \(path) is outside 0..<\(classes)"
        }
    }
}
