import Figures
import Foundation
import NeuralNet
import OpenAPIRuntime
import Store

/// Connectivity curves (`prunelab curves --db` computes them; these read them).
extension ServiceAPI {
    func listCurves(_ input: Operations.listCurves.Input) async throws -> Operations.listCurves.Output {
        let architecture = input.query.architecture
        if let architecture, architecture.isEmpty || architecture.unicodeScalars.count > 200 {
            return .badRequest(.init(body: .json(.init(error: "architecture must be 1 to 200 characters", field: "architecture"))))
        }
        let points = try store.connectivityPoints(architecture: architecture)
        if input.query.format == .csv {
            return .ok(.init(body: .csv(HTTPBody(ConnectivityPlot.csv(points)))))
        }
        func finite(_ value: Double?) -> Double? { value.flatMap { $0.isFinite ? $0 : nil } }
        let curves = ConnectivityPlot.series(points).map { line in
            Components.Schemas.ConnectivityCurve(
                architecture: line.architecture, pruner: line.pruner, dataset: line.dataset, rounds: line.rounds,
                first_loss: line.firstLoss, first_disconnection: line.firstDisconnection, full_disconnection: line.fullDisconnection,
                points: line.points.map { p in
                    .init(target: p.target, seeds: p.seeds, direct_compression: p.direct, effective_compression: finite(p.effective),
                          effective_compression_spread: finite(p.effectiveSpread), disconnected: p.disconnected, losing: p.losing)
                })
        }
        return .ok(.init(body: .json(.init(points: points.map { p in
            .init(architecture: p.architecture, pruner: p.pruner, dataset: p.dataset, rounds: p.rounds, seed: Int64(p.seed), target: p.target,
                  total: Int64(p.total), kept: Int64(p.kept), effective: Int64(p.effective), direct_compression: finite(p.directCompression),
                  effective_compression: finite(p.effectiveCompression), seconds: p.seconds)
        }, curves: curves))))
    }

    func curvePlot(_ input: Operations.curvePlot.Input) async throws -> Operations.curvePlot.Output {
        let architecture = input.query.architecture
        // The zoo's architectures, and imported graphs (`curves --onnx`) that have points.
        let points = try store.connectivityPoints(architecture: architecture)
        guard ModelZoo.names.contains(architecture) || !points.isEmpty else {
            return .notFound(.init(body: .json(.init(error: "unknown architecture '\(architecture.prefix(200))' (the zoo has "
                + "\(ModelZoo.names.joined(separator: ", ")); imported models have curves once `prunelab curves --onnx` stored them)",
                field: "architecture"))))
        }
        let series = ConnectivityPlot.series(points)
        let svg = ConnectivityPlot.svg(series, title: "\(architecture): effective vs direct compression, pruned at initialisation")
        return .ok(.init(body: .image_svg_plus_xml(HTTPBody(svg))))
    }
}
