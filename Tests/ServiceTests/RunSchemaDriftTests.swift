import Experiments
import Figures
import Foundation
import GRDB
import Service
import Store
import Testing
import Yams

/// The run config is defined once, by `RunConfig`; the OpenAPI document's `RunConfig` schema and
/// the SQL `results` view describe it again for their readers. These tests derive the set of
/// fields from `RunConfig` itself and hold both descriptions to it, so that a field added in one
/// place and forgotten in another fails here rather than being dropped on the wire or in SQL.
@Suite struct RunSchemaDriftTests {
    /// One completed config per pruner (every pruner group appears in one of them), with the
    /// largest seed a config takes.
    static let configs: [RunConfig] = RunConfig.prunerNames.map { pruner in
        let compression = pruner == "dense" ? "" : #", "compression": 10, "mode": "effective""#
        return try! RunConfig.parse(Data(#"""
            {"architecture": "lenet300-100", "dataset": "synthetic", "pruner": "\#(pruner)"\#(compression),
             "seed": 18446744073709551615, "training": {"iterations": 20, "lr_drops": [5, 15], "augment": false}}
            """#.utf8))
    }

    /// Dotted paths of a JSON object's leaves (arrays are leaves).
    static func leaves(_ object: [String: Any], prefix: String = "") -> Set<String> {
        var paths = Set<String>()
        for (key, value) in object {
            if let nested = value as? [String: Any] { paths.formUnion(leaves(nested, prefix: prefix + key + ".")) } else { paths.insert(prefix + key) }
        }
        return paths
    }

    static func object(_ data: Data) throws -> [String: Any] {
        try #require(try JSONSerialization.jsonObject(with: data) as? [String: Any])
    }

    /// Every field of the config format, from the canonical JSON of configs that use all of them.
    static func configFields() throws -> Set<String> {
        try configs.reduce(into: Set<String>()) { $0.formUnion(leaves(try object($1.canonicalJSON))) }
    }

    @Test func everyPrunerGroupIsCovered() throws {
        let fields = try Self.configFields()
        for path in ["synflow.rounds", "snip.batches", "snip.rounds", "grasp.batches", "lth.rate", "lth.rounds", "training.lr_drops", "training.augment",
                     "mode", "compression", "format"] {
            #expect(fields.contains(path), "\(path)")
        }
    }

    /// The document's `RunConfig` names exactly the config's fields.
    @Test func openAPIRunConfigMatchesRunConfig() throws {
        let document = try #require(try Yams.load(yaml: openAPIDocument) as? [String: Any])
        let schemas = try #require((document["components"] as? [String: Any])?["schemas"] as? [String: Any])
        let schema = try #require(schemas["RunConfig"] as? [String: Any])
        func properties(_ schema: [String: Any], prefix: String = "") -> Set<String> {
            var paths = Set<String>()
            for (name, value) in schema["properties"] as? [String: Any] ?? [:] {
                let property = value as? [String: Any] ?? [:]
                if property["properties"] != nil { paths.formUnion(properties(property, prefix: prefix + name + ".")) } else { paths.insert(prefix + name) }
            }
            return paths
        }
        let fields = try Self.configFields()
        let documented = properties(schema)
        #expect(documented.subtracting(fields).isEmpty, "documented but not in RunConfig: \(documented.subtracting(fields).sorted())")
        #expect(fields.subtracting(documented).isEmpty, "in RunConfig but not documented: \(fields.subtracting(documented).sorted())")
        // What a client may send: every field but the format's version, plus the input-only ones
        // (epochs become iterations; data_dir is where this machine keeps the data).
        let input = properties(try #require(schemas["RunConfigInput"] as? [String: Any]))
        let accepted = fields.subtracting(["format"]).union(["training.epochs", "data_dir"])
        #expect(input == accepted, "RunConfigInput differs: \(input.symmetricDifference(accepted).sorted())")

        // The API's run config is RunConfig itself (typeOverrides), not a generated copy of it.
        let served: RunConfig.Type = Components.Schemas.RunConfig.self
        #expect(served == RunConfig.self)
    }

    /// The `results` view has a column for every config field, named by the view's rule, holding
    /// the stored config's value.
    @Test func resultsViewShowsEveryConfigField() throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("prunelab-drift-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let path = directory.appendingPathComponent("db.sqlite").path
        let store = try Store(path: path)
        let parents = Self.configs.compactMap { $0.parent() }
        let runs = (Self.configs + parents).reduce(into: [String: NewRun]()) { runs, config in
            runs[config.key] = NewRun(SweepRun(config: config, parents: config.parent().map { [$0.key] } ?? []), maxAttempts: 3)
        }
        // Parents first, as a sweep lists them.
        let ordered = runs.values.sorted { ($0.parents.isEmpty ? 0 : 1, $0.key) < ($1.parents.isEmpty ? 0 : 1, $1.key) }
        _ = try store.submitSweep(name: "drift", spec: "{}", runs: ordered)

        /// The view's name of a config field: top-level fields keep theirs (compression reads
        /// target_compression), training fields theirs, a pruner group's `<group>_<field>`.
        func column(_ path: String) -> String {
            let parts = path.split(separator: ".").map(String.init)
            if parts.count == 1 { return parts[0] == "compression" ? "target_compression" : parts[0] }
            return parts[0] == "training" ? parts[1] : parts.joined(separator: "_")
        }
        // "format" is the version of the config text, the same for every run, not a setting.
        let fields = try Self.configFields().subtracting(["format"])
        let database = try DatabaseQueue(path: path)
        let columns = Set(try database.read { db in try db.columns(in: "results").map(\.name) })
        let missing = fields.filter { !columns.contains(column($0)) }
        #expect(missing.isEmpty, "config fields without a results column: \(missing.sorted())")
        for config in Self.configs {
            let stored = try Self.object(config.canonicalJSON)
            let row = try #require(try database.read { db in try Row.fetchOne(db, sql: "SELECT * FROM results WHERE key = ?", arguments: [config.key]) })
            for field in fields where columns.contains(column(field)) {
                var value: Any? = stored
                for part in field.split(separator: ".") { value = (value as? [String: Any])?[String(part)] }
                let shown = row[column(field)] as DatabaseValue
                switch value {
                case nil: #expect(shown.isNull, "\(config.pruner): \(field)")
                case let array as [Any]:
                    let text = try #require(String.fromDatabaseValue(shown))
                    #expect(NSArray(array: try JSONSerialization.jsonObject(with: Data(text.utf8)) as? [Any] ?? []) == NSArray(array: array),
                            "\(config.pruner): \(field)")
                case let string as String: #expect(String.fromDatabaseValue(shown) == string, "\(config.pruner): \(field)")
                case let number as NSNumber where field == "seed":
                    // Seeds are stored as their 64-bit pattern (SQLite integers are signed).
                    #expect(Int64.fromDatabaseValue(shown).map { UInt64(bitPattern: $0) } == number.uint64Value, "\(config.pruner): \(field)")
                case let number as NSNumber:
                    #expect(Double.fromDatabaseValue(shown) == number.doubleValue, "\(config.pruner): \(field) \(shown)")
                default: Issue.record("\(config.pruner): \(field) has an unexpected value \(String(describing: value))")
                }
            }
        }
    }

    /// A run's figures are defined once, by the Figures module: the document's `Layer`, `Metric`
    /// and `RunFigures` are those types (typeOverrides), and each schema names exactly the fields
    /// they encode (every optional one present), with the encoded ones required but the optional.
    @Test func openAPIFiguresMatchTheFiguresTypes() throws {
        let document = try #require(try Yams.load(yaml: openAPIDocument) as? [String: Any])
        let schemas = try #require((document["components"] as? [String: Any])?["schemas"] as? [String: Any])
        let layer = LayerFigures(name: "fc1", shape: [2, 2], size: 4, kept: 2, effective: 1, quota: 0.5)
        let figures = RunFigures(testAccuracy: 0.5, testLoss: 1, trainLoss: 1, trainAccuracy: 0.5, layers: [layer], steps: 1, totalSteps: 1,
                                 trainingSeconds: 1, wallSeconds: 1, imagesPerSecond: 1, resumedFromStep: 0)
        let optional: [String: Set<String>] = ["Layer": ["quota"], "Metric": [], "RunFigures": ["resumed_from_step"]]
        let encoded: [(String, any Encodable)] = [("Layer", layer), ("Metric", MetricRecord(phase: 0, step: 1, name: "x", value: 1)),
                                                  ("RunFigures", figures)]
        for (name, value) in encoded {
            let schema = try #require(schemas[name] as? [String: Any], "\(name)")
            let documented = Set((schema["properties"] as? [String: Any] ?? [:]).keys)
            let fields = Set(try Self.object(try JSONEncoder().encode(value)).keys)
            #expect(documented == fields, "\(name): \(documented.symmetricDifference(fields).sorted())")
            #expect(Set(schema["required"] as? [String] ?? []) == fields.subtracting(optional[name] ?? []), "\(name)")
        }
        let served: (LayerFigures.Type, MetricRecord.Type, RunFigures.Type) =
            (Components.Schemas.Layer.self, Components.Schemas.Metric.self, Components.Schemas.RunFigures.self)
        #expect(served.0 == LayerFigures.self && served.1 == MetricRecord.self && served.2 == RunFigures.self)
    }
}
