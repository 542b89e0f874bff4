import FileSupport
import Foundation
import Logging
import OpenAPIRuntime
import Store

/// `prunelab report`: one sweep's results page as a self-contained static site. The page is the
/// one `serve` hosts; `data.js` holds the very answers the API would give (produced by the same
/// handlers), so the page reads them instead of fetching and opens from file:// or any static
/// host. Each run's details and metrics are a separate `data/run-KEY.js`, loaded when its view
/// opens, so a large sweep's report does not load every curve up front.
public enum ResultsReport {
    /// What was written.
    public struct Summary: Sendable, Equatable {
        public var sweep: Int64
        public var name: String
        public var runs: Int
        public var files: [String]
    }

    public enum ReportError: Error, CustomStringConvertible {
        case unknownSweep(Int64)
        case unexpectedAnswer(String)
        public var description: String {
            switch self {
            case let .unknownSweep(id): "unknown sweep \(id)"
            case let .unexpectedAnswer(what): "the API gave no data for \(what)"
            }
        }
    }

    /// JavaScript's encodeURIComponent: everything but letters, digits and -_.!~*'() escaped.
    static func uriComponent(_ text: String) -> String {
        var allowed = CharacterSet(charactersIn: "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789")
        allowed.insert(charactersIn: "-_.!~*'()")
        return text.addingPercentEncoding(withAllowedCharacters: allowed) ?? text
    }

    /// Writes sweep `id` of `store` into `directory` (created when missing; files of an earlier
    /// report there are replaced).
    public static func write(store: Store, sweep id: Int64, to directory: URL) async throws -> Summary {
        guard let sweep = try store.sweep(id) else { throw ReportError.unknownSweep(id) }
        let api = ServiceAPI(store: store, leaseSeconds: 60, logger: Logger(label: "prunelab.report") { _ in SwiftLogNoOpLogHandler() },
                             metrics: ServiceMetrics.shared)
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        func json(_ value: some Encodable) throws -> String { String(decoding: try encoder.encode(value), as: UTF8.self) }

        guard case let .ok(sweepAnswer) = try await api.getSweep(.init(path: .init(id: id))), case let .json(sweepBody) = sweepAnswer.body,
              case let .ok(resultsAnswer) = try await api.sweepResults(.init(path: .init(id: id))), case let .json(resultsBody) = resultsAnswer.body,
              case let .ok(summaryAnswer) = try await api.sweepSummary(.init(path: .init(id: id))), case let .json(summaryBody) = summaryAnswer.body
        else { throw ReportError.unexpectedAnswer("sweep \(id)") }
        let rows = try store.results(sweep: id)
        let variants = try store.runVariants(sweep: id)
        let plots = Dictionary(uniqueKeysWithValues: CompressionAxis.allCases.map { axis in
            (axis, ServiceAPI.plot(sweep, rows: rows, variants: variants, axis: axis, pruner: nil) ?? "")
        })
        // Each method's figures, under the paths the page asks for (`methodPlotPath` in app.js).
        var methodPlots: [String: String] = [:]
        for pruner in Set(rows.map(\.pruner)).subtracting(["dense"]).sorted() {
            for axis in CompressionAxis.allCases {
                methodPlots["sweeps/\(id)/plot.svg?x=\(axis.rawValue)&pruner=\(uriComponent(pruner))"] =
                    ServiceAPI.plot(sweep, rows: rows, variants: variants, axis: axis, pruner: pruner)
            }
        }

        let fileManager = FileManager.default
        try fileManager.createDirectory(at: directory.appendingPathComponent("data"), withIntermediateDirectories: true)
        var written: [String] = []
        func put(_ name: String, _ text: String) throws {
            try AtomicFile.write(Data(text.utf8), to: directory.appendingPathComponent(name).path)
            written.append(name)
        }

        // One script per run: its page (config, progress, figures, layers) and its metrics.
        var runFiles: [String: String] = [:]
        for row in resultsBody.results {
            guard case let .ok(runAnswer) = try await api.getRun(.init(path: .init(key: row.key))), case let .json(run) = runAnswer.body,
                  case let .ok(metricsAnswer) = try await api.runMetrics(.init(path: .init(key: row.key))),
                  case let .json(metrics) = metricsAnswer.body
            else { throw ReportError.unexpectedAnswer("run \(row.key)") }
            let file = "data/run-\(row.key).js"
            try put(file, "window.PRUNELAB_REPORT.add({\"runs/\(row.key)\": \(try json(run)),\n\"runs/\(row.key)/metrics\": \(try json(metrics))});\n")
            runFiles["runs/\(row.key)"] = file
        }

        let files = [
            "sweeps/\(id)/results?format=csv": "results.csv",
            "sweeps/\(id)/plot.svg?x=direct": "plot-direct.svg",
            "sweeps/\(id)/plot.svg?x=effective": "plot-effective.svg",
        ]
        let generated = ISO8601DateFormatter().string(from: Date())
        let data = """
            // Written by `prunelab report \(id)` at \(generated): the API's answers for sweep \(id).
            window.PRUNELAB_REPORT = {
            "generated": \(try json(generated)),
            "single": \(id),
            "files": \(try json(files)),
            "runFiles": \(try json(runFiles)),
            "data": {
            "sweeps": \(try json(["sweeps": [sweepBody]])),
            "sweeps/\(id)": \(try json(sweepBody)),
            "sweeps/\(id)/results": \(try json(resultsBody)),
            "sweeps/\(id)/summary": \(try json(summaryBody)),
            "sweeps/\(id)/plot.svg?x=direct": \(try json(plots[.direct])),
            "sweeps/\(id)/plot.svg?x=effective": \(try json(plots[.effective]))\(try methodPlots.keys.sorted().map { ",\n\(try json($0)): \(try json(methodPlots[$0]))" }.joined())
            }};
            window.PRUNELAB_REPORT.add = function (entries) { Object.assign(window.PRUNELAB_REPORT.data, entries); };

            """
        try put("data.js", data)
        try put("results.csv", try ServiceAPI.csv(rows))
        for (axis, svg) in plots { try put("plot-\(axis.rawValue).svg", svg) }
        let page = String(decoding: PackageResources.index_html, as: UTF8.self)
        try put("index.html", page.replacingOccurrences(of: "<!-- report data -->", with: "<script src=\"data.js\"></script>"))
        try put("app.js", String(decoding: PackageResources.app_js, as: UTF8.self))
        try put("charts.js", String(decoding: PackageResources.charts_js, as: UTF8.self))
        try put("style.css", String(decoding: PackageResources.style_css, as: UTF8.self))
        return Summary(sweep: id, name: sweep.name, runs: resultsBody.results.count, files: written)
    }
}
