/// What can go wrong when pruning or reading masks: each case names the offending input.
public enum PruningError: Error, Equatable, CustomStringConvertible {
    /// A target compression that is not a finite number above 1.
    case invalidCompression(Double)
    case unknownPruner(String)
    case unknownQuota(String)
    /// The method cannot reach the target on this architecture (e.g. uniform+ keeps the first layer dense).
    case unreachableTarget(method: String, reason: String)
    /// A mask set with the wrong number of layers.
    case maskCount(expected: Int, got: Int)
    case maskShape(layer: String, expected: [Int], got: [Int])
    /// A mask entry other than 0 or 1.
    case nonBinaryMask(layer: String, value: Float)
    /// A data-dependent pruner called without batches.
    case missingData(pruner: String)
    /// Anything else the network cannot support (a layer kind effective masks do not know).
    case unsupported(String)

    public var description: String {
        switch self {
        case let .invalidCompression(value): "compression must be a finite number greater than 1, got \(value)"
        case let .unknownPruner(name): "unknown pruner '\(name)' (known: \(PrunerName.allNames.joined(separator: ", ")))"
        case let .unknownQuota(name): "unknown quota '\(name)' (known: uniform, uniform+, erk, igq)"
        case let .unreachableTarget(method, reason): "\(method) cannot reach the target: \(reason)"
        case let .maskCount(expected, got): "expected \(expected) mask arrays (one per prunable layer), got \(got)"
        case let .maskShape(layer, expected, got): "mask for \(layer) has shape \(got), expected \(expected)"
        case let .nonBinaryMask(layer, value): "mask for \(layer) holds \(value); masks must be 0/1"
        case let .missingData(pruner): "pruner \(pruner) needs data batches"
        case let .unsupported(what): what
        }
    }
}
