import Figures
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

/// Puts `bytes` into the store's artifact store, as an upload route does; returns their address.
func artifact(_ store: Store, _ bytes: [UInt8]) throws -> (sha256: String, size: Int) {
    let upload = try store.artifacts.beginUpload()
    try bytes.withUnsafeBytes { try upload.write($0) }
    return (try upload.commit(), bytes.count)
}

/// The stored bytes of an artifact.
func contents(_ store: Store, _ sha256: String) throws -> [UInt8] {
    let reader = try store.artifacts.reader(for: sha256)
    var bytes: [UInt8] = []
    while case let chunk = try reader.read(upTo: 7), !chunk.isEmpty { bytes += chunk }
    return bytes
}

/// Packed bits with the first `ones` of `count` set.
func packed(ones: Int, of count: Int) -> Data {
    var bytes = [UInt8](repeating: 0, count: (count + 7) / 8)
    for i in 0..<ones { bytes[i >> 3] |= 1 << UInt8(i & 7) }
    return Data(bytes)
}

func count(_ store: Store, _ table: String) throws -> Int {
    try store.pool.read { db in try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM \(table)") ?? -1 }
}

@Suite struct StoreSchemaTests {
    @Test func opensInWALWithForeignKeysAndRecordsMigrations() throws {
        let (store, directory) = try temporaryDatabase()
        defer { try? FileManager.default.removeItem(at: directory) }
        #expect(try store.journalMode() == "wal")
        #expect(try store.appliedMigrations() == Store.migrations.map(\.name))
        #expect(Store.migrations.map(\.name).prefix(6) == ["0001_initial", "0002_queue_index", "0003_artifacts", "0004_strict", "0005_event_counts",
                                                            "0006_results_config"])
        #expect(try store.pool.read { db in try Int.fetchOne(db, sql: "PRAGMA foreign_keys") } == 1)
        // Reopening applies nothing twice.
        let again = try Store(path: store.path)
        #expect(try again.appliedMigrations() == Store.migrations.map(\.name))
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
        #expect(try store.fail(key: runs[0].key, worker: "w", error: "boom") == .failed)
        let second = try store.submitSweep(name: "s again", spec: "{}", runs: runs)
        #expect(second.new == 0 && second.reused == 2 && second.requeued == 1)
        let status = try store.runStatus(runs[0].key)
        #expect(status.status == .queued && status.attempts == 0 && status.error == nil)
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
        #expect(try store.fail(key: parent.key, worker: "w", error: "out of memory") == .queued)
        let retry = try #require(try store.lease(worker: "w", now: 2, duration: 60))
        #expect(retry.key == parent.key && retry.attempt == 2)
        #expect(try store.fail(key: parent.key, worker: "w", error: "out of memory again") == .failed)
        let status = try store.runStatus(child.key)
        #expect(status.status == .failed && status.error?.contains(parent.key) == true)
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
        let saved = try artifact(store, [1, 2, 3])
        try store.saveCheckpoint(key: run.key, worker: "a", phase: 0, step: 40, sha256: saved.sha256, size: saved.size)
        try store.recordMetrics(key: run.key, worker: "a", [MetricRecord(phase: 0, step: 40, name: "test_accuracy", value: 0.5)])
        #expect(try store.lease(worker: "b", now: 14, duration: 10) == nil, "a's lease runs to 15")
        let resumed = try #require(try store.lease(worker: "b", now: 16, duration: 10))
        #expect(resumed.key == run.key && resumed.attempt == 2 && resumed.hasCheckpoint)
        let stored = try #require(try store.checkpoint(run.key))
        let bytes = try contents(store, stored.sha256)
        #expect(stored.sha256 == saved.sha256 && stored.step == 40 && bytes == [1, 2, 3])
        #expect(throws: StoreError.leaseLost(run: run.key, worker: "a")) {
            try store.heartbeat(key: run.key, worker: "a", now: 17, duration: 10, step: 50, totalSteps: 100)
        }
        // Re-sent metrics replace, they do not duplicate.
        try store.recordMetrics(key: run.key, worker: "b", [MetricRecord(phase: 0, step: 40, name: "test_accuracy", value: 0.5)])
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
        let saved = try artifact(store, [9])
        try store.saveCheckpoint(key: run.key, worker: "w", phase: 0, step: 1, sha256: saved.sha256, size: saved.size)
        let finished = figures([LayerFigures(name: "fc1", shape: [10, 100], size: 1000, kept: 100, effective: 80, quota: 0.1)],
                              testAccuracy: 0.8, testLoss: 0.5)
        try store.saveMasks(key: run.key, worker: "w", kind: "direct", layers: [packed(ones: 100, of: 1000)])
        // Finishing checks the figures against the uploaded masks: the effective ones are missing.
        #expect(throws: StoreError.invalid(field: "effective_masks", reason: "0 effective masks uploaded for 1 layers")) {
            try store.finish(key: run.key, worker: "w", figures: finished)
        }
        try store.saveMasks(key: run.key, worker: "w", kind: "effective", layers: [packed(ones: 81, of: 1000)])
        #expect(throws: StoreError.self) { try store.finish(key: run.key, worker: "w", figures: finished) }
        #expect(try store.runStatus(run.key).status == .leased, "a refused finish changes nothing")
        try store.saveMasks(key: run.key, worker: "w", kind: "effective", layers: [packed(ones: 80, of: 1000)])
        try store.finish(key: run.key, worker: "w", figures: finished)
        #expect(store.artifacts.size(of: saved.sha256) == nil, "a finished run's checkpoint file is removed")
        let row = try #require(try store.pool.read { db in try Row.fetchOne(db, sql: "SELECT * FROM results") })
        #expect(row["key"] as String == run.key && row["status"] as String == "succeeded")
        #expect(row["architecture"] as String == "lenet300-100" && row["pruner"] as String == "random/erk")
        #expect(row["target_compression"] as Double == 10 && row["iterations"] as Int == 100 && row["batch_size"] as Int == 50)
        // Totals and compressions are the store's arithmetic on the per-layer table.
        #expect(row["test_accuracy"] as Double == 0.8 && row["direct_compression"] as Double == 10 && row["effective_compression"] as Double == 12.5)
        #expect(row["kept"] as Int == 100 && row["effective"] as Int == 80 && row["total_weights"] as Int == 1000)
        // The run's `result` is its figures, each once, and reads back as sent.
        let result = try #require(try store.pool.read { db in try String.fetchOne(db, sql: "SELECT result FROM runs") })
        #expect(try JSONDecoder().decode(RunFigures.self, from: Data(result.utf8)) == finished)
        #expect(!result.contains("compression") && !result.contains("\"total\""))
        #expect(abs((row["direct_sparsity"] as Double) - 0.9) < 1e-12 && abs((row["effective_sparsity"] as Double) - 0.92) < 1e-12)
        #expect(try count(store, "checkpoints") == 0)
        #expect(try count(store, "layers") == 1)
        #expect(try count(store, "masks") == 2)
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
        #expect(try store.runStatus(own.key).status == .cancelled)
        #expect(try store.runStatus(shared.key).status == .queued)
        #expect(try store.sweepCounts(first.id) == [.cancelled: 1, .queued: 1])
        #expect(throws: StoreError.unknownSweep(99)) { try store.cancelSweep(99) }
    }
}

@Suite struct ArtifactTests {
    /// A dense run's final state stays while a child waits for it, goes once none does, and a
    /// child submitted later gets the parent trained again.
    @Test func aDenseParentKeepsItsFinalStateWhileChildrenWait() throws {
        let (store, directory) = try temporaryDatabase()
        defer { try? FileManager.default.removeItem(at: directory) }
        let parent = newRun("a0", pruner: "dense", compression: nil)
        let child = newRun("a1", pruner: "magnitude/global", parents: [parent.key])
        _ = try store.submitSweep(name: "s", spec: "{}", runs: [parent, child])
        try store.registerWorker(id: "w", host: "h", device: "cpu", pid: nil, now: 0)
        func finish(_ key: String, kept: Int) throws {
            try store.saveMasks(key: key, worker: "w", kind: "direct", layers: [packed(ones: kept, of: 16)])
            try store.saveMasks(key: key, worker: "w", kind: "effective", layers: [packed(ones: kept, of: 16)])
            // A diverged run (NaN loss) finishes too: its loss is stored as NULL.
            try store.finish(key: key, worker: "w",
                             figures: figures([LayerFigures(name: "fc1", shape: [4, 4], size: 16, kept: kept, effective: kept)], testLoss: .nan))
        }
        #expect(try store.lease(worker: "w", now: 0, duration: 60)?.key == parent.key)
        let final = try artifact(store, [7, 7, 7])
        try store.saveCheckpoint(key: parent.key, worker: "w", phase: 0, step: 100, sha256: final.sha256, size: final.size)
        try finish(parent.key, kept: 16)
        #expect(try store.checkpoint(parent.key)?.sha256 == final.sha256, "the child still waits for it")
        #expect(try store.lease(worker: "w", now: 1, duration: 60)?.key == child.key)
        try finish(child.key, kept: 2)
        #expect(try store.pool.read { db in try Row.fetchOne(db, sql: "SELECT test_loss IS NULL AS null_loss, direct_compression FROM runs WHERE key = ?",
                                                             arguments: [child.key]) }.map { [$0["null_loss"] as Int, $0["direct_compression"] as Int] } == [1, 8])
        #expect(try store.checkpoint(parent.key) == nil && store.artifacts.size(of: final.sha256) == nil)
        // A new child of the same parent: the parent trains again for its final state.
        let later = newRun("a2", pruner: "lamp", parents: [parent.key])
        let submission = try store.submitSweep(name: "t", spec: "{}", runs: [later])
        #expect(submission.requeued == 1)
        #expect(try store.runStatus(parent.key).status == .queued)
        #expect(try store.lease(worker: "w", now: 2, duration: 60)?.key == parent.key)
    }

    @Test func garbageCollectionRemovesWhatNothingReferences() throws {
        let (store, directory) = try temporaryDatabase()
        defer { try? FileManager.default.removeItem(at: directory) }
        let run = newRun("b1")
        _ = try store.submitSweep(name: "s", spec: "{}", runs: [run])
        try store.registerWorker(id: "w", host: "h", device: "cpu", pid: nil, now: 0)
        _ = try store.lease(worker: "w", now: 0, duration: 60)
        let kept = try artifact(store, [1, 2, 3, 4])
        try store.saveCheckpoint(key: run.key, worker: "w", phase: 0, step: 10, sha256: kept.sha256, size: kept.size)
        let orphan = try artifact(store, Array(repeating: 5, count: 100))
        let abandoned = try store.artifacts.beginUpload()
        try [UInt8](repeating: 1, count: 10).withUnsafeBytes { try abandoned.write($0) }
        // Young files are spared: an upload may be between its file and its row.
        #expect(try store.collectGarbage(grace: 3600) == GarbageReport(keptFiles: 1, keptBytes: 4))
        let preview = try store.collectGarbage(dryRun: true, grace: 0)
        #expect(preview == GarbageReport(orphanFiles: 1, orphanBytes: 100, abandonedUploads: 1, abandonedBytes: 10, keptFiles: 1, keptBytes: 4))
        #expect(store.artifacts.size(of: orphan.sha256) == 100, "a dry run removes nothing")
        #expect(try store.collectGarbage(grace: 0) == preview)
        #expect(store.artifacts.size(of: orphan.sha256) == nil && store.artifacts.size(of: kept.sha256) == 4)
        #expect(try store.artifacts.abandonedUploads(olderThan: 0, remove: false).count == 0)
        // A checkpoint that is not in the store is refused, not recorded.
        #expect(throws: StoreError.self) {
            try store.saveCheckpoint(key: run.key, worker: "w", phase: 0, step: 20, sha256: orphan.sha256, size: 100)
        }
        #expect(try store.checkpoint(run.key)?.step == 10)
    }

    /// Every table is STRICT (0004): a hand edit that would put text where the server reads a
    /// count, or a negative count, is refused by SQLite, so no read of the server ever meets it.
    @Test func handEditsOfTheWrongTypeOrRangeAreRefused() throws {
        let (store, directory) = try temporaryDatabase()
        defer { try? FileManager.default.removeItem(at: directory) }
        let run = newRun("strict")
        _ = try store.submitSweep(name: "s", spec: "{}", runs: [run])
        let strict = try store.pool.read { db in
            try String.fetchAll(db, sql: "SELECT name FROM pragma_table_list WHERE schema = 'main' AND strict = 1 AND name NOT LIKE 'sqlite_%'")
        }
        #expect(Set(strict).isSuperset(of: ["sweeps", "runs", "sweep_runs", "run_dependencies", "metrics", "layers", "masks", "checkpoints",
                                            "workers", "events"]), "\(strict)")
        for edit in ["UPDATE runs SET attempts = 'many'", "UPDATE runs SET attempts = -1", "UPDATE runs SET step = 'x'",
                     "UPDATE runs SET seed = 1.5", "INSERT INTO metrics (run_key, phase, step, name, value) VALUES ('\(run.key)', 0, -3, 'a', 1)",
                     "INSERT INTO metrics (run_key, phase, step, name, value) VALUES ('\(run.key)', 0, 1, 'a', 'high')"] {
            #expect(throws: DatabaseError.self, "\(edit)") { try store.pool.write { db in try db.execute(sql: edit) } }
        }
        #expect(try store.runStatus(run.key).attempts == 0)
    }

    /// A database written before 0004 keeps its rows (and its results view) when made STRICT.
    @Test func strictMigrationKeepsTheRows() throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("prunelab-store-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let path = directory.appendingPathComponent("old.sqlite").path
        let parent = newRun("p"), child = newRun("c", parents: [parent.key])
        do {
            let pool = try DatabasePool(path: path)
            try Store.migrator(artifacts: nil).migrate(pool, upTo: "0003_artifacts")
            try pool.write { db in
                try db.execute(sql: "INSERT INTO sweeps (id, name, spec) VALUES (1, 's', '{}')")
                for run in [parent, child] {
                    try db.execute(sql: "INSERT INTO runs (key, config, architecture, dataset, pruner, seed, shuffle, compression) VALUES (?, '{}', 'a', 'd', 'p', 0, 0, 10)",
                                   arguments: [run.key])
                    try db.execute(sql: "INSERT INTO sweep_runs (sweep_id, run_key) VALUES (1, ?)", arguments: [run.key])
                }
                try db.execute(sql: "INSERT INTO run_dependencies (run_key, parent_key) VALUES (?, ?)", arguments: [child.key, parent.key])
                try db.execute(sql: "INSERT INTO metrics (run_key, phase, step, name, value) VALUES (?, 0, 5, 'test_accuracy', 1)", arguments: [child.key])
                try db.execute(sql: "INSERT INTO events (kind, run_key) VALUES ('leased', ?)", arguments: [child.key])
            }
        }
        let store = try Store(path: path)
        #expect(try count(store, "runs") == 2 && count(store, "sweep_runs") == 2 && count(store, "run_dependencies") == 1)
        #expect(try count(store, "results") == 2 && count(store, "events") == 1)
        #expect(try store.metrics(child.key).map(\.value) == [1.0])
        #expect(try store.pool.read { db in try Row.fetchAll(db, sql: "PRAGMA foreign_key_check") }.isEmpty)
        #expect(try store.pool.read { db in try String.fetchOne(db, sql: "PRAGMA integrity_check") } == "ok")
        // The queue's index is back: leasing still walks it.
        #expect(try store.pool.read { db in try db.indexes(on: "runs").map(\.name) }.contains("runs_queued"))
    }

    /// Databases from before 0003 kept checkpoints as BLOBs: opening one moves them into files.
    @Test func migrationMovesCheckpointBlobsIntoTheArtifactStore() throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("prunelab-store-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let path = directory.appendingPathComponent("old.sqlite").path
        let run = newRun("c1")
        do {
            let pool = try DatabasePool(path: path)
            try Store.migrator(artifacts: nil).migrate(pool, upTo: "0002_queue_index")
            try pool.write { db in
                try db.execute(sql: "INSERT INTO runs (key, config, architecture, dataset, pruner, seed, shuffle) VALUES (?, '{}', 'a', 'd', 'p', 0, 0)",
                               arguments: [run.key])
                try db.execute(sql: "INSERT INTO checkpoints (run_key, phase, step, data) VALUES (?, 0, 7, ?)", arguments: [run.key, Data([4, 5, 6])])
            }
        }
        let store = try Store(path: path)
        let stored = try #require(try store.checkpoint(run.key))
        let bytes = try contents(store, stored.sha256)
        #expect(stored.step == 7 && stored.size == 3 && bytes == [4, 5, 6])
        #expect(try store.pool.read { db in try db.tableExists("checkpoints_v1") } == false)
    }
}
