import Foundation
import OpenAPIRuntime
import Store

/// The sweep plot as a file: the page's figure rendered on the server, for papers and terminals.
extension ServiceAPI {
    func sweepPlot(_ input: Operations.sweepPlot.Input) async throws -> Operations.sweepPlot.Output {
        let id = input.path.id
        guard let sweep = try store.sweep(id) else {
            return .notFound(.init(body: .json(.init(error: "unknown sweep \(id)", field: "id"))))
        }
        let axis = CompressionAxis(rawValue: (input.query.x ?? .direct).rawValue) ?? .direct
        let svg = AccuracyPlot.svg(try store.results(sweep: id), x: axis, variants: try store.runVariants(sweep: id),
                                   title: Self.plotTitle(sweep, axis: axis))
        return .ok(.init(body: .image_svg_plus_xml(HTTPBody(svg))))
    }

    static func plotTitle(_ sweep: SweepSummary, axis: CompressionAxis) -> String {
        "sweep \(sweep.id) \(sweep.name): test accuracy vs \(axis.rawValue) compression"
    }
}
