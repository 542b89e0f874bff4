import Experiments
import FileSupport
import Foundation
import OpenAPIRuntime
import Store

/// The worker protocol: lease, heartbeat, metrics, checkpoints, finish, fail.
extension ServiceAPI {
    static func now() -> Double { Date().timeIntervalSince1970 }

    static func validKey(_ key: String) -> Bool { key.count == 64 && key.allSatisfy(\.isHexDigit) }

    func leaseRun(_ input: Operations.leaseRun.Input) async throws -> Operations.leaseRun.Output {
        guard case let .json(hello) = input.body else { return .badRequest(.init(body: .json(.init(error: "expected JSON", field: "body")))) }
        do {
            try RequestChecks.worker(hello.worker)
            if let pid = hello.pid, !(0...Int(Int32.max)).contains(pid) { throw StoreError.invalid(field: "pid", reason: "a process id is from 0 to \(Int32.max), got \(pid)") }
            for (field, value) in [("host", hello.host), ("device", hello.device)] where (value?.unicodeScalars.count ?? 0) > 200 {
                throw StoreError.invalid(field: field, reason: "\(field) has at most 200 characters")
            }
        } catch let StoreError.invalid(field, reason) {
            return .badRequest(.init(body: .json(.init(error: reason, field: field))))
        }
        let worker = WorkerInfo(id: hello.worker, host: hello.host ?? "?", device: hello.device ?? "cpu", pid: hello.pid)
        guard let lease = try store.lease(worker: worker, now: Self.now(), duration: leaseSeconds) else { return .noContent(.init()) }
        return .ok(.init(body: .json(.init(key: lease.key, config: lease.config, attempt: lease.attempt,
                                           lease_seconds: leaseSeconds, has_checkpoint: lease.hasCheckpoint, parents: lease.parents))))
    }

    /// Maps the store's lease errors to 404 / 409 answers (and, with `invalid`, its refusals of
    /// inconsistent uploads to 400).
    private func guarded<T>(_ key: String, notFound: (Components.Responses.NotFound) -> T, leaseLost: (Components.Responses.LeaseLost) -> T,
                            invalid: ((Components.Responses.BadRequest) -> T)? = nil, _ body: () async throws -> T) async throws -> T {
        guard Self.validKey(key) else { return notFound(.init(body: .json(.init(error: "unknown run \(key)", field: "key")))) }
        do {
            return try await body()
        } catch let error as StoreError {
            switch error {
            case .unknownRun: return notFound(.init(body: .json(.init(error: "unknown run \(key)", field: "key"))))
            case let .leaseLost(run, worker):
                logger.warning("write refused: the lease is lost", metadata: ["run": "\(run)", "worker": "\(worker)"])
                return leaseLost(.init(body: .json(.init(error: error.description, field: "worker"))))
            case let .invalid(field, reason):
                guard let invalid else { throw error }
                return invalid(.init(body: .json(.init(error: reason, field: field))))
            default: throw error
            }
        }
    }

    /// The layout of a stored run (its config decides the sizes of its masks and checkpoints).
    func layout(of key: String) throws -> RunLayout {
        try layouts.value(for: key) {
            guard let json = try store.runConfig(key) else { throw StoreError.unknownRun(key) }
            return try RunLayout.of(try config(key: key, json: json))
        }
    }

    /// Refuses a write before its body is read when the worker does not hold the lease.
    private func requireLease(_ key: String, worker: String) throws {
        guard try store.holdsLease(key: key, worker: worker) else { throw StoreError.leaseLost(run: key, worker: worker) }
    }

    func heartbeat(_ input: Operations.heartbeat.Input) async throws -> Operations.heartbeat.Output {
        guard case let .json(beat) = input.body else { throw APIError(.badRequest, "expected JSON", field: "body") }
        return try await guarded(input.path.key, notFound: { .notFound($0) }, leaseLost: { .conflict($0) }, invalid: { .badRequest($0) }) {
            try RequestChecks.heartbeat(worker: beat.worker, step: beat.step, totalSteps: beat.total_steps)
            try store.heartbeat(key: input.path.key, worker: beat.worker, now: Self.now(), duration: leaseSeconds, step: beat.step,
                                totalSteps: beat.total_steps)
            return .ok(.init(body: .json(.init(lease_seconds: leaseSeconds))))
        }
    }

    func uploadMetrics(_ input: Operations.uploadMetrics.Input) async throws -> Operations.uploadMetrics.Output {
        guard case let .json(batch) = input.body else { throw APIError(.badRequest, "expected JSON", field: "body") }
        return try await guarded(input.path.key, notFound: { .notFound($0) }, leaseLost: { .conflict($0) }, invalid: { .badRequest($0) }) {
            try RequestChecks.metrics(worker: batch.worker, batch.metrics)
            try store.recordMetrics(key: input.path.key, worker: batch.worker, batch.metrics)
            metrics.metricsIngested.increment(by: Int64(batch.metrics.count))
            return .noContent(.init())
        }
    }

    func downloadCheckpoint(_ input: Operations.downloadCheckpoint.Input) async throws -> Operations.downloadCheckpoint.Output {
        let key = input.path.key
        guard Self.validKey(key), let stored = try store.checkpoint(key), let reader = try? store.artifacts.reader(for: stored.sha256) else {
            return .notFound(.init(body: .json(.init(error: "no checkpoint for run \(key)", field: "key"))))
        }
        // Streamed from the file a megabyte at a time: the server never holds a whole checkpoint.
        return .ok(.init(body: .binary(HTTPBody(ArtifactChunks(reader: reader), length: .known(Int64(reader.size)),
                                                 iterationBehavior: .single))))
    }

    func uploadCheckpoint(_ input: Operations.uploadCheckpoint.Input) async throws -> Operations.uploadCheckpoint.Output {
        guard case let .binary(body) = input.body else { throw APIError(.badRequest, "expected bytes", field: "body") }
        let query = input.query, key = input.path.key
        return try await guarded(key, notFound: { .notFound($0) }, leaseLost: { .conflict($0) }, invalid: { .badRequest($0) }) {
            guard ContentAddress.isSHA256(query.sha256) else {
                throw StoreError.invalid(field: "sha256", reason: "sha256 must be 64 lowercase hexadecimal digits")
            }
            try RequestChecks.worker(query.worker)
            try RequestChecks.count(query.phase, field: "phase")
            try RequestChecks.count(query.step, field: "step")
            try requireLease(key, worker: query.worker)
            let layout = try layout(of: key)
            let limit = layout.maximumCheckpointBytes
            if case let .known(length) = body.length, length > limit {
                return .contentTooLarge(.init(body: .json(.init(error: "a checkpoint of \(layout.architecture) takes at most \(limit) bytes, "
                                                                + "this one has \(length)", field: "body"))))
            }
            let started = Date()
            var check = Checkpoint.StreamCheck(runKey: key, phase: query.phase, step: query.step, layout: layout)
            let upload = try store.artifacts.beginUpload(label: "\(key)-phase\(query.phase)-step\(query.step)")
            defer { upload.abort() }
            do {
                for try await chunk in body {
                    try chunk.withUnsafeBytes { bytes in
                        try check.consume(bytes)
                        try upload.write(bytes)
                    }
                }
                try check.finish()
            } catch let refusal as Checkpoint.StreamCheck.Refusal {
                metrics.uploadsRefused.increment()
                if refusal.tooLarge { return .contentTooLarge(.init(body: .json(.init(error: refusal.description, field: "body")))) }
                throw StoreError.invalid(field: "body", reason: refusal.description)
            }
            guard upload.sha256 == query.sha256 else {
                metrics.uploadsRefused.increment()
                throw StoreError.invalid(field: "sha256", reason: "the body's SHA-256 is \(upload.sha256), not \(query.sha256)")
            }
            let hash = try upload.commit()
            do {
                try store.saveCheckpoint(key: key, worker: query.worker, phase: query.phase, step: query.step, sha256: hash,
                                         size: upload.bytesWritten)
            } catch {
                try? store.release([hash])
                throw error
            }
            metrics.checkpointBytes.increment(by: Int64(upload.bytesWritten))
            logger.info("checkpoint stored", metadata: ["run": "\(key)", "worker": "\(query.worker)", "phase": "\(query.phase)",
                                                        "step": "\(query.step)", "bytes": "\(upload.bytesWritten)",
                                                        "seconds": "\(String(format: "%.3f", Date().timeIntervalSince(started)))"])
            return .noContent(.init())
        }
    }

    func uploadMasks(_ input: Operations.uploadMasks.Input) async throws -> Operations.uploadMasks.Output {
        guard case let .binary(body) = input.body else { throw APIError(.badRequest, "expected bytes", field: "body") }
        let query = input.query, key = input.path.key
        return try await guarded(key, notFound: { .notFound($0) }, leaseLost: { .conflict($0) }, invalid: { .badRequest($0) }) {
            try RequestChecks.worker(query.worker)
            try requireLease(key, worker: query.worker)
            let layout = try layout(of: key)
            let expected = layout.packedMaskBytes
            func tooLarge(_ length: Int64?) -> Operations.uploadMasks.Output {
                .contentTooLarge(.init(body: .json(.init(error: "the \(query.kind.rawValue) masks of \(layout.architecture) take exactly "
                                                         + "\(expected) bytes\(length.map { ", this body has \($0)" } ?? "")", field: "body"))))
            }
            if case let .known(length) = body.length, length > expected { return tooLarge(length) }
            var bytes: [UInt8] = []
            bytes.reserveCapacity(expected)
            for try await chunk in body {
                guard bytes.count + chunk.count <= expected else { return tooLarge(nil) }
                bytes += chunk
            }
            let layers = try RequestChecks.masks(bytes, layout: layout, kind: query.kind.rawValue)
            try store.saveMasks(key: key, worker: query.worker, kind: query.kind.rawValue, layers: layers)
            return .noContent(.init())
        }
    }

    func finishRun(_ input: Operations.finishRun.Input) async throws -> Operations.finishRun.Output {
        guard case let .json(finish) = input.body else { throw APIError(.badRequest, "expected JSON", field: "body") }
        let key = input.path.key
        return try await guarded(key, notFound: { .notFound($0) }, leaseLost: { .conflict($0) }, invalid: { .badRequest($0) }) {
            try RequestChecks.worker(finish.worker)
            try requireLease(key, worker: finish.worker)
            try store.finish(key: key, worker: finish.worker, figures: try RequestChecks.finish(finish, layout: try layout(of: key)))
            return .noContent(.init())
        }
    }

    func failRun(_ input: Operations.failRun.Input) async throws -> Operations.failRun.Output {
        guard case let .json(failure) = input.body else { throw APIError(.badRequest, "expected JSON", field: "body") }
        return try await guarded(input.path.key, notFound: { .notFound($0) }, leaseLost: { .conflict($0) }, invalid: { .badRequest($0) }) {
            try RequestChecks.worker(failure.worker)
            let status = try store.fail(key: input.path.key, worker: failure.worker, error: String(failure.error.prefix(4000)))
            return .ok(.init(body: .json(.init(status: status))))
        }
    }
}

/// A file (a stored artifact, a checkpoint being uploaded) as the chunks of an HTTP body, read a
/// megabyte at a time as the other side takes them (the sequence is pulled, so a slow peer slows
/// the reads instead of filling memory).
struct ArtifactChunks: AsyncSequence, Sendable {
    typealias Element = ArraySlice<UInt8>
    let reader: any ArtifactReader

    struct AsyncIterator: AsyncIteratorProtocol {
        let reader: any ArtifactReader
        mutating func next() async throws -> ArraySlice<UInt8>? {
            let chunk = try reader.read(upTo: 1 << 20)
            return chunk.isEmpty ? nil : chunk[...]
        }
    }

    func makeAsyncIterator() -> AsyncIterator { AsyncIterator(reader: reader) }
}
