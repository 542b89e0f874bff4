import ArgumentParser
import Foundation
import OpenAPIRuntime
import OpenAPIURLSession
import Experiments
import Service
import Store

/// Where the server is, for the client commands.
struct ServerOptions: ParsableArguments {
    @Option(help: "Server URL (default: $PRUNELAB_SERVER, else http://127.0.0.1:8080).")
    var server: String?
    @Option(help: "Bearer token: the write token, or the read token where reads need one (default: $PRUNELAB_TOKEN, else $PRUNELAB_READ_TOKEN).")
    var token: String?

    func client() throws -> Client { try apiClient(server: server, token: token) }
}

/// A client of the API at `server` (default: $PRUNELAB_SERVER, else http://127.0.0.1:8080) with
/// `token` (default: $PRUNELAB_TOKEN, else $PRUNELAB_READ_TOKEN).
func apiClient(server: String?, token: String?) throws -> Client {
    let environment = ProcessInfo.processInfo.environment
    let url = try apiURL(server ?? environment["PRUNELAB_SERVER"] ?? "http://127.0.0.1:8080")
    let token = token ?? environment["PRUNELAB_TOKEN"] ?? environment["PRUNELAB_READ_TOKEN"] ?? ""
    return Client(serverURL: url, configuration: apiCoding, transport: URLSessionTransport(), middlewares: token.isEmpty ? [] : [BearerToken(token: token)])
}

/// The API root for a server URL given as http(s)://host:port (with or without /api/v1).
func apiURL(_ text: String) throws -> URL {
    guard var url = URL(string: text), let scheme = url.scheme, ["http", "https"].contains(scheme), url.host != nil else {
        throw InvalidOption(option: "--server", reason: "expected an http(s) URL, got '\(text)'")
    }
    if !url.path.hasSuffix("/api/v1") { url = url.appendingPathComponent("api/v1") }
    return url
}

/// An answer the server refused, as one line.
struct ServerRefused: Error, CustomStringConvertible {
    let description: String
    init(_ status: String, _ error: Components.Schemas._Error?) {
        description = "server answered \(status)" + (error.map { ": \($0.error)" + ($0.field.map { " (field \($0))" } ?? "") } ?? "")
    }
}

/// `prunelab submit`: sends a sweep to the server.
struct SubmitCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "submit", abstract: "Submit a sweep (JSON file or '-') to a running server.")

    @Argument(help: "The sweep: {\"name\", \"base\": {run config}, \"grid\": {field: [values]}}.")
    var sweep: String
    @OptionGroup var serverOptions: ServerOptions
    @Flag(help: "Print the server's answer as JSON.")
    var json = false

    func run() async throws {
        let data = sweep == "-" ? FileHandle.standardInput.readDataToEndOfFile() : FileManager.default.contents(atPath: sweep)
        guard let data else { throw InvalidOption(option: "sweep", reason: "cannot read \(sweep)") }
        let spec: SweepDocument
        do {
            spec = try SweepDocument(parsing: data)
        } catch {
            throw InvalidOption(option: "sweep", reason: "\(sweep) is not JSON")
        }
        let s = try await submitSweep(spec, to: serverOptions.client())
        if json {
            try printJSON(["id": Int(s.id), "runs": s.runs, "new": s.new, "reused": s.reused, "requeued": s.requeued])
        } else {
            print(Self.line(s))
        }
    }

    static func line(_ s: Components.Schemas.SweepSubmission) -> String {
        "sweep \(s.id): \(s.runs) runs (\(s.new) new, \(s.reused) reused, \(s.requeued) requeued)"
    }
}

/// POST /sweeps: the server's answer, or its refusal as one line.
func submitSweep(_ spec: SweepDocument, to client: Client) async throws -> Components.Schemas.SweepSubmission {
    switch try await client.createSweep(body: .json(spec)) {
    case let .created(created): return try created.body.json
    case let .badRequest(answer): throw ServerRefused("400", try? answer.body.json)
    case let .unauthorized(answer): throw ServerRefused("401", try? answer.body.json)
    case let .contentTooLarge(answer): throw ServerRefused("413", try? answer.body.json)
    case let .unsupportedMediaType(answer): throw ServerRefused("415", try? answer.body.json)
    case let .forbidden(answer): throw ServerRefused("403", try? answer.body.json)
    case let .code507(answer): throw ServerRefused("507", try? answer.body.json)
    case let .undocumented(status, _): throw ServerRefused("\(status)", nil)
    }
}

/// `prunelab status`: sweeps and their progress.
struct StatusCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "status", abstract: "Show every sweep, or one sweep's progress.")

    @Argument(help: "A sweep id (default: every sweep).")
    var sweep: Int64?
    @OptionGroup var serverOptions: ServerOptions
    @Flag(help: "Refresh every 2 seconds until the sweep has nothing queued or running.")
    var watch = false

    static func line(_ sweep: Components.Schemas.Sweep) -> String {
        let counts = sweep.counts.additionalProperties
        let done = RunStatus.finished.reduce(0) { $0 + (counts[$1.rawValue] ?? 0) }
        let width = 30, filled = sweep.runs == 0 ? width : width * done / sweep.runs
        let bar = String(repeating: "#", count: filled) + String(repeating: ".", count: width - filled)
        let parts = [RunStatus.succeeded, .running, .leased, .queued, .failed, .cancelled].compactMap { status in
            counts[status.rawValue].map { "\($0) \(status.rawValue)" }
        }
        return "sweep \(sweep.id) \(sweep.name) [\(bar)] \(done)/\(sweep.runs): " + parts.joined(separator: ", ")
            + (sweep.status == .cancelled ? " (cancelled)" : "")
    }

    func run() async throws {
        let client = try serverOptions.client()
        guard let sweep else {
            guard case let .ok(ok) = try await client.listSweeps() else { throw ServerRefused("an error", nil) }
            let sweeps = try ok.body.json.sweeps
            if sweeps.isEmpty { print("no sweeps") }
            for s in sweeps { print(Self.line(s)) }
            return
        }
        while true {
            switch try await client.getSweep(path: .init(id: sweep)) {
            case let .ok(ok):
                let s = try ok.body.json
                print(Self.line(s))
                guard watch, s.status == .active else { return }
                try await Task.sleep(nanoseconds: 2_000_000_000)
            case let .notFound(answer): throw ServerRefused("404", try? answer.body.json)
            case let .badRequest(answer): throw ServerRefused("400", try? answer.body.json)
            case let .unauthorized(answer): throw ServerRefused("401", try? answer.body.json)
            case let .undocumented(status, _): throw ServerRefused("\(status)", nil)
            }
        }
    }
}

/// `prunelab results`: a sweep's results table.
struct ResultsCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "results", abstract: "Print a sweep's results (one row per run).")

    @Argument(help: "The sweep id.")
    var sweep: Int64
    @OptionGroup var serverOptions: ServerOptions
    @Flag(help: "CSV instead of a table.")
    var csv = false

    func run() async throws {
        let answer = try await serverOptions.client().sweepResults(path: .init(id: sweep), query: .init(format: csv ? .csv : .json))
        switch answer {
        case let .ok(ok):
            switch ok.body {
            case let .csv(body):
                print(try await String(collecting: body, upTo: 256 << 20), terminator: "")
            case let .json(table):
                func f(_ value: Double?, _ format: String) -> String { value.map { String(format: format, $0) } ?? "—" }
                print(pad("pruner", 18) + pad("mode", 10) + pad("target", 8) + pad("seed", 6) + pad("status", 11) + pad("test acc", 10)
                      + pad("direct", 10) + "effective")
                for r in table.results {
                    print(pad(r.pruner, 18) + pad(r.mode ?? "—", 10) + pad(f(r.target_compression, "%g×"), 8) + pad("\(r.seed)", 6)
                          + pad(r.status.rawValue, 11) + pad(f(r.test_accuracy.map { 100 * $0 }, "%.2f%%"), 10)
                          + pad(f(r.direct_compression, "%.1f×"), 10) + f(r.effective_compression, "%.1f×"))
                }
            }
        case let .notFound(answer): throw ServerRefused("404", try? answer.body.json)
        case let .badRequest(answer): throw ServerRefused("400", try? answer.body.json)
        case let .unauthorized(answer): throw ServerRefused("401", try? answer.body.json)
        case let .undocumented(status, _): throw ServerRefused("\(status)", nil)
        }
    }
}
