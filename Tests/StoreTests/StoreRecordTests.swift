import Figures
import Foundation
import GRDB
import Store
import Testing

/// Leases the next run to worker "w" (it must be `key`) and finishes it with one fully kept
/// 16-weight layer.
func succeed(_ store: Store, _ key: String, now: Double) throws {
    let lease = try #require(try store.lease(worker: "w", now: now, duration: 60))
    #expect(lease.key == key)
    for kind in ["direct", "effective"] { try store.saveMasks(key: key, worker: "w", kind: kind, layers: [packed(ones: 16, of: 16)]) }
    try store.finish(key: key, worker: "w", figures: figures([LayerFigures(name: "fc1", shape: [4, 4], size: 16, kept: 16, effective: 16)]))
}

/// A finished run's figures with this per-layer table (timings of 1 s, one step).
func figures(_ layers: [LayerFigures], testAccuracy: Double = 0.5, testLoss: Double = 1) -> RunFigures {
    RunFigures(testAccuracy: testAccuracy, testLoss: testLoss, trainLoss: 0.9, trainAccuracy: 0.6, layers: layers, steps: 1, totalSteps: 1,
               trainingSeconds: 1, wallSeconds: 1, imagesPerSecond: 1)
}

/// The records read the columns their `CodingKeys` name: the `results` view has every column
/// `ResultRow` reads, and a row reads back as written.
@Suite struct StoreRecordTests {
    @Test func resultRowColumnsAreColumnsOfTheResultsView() throws {
        let (store, directory) = try temporaryDatabase()
        defer { try? FileManager.default.removeItem(at: directory) }
        let view = try store.pool.read { db in try db.columns(in: "results").map(\.name) }
        #expect(Set(ResultRow.columnNames).isSubset(of: view), "\(ResultRow.columnNames) vs \(view)")
        #expect(ResultRow.columnNames.first == "key" && ResultRow.columnNames.count == 15)
    }

    @Test func rowsReadBackByName() throws {
        let (store, directory) = try temporaryDatabase()
        defer { try? FileManager.default.removeItem(at: directory) }
        let parent = newRun("r0", pruner: "dense", compression: nil), child = newRun("r1", pruner: "snip", parents: [parent.key])
        let sweep = try store.submitSweep(name: "s", spec: "{}", runs: [parent, child])
        try store.registerWorker(id: "w", host: "h", device: "cpu", pid: nil, now: 0)
        try succeed(store, parent.key, now: 1)
        let lease = try #require(try store.lease(worker: "w", now: 2, duration: 60))
        try store.heartbeat(key: lease.key, worker: "w", now: 3, duration: 60, step: 7, totalSteps: 70)
        try store.recordMetrics(key: lease.key, worker: "w", [MetricRecord(phase: 0, step: 7, name: "train_loss", value: .nan),
                                                             MetricRecord(phase: 0, step: 7, name: "test_accuracy", value: 0.25)])

        let run = try #require(try store.runSummary(child.key))
        #expect(run.key == child.key && run.status == .running && run.attempts == 1 && run.maxAttempts == 3 && run.worker == "w")
        #expect(run.step == 7 && run.totalSteps == 70 && run.startedAt != nil && run.finishedAt == nil && run.testAccuracy == nil)
        #expect(run.parents == [parent.key] && run.layers.isEmpty)
        let dense = try #require(try store.runSummary(parent.key))
        #expect(dense.status == .succeeded && dense.worker == nil && dense.testAccuracy == 0.5 && dense.totalWeights == 16)
        #expect(dense.directCompression == 1 && dense.wallSeconds == 1 && dense.imagesPerSecond == 1 && dense.finishedAt != nil)
        #expect(dense.layers == [LayerFigures(name: "fc1", shape: [4, 4], size: 16, kept: 16, effective: 16)])
        #expect(try store.runSummary(newRun("none").key) == nil)

        let masks = try #require(try store.masks(parent.key, kind: "direct"))
        #expect(masks.map(\.layer) == dense.layers && masks.map(\.bits) == [packed(ones: 16, of: 16)])
        #expect(try store.masks(child.key, kind: "direct") == nil)

        let metrics = try store.metrics(child.key)
        #expect(metrics.map(\.name) == ["test_accuracy", "train_loss"] && metrics[0].value == 0.25 && metrics[1].value.isNaN)

        let state = try store.runStatus(child.key)
        #expect(state.status == .running && state.attempts == 1 && state.error == nil && state.worker == "w")
        #expect(throws: StoreError.unknownRun(newRun("none").key)) { try store.runStatus(newRun("none").key) }

        let results = try store.results(sweep: sweep.id)
        #expect(results.map(\.key) == [parent.key, child.key], "ordered by pruner")
        #expect(results.map(\.status) == [.succeeded, .running] && results[0].targetCompression == nil && results[1].targetCompression == 10)
        #expect(try store.runs(RunFilter(status: .running), after: nil, limit: 10).map(\.key) == [child.key])
        #expect(try store.runs(RunFilter(sweep: sweep.id, pruner: "dense"), after: nil, limit: 10).map(\.key) == [parent.key])
        #expect(try store.runs(RunFilter(sweep: sweep.id), after: parent.key, limit: 10).map(\.key) == [child.key])
        #expect(try store.runs(RunFilter(architecture: "vgg16"), after: nil, limit: 10).isEmpty)
        #expect(try store.runs(RunFilter(), after: nil, limit: 1).count == 1)
        #expect(try results[0].columnTexts() == [parent.key, "lenet300-100", "fashion-mnist", "dense", nil, nil, "0", "succeeded", "1",
                                                 "0.5", "1.0", "1.0", "1.0", "1.0", nil])

        let events = try store.events(sweep: sweep.id)
        #expect(events.first?.kind == "sweep_submitted" && events.first?.sweep == sweep.id && events.first?.run == nil)
        #expect(events.contains { $0.kind == "leased" && $0.run == child.key && $0.worker == "w" && $0.detail == "attempt 1" })
        #expect(try store.events(run: parent.key).map(\.kind) == ["leased", "succeeded"])
        #expect(try store.events(after: events[0].id, limit: 1).map(\.id) == [events[0].id + 1])

        let counts = try store.operationalCounts(now: 3, liveWithin: 60)
        #expect(counts.runs == [.queued: 0, .leased: 0, .running: 1, .succeeded: 1, .failed: 0, .cancelled: 0])
        #expect(counts.sweeps == [.active: 1, .finished: 0, .cancelled: 0] && counts.runnable == 0 && counts.liveWorkers == 1)
    }
}
