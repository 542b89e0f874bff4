import GRDB

/// Where a run is in its life, as the `runs.status` column stores it (0004's CHECK lists the same
/// names) and the API reports it.
public enum RunStatus: String, Codable, Sendable, CaseIterable, DatabaseValueConvertible {
    case queued, leased, running, succeeded, failed, cancelled

    /// Statuses of runs still to come or in progress: a sweep holding one is not finished.
    public static let unfinished: [RunStatus] = [.queued, .leased, .running]
    /// Statuses a run keeps until it is submitted again.
    public static let finished: [RunStatus] = [.succeeded, .failed, .cancelled]
    /// Statuses of a run a worker holds the lease of (0004's CHECK: exactly these have a worker).
    public static let holdingLease: [RunStatus] = [.leased, .running]

    public var holdsLease: Bool { Self.holdingLease.contains(self) }

    /// The status as an SQL string literal, for statements that must name it in their text: a
    /// partial index (`runs_queued … WHERE status = 'queued'`) is only used when the query's
    /// WHERE clause repeats its literal, which a bound argument does not.
    var sqlLiteral: String { "'\(rawValue)'" }
}
