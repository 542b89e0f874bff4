import Foundation
import GRDB
import Store
import Testing

func temporaryDatabase() throws -> (Store, URL) {
    let directory = FileManager.default.temporaryDirectory.appendingPathComponent("prunelab-store-\(UUID().uuidString)")
    try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
    return (try Store(path: directory.appendingPathComponent("prunelab.sqlite").path), directory)
}

/// A run with a recognisable fake key (64 hex digits).
func newRun(_ name: String, pruner: String = "random/erk", compression: Double? = 10, parents: [String] = [],
            maxAttempts: Int = 3) -> NewRun {
    let key = String(repeating: "0", count: 64 - name.count) + name
    return NewRun(key: key, config: "{\"pruner\": \"\(pruner)\", \"training\": {\"iterations\": 100, \"batch_size\": 50}}",
                  architecture: "lenet300-100", dataset: "fashion-mnist", pruner: pruner, mode: compression == nil ? nil : "direct",
                  compression: compression, seed: 0, shuffle: false, parents: parents, maxAttempts: maxAttempts)
}

func count(_ store: Store, _ table: String) throws -> Int {
    try store.pool.read { db in try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM \(table)") ?? -1 }
}

@Suite struct StoreSchemaTests {
    @Test func opensInWALWithForeignKeysAndRecordsMigrations() throws {
        let (store, directory) = try temporaryDatabase()
        defer { try? FileManager.default.removeItem(at: directory) }
        #expect(try store.journalMode() == "wal")
        #expect(try store.appliedMigrations() == ["0001_initial", "0002_queue_index"])
        #expect(try store.pool.read { db in try Int.fetchOne(db, sql: "PRAGMA foreign_keys") } == 1)
        // Reopening applies nothing twice.
        let again = try Store(path: store.path)
        #expect(try again.appliedMigrations() == ["0001_initial", "0002_queue_index"])
        for table in ["sweeps", "runs", "sweep_runs", "run_dependencies", "metrics", "layers", "masks", "checkpoints", "workers", "events"] {
            #expect(try count(store, table) == 0, "\(table)")
        }
        #expect(try count(store, "results") == 0)
    }

    /// Leasing walks queued runs in submission order through the partial index: no sort of the
    /// whole queue per lease (which made 7 000-run queues lease at ~100 per second).
    @Test func leaseQueryUsesTheQueueIndexWithoutSorting() throws {
        let (store, directory) = try temporaryDatabase()
        defer { try? FileManager.default.removeItem(at: directory) }
        let plan = try store.pool.read { db in
            try Row.fetchAll(db, sql: "EXPLAIN QUERY PLAN " + Store.nextRunnableSQL).map { $0["detail"] as String }
        }
        #expect(plan.contains { $0.contains("USING INDEX runs_queued") }, "\(plan)")
        #expect(!plan.contains { $0.contains("TEMP B-TREE") }, "\(plan)")
    }

    /// The binary carries the migrations; they must be exactly the files in `migrations/`, all of them.
    @Test func embeddedMigrationsAreTheFilesInMigrations() throws {
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        let folder = root.appendingPathComponent("migrations")
        let files = try FileManager.default.contentsOfDirectory(atPath: folder.path).filter { $0.hasSuffix(".sql") }.sorted()
        #expect(files.map { String($0.dropLast(4)) } == Store.migrations.map(\.name))
        for (file, migration) in zip(files, Store.migrations) {
            let text = try String(contentsOf: folder.appendingPathComponent(file), encoding: .utf8)
            #expect(text == migration.sql, "\(file) differs from the embedded copy: rebuild")
        }
    }
}

@Suite struct StoreQueueTests {
    @Test func resubmittingReusesAndFailedRunsAreRequeued() throws {
        let (store, directory) = try temporaryDatabase()
        defer { try? FileManager.default.removeItem(at: directory) }
        let runs = [newRun("a1", maxAttempts: 1), newRun("a2"), newRun("a3")]
        let first = try store.submitSweep(name: "s", spec: "{}", runs: runs + [runs[0]])
        #expect(first.runs == 3 && first.new == 3 && first.reused == 0 && first.requeued == 0)
        try store.registerWorker(id: "w", host: "h", device: "cpu", pid: 1, now: 0)
        let lease = try #require(try store.lease(worker: "w", now: 0, duration: 60))
        #expect(lease.key == runs[0].key && lease.attempt == 1)
        // One attempt allowed: the failure is final, and resubmitting queues the run again.
        #expect(try store.fail(key: runs[0].key, worker: "w", error: "boom") == "failed")
        let second = try store.submitSweep(name: "s again", spec: "{}", runs: runs)
        #expect(second.new == 0 && second.reused == 2 && second.requeued == 1)
        let status = try store.runStatus(runs[0].key)
        #expect(status.status == "queued" && status.attempts == 0 && status.error == nil)
        #expect(try count(store, "runs") == 3 && count(store, "sweeps") == 2 && count(store, "sweep_runs") == 6)
    }

    @Test func failedSubmissionChangesNothing() throws {
        let (store, directory) = try temporaryDatabase()
        defer { try? FileManager.default.removeItem(at: directory) }
        _ = try store.submitSweep(name: "ok", spec: "{}", runs: [newRun("c1")])
        let before = try ["sweeps", "runs", "sweep_runs", "run_dependencies", "events"].map { try count(store, $0) }
        // The second run names a parent that exists nowhere: the foreign key fails the whole sweep.
        #expect(throws: (any Error).self) {
            try store.submitSweep(name: "bad", spec: "{}", runs: [newRun("c2"), newRun("c3", parents: [newRun("missing").key])])
        }
        #expect(throws: (any Error).self) { try store.submitSweep(name: "bad", spec: "{}", runs: [newRun("c4", compression: 1)]) }
        #expect(try ["sweeps", "runs", "sweep_runs", "run_dependencies", "events"].map { try count(store, $0) } == before)
    }

    @Test func parentsRunBeforeChildrenAndFailuresRetryThenCascade() throws {
        let (store, directory) = try temporaryDatabase()
        defer { try? FileManager.default.removeItem(at: directory) }
        let parent = newRun("d0", pruner: "dense", compression: nil, maxAttempts: 2)
        let child = newRun("d1", pruner: "magnitude/global", parents: [parent.key])
        // Child listed first: the queue still serves the parent first and holds the child back.
        _ = try store.submitSweep(name: "s", spec: "{}", runs: [child, parent])
        try store.registerWorker(id: "w", host: "h", device: "cpu", pid: nil, now: 0)
        let first = try #require(try store.lease(worker: "w", now: 0, duration: 60))
        #expect(first.key == parent.key)
        #expect(try store.lease(worker: "w", now: 1, duration: 60) == nil, "the child waits for its parent")
        #expect(try store.fail(key: parent.key, worker: "w", error: "out of memory") == "queued")
        let retry = try #require(try store.lease(worker: "w", now: 2, duration: 60))
        #expect(retry.key == parent.key && retry.attempt == 2)
        #expect(try store.fail(key: parent.key, worker: "w", error: "out of memory again") == "failed")
        let status = try store.runStatus(child.key)
        #expect(status.status == "failed" && status.error?.contains(parent.key) == true)
        #expect(try store.runStatus(parent.key).error == "out of memory again")
        #expect(try store.lease(worker: "w", now: 3, duration: 60) == nil)
    }

    /// An expired lease goes back to the queue with its checkpoint; the old worker's writes are
    /// refused from then on.
    @Test func expiredLeaseIsResumedByAnotherWorker() throws {
        let (store, directory) = try temporaryDatabase()
        defer { try? FileManager.default.removeItem(at: directory) }
        let run = newRun("e1")
        _ = try store.submitSweep(name: "s", spec: "{}", runs: [run])
        try store.registerWorker(id: "a", host: "h", device: "cpu", pid: nil, now: 0)
        try store.registerWorker(id: "b", host: "h", device: "cpu", pid: nil, now: 0)
        _ = try #require(try store.lease(worker: "a", now: 0, duration: 10))
        try store.heartbeat(key: run.key, worker: "a", now: 5, duration: 10, step: 40, totalSteps: 100)
        try store.saveCheckpoint(key: run.key, worker: "a", phase: 0, step: 40, data: Data([1, 2, 3]))
        try store.recordMetrics(key: run.key, worker: "a", [MetricSample(phase: 0, step: 40, name: "test_accuracy", value: 0.5)])
        #expect(try store.lease(worker: "b", now: 14, duration: 10) == nil, "a's lease runs to 15")
        let resumed = try #require(try store.lease(worker: "b", now: 16, duration: 10))
        #expect(resumed.key == run.key && resumed.attempt == 2 && resumed.hasCheckpoint)
        #expect(try store.checkpoint(run.key) == Data([1, 2, 3]))
        #expect(throws: StoreError.leaseLost(run: run.key, worker: "a")) {
            try store.heartbeat(key: run.key, worker: "a", now: 17, duration: 10, step: 50, totalSteps: 100)
        }
        // Re-sent metrics replace, they do not duplicate.
        try store.recordMetrics(key: run.key, worker: "b", [MetricSample(phase: 0, step: 40, name: "test_accuracy", value: 0.5)])
        #expect(try count(store, "metrics") == 1)
        #expect(try store.pool.read { db in try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM events WHERE kind = 'lease_expired'") } == 1)
    }

    @Test func finishedRunAppearsInTheResultsView() throws {
        let (store, directory) = try temporaryDatabase()
        defer { try? FileManager.default.removeItem(at: directory) }
        let run = newRun("f1")
        _ = try store.submitSweep(name: "s", spec: "{}", runs: [run])
        try store.registerWorker(id: "w", host: "h", device: "cpu", pid: nil, now: 0)
        _ = try store.lease(worker: "w", now: 0, duration: 60)
        try store.saveCheckpoint(key: run.key, worker: "w", phase: 0, step: 1, data: Data([9]))
        let figures = FinalFigures(testAccuracy: 0.8, testLoss: 0.5, totalWeights: 1000, kept: 100, effective: 80,
                                   directCompression: 10, effectiveCompression: 12.5, wallSeconds: 3, imagesPerSecond: 1e4,
                                   result: "{}")
        try store.finish(key: run.key, worker: "w", figures: figures,
                         layers: [LayerSample(name: "fc1", shape: [10, 100], size: 1000, kept: 100, effective: 80, quota: 0.1)],
                         masks: [(0, "direct", Data(repeating: 0xFF, count: 125))])
        let row = try #require(try store.pool.read { db in try Row.fetchOne(db, sql: "SELECT * FROM results") })
        #expect(row["key"] as String == run.key && row["status"] as String == "succeeded")
        #expect(row["architecture"] as String == "lenet300-100" && row["pruner"] as String == "random/erk")
        #expect(row["target_compression"] as Double == 10 && row["iterations"] as Int == 100 && row["batch_size"] as Int == 50)
        #expect(row["test_accuracy"] as Double == 0.8 && row["effective_compression"] as Double == 12.5)
        #expect(abs((row["direct_sparsity"] as Double) - 0.9) < 1e-12 && abs((row["effective_sparsity"] as Double) - 0.92) < 1e-12)
        #expect(try count(store, "checkpoints") == 0)
        #expect(try count(store, "layers") == 1)
        #expect(try count(store, "masks") == 1)
        #expect(throws: StoreError.leaseLost(run: run.key, worker: "w")) {
            try store.fail(key: run.key, worker: "w", error: "late")
        }
    }

    @Test func cancellingASweepSparesRunsAnotherActiveSweepNeeds() throws {
        let (store, directory) = try temporaryDatabase()
        defer { try? FileManager.default.removeItem(at: directory) }
        let shared = newRun("g0"), own = newRun("g1")
        let first = try store.submitSweep(name: "one", spec: "{}", runs: [shared, own])
        _ = try store.submitSweep(name: "two", spec: "{}", runs: [shared])
        #expect(try store.cancelSweep(first.id) == 1)
        #expect(try store.runStatus(own.key).status == "cancelled")
        #expect(try store.runStatus(shared.key).status == "queued")
        #expect(try store.sweepCounts(first.id) == ["cancelled": 1, "queued": 1])
        #expect(throws: StoreError.unknownSweep(99)) { try store.cancelSweep(99) }
    }
}
