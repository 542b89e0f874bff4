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
        var rows = try store.results(sweep: id)
        var title = Self.plotTitle(sweep, axis: axis)
        if let pruner = input.query.pruner {
            // One method's figure: its lines and the dense reference.
            guard rows.contains(where: { $0.pruner == pruner }) else {
                return .notFound(.init(body: .json(.init(error: "sweep \(id) has no runs of pruner '\(pruner.prefix(200))'", field: "pruner"))))
            }
            rows = rows.filter { $0.pruner == pruner || $0.pruner == "dense" }
            title = "sweep \(sweep.id) \(sweep.name): \(pruner), test accuracy vs \(axis.rawValue) compression"
        }
        let svg = AccuracyPlot.svg(rows, x: axis, variants: try variants(of: id), title: title)
        return .ok(.init(body: .image_svg_plus_xml(HTTPBody(svg))))
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
