/// Errors of run configs, checkpoints and run directories: each names the field, file or run.
public enum ExperimentsError: Error, Equatable, CustomStringConvertible {
    /// The config is not valid JSON (or not an object).
    case malformedConfig(reason: String)
    /// A key the config format does not have, by its dotted path (e.g. "training.lr").
    case unknownKey(String)
    /// A field with a bad value, by its dotted path.
    case invalidField(field: String, reason: String)
    /// A checkpoint that cannot be used: corrupt, truncated, another version or another run.
    case badCheckpoint(path: String, reason: String)
    /// A run directory problem (unwritable, inconsistent).
    case runDirectory(path: String, reason: String)
    /// A run needs a parent run that failed or is missing.
    case missingParent(key: String, reason: String)

    /// The config field the error names (a dotted path), if it names one.
    public var field: String? {
        switch self {
        case let .unknownKey(key): key
        case let .invalidField(field, _): field
        default: nil
        }
    }

    public var description: String {
        switch self {
        case let .malformedConfig(reason): "config: \(reason)"
        case let .unknownKey(key): "config: unknown key '\(key)'"
        case let .invalidField(field, reason): "config field '\(field)': \(reason)"
        case let .badCheckpoint(path, reason): "checkpoint \(path): \(reason)"
        case let .runDirectory(path, reason): "run directory \(path): \(reason)"
        case let .missingParent(key, reason): "parent run \(key): \(reason)"
        }
    }
}
