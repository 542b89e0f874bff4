import Foundation
import OpenAPIRuntime
import Store

/// The sweep's figures, aggregated over seeds on the server: the plot as an SVG file (the page
/// shows the same file) and the mean-over-seeds table as JSON.
extension ServiceAPI {
    func sweepPlot(_ input: Operations.sweepPlot.Input) async throws -> Operations.sweepPlot.Output {
        let id = input.path.id
        guard let sweep = try store.sweep(id) else {
            return .notFound(.init(body: .json(.init(error: "unknown sweep \(id)", field: "id"))))
        }
        let axis = CompressionAxis(rawValue: (input.query.x ?? .direct).rawValue) ?? .direct
        guard let svg = Self.plot(sweep, rows: try store.results(sweep: id), variants: try variants(of: id), axis: axis,
                                  pruner: input.query.pruner) else {
            return .notFound(.init(body: .json(.init(error: "sweep \(id) has no runs of pruner '\((input.query.pruner ?? "").prefix(200))'",
                                                     field: "pruner"))))
        }
        return .ok(.init(body: .image_svg_plus_xml(HTTPBody(svg))))
    }

    /// The sweep's figure on `axis`: every line, or one method's (with the dense reference) when
    /// `pruner` is given; nil when the sweep has no runs of that pruner. `plot.svg` answers it and
    /// `prunelab report` writes it, from rows it has read once.
    static func plot(_ sweep: SweepSummary, rows: [ResultRow], variants: [String: String], axis: CompressionAxis,
                     pruner: String?) -> String? {
        guard let pruner else { return AccuracyPlot.svg(rows, x: axis, variants: variants, title: plotTitle(sweep, axis: axis)) }
        guard rows.contains(where: { $0.pruner == pruner }) else { return nil }
        return AccuracyPlot.svg(rows.filter { $0.pruner == pruner || $0.pruner == "dense" }, x: axis, variants: variants,
                                title: "sweep \(sweep.id) \(sweep.name): \(pruner), test accuracy vs \(axis.rawValue) compression")
    }

    func sweepSummary(_ input: Operations.sweepSummary.Input) async throws -> Operations.sweepSummary.Output {
        let id = input.path.id
        guard try store.sweep(id) != nil else {
            return .notFound(.init(body: .json(.init(error: "unknown sweep \(id)", field: "id"))))
        }
        let groups = AccuracyPlot.groups(try store.results(sweep: id), variants: try variants(of: id))
        return .ok(.init(body: .json(.init(groups: groups))))
    }

    static func plotTitle(_ sweep: SweepSummary, axis: CompressionAxis) -> String {
        "sweep \(sweep.id) \(sweep.name): test accuracy vs \(axis.rawValue) compression"
    }
}
