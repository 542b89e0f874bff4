import Foundation
import GRDB
@testable import Service
import Store
import Testing

/// /metrics counts sweeps by the status the API reports: a sweep whose runs are all done is
/// finished, not active.
@Suite struct SweepMetricsTests {
    static func run(_ name: String) -> NewRun {
        let key = String(repeating: "0", count: 64 - name.count) + name
        return NewRun(key: key, config: "{}", architecture: "lenet300-100", dataset: "mnist", pruner: "random/erk", mode: "direct",
                      compression: 10, seed: 0, shuffle: false, parents: [], maxAttempts: 3)
    }

    @Test func finishedSweepsAreCountedAsFinished() throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("prunelab-sweep-metrics-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let store = try Store(path: directory.appendingPathComponent("db.sqlite").path)
        let done = try store.submitSweep(name: "done", spec: "{}", runs: [Self.run("a1"), Self.run("a2")]).id
        _ = try store.submitSweep(name: "going", spec: "{}", runs: [Self.run("b1")])
        let cancelled = try store.submitSweep(name: "stopped", spec: "{}", runs: [Self.run("c1")]).id
        _ = try store.cancelSweep(cancelled)
        try store.pool.write { db in
            try db.execute(sql: "UPDATE runs SET status = 'failed', error = 'x' WHERE key IN (?, ?)",
                           arguments: [Self.run("a1").key, Self.run("a2").key])
        }
        #expect(try store.sweep(done)?.status == .finished)
        let text = try ServiceMetrics().scrape(store, liveWithin: 60)
        func count(_ status: String) -> String? {
            text.split(separator: "\n").first { $0.hasPrefix("prunelab_sweeps{status=\"\(status)\"} ") }
                .flatMap { Double($0.split(separator: " ").last!) }.map { String(Int($0)) }
        }
        #expect(count("finished") == "1" && count("active") == "1" && count("cancelled") == "1", "\(text)")
    }
}
