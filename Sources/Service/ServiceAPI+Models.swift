import Experiments
import FileSupport
import Foundation
import ONNX
import OpenAPIRuntime
import Pruning
import Store
import Tensors

/// POST/GET /api/v1/models: ONNX models uploaded to train in sweeps (`"architecture": "onnx:<sha256>"`).
extension ServiceAPI {
    static let modelsPath = "/api/v1/models"

    func uploadModel(_ input: Operations.uploadModel.Input) async throws -> Operations.uploadModel.Output {
        func bad(_ error: String, _ field: String) -> Operations.uploadModel.Output {
            .badRequest(.init(body: .json(.init(error: error, field: field))))
        }
        guard case let .binary(body) = input.body else { return bad("expected the ONNX file as application/octet-stream", "body") }
        let name = input.query.name ?? "model"
        guard (1...200).contains(name.count), !name.unicodeScalars.contains(where: { $0.properties.generalCategory == .control }),
              !name.trimmingCharacters(in: .whitespaces).isEmpty else {
            return bad("a model's name has 1 to 200 characters, not only spaces, no control characters", "name")
        }
        // The body limit middleware has bounded the bytes already (--max-model-bytes).
        let data = try await Data(collecting: body, upTo: ONNXModel.maximumFileBytes)
        guard !data.isEmpty else { return bad("the body is empty: send the ONNX file (curl --data-binary @model.onnx)", "body") }
        let sha256 = ImportedModels.sha256(of: data)
        if let stored = try store.model(sha256) { return .ok(.init(body: .json(Self.body(stored)))) }
        let read = try await ComputeThread.shared.run { Self.readModel(data, sha256: sha256, name: name) }
        let record: ModelRecord
        switch read {
        case let .success(made): record = made
        case let .failure(refusal): return bad(refusal.reason, "body")
        }
        let upload = try store.artifacts.beginUpload(label: "model-\(sha256)")
        defer { upload.abort() }
        try data.withUnsafeBytes { try upload.write($0) }
        let committed = try upload.commit()
        guard committed == sha256 else { throw APIError(.internalServerError, "the stored model hashes to \(committed), not \(sha256)") }
        let (stored, new) = try store.registerModel(record)
        return new ? .created(.init(body: .json(Self.body(stored)))) : .ok(.init(body: .json(Self.body(stored))))
    }

    func listModels(_ input: Operations.listModels.Input) async throws -> Operations.listModels.Output {
        .ok(.init(body: .json(.init(models: try store.models().map(Self.body)))))
    }

    func getModel(_ input: Operations.getModel.Input) async throws -> Operations.getModel.Output {
        let sha256 = input.path.sha256
        guard ContentAddress.isSHA256(sha256) else {
            return .badRequest(.init(body: .json(.init(error: "a model is named by its SHA-256: 64 lowercase hexadecimal digits", field: "sha256"))))
        }
        guard let stored = try store.model(sha256) else {
            return .notFound(.init(body: .json(.init(error: "no model \(sha256) was uploaded", field: "sha256"))))
        }
        return .ok(.init(body: .json(Self.body(stored))))
    }

    func downloadModel(_ input: Operations.downloadModel.Input) async throws -> Operations.downloadModel.Output {
        let sha256 = input.path.sha256
        guard ContentAddress.isSHA256(sha256) else {
            return .badRequest(.init(body: .json(.init(error: "a model is named by its SHA-256: 64 lowercase hexadecimal digits", field: "sha256"))))
        }
        guard try store.model(sha256) != nil, let reader = try? store.artifacts.reader(for: sha256) else {
            return .notFound(.init(body: .json(.init(error: "no model \(sha256) was uploaded", field: "sha256"))))
        }
        return .ok(.init(body: .binary(HTTPBody(ArtifactChunks(reader: reader), length: .known(Int64(reader.size)),
                                                 iterationBehavior: .single))))
    }

    static func body(_ record: ModelRecord) -> Components.Schemas.Model {
        .init(sha256: record.sha256, architecture: Architecture.importedPrefix + record.sha256, name: record.name,
              size: Int64(record.size), producer: record.producer, input_shape: record.inputShape, classes: record.classes,
              prunable_layers: record.prunableLayers, weights: Int64(record.weights), trainable: record.trainable,
              refusal: record.refusal, uploaded_at: record.uploadedAt)
    }

    struct Unreadable: Error { let reason: String }

    /// Reads the graph as `effective` and sweeps will: a file prunelab cannot read at all is
    /// refused; one it reads but cannot train is recorded with the reason.
    static func readModel(_ data: Data, sha256: String, name: String) -> Result<ModelRecord, Unreadable> {
        let model: ONNXModel, graph: ONNXGraph
        do {
            model = try ONNXModel(data: data)
            graph = try ONNXGraph(model: model)
        } catch {
            return .failure(Unreadable(reason: String(describing: error)))
        }
        // Each weight is at most 2^28 elements (`ONNXModel`): the sum of a file's cannot overflow.
        let weights = graph.weights.reduce(0) { $0 + $1.count }
        let classes: Int?, refusal: String?
        switch ImportedModels.assess(model) {
        case let .success(trainable): (classes, refusal) = (trainable.classes, nil)
        case let .failure(refused): (classes, refusal) = (nil, refused.reason)
        }
        return .success(ModelRecord(sha256: sha256, name: name, size: data.count, producer: graph.producer,
                                    inputShape: graph.inputShape, classes: classes,
                                    prunableLayers: graph.weights.count, weights: weights,
                                    refusal: refusal))
    }

    /// The imported models a sweep's runs name must be uploaded, trainable and fit the data they
    /// name (the zoo adapts its networks to the data; an imported graph is what it is).
    func checkImportedModels(_ runs: [SweepRun]) throws(SweepError) {
        var checked = Set<String>()
        for run in runs {
            let config = run.config
            guard case let .imported(sha256)? = Architecture(config.architecture),
                  checked.insert("\(config.architecture) \(config.dataset)").inserted else { continue }
            let stored: ModelRecord?
            do { stored = try store.model(sha256) } catch {
                throw SweepError(field: "architecture", reason: "the models could not be read: \(error)")
            }
            guard let stored else {
                throw SweepError(field: "architecture", reason: "no model \(config.architecture) was uploaded (POST /api/v1/models answers its name)")
            }
            if let refusal = stored.refusal {
                throw SweepError(field: "architecture", reason: "\(config.architecture) (\(stored.name)) cannot be trained: \(refusal)")
            }
            // Synthetic data takes the graph's own shape.
            guard let (shape, classes) = RunData.sampleShape(of: config.dataset) else { continue }
            guard shape == stored.inputShape, classes == stored.classes else {
                throw SweepError(field: "dataset", reason: "\(config.architecture) (\(stored.name)) takes samples \(stored.inputShape) in "
                    + "\(stored.classes.map(String.init) ?? "?") classes; \(config.dataset) has samples \(shape) in \(classes) classes")
            }
        }
    }
}
