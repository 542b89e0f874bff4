import Foundation

/// `prunelab bench service`: the service's speed on loopback, against the real binary on a
/// fresh SQLite file — start-up, storing a 7 000-run sweep, lease→finish cycles, batched metric
/// ingest, and `GET /runs/{key}` under `wrk` while simulated workers write.
struct ServiceBench {
    struct Report: Encodable {
        var readySeconds: [Double] = []
        var sweepRuns = 0
        var sweepSeconds = 0.0
        var resubmitSeconds = 0.0
        var leaseFinishCycles = 0
        var leaseFinishPerSecond = 0.0
        var leaseFinishClients = 0
        var leaseFinishErrors = 0
        var ingestErrors = 0
        var metricsStored = 0
        var metricsPerSecond = 0.0
        var metricsBatch = 0
        var getRequestsPerSecond: Double?
        var getLatencyP50Milliseconds: Double?
        var getLatencyP99Milliseconds: Double?
        var getConnections: Int?
        var getErrors: Int?
        var writesPerSecondDuringGets: Double?
        /// GET /healthz alone, same connections: the HTTP stack's floor.
        var healthzRequestsPerSecond: Double?
        var writeErrors: Int?

        var summary: String {
            var lines = [
                "serve ready (spawn → /healthz 200): " + readySeconds.map { String(format: "%.3f s", $0) }.joined(separator: ", ")
                    + " (first on a new file, then restarts)",
                String(format: "sweep of %d runs stored in %.3f s (expansion, validation, keys, SQLite); resubmitted (all reused) in %.3f s",
                       sweepRuns, sweepSeconds, resubmitSeconds),
                String(format: "lease→finish (wrk, %d workers): %d cycles, %.0f per second, %d errors", leaseFinishClients,
                       leaseFinishCycles, leaseFinishPerSecond, leaseFinishErrors),
                String(format: "metric ingest (wrk, 4 workers): %d metrics in batches of %d, %.0f per second, %d errors", metricsStored,
                       metricsBatch, metricsPerSecond, ingestErrors),
            ]
            lines.append(String(format: "GET /runs/{key} (wrk, %d connections): %.0f requests/s, p50 %.2f ms, p99 %.2f ms, %d errors; "
                                + "meanwhile 4 workers wrote %.0f heartbeats and metric batches per second (%d errors)", getConnections ?? 0,
                                getRequestsPerSecond ?? 0, getLatencyP50Milliseconds ?? 0, getLatencyP99Milliseconds ?? 0, getErrors ?? 0,
                                writesPerSecondDuringGets ?? 0, writeErrors ?? 0))
            if let floor = healthzRequestsPerSecond, let rate = getRequestsPerSecond {
                lines.append(String(format: "  GET /healthz alone: %.0f requests/s; GET /runs/{key} under writes reaches %.0f%% of it", floor,
                                    100 * rate / floor))
            }
            return lines.joined(separator: "\n")
        }
    }

    struct Failure: Error, CustomStringConvertible {
        let description: String
    }

    let seconds: Double
    let token = "bench-token"

    func run() async throws -> Report {
        guard Self.wrkPath != nil else { throw Failure(description: "wrk not found: apt-get install wrk (it drives the HTTP load)") }
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("prunelab-bench-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let database = directory.appendingPathComponent("bench.sqlite").path
        var report = Report()
        // Start-up: a new file (migrations run), then two restarts on it.
        var server: ServerProcess?
        for _ in 0..<3 {
            server?.stop()
            let started = try ServerProcess(executable: ServerProcess.thisExecutable, database: database, token: token,
                                            extraArguments: ["--log-level", "warning"])
            report.readySeconds.append(started.readySeconds)
            server = started
        }
        guard let server else { throw Failure(description: "the server did not start") }
        defer { server.stop() }

        // 5 pruners × 2 modes × 7 compressions × 100 seeds = 7 000 runs, none needing a parent.
        let sweep = Data("""
            {"name": "bench", "base": {"architecture": "lenet300-100", "dataset": "synthetic", "training": {"iterations": 100}},
             "grid": {"pruner": ["random/uniform", "random/erk", "random/igq", "snip", "synflow"], "mode": ["direct", "effective"],
                      "compression": [2, 4, 10, 30, 100, 300, 1000], "seed": \(Array(0..<100))}}
            """.utf8)
        var start = Date()
        let created = try await server.send("POST", "/api/v1/sweeps", body: sweep)
        report.sweepSeconds = Date().timeIntervalSince(start)
        guard created.status == 201, let runs = created.json?["runs"] as? Int else {
            throw Failure(description: "sweep refused: HTTP \(created.status) \(created.text.prefix(300))")
        }
        report.sweepRuns = runs
        start = Date()
        _ = try await server.send("POST", "/api/v1/sweeps", body: sweep)
        report.resubmitSeconds = Date().timeIntervalSince(start)
        let keys = try await allKeys(server)

        // GET /runs/{key} under wrk while four simulated workers heartbeat and upload metrics.
        let writers = (0..<4).map { "bench-writer-\($0)" }
        var leased: [String] = []
        for worker in writers {
            guard let key = try await lease(server, worker: worker) else { throw Failure(description: "nothing to lease") }
            leased.append(key)
        }
        try await measureGets(port: server.port, keys: keys, writers: Array(zip(writers, leased)), directory: directory,
                              into: &report)

        // Batched metric ingest: each wrk connection uploads 1 000-metric batches (new steps
        // every time) for a run its worker holds.
        report.metricsBatch = 1000
        let ingest = try wrkRun(script: """
            local workers = {\(zip(writers, leased).map { "{\"\($0.0)\", \"\($0.1)\"}" }.joined(separator: ", "))}
            local counter = 0
            function setup(thread) thread:set("id", counter); counter = counter + 1 end
            function init(args) me = workers[(id % #workers) + 1]; step = 0 end
            request = function()
              local parts = {}
              for i = 1, 500 do
                parts[#parts + 1] = '{"phase":0,"step":' .. (step + i) .. ',"name":"train_loss","value":' .. (1 / (step + i)) .. '}'
                parts[#parts + 1] = '{"phase":0,"step":' .. (step + i) .. ',"name":"train_accuracy","value":0.5}'
              end
              step = step + 500
              return wrk.format("POST", "/api/v1/runs/" .. me[2] .. "/metrics", HEADERS,
                                '{"worker":"' .. me[1] .. '","metrics":[' .. table.concat(parts, ",") .. ']}')
            end
            """, threads: writers.count, port: server.port, directory: directory, name: "ingest")
        report.metricsStored = ingest.requests * 1000
        report.metricsPerSecond = ingest.requestsPerSecond * 1000
        report.ingestErrors = ingest.errors

        // Lease → finish cycles, one connection per worker, as a worker does them: lease, upload both
        // kinds of packed masks (2 × 33 KB, as binary), then finish with LeNet-300-100's per-layer
        // table (whose counts the masks match) and a real run's figures.
        let layers: [(name: String, shape: [Int], kept: Int, effective: Int)] = [
            ("fc1", [300, 784], 23_520, 23_000), ("fc2", [100, 300], 3_000, 2_900), ("fc3", [10, 100], 100, 100)]
        let finishBody = String(decoding: try JSONSerialization.data(withJSONObject: [
            "worker": "WORKER",
            "figures": [
                "test_accuracy": 0.886, "test_loss": 0.3534, "train_loss": 0.2630, "train_accuracy": 0.904, "steps": 96_000,
                "total_steps": 96_000, "training_seconds": 30.2, "wall_seconds": 400.7, "images_per_second": 33_949.0,
                "layers": layers.map { ["name": $0.name, "shape": $0.shape, "size": $0.shape.reduce(1, *), "kept": $0.kept, "effective": $0.effective] },
            ] as [String: Any],
        ] as [String: Any]), as: UTF8.self)
        /// Every layer's first `count` weights kept, packed as the masks route takes them.
        func packed(_ count: (Int, Int, Int)) -> Data {
            var bytes: [UInt8] = []
            for (layer, ones) in zip(layers, [count.0, count.1, count.2]) {
                var bits = [UInt8](repeating: 0, count: (layer.shape.reduce(1, *) + 7) / 8)
                for i in 0..<ones { bits[i >> 3] |= 1 << UInt8(i & 7) }
                bytes += bits
            }
            return Data(bytes)
        }
        let directFile = directory.appendingPathComponent("direct.bits"), effectiveFile = directory.appendingPathComponent("effective.bits")
        try packed((23_520, 3_000, 100)).write(to: directFile)
        try packed((23_000, 2_900, 100)).write(to: effectiveFile)
        let cycles = try wrkRun(script: """
            local counter = 0
            local template = [==[\(finishBody)]==]
            local function slurp(path) local f = assert(io.open(path, "rb")); local data = f:read("*a"); f:close(); return data end
            function setup(thread) thread:set("id", counter); counter = counter + 1 end
            function init(args)
              me = "bench-cycler-" .. id
              finish = template:gsub("WORKER", me)
              masks = {slurp("\(directFile.path)"), slurp("\(effectiveFile.path)")}
              kinds = {"direct", "effective"}
              binary = {["Content-Type"] = "application/octet-stream", ["Authorization"] = HEADERS["Authorization"]}
              key = nil
              stage = 0
              finished = 0
            end
            request = function()
              if key and stage < 2 then
                return wrk.format("PUT", "/api/v1/runs/" .. key .. "/masks?worker=" .. me .. "&kind=" .. kinds[stage + 1], binary,
                                  masks[stage + 1])
              elseif key then
                return wrk.format("POST", "/api/v1/runs/" .. key .. "/finish", HEADERS, finish)
              end
              return wrk.format("POST", "/api/v1/workers/lease", HEADERS, '{"worker":"' .. me .. '"}')
            end
            response = function(status, headers, body)
              if key and stage < 2 then
                if status == 204 then stage = stage + 1 else key = nil end
              elseif key then
                if status == 204 then finished = finished + 1 end
                key = nil
              elseif status == 200 then
                key = body:match('"key":"(%x+)"')
                stage = 0
              end
            end
            """, threads: 4, port: server.port, directory: directory, name: "cycles")
        report.leaseFinishClients = 4
        report.leaseFinishCycles = cycles.requests / 4
        report.leaseFinishPerSecond = cycles.requestsPerSecond / 4
        report.leaseFinishErrors = cycles.errors
        return report
    }

    private func lease(_ server: ServerProcess, worker: String) async throws -> String? {
        let reply = try await server.send("POST", "/api/v1/workers/lease", body: Data("{\"worker\": \"\(worker)\"}".utf8))
        if reply.status == 204 { return nil }
        guard reply.status == 200, let key = reply.json?["key"] as? String else {
            throw Failure(description: "lease refused: HTTP \(reply.status) \(reply.text)")
        }
        return key
    }

    private func allKeys(_ server: ServerProcess) async throws -> [String] {
        var keys: [String] = [], cursor: String?
        repeat {
            let page = try await server.send("GET", "/api/v1/runs?limit=1000" + (cursor.map { "&cursor=\($0)" } ?? ""))
            keys += (page.json?["runs"] as? [[String: Any]] ?? []).compactMap { $0["key"] as? String }
            cursor = page.json?["next_cursor"] as? String
        } while cursor != nil
        return keys
    }

    /// wrk picks a random key per request (a Lua script over the key list); meanwhile each writer
    /// sends a heartbeat and a 50-metric batch every 20 ms.
    private func measureGets(port: Int, keys: [String], writers: [(worker: String, key: String)], directory: URL,
                             into report: inout Report) async throws {
        guard let wrk = Self.wrkPath else { throw Failure(description: "wrk not found: apt-get install wrk") }
        let keyFile = directory.appendingPathComponent("keys.txt")
        try keys.joined(separator: "\n").write(to: keyFile, atomically: true, encoding: .utf8)
        let script = directory.appendingPathComponent("random-run.lua")
        try """
            local keys = {}
            for line in io.lines("\(keyFile.path)") do keys[#keys + 1] = line end
            math.randomseed(1)
            request = function()
              return wrk.format("GET", "/api/v1/runs/" .. keys[math.random(#keys)])
            end
            """.write(to: script, atomically: true, encoding: .utf8)
        let connections = 8
        // The bare HTTP stack's rate on the same connections: the ratio to it survives a noisy machine.
        let floor = try await Task.detached {
            try ServiceBench.capture(wrk, ["-t2", "-c\(connections)", "-d\(Int(seconds.rounded(.up)))s", "http://127.0.0.1:\(port)/healthz"])
        }.value
        report.healthzRequestsPerSecond = Self.field(floor, after: "Requests/sec:").flatMap(Double.init)
        // The writers: a second wrk, one connection per simulated worker, each sending a
        // heartbeat or a 50-metric batch every 20 ms (delay() paces them).
        let writerScript = directory.appendingPathComponent("writers.lua")
        try """
            HEADERS = {["Content-Type"] = "application/json", ["Authorization"] = "Bearer \(token)"}
            local workers = {\(writers.map { "{\"\($0.worker)\", \"\($0.key)\"}" }.joined(separator: ", "))}
            local counter = 0
            function setup(thread) thread:set("id", counter); counter = counter + 1 end
            function init(args) me = workers[(id % #workers) + 1]; step = 0; beat = true end
            function delay() return 20 end
            request = function()
              beat = not beat
              if beat then
                return wrk.format("POST", "/api/v1/runs/" .. me[2] .. "/heartbeat", HEADERS,
                                  '{"worker":"' .. me[1] .. '","step":' .. step .. ',"total_steps":1000000}')
              end
              local parts = {}
              for i = 1, 50 do parts[#parts + 1] = '{"phase":0,"step":' .. (step + i) .. ',"name":"train_loss","value":0.5}' end
              step = step + 50
              return wrk.format("POST", "/api/v1/runs/" .. me[2] .. "/metrics", HEADERS,
                                '{"worker":"' .. me[1] .. '","metrics":[' .. table.concat(parts, ",") .. ']}')
            end
            """.write(to: writerScript, atomically: true, encoding: .utf8)
        let duration = "-d\(Int(seconds.rounded(.up)))s"
        async let writerOutput = Task.detached {
            try ServiceBench.capture(wrk, ["-t\(writers.count)", "-c\(writers.count)", duration, "-s", writerScript.path,
                                           "http://127.0.0.1:\(port)"])
        }.value
        let output = try await Task.detached {
            try ServiceBench.capture(wrk, ["-t2", "-c\(connections)", duration, "--latency", "-s", script.path, "http://127.0.0.1:\(port)"])
        }.value
        let writes = try await writerOutput
        report.writesPerSecondDuringGets = Self.field(writes, after: "Requests/sec:").flatMap(Double.init)
        report.writeErrors = Self.errors(in: writes)
        report.getConnections = connections
        report.getRequestsPerSecond = Self.field(output, after: "Requests/sec:").flatMap(Double.init)
        report.getLatencyP50Milliseconds = Self.field(output, after: "50%").flatMap(Self.milliseconds)
        report.getLatencyP99Milliseconds = Self.field(output, after: "99%").flatMap(Self.milliseconds)
        report.getErrors = Self.errors(in: output)
    }

    struct WrkFigures {
        var requests: Int
        var requestsPerSecond: Double
        var errors: Int
    }

    /// Runs wrk for `seconds` with one connection per thread and a Lua script (HEADERS holds the
    /// JSON content type and the token).
    private func wrkRun(script: String, threads: Int, port: Int, directory: URL, name: String) throws -> WrkFigures {
        guard let wrk = Self.wrkPath else { throw Failure(description: "wrk not found: apt-get install wrk") }
        let file = directory.appendingPathComponent("\(name).lua")
        try ("HEADERS = {[\"Content-Type\"] = \"application/json\", [\"Authorization\"] = \"Bearer \(token)\"}\n" + script)
            .write(to: file, atomically: true, encoding: .utf8)
        let output = try Self.capture(wrk, ["-t\(threads)", "-c\(threads)", "-d\(Int(seconds.rounded(.up)))s", "-s", file.path,
                                            "http://127.0.0.1:\(port)"])
        guard let rate = Self.field(output, after: "Requests/sec:").flatMap(Double.init),
              let total = output.split(separator: "\n").first(where: { $0.contains("requests in") })?
                .split(separator: " ").first.flatMap({ Int($0) }) else {
            throw Failure(description: "wrk (\(name)) printed no figures: \(output)")
        }
        return WrkFigures(requests: total, requestsPerSecond: rate, errors: Self.errors(in: output))
    }

    static var wrkPath: String? { ["/usr/bin/wrk", "/usr/local/bin/wrk"].first { FileManager.default.isExecutableFile(atPath: $0) } }

    /// Non-2xx answers and socket errors wrk reports.
    static func errors(in output: String) -> Int {
        let socketErrors = output.split(separator: "\n").first { $0.contains("Socket errors") }
        let non2xx = field(output, after: "Non-2xx or 3xx responses:").flatMap(Int.init) ?? 0
        return non2xx + (socketErrors.map { line in line.split(whereSeparator: { !$0.isNumber }).compactMap { Int($0) }.reduce(0, +) } ?? 0)
    }

    /// The first word after `label` on the first line that starts with it.
    static func field(_ text: String, after label: String) -> String? {
        for line in text.split(separator: "\n") {
            let trimmed = line.drop(while: { $0 == " " || $0 == "\t" })
            guard trimmed.hasPrefix(label) else { continue }
            return trimmed.dropFirst(label.count).split(separator: " ").first.map(String.init)
        }
        return nil
    }

    /// wrk's durations: 812.00us, 1.23ms, 2.00s.
    static func milliseconds(_ text: String) -> Double? {
        for (suffix, scale) in [("us", 0.001), ("ms", 1.0), ("s", 1000.0)] where text.hasSuffix(suffix) {
            return Double(text.dropLast(suffix.count)).map { $0 * scale }
        }
        return nil
    }

    static func capture(_ executable: String, _ arguments: [String]) throws -> String {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = arguments
        let pipe = Pipe()
        process.standardOutput = pipe
        process.standardError = pipe
        try process.run()
        let data = pipe.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return String(decoding: data, as: UTF8.self)
    }
}
