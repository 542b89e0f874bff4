import ArgumentParser
import CUDABackend
import Foundation
import Hummingbird
import Logging
import Service

/// `prunelab serve`: the HTTP API on an SQLite file.
struct ServeCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "serve",
        abstract: "Serve the HTTP API (/api/v1) on an SQLite database.",
        discussion: """
            Writes need `Authorization: Bearer <token>` (--token or PRUNELAB_TOKEN; a random token is made and
            printed when neither is set). Binds 127.0.0.1 unless --host says otherwise; an address beyond
            loopback needs an explicit token, and there reads need a token too: the write token or the
            read token (--read-token or PRUNELAB_READ_TOKEN, GET/HEAD only), everywhere but /healthz, the
            API document and the results page's static files (/metrics too unless --open-metrics);
            --reads-need-token asks the same on loopback (behind a reverse proxy on this machine).
            Plain HTTP: terminate TLS in a reverse proxy. Prints one line
            'prunelab: serving http://HOST:PORT/api/v1' on stderr once it accepts connections.
            """)

    @Option(help: "The SQLite database file (created when missing).")
    var db: String
    @Option(help: "Address to bind.")
    var host: String = "127.0.0.1"
    @Option(help: "Port to bind (0: any free port).")
    var port: Int = 8080
    @Option(help: "Bearer token for writes (default: $PRUNELAB_TOKEN, else a random one).")
    var token: String?
    @Option(help: "Bearer token that may read (GET/HEAD) but never write, for viewers of the results (default: $PRUNELAB_READ_TOKEN). Reads need a token only when --host is beyond loopback.")
    var readToken: String?
    @Flag(help: "Reads need a token even on loopback: for a reverse proxy on this machine that forwards the network to it.")
    var readsNeedToken = false
    @Flag(help: "Let anyone read /metrics (for a Prometheus scraper without a token) when --host is beyond loopback.")
    var openMetrics = false
    @Option(help: "Delete queue events older than this many days (default: keep them all). /metrics totals are unaffected.")
    var eventsRetentionDays: Double?
    @Option(help: "Largest JSON request body in bytes (checkpoint and mask uploads are bounded by their run's architecture instead).")
    var maxBodyBytes: Int = 1 << 20
    @Option(help: "Largest body of POST /api/v1/models (an ONNX model) and POST /api/v1/effective (a model and its masks), in bytes (default 256 MiB).")
    var maxModelBytes: Int = 256 << 20
    @Option(help: "Folder of the artifact store that holds checkpoints (default: the database's path + .artifacts). A shared filesystem path works for workers on other machines too, as long as one server uses it.")
    var artifacts: String?
    @Option(help: "Local workers to spawn and supervise: auto (one per GPU the CUDA driver or nvidia-smi -L finds, each seeing only its GPU; else one CPU worker) or a number (0: none).")
    var workers: String = "auto"
    @Option(help: "Seconds a lease lasts without a heartbeat; an expired run is resumed by the next worker.")
    var leaseSeconds: Double = 60
    @OptionGroup var logging: LoggingOptions
    @Option(help: "Serve the results page from this folder (default: the copy built into prunelab).")
    var `public`: String?

    func run() async throws {
        let logger = try logging.logger(label: "prunelab.serve")
        guard (0...65535).contains(port) else { throw InvalidOption(option: "--port", reason: "must be in 0…65535, got \(port)") }
        guard leaseSeconds >= 1, leaseSeconds.isFinite else {
            throw InvalidOption(option: "--lease-seconds", reason: "must be at least 1, got \(leaseSeconds)")
        }
        if let folder = `public` {
            var isDirectory: ObjCBool = false
            guard FileManager.default.fileExists(atPath: folder, isDirectory: &isDirectory), isDirectory.boolValue else {
                throw InvalidOption(option: "--public", reason: "\(folder) is not a folder")
            }
        }
        guard maxModelBytes >= 1024, maxModelBytes <= 2_147_483_647 else {
            throw InvalidOption(option: "--max-model-bytes", reason: "must be from 1024 to 2147483647, got \(maxModelBytes)")
        }
        guard maxBodyBytes >= 1024 else { throw InvalidOption(option: "--max-body-bytes", reason: "must be at least 1024, got \(maxBodyBytes)") }
        if let days = eventsRetentionDays, !(days > 0 && days <= 36_500) {
            throw InvalidOption(option: "--events-retention-days", reason: "must be a number of days in (0, 36500], got \(days)")
        }
        var token = token ?? ProcessInfo.processInfo.environment["PRUNELAB_TOKEN"] ?? ""
        // A random token printed to a log is fine on loopback, not for a port other machines reach.
        if token.isEmpty, !isLoopback(host) {
            throw InvalidOption(option: "--host", reason: "\(host) is reachable beyond loopback: give a token (--token or PRUNELAB_TOKEN)")
        }
        if token.isEmpty {
            token = (0..<32).map { _ in String("0123456789abcdef".randomElement()!) }.joined()
            printError("prunelab: no --token or PRUNELAB_TOKEN given; writes need: Authorization: Bearer \(token)")
        }
        let readToken = (self.readToken ?? ProcessInfo.processInfo.environment["PRUNELAB_READ_TOKEN"]).flatMap { $0.isEmpty ? nil : $0 }
        if let readToken, readToken == token {
            throw InvalidOption(option: "--read-token", reason: "must differ from the write token (a read token never authorises writes)")
        }
        // On loopback only people with a shell here can ask, and they can read the database anyway.
        let readsNeedToken = self.readsNeedToken || !isLoopback(host)
        ServiceMetrics.shared.bootstrap()
        let host = self.host, db = self.db
        let executable = URL(fileURLWithPath: "/proc/self/exe").resolvingSymlinksInPath().path
        let supervisor: WorkerSupervisor
        do {
            supervisor = try WorkerSupervisor(workers: workers, executable: executable, token: token, logger: logger,
                                              countGPUs: { let found = CUDADevices.count(); return (found.count, found.explanation) })
        } catch let error as APIError {
            throw InvalidOption(option: "--workers", reason: error.error)
        }
        let slots = supervisor.slots.map(\.summary)
        let app = try buildApplication(ServiceConfiguration(host: host, port: port, databasePath: db, token: token, readToken: readToken,
                                                            readsNeedToken: readsNeedToken, openMetrics: openMetrics,
                                                            eventsRetentionDays: eventsRetentionDays,
                                                            maximumBodyBytes: maxBodyBytes, maximumModelBytes: maxModelBytes, leaseSeconds: leaseSeconds,
                                                            publicDirectory: `public`.map { URL(fileURLWithPath: $0).standardizedFileURL.path },
                                                            artifactsDirectory: artifacts),
                                       logger: logger, services: [supervisor]) { boundPort in
            printError("prunelab: serving http://\(host):\(boundPort)/api/v1 (database \(db))"
                       + (slots.isEmpty ? ", no local workers" : ", local workers: \(slots.joined(separator: ", "))"))
            supervisor.serverIsRunning(port: boundPort)
        }
        try await app.runService()
    }
}

/// Whether `host` names only this machine: localhost, 127.0.0.0/8 or ::1 (brackets allowed).
func isLoopback(_ host: String) -> Bool {
    var name = host.lowercased()
    if name.hasPrefix("["), name.hasSuffix("]") { name = String(name.dropFirst().dropLast()) }
    if name == "localhost" { return true }
    var v4 = in_addr()
    if inet_pton(AF_INET, name, &v4) == 1 { return UInt32(bigEndian: v4.s_addr) >> 24 == 127 }
    var v6 = in6_addr()
    if inet_pton(AF_INET6, name, &v6) == 1 {
        return withUnsafeBytes(of: &v6) { bytes in bytes.dropLast().allSatisfy { $0 == 0 } && bytes.last == 1 }
    }
    return false
}

/// --log-level and --log-format, shared by serve and worker.
struct LoggingOptions: ParsableArguments {
    @Option(help: "Least severe log level written: trace, debug, info, notice, warning, error, critical.")
    var logLevel: String = "info"
    @Option(help: "Log format on stderr: text (key=value metadata) or json (one object per line).")
    var logFormat: String = "text"

    /// A logger on stderr as asked, or a one-line error naming the bad option.
    func logger(label: String) throws -> Logger {
        guard let level = Logger.Level(rawValue: logLevel) else {
            throw InvalidOption(option: "--log-level", reason: "expected one of trace, debug, info, notice, warning, error, critical; got '\(logLevel)'")
        }
        guard let format = LogFormat(rawValue: logFormat) else {
            throw InvalidOption(option: "--log-format", reason: "expected text or json, got '\(logFormat)'")
        }
        return makeLogger(label: label, level: level, format: format)
    }
}
