import AsyncHTTPClient
import Crypto
import Experiments
import Figures
import Foundation
import HTTPTypes
import Logging
import OpenAPIAsyncHTTPClient
import OpenAPIRuntime
import Pruning
import Store
import Tensors
#if canImport(Glibc)
import Glibc
#endif
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif

/// How a worker runs.
public struct WorkerConfiguration: Sendable {
    /// 2 GiB: Fashion-MNIST (0.2 GB normalised) and CIFAR-10 (0.7 GB) together.
    public static let defaultDataCacheBytes = 2 << 30
    /// The API root, e.g. http://127.0.0.1:8080/api/v1.
    public var server: URL
    public var token: String
    /// "cpu" or "gpu:N".
    public var device: String
    /// Seconds between polls when the queue is empty.
    public var pollInterval: Double
    /// Stop when the queue is empty instead of polling (tests, batch jobs).
    public var exitWhenIdle: Bool
    /// Where runs keep their local files while executing.
    public var scratchDirectory: String
    /// Least seconds between checkpoint uploads (`RunExecutor.checkpointInterval`).
    public var checkpointSeconds: Double
    /// The backend runs compute on (opened once by the caller, for `device`).
    public var backend: BackendHandle
    /// Data sets kept decoded and normalised between runs (`--data-cache-mb`).
    public var dataCache: DatasetCache
    /// Seconds the requests in flight when `stop()` is called get to finish (the checkpoint of
    /// the steps done, a finish) before they are cancelled.
    public var stopGraceSeconds: Double = 3

    public init(server: URL, token: String, device: String = "cpu", pollInterval: Double = 1, exitWhenIdle: Bool = false,
                scratchDirectory: String = NSTemporaryDirectory(), checkpointSeconds: Double = 60, backend: any Backend = CPUBackend.shared,
                dataCacheBytes: Int = WorkerConfiguration.defaultDataCacheBytes) {
        self.server = server; self.token = token; self.device = device; self.pollInterval = pollInterval
        self.exitWhenIdle = exitWhenIdle; self.scratchDirectory = scratchDirectory; self.checkpointSeconds = checkpointSeconds
        self.backend = BackendHandle(backend)
        self.dataCache = DatasetCache(capacityBytes: dataCacheBytes)
    }
}

/// A backend passed between tasks: a worker runs one run at a time, on one thread at a time, so
/// the backend is never used concurrently.
public struct BackendHandle: @unchecked Sendable {
    public let backend: any Backend
    public init(_ backend: any Backend) { self.backend = backend }
}

/// Adds `Authorization: Bearer <token>` to every request of the generated client.
public struct BearerToken: ClientMiddleware {
    let token: String
    public init(token: String) { self.token = token }
    public func intercept(_ request: HTTPRequest, body: HTTPBody?, baseURL: URL, operationID: String,
                   next: (HTTPRequest, HTTPBody?, URL) async throws -> (HTTPResponse, HTTPBody?)) async throws -> (HTTPResponse, HTTPBody?) {
        var request = request
        request.headerFields[.authorization] = "Bearer \(token)"
        return try await next(request, body, baseURL)
    }
}

/// A leased config that does not hash to its run key: the run fails (with this error) rather than
/// training something else under its name.
struct ConfigMismatch: Error, CustomStringConvertible {
    let description: String
}

/// A worker failure that is not the run's fault (the server said no).
public struct WorkerError: Error, CustomStringConvertible {
    public let description: String
}

/// The server answered 503 or 507 (its disk is full, it is shutting down): nothing was written,
/// and the same request may succeed later, so it is retried like an unreachable server.
public struct ServerUnavailable: Error, CustomStringConvertible {
    public let status: Int
    public let message: String
    public var description: String { "HTTP \(status): \(message)" }
}

/// Turns 503 and 507 answers into `ServerUnavailable`, which every caller retries (the generated
/// client would hand them back as undocumented answers, which callers treat as refusals).
struct RetryLater: ClientMiddleware {
    func intercept(_ request: HTTPRequest, body: HTTPBody?, baseURL: URL, operationID: String,
                   next: (HTTPRequest, HTTPBody?, URL) async throws -> (HTTPResponse, HTTPBody?)) async throws -> (HTTPResponse, HTTPBody?) {
        let (response, responseBody) = try await next(request, body, baseURL)
        guard response.status.code == 503 || response.status.code == 507 else { return (response, responseBody) }
        var message = ""
        if let responseBody, let bytes = try? await Data(collecting: responseBody, upTo: 64 * 1024) {
            message = ((try? JSONSerialization.jsonObject(with: bytes)) as? [String: Any])?["error"] as? String
                ?? String(decoding: bytes, as: UTF8.self)
        }
        throw ServerUnavailable(status: response.status.code, message: message)
    }
}

/// The workers' HTTP client: `HTTPClient.shared`'s settings, except that a refused connection (the
/// server is down or restarting) fails the request at once; AsyncHTTPClient would otherwise retry
/// the connection until the request's deadline (two minutes, two hours for uploads), during which
/// the uplink sends no heartbeat and a stop waits. The worker retries on its own schedule instead.
/// One for the process, never shut down, like `.shared`.
let workerHTTPClient: HTTPClient = {
    var configuration = HTTPClient.Configuration.singletonConfiguration
    configuration.connectionPool.retryConnectionEstablishment = false
    configuration.timeout.connect = .seconds(10)
    return HTTPClient(eventLoopGroup: HTTPClient.defaultEventLoopGroup, configuration: configuration)
}()

/// Pulls runs from the server and executes them with the embedded engine: lease → (parent state,
/// checkpoint) → RunExecutor, streaming metrics, heartbeats and checkpoints → final result, or a
/// failure report. An expired lease lets another worker resume from the last uploaded checkpoint.
public final class Worker: @unchecked Sendable {
    public let configuration: WorkerConfiguration
    public let id: String
    /// Requests with small bodies: a minute or two each at most.
    let client: Client
    /// Checkpoint transfers (hundreds of megabytes on a slow link): streamed, with a long deadline.
    let bulk: Client
    private let stopLock = NSLock()
    private var stopRequested = false
    /// The task of `run`, cancelled `stopGraceSeconds` after `stop()`.
    private var current: Task<Int, any Error>?
    /// Whether the last run failed because this machine's disk is full (set by `execute`).
    private var localDiskFull = false

    /// Asks the worker to stop soon (SIGTERM from systemd, Slurm or Kubernetes): no new lease, the
    /// current run stops before its next step, pruning round, effective-target probe or evaluation batch
    /// without reporting a failure, no retry waits any longer, and `run` returns; requests still
    /// in flight after `stopGraceSeconds` are cancelled. The run's lease then expires and another
    /// worker resumes it from its last uploaded checkpoint.
    public func stop() {
        let task = stopLock.withLock { () -> Task<Int, any Error>? in
            stopRequested = true
            return current
        }
        guard let task else { return }
        let grace = configuration.stopGraceSeconds
        Task.detached {
            try? await Task.sleep(nanoseconds: UInt64(max(0, grace) * 1e9))
            task.cancel()
        }
    }

    /// Whether `stop()` was called.
    public var isStopping: Bool { stopLock.withLock { stopRequested } }

    /// Sleeps up to `seconds`, waking early (within 50 ms) when asked to stop.
    private func pause(_ seconds: Double) async throws {
        let deadline = Date().addingTimeInterval(seconds)
        while !isStopping, Date() < deadline {
            try await Task.sleep(nanoseconds: UInt64(min(0.05, max(0, deadline.timeIntervalSinceNow)) * 1e9))
        }
    }

    public init(_ configuration: WorkerConfiguration) {
        self.configuration = configuration
        id = "\(ProcessInfo.processInfo.hostName):\(ProcessInfo.processInfo.processIdentifier):\(configuration.device)"
        // AsyncHTTPClient streams request and response bodies (URLSession's transport collects them
        // whole on Linux): checkpoints go from file to socket and back a chunk at a time.
        client = Client(serverURL: configuration.server, configuration: apiCoding,
                        transport: AsyncHTTPClientTransport(configuration: .init(client: workerHTTPClient, timeout: .minutes(2))),
                        middlewares: [RetryLater(), BearerToken(token: configuration.token)])
        bulk = Client(serverURL: configuration.server, configuration: apiCoding,
                      transport: AsyncHTTPClientTransport(configuration: .init(client: workerHTTPClient, timeout: .hours(2))),
                      middlewares: [RetryLater(), BearerToken(token: configuration.token)])
    }

    /// Leases and executes runs until the queue is empty (`exitWhenIdle`), `stop()` or forever.
    /// Returns the number of runs executed.
    @discardableResult
    public func run(logger: Logger = Logger(label: "prunelab-worker") { _ in SwiftLogNoOpLogHandler() }) async throws -> Int {
        // Its own task, so that `stop()` can cancel whatever it awaits (a request to a server
        // that no longer answers) once the grace period is over.
        let task = Task { try await self.leaseLoop(logger: logger) }
        let stopped = stopLock.withLock { () -> Bool in
            current = task
            return stopRequested
        }
        if stopped { stop() }
        return try await withTaskCancellationHandler { try await task.value } onCancel: { task.cancel() }
    }

    private func leaseLoop(logger: Logger) async throws -> Int {
        var logger = logger
        var fullDiskPause = 2.5
        logger[metadataKey: "worker"] = "\(id)"
        var executed = 0
        while !isStopping {
            let hello = Components.Schemas.WorkerHello(worker: id, host: ProcessInfo.processInfo.hostName, device: configuration.device,
                                                       pid: Int(ProcessInfo.processInfo.processIdentifier))
            let answer: Operations.leaseRun.Output
            do {
                answer = try await client.leaseRun(body: .json(hello))
            } catch {
                if isStopping { break }
                // The server may be restarting: keep trying rather than losing the worker.
                logger.warning("server unreachable; retrying", metadata: ["error": "\(Self.brief(error))"])
                try await pause(configuration.pollInterval)
                continue
            }
            switch answer {
            case let .ok(ok):
                let lease = try ok.body.json
                var log = logger
                log[metadataKey: "run"] = "\(lease.key)"
                log.info("run leased", metadata: ["attempt": "\(lease.attempt)", "resume": "\(lease.has_checkpoint)"])
                try await execute(lease, log: log)
                if !isStopping { executed += 1 }
                if localDiskFull {
                    // Leasing on at once would fail every queued run here in turn: pause and let
                    // other workers take them, trying again later (space may be freed).
                    fullDiskPause = min(fullDiskPause * 2, 120)
                    logger.warning("this machine's scratch disk is full; pausing before the next lease",
                                   metadata: ["seconds": "\(fullDiskPause)", "scratch": "\(configuration.scratchDirectory)"])
                    try await pause(fullDiskPause)
                } else {
                    fullDiskPause = 2.5
                }
                // A device error is sticky (CUDA's context is unusable until the process ends): stop
                // leasing rather than failing every run that follows; systemd, Slurm or serve's
                // supervisor starts a fresh process.
                do { try configuration.backend.backend.synchronize() } catch {
                    throw WorkerError(description: "the device failed (\(error)); exiting so that a fresh process gets a fresh device")
                }
            case .noContent:
                if configuration.exitWhenIdle { return executed }
                try await pause(configuration.pollInterval)
            case let .unauthorized(answer):
                throw WorkerError(description: "server refused the token: \((try? answer.body.json.error) ?? "")")
            case let .forbidden(answer):
                throw WorkerError(description: "server refused the token (a read token cannot lease): \((try? answer.body.json.error) ?? "")")
            case let .badRequest(answer):
                throw WorkerError(description: "server refused the lease request: \((try? answer.body.json.error) ?? "")")
            case let .contentTooLarge(answer):
                throw WorkerError(description: "server refused the lease request: \((try? answer.body.json.error) ?? "")")
            case let .unsupportedMediaType(answer):
                throw WorkerError(description: "server refused the lease request: \((try? answer.body.json.error) ?? "")")
            case .code507:
                // The server's disk is full (`RetryLater` turns this into a
                // retry before it gets here): nothing was leased, ask again later.
                logger.warning("server disk full; retrying")
                try await pause(configuration.pollInterval)
            case let .undocumented(status, _) where status >= 500:
                // A server fault (logged there) is no reason to stop working: ask again later.
                logger.warning("lease: the server answered HTTP \(status); retrying")
                try await pause(max(configuration.pollInterval, 2))
            case let .undocumented(status, _):
                throw WorkerError(description: "lease: unexpected HTTP \(status)")
            }
        }
        return executed
    }

    /// Downloads a run's checkpoint into `folder`, a chunk at a time, and reads it (mapped). A
    /// transfer cut short by a restart of the server is made again, as finishing is: reporting it
    /// as the run's failure would spend one of the run's attempts (and fail it for good on its last).
    private func fetchCheckpoint(_ key: String, into folder: URL, log: Logger) async throws -> Checkpoint {
        let path = folder.appendingPathComponent("download-\(key).bin").path
        defer { try? FileManager.default.removeItem(atPath: path) }
        guard try await retrying({ try await self.download(key, to: path) }, log: log) else {
            throw WorkerError(description: "no checkpoint for run \(key) on the server")
        }
        return try Checkpoint.read(path: path)
    }

    /// Where this machine's workers keep the models they downloaded (`<sha256>.onnx`), between runs.
    var modelsFolder: String { URL(fileURLWithPath: configuration.scratchDirectory).appendingPathComponent("prunelab-models").path }

    /// Makes model `sha256` available to the engine (`ImportedModels`): downloaded once into
    /// `modelsFolder`, checked against its name before it is moved into place.
    private func fetchModel(_ sha256: String, log: Logger) async throws {
        let folder = modelsFolder, path = "\(folder)/\(sha256).onnx"
        ImportedModels.shared.addFolder(folder)
        if FileManager.default.fileExists(atPath: path) { return }
        do {
            try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        } catch {
            throw ScratchError(path: folder, underlying: error)
        }
        let partial = "\(folder)/.download-\(sha256)-\(UUID().uuidString)"
        defer { try? FileManager.default.removeItem(atPath: partial) }
        let found = try await retrying({ () async throws -> Bool in
            guard case let .ok(ok) = try await self.bulk.downloadModel(path: .init(sha256: sha256)) else { return false }
            try await self.save(ok.body.binary, to: partial)
            return true
        }, log: log)
        guard found else { throw WorkerError(description: "the server has no model \(sha256)") }
        let actual = try fileSHA256(partial)
        guard actual == sha256 else { throw WorkerError(description: "model \(sha256) arrived hashing to \(actual)") }
        // Atomic: another worker of this machine may be moving the same file into place.
        guard rename(partial, path) == 0 else { throw ScratchError(path: path, reason: String(cString: strerror(errno))) }
        log.info("model downloaded", metadata: ["model": "\(sha256)"])
    }

    /// Writes a streamed body into the file at `path`. A full scratch disk is the run's failure
    /// (retried elsewhere), not a lost lease.
    private func save(_ body: HTTPBody, to path: String) async throws {
        let descriptor = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
        guard descriptor >= 0 else { throw ScratchError(path: path, reason: String(cString: strerror(errno))) }
        let file = FileHandle(fileDescriptor: descriptor, closeOnDealloc: true)
        do {
            for try await chunk in body { try file.write(contentsOf: chunk) }
            try file.close()
        } catch let error as CocoaError {
            throw ScratchError(path: path, underlying: error)
        }
    }

    /// Streams a run's stored checkpoint into the file at `path`; false when the server has none.
    /// A full scratch disk is the run's failure (retried elsewhere), not a lost lease.
    private func download(_ key: String, to path: String) async throws -> Bool {
        guard case let .ok(ok) = try await bulk.downloadCheckpoint(path: .init(key: key)) else { return false }
        try await save(try ok.body.binary, to: path)
        return true
    }

    /// Uploads a checkpoint file, streamed; `sha256` is the file's hash (computed here when nil).
    func uploadCheckpoint(_ key: String, path: String, phase: Int, step: Int, sha256: String? = nil) async throws
        -> Operations.uploadCheckpoint.Output {
        let hash = try sha256 ?? fileSHA256(path)
        let reader = try FileChunkReader(path: path)
        return try await bulk.uploadCheckpoint(path: .init(key: key), query: .init(worker: id, phase: phase, step: step, sha256: hash),
                                               body: .binary(HTTPBody(ArtifactChunks(reader: reader), length: .known(Int64(reader.size)),
                                                                      iterationBehavior: .single)))
    }

    /// Uploads a checkpoint the engine handed over as bytes.
    func uploadCheckpoint(_ key: String, bytes: Data, phase: Int, step: Int, sha256: String) async throws
        -> Operations.uploadCheckpoint.Output {
        try await bulk.uploadCheckpoint(path: .init(key: key), query: .init(worker: id, phase: phase, step: step, sha256: sha256),
                                        body: .binary(HTTPBody(bytes)))
    }

    /// Executes one leased run and reports its outcome.
    func execute(_ lease: Components.Schemas.Lease, log: Logger) async throws {
        let key = lease.key
        localDiskFull = false
        let folder = URL(fileURLWithPath: configuration.scratchDirectory).appendingPathComponent("prunelab-worker-\(key)-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: folder) }
        do {
            // A full or read-only scratch disk fails the run (retried by another worker), never the worker.
            do {
                try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
            } catch {
                throw ScratchError(path: folder.path, underlying: error)
            }
            // The key is the hash of the config text: a mismatch means it was altered on the way.
            let hash = Array(SHA256.hash(data: Data(lease.config.utf8))).hexString
            guard hash == key else {
                throw ConfigMismatch(description: "the config of run \(key) hashes to \(hash); refusing to run it")
            }
            let config = try RunConfig.parse(Data(lease.config.utf8))
            if case let .imported(sha256)? = Architecture(config.architecture) { try await fetchModel(sha256, log: log) }
            let parent = try await lease.parents.first.asyncMap { try await fetchCheckpoint($0, into: folder, log: log) }
            let resume = lease.has_checkpoint ? try await fetchCheckpoint(key, into: folder, log: log) : nil
            // Checkpoints go to the uplink as bytes; only the final state is a file, which dense runs
            // upload at the end for their children (nobody prunes a pruned run's final state).
            let files = RunFiles(checkpoint: nil,
                                 final: config.pruner.isDense ? folder.appendingPathComponent("final.bin").path : nil)
            let uplink = Uplink(worker: self, key: key, leaseSeconds: lease.lease_seconds, log: log)
            // Metrics the checkpoint has passed go up again (idempotently), whatever the last worker managed to send.
            var history = (resume?.header.metrics ?? []).filter(\.value.isFinite)
            await uplink.send(&history)
            let executor = try RunExecutor(config: config, reporter: uplink, files: files, parent: parent,
                                           backend: configuration.backend.backend)
            executor.checkpointInterval = configuration.checkpointSeconds
            // A lost lease abandons the work (another worker has it); a stop request checkpoints it.
            executor.stop = { [self] _, _ in uplink.leaseLost ? .abandon : isStopping ? .checkpointAndStop : nil }
            // The engine blocks its thread for the whole run; the uplink streams beside it.
            let uplinkTask = Task { await uplink.pump() }
            let result: RunResult
            do {
                let cache = configuration.dataCache
                // On the process's one compute thread, whose OpenMP team every run reuses (see ComputeThread).
                result = try await ComputeThread.shared.run {
                    let splits = try cache.splits(dataset: config.dataset, architecture: config.architecture, directory: config.dataDirectory)
                    return try executor.run(resume: resume, splits: splits)
                }
            } catch let error as RunInterrupted where isStopping {
                uplink.close()
                // Cancelled (the upload too) when the grace period is over: a stop never waits on a dead link.
                await withTaskCancellationHandler { await uplinkTask.value } onCancel: { uplinkTask.cancel() }
                // close() flushed the checkpoint of the steps done so far to the server.
                log.notice("run stopped on request (at its uploaded checkpoint once it had trained); its lease will expire and another worker resumes it",
                           metadata: ["step": "\(error.step)", "phase": "\(error.phase)", "during": "\(error.during)"])
                return
            } catch let error as RunInterrupted where uplink.leaseLost {
                uplink.close()
                await withTaskCancellationHandler { await uplinkTask.value } onCancel: { uplinkTask.cancel() }
                // Another worker has the run now: nothing to report (the server would refuse it anyway).
                throw WorkerError(description: "lost the lease of run \(key) during \(error.during)")
            } catch {
                uplink.close()
                await withTaskCancellationHandler { await uplinkTask.value } onCancel: { uplinkTask.cancel() }
                throw error
            }
            uplink.close()
            await withTaskCancellationHandler { await uplinkTask.value } onCancel: { uplinkTask.cancel() }
            if uplink.leaseLost { throw WorkerError(description: "lost the lease of run \(key)") }
            // Metrics the server could not store meanwhile (its disk was full, it restarted) go up
            // before the result, so that a finished run has no gap in its curves.
            let unsent = uplink.takeUnsent()
            if !unsent.isEmpty {
                let answer = try await retrying({
                    try await self.client.uploadMetrics(path: .init(key: key), body: .json(.init(worker: self.id, metrics: unsent)))
                }, log: log)
                if case .conflict = answer { throw WorkerError(description: "lost the lease of run \(key) before finishing") }
            }
            // Masks go up as binary, both kinds, before the figures that finishing checks them against.
            guard let masks = uplink.packedMasks else { throw WorkerError(description: "run \(key) reported no masks") }
            for (kind, bits) in [(Operations.uploadMasks.Input.Query.kindPayload.direct, masks.direct), (.effective, masks.effective)] {
                let answer = try await retrying({
                    try await self.client.uploadMasks(path: .init(key: key), query: .init(worker: self.id, kind: kind),
                                                      body: .binary(HTTPBody(bits)))
                }, log: log)
                switch answer {
                case .noContent: break
                case .conflict: throw WorkerError(description: "lost the lease of run \(key) before finishing")
                default: throw WorkerError(description: "the server refused the \(kind.rawValue) masks of run \(key): \(answer)")
                }
            }
            // Dense runs leave their final state on the server: children prune it.
            if config.pruner.isDense, let final = files.final {
                let answer = try await retrying({
                    try await self.uploadCheckpoint(key, path: final, phase: 0, step: config.training.iterations)
                }, log: log)
                guard case .noContent = answer else { throw WorkerError(description: "the server refused the final state of run \(key): \(answer)") }
            }
            let finish = Components.Schemas.Finish(worker: id, figures: result.figures)
            switch try await retrying({ try await self.client.finishRun(path: .init(key: key), body: .json(finish)) }, log: log) {
            case .noContent:
                log.info("run finished", metadata: ["test_accuracy": "\(result.testAccuracy)",
                                                    "effective_compression": "\(result.effectiveCompression)",
                                                    "wall_seconds": "\(result.wallSeconds)",
                                                    "profile": "\(executor.profile.summary)"])
            case .conflict: throw WorkerError(description: "lost the lease of run \(key) before finishing")
            case let .badRequest(answer):
                throw WorkerError(description: "the server refused the result of run \(key): \((try? answer.body.json.error) ?? "")")
            default: throw WorkerError(description: "the server refused the result of run \(key)")
            }
        } catch let error as WorkerError {
            log.warning("run abandoned", metadata: ["reason": "\(error.description)"])
        } catch where isStopping {
            // Whatever the stop cut short (a download, an upload, a finish) is not the run's fault:
            // its lease expires and another worker resumes it.
            log.notice("run left on stop; its lease will expire and another worker resumes it",
                       metadata: ["interrupted": "\(Self.brief(error))"])
        } catch {
            log.error("run failed", metadata: ["error": "\(error)"])
            _ = try? await client.failRun(path: .init(key: key), body: .json(.init(worker: id, error: "\(error)")))
            if Self.isDiskFull(error) { localDiskFull = true }
        }
    }

    /// Whether a run failed for want of space on this machine (its scratch folder, its temp space).
    static func isDiskFull(_ error: any Error) -> Bool {
        if DiskFull.of(error) != nil { return true }
        let text = "\(error)"
        return text.contains(String(cString: strerror(ENOSPC))) || text.contains("errno \(ENOSPC)")
    }

    /// Retries a request while the server cannot be reached (a restart) or cannot write (503,
    /// 507), for about a minute; not at all once the worker is stopping. The worker's own refusals
    /// (`WorkerError`) and a full scratch disk (`ScratchError`) are thrown at once.
    func retrying<T>(_ request: () async throws -> T, log: Logger) async throws -> T {
        var delay = 0.2
        for attempt in 1... {
            do {
                return try await request()
            } catch where attempt < 12 && !isStopping && !(error is WorkerError) && !(error is ScratchError) {
                log.warning("server unavailable; retrying", metadata: ["error": "\(Self.brief(error))", "delay_seconds": "\(delay)"])
                try await pause(delay)
                if isStopping { throw error }
                delay = min(delay * 2, 10)
            }
        }
        preconditionFailure("unreachable")
    }

    /// The transport's own error, without the request dump the generated client wraps it in.
    static func brief(_ error: any Error) -> String {
        "\((error as? ClientError)?.underlyingError ?? error)"
    }
}

extension Optional {
    func asyncMap<T>(_ transform: (Wrapped) async throws -> T) async rethrows -> T? {
        guard let self else { return nil }
        return try await transform(self)
    }
}

/// The run's events, from the engine's thread to the server: metrics in batches, progress as
/// heartbeats (and a heartbeat at least every third of the lease), checkpoints as uploads. The
/// engine's thread queues events and wakes the pump, which sends whatever has queued meanwhile
/// as one batch; nothing polls.
final class Uplink: Reporter, @unchecked Sendable {
    unowned let worker: Worker
    var client: Client { worker.client }
    let key: String
    let leaseSeconds: Double
    private let lock = NSLock()
    private var pending: [RunEvent] = []
    private var closed = false
    private var lost = false
    /// Wake-ups of the pump: an event queued, the heartbeat due, the run over. Coalesced: the
    /// pump drains everything queued at each.
    private let wakeups: AsyncStream<Void>
    private let wake: AsyncStream<Void>.Continuation
    /// Metrics the server did not store, sent again first.
    private var unsent: [MetricRecord] = []
    /// The masks the run trains with, packed as the masks route takes them.
    private(set) var packedMasks: (direct: Data, effective: Data)?

    /// Logs the run's stages (pruning, training, lottery-ticket rounds) as the engine enters them.
    let log: Logger

    init(worker: Worker, key: String, leaseSeconds: Double, log: Logger) {
        self.worker = worker; self.key = key; self.leaseSeconds = leaseSeconds; self.log = log
        (wakeups, wake) = AsyncStream.makeStream(of: Void.self, bufferingPolicy: .bufferingNewest(1))
    }

    var leaseLost: Bool { lock.withLock { lost } }

    var takesCheckpoints: Bool { true }

    func report(_ event: RunEvent) {
        if case let .stage(name) = event { log.info("run stage", metadata: ["stage": "\(name)"]) }
        if case let .masks(masks, effectiveMasks, _) = event {
            let packed = (Self.pack(masks), Self.pack(effectiveMasks))
            lock.withLock { packedMasks = packed }
        }
        // Checkpoints come as bytes (takesCheckpoints): nothing of them is read back from disk.
        lock.withLock { pending.append(event) }
        wake.yield()
    }

    func close() {
        lock.withLock { closed = true }
        wake.yield()
    }

    /// The metrics the server has not stored yet (after `close()` and the last pump).
    func takeUnsent() -> [MetricRecord] {
        lock.withLock {
            defer { unsent.removeAll() }
            return unsent
        }
    }

    /// numpy.packbits(mask.ravel(), bitorder='little') of each mask, one after the other.
    static func pack(_ masks: [Tensor]) -> Data {
        var bytes = [UInt8](repeating: 0, count: masks.reduce(0) { $0 + ($1.count + 7) / 8 })
        var offset = 0
        for mask in masks {
            let values = mask.readableData
            for i in 0..<mask.count where values[i] != 0 { bytes[offset + i >> 3] |= 1 << UInt8(i & 7) }
            offset += (mask.count + 7) / 8
        }
        return Data(bytes)
    }

    /// Sends pending events at each wake-up until closed (then once more to flush).
    func pump() async {
        var lastHeartbeat = Date()
        // The lease needs a heartbeat every third of its length even when the run reports nothing.
        let beat = max(0.05, leaseSeconds / 3)
        let timer = Task { [wake] in
            while !Task.isCancelled {
                try? await Task.sleep(nanoseconds: UInt64(beat * 1e9))
                wake.yield()
            }
        }
        defer { timer.cancel() }
        var iterator = wakeups.makeAsyncIterator()
        while await iterator.next() != nil {
            let (events, isClosed, retry) = lock.withLock { () -> ([RunEvent], Bool, [MetricRecord]) in
                defer { pending.removeAll(); unsent.removeAll() }
                return (pending, closed, unsent)
            }
            var metrics: [MetricRecord] = retry
            var progress: RunProgress?
            // Events go out in order: a checkpoint is uploaded only after every metric before it,
            // so a resumed run never lacks metrics its checkpoint has already passed.
            // Only the newest checkpoint of a batch is worth uploading: it supersedes the others.
            let newest = events.lastIndex { if case .checkpoint = $0 { true } else { false } }
            for (index, event) in events.enumerated() {
                switch event {
                case let .metric(record) where record.value.isFinite:
                    metrics.append(record)
                case let .progress(p): progress = p
                case let .checkpoint(step, phase, sha256, bytes?):
                    guard index == newest, !leaseLost else { continue }
                    await send(&metrics)
                    let answer = try? await worker.uploadCheckpoint(key, bytes: bytes, phase: phase, step: step, sha256: sha256)
                    if case .conflict = answer { markLost() }
                default: break
                }
            }
            await send(&metrics)
            if progress != nil || Date().timeIntervalSince(lastHeartbeat) >= beat {
                let beat = Components.Schemas.Heartbeat(worker: worker.id, step: progress?.step, total_steps: progress?.steps)
                if case .conflict = try? await client.heartbeat(path: .init(key: key), body: .json(beat)) { markLost() }
                lastHeartbeat = Date()
            }
            if isClosed || Task.isCancelled { return }
        }
    }

    private func markLost() { lock.withLock { lost = true } }

    /// Uploads and empties a batch of metrics.
    func send(_ metrics: inout [MetricRecord]) async {
        guard !metrics.isEmpty else { return }
        let batch = Components.Schemas.MetricBatch(worker: worker.id, metrics: metrics)
        metrics.removeAll()
        switch try? await client.uploadMetrics(path: .init(key: key), body: .json(batch)) {
        case .conflict: markLost()
        case nil:
            // Not stored (the server is unreachable or its disk is full): the next pump sends them
            // again (the server ignores repeats), so a run does not finish with gaps in its curves.
            lock.withLock { unsent = batch.metrics + unsent }
        default: break
        }
    }
}

/// The worker's scratch folder cannot be made (a full or read-only disk): the run fails with this
/// error and the worker goes on.
struct ScratchError: Error, CustomStringConvertible {
    let path: String
    let reason: String

    init(path: String, reason: String) { self.path = path; self.reason = reason }

    init(path: String, underlying: any Error) {
        let posix = ((underlying as NSError).userInfo[NSUnderlyingErrorKey] as? NSError).map { String(cString: strerror(Int32($0.code))) }
        self.init(path: path, reason: posix ?? "\(underlying)")
    }

    var description: String { "the worker cannot write its scratch file \(path): \(reason)" }
}

/// The lowercase hex SHA-256 of a file, read a megabyte at a time.
func fileSHA256(_ path: String) throws -> String {
    let reader = try FileChunkReader(path: path)
    var hasher = SHA256()
    while case let chunk = try reader.read(upTo: 1 << 20), !chunk.isEmpty { hasher.update(data: chunk) }
    return Array(hasher.finalize()).hexString
}
