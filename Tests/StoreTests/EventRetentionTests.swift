import Foundation
import GRDB
import Store
import Testing

/// Events by kind are running totals (0005's trigger), so /metrics reads a handful of rows and
/// deleting old events (retention) lowers no total.
@Suite struct EventRetentionTests {
    /// Inserts `count` events of `kind`, `age` seconds old.
    func insert(_ store: Store, kind: String, count: Int, age: Double) throws {
        let at = Date(timeIntervalSinceNow: -age)
        let formatter = ISO8601DateFormatter()
        formatter.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        try store.pool.write { db in
            for _ in 0..<count {
                try db.execute(sql: "INSERT INTO events (at, kind) VALUES (?, ?)", arguments: [formatter.string(from: at), kind])
            }
        }
    }

    func events(_ store: Store) throws -> [String: Int] {
        try store.operationalCounts(now: Date().timeIntervalSince1970, liveWithin: 60).events
    }

    @Test func totalsCountInsertsAndSurvivePruning() throws {
        let (store, directory) = try temporaryDatabase()
        defer { try? FileManager.default.removeItem(at: directory) }
        try insert(store, kind: "leased", count: 1_203, age: 10 * 86400)
        try insert(store, kind: "lease_expired", count: 7, age: 10 * 86400)
        try insert(store, kind: "leased", count: 5, age: 60)
        #expect(try events(store) == ["leased": 1_208, "lease_expired": 7])

        // Ten days old goes with a week's retention; a minute old stays. Batches of 100 with a
        // ceiling of 1 000 a round: the first round leaves 210 old events for the next.
        let cutoff = Date().timeIntervalSince1970 - 7 * 86400
        #expect(try store.pruneEvents(olderThan: cutoff, batch: 100, maximum: 1_000) == 1_000)
        #expect(try count(store, "events") == 215)
        #expect(try store.pruneEvents(olderThan: cutoff, batch: 100, maximum: 1_000) == 210)
        #expect(try store.pruneEvents(olderThan: cutoff, batch: 100, maximum: 1_000) == 0)
        #expect(try store.events(after: 0, limit: 100).map(\.kind) == Array(repeating: "leased", count: 5))
        // Totals are what happened, not what is left.
        #expect(try events(store) == ["leased": 1_208, "lease_expired": 7])
        try insert(store, kind: "lease_expired", count: 1, age: 0)
        #expect(try events(store) == ["leased": 1_208, "lease_expired": 8])
    }

    @Test func pruningStopsAtTheFirstBatchWithNothingOld() throws {
        let (store, directory) = try temporaryDatabase()
        defer { try? FileManager.default.removeItem(at: directory) }
        try insert(store, kind: "retry", count: 50, age: 0)
        // A clock stepped back wrote an old stamp after new ones: only the oldest `batch` rows are
        // looked at, so it waits until the rows before it go (no scan of the whole table).
        try insert(store, kind: "retry", count: 1, age: 30 * 86400)
        #expect(try store.pruneEvents(olderThan: Date().timeIntervalSince1970 - 86400, batch: 10) == 0)
        #expect(try count(store, "events") == 51)
        #expect(throws: StoreError.self) { try store.pruneEvents(olderThan: 0, batch: 0) }
    }

    /// A database from before 0005 gets totals of the events it already holds.
    @Test func migrationCountsExistingEvents() throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("prunelab-store-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let path = directory.appendingPathComponent("old.sqlite").path
        let old = try DatabaseQueue(path: path)
        try Store.migrator(artifacts: nil).migrate(old, upTo: "0004_strict")
        try old.write { db in
            for kind in ["leased", "leased", "failed"] { try db.execute(sql: "INSERT INTO events (kind) VALUES (?)", arguments: [kind]) }
        }
        try old.close()
        let store = try Store(path: path)
        #expect(try store.appliedMigrations().contains("0005_event_counts"))
        #expect(try events(store) == ["leased": 2, "failed": 1])
    }
}
