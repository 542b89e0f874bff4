import Foundation
import GRDB
@testable import Service
import Store
import Testing

/// The store's statuses and result rows against the OpenAPI document's types.
@Suite struct StatusMappingTests {
    /// The document names the same statuses as the store: the switches in ServiceAPI catch a case
    /// the store has and the document lacks; these catch the reverse.
    @Test func statusEnumsMatchTheDocument() {
        let run = Set(RunStatus.allCases.map(\.rawValue))
        #expect(Set(Components.Schemas.Run.statusPayload.allCases.map(\.rawValue)) == run)
        #expect(Set(Components.Schemas.RunStatusName.allCases.map(\.rawValue)) == run)
        #expect(Set(Components.Schemas.Sweep.statusPayload.allCases.map(\.rawValue)) == Set(SweepStatus.allCases.map(\.rawValue)))
        for status in RunStatus.allCases {
            #expect(ServiceAPI.status(status).rawValue == status.rawValue)
            #expect(ServiceAPI.status(Components.Schemas.RunStatusName(rawValue: status.rawValue)!) == status)
        }
        for status in SweepStatus.allCases { #expect(ServiceAPI.status(status).rawValue == status.rawValue) }
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
}
