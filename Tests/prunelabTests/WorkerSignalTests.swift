import Foundation
#if canImport(Glibc)
import Glibc
#endif
import Testing

/// What systemd, Slurm (scancel, preemption, time limit) and Kubernetes do to a worker: SIGTERM.
@Suite("worker stops on SIGTERM", .serialized)
struct WorkerSignalTests {
    /// Mid-run SIGTERM (one random/erk run, no dense parent): the worker exits 0 within seconds without failing the run; its lease
    /// expires and the next worker resumes the run from the last checkpoint (attempt 2).
    @Test(.timeLimit(.minutes(4)))
    func sigtermMidRunLeavesTheRunToTheNextWorker() throws {
        let (path, directory) = try ServeCommandTests.database()
        defer { try? FileManager.default.removeItem(at: directory) }
        let server = try ServerProcess(database: path, extraArguments: ["--lease-seconds", "2"])
        defer { server.stop() }
        _ = try server.request("POST", "/api/v1/sweeps",
                               body: ServiceIntegrationTests.sweep(iterations: 300, pruners: ["random/erk"], evalEvery: 15))
        let first = try WorkerProcess(server: server)
        let reached = try waitUntil(seconds: 60) {
            Int(try ServiceIntegrationTests.query(path, "SELECT COALESCE(MAX(step), 0) FROM checkpoints")) ?? 0 >= 45
        }
        #expect(reached)
        let signalled = Date()
        kill(first.process.processIdentifier, SIGTERM)
        let stopped = waitUntil(seconds: 10) { !first.process.isRunning }
        #expect(stopped, "the worker should stop within seconds of SIGTERM")
        first.stop()
        #expect(Date().timeIntervalSince(signalled) < 10)
        #expect(first.process.terminationReason == .exit && first.process.terminationStatus == 0)
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
    }

    /// SIGTERM while idle (polling an empty queue) ends the worker at once, status 0.
    @Test(.timeLimit(.minutes(1)))
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
