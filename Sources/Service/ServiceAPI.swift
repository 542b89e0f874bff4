import Experiments
import Foundation
import Logging
import HTTPTypes
import OpenAPIRuntime
import Store

/// Implements the OpenAPI document's operations over the store: thin glue, the logic lives in
/// `SweepSpec` (Experiments) and `Store`.
struct ServiceAPI: APIProtocol {
    let store: Store
    /// How long a lease lasts without a heartbeat.
    let leaseSeconds: Double
    let logger: Logger
    let metrics: ServiceMetrics
    /// Decoded run configs by key (a key is the hash of its config, so entries never go stale).
    let configs = BoundedCache<String, RunConfig>(capacity: 50_000)
    /// Layouts of runs, by key (a key is the hash of its config: entries never go stale).
    let layouts = BoundedCache<String, RunLayout>(capacity: 10_000)
    /// `Store.runVariants` by sweep: a sweep's runs and their configs never change once stored,
    /// and the page's polls would otherwise parse every config of a large sweep again and again.
    let variants = BoundedCache<Int64, [String: String]>(capacity: 256)

    /// A stored run's config, decoded once.
    func config(key: String, json: String) throws -> RunConfig {
        try configs.value(for: key) { try RunConfig.parse(Data(json.utf8)) }
    }

    func variants(of sweep: Int64) throws -> [String: String] {
        try variants.value(for: sweep) { try store.runVariants(sweep: sweep) }
    }

    func createSweep(_ input: Operations.createSweep.Input) async throws -> Operations.createSweep.Output {
        guard case let .json(document) = input.body else { return .badRequest(.init(body: .json(APIError(.badRequest, "expected JSON", field: "body").body))) }
        do {
            let spec = try SweepSpec(document)
            let cells = try spec.runs()
            try checkImportedModels(cells)
            let runs = cells.map { NewRun($0, maxAttempts: spec.maxAttempts) }
            let submission = try store.submitSweep(name: spec.name, spec: SubmittedSweep.text ?? document.text, runs: runs)
            return .created(.init(body: .json(.init(id: submission.id, runs: submission.runs, new: submission.new,
                                                    reused: submission.reused, requeued: submission.requeued))))
        } catch let error as SweepError {
            return .badRequest(.init(body: .json(.init(error: error.reason, field: error.field))))
        }
    }

    func getSweep(_ input: Operations.getSweep.Input) async throws -> Operations.getSweep.Output {
        let id = input.path.id
        guard let sweep = try store.sweep(id) else {
            return .notFound(.init(body: .json(.init(error: "unknown sweep \(id)", field: "id"))))
        }
        return .ok(.init(body: .json(try sweepBody(sweep))))
    }

    func getRun(_ input: Operations.getRun.Input) async throws -> Operations.getRun.Output {
        let key = input.path.key
        guard key.count == 64, key.allSatisfy(\.isHexDigit) else {
            return .badRequest(.init(body: .json(.init(error: "a run key is 64 hexadecimal digits", field: "key"))))
        }
        guard let run = try store.runSummary(key) else {
            return .notFound(.init(body: .json(.init(error: "unknown run \(key)", field: "key"))))
        }
        let config = try config(key: key, json: run.config)
        func finite(_ value: Double?) -> Double? { value.flatMap { $0.isFinite ? $0 : nil } }
        return .ok(.init(body: .json(.init(
            key: key, status: run.status, attempts: run.attempts, error: run.error,
            config: config, max_attempts: run.maxAttempts, worker: run.worker, step: run.step,
            total_steps: run.totalSteps, created_at: run.createdAt, started_at: run.startedAt, finished_at: run.finishedAt,
            parents: run.parents, test_accuracy: run.testAccuracy, test_loss: run.testLoss, total: run.totalWeights, kept: run.kept,
            effective: run.effective, direct_compression: finite(run.directCompression),
            effective_compression: finite(run.effectiveCompression), wall_seconds: run.wallSeconds,
            images_per_second: run.imagesPerSecond, layers: run.layers.isEmpty ? nil : run.layers))))
    }
}

/// Values computed once per key, for keys whose value never changes. Bounded: emptied when it
/// reaches `capacity`.
final class BoundedCache<Key: Hashable & Sendable, Value: Sendable>: @unchecked Sendable {
    private let lock = NSLock()
    private var entries: [Key: Value] = [:]
    let capacity: Int

    init(capacity: Int) { self.capacity = capacity }

    func value(for key: Key, compute: () throws -> Value) rethrows -> Value {
        if let hit = lock.withLock({ entries[key] }) { return hit }
        let computed = try compute()
        lock.withLock {
            if entries.count >= capacity { entries.removeAll(keepingCapacity: true) }
            entries[key] = computed
        }
        return computed
    }
}

extension NewRun {
    /// The store's view of a sweep's run.
    public init(_ run: SweepRun, maxAttempts: Int) {
        let config = run.config
        self.init(key: config.key, config: String(decoding: config.canonicalJSON, as: UTF8.self), architecture: config.architecture,
                  dataset: config.dataset, pruner: config.pruner.name, mode: config.mode, compression: config.compression,
                  seed: Int64(bitPattern: config.seed), shuffle: config.shuffle, parents: run.parents, maxAttempts: maxAttempts)
    }
}

/// The text of a sweep as its author sent it, stored with the sweep. The generated server reads
/// the body into a `SweepDocument`; this middleware keeps the bytes it read (bounded already by
/// the body limit) for `createSweep`, which runs inside it.
struct SubmittedSweep: ServerMiddleware {
    @TaskLocal static var text: String?

    func intercept(_ request: HTTPRequest, body: HTTPBody?, metadata: ServerRequestMetadata, operationID: String,
                   next: @Sendable (HTTPRequest, HTTPBody?, ServerRequestMetadata) async throws -> (HTTPResponse, HTTPBody?))
        async throws -> (HTTPResponse, HTTPBody?) {
        guard operationID == "createSweep", let body else { return try await next(request, body, metadata) }
        let bytes = try await [UInt8](collecting: body, upTo: .max)
        // Bytes that are not UTF-8 are no JSON the decoder takes; the parsed document stands in.
        return try await Self.$text.withValue(String(validating: bytes, as: UTF8.self)) {
            try await next(request, HTTPBody(bytes), metadata)
        }
    }
}

/// The store's status enums under names the generated code can spell: the document's
/// `RunStatusName` and `SweepStatusName` are these (typeOverrides), but `Store.RunStatus` would
/// name a member of the class `Store`, and a bare `RunStatus` inside `Components.Schemas` the
/// document's own `RunStatus` object.
public typealias StoreRunStatus = RunStatus
public typealias StoreSweepStatus = SweepStatus
