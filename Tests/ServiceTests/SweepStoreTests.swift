import Experiments
import Foundation
import Service
import Store
import Testing

@Suite struct SweepStoreTests {
    /// Expansion then storage of a 7 000-run sweep, and the same sweep again: nothing new.
    @Test func largeSweepIsStoredOnceAndReusedOnResubmission() throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("prunelab-sweep-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let store = try Store(path: directory.appendingPathComponent("db.sqlite").path)
        let seeds = (0..<700).map(String.init).joined(separator: ", ")
        let document = Data("""
            {"name": "big", "base": {"architecture": "lenet300-100", "dataset": "synthetic", "training": {"iterations": 10}},
             "grid": {"pruner": ["random/uniform", "random/erk", "random/igq", "snip", "synflow"], "compression": [10, 100],
                      "seed": [\(seeds)]}}
            """.utf8)
        let spec = try SweepSpec(parsing: document)
        let runs = try spec.runs().map { NewRun($0, maxAttempts: spec.maxAttempts) }
        #expect(runs.count == 7000)
        let text = String(decoding: document, as: UTF8.self)
        let first = try store.submitSweep(name: spec.name, spec: text, runs: runs)
        #expect(first.new == 7000 && first.runs == 7000)
        let second = try store.submitSweep(name: spec.name, spec: text, runs: try spec.runs().map { NewRun($0, maxAttempts: 3) })
        #expect(second.new == 0 && second.reused == 7000)
        #expect(try store.sweepCounts(second.id) == [.queued: 7000])
    }
}
