import Foundation
import GRDB

/// A run to store with a sweep: its key, canonical config, the config fields the `results` view
/// shows as columns, and the runs it waits for.
public struct NewRun: Sendable, Equatable {
    public var key: String
    public var config: String
    public var architecture: String
    public var dataset: String
    public var pruner: String
    public var mode: String?
    public var compression: Double?
    public var seed: Int64
    public var shuffle: Bool
    /// Keys of the runs this one needs finished first (its dense parent); they must be in the
    /// same submission or already stored.
    public var parents: [String]
    public var maxAttempts: Int

    public init(key: String, config: String, architecture: String, dataset: String, pruner: String, mode: String?,
                compression: Double?, seed: Int64, shuffle: Bool, parents: [String] = [], maxAttempts: Int = 3) {
        self.key = key; self.config = config; self.architecture = architecture; self.dataset = dataset
        self.pruner = pruner; self.mode = mode; self.compression = compression; self.seed = seed
        self.shuffle = shuffle; self.parents = parents; self.maxAttempts = maxAttempts
    }
}

/// What storing a sweep did.
public struct SweepSubmission: Codable, Equatable, Sendable {
    public var id: Int64
    /// Runs the sweep refers to (distinct keys, dense parents included).
    public var runs: Int
    /// Runs stored for the first time.
    public var new: Int
    /// Runs that already existed queued, running or finished: not trained again.
    public var reused: Int
    /// Runs that existed failed or cancelled and were queued again.
    public var requeued: Int
}

extension Store {
    /// Stores a sweep and its runs in one transaction (all or nothing). Existing runs with the
    /// same key are reused; failed or cancelled ones are queued again with fresh attempts (as
    /// many as this sweep allows).
    public func submitSweep(name: String, spec: String, runs: [NewRun]) throws -> SweepSubmission {
        try pool.write { db in
            try db.execute(sql: "INSERT INTO sweeps (name, spec) VALUES (?, ?)", arguments: [name, spec])
            let sweepID = db.lastInsertedRowID
            var submission = SweepSubmission(id: sweepID, runs: 0, new: 0, reused: 0, requeued: 0)
            let insert = try db.makeStatement(sql: """
                INSERT OR IGNORE INTO runs (key, config, architecture, dataset, pruner, mode, compression, seed, shuffle, max_attempts)
                VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                """)
            let status = try db.makeStatement(sql: "SELECT status FROM runs WHERE key = ?")
            let requeue = try db.makeStatement(sql: """
                UPDATE runs SET status = ?, attempts = 0, error = NULL, finished_at = NULL, max_attempts = ? WHERE key = ?
                """)
            let link = try db.makeStatement(sql: "INSERT OR IGNORE INTO sweep_runs (sweep_id, run_key) VALUES (?, ?)")
            let depend = try db.makeStatement(sql: "INSERT OR IGNORE INTO run_dependencies (run_key, parent_key) VALUES (?, ?)")
            var seen = Set<String>()
            for run in runs where seen.insert(run.key).inserted {
                try insert.execute(arguments: [run.key, run.config, run.architecture, run.dataset, run.pruner, run.mode,
                                               run.compression, run.seed, run.shuffle, run.maxAttempts])
                if db.changesCount == 1 {
                    submission.new += 1
                } else {
                    let current = try RunStatus.fetchOne(status, arguments: [run.key])
                    if current == .failed || current == .cancelled {
                        try requeue.execute(arguments: [RunStatus.queued, run.maxAttempts, run.key])
                        submission.requeued += 1
                    } else {
                        submission.reused += 1
                    }
                }
                try link.execute(arguments: [sweepID, run.key])
            }
            for run in runs {
                for parent in run.parents { try depend.execute(arguments: [run.key, parent]) }
            }
            // A dense run's final state is dropped once no child waits for it; a child queued
            // again needs it back, so such a parent trains again (same config and seed, same numbers).
            try db.execute(literal: """
                UPDATE runs SET status = \(RunStatus.queued), attempts = 0, error = NULL, finished_at = NULL
                WHERE status = \(RunStatus.succeeded) AND pruner = 'dense'
                  AND key IN (SELECT d.parent_key FROM run_dependencies d JOIN runs c ON c.key = d.run_key
                              WHERE c.status = \(RunStatus.queued))
                  AND NOT EXISTS (SELECT 1 FROM checkpoints WHERE run_key = runs.key)
                """)
            submission.requeued += db.changesCount
            submission.runs = seen.count
            try db.execute(sql: "INSERT INTO events (kind, sweep_id, detail) VALUES ('sweep_submitted', ?, ?)",
                           arguments: [sweepID, "\(submission.new) new, \(submission.reused) reused, \(submission.requeued) requeued"])
            return submission
        }
    }

    /// Cancels a sweep: its queued runs that no other active sweep needs become cancelled.
    /// Runs in progress finish (their results serve any later sweep). Returns the runs cancelled.
    @discardableResult
    public func cancelSweep(_ id: Int64) throws -> Int {
        let (cancelled, released): (Int, [String]) = try pool.write { db in
            try db.execute(literal: "UPDATE sweeps SET status = \(SweepStatus.cancelled) WHERE id = \(id)")
            guard db.changesCount == 1 else { throw StoreError.unknownSweep(id) }
            // The stored status serves here: a sweep holding a queued run is never finished.
            try db.execute(literal: """
                UPDATE runs SET status = \(RunStatus.cancelled), finished_at = strftime('%Y-%m-%dT%H:%M:%fZ', 'now')
                WHERE status = \(RunStatus.queued)
                  AND key IN (SELECT run_key FROM sweep_runs WHERE sweep_id = \(id))
                  AND NOT EXISTS (SELECT 1 FROM sweep_runs o JOIN sweeps s ON s.id = o.sweep_id
                                  WHERE o.run_key = runs.key AND s.status = \(SweepStatus.active))
                """)
            let cancelled = db.changesCount
            try db.execute(sql: "INSERT INTO events (kind, sweep_id, detail) VALUES ('sweep_cancelled', ?, ?)",
                           arguments: [id, "\(cancelled) queued runs cancelled"])
            return (cancelled, try Self.dropFinishedCheckpoints(db))
        }
        try release(released)
        return cancelled
    }

    /// Run counts of a sweep by status (statuses without runs left out).
    public func sweepCounts(_ id: Int64) throws -> [RunStatus: Int] {
        try pool.read { db in
            guard try Bool.fetchOne(db, sql: "SELECT 1 FROM sweeps WHERE id = ?", arguments: [id]) != nil else {
                throw StoreError.unknownSweep(id)
            }
            return try Self.runCounts(db, SQLRequest(literal: """
                SELECT r.status, COUNT(*) AS n FROM sweep_runs s JOIN runs r ON r.key = s.run_key
                WHERE s.sweep_id = \(id) GROUP BY r.status
                """))
        }
    }

    /// Rows of (status, n) as counts by status.
    static func runCounts(_ db: Database, _ request: SQLRequest<Row>) throws -> [RunStatus: Int] {
        var counts: [RunStatus: Int] = [:]
        for row in try request.fetchAll(db) { counts[try row.decode(RunStatus.self, forColumn: "status")] = row["n"] }
        return counts
    }

    /// The `run_key`s of sweep `id`, as a subquery (`….contains(column)` is `column IN (…)`).
    static func runKeys(ofSweep id: Int64) -> QueryInterfaceRequest<Row> {
        Table("sweep_runs").filter(Column("sweep_id") == id).select(Column("run_key"))
    }
}

/// A stored sweep, its status derived as it is read (`SweepStatus`).
public struct SweepSummary: Codable, Sendable, Equatable, FetchableRecord, TableRecord {
    public var id: Int64
    public var name: String
    public var status: SweepStatus

    public static let databaseTableName = "sweeps"

    public static var databaseSelection: [any SQLSelectable] {
        [Column("id"), Column("name"), SweepStatus.derivedSQL.forKey("status")]
    }
}

extension Store {
    /// Sweep `id`, nil when there is none.
    public func sweep(_ id: Int64) throws -> SweepSummary? {
        try pool.read { db in try SweepSummary.fetchOne(db, key: id) }
    }

    /// Every sweep, newest first.
    public func sweeps() throws -> [SweepSummary] {
        try pool.read { db in try SweepSummary.order(Column("id").desc).fetchAll(db) }
    }
}

