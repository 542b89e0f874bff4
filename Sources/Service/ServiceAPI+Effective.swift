import Figures
import Foundation
import ONNX
import OpenAPIRuntime
import Pruning
import Tensors

/// POST /api/v1/effective: effective sparsity of an uploaded ONNX model and masks, nothing stored.
extension ServiceAPI {
    static let effectivePath = "/api/v1/effective"

    func computeEffective(_ input: Operations.computeEffective.Input) async throws -> Operations.computeEffective.Output {
        func bad(_ error: String, _ field: String) -> Operations.computeEffective.Output {
            .badRequest(.init(body: .json(.init(error: error, field: field))))
        }
        guard case let .multipartForm(parts) = input.body else { return bad("expected multipart/form-data with parts model and masks", "body") }
        var model: Data?, masks: Data?
        do {
            for try await part in parts {
                switch part {
                case let .model(part):
                    guard model == nil else { return bad("the body has two model parts", "model") }
                    model = try await Data(collecting: part.payload.body, upTo: ONNXModel.maximumFileBytes)
                case let .masks(part):
                    guard masks == nil else { return bad("the body has two masks parts", "masks") }
                    masks = try await Data(collecting: part.payload.body, upTo: ONNXModel.maximumFileBytes)
                case let .undocumented(part):
                    let name = part.headerFields[.contentDisposition].map { String($0.prefix(120)) } ?? "without a name"
                    return bad("unexpected part (\(name)); the parts are model and masks", "body")
                }
            }
        } catch {
            let reason = String(describing: error)
            // The parser names a missing part ("Missing required parts: masks."): name it as the field.
            let field = ["model", "masks"].first { reason.contains("Missing required parts: \($0)") } ?? "body"
            return bad("the body is not readable multipart/form-data: \(reason.prefix(300))", field)
        }
        guard let model, !model.isEmpty else { return bad("the model part is missing or empty (an ONNX file)", "model") }
        guard let masks, !masks.isEmpty else { return bad("the masks part is missing or empty (an npz file)", "masks") }
        let zip = Self.prefersZip(input.headers.accept)
        let outcome = try await ComputeThread.shared.run { Self.effective(model: model, masks: masks, zip: zip) }
        switch outcome {
        case let .failure(error, field): return bad(error, field)
        case let .archive(data): return .ok(.init(body: .application_zip(HTTPBody(data))))
        case let .report(report, graph):
            func finite(_ value: Double) -> Double? { value.isFinite ? value : nil }
            return .ok(.init(body: .json(.init(producer: graph.producer.isEmpty ? nil : graph.producer, input_shape: graph.inputShape,
                                               layers: report.layers, total: report.total, kept: report.kept, effective: report.effective,
                                               direct_compression: finite(report.directCompression),
                                               effective_compression: finite(report.effectiveCompression)))))
        }
    }

    /// Whether the client ranks application/zip above JSON (JSON when it names neither).
    static func prefersZip(_ accept: [AcceptHeaderContentType<Operations.computeEffective.AcceptableContentType>]) -> Bool {
        let ranked = accept.sortedByQuality()
        for choice in ranked {
            switch choice.contentType {
            case .application_zip: return true
            case .json: return false
            case .other: continue
            }
        }
        return false
    }

    enum EffectiveOutcome: Sendable {
        case report(SparsityReport, GraphInfo)
        case archive(Data)
        case failure(String, field: String)
    }

    struct GraphInfo: Sendable {
        var producer: String
        var inputShape: [Int]
    }

    /// The computation, on the compute thread: every failure is a message and the part it concerns.
    static func effective(model modelData: Data, masks maskData: Data, zip: Bool) -> EffectiveOutcome {
        let graph: ONNXGraph
        do {
            graph = try ONNXGraph(model: ONNXModel(data: modelData))
        } catch {
            return .failure(String(describing: error), field: "model")
        }
        // The masks go through the same reader as `prunelab effective --masks` (a file), in a
        // private temporary directory removed afterwards.
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("prunelab-effective-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: directory) }
        do {
            try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: false,
                                                    attributes: [.posixPermissions: 0o700])
            let masksPath = directory.appendingPathComponent("masks.npz").path
            try maskData.write(to: URL(fileURLWithPath: masksPath))
            let masks: [BinaryMask]
            do {
                masks = try MaskFile.readBinary(path: masksPath, layers: graph.weightNames, shapes: graph.weightShapes)
            } catch {
                return .failure(String(describing: error).replacingOccurrences(of: masksPath, with: "masks"), field: "masks")
            }
            let (effective, report) = try graph.compute(masks)
            guard zip else { return .report(report, GraphInfo(producer: graph.producer, inputShape: graph.inputShape)) }
            let output = directory.appendingPathComponent("effective.npz").path
            try MaskFile.write(effective, layers: graph.weightNames, shapes: graph.weightShapes, to: output)
            return .archive(try Data(contentsOf: URL(fileURLWithPath: output)))
        } catch {
            return .failure(String(describing: error), field: "masks")
        }
    }
}
