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
        let svg = AccuracyPlot.svg(try store.results(sweep: id), x: axis, variants: try variants(of: id),
                                   title: Self.plotTitle(sweep, axis: axis))
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
