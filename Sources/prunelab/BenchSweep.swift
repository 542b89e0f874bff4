import Experiments
import Foundation
import GRDB

/// `prunelab bench sweep`: what a sweep of short runs costs through the real service — this
/// binary's `serve` on a new SQLite file with N local workers, a sweep of LeNet-300-100 runs on
/// Fashion-MNIST at 50 and 600 iterations — against the pure training time those runs need at the
/// engine's own speed (`bench lenet300`, measured in the same sitting by the caller).
struct SweepBench {
    struct Group: Encodable {
        var iterations: Int
        var runs: Int
        /// Medians over the group's runs: the executor's own wall time (`wall_seconds`), the
        /// training loop's (`training_seconds`), and lease → finish as the server saw it.
        var runWallSeconds: Double
        var trainingSeconds: Double
        var leaseToFinishSeconds: Double
        /// iterations × batch ÷ the bench's images/s: what the run would cost at training speed.
        var pureTrainingSeconds: Double
        /// leaseToFinish − pureTraining (median run).
        var overheadSeconds: Double
        /// Median of lease→finish − the run's own training loop: what is not training, whatever
        /// the yardstick's speed in this sitting.
        var outsideTrainingSeconds: Double
    }

    struct Report: Encodable {
        var architecture = "lenet300-100"
        var dataset = "fashion-mnist"
        var pruners: [String] = []
        var compression = 10.0
        var batch = 100
        var seeds = 0
        var workers = 0
        var runs = 0
        var failed = 0
        var benchImagesPerSecond = 0.0
        /// POST /sweeps → the sweep no longer active.
        var sweepSeconds = 0.0
        var runsPerSecond = 0.0
        /// Σ pure training seconds of all runs ÷ (sweep seconds × workers).
        var sweepEfficiency = 0.0
        var groups: [Group] = []

        var summary: String {
            var lines = [
                String(format: "bench sweep: %d runs (%@ on %@, %@ at %g×, batch %d, seeds 0–%d), %d local worker%@", runs, architecture,
                       dataset, pruners.joined(separator: " and "), compression, batch, seeds - 1, workers, workers == 1 ? "" : "s"),
                String(format: "pure training speed (bench lenet300, this sitting): %.0f images/s", benchImagesPerSecond),
                String(format: "sweep: %.1f s from submit to last finish, %.2f runs/s, %d failed", sweepSeconds, runsPerSecond, failed),
            ]
            for group in groups {
                lines.append(String(format: "  %4d iterations (%d runs, medians): lease→finish %.2f s, run wall %.2f s, training loop %.2f s, "
                                    + "pure training %.3f s, overhead %.2f s per run (%.2f s outside the training loop)", group.iterations, group.runs,
                                    group.leaseToFinishSeconds, group.runWallSeconds, group.trainingSeconds, group.pureTrainingSeconds,
                                    group.overheadSeconds, group.outsideTrainingSeconds))
            }
            lines.append(String(format: "sweep efficiency (pure training ÷ (sweep wall × workers)): %.1f %%", 100 * sweepEfficiency))
            return lines.joined(separator: "\n")
        }
    }

    struct Failure: Error, CustomStringConvertible {
        let description: String
    }

    let workers: Int
    let seeds: Int
    let imagesPerSecond: Double
    /// The prunelab binary that serves and works (nil: this one), to compare builds in one sitting.
    var executable: URL? = nil
    let iterations = [50, 600]
    let pruners = ["random/erk", "snip"]
    let token = "bench-token"

    func run() async throws -> Report {
        // The runs read real Fashion-MNIST: say so in one line when it is missing, before serving.
        do {
            _ = try RunData.load(dataset: "fashion-mnist", architecture: "lenet300-100", directory: nil)
        } catch {
            throw Failure(description: "bench sweep trains on Fashion-MNIST (apt-get install dataset-fashion-mnist): \(error)")
        }
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("prunelab-bench-sweep-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let database = directory.appendingPathComponent("bench.sqlite").path
        // Another binary runs as it would on its own: without the GOMP_SPINCOUNT this process set for itself.
        var environment = ProcessInfo.processInfo.environment
        if executable != nil { environment["GOMP_SPINCOUNT"] = nil }
        let server = try ServerProcess(executable: executable ?? ServerProcess.thisExecutable, database: database, token: token,
                                       workers: "\(workers)", extraArguments: ["--log-level", "warning"], environment: environment)
        defer { server.stop() }

        var report = Report(pruners: pruners, seeds: seeds, workers: workers, benchImagesPerSecond: imagesPerSecond)
        let sweep = Data("""
            {"name": "bench-sweep", "base": {"architecture": "\(report.architecture)", "dataset": "\(report.dataset)",
             "compression": \(report.compression), "training": {"batch_size": \(report.batch)}},
             "grid": {"pruner": [\(pruners.map { "\"\($0)\"" }.joined(separator: ", "))], "training.iterations": \(iterations), "seed": \(Array(0..<seeds))}}
            """.utf8)
        let start = monotonicSeconds()
        let created = try await server.send("POST", "/api/v1/sweeps", body: sweep)
        guard created.status == 201, let id = created.json?["id"] as? Int, let runs = created.json?["runs"] as? Int else {
            throw Failure(description: "sweep refused: HTTP \(created.status) \(created.text.prefix(300))")
        }
        report.runs = runs
        // Polled every 50 ms: the figure is the sweep's, the poll's resolution is far below it.
        while true {
            let reply = try await server.send("GET", "/api/v1/sweeps/\(id)")
            guard reply.status == 200, let status = reply.json?["status"] as? String else {
                throw Failure(description: "GET /sweeps/\(id): HTTP \(reply.status) \(reply.text.prefix(300))")
            }
            if status != "active" { break }
            guard server.process.isRunning else { throw Failure(description: "serve exited: \(server.log.suffix(2000))") }
            try await Task.sleep(nanoseconds: 50_000_000)
        }
        report.sweepSeconds = monotonicSeconds() - start
        report.runsPerSecond = Double(runs) / report.sweepSeconds

        // The runs' own figures, from the database the server wrote (as users query it).
        let rows = try DatabaseQueue(path: database, configuration: {
            var configuration = Configuration()
            configuration.readonly = true
            return configuration
        }()).read { db in
            try Row.fetchAll(db, sql: """
                SELECT status, json_extract(config, '$.training.iterations') AS iterations, wall_seconds,
                       json_extract(result, '$.training_seconds') AS training_seconds,
                       (julianday(finished_at) - julianday(started_at)) * 86400 AS lease_to_finish, error
                FROM runs
                """)
        }
        let succeeded = rows.filter { $0["status"] as String == "succeeded" }
        report.failed = rows.count - succeeded.count
        if succeeded.isEmpty {
            throw Failure(description: "no run succeeded; first error: \(rows.first.map { ($0["error"] as String?) ?? "none" } ?? "no runs")")
        }
        func median(_ values: [Double]) -> Double { values.sorted()[values.count / 2] }
        var pureTotal = 0.0
        for count in iterations {
            let group = succeeded.filter { $0["iterations"] as Int == count }
            guard !group.isEmpty else { continue }
            let pure = Double(count * report.batch) / imagesPerSecond
            pureTotal += pure * Double(group.count)
            let leaseToFinish = median(group.map { $0["lease_to_finish"] as Double })
            report.groups.append(Group(iterations: count, runs: group.count, runWallSeconds: median(group.map { $0["wall_seconds"] as Double }),
                                       trainingSeconds: median(group.map { $0["training_seconds"] as Double }),
                                       leaseToFinishSeconds: leaseToFinish, pureTrainingSeconds: pure, overheadSeconds: leaseToFinish - pure,
                                       outsideTrainingSeconds: median(group.map { ($0["lease_to_finish"] as Double) - ($0["training_seconds"] as Double) })))
        }
        report.sweepEfficiency = pureTotal / (report.sweepSeconds * Double(max(1, workers)))
        return report
    }
}
