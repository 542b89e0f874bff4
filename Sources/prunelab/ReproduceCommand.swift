import ArgumentParser
import Experiments
import Foundation
import OpenAPIRuntime
import OpenAPIURLSession
import Service

/// `prunelab reproduce`: a thin client of the service — submits a sweep (by default the paper's
/// LeNet-300-100 grid), waits for it, and prints its table of means over seeds.
struct ReproduceCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "reproduce",
        abstract: "Submit a sweep (default: the paper's LeNet-300-100 grid), wait for it and print its table of means over seeds.",
        discussion: """
            A thin client of the service: the sweep goes to --server (or $PRUNELAB_SERVER) like `prunelab submit`;
            without one, this command serves --db itself with local workers for as long as it runs. The table is the
            server's summary (GET /api/v1/sweeps/ID/summary): per pruner, mode, variant (e.g. shuffle) and target, the
            mean ± s.d. test accuracy over seeds and the geometric means of direct and effective compression. Runs
            are keyed by their config, so a second invocation reuses every finished run. The paper's sweeps are
            examples/paper-lenet300.json and examples/paper-lenet300-shuffle.json (EXPERIMENTS.md).
            """)

    @Argument(help: "The sweep spec (JSON file).")
    var spec: String = "examples/paper-lenet300.json"
    @Option(help: "Server URL (default: $PRUNELAB_SERVER; without either, serve --db here).")
    var server: String?
    @Option(help: "Bearer token for --server (default: $PRUNELAB_TOKEN).")
    var token: String?
    @Option(help: "The database to serve when no server is given.")
    var db: String = "reproduce.sqlite"
    @Option(help: "Local workers when serving --db (auto: one per GPU, else one CPU worker).")
    var workers: String = "auto"
    @Flag(help: "Print the summary's groups as JSON instead of a Markdown table.")
    var json = false

    func run() async throws {
        guard let data = FileManager.default.contents(atPath: spec) else { throw InvalidOption(option: "spec", reason: "cannot read \(spec)") }
        let document: SweepDocument
        do {
            document = try SweepDocument(parsing: data)
            _ = try SweepSpec(document).runs()
        } catch {
            throw InvalidOption(option: "spec", reason: "\(spec): \(error)")
        }
        let environment = ProcessInfo.processInfo.environment
        var local: ServerProcess?
        let client: Client
        if let url = server ?? environment["PRUNELAB_SERVER"] {
            client = try apiClient(server: url, token: token)
        } else {
            let secret = "reproduce-\(UUID().uuidString)"
            printError("prunelab: serving \(db) with \(workers) local worker(s)")
            let started = try ServerProcess(executable: ServerProcess.thisExecutable, database: db, token: secret, workers: workers, readyTimeout: 60)
            local = started
            client = try apiClient(server: "http://127.0.0.1:\(started.port)", token: secret)
        }
        defer { local?.stop() }

        let created = try await submitSweep(document, to: client)
        let id = created.id
        printError(SubmitCommand.line(created))

        // Wait, saying how far it got whenever that changes.
        var last = "", sweep: Components.Schemas.Sweep
        while true {
            guard case let .ok(ok) = try await client.getSweep(path: .init(id: id)) else { throw ServerRefused("an error for sweep \(id)", nil) }
            sweep = try ok.body.json
            let line = StatusCommand.line(sweep)
            if line != last { printError(line) }
            last = line
            guard sweep.status == .active else { break }
            if let local, !local.process.isRunning { throw ServerRefused("nothing: the local server stopped\n\(local.log.suffix(2000))", nil) }
            try await Task.sleep(nanoseconds: 2_000_000_000)
        }
        guard case let .ok(answer) = try await client.sweepSummary(path: .init(id: id)) else { throw ServerRefused("an error for sweep \(id)", nil) }
        let groups = try answer.body.json.groups
        let counts = sweep.counts.additionalProperties
        if let failed = counts["failed"], failed > 0 {
            printError("prunelab: \(failed) run(s) failed; `prunelab results \(id)` names them and their errors")
        }
        if json {
            try printJSON(groups)
        } else {
            print(Self.table(groups))
        }
        if sweep.status == .cancelled { throw ServerRefused("sweep \(id) cancelled", nil) }
    }

    /// The summary as a Markdown table, as EXPERIMENTS.md shows it.
    static func table(_ groups: [Components.Schemas.SeedGroup]) -> String {
        let variants = Set(groups.map(\.variant)).count > 1
        var lines = ["| pruner | target | mode |" + (variants ? " variant |" : "")
                     + " direct compression | effective compression | test accuracy (%, mean ± s.d.) | seeds |",
                     "|---|---|---|" + (variants ? "---|" : "") + "---|---|---|---|"]
        for g in groups {
            let effective = g.effective_compression.map { String(format: "%.2f×", $0) } ?? "∞"
            let infinite = g.infinite_effective > 0 && g.effective_compression != nil ? " (\(g.infinite_effective) ∞)" : ""
            lines.append("| \(g.pruner) | \(g.target.map { String(format: "%g×", $0) } ?? "—") | \(g.mode?.rawValue ?? "—") |"
                         + (variants ? " \(g.variant.isEmpty ? "—" : g.variant) |" : "")
                         + " \(g.direct_compression.map { String(format: "%.2f×", $0) } ?? "∞") | \(effective)\(infinite) |"
                         + String(format: " %.2f ± %.2f | %d |", 100 * g.test_accuracy, 100 * g.test_accuracy_spread, g.runs))
        }
        return lines.joined(separator: "\n")
    }
}
