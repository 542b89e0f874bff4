import GRDB

/// A sweep's state as the API reports it. `sweeps.status` stores only `active` or `cancelled`
/// (what the user asked for); `finished` is derived when read: an active sweep none of whose runs
/// is queued, leased or running. Stored, it would go stale whenever a run shared with another
/// sweep changed, or a resubmission queued a run again.
public enum SweepStatus: String, Codable, Sendable, CaseIterable, DatabaseValueConvertible {
    case active, finished, cancelled

    /// The SQL expression of a `sweeps` row's status (the table or its alias named `sweeps`).
    static let derivedSQL: SQL = """
        CASE WHEN sweeps.status = \(SweepStatus.cancelled) THEN \(SweepStatus.cancelled)
             WHEN EXISTS (SELECT 1 FROM sweep_runs sr JOIN runs r ON r.key = sr.run_key
                          WHERE sr.sweep_id = sweeps.id AND r.status IN \(RunStatus.unfinished)) THEN \(SweepStatus.active)
             ELSE \(SweepStatus.finished) END
        """
}
