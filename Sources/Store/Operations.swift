import Foundation
import GRDB

/// One row of the `events` table: what happened to a sweep or a run, in order.
public struct EventRecord: Codable, Sendable, Equatable, FetchableRecord, TableRecord {
    public var id: Int64
    public var at: String
    public var kind: String
    public var sweep: Int64?
    public var run: String?
    public var worker: String?
    public var detail: String?

    enum CodingKeys: String, CodingKey, CaseIterable, ColumnExpression {
        case id, at, kind, sweep = "sweep_id", run = "run_key", worker = "worker_id", detail
    }

    public static let databaseTableName = "events"
    public static var databaseSelection: [any SQLSelectable] { CodingKeys.allCases }
}

/// What an operator watches: runs by status, what is runnable now, who is alive.
public struct OperationalCounts: Sendable, Equatable {
    /// Runs by status (every status present, zeros included).
    public var runs: [RunStatus: Int]
    /// Queued runs whose parents have all succeeded (what idle workers would lease now).
    public var runnable: Int
    /// Workers seen within the liveness window.
    public var liveWorkers: Int
    /// Sweeps by status as the API reports it (active, finished, cancelled).
    public var sweeps: [SweepStatus: Int]
    /// Events so far by kind (lease_expired, retry, failed, succeeded, …): monotone totals.
    public var events: [String: Int]
}

extension Store {
    /// Events with id > `after`, oldest first, optionally of one sweep or one run.
    public func events(after: Int64 = 0, limit: Int = 1000, sweep: Int64? = nil, run: String? = nil) throws -> [EventRecord] {
        try pool.read { db in
            typealias Columns = EventRecord.CodingKeys
            var request = EventRecord.filter(Columns.id > after)
            if let sweep { request = request.filter(Columns.sweep == sweep || Self.runKeys(ofSweep: sweep).contains(Columns.run)) }
            if let run { request = request.filter(Columns.run == run) }
            return try request.order(Columns.id).limit(limit).fetchAll(db)
        }
    }

    /// The id of the newest event (0 when there is none).
    public func lastEventID() throws -> Int64 {
        try pool.read { db in try Int64.fetchOne(db, sql: "SELECT COALESCE(MAX(id), 0) FROM events") ?? 0 }
    }

    /// Counts for /metrics, in one read transaction (a consistent snapshot).
    public func operationalCounts(now: Double, liveWithin seconds: Double) throws -> OperationalCounts {
        try pool.read { db in
            let runs = Dictionary(uniqueKeysWithValues: RunStatus.allCases.map { ($0, 0) })
                .merging(try Self.runCounts(db, "SELECT status, COUNT(*) AS n FROM runs GROUP BY status")) { $1 }
            let runnable = try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM runs AS r WHERE \(Self.runnableCondition)") ?? 0
            let live = try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM workers WHERE last_seen >= ?", arguments: [now - seconds]) ?? 0
            // The status the API reports, derived as it is read (finished sweeps are not active).
            var sweeps = Dictionary(uniqueKeysWithValues: SweepStatus.allCases.map { ($0, 0) })
            let derived: SQL = "SELECT \(SweepStatus.derivedSQL) AS status, COUNT(*) AS n FROM sweeps GROUP BY 1"
            for row in try SQLRequest<Row>(literal: derived).fetchAll(db) {
                sweeps[try row.decode(SweepStatus.self, forColumn: "status")] = row["n"]
            }
            // Running totals kept by a trigger (0005): O(kinds), and deleting old events lowers none.
            var events: [String: Int] = [:]
            for row in try Row.fetchAll(db, sql: "SELECT kind, total FROM event_counts") { events[row["kind"]] = row["total"] }
            return OperationalCounts(runs: runs, runnable: runnable, liveWorkers: live, sweeps: sweeps, events: events)
        }
    }

    /// Deletes events older than `cutoff` (seconds since 1970), oldest first, at most `batch` rows
    /// a transaction and `maximum` in all, so writers wait for a short transaction at most and a
    /// first pruning of a large table is spread over housekeeping rounds. Returns how many went.
    /// Looks only at the `batch` oldest rows each time (events are appended in time order), so a
    /// round that finds nothing old costs one short index read, not a scan. Totals by kind
    /// (`event_counts`) are untouched.
    public func pruneEvents(olderThan cutoff: Double, batch: Int = 500, maximum: Int = 50_000) throws -> Int {
        guard batch > 0, maximum > 0 else { throw StoreError.invalid(field: "batch", reason: "must be positive") }
        let stamp = Self.eventTimestamp(cutoff)
        var deleted = 0
        while deleted < maximum {
            let limit = min(batch, maximum - deleted)
            let removed = try pool.write { db in
                try db.execute(sql: """
                    DELETE FROM events WHERE id IN (SELECT id FROM (SELECT id, at FROM events ORDER BY id LIMIT ?) WHERE at < ?)
                    """, arguments: [limit, stamp])
                return db.changesCount
            }
            deleted += removed
            if removed < limit { break }
        }
        return deleted
    }

    /// `at` as the events table writes it (`strftime('%Y-%m-%dT%H:%M:%fZ')`), so text order is time order.
    static func eventTimestamp(_ seconds: Double) -> String {
        let formatter = ISO8601DateFormatter()
        formatter.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        formatter.timeZone = TimeZone(identifier: "UTC")
        return formatter.string(from: Date(timeIntervalSince1970: seconds))
    }
}
