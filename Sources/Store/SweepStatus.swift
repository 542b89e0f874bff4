import GRDB

/// A sweep's state, as `sweeps.status` stores it and the API reports it.
public enum SweepStatus: String, Codable, Sendable, CaseIterable, DatabaseValueConvertible {
    case active, cancelled
}
