import Foundation
import GRDB
import Logging
@testable import Service
import Store
import Testing

/// `serve --events-retention-days`: the housekeeper deletes old events in the background, and
/// /metrics keeps counting them (totals never go backwards across a scrape).
@Suite struct HousekeeperRetentionTests {
    @Test(.timeLimit(.minutes(10)))
    func oldEventsGoAndTheirTotalsStay() async throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("prunelab-housekeeper-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let store = try Store(path: directory.appendingPathComponent("db.sqlite").path)
        try Self.write(store) { db in
            for day in 0..<40 {
                try db.execute(sql: "INSERT INTO events (at, kind) VALUES (strftime('%Y-%m-%dT%H:%M:%fZ', 'now', ?), 'lease_expired')",
                               arguments: ["-\(Double(40 - day) - 0.5) days"])
            }
            try db.execute(sql: "INSERT INTO events (kind) VALUES ('succeeded')")
        }
        let metrics = ServiceMetrics()
        func total(_ kind: String) throws -> Double? {
            try metrics.scrape(store, liveWithin: 60).split(separator: "\n")
                .first { $0.hasPrefix("prunelab_events_total{kind=\"\(kind)\"} ") }.flatMap { Double($0.split(separator: " ").last!) }
        }
        #expect(try total("lease_expired") == 40 && total("succeeded") == 1)

        // 30 days: the events 39.5…30.5 days old go (10 of them), the rest stay.
        let housekeeper = Housekeeper(store: store, interval: 0.05, eventsRetention: 30 * 86400, logger: Logger(label: "test"))
        let task = Task { try await housekeeper.run() }
        defer { task.cancel() }
        // Polled until done, for up to two minutes: a busy machine may run the housekeeper late.
        var remaining = 0
        let deadline = ContinuousClock.now + .seconds(120)
        while ContinuousClock.now < deadline {
            remaining = try Self.eventRows(store)
            if remaining <= 31 { break }
            try await Task.sleep(for: .milliseconds(50))
        }
        #expect(remaining == 31)
        #expect(try total("lease_expired") == 40 && total("succeeded") == 1)
        try Self.write(store) { db in try db.execute(sql: "INSERT INTO events (kind) VALUES ('lease_expired')") }
        #expect(try total("lease_expired") == 41)
    }

    // Synchronous on purpose: inside an async test GRDB's async overloads would be chosen.
    static func write(_ store: Store, _ body: (Database) throws -> Void) throws { try store.pool.write(body) }
    static func eventRows(_ store: Store) throws -> Int {
        try store.pool.read { db in try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM events") ?? -1 }
    }
}
