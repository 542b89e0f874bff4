import Foundation
import OpenAPIRuntime
import Store

/// The worker protocol: lease, heartbeat, metrics, checkpoints, finish, fail.
extension ServiceAPI {
    static func now() -> Double { Date().timeIntervalSince1970 }

    static func validKey(_ key: String) -> Bool { key.count == 64 && key.allSatisfy(\.isHexDigit) }

    func leaseRun(_ input: Operations.leaseRun.Input) async throws -> Operations.leaseRun.Output {
        guard case let .json(hello) = input.body else { return .badRequest(.init(body: .json(.init(error: "expected JSON", field: "body")))) }
        guard !hello.worker.isEmpty, hello.worker.count <= 200 else {
            return .badRequest(.init(body: .json(.init(error: "a worker id of 1 to 200 characters is required", field: "worker"))))
        }
        let worker = WorkerInfo(id: hello.worker, host: hello.host ?? "?", device: hello.device ?? "cpu", pid: hello.pid)
        guard let lease = try store.lease(worker: worker, now: Self.now(), duration: leaseSeconds) else { return .noContent(.init()) }
        let config = try configs.config(key: lease.key, json: lease.config)
        return .ok(.init(body: .json(.init(key: lease.key, config: config, attempt: lease.attempt,
                                           lease_seconds: leaseSeconds, has_checkpoint: lease.hasCheckpoint, parents: lease.parents))))
    }

    /// Maps the store's lease errors to 404 / 409 answers.
    private func guarded<T>(_ key: String, notFound: (Components.Responses.NotFound) -> T, leaseLost: (Components.Responses.LeaseLost) -> T,
                            _ body: () throws -> T) throws -> T {
        guard Self.validKey(key) else { return notFound(.init(body: .json(.init(error: "unknown run \(key)", field: "key")))) }
        do {
            return try body()
        } catch let error as StoreError {
            switch error {
            case .unknownRun: return notFound(.init(body: .json(.init(error: "unknown run \(key)", field: "key"))))
            case let .leaseLost(run, worker):
                logger.warning("write refused: the lease is lost", metadata: ["run": "\(run)", "worker": "\(worker)"])
                return leaseLost(.init(body: .json(.init(error: error.description, field: "worker"))))
            default: throw error
            }
        }
    }

    func heartbeat(_ input: Operations.heartbeat.Input) async throws -> Operations.heartbeat.Output {
        guard case let .json(beat) = input.body else { throw APIError(.badRequest, "expected JSON", field: "body") }
        return try guarded(input.path.key, notFound: { .notFound($0) }, leaseLost: { .conflict($0) }) {
            try store.heartbeat(key: input.path.key, worker: beat.worker, now: Self.now(), duration: leaseSeconds, step: beat.step,
                                totalSteps: beat.total_steps)
            return .ok(.init(body: .json(.init(lease_seconds: leaseSeconds))))
        }
    }

    func uploadMetrics(_ input: Operations.uploadMetrics.Input) async throws -> Operations.uploadMetrics.Output {
        guard case let .json(batch) = input.body else { throw APIError(.badRequest, "expected JSON", field: "body") }
        return try guarded(input.path.key, notFound: { .notFound($0) }, leaseLost: { .conflict($0) }) {
            try store.recordMetrics(key: input.path.key, worker: batch.worker,
                                    batch.metrics.map { MetricSample(phase: $0.phase, step: $0.step, name: $0.name, value: $0.value) })
            metrics.metricsIngested.increment(by: Int64(batch.metrics.count))
            return .noContent(.init())
        }
    }

    func downloadCheckpoint(_ input: Operations.downloadCheckpoint.Input) async throws -> Operations.downloadCheckpoint.Output {
        let key = input.path.key
        guard Self.validKey(key), let data = try store.checkpoint(key) else {
            return .notFound(.init(body: .json(.init(error: "no checkpoint for run \(key)", field: "key"))))
        }
        return .ok(.init(body: .binary(HTTPBody(data))))
    }

    func uploadCheckpoint(_ input: Operations.uploadCheckpoint.Input) async throws -> Operations.uploadCheckpoint.Output {
        guard case let .binary(body) = input.body else { throw APIError(.badRequest, "expected bytes", field: "body") }
        let data = try await Data(collecting: body, upTo: ServiceAPI.maximumCheckpointBytes)
        return try guarded(input.path.key, notFound: { .notFound($0) }, leaseLost: { .conflict($0) }) {
            try store.saveCheckpoint(key: input.path.key, worker: input.query.worker, phase: input.query.phase, step: input.query.step,
                                     data: data)
            return .noContent(.init())
        }
    }

    func finishRun(_ input: Operations.finishRun.Input) async throws -> Operations.finishRun.Output {
        guard case let .json(finish) = input.body else { throw APIError(.badRequest, "expected JSON", field: "body") }
        let masks: [(layer: Int, kind: String, bits: Data)]
        do {
            masks = try Self.checkedMasks(finish)
        } catch let error as APIError {
            return .badRequest(.init(body: .json(error.body)))
        }
        let result = try JSONEncoder().encode(finish.result)
        let figures = FinalFigures(testAccuracy: finish.test_accuracy, testLoss: finish.test_loss, totalWeights: finish.total,
                                   kept: finish.kept, effective: finish.effective, directCompression: finish.direct_compression,
                                   effectiveCompression: finish.effective_compression, wallSeconds: finish.wall_seconds,
                                   imagesPerSecond: finish.images_per_second, result: String(decoding: result, as: UTF8.self))
        let layers = finish.layers.map {
            LayerSample(name: $0.name, shape: $0.shape, size: $0.size, kept: $0.kept, effective: $0.effective, quota: $0.quota)
        }
        return try guarded(input.path.key, notFound: { .notFound($0) }, leaseLost: { .conflict($0) }) {
            try store.finish(key: input.path.key, worker: finish.worker, figures: figures, layers: layers, masks: masks)
            return .noContent(.init())
        }
    }

    /// The finish message's masks, decoded and checked against its per-layer table: one packed
    /// mask per layer, the right length, as many bits set as the table says, effective ⊆ direct.
    static func checkedMasks(_ finish: Components.Schemas.Finish) throws -> [(layer: Int, kind: String, bits: Data)] {
        for (index, layer) in finish.layers.enumerated() {
            guard layer.size == layer.shape.reduce(1, *), layer.size > 0, (0...layer.size).contains(layer.kept),
                  (0...layer.kept).contains(layer.effective) else {
                throw APIError(.badRequest, "layer \(index) (\(layer.name)): inconsistent size, kept and effective counts", field: "layers")
            }
        }
        var decoded: [(layer: Int, kind: String, bits: Data)] = []
        for (kind, field, list) in [("direct", "masks", finish.masks), ("effective", "effective_masks", finish.effective_masks)] {
            guard let list else { continue }
            guard list.count == finish.layers.count else {
                throw APIError(.badRequest, "\(list.count) masks for \(finish.layers.count) layers", field: field)
            }
            for (index, (encoded, layer)) in zip(list, finish.layers).enumerated() {
                guard let bits = Data(base64Encoded: encoded) else { throw APIError(.badRequest, "mask \(index) is not base64", field: field) }
                guard bits.count == (layer.size + 7) / 8 else {
                    throw APIError(.badRequest, "mask \(index) has \(bits.count) bytes, \(layer.name) needs \((layer.size + 7) / 8)", field: field)
                }
                let ones = bits.reduce(0) { $0 + $1.nonzeroBitCount }
                let padding = layer.size % 8 == 0 ? 0 : Int(bits[bits.count - 1] >> UInt8(layer.size % 8))
                guard padding == 0, ones == (kind == "direct" ? layer.kept : layer.effective) else {
                    throw APIError(.badRequest, "mask \(index) sets \(ones) bits where \(layer.name) reports "
                                   + "\(kind == "direct" ? layer.kept : layer.effective)", field: field)
                }
                decoded.append((index, kind, bits))
            }
        }
        let direct = decoded.filter { $0.kind == "direct" }, effective = decoded.filter { $0.kind == "effective" }
        if direct.count == effective.count {
            for (d, e) in zip(direct, effective) where zip(d.bits, e.bits).contains(where: { $1 & ~$0 != 0 }) {
                throw APIError(.badRequest, "effective mask \(e.layer) keeps weights its direct mask prunes", field: "effective_masks")
            }
        }
        return decoded
    }

    func failRun(_ input: Operations.failRun.Input) async throws -> Operations.failRun.Output {
        guard case let .json(failure) = input.body else { throw APIError(.badRequest, "expected JSON", field: "body") }
        return try guarded(input.path.key, notFound: { .notFound($0) }, leaseLost: { .conflict($0) }) {
            let status = try store.fail(key: input.path.key, worker: failure.worker, error: String(failure.error.prefix(4000)))
            return .ok(.init(body: .json(.init(status: status))))
        }
    }
}
