import Foundation
import Logging
import Testing
@testable import Service

/// A server that cannot be reached for its first `outage` metric uploads (a restart), then takes them.
actor RestartingServer {
    var outage: Int
    private(set) var received: [Int] = []
    init(outage: Int) { self.outage = outage }

    struct Unreachable: Error {}

    func take(_ batch: Components.Schemas.MetricBatch) throws -> Operations.uploadMetrics.Output {
        guard outage == 0 else {
            outage -= 1
            throw Unreachable()
        }
        received += batch.metrics.map(\.step)
        return .noContent(.init())
    }
}

/// What a worker does with metrics while the server restarts: a server killed mid-request (as
/// scripts/test-chaos does) resets the connection, and the batch in flight used to be dropped —
/// a gap in the run's metrics whenever its lease outlived the restart.
@Suite struct UplinkTests {
    /// The worker (which the uplink does not keep alive) and its uplink to `server`.
    static func uplink(_ server: RestartingServer) -> (Worker, Uplink) {
        // Nothing listens on port 9: any request other than the stubbed metrics upload fails at once.
        let worker = Worker(WorkerConfiguration(server: URL(string: "http://127.0.0.1:9/api/v1")!, token: "t"))
        let uplink = Uplink(worker: worker, key: String(repeating: "a", count: 64), leaseSeconds: 60)
        uplink.deliver = { batch in try await server.take(batch) }
        return (worker, uplink)
    }

    static func metric(_ step: Int) -> Components.Schemas.Metric { .init(phase: 0, step: step, name: "test_loss", value: 1) }

    @Test func batchesTheServerCouldNotTakeGoWithTheNextOne() async throws {
        let server = RestartingServer(outage: 2)
        let (worker, uplink) = Self.uplink(server)
        defer { withExtendedLifetime(worker) {} }
        for step in [10, 20, 30] {
            var batch = [Self.metric(step)]
            await uplink.send(&batch)
            #expect(batch.isEmpty)
        }
        #expect(await server.received == [10, 20, 30])
        #expect(!uplink.leaseLost)
    }

    @Test func flushDeliversWhatTheOutageHeldBackBeforeTheRunFinishes() async throws {
        let server = RestartingServer(outage: 2)
        let (worker, uplink) = Self.uplink(server)
        defer { withExtendedLifetime(worker) {} }
        var batch = [Self.metric(10), Self.metric(20)]
        await uplink.send(&batch)
        #expect(await server.received.isEmpty)
        try await uplink.flush(log: Logger(label: "test"))
        #expect(await server.received == [10, 20])
        try await uplink.flush(log: Logger(label: "test"))
        #expect(await server.received == [10, 20], "nothing is sent twice")
    }
}
