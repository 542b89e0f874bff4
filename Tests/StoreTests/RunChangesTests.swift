import Foundation
import Store
import Testing

/// The change cursor (migration 0007) and pages of results: what the results page polls.
@Suite struct RunChangesTests {
    @Test func stateChangesMoveTheCursorProgressDoesNot() throws {
        let (store, directory) = try temporaryDatabase()
        defer { try? FileManager.default.removeItem(at: directory) }
        let runs = [newRun("a1"), newRun("a2"), newRun("a3")]
        let sweep = try store.submitSweep(name: "changes", spec: "{}", runs: runs).id
        let submitted = try store.sweepChanges(sweep)
        #expect(submitted >= 3, "each new run is a change")
        #expect(try store.results(sweep: sweep, ResultQuery(changedAfter: submitted)).rows.isEmpty)

        let lease = try #require(try store.lease(worker: WorkerInfo(id: "w", host: "h", device: "cpu", pid: nil), now: 100, duration: 60))
        let leased = try store.sweepChanges(sweep)
        #expect(leased > submitted)
        #expect(try store.results(sweep: sweep, ResultQuery(changedAfter: submitted)).rows.map(\.key) == [lease.key])

        // queued → leased → running is a change; a heartbeat's progress after that is not.
        try store.heartbeat(key: lease.key, worker: "w", now: 110, duration: 60, step: 5, totalSteps: 100)
        let running = try store.sweepChanges(sweep)
        #expect(running > leased)
        try store.heartbeat(key: lease.key, worker: "w", now: 120, duration: 60, step: 50, totalSteps: 100)
        #expect(try store.sweepChanges(sweep) == running, "progress alone moves no cursor")

        _ = try store.fail(key: lease.key, worker: "w", error: "boom")
        let failed = try store.sweepChanges(sweep)
        #expect(failed > running)
        let page = try store.results(sweep: sweep, ResultQuery(changedAfter: running))
        #expect(page.rows.map(\.key) == [lease.key] && page.total == 1 && page.changes == failed)
    }

    @Test func pagesAreSortedWithMissingValuesLastThenByKey() throws {
        let (store, directory) = try temporaryDatabase()
        defer { try? FileManager.default.removeItem(at: directory) }
        let runs = ["b1", "b2", "b3", "b4"].map { newRun($0) }
        let sweep = try store.submitSweep(name: "pages", spec: "{}", runs: runs).id
        // Two runs get an accuracy, two stay without one.
        try store.pool.write { db in
            try db.execute(sql: "UPDATE runs SET status = 'failed', error = 'x', test_accuracy = 0.3 WHERE key = ?", arguments: [runs[2].key])
            try db.execute(sql: "UPDATE runs SET status = 'failed', error = 'x', test_accuracy = 0.7 WHERE key = ?", arguments: [runs[0].key])
        }
        let descending = try store.results(sweep: sweep, ResultQuery(sort: .testAccuracy, descending: true))
        #expect(descending.rows.map(\.key) == [runs[0].key, runs[2].key, runs[1].key, runs[3].key])
        let ascending = try store.results(sweep: sweep, ResultQuery(sort: .testAccuracy))
        #expect(ascending.rows.map(\.key) == [runs[2].key, runs[0].key, runs[1].key, runs[3].key], "missing last either way")
        let second = try store.results(sweep: sweep, ResultQuery(sort: .key, descending: true, limit: 2, offset: 1))
        #expect(second.rows.map(\.key) == [runs[2].key, runs[1].key] && second.total == 4)
        #expect(try store.results(sweep: sweep, ResultQuery(offset: 3)).rows.count == 1)
    }
}
