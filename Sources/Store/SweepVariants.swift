import Foundation
import GRDB

extension Store {
    /// Config fields a sweep's plots already separate runs by (or average over: the seed).
    static let plottedFields: Set<String> = ["architecture", "dataset", "pruner", "mode", "compression", "seed", "format"]

    /// For each run of sweep `id`: the other config fields in which the sweep's runs differ, as
    /// "field=value" (dotted paths for nested fields, e.g. `shuffle=true, training.iterations=400`),
    /// or "" when the sweep varies nothing else. Without it a grid over `shuffle` or a training
    /// setting would average unlike runs into one line. A field counts as varying when runs that
    /// agree on every plotted field (the same cell and seed) disagree on it: a field derived from
    /// the plotted ones — LTH's per-round rate, which follows the target compression when the
    /// rounds are fixed — is no variant (dense runs have no `mode`, and that is no variation either).
    public func runVariants(sweep id: Int64) throws -> [String: String] {
        let rows = try pool.read { db in
            try Row.fetchAll(db, sql: "SELECT key, config FROM runs WHERE key IN (SELECT run_key FROM sweep_runs WHERE sweep_id = ?)",
                             arguments: [id])
        }
        var fields: [String: [String: String]] = [:]
        for row in rows {
            let key: String = row["key"], config: String = row["config"]
            let object = (try? JSONSerialization.jsonObject(with: Data(config.utf8))) as? [String: Any] ?? [:]
            var flat: [String: String] = [:]
            Self.flatten(object, prefix: "", into: &flat)
            fields[key] = flat
        }
        // Per cell (the plotted fields' values), the values each other field takes.
        var values: [[String]: [String: Set<String>]] = [:]
        let plotted = Self.plottedFields.sorted()
        for flat in fields.values {
            let cell = plotted.map { flat[$0] ?? "" }
            for (name, value) in flat where !Self.plottedFields.contains(name) { values[cell, default: [:]][name, default: []].insert(value) }
        }
        let varying = Set(values.values.flatMap { $0.filter { $0.value.count > 1 }.keys }).sorted()
        return fields.mapValues { flat in varying.compactMap { name in flat[name].map { "\(name)=\($0)" } }.joined(separator: ", ") }
    }

    /// Nested objects become dotted names; everything else (numbers, booleans, strings, arrays)
    /// is a leaf written as JSON, strings without their quotes.
    static func flatten(_ object: [String: Any], prefix: String, into flat: inout [String: String]) {
        for (name, value) in object {
            let path = prefix.isEmpty ? name : "\(prefix).\(name)"
            if let nested = value as? [String: Any] {
                flatten(nested, prefix: path, into: &flat)
            } else if let text = value as? String {
                flat[path] = text
            } else if let data = try? JSONSerialization.data(withJSONObject: value, options: [.fragmentsAllowed, .sortedKeys]) {
                flat[path] = String(decoding: data, as: UTF8.self)
            }
        }
    }
}
