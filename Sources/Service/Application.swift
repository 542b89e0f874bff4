import Foundation
import Hummingbird
import Logging
import NIOCore
import NIOPosix
import OpenAPIHummingbird
import OpenAPIRuntime
import ServiceLifecycle
import Experiments
import Store

/// How `prunelab serve` runs.
public struct ServiceConfiguration: Sendable {
    public var host: String
    public var port: Int
    public var databasePath: String
    /// Bearer token every write must carry.
    public var token: String
    /// Bearer token that lets viewers read (GET/HEAD) but never write; nil: reads need `token`
    /// wherever they need one at all.
    public var readToken: String?
    /// Whether reads need a token too (`serve` sets it when it binds beyond loopback): every route
    /// but /healthz, the results page's static files and (with `openMetrics`) /metrics.
    public var readsNeedToken: Bool
    /// Lets a Prometheus scraper read /metrics without a token even when reads need one.
    public var openMetrics: Bool
    /// Events older than this many days are deleted by the housekeeper (nil: kept for ever).
    public var eventsRetentionDays: Double?
    /// Largest JSON request body accepted (bytes). Checkpoint and mask uploads are bounded by what
    /// their run's architecture implies instead, so the default fits every architecture.
    public var maximumBodyBytes: Int
    /// Largest body of POST /api/v1/models (an ONNX model) and POST /api/v1/effective (a model and its masks).
    public var maximumModelBytes: Int
    /// How long a lease lasts without a heartbeat.
    public var leaseSeconds: Double
    /// Serve the results page from this folder instead of the copy compiled into the binary.
    public var publicDirectory: String?
    /// Where checkpoints are stored (default: `<database>.artifacts` beside the database).
    public var artifactsDirectory: String?

    public init(host: String = "127.0.0.1", port: Int = 8080, databasePath: String, token: String, readToken: String? = nil,
                readsNeedToken: Bool = false, openMetrics: Bool = false, eventsRetentionDays: Double? = nil, maximumBodyBytes: Int = 1 << 20,
                maximumModelBytes: Int = 256 << 20, leaseSeconds: Double = 60, publicDirectory: String? = nil, artifactsDirectory: String? = nil) {
        self.readToken = readToken
        self.readsNeedToken = readsNeedToken
        self.openMetrics = openMetrics
        self.eventsRetentionDays = eventsRetentionDays
        self.publicDirectory = publicDirectory
        self.artifactsDirectory = artifactsDirectory
        self.leaseSeconds = leaseSeconds
        self.host = host
        self.port = port
        self.databasePath = databasePath
        self.token = token
        self.maximumBodyBytes = maximumBodyBytes
        self.maximumModelBytes = maximumModelBytes
    }
}

/// Compact JSON with sorted keys (stable output for people and diffs, no pretty-printing cost),
/// for the server and the clients alike.
public let apiCoding = Configuration(jsonEncodingOptions: [.sortedKeys])

/// The OpenAPI document the API is generated from, served at /api/v1/openapi.yaml.
public let openAPIDocument = String(decoding: PackageResources.openapi_yaml, as: UTF8.self)

/// The HTTP application: the generated API under /api/v1 plus /healthz and the OpenAPI document.
/// `onRunning` receives the bound port (useful with port 0).
public func buildApplication(_ configuration: ServiceConfiguration, logger: Logger = Logger(label: "prunelab"),
                             services: [any Service] = [],
                             onRunning: @escaping @Sendable (Int) async -> Void = { _ in }) throws -> some ApplicationProtocol {
    let store = try Store(path: configuration.databasePath, artifacts: try configuration.artifactsDirectory.map { try FileArtifactStore(root: $0) })
    // Runs of uploaded models need the graph (their layouts check uploads): read from this store,
    // for as long as it is open.
    ImportedModels.shared.addSource { [weak store] sha256 in try store?.modelBytes(sha256) }
    // Nothing is in flight before the server listens: what no row references now (a crash between
    // an upload's file and its row, checkpoints of runs finished meanwhile) can go.
    let collected = try store.collectGarbage(grace: 0)
    if collected.orphanFiles + collected.abandonedUploads + collected.finishedCheckpoints > 0 {
        logger.notice("artifacts collected at start-up", metadata: [
            "orphan_files": "\(collected.orphanFiles)", "abandoned_uploads": "\(collected.abandonedUploads)",
            "finished_checkpoints": "\(collected.finishedCheckpoints)",
            "bytes": "\(collected.orphanBytes + collected.abandonedBytes + collected.finishedCheckpointBytes)"])
    }
    let metrics = ServiceMetrics.shared
    let router = Router()
    router.add(middleware: MetricsMiddleware())
    router.add(middleware: ErrorMiddleware(logger: logger))
    router.add(middleware: MethodNotAllowedMiddleware(document: openAPIDocument))
    router.add(middleware: BodyLimitMiddleware(maximumBytes: configuration.maximumBodyBytes, maximumModelBytes: configuration.maximumModelBytes))
    router.add(middleware: BearerTokenMiddleware(policy: AccessPolicy(configuration)))
    router.add(middleware: JSONByDefaultMiddleware())
    router.addResultsPage(directory: configuration.publicDirectory)
    router.get("/healthz") { _, _ in "ok\n" }
    // Prometheus text exposition format.
    router.get("/metrics") { _, _ in
        let text = try metrics.scrape(store, liveWithin: configuration.leaseSeconds)
        return Response(status: .ok, headers: [.contentType: "text/plain; version=0.0.4; charset=utf-8"],
                        body: .init(byteBuffer: ByteBuffer(string: text)))
    }
    router.get("/api/v1/openapi.yaml") { _, _ in
        Response(status: .ok, headers: [.contentType: "application/yaml"], body: .init(byteBuffer: ByteBuffer(string: openAPIDocument)))
    }
    try ServiceAPI(store: store, leaseSeconds: configuration.leaseSeconds, logger: logger, metrics: metrics)
        .registerHandlers(on: router, serverURL: try Servers.Server1.url(), configuration: apiCoding, middlewares: [SubmittedSweep()])
    let housekeeper = Housekeeper(store: store, interval: min(configuration.leaseSeconds / 4, 5),
                                  eventsRetention: configuration.eventsRetentionDays.map { $0 * 86400 }, logger: logger)
    return Application(router: router,
                       configuration: .init(address: .hostname(configuration.host, port: configuration.port), serverName: "prunelab"),
                       services: [housekeeper] + services,
                       onServerRunning: { channel in await onRunning(channel.localAddress?.port ?? configuration.port) },
                       logger: logger)
}

/// Who may do what: writes need the write token; reads need nothing on loopback and, beyond it,
/// the write token or the read token — except /healthz, the API's own document, the results
/// page's files and (when opened) /metrics.
struct AccessPolicy: Sendable {
    let writeToken: String
    let readToken: String?
    let readsNeedToken: Bool
    let openMetrics: Bool
    let page: PageFiles

    init(_ configuration: ServiceConfiguration) {
        writeToken = configuration.token
        readToken = configuration.readToken.flatMap { $0.isEmpty ? nil : $0 }
        readsNeedToken = configuration.readsNeedToken
        openMetrics = configuration.openMetrics
        page = PageFiles(directory: configuration.publicDirectory)
    }

    enum Grant { case none, read, write }

    /// What the `Authorization` header grants. Both tokens are compared whatever the first
    /// answer, in constant time: the answer time says nothing about either token.
    func grant(_ authorization: String?) -> Grant {
        let given = Array((authorization ?? "").utf8)
        let write = Self.matches(given, "Bearer \(writeToken)")
        let read = readToken.map { Self.matches(given, "Bearer \($0)") } ?? false
        return write ? .write : read ? .read : .none
    }

    /// Paths anyone may read: liveness, the API document (the same public contract the source
    /// and the page's scripts carry; no lab data), the page's own files (code, no data: it asks
    /// for the token itself) and /metrics when the operator opened it. Anything else — a data
    /// route, or a path nothing answers — is a data route (deny by default).
    func isOpenRead(_ path: String) -> Bool {
        path == "/healthz" || path == "/api/v1/openapi.yaml" || (openMetrics && path == "/metrics") || page.serves(path)
    }

    private static func matches(_ given: [UInt8], _ expected: String) -> Bool {
        let expected = Array(expected.utf8)
        var difference = UInt8(expected.count == given.count ? 0 : 1)
        for (a, b) in zip(expected, given) { difference |= a ^ b }
        return difference == 0
    }
}

/// Enforces `AccessPolicy` before anything else reads the request: a write (anything but
/// GET/HEAD) needs the write token — the read token is a 403 —, a read either token where the
/// policy says so. Refusals are the API's JSON error naming `Authorization`; the header itself is
/// never logged.
struct BearerTokenMiddleware<Context: RequestContext>: RouterMiddleware {
    let policy: AccessPolicy

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        // POST /effective computes and stores nothing: a read.
        let isRead = request.method == .get || request.method == .head
            || (request.method == .post && request.uri.path == ServiceAPI.effectivePath)
        if !isRead {
            switch policy.grant(request.headers[.authorization]) {
            case .write: break
            case .read: throw APIError(.forbidden, "the read token does not authorise writes", field: "Authorization")
            case .none: throw APIError(.unauthorized, "missing or wrong bearer token", field: "Authorization")
            }
        } else if policy.readsNeedToken, !policy.isOpenRead(request.uri.path), policy.grant(request.headers[.authorization]) == .none {
            throw APIError(.unauthorized, "this server is reachable beyond loopback: reads need a bearer token (the read or the write token)",
                           field: "Authorization")
        }
        return try await next(request, context)
    }
}

/// `curl -d @sweep.json` labels its body application/x-www-form-urlencoded (and some clients send
/// no Content-Type at all): the API's bodies are JSON, so such bodies are read as JSON. Checkpoint
/// uploads (application/octet-stream) and any other explicit type are left alone.
struct JSONByDefaultMiddleware<Context: RequestContext>: RouterMiddleware {
    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        guard request.method == .post, request.uri.path.hasPrefix("/api/v1/") else { return try await next(request, context) }
        let type = request.headers[.contentType]
        guard type == nil || type?.hasPrefix("application/x-www-form-urlencoded") == true else { return try await next(request, context) }
        var head = request.head
        // A model upload is the file itself (`curl --data-binary @model.onnx`), whatever curl labels it.
        head.headerFields[.contentType] = request.uri.path == ServiceAPI.modelsPath ? "application/octet-stream" : "application/json"
        return try await next(Request(head: head, body: request.body), context)
    }
}

/// Refuses bodies over the limit before reading them (by Content-Length) and while reading them;
/// the limit is the JSON routes' (`--max-body-bytes`), uploads have their own.
struct BodyLimitMiddleware<Context: RequestContext>: RouterMiddleware {
    let maximumBytes: Int
    /// The limit of POST /effective (a model and its masks) and POST /models (`--max-model-bytes`).
    let maximumModelBytes: Int

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        guard request.method != .get, request.method != .head else { return try await next(request, context) }
        // Checkpoint and mask uploads stream through: their handlers bound them by what the run's
        // architecture implies (`RunLayout`), reading no more than that.
        if request.method == .put, request.uri.path.hasSuffix("/checkpoint") || request.uri.path.hasSuffix("/masks") {
            return try await next(request, context)
        }
        let limit = [ServiceAPI.effectivePath, ServiceAPI.modelsPath].contains(request.uri.path) ? maximumModelBytes : maximumBytes
        if let length = request.headers[.contentLength].flatMap(Int.init), length > limit {
            throw APIError(.contentTooLarge, "request body of \(length) bytes exceeds \(limit)", field: "body")
        }
        var request = request
        let body = try await request.collectBody(upTo: limit)
        request.body = .init(buffer: body)
        return try await next(request, context)
    }
}

/// Turns what fails before or outside a handler into the API's JSON error shape: undecodable
/// bodies and parameters are 400s naming the part, anything unexpected a logged 500.
struct ErrorMiddleware<Context: RequestContext>: RouterMiddleware {
    let logger: Logger

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        do {
            return try await next(request, context)
        } catch let error where DiskFull.of((error as? ServerError)?.underlyingError ?? error) != nil {
            // SQLite rolled the transaction back (or the upload was not committed): nothing of
            // this request is stored, reads go on, and the same request succeeds once space is freed.
            let full = DiskFull.of((error as? ServerError)?.underlyingError ?? error)!
            logger.error("write refused: disk full", metadata: ["path": "\(request.uri.path)", "store": "\(full.store)",
                                                                 "reason": "\(full.reason)"])
            throw APIError(.init(code: 507, reasonPhrase: "Insufficient Storage"), full.description, field: full.store)
        } catch let error as HTTPResponseError {
            if let error = error as? HTTPError, error.status == .contentTooLarge {
                throw APIError(.contentTooLarge, "request body too large", field: "body")
            }
            throw error
        } catch let error as ServerError where error.operationInput != nil {
            // The input was decoded and the handler failed: its own answer, or a logged 500 —
            // never a 400 blaming the client for the server's fault.
            if let answer = error.underlyingError as? any HTTPResponseError { throw answer }
            logger.error("request failed", metadata: ["path": "\(request.uri.path)", "operation": "\(error.operationID)",
                                                      "error": "\(error.underlyingError)"])
            throw APIError(.internalServerError, "internal error")
        } catch let error as ServerError {
            let reason = describe(error.underlyingError)
            // Only JSON bodies are decoded; anything else that fails to decode is a parameter.
            let jsonBody = request.headers[.contentType]?.hasPrefix("application/json") == true && request.method != .get
            guard !jsonBody || !(error.underlyingError is DecodingError) else {
                throw APIError(.badRequest, "body could not be read: \(reason)", field: "body")
            }
            if reason.contains("content type") {
                throw APIError(.unsupportedMediaType, reason, field: "Content-Type")
            }
            throw APIError(.badRequest, "a parameter could not be read: \(reason)", field: Self.culprit(in: request, reason: reason))
        } catch {
            logger.error("request failed", metadata: ["path": "\(request.uri.path)", "error": "\(error)"])
            throw APIError(.internalServerError, "internal error")
        }
    }

    /// The query parameter a decoding failure is about: the one whose value the reason quotes,
    /// else the only one there is; "query" when that cannot be told.
    static func culprit(in request: Request, reason: String) -> String {
        let items = (URLComponents(string: request.uri.description)?.queryItems ?? []).filter { !($0.value ?? "").isEmpty }
        if let quoted = items.first(where: { reason.contains($0.value!) }) { return quoted.name }
        return items.count == 1 ? items[0].name : "query"
    }

    private func describe(_ error: any Error) -> String {
        switch error {
        case DecodingError.dataCorrupted(let context): return "malformed JSON (\(context.debugDescription))"
        case DecodingError.typeMismatch(_, let context), DecodingError.valueNotFound(_, let context), DecodingError.keyNotFound(_, let context):
            return "\(context.debugDescription) at \(context.codingPath.map(\.stringValue).joined(separator: "."))"
        default: return "\(error)"
        }
    }
}

/// Makes NIO's event loops Swift Concurrency's global executor, so request handlers run where the
/// I/O happens instead of hopping threads twice per request. Call first thing in `main`, once.
public func runConcurrencyOnEventLoops() {
    NIOSingletons.unsafeTryInstallSingletonPosixEventLoopGroupAsConcurrencyGlobalExecutor()
}

/// The paths of the API and their methods, read from the OpenAPI document it is generated from
/// (so the two cannot disagree), plus the routes outside it.
struct DocumentRoute: Sendable, Equatable {
    let components: [Substring]
    var methods: [String]

    func matches(_ path: [Substring]) -> Bool {
        path.count == components.count && zip(components, path).allSatisfy { $0.hasPrefix("{") || $0 == $1 }
    }

    /// `paths:` of an OpenAPI document written as ours is: a path per two-space-indented line,
    /// its methods on four-space-indented lines below it.
    static func routes(in document: String, prefix: String) -> [DocumentRoute] {
        let methods: Set<Substring> = ["get", "put", "post", "delete", "patch", "head", "options"]
        var routes: [DocumentRoute] = [], inPaths = false
        for line in document.split(separator: "\n", omittingEmptySubsequences: true) {
            if line == "paths:" { inPaths = true; continue }
            guard inPaths else { continue }
            if !line.hasPrefix(" ") { break }
            if line.hasPrefix("  /"), !line.hasPrefix("   "), line.hasSuffix(":") {
                routes.append(DocumentRoute(components: (prefix + line.dropFirst(2).dropLast()).split(separator: "/"), methods: []))
            } else if line.hasPrefix("    "), !line.hasPrefix("     "), let name = line.dropFirst(4).split(separator: ":").first,
                      methods.contains(name), !routes.isEmpty {
                routes[routes.count - 1].methods.append(name.uppercased())
            }
        }
        return routes
    }
}

/// A method the API does not have on a path it has is 405 Method Not Allowed with an `Allow`
/// header (RFC 9110), not 404: the path exists.
struct MethodNotAllowedMiddleware<Context: RequestContext>: RouterMiddleware {
    let routes: [DocumentRoute]

    init(document: String, prefix: String = "/api/v1", extra: [String] = ["/healthz", "/metrics", "/api/v1/openapi.yaml"]) {
        routes = DocumentRoute.routes(in: document, prefix: prefix)
            + extra.map { DocumentRoute(components: $0.split(separator: "/"), methods: ["GET"]) }
    }

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        do {
            return try await next(request, context)
        } catch let error as HTTPError where error.status == .notFound {
            let path = request.uri.path.split(separator: "/")
            guard let route = routes.first(where: { $0.matches(path) }), !route.methods.contains(request.method.rawValue) else { throw error }
            var allowed = route.methods
            if allowed.contains("GET") { allowed.append("HEAD") }
            throw MethodNotAllowed(method: request.method.rawValue, allowed: allowed)
        }
    }

    struct MethodNotAllowed: HTTPResponseError {
        let method: String
        let allowed: [String]
        var status: HTTPResponse.Status { .methodNotAllowed }

        func response(from request: Request, context: some RequestContext) throws -> Response {
            var response = try APIError(.methodNotAllowed, "\(method) is not a method of this path (allowed: \(allowed.joined(separator: ", ")))",
                                        field: "method").response(from: request, context: context)
            response.headers[.allow] = allowed.joined(separator: ", ")
            return response
        }
    }
}
