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
                UPDATE runs SET status = 'queued', attempts = 0, error = NULL, finished_at = NULL, max_attempts = ? WHERE key = ?
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
                    let current = try String.fetchOne(status, arguments: [run.key])
                    if current == "failed" || current == "cancelled" {
                        try requeue.execute(arguments: [run.maxAttempts, run.key])
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
            try db.execute(sql: """
                UPDATE runs SET status = 'queued', attempts = 0, error = NULL, finished_at = NULL
                WHERE status = 'succeeded' AND pruner = 'dense'
                  AND key IN (SELECT d.parent_key FROM run_dependencies d JOIN runs c ON c.key = d.run_key WHERE c.status = 'queued')
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
            try db.execute(sql: "UPDATE sweeps SET status = 'cancelled' WHERE id = ?", arguments: [id])
            guard db.changesCount == 1 else { throw StoreError.unknownSweep(id) }
            try db.execute(sql: """
                UPDATE runs SET status = 'cancelled', finished_at = strftime('%Y-%m-%dT%H:%M:%fZ', 'now')
                WHERE status = 'queued'
                  AND key IN (SELECT run_key FROM sweep_runs WHERE sweep_id = ?)
                  AND NOT EXISTS (SELECT 1 FROM sweep_runs o JOIN sweeps s ON s.id = o.sweep_id
                                  WHERE o.run_key = runs.key AND s.status = 'active')
                """, arguments: [id])
            let cancelled = db.changesCount
            try db.execute(sql: "INSERT INTO events (kind, sweep_id, detail) VALUES ('sweep_cancelled', ?, ?)",
                           arguments: [id, "\(cancelled) queued runs cancelled"])
            return (cancelled, try Self.dropFinishedCheckpoints(db))
        }
        try release(released)
        return cancelled
    }

    /// Run counts of a sweep by status.
    public func sweepCounts(_ id: Int64) throws -> [String: Int] {
        try pool.read { db in
            guard try Bool.fetchOne(db, sql: "SELECT 1 FROM sweeps WHERE id = ?", arguments: [id]) != nil else {
                throw StoreError.unknownSweep(id)
            }
            let rows = try Row.fetchAll(db, sql: """
                SELECT r.status, COUNT(*) AS n FROM sweep_runs s JOIN runs r ON r.key = s.run_key
                WHERE s.sweep_id = ? GROUP BY r.status
                """, arguments: [id])
            return Dictionary(uniqueKeysWithValues: rows.map { ($0["status"] as String, $0["n"] as Int) })
        }
    }
}

/// A stored sweep.
public struct SweepSummary: Sendable, Equatable {
    public var id: Int64
    public var name: String
    public var status: String
}

/// A stored run's state and final figures.
/// One run as its page shows it: config, state, progress and (once succeeded) final figures.
public struct RunSummary: Sendable, Equatable {
    public var key: String
    public var config: String
    public var status: String
    public var attempts: Int
    public var maxAttempts: Int
    public var error: String?
    public var worker: String?
    public var step: Int?
    public var totalSteps: Int?
    public var createdAt: String
    public var startedAt: String?
    public var finishedAt: String?
    public var testAccuracy: Double?
    public var testLoss: Double?
    public var totalWeights: Int?
    public var kept: Int?
    public var effective: Int?
    public var directCompression: Double?
    public var effectiveCompression: Double?
    public var wallSeconds: Double?
    public var imagesPerSecond: Double?
    /// Dense runs this one prunes from.
    public var parents: [String]
    /// Per prunable layer, once the run succeeded.
    public var layers: [LayerSample]
}

extension Store {
    public func sweep(_ id: Int64) throws -> SweepSummary? {
        try pool.read { db in
            try Row.fetchOne(db, sql: "SELECT id, name, status FROM sweeps WHERE id = ?", arguments: [id]).map {
                SweepSummary(id: $0["id"], name: $0["name"], status: $0["status"])
            }
        }
    }

    /// A run's page: config, state, figures, parents and per-layer table, in one read
    /// transaction with cached statements (this is the API's hottest read).
    public func runSummary(_ key: String) throws -> RunSummary? {
        try pool.read { db in
            let run = try db.cachedStatement(sql: """
                SELECT key, config, status, attempts, max_attempts, error, worker_id, step, total_steps, created_at, started_at,
                       finished_at, test_accuracy, test_loss, total_weights, kept, effective, direct_compression,
                       effective_compression, wall_seconds, images_per_second
                FROM runs WHERE key = ?
                """)
            guard let row = try Row.fetchOne(run, arguments: [key]) else { return nil }
            let parents = try String.fetchAll(db.cachedStatement(sql: "SELECT parent_key FROM run_dependencies WHERE run_key = ? ORDER BY parent_key"),
                                              arguments: [key])
            let layers = try Row.fetchAll(db.cachedStatement(sql: Self.layersSQL), arguments: [key]).map(Self.layerSample)
            return RunSummary(key: row[0], config: row[1], status: row[2], attempts: row[3], maxAttempts: row[4], error: row[5],
                              worker: row[6], step: row[7], totalSteps: row[8], createdAt: row[9], startedAt: row[10], finishedAt: row[11],
                              testAccuracy: row[12], testLoss: row[13], totalWeights: row[14], kept: row[15], effective: row[16],
                              directCompression: row[17], effectiveCompression: row[18], wallSeconds: row[19], imagesPerSecond: row[20],
                              parents: parents, layers: layers)
        }
    }

    static let layersSQL = "SELECT name, shape, size, kept, effective, quota FROM layers WHERE run_key = ? ORDER BY layer_index"

    /// A succeeded run's masks of one kind ("direct" or "effective") with their layers, in
    /// canonical order; nil when the run has none stored.
    public func masks(_ key: String, kind: String) throws -> [(layer: LayerSample, bits: Data)]? {
        try pool.read { db in
            let rows = try Row.fetchAll(db, sql: """
                SELECT l.name, l.shape, l.size, l.kept, l.effective, l.quota, m.bits FROM layers l
                JOIN masks m ON m.run_key = l.run_key AND m.layer_index = l.layer_index AND m.kind = ?
                JOIN runs r ON r.key = l.run_key AND r.status = 'succeeded'
                WHERE l.run_key = ? ORDER BY l.layer_index
                """, arguments: [kind, key])
            let layerCount = try Int.fetchOne(db, sql: "SELECT count(*) FROM layers WHERE run_key = ?", arguments: [key]) ?? 0
            guard !rows.isEmpty, rows.count == layerCount else { return nil }
            return rows.map { (Self.layerSample($0), $0["bits"]) }
        }
    }

    /// A `layers` row (its shape is a JSON array the table's CHECK keeps valid).
    /// A row of `layersSQL` (name, shape, size, kept, effective, quota); the shape is a JSON
    /// array of integers the table's CHECK keeps valid.
    static func layerSample(_ row: Row) -> LayerSample {
        let shape = (row[1] as String).split(whereSeparator: { !$0.isNumber }).compactMap { Int($0) }
        return LayerSample(name: row[0], shape: shape, size: row[2], kept: row[3], effective: row[4], quota: row[5])
    }
}

/// One row of the `results` view.
public struct ResultRow: Codable, Sendable, Equatable {
    public var key: String
    public var architecture: String
    public var dataset: String
    public var pruner: String
    public var mode: String?
    public var targetCompression: Double?
    public var seed: Int64
    public var status: String
    public var attempts: Int
    public var testAccuracy: Double?
    public var testLoss: Double?
    public var directCompression: Double?
    public var effectiveCompression: Double?
    public var wallSeconds: Double?
    public var error: String?

    static let columns = """
        key, architecture, dataset, pruner, mode, target_compression, seed, status, attempts, test_accuracy, test_loss,
        direct_compression, effective_compression, wall_seconds, error
        """

    init(_ row: Row) {
        key = row["key"]; architecture = row["architecture"]; dataset = row["dataset"]; pruner = row["pruner"]; mode = row["mode"]
        targetCompression = row["target_compression"]; seed = row["seed"]; status = row["status"]; attempts = row["attempts"]
        testAccuracy = row["test_accuracy"]; testLoss = row["test_loss"]; directCompression = row["direct_compression"]
        effectiveCompression = row["effective_compression"]; wallSeconds = row["wall_seconds"]; error = row["error"]
    }
}

/// Which runs to list.
public struct RunFilter: Sendable, Equatable {
    public var sweep: Int64?
    public var status: String?
    public var pruner: String?
    public var architecture: String?
    public init(sweep: Int64? = nil, status: String? = nil, pruner: String? = nil, architecture: String? = nil) {
        self.sweep = sweep; self.status = status; self.pruner = pruner; self.architecture = architecture
    }
}

extension Store {
    /// Every sweep, newest first.
    public func sweeps() throws -> [SweepSummary] {
        try pool.read { db in
            try Row.fetchAll(db, sql: "SELECT id, name, status FROM sweeps ORDER BY id DESC").map {
                SweepSummary(id: $0["id"], name: $0["name"], status: $0["status"])
            }
        }
    }

    /// The results rows of a sweep's runs, ordered by pruner, mode, target and seed.
    public func results(sweep id: Int64) throws -> [ResultRow] {
        try pool.read { db in
            guard try Bool.fetchOne(db, sql: "SELECT 1 FROM sweeps WHERE id = ?", arguments: [id]) != nil else {
                throw StoreError.unknownSweep(id)
            }
            return try Row.fetchAll(db, sql: """
                SELECT \(ResultRow.columns) FROM results WHERE key IN (SELECT run_key FROM sweep_runs WHERE sweep_id = ?)
                ORDER BY pruner, mode, target_compression, seed, key
                """, arguments: [id]).map(ResultRow.init)
        }
    }

    /// Runs matching `filter` in key order, after `after` (keyset pagination), at most `limit`.
    public func runs(_ filter: RunFilter, after: String?, limit: Int) throws -> [ResultRow] {
        try pool.read { db in
            var conditions: [String] = [], arguments: [any DatabaseValueConvertible] = []
            if let sweep = filter.sweep { conditions.append("key IN (SELECT run_key FROM sweep_runs WHERE sweep_id = ?)"); arguments.append(sweep) }
            if let status = filter.status { conditions.append("status = ?"); arguments.append(status) }
            if let pruner = filter.pruner { conditions.append("pruner = ?"); arguments.append(pruner) }
            if let architecture = filter.architecture { conditions.append("architecture = ?"); arguments.append(architecture) }
            if let after { conditions.append("key > ?"); arguments.append(after) }
            let clause = conditions.isEmpty ? "" : "WHERE " + conditions.joined(separator: " AND ")
            arguments.append(limit)
            return try Row.fetchAll(db, sql: "SELECT \(ResultRow.columns) FROM results \(clause) ORDER BY key LIMIT ?",
                                    arguments: StatementArguments(arguments)).map(ResultRow.init)
        }
    }

    /// A run's metrics in order.
    public func metrics(_ key: String) throws -> [MetricSample] {
        try pool.read { db in
            try Row.fetchAll(db, sql: "SELECT phase, step, name, value FROM metrics WHERE run_key = ? ORDER BY phase, step, name",
                             arguments: [key]).map { MetricSample(phase: $0["phase"], step: $0["step"], name: $0["name"], value: $0["value"] ?? .nan) }
        }
    }
}
