import Foundation
import GRDB
import Logging
@testable import Service
import Store
import Testing
import Yams

/// The store's statuses and result rows against the OpenAPI document's types, and the sweep
/// status the API derives.
@Suite struct StatusMappingTests {
    /// The API's statuses are the store's enums (typeOverrides), and the document lists exactly
    /// their cases, so a status added to one and not the other fails here.
    @Test func statusEnumsMatchTheDocument() throws {
        let document = try #require(try Yams.load(yaml: openAPIDocument) as? [String: Any])
        let schemas = try #require((document["components"] as? [String: Any])?["schemas"] as? [String: Any])
        func names(_ schema: String) -> Set<String> { Set((schemas[schema] as? [String: Any])?["enum"] as? [String] ?? []) }
        #expect(names("RunStatusName") == Set(RunStatus.allCases.map(\.rawValue)))
        #expect(names("SweepStatusName") == Set(SweepStatus.allCases.map(\.rawValue)))
        let served: (RunStatus.Type, SweepStatus.Type) = (Components.Schemas.RunStatusName.self, Components.Schemas.SweepStatusName.self)
        #expect(served.0 == RunStatus.self && served.1 == SweepStatus.self)
    }

    /// A results row with every column set.
    static func fullRow(error: String = "out of memory") throws -> ResultRow {
        let object: [String: Any] = [
            "key": String(repeating: "a", count: 64), "architecture": "vgg16", "dataset": "cifar10", "pruner": "snip", "mode": "direct",
            "target_compression": 10.0, "seed": 3, "status": "succeeded", "attempts": 2, "test_accuracy": 0.5, "test_loss": 1.25,
            "direct_compression": 10.0, "effective_compression": 12.5, "wall_seconds": 30.0, "error": error,
        ]
        #expect(Set(object.keys) == Set(ResultRow.columnNames))
        return try JSONDecoder().decode(ResultRow.self, from: JSONSerialization.data(withJSONObject: object))
    }

    /// The API's result rows carry exactly the columns the store reads (plus `variant`, which
    /// sweep results add), so neither side can drop or rename one unnoticed.
    @Test func resultRowsKeepEveryColumnAcrossTheAPI() throws {
        var body = ServiceAPI.row(try Self.fullRow())
        body.variant = "shuffle=true"
        let json = try JSONSerialization.jsonObject(with: JSONEncoder().encode(body)) as? [String: Any] ?? [:]
        #expect(Set(json.keys) == Set(ResultRow.columnNames + ["variant"]))
        #expect(json["target_compression"] as? Double == 10 && json["status"] as? String == "succeeded" && json["seed"] as? Int == 3)
    }

    @Test func csvHasTheColumnsInOrderAndQuotesFields() throws {
        let csv = try ServiceAPI.csv([try Self.fullRow(error: "bad, \"worse\"")])
        #expect(csv == "key,architecture,dataset,pruner,mode,target_compression,seed,status,attempts,test_accuracy,test_loss,"
                + "direct_compression,effective_compression,wall_seconds,error\r\n"
                + String(repeating: "a", count: 64) + ",vgg16,cifar10,snip,direct,10.0,3,succeeded,2,0.5,1.25,10.0,12.5,30.0,"
                + "\"bad, \"\"worse\"\"\"\r\n")
    }

    static func run(_ name: String) -> NewRun {
        NewRun(key: String(repeating: "0", count: 64 - name.count) + name, config: "{}", architecture: "lenet300-100",
               dataset: "mnist", pruner: "snip", mode: "direct", compression: 10, seed: 0, shuffle: false)
    }

    /// GET /sweeps/{id} and GET /sweeps report the derived status: finished once no run is
    /// queued, leased or running, cancelled when cancelled, active otherwise.
    @Test func sweepsReportTheDerivedStatus() async throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("prunelab-status-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let store = try Store(path: directory.appendingPathComponent("db.sqlite").path)
        let (a1, a2, b1, c1) = (Self.run("a1"), Self.run("a2"), Self.run("b1"), Self.run("c1"))
        let done = try store.submitSweep(name: "done", spec: "{}", runs: [a1, a2])
        let waiting = try store.submitSweep(name: "waiting", spec: "{}", runs: [a2, b1])
        let stopped = try store.submitSweep(name: "stopped", spec: "{}", runs: [c1])
        try store.cancelSweep(stopped.id)
        try await store.pool.write { db in
            try db.execute(sql: "UPDATE runs SET status = 'succeeded' WHERE key = ?", arguments: [a1.key])
            try db.execute(sql: "UPDATE runs SET status = 'failed' WHERE key = ?", arguments: [a2.key])
        }
        let api = ServiceAPI(store: store, leaseSeconds: 60, logger: Logger(label: "test") { _ in SwiftLogNoOpLogHandler() },
                             metrics: ServiceMetrics.shared)
        var statuses: [Int64: SweepStatus] = [:]
        for id in [done.id, waiting.id, stopped.id] {
            guard case let .ok(answer) = try await api.getSweep(.init(path: .init(id: id))), case let .json(sweep) = answer.body else {
                Issue.record("GET /sweeps/\(id) failed")
                continue
            }
            statuses[id] = sweep.status
        }
        #expect(statuses == [done.id: .finished, waiting.id: .active, stopped.id: .cancelled])
        guard case let .ok(list) = try await api.listSweeps(.init()), case let .json(body) = list.body else {
            Issue.record("GET /sweeps failed")
            return
        }
        #expect(body.sweeps.map(\.status) == [.cancelled, .active, .finished])
        #expect(body.sweeps.map(\.counts.additionalProperties) == [["cancelled": 1], ["failed": 1, "queued": 1], ["succeeded": 1, "failed": 1]])
    }
}
