/// What can go wrong reading or writing `.npz` archives and the `.npy` arrays inside them; every
/// case names the file and, where there is one, the entry (array name without `.npy`).
public enum NPZError: Error, Equatable, Sendable, CustomStringConvertible {
    /// The file is missing, a directory or unreadable.
    case cannotOpen(path: String, reason: String)
    /// The file is not a readable zip archive, or its entries are not `.npy` arrays.
    case corruptArchive(path: String, reason: String)
    /// An entry is not a valid `.npy` array (bad magic, bad header, wrong size, CRC mismatch).
    case corruptArray(path: String, entry: String, reason: String)
    /// An entry holds a dtype this reader does not convert (complex, float16, structured, objects, …).
    case unsupportedDType(path: String, entry: String, dtype: String)
    /// An array that cannot be stored as given (values that its dtype cannot hold, a shape that
    /// does not match the values, a bad or duplicate name).
    case invalidArray(path: String, entry: String, reason: String)
    /// The archive could not be written (missing directory, I/O error); nothing was left at `path`.
    case cannotWrite(path: String, reason: String)

    /// One line saying what went wrong and where.
    public var description: String {
        switch self {
        case let .cannotOpen(path, reason): "cannot open \(path): \(reason)"
        case let .corruptArchive(path, reason): "corrupt npz archive \(path): \(reason)"
        case let .corruptArray(path, entry, reason): "corrupt array '\(entry)' in \(path): \(reason)"
        case let .unsupportedDType(path, entry, dtype):
            "array '\(entry)' in \(path) has unsupported dtype \(dtype) (supported: \(NPYDType.supportedList))"
        case let .invalidArray(path, entry, reason): "cannot store array '\(entry)' in \(path): \(reason)"
        case let .cannotWrite(path, reason): "cannot write \(path): \(reason)"
        }
    }
}
