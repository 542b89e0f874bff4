import Figures
import Foundation
import GRDB

/// A run handed to a worker: what to execute, and where to resume from.
public struct Lease: Sendable, Equatable {
    public var key: String
    public var config: String
    /// 1 for the first attempt.
    public var attempt: Int
    public var expires: Double
    /// Whether an earlier attempt left a checkpoint to resume from (fetched separately: it may
    /// be hundreds of megabytes).
    public var hasCheckpoint: Bool
    /// Parent runs' keys (finished), whose final state the worker fetches.
    public var parents: [String]
}

/// A worker as it introduces itself when asking for work.
public struct WorkerInfo: Sendable, Equatable {
    public var id: String
    public var host: String
    public var device: String
    public var pid: Int?
    public init(id: String, host: String, device: String, pid: Int?) {
        self.id = id; self.host = host; self.device = device; self.pid = pid
    }
}

extension Store {
    /// Records (or refreshes) a worker.
    public func registerWorker(id: String, host: String, device: String, pid: Int?, now: Double) throws {
        try pool.write { db in try Self.register(db, WorkerInfo(id: id, host: host, device: device, pid: pid), now: now) }
    }

    static func register(_ db: Database, _ worker: WorkerInfo, now: Double) throws {
        try db.cachedStatement(sql: """
            INSERT INTO workers (id, host, device, pid, last_seen) VALUES (?, ?, ?, ?, ?)
            ON CONFLICT (id) DO UPDATE SET host = excluded.host, device = excluded.device, pid = excluded.pid,
                                           last_seen = excluded.last_seen
            """).execute(arguments: [worker.id, worker.host, worker.device, worker.pid, now])
    }

    /// Registers (or refreshes) `worker` and leases it the next runnable run, in one transaction.
    public func lease(worker: WorkerInfo, now: Double, duration: Double) throws -> Lease? {
        try pool.write { db in
            try Self.register(db, worker, now: now)
            return try Self.lease(db, worker: worker.id, now: now, duration: duration)
        }
    }

    /// Returns runs whose lease ran out to the queue (their checkpoints stay for the next
    /// attempt). Returns how many.
    @discardableResult
    public func expireLeases(now: Double) throws -> Int {
        try pool.write { db in try Self.expireLeases(db, now: now) }
    }

    static func expireLeases(_ db: Database, now: Double) throws -> Int {
        try db.cachedStatement(literal: """
            INSERT INTO events (kind, run_key, worker_id, detail)
            SELECT 'lease_expired', key, worker_id, 'attempt ' || attempts FROM runs
            WHERE status IN \(RunStatus.holdingLease) AND lease_expires < \(now)
            """).execute()
        try db.cachedStatement(literal: """
            UPDATE runs SET status = \(RunStatus.queued), worker_id = NULL, lease_expires = NULL
            WHERE status IN \(RunStatus.holdingLease) AND lease_expires < \(now)
            """).execute()
        return db.changesCount
    }

    /// The condition on `runs AS r` of a queued run whose parents have all succeeded. Statuses are
    /// literals here: the partial index `runs_queued` serves only a query that repeats its literal.
    static let runnableCondition = """
        r.status = \(RunStatus.queued.sqlLiteral)
          AND NOT EXISTS (SELECT 1 FROM run_dependencies d JOIN runs p ON p.key = d.parent_key
                          WHERE d.run_key = r.key AND p.status <> \(RunStatus.succeeded.sqlLiteral))
        """

    /// The oldest queued run whose parents have all succeeded (walks the `runs_queued` index).
    public static let nextRunnableSQL = "SELECT key, config, attempts FROM runs AS r WHERE \(runnableCondition) ORDER BY rowid LIMIT 1"

    /// Leases the oldest queued run whose parents have all succeeded to `worker` until
    /// `now + duration`, after returning expired leases to the queue; nil when nothing is ready.
    public func lease(worker: String, now: Double, duration: Double) throws -> Lease? {
        try pool.write { db in try Self.lease(db, worker: worker, now: now, duration: duration) }
    }

    static func lease(_ db: Database, worker: String, now: Double, duration: Double) throws -> Lease? {
        do {
            _ = try Self.expireLeases(db, now: now)
            try db.cachedStatement(sql: "UPDATE workers SET last_seen = ? WHERE id = ?").execute(arguments: [now, worker])
            guard let row = try Row.fetchOne(db.cachedStatement(sql: Self.nextRunnableSQL)) else { return nil }
            let key: String = row["key"]
            let attempt: Int = row["attempts"] + 1
            try db.cachedStatement(literal: """
                UPDATE runs SET status = \(RunStatus.leased), worker_id = \(worker), lease_expires = \(now + duration),
                                attempts = \(attempt), started_at = COALESCE(started_at, strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))
                WHERE key = \(key)
                """).execute()
            try db.cachedStatement(sql: "INSERT INTO events (kind, run_key, worker_id, detail) VALUES ('leased', ?, ?, ?)")
                .execute(arguments: [key, worker, "attempt \(attempt)"])
            let hasCheckpoint = try Bool.fetchOne(db.cachedStatement(sql: "SELECT EXISTS (SELECT 1 FROM checkpoints WHERE run_key = ?)"),
                                                  arguments: [key]) ?? false
            let parents = try String.fetchAll(db.cachedStatement(sql: "SELECT parent_key FROM run_dependencies WHERE run_key = ? ORDER BY parent_key"),
                                              arguments: [key])
            return Lease(key: key, config: row["config"], attempt: attempt, expires: now + duration, hasCheckpoint: hasCheckpoint,
                         parents: parents)
        }
    }

    /// Throws `leaseLost` unless `worker` holds `key`'s lease (checked inside write transactions).
    static func requireLease(_ db: Database, key: String, worker: String) throws {
        guard let holder = try RunState.fetchOne(db.cachedStatement(literal: "SELECT \(columnsOf: RunState.self) FROM runs WHERE key = \(key)"))
        else { throw StoreError.unknownRun(key) }
        guard holder.status.holdsLease, holder.worker == worker else { throw StoreError.leaseLost(run: key, worker: worker) }
    }

    /// Extends the lease and records progress; marks the run running.
    public func heartbeat(key: String, worker: String, now: Double, duration: Double, step: Int?, totalSteps: Int?) throws {
        try pool.write { db in
            try Self.requireLease(db, key: key, worker: worker)
            try db.cachedStatement(literal: """
                UPDATE runs SET status = \(RunStatus.running), lease_expires = \(now + duration), step = COALESCE(\(step), step),
                                total_steps = COALESCE(\(totalSteps), total_steps)
                WHERE key = \(key)
                """).execute()
            try db.cachedStatement(sql: "UPDATE workers SET last_seen = ? WHERE id = ?").execute(arguments: [now, worker])
        }
    }

    /// Stores a batch of metrics (re-sent metrics after a resume replace their earlier values).
    public func recordMetrics(key: String, worker: String, _ samples: [MetricRecord]) throws {
        try pool.write { db in
            try Self.requireLease(db, key: key, worker: worker)
            let statement = try db.makeStatement(sql: "INSERT OR REPLACE INTO metrics (run_key, phase, step, name, value) VALUES (?, ?, ?, ?, ?)")
            for sample in samples {
                try statement.execute(arguments: [key, sample.phase, sample.step, sample.name, sample.value.isNaN ? nil : sample.value])
            }
        }
    }

    /// Records `sha256` (already committed to the artifact store) as the run's latest checkpoint,
    /// in the transaction that checks the lease; the checkpoint it replaces is removed. An
    /// artifact that is not in the store is refused (`StoreError.invalid`).
    public func saveCheckpoint(key: String, worker: String, phase: Int, step: Int, sha256: String, size: Int) throws {
        let replaced: String? = try pool.write { db in
            try Self.requireLease(db, key: key, worker: worker)
            // Checked inside the write transaction, which also serialises `release`: a file that is
            // here now stays until a later transaction finds nothing referring to it.
            guard artifacts.size(of: sha256) == size else {
                throw StoreError.invalid(field: "body", reason: "checkpoint \(sha256) is not in the artifact store")
            }
            let previous = try String.fetchOne(db, sql: "SELECT sha256 FROM checkpoints WHERE run_key = ?", arguments: [key])
            try db.execute(sql: "INSERT OR REPLACE INTO checkpoints (run_key, phase, step, sha256, size) VALUES (?, ?, ?, ?, ?)",
                           arguments: [key, phase, step, sha256, size])
            return previous == sha256 ? nil : previous
        }
        if let replaced { try release([replaced]) }
    }

    /// Stores a leased run's packed masks of one kind (`layers`: one per prunable layer, in
    /// canonical order), replacing any earlier upload. They become part of the run's results when
    /// it finishes (`finish` checks them against its per-layer counts).
    public func saveMasks(key: String, worker: String, kind: String, layers: [Data]) throws {
        try pool.write { db in
            try Self.requireLease(db, key: key, worker: worker)
            try db.execute(sql: "DELETE FROM masks WHERE run_key = ? AND kind = ?", arguments: [key, kind])
            let insert = try db.makeStatement(sql: "INSERT INTO masks (run_key, layer_index, kind, bits) VALUES (?, ?, ?, ?)")
            for (index, bits) in layers.enumerated() { try insert.execute(arguments: [key, index, kind, bits]) }
        }
    }

    /// Removes artifacts that no checkpoint refers to any more (an upload whose recording failed,
    /// a replaced checkpoint). Runs in a write transaction so that it cannot interleave with
    /// `saveCheckpoint` recording the same hash.
    public func release(_ hashes: [String]) throws {
        guard !hashes.isEmpty else { return }
        try pool.write { db in
            for hash in hashes {
                let used = try Bool.fetchOne(db, sql: "SELECT EXISTS (SELECT 1 FROM checkpoints WHERE sha256 = ?) "
                                                 + "OR EXISTS (SELECT 1 FROM models WHERE sha256 = ?)", arguments: [hash, hash]) ?? true
                if !used { try artifacts.remove(hash) }
            }
        }
    }

    /// Drops, in `db`'s transaction, the checkpoints nothing needs any more: those of finished
    /// runs other than dense ones, and a dense run's final state once none of its children still
    /// waits to run. Returns their hashes (to `release` after the commit).
    static func dropFinishedCheckpoints(_ db: Database) throws -> [String] {
        let hashes = try String.fetchAll(db, SQLRequest(literal: "SELECT c.sha256 \(finishedCheckpoints)"))
        try db.execute(literal: "DELETE FROM checkpoints WHERE run_key IN (SELECT c.run_key \(finishedCheckpoints))")
        return hashes
    }

    /// FROM/WHERE of the checkpoints nothing needs any more (see `dropFinishedCheckpoints`), as `c`.
    static let finishedCheckpoints: SQL = """
            FROM checkpoints c JOIN runs r ON r.key = c.run_key
            WHERE r.status IN \(RunStatus.finished)
              AND (r.pruner <> 'dense' OR r.status <> \(RunStatus.succeeded) OR NOT EXISTS (
                   SELECT 1 FROM run_dependencies d JOIN runs child ON child.key = d.run_key
                   WHERE d.parent_key = r.key AND child.status IN \(RunStatus.unfinished)))
            """

    /// Records a succeeded run: its figures (the per-layer table in `layers`, the totals and
    /// compressions it implies in the run's columns, the whole as `result`), after checking them
    /// against the masks the worker uploaded (`saveMasks`: both kinds, as many bits set per layer
    /// as the table says, effective ⊆ direct). Drops the checkpoints nothing needs any more.
    public func finish(key: String, worker: String, figures: RunFigures) throws {
        let encoder = JSONEncoder()
        encoder.outputFormatting = .sortedKeys
        let result = String(decoding: try encoder.encode(figures), as: UTF8.self)
        func finite(_ value: Double) -> Double? { value.isFinite ? value : nil }
        let released: [String] = try pool.write { db in
            try Self.requireLease(db, key: key, worker: worker)
            try Self.checkMasks(db, key: key, layers: figures.layers)
            try db.cachedStatement(sql: """
                UPDATE runs SET status = ?, worker_id = NULL, lease_expires = NULL, error = NULL,
                    finished_at = strftime('%Y-%m-%dT%H:%M:%fZ', 'now'), test_accuracy = ?, test_loss = ?, total_weights = ?,
                    kept = ?, effective = ?, direct_compression = ?, effective_compression = ?, wall_seconds = ?,
                    images_per_second = ?, result = ?, step = total_steps
                WHERE key = ?
                """).execute(arguments: [RunStatus.succeeded, figures.testAccuracy, finite(figures.testLoss), figures.total, figures.kept,
                                 figures.effective, finite(figures.directCompression), finite(figures.effectiveCompression),
                                 figures.wallSeconds, figures.imagesPerSecond, result, key])
            try db.cachedStatement(sql: "DELETE FROM layers WHERE run_key = ?").execute(arguments: [key])
            let layer = try db.makeStatement(sql: """
                INSERT INTO layers (run_key, layer_index, name, shape, size, kept, effective, quota) VALUES (?, ?, ?, ?, ?, ?, ?, ?)
                """)
            for (index, row) in figures.layers.enumerated() {
                let shape = "[" + row.shape.map(String.init).joined(separator: ",") + "]"
                try layer.execute(arguments: [key, index, row.name, shape, row.size, row.kept, row.effective, row.quota])
            }
            try db.cachedStatement(sql: "INSERT INTO events (kind, run_key, worker_id) VALUES ('succeeded', ?, ?)").execute(arguments: [key, worker])
            // A dense run keeps its final state (uploaded as its last checkpoint) while children wait to prune it.
            return try Self.dropFinishedCheckpoints(db)
        }
        try release(released)
    }

    /// Bits set in two packed masks of equal length, and whether the second sets any the first does not.
    static func countBits(direct: Data, effective: Data) -> (direct: Int, effective: Int, outside: Bool) {
        direct.withUnsafeBytes { d in
            effective.withUnsafeBytes { e in
                var kept = 0, live = 0, outside: UInt8 = 0
                for i in 0..<min(d.count, e.count) {
                    kept += d[i].nonzeroBitCount
                    live += e[i].nonzeroBitCount
                    outside |= e[i] & ~d[i]
                }
                return (kept, live, outside != 0)
            }
        }
    }

    /// The uploaded masks of `key` agree with `layers`: one per layer and kind, as many bits set as
    /// the layer's kept (direct) and effective counts, and no effective weight the direct mask prunes.
    static func checkMasks(_ db: Database, key: String, layers: [LayerFigures]) throws {
        var masks: [String: [Int: Data]] = ["direct": [:], "effective": [:]]
        for row in try Row.fetchAll(db, sql: "SELECT layer_index, kind, bits FROM masks WHERE run_key = ?", arguments: [key]) {
            masks[row["kind"], default: [:]][row["layer_index"]] = row["bits"]
        }
        for (kind, field) in [("direct", "masks"), ("effective", "effective_masks")] {
            guard masks[kind]?.count == layers.count else {
                throw StoreError.invalid(field: field, reason: "\(masks[kind]?.count ?? 0) \(kind) masks uploaded for \(layers.count) layers")
            }
        }
        for (index, layer) in layers.enumerated() {
            guard let direct = masks["direct"]?[index], let effective = masks["effective"]?[index],
                  direct.count == (layer.size + 7) / 8, effective.count == direct.count else {
                throw StoreError.invalid(field: "layers", reason: "layer \(index) (\(layer.name)): its masks do not have \(layer.size) bits")
            }
            let (kept, live, outside) = Self.countBits(direct: direct, effective: effective)
            guard kept == layer.kept else {
                throw StoreError.invalid(field: "layers", reason: "layer \(index) (\(layer.name)) reports \(layer.kept) kept weights, its mask sets \(kept)")
            }
            guard live == layer.effective else {
                throw StoreError.invalid(field: "layers",
                                         reason: "layer \(index) (\(layer.name)) reports \(layer.effective) effective weights, its effective mask sets \(live)")
            }
            guard !outside else {
                throw StoreError.invalid(field: "effective_masks", reason: "effective mask \(index) keeps weights its direct mask prunes")
            }
        }
    }

    /// Records a failed attempt: the run goes back to the queue while attempts remain, else it
    /// fails for good (with its error), and so do the runs waiting on it. Returns the new status.
    @discardableResult
    public func fail(key: String, worker: String, error: String) throws -> RunStatus {
        let (status, released): (RunStatus, [String]) = try pool.write { db in
            try Self.requireLease(db, key: key, worker: worker)
            guard let row = try Row.fetchOne(db, sql: "SELECT attempts, max_attempts FROM runs WHERE key = ?", arguments: [key]) else {
                throw StoreError.unknownRun(key)
            }
            let final = (row["attempts"] as Int) >= (row["max_attempts"] as Int)
            let status: RunStatus = final ? .failed : .queued
            try db.cachedStatement(sql: """
                UPDATE runs SET status = ?, worker_id = NULL, lease_expires = NULL, error = ?,
                    finished_at = CASE WHEN ? THEN strftime('%Y-%m-%dT%H:%M:%fZ', 'now') END
                WHERE key = ?
                """).execute(arguments: [status, error, final, key])
            try db.execute(sql: "INSERT INTO events (kind, run_key, worker_id, detail) VALUES (?, ?, ?, ?)",
                           arguments: [final ? "failed" : "retry", key, worker, error])
            if final {
                // Children can never run: fail them (transitively) with the reason.
                try db.cachedStatement(sql: """
                    WITH RECURSIVE blocked(key) AS (
                        SELECT run_key FROM run_dependencies WHERE parent_key = ?
                        UNION SELECT d.run_key FROM run_dependencies d JOIN blocked b ON d.parent_key = b.key)
                    UPDATE runs SET status = ?, error = 'parent run ' || ? || ' failed',
                        finished_at = strftime('%Y-%m-%dT%H:%M:%fZ', 'now')
                    WHERE key IN (SELECT key FROM blocked) AND status = ?
                    """).execute(arguments: [key, RunStatus.failed, key, RunStatus.queued])
            }
            return (status, final ? try Self.dropFinishedCheckpoints(db) : [])
        }
        try release(released)
        return status
    }

    /// The stored checkpoint of a run (its latest, or a finished dense run's final state): where
    /// it is in the artifact store.
    public func checkpoint(_ key: String) throws -> (sha256: String, size: Int, phase: Int, step: Int)? {
        try pool.read { db in
            try Row.fetchOne(db, sql: "SELECT sha256, size, phase, step FROM checkpoints WHERE run_key = ?", arguments: [key])
                .map { ($0["sha256"], $0["size"], $0["phase"], $0["step"]) }
        }
    }

    /// A run's canonical config JSON, nil for an unknown run.
    public func runConfig(_ key: String) throws -> String? {
        try pool.read { db in try String.fetchOne(db, sql: "SELECT config FROM runs WHERE key = ?", arguments: [key]) }
    }

    /// Whether `worker` holds `key`'s lease now (throws `unknownRun`); writes check again in their transaction.
    public func holdsLease(key: String, worker: String) throws -> Bool {
        try pool.read { db in
            do {
                try Self.requireLease(db, key: key, worker: worker)
                return true
            } catch StoreError.leaseLost {
                return false
            }
        }
    }
}
