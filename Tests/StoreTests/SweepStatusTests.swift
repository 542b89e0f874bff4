import Foundation
import GRDB
import Store
import Testing

/// A sweep's status is derived when read: `finished` once none of its runs is queued, leased or
/// running; `cancelled` as stored; `active` otherwise.
@Suite struct SweepStatusTests {
    /// Sets the runs' statuses by hand (as the CHECKs allow: leased and running runs have a worker
    /// and a lease), then reads the sweep through both reads.
    @Test(arguments: [
        ([RunStatus.succeeded, .failed], false, SweepStatus.finished),
        ([.succeeded, .succeeded], false, .finished),
        ([.failed, .cancelled], false, .finished),
        ([.succeeded, .queued], false, .active),
        ([.failed, .leased], false, .active),
        ([.running], false, .active),
        ([.queued, .queued], false, .active),
        ([.succeeded, .failed], true, .cancelled),
        ([.running, .cancelled], true, .cancelled),
    ])
    func statusFollowsTheRuns(statuses: [RunStatus], cancelled: Bool, expected: SweepStatus) throws {
        let (store, directory) = try temporaryDatabase()
        defer { try? FileManager.default.removeItem(at: directory) }
        let runs = statuses.indices.map { newRun("s\($0)") }
        let sweep = try store.submitSweep(name: "table", spec: "{}", runs: runs)
        try store.registerWorker(id: "w", host: "h", device: "cpu", pid: nil, now: 0)
        try store.pool.write { db in
            if cancelled { try db.execute(sql: "UPDATE sweeps SET status = 'cancelled' WHERE id = ?", arguments: [sweep.id]) }
            for (run, status) in zip(runs, statuses) {
                let leased = status == .leased || status == .running
                try db.execute(sql: "UPDATE runs SET status = ?, worker_id = ?, lease_expires = ? WHERE key = ?",
                               arguments: [status.rawValue, leased ? "w" : nil, leased ? 60.0 : nil, run.key])
            }
        }
        #expect(try store.sweep(sweep.id)?.status == expected)
        #expect(try store.sweeps().map(\.status) == [expected])
    }

    /// Through the queue: a sweep finishes when its last run does, whether it succeeded or failed.
    @Test func aSweepFinishesWithItsLastRun() throws {
        let (store, directory) = try temporaryDatabase()
        defer { try? FileManager.default.removeItem(at: directory) }
        let good = newRun("f1"), bad = newRun("f2", maxAttempts: 1)
        let sweep = try store.submitSweep(name: "s", spec: "{}", runs: [good, bad])
        try store.registerWorker(id: "w", host: "h", device: "cpu", pid: nil, now: 0)
        let read = try #require(try store.sweep(sweep.id))
        #expect(read.id == sweep.id && read.name == "s" && read.status == .active)
        try succeed(store, good.key, now: 1)
        #expect(try store.sweep(sweep.id)?.status == .active, "one run is still queued")
        _ = try #require(try store.lease(worker: "w", now: 2, duration: 60))
        #expect(try store.sweep(sweep.id)?.status == .active, "one run is leased")
        #expect(try store.fail(key: bad.key, worker: "w", error: "boom") == .failed)
        #expect(try store.sweep(sweep.id)?.status == .finished)
        #expect(try store.pool.read { db in try String.fetchOne(db, sql: "SELECT status FROM sweeps") } == "active",
                "finished is derived, never stored")
        #expect(try store.sweep(99) == nil)
    }

    /// A run shared by two sweeps counts in both: each finishes when it does, and a resubmission
    /// that queues a failed shared run again makes the earlier sweep active again.
    @Test func aSharedRunCountsInEverySweepThatHasIt() throws {
        let (store, directory) = try temporaryDatabase()
        defer { try? FileManager.default.removeItem(at: directory) }
        let own = newRun("o1"), shared = newRun("o2", maxAttempts: 1)
        let first = try store.submitSweep(name: "first", spec: "{}", runs: [own, shared])
        let second = try store.submitSweep(name: "second", spec: "{}", runs: [shared])
        try store.registerWorker(id: "w", host: "h", device: "cpu", pid: nil, now: 0)
        try succeed(store, own.key, now: 1)
        #expect(try store.sweeps().map(\.status) == [.active, .active], "the shared run is queued")
        _ = try #require(try store.lease(worker: "w", now: 2, duration: 60))
        try store.fail(key: shared.key, worker: "w", error: "boom")
        #expect(try store.sweeps().map(\.name) == ["second", "first"])
        #expect(try store.sweeps().map(\.status) == [.finished, .finished])
        // The failed shared run is queued again by a third sweep: the first two are active again.
        let third = try store.submitSweep(name: "third", spec: "{}", runs: [shared])
        #expect(third.requeued == 1)
        #expect(try store.sweeps().map(\.status) == [.active, .active, .active])
        // Cancelling the third spares the run the others still need; they stay active, it is cancelled.
        #expect(try store.cancelSweep(third.id) == 0)
        #expect(try [third.id, second.id, first.id].map { try store.sweep($0)?.status } == [.cancelled, .active, .active])
        try succeed(store, shared.key, now: 3)
        #expect(try store.sweeps().map(\.status) == [.cancelled, .finished, .finished])
    }
}
