import Experiments
import Foundation
import Testing

/// Says stop from its `after`-th question on (steps, pruning rounds, evaluation batches all ask).
final class StopCounter: @unchecked Sendable {
    private let lock = NSLock()
    private var calls = 0
    let after: Int
    init(after: Int) { self.after = after }
    func ask() -> Bool { lock.withLock { calls += 1; return calls > after } }
}

@Suite struct RunStopTests {
    /// SIGTERM in the middle of an evaluation: the run checkpoints the steps done (their
    /// evaluation pending) and stops within one batch; resumed, it evaluates first and ends with
    /// exactly the metrics and result of an uninterrupted run.
    @Test func stopDuringEvaluationResumesWithTheSameMetrics() throws {
        // 24 steps, evaluations (10 batches of the 500 synthetic test images) after steps 8, 16, 24:
        // questions 1–8 are steps, 9–18 the first evaluation, 19–26 steps, 27–36 the second one (31: its batch 5).
        let config = try smallConfig(pruner: "random/erk", compression: 20)
        let folder = try temporaryDirectory("stop-eval")
        defer { try? FileManager.default.removeItem(at: folder) }
        let whole = try RunExecutor(config: config).run()

        let files = RunFiles(checkpoint: folder.appendingPathComponent("checkpoint.bin").path)
        let first = try RunExecutor(config: config, files: files)
        let counter = StopCounter(after: 30)
        first.stop = { _, _ in counter.ask() ? .checkpointAndStop : nil }
        do {
            _ = try first.run()
            Issue.record("the stop was ignored")
        } catch let stopped as RunInterrupted {
            #expect(stopped.step == 16 && stopped.during.hasPrefix("evaluation after step 16: batch 5 of 10"), "\(stopped)")
        }
        let checkpoint = try Checkpoint.read(path: files.checkpoint!)
        #expect(checkpoint.header.step == 16)
        #expect(checkpoint.header.metrics?.contains { $0.step == 16 } == false, "step 16's evaluation is still to do")

        let recorder = RecordingReporter()
        let resumed = try RunExecutor(config: config, reporter: recorder, files: files).run(resume: checkpoint)
        #expect(resumed.resumedFromStep == 16)
        #expect(resumed.testAccuracy == whole.testAccuracy && resumed.testLoss == whole.testLoss && resumed.trainLoss == whole.trainLoss)
        let steps = recorder.events.compactMap { if case let .metric(record) = $0, record.name == "test_accuracy" { record.step } else { nil } }
        #expect(steps == [16, 24], "the resumed run evaluates step 16 first")
    }

    /// A stop while pruning (SynFlow's rounds) ends the run before any training, at step 0.
    @Test func stopWhilePruningEndsBeforeTraining() throws {
        let config = try smallConfig(pruner: "synflow", compression: 20, extra: "\"synflow\": {\"rounds\": 1000}")
        let executor = try RunExecutor(config: config)
        let counter = StopCounter(after: 5)
        executor.stop = { _, _ in counter.ask() ? .abandon : nil }
        do {
            _ = try executor.run()
            Issue.record("the stop was ignored")
        } catch let stopped as RunInterrupted {
            #expect(stopped.step == 0 && stopped.during == "pruning: round 6 of 1000", "\(stopped)")
        }
    }
}
