import Foundation
import Figures
import OpenAPIRuntime
import Pruning
import Store

/// Sweep lists, results tables, run pages and metrics.
extension ServiceAPI {
    static func row(_ row: ResultRow) -> Components.Schemas.ResultRow {
        .init(key: row.key, architecture: row.architecture, dataset: row.dataset, pruner: row.pruner, mode: row.mode,
              target_compression: row.targetCompression, seed: row.seed, status: row.status, attempts: row.attempts,
              test_accuracy: row.testAccuracy, test_loss: row.testLoss,
              direct_compression: row.directCompression.flatMap { $0.isFinite ? $0 : nil },
              effective_compression: row.effectiveCompression.flatMap { $0.isFinite ? $0 : nil },
              wall_seconds: row.wallSeconds, error: row.error)
    }

    func sweepBody(_ sweep: SweepSummary) throws -> Components.Schemas.Sweep {
        let counts = Dictionary(uniqueKeysWithValues: try store.sweepCounts(sweep.id).map { ($0.key.rawValue, $0.value) })
        return .init(id: sweep.id, name: sweep.name, changes: try store.sweepChanges(sweep.id), status: sweep.status,
                     runs: counts.values.reduce(0, +), counts: .init(additionalProperties: counts))
    }

    func listSweeps(_ input: Operations.listSweeps.Input) async throws -> Operations.listSweeps.Output {
        .ok(.init(body: .json(.init(sweeps: try store.sweeps().map(sweepBody)))))
    }

    func cancelSweep(_ input: Operations.cancelSweep.Input) async throws -> Operations.cancelSweep.Output {
        do {
            return .ok(.init(body: .json(.init(cancelled: try store.cancelSweep(input.path.id)))))
        } catch StoreError.unknownSweep {
            return .notFound(.init(body: .json(.init(error: "unknown sweep \(input.path.id)", field: "id"))))
        }
    }

    func sweepResults(_ input: Operations.sweepResults.Input) async throws -> Operations.sweepResults.Output {
        let query = input.query
        // The document bounds these; a request that ignores it gets the same answer.
        if let limit = query.limit, !(1...100_000).contains(limit) {
            return .badRequest(.init(body: .json(.init(error: "limit must be from 1 to 100000, got \(limit)", field: "limit"))))
        }
        if let offset = query.offset, !(0...100_000).contains(offset) {
            return .badRequest(.init(body: .json(.init(error: "offset must be from 0 to 100000, got \(offset)", field: "offset"))))
        }
        if let since = query.since, since < 0 {
            return .badRequest(.init(body: .json(.init(error: "since must not be negative, got \(since)", field: "since"))))
        }
        let page: ResultPage
        do {
            page = try store.results(sweep: input.path.id, ResultQuery(
                sort: query.sort.flatMap { ResultColumn(rawValue: $0.rawValue) }, descending: query.dir == .desc, limit: query.limit,
                offset: query.offset ?? 0, changedAfter: query.since))
        } catch StoreError.unknownSweep {
            return .notFound(.init(body: .json(.init(error: "unknown sweep \(input.path.id)", field: "id"))))
        }
        guard query.format == .csv else {
            let variants = try variants(of: input.path.id)
            return .ok(.init(body: .json(.init(results: page.rows.map { row in
                var body = Self.row(row)
                body.variant = variants[row.key].flatMap { $0.isEmpty ? nil : $0 }
                return body
            }, total: page.total, changes: page.changes))))
        }
        return .ok(.init(body: .csv(HTTPBody(try Self.csv(page.rows)))))
    }

    /// RFC 4180 CSV with a header line: the `results` view's columns that `ResultRow` reads.
    static func csv(_ rows: [ResultRow]) throws -> String {
        func field(_ text: String?) -> String {
            guard let text else { return "" }
            return text.contains(where: { ",\"\n\r".contains($0) }) ? "\"" + text.replacingOccurrences(of: "\"", with: "\"\"") + "\"" : text
        }
        var lines = [ResultRow.columnNames.joined(separator: ",")]
        for row in rows { lines.append(try row.columnTexts().map(field).joined(separator: ",")) }
        return lines.joined(separator: "\r\n") + "\r\n"
    }

    func listRuns(_ input: Operations.listRuns.Input) async throws -> Operations.listRuns.Output {
        let query = input.query
        let limit = query.limit ?? 100
        guard (1...1000).contains(limit) else {
            return .badRequest(.init(body: .json(.init(error: "limit must be between 1 and 1000, got \(limit)", field: "limit"))))
        }
        var after: String?
        if let cursor = query.cursor {
            // The cursor is the last key of the previous page, base64url without padding.
            guard let key = Self.decodeCursor(cursor) else {
                return .badRequest(.init(body: .json(.init(error: "not a cursor this server issued", field: "cursor"))))
            }
            after = key
        }
        let rows = try store.runs(RunFilter(sweep: query.sweep, status: query.status, pruner: query.pruner, architecture: query.architecture),
                                  after: after, limit: limit + 1)
        let page = Array(rows.prefix(limit))
        let next = rows.count > limit ? page.last.map { Self.encodeCursor($0.key) } : nil
        return .ok(.init(body: .json(.init(runs: page.map(Self.row), next_cursor: next))))
    }

    static func encodeCursor(_ key: String) -> String {
        Data(key.utf8).base64EncodedString().replacingOccurrences(of: "+", with: "-").replacingOccurrences(of: "/", with: "_")
            .replacingOccurrences(of: "=", with: "")
    }

    static func decodeCursor(_ cursor: String) -> String? {
        var base64 = cursor.replacingOccurrences(of: "-", with: "+").replacingOccurrences(of: "_", with: "/")
        while base64.count % 4 != 0 { base64 += "=" }
        guard let data = Data(base64Encoded: base64), let key = String(data: data, encoding: .utf8), validKey(key) else { return nil }
        return key
    }

    func runMetrics(_ input: Operations.runMetrics.Input) async throws -> Operations.runMetrics.Output {
        let key = input.path.key
        guard Self.validKey(key), try store.runSummary(key) != nil else {
            return .notFound(.init(body: .json(.init(error: "unknown run \(key)", field: "key"))))
        }
        var metrics = try store.metrics(key).filter(\.value.isFinite)
        if input.query.latest == true {
            // In (phase, step) order: the last of each name is its latest.
            var latest: [String: MetricRecord] = [:]
            for metric in metrics { latest[metric.name] = metric }
            metrics = latest.values.sorted { $0.name < $1.name }
        }
        return .ok(.init(body: .json(.init(metrics: metrics))))
    }

    func runMasks(_ input: Operations.runMasks.Input) async throws -> Operations.runMasks.Output {
        let key = input.path.key, kind = input.query.kind ?? .direct
        guard Self.validKey(key) else {
            return .badRequest(.init(body: .json(.init(error: "a run key is 64 hexadecimal digits", field: "key"))))
        }
        guard let run = try store.runSummary(key) else {
            return .notFound(.init(body: .json(.init(error: "unknown run \(key)", field: "key"))))
        }
        guard let masks = try store.masks(key, kind: kind.rawValue) else {
            return .notFound(.init(body: .json(.init(error: "run \(key) has no \(kind.rawValue) masks (it is \(run.status.rawValue))", field: "key"))))
        }
        // Shapes and sizes come from the run's config (its architecture), not from the rows: a
        // database edited by hand cannot make this allocate or index past what the model has.
        let layout = try layout(of: key)
        guard masks.count == layout.layers.count,
              zip(masks, layout.layers).allSatisfy({ $0.bits.count == $1.packedBytes && $0.layer.shape == $1.shape }) else {
            throw APIError(.internalServerError, "the stored \(kind.rawValue) masks of run \(key) do not match its architecture")
        }
        let arrays = zip(masks, layout.layers).map { stored, layer -> (name: String, array: NPYArray) in
            var values = [Float](repeating: 0, count: layer.size)
            let bytes = [UInt8](stored.bits)
            for i in 0..<layer.size where bytes[i >> 3] & (1 << UInt8(i & 7)) != 0 { values[i] = 1 }
            return (layer.name, NPYArray(shape: layer.shape, values: values, dtype: .bool))
        }
        return .ok(.init(body: .binary(HTTPBody(try NPZArchive.data(arrays, compressed: true)))))
    }

    func listEvents(_ input: Operations.listEvents.Input) async throws -> Operations.listEvents.Output {
        let query = input.query
        let limit = query.limit ?? 100
        guard (1...1000).contains(limit) else {
            return .badRequest(.init(body: .json(.init(error: "limit must be between 1 and 1000, got \(limit)", field: "limit"))))
        }
        guard (query.after ?? 0) >= 0 else {
            return .badRequest(.init(body: .json(.init(error: "after must be an event id (≥ 0)", field: "after"))))
        }
        if let run = query.run, !Self.validKey(run) {
            return .badRequest(.init(body: .json(.init(error: "a run key is 64 hexadecimal digits", field: "run"))))
        }
        let events = try store.events(after: query.after ?? 0, limit: limit, sweep: query.sweep, run: query.run)
        return .ok(.init(body: .json(.init(events: events.map {
            .init(id: $0.id, at: $0.at, kind: $0.kind, sweep: $0.sweep, run: $0.run, worker: $0.worker, detail: $0.detail)
        }))))
    }
}
