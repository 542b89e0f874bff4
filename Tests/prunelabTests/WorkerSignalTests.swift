import Foundation
#if canImport(Glibc)
import Glibc
#endif
@testable import prunelab
import Testing

/// What systemd, Slurm (scancel, preemption, time limit) and Kubernetes do to a worker: SIGTERM.
@Suite("worker stops on SIGTERM", .serialized)
struct WorkerSignalTests {
    /// Mid-run SIGTERM (one random/erk run, no dense parent): the worker uploads a checkpoint of
    /// the steps it has done and exits 0 within seconds, without failing the run; its lease expires
    /// and the next worker resumes from exactly that step (attempt 2), ending with the metrics of an
    /// uninterrupted run.
    @Test(.timeLimit(.minutes(10)))
    func sigtermMidRunCheckpointsAndLeavesTheRunToTheNextWorker() throws {
        let sweep = ServiceIntegrationTests.sweep(iterations: 300, pruners: ["random/erk"], evalEvery: 15)
        let expected = try ServiceIntegrationTests.uninterrupted(sweep).metrics

        let (path, directory) = try ServeCommandTests.database()
        defer { try? FileManager.default.removeItem(at: directory) }
        let server = try ServerProcess(database: path, extraArguments: ["--lease-seconds", "2"])
        defer { server.stop() }
        _ = try server.request("POST", "/api/v1/sweeps", body: sweep)
        guard case let .success(binary) = PrunelabBinary.location else { throw PrunelabBinary.NotFound(searched: []) }
        let log = directory.appendingPathComponent("worker.log")
        _ = FileManager.default.createFile(atPath: log.path, contents: nil)
        let first = Process()
        first.executableURL = binary
        first.arguments = ["worker", "--server", "http://127.0.0.1:\(server.port)", "--token", server.token, "--poll-interval", "0.2"]
        first.environment = PrunelabBinary.childEnvironment
        first.standardError = try FileHandle(forWritingTo: log)
        first.standardOutput = FileHandle.nullDevice
        try first.run()
        let reached = try waitUntil(seconds: 60) {
            Int(try ServiceIntegrationTests.query(path, "SELECT COALESCE(MAX(step), 0) FROM checkpoints")) ?? 0 >= 45
        }
        #expect(reached)
        let signalled = Date()
        kill(first.processIdentifier, SIGTERM)
        let stopped = waitUntil(seconds: 10) { !first.isRunning }
        #expect(stopped, "the worker should stop within seconds of SIGTERM")
        if !stopped { kill(first.processIdentifier, SIGKILL) }
        first.waitUntilExit()
        #expect(Date().timeIntervalSince(signalled) < 10)
        #expect(first.terminationReason == .exit && first.terminationStatus == 0)
        let text = (try? String(contentsOf: log, encoding: .utf8)) ?? ""
        let line = text.split(separator: "\n").first { $0.contains("run stopped on request") }.map(String.init) ?? ""
        let stoppedAt = line.split(separator: " ").first { $0.hasPrefix("step=") }.flatMap { Int($0.dropFirst(5)) }
        #expect(stoppedAt != nil, "\(text)")
        let checkpointed = Int(try ServiceIntegrationTests.query(path, "SELECT MAX(step) FROM checkpoints"))
        #expect(stoppedAt != nil && checkpointed == stoppedAt, "the server holds the checkpoint of the step it stopped at")
        let state = try ServiceIntegrationTests.query(path, "SELECT status FROM runs")
        #expect(state == "running" || state == "queued", "SIGTERM must not fail the run: \(state)")
        #expect(try ServiceIntegrationTests.query(path, "SELECT COUNT(*) FROM events WHERE kind IN ('failed', 'retry')") == "0")
        let second = try WorkerProcess(server: server)
        defer { second.stop() }
        let finished = try waitUntil(seconds: 150) {
            try ServiceIntegrationTests.query(path, "SELECT COUNT(*) FROM runs WHERE status = 'succeeded'") == "1"
        }
        #expect(finished)
        let resumed = try ServiceIntegrationTests.query(path, "SELECT attempts FROM runs")
        #expect(resumed == "2")
        let expired = try ServiceIntegrationTests.query(path, "SELECT COUNT(*) FROM events WHERE kind = 'lease_expired'")
        #expect(expired == "1")
        let resumedMetrics = try ServiceIntegrationTests.query(path, ServiceIntegrationTests.allMetrics)
        #expect(!expected.isEmpty && resumedMetrics == expected)
    }

    /// SIGTERM while idle (polling an empty queue) ends the worker at once, status 0.
    @Test(.timeLimit(.minutes(10)))
    func sigtermWhileIdleExitsAtOnce() throws {
        let (path, directory) = try ServeCommandTests.database()
        defer { try? FileManager.default.removeItem(at: directory) }
        let server = try ServerProcess(database: path)
        defer { server.stop() }
        let worker = try WorkerProcess(server: server)
        let registered = try waitUntil(seconds: 20) { try ServiceIntegrationTests.query(path, "SELECT COUNT(*) FROM workers") == "1" }
        #expect(registered)
        kill(worker.process.processIdentifier, SIGTERM)
        let stopped = waitUntil(seconds: 5) { !worker.process.isRunning }
        #expect(stopped)
        worker.stop()
        #expect(worker.process.terminationReason == .exit && worker.process.terminationStatus == 0)
    }
}
