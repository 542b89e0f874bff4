import Foundation
#if canImport(Glibc)
import Glibc
#endif
@testable import prunelab
import Testing

/// Server, workers and SQLite together, as in production: real processes, a real socket, a real file.
@Suite("service end to end", .serialized)
struct ServiceIntegrationTests {
    static func sweep(iterations: Int, pruners: [String] = ["random/erk", "magnitude/global"], evalEvery: Int = 10) -> Data {
        let list = pruners.map { "\"\($0)\"" }.joined(separator: ", ")
        return Data("""
            {"name": "e2e", "base": {"architecture": "lenet300-100", "dataset": "synthetic", "compression": 10,
             "training": {"iterations": \(iterations), "batch_size": 50, "eval_every": \(evalEvery)}}, "grid": {"pruner": [\(list)], "seed": [0]}}
            """.utf8)
    }

    static func query(_ database: String, _ sql: String) throws -> String {
        try ServeCommandTests.query(database, sql) ?? ""
    }

    /// Every metric of a database, one line each, in order.
    static let allMetrics = "SELECT phase || ',' || step || ',' || name || ',' || quote(value) FROM metrics ORDER BY phase, step, name"
    /// The runs' final test accuracy and loss, exactly.
    static let finalFigures = "SELECT quote(test_accuracy) || quote(test_loss) FROM runs"

    /// `sweep` run without interruption by one worker on its own server and file: its metrics and
    /// final figures (`allMetrics`, `finalFigures`), what an interrupted run must end with.
    static func uninterrupted(_ sweep: Data) throws -> (metrics: String, figures: String) {
        let (path, directory) = try ServeCommandTests.database()
        defer { try? FileManager.default.removeItem(at: directory) }
        let server = try ServerProcess(database: path)
        defer { server.stop() }
        _ = try server.request("POST", "/api/v1/sweeps", body: sweep)
        let worker = try WorkerProcess(server: server, exitWhenIdle: true)
        worker.process.waitUntilExit()
        return (try query(path, allMetrics), try query(path, finalFigures))
    }

    /// submit → a worker finishes every run (the dense parent first) → the results view holds
    /// them; resubmitting the same sweep creates no new run.
    @Test(.timeLimit(.minutes(10)))
    func workersFinishEveryRunAndResubmissionReuses() throws {
        let (path, directory) = try ServeCommandTests.database()
        defer { try? FileManager.default.removeItem(at: directory) }
        let server = try ServerProcess(database: path)
        defer { server.stop() }
        let created = try server.request("POST", "/api/v1/sweeps", body: Self.sweep(iterations: 20))
        #expect(created.json?["new"] as? Int == 3, "\(created.text)")
        let worker = try WorkerProcess(server: server, exitWhenIdle: true)
        worker.process.waitUntilExit()
        #expect(worker.process.terminationStatus == 0)
        #expect(try Self.query(path, "SELECT pruner || ':' || status FROM results ORDER BY pruner") ==
                "dense:succeeded\nmagnitude/global:succeeded\nrandom/erk:succeeded")
        #expect(try Self.query(path, "SELECT COUNT(*) FROM results WHERE test_accuracy BETWEEN 0 AND 1 AND effective_compression >= 10") == "2")
        #expect(try Self.query(path, "SELECT COUNT(*) FROM layers") == "9")
        #expect(try Self.query(path, "SELECT COUNT(DISTINCT run_key) FROM metrics") == "3")
        let again = try server.request("POST", "/api/v1/sweeps", body: Self.sweep(iterations: 20))
        #expect(again.json?["new"] as? Int == 0 && again.json?["reused"] as? Int == 3, "\(again.text)")
        #expect(try Self.query(path, "SELECT COUNT(*) FROM runs") == "3")
        try checkRunPageAndMasks(server: server, database: path, directory: directory)
        try checkOperations(server: server, database: path)
    }

    /// /metrics (Prometheus text) counts what the database holds and the requests served; the
    /// events API and the server's log tell every run's lease and success with its metadata.
    func checkOperations(server: ServerProcess, database: String) throws {
        let scrape = try server.request("GET", "/metrics").text
        func sample(_ name: String) -> Double? {
            scrape.split(separator: "\n").first { $0.hasPrefix(name + " ") }.flatMap { Double($0.split(separator: " ").last!) }
        }
        #expect(sample("prunelab_runs{status=\"succeeded\"}") == 3, "\(scrape)")
        #expect(sample("prunelab_runs{status=\"queued\"}") == 0 && sample("prunelab_queue_depth") == 0)
        #expect(sample("prunelab_events_total{kind=\"succeeded\"}") == 3 && sample("prunelab_events_total{kind=\"lease_expired\"}") == 0)
        let stored = try #require(Double(try Self.query(database, "SELECT COUNT(*) FROM metrics")))
        #expect(sample("prunelab_metrics_ingested_total") ?? 0 >= stored && stored > 0)
        #expect(scrape.contains("hb_requests{http_route=\"/api/v1/workers/lease\",http_request_method=\"POST\",http_response_status_code=\"200\"} 3"))
        #expect(scrape.contains("http_server_request_duration_bucket{http_route=\"/api/v1/runs/{key}/finish\""), "latency histogram per route")
        let events = try server.request("GET", "/api/v1/events?limit=1000")
        let kinds = (events.json?["events"] as? [[String: Any]] ?? []).compactMap { $0["kind"] as? String }
        #expect(kinds.filter { $0 == "leased" }.count == 3 && kinds.filter { $0 == "succeeded" }.count == 3 && kinds.first == "sweep_submitted")
        let keys = try Self.query(database, "SELECT key FROM runs").split(separator: "\n")
        // The housekeeper logs each event within its interval; poll for the last one.
        let logged = waitUntil(seconds: 10) { keys.allSatisfy { key in server.log.contains("event=succeeded run=\(key)") } }
        #expect(logged, "\(server.log)")
    }

    /// GET /runs/{key} carries the per-layer table, and masks.npz loads in NumPy with one bool
    /// array per layer whose counts are the table's (effective ⊆ direct).
    func checkRunPageAndMasks(server: ServerProcess, database: String, directory: URL) throws {
        let key = try Self.query(database, "SELECT key FROM runs WHERE pruner = 'random/erk'")
        let run = try server.request("GET", "/api/v1/runs/\(key)")
        let layers = try #require(run.json?["layers"] as? [[String: Any]], "\(run.text)")
        #expect(layers.map { $0["name"] as? String } == ["fc1", "fc2", "fc3"])
        #expect(run.json?["total"] as? Int == 266_200 && run.json?["step"] as? Int == 20 && run.json?["finished_at"] != nil, "\(run.text)")
        try Self.checkMasksInNumPy(server: server, key: key, layers: layers, directory: directory)
        // Bad kind and unknown run: 4xx naming the field.
        let badKind = try server.request("GET", "/api/v1/runs/\(key)/masks.npz?kind=sideways")
        #expect(badKind.status == 400, "\(badKind.text)")
        let unknown = try server.request("GET", "/api/v1/runs/\(String(repeating: "0", count: 64))/masks.npz")
        #expect(unknown.status == 404 && unknown.json?["field"] as? String == "key", "\(unknown.text)")
    }

    /// `masks.npz?kind=direct|effective` of run `key` load in NumPy: one bool array per layer,
    /// named and shaped as `layers` (GET /runs/{key}) says, summing to its kept and effective
    /// counts, effective ⊆ direct.
    static func checkMasksInNumPy(server: ServerProcess, key: String, layers: [[String: Any]], directory: URL) throws {
        var files: [String: String] = [:]
        for kind in ["direct", "effective"] {
            let reply = try server.request("GET", "/api/v1/runs/\(key)/masks.npz?kind=\(kind)")
            #expect(reply.status == 200)
            let file = directory.appendingPathComponent("\(key)-\(kind).npz")
            try reply.body.write(to: file)
            files[kind] = file.path
        }
        let script = """
            import numpy as np, sys
            d, e = np.load(sys.argv[1]), np.load(sys.argv[2])
            assert all((e[n] <= d[n]).all() for n in d.files)
            print(";".join(f"{n}:{d[n].dtype}:{d[n].shape}:{int(d[n].sum())}:{int(e[n].sum())}" for n in d.files))
            """
        let python = Process()
        python.executableURL = URL(fileURLWithPath: "/usr/bin/python3")
        python.arguments = ["-c", script, files["direct"]!, files["effective"]!]
        let output = Pipe()
        python.standardOutput = output
        try python.run()
        let printed = String(decoding: output.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        python.waitUntilExit()
        let expected = layers.map { layer -> String in
            let shape = (layer["shape"] as? [Int] ?? []).map(String.init).joined(separator: ", ")
            return "\(layer["name"]!):bool:(\(shape)):\(layer["kept"]!):\(layer["effective"]!)"
        }.joined(separator: ";")
        #expect(python.terminationStatus == 0 && printed.trimmingCharacters(in: .whitespacesAndNewlines) == expected)
    }

    /// kill -9 of a worker mid-run: the lease expires, another worker resumes from the last
    /// uploaded checkpoint, and the final metrics equal those of an uninterrupted run.
    @Test(.timeLimit(.minutes(10)))
    func killedWorkersRunIsResumedWithIdenticalResults() throws {
        let sweep = Self.sweep(iterations: 300, pruners: ["random/erk"], evalEvery: 15)
        let reference = try Self.uninterrupted(sweep)

        let (path, directory) = try ServeCommandTests.database()
        defer { try? FileManager.default.removeItem(at: directory) }
        let server = try ServerProcess(database: path, extraArguments: ["--lease-seconds", "2"])
        defer { server.stop() }
        _ = try server.request("POST", "/api/v1/sweeps", body: sweep)
        let first = try WorkerProcess(server: server)
        // Wait until it has uploaded a checkpoint well into the run, then kill it without warning.
        let reached = try waitUntil(seconds: 60) { Int(try Self.query(path, "SELECT COALESCE(MAX(step), 0) FROM checkpoints")) ?? 0 >= 90 }
        #expect(reached)
        first.kill()
        #expect(try Self.query(path, "SELECT status FROM runs") != "succeeded", "the run must still be unfinished")
        let second = try WorkerProcess(server: server)
        defer { second.stop() }
        let finished = try waitUntil(seconds: 120) { try Self.query(path, "SELECT status FROM runs") == "succeeded" }
        #expect(finished)
        #expect(try Self.query(path, "SELECT attempts FROM runs") == "2")
        #expect(try Self.query(path, "SELECT COUNT(*) FROM events WHERE kind = 'lease_expired'") == "1")
        #expect(try server.request("GET", "/metrics").text.contains("prunelab_events_total{kind=\"lease_expired\"} 1"))
        #expect(server.log.contains("warning prunelab.serve: detail=attempt 1 event=lease_expired"), "\(server.log)")
        let resumedMetrics = try Self.query(path, Self.allMetrics)
        let differing = zip(resumedMetrics.split(separator: "\n"), reference.metrics.split(separator: "\n")).filter { $0 != $1 }
        #expect(!reference.metrics.isEmpty && resumedMetrics == reference.metrics, "\(differing.prefix(4))")
        let resumedFigures = try Self.query(path, Self.finalFigures)
        #expect(resumedFigures == reference.figures)
    }

    /// kill -9 of the server mid-sweep and a restart on the same file: no run lost or duplicated,
    /// and the worker carries on.
    @Test(.timeLimit(.minutes(10)))
    func killedServerRestartsWithoutLosingOrDuplicatingRuns() throws {
        let (path, directory) = try ServeCommandTests.database()
        defer { try? FileManager.default.removeItem(at: directory) }
        var server = try ServerProcess(database: path, extraArguments: ["--lease-seconds", "3"])
        let port = server.port
        _ = try server.request("POST", "/api/v1/sweeps", body: Self.sweep(iterations: 120, pruners: ["random/erk", "random/igq", "snip"]))
        let worker = try WorkerProcess(server: server)
        defer { worker.stop() }
        let started = try waitUntil(seconds: 60) { try Self.query(path, "SELECT COUNT(*) FROM runs WHERE status = 'succeeded'") != "0" }
        #expect(started)
        server.kill()
        server = try ServerProcess(database: path, port: port, extraArguments: ["--lease-seconds", "3"])
        defer { server.stop() }
        let done = try waitUntil(seconds: 150) { try Self.query(path, "SELECT COUNT(*) FROM runs WHERE status = 'succeeded'") == "3" }
        let state = try Self.query(path, "SELECT pruner, status, attempts, error FROM runs")
        #expect(done, "\(state)")
        #expect(try Self.query(path, "SELECT COUNT(*) FROM runs") == "3")
        #expect(try Self.query(path, "SELECT COUNT(*) FROM sweeps") == "1")
        #expect(try Self.query(path, "SELECT COUNT(*) FROM (SELECT run_key, phase, step, name, COUNT(*) AS n FROM metrics GROUP BY 1, 2, 3, 4 HAVING n > 1)") == "0")
    }

    /// `serve --workers 1` runs the sweep by itself; a worker killed with -9 is restarted by the
    /// dispatcher; SIGTERM stops the server and its workers gracefully.
    @Test(.timeLimit(.minutes(10)))
    func dispatcherRunsRestartsAndStopsItsWorkers() throws {
        let (path, directory) = try ServeCommandTests.database()
        defer { try? FileManager.default.removeItem(at: directory) }
        let server = try ServerProcess(database: path, workers: "1", extraArguments: ["--lease-seconds", "2"])
        defer { server.stop() }
        #expect(server.log.contains("local workers: cpu"), "\(server.log)")
        _ = try server.request("POST", "/api/v1/sweeps", body: Self.sweep(iterations: 150, pruners: ["random/erk", "random/igq", "snip"]))
        /// The server's child processes (any of its threads may have spawned them).
        func children() -> [Int32] {
            let tasks = "/proc/\(server.process.processIdentifier)/task"
            let threads = (try? FileManager.default.contentsOfDirectory(atPath: tasks)) ?? []
            return threads.flatMap { thread in
                ((try? String(contentsOfFile: "\(tasks)/\(thread)/children", encoding: .utf8)) ?? "")
                    .split(whereSeparator: { $0 == " " || $0 == "\n" }).compactMap { Int32($0) }
            }
        }
        let running = try waitUntil(seconds: 60) { try Self.query(path, "SELECT COUNT(*) FROM runs WHERE status = 'running'") == "1" }
        #expect(running)
        let firstWorker = try #require(children().first)
        kill(firstWorker, SIGKILL)
        let replaced = waitUntil(seconds: 30) { !children().isEmpty && !children().contains(firstWorker) }
        #expect(replaced, "the dispatcher restarts a crashed worker")
        let done = try waitUntil(seconds: 150) { try Self.query(path, "SELECT COUNT(*) FROM runs WHERE status = 'succeeded'") == "3" }
        #expect(done)
        let worker = children()
        server.process.terminate()
        server.process.waitUntilExit()
        #expect(server.process.terminationStatus == 0, "graceful shutdown: \(server.log)")
        #expect(worker.allSatisfy { kill($0, 0) != 0 }, "workers stop with the server")
    }

    /// The CLI clients against a running server with one local worker: submit, status, results.
    @Test(.timeLimit(.minutes(10)))
    func submitStatusAndResultsCommands() throws {
        let (path, directory) = try ServeCommandTests.database()
        defer { try? FileManager.default.removeItem(at: directory) }
        let server = try ServerProcess(database: path, workers: "1")
        defer { server.stop() }
        let sweepFile = directory.appendingPathComponent("sweep.json")
        try Self.sweep(iterations: 20).write(to: sweepFile)
        let url = "http://127.0.0.1:\(server.port)"
        let submitted = try PrunelabBinary.run(["submit", sweepFile.path, "--server", url, "--token", server.token], timeout: 60)
        #expect(submitted.status == 0 && submitted.stdout.hasPrefix("sweep 1: 3 runs (3 new, 0 reused, 0 requeued)"), "\(submitted)")
        let refused = try PrunelabBinary.run(["submit", sweepFile.path, "--server", url, "--token", "wrong"], timeout: 60)
        #expect(refused.status != 0 && refused.stderrLines.count == 1 && refused.stderr.contains("401"), "\(refused)")
        let watched = try PrunelabBinary.run(["status", "1", "--server", url, "--watch"], timeout: 120)
        #expect(watched.status == 0 && watched.stdout.split(separator: "\n").last?.contains("3/3: 3 succeeded") == true, "\(watched)")
        let all = try PrunelabBinary.run(["status", "--server", url], timeout: 60)
        #expect(all.stdout.contains("sweep 1 e2e [##############################] 3/3"), "\(all)")
        let table = try PrunelabBinary.run(["results", "1", "--server", url], timeout: 60)
        #expect(table.status == 0 && table.stdout.split(separator: "\n").count == 4 && table.stdout.contains("magnitude/global"), "\(table)")
        let csv = try PrunelabBinary.run(["results", "1", "--server", url, "--csv"], timeout: 60)
        #expect(csv.stdout.hasPrefix("key,architecture,") && csv.stdout.components(separatedBy: "succeeded").count == 4, "\(csv)")
        let missing = try PrunelabBinary.run(["results", "7", "--server", url], timeout: 60)
        #expect(missing.status != 0 && missing.stderr.contains("404") && missing.stderr.contains("field id"), "\(missing)")
    }
}
