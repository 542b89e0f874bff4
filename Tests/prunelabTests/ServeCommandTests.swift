import Foundation
@testable import prunelab
import Testing

/// `prunelab serve` over a real loopback socket and a real SQLite file.
@Suite("serve command", .serialized)
struct ServeCommandTests {
    static func database() throws -> (path: String, directory: URL) {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("prunelab-serve-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        return (directory.appendingPathComponent("prunelab.sqlite").path, directory)
    }

    /// Row counts through Debian's sqlite3, as a user would look.
    static func counts(_ database: String) throws -> String {
        try query(database, "SELECT (SELECT COUNT(*) FROM sweeps), (SELECT COUNT(*) FROM runs), (SELECT COUNT(*) FROM sweep_runs), "
                  + "(SELECT COUNT(*) FROM run_dependencies)") ?? ""
    }

    static let sweep = """
        {"name": "api", "base": {"architecture": "lenet300-100", "dataset": "synthetic", "compression": 10,
         "training": {"iterations": 10}}, "grid": {"pruner": ["random/erk", "magnitude/global"], "seed": [0, 1]}}
        """

    /// Compute commands bound libgomp's busy-wait: serve runs (and its workers inherit)
    /// GOMP_SPINCOUNT=1000, set by executing itself again, unless the environment chose a policy.
    @Test(.timeLimit(.minutes(10)))
    func computeCommandsBoundOpenMPSpinning() throws {
        func environment(of server: ServerProcess) throws -> [String] {
            let bytes = try Data(contentsOf: URL(fileURLWithPath: "/proc/\(server.process.processIdentifier)/environ"))
            return bytes.split(separator: 0).map { String(decoding: $0, as: UTF8.self) }
        }
        let (path, directory) = try Self.database()
        defer { try? FileManager.default.removeItem(at: directory) }
        var inherited = PrunelabBinary.childEnvironment
        inherited["GOMP_SPINCOUNT"] = nil
        inherited["OMP_WAIT_POLICY"] = nil
        let server = try ServerProcess(executable: PrunelabBinary.location.get(), database: path, token: "t", environment: inherited,
                                       readyTimeout: 30 * ChildProcess.busyMachineSlack)
        #expect(try environment(of: server).contains("GOMP_SPINCOUNT=1000"))
        server.stop()
        inherited["OMP_WAIT_POLICY"] = "active"
        let chosen = try ServerProcess(executable: PrunelabBinary.location.get(), database: path, token: "t", environment: inherited,
                                       readyTimeout: 30 * ChildProcess.busyMachineSlack)
        defer { chosen.stop() }
        let variables = try environment(of: chosen)
        #expect(variables.contains("OMP_WAIT_POLICY=active") && !variables.contains { $0.hasPrefix("GOMP_SPINCOUNT=") })
    }

    @Test(.timeLimit(.minutes(10)))
    func submitReadAndResubmit() throws {
        let (path, directory) = try Self.database()
        defer { try? FileManager.default.removeItem(at: directory) }
        let server = try ServerProcess(database: path)
        defer { server.stop() }
        #expect(try server.request("GET", "/healthz").status == 200)
        let created = try server.request("POST", "/api/v1/sweeps", body: Data(Self.sweep.utf8))
        #expect(created.status == 201, "\(created.text)")
        // 2 pruners × 2 seeds + one dense parent per seed for magnitude/global.
        #expect(created.json?["new"] as? Int == 6 && created.json?["runs"] as? Int == 6)
        let id = try #require(created.json?["id"] as? Int)
        let sweep = try server.request("GET", "/api/v1/sweeps/\(id)")
        #expect(sweep.status == 200 && (sweep.json?["counts"] as? [String: Any])?["queued"] as? Int == 6, "\(sweep.text)")
        // Resubmitted the way `curl -d @sweep.json` sends it (form-urlencoded label, JSON body).
        let again = try server.request("POST", "/api/v1/sweeps", body: Data(Self.sweep.utf8), contentType: "application/x-www-form-urlencoded")
        #expect(again.json?["new"] as? Int == 0 && again.json?["reused"] as? Int == 6, "\(again.text)")
        #expect(try Self.counts(path) == "2|6|12|2")
        // A run by key, from the results view.
        let key = try #require(try Self.query(path, "SELECT key FROM results WHERE pruner = 'dense' AND seed = 1"))
        let run = try server.request("GET", "/api/v1/runs/\(key)")
        #expect(run.status == 200 && run.json?["status"] as? String == "queued", "\(run.text)")
        #expect((run.json?["config"] as? [String: Any])?["pruner"] as? String == "dense")
        // The document the API is generated from, served as is.
        let document = try server.request("GET", "/api/v1/openapi.yaml")
        let source = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("Sources/Service/openapi.yaml")
        let expected = try String(contentsOf: source, encoding: .utf8)
        #expect(document.status == 200 && document.text == expected)
    }

    /// GET /runs/{key} types the config (RunConfig in openapi.yaml): every field of every pruner's
    /// canonical config comes back as stored, none dropped by the schema.
    @Test(.timeLimit(.minutes(10)))
    func runConfigsComeBackWhole() throws {
        let (path, directory) = try Self.database()
        defer { try? FileManager.default.removeItem(at: directory) }
        let server = try ServerProcess(database: path)
        defer { server.stop() }
        let sweep = """
            {"name": "groups", "base": {"architecture": "lenet300-100", "dataset": "synthetic", "compression": 10, "mode": "effective",
             "shuffle": true, "training": {"iterations": 10}},
             "grid": {"pruner": ["snip/iterative", "synflow", "lth", "grasp", "lamp", "random/erk"], "seed": [0, 18446744073709551615]}}
            """
        let created = try server.request("POST", "/api/v1/sweeps", body: Data(sweep.utf8))
        #expect(created.status == 201, "\(created.text)")
        // The sweep is stored as sent, byte for byte (its layout and key order included).
        #expect(try Self.query(path, "SELECT hex(spec) FROM sweeps") == Data(sweep.utf8).map { String(format: "%02X", $0) }.joined())
        let rows = try #require(try Self.query(path, "SELECT key || ' ' || config FROM runs")).split(separator: "\n")
        #expect(rows.count == 14, "6 pruners × 2 seeds + a dense parent per seed")
        for row in rows {
            let key = String(row.prefix(64)), stored = Data(row.dropFirst(65).utf8)
            let reply = try server.request("GET", "/api/v1/runs/\(key)")
            let served = try #require(reply.json?["config"] as? NSDictionary, "\(reply.text)")
            let expected = try #require(try JSONSerialization.jsonObject(with: stored) as? NSDictionary)
            #expect(served == expected, "\(key)")
        }
    }

    /// Run pages by cursor, the results table as CSV, the sweep list, cancelling.
    @Test(.timeLimit(.minutes(10)))
    func listingPagingResultsAndCancelling() throws {
        let (path, directory) = try Self.database()
        defer { try? FileManager.default.removeItem(at: directory) }
        let server = try ServerProcess(database: path)
        defer { server.stop() }
        let id = try #require(try server.request("POST", "/api/v1/sweeps", body: Data(Self.sweep.utf8)).json?["id"] as? Int)
        var keys: [String] = [], cursor: String?
        repeat {
            let page = try server.request("GET", "/api/v1/runs?sweep=\(id)&limit=4" + (cursor.map { "&cursor=\($0)" } ?? ""))
            #expect(page.status == 200, "\(page.text)")
            let runs = try #require(page.json?["runs"] as? [[String: Any]])
            #expect(runs.count <= 4)
            keys += runs.compactMap { $0["key"] as? String }
            cursor = page.json?["next_cursor"] as? String
        } while cursor != nil
        #expect(keys.count == 6 && keys == keys.sorted() && Set(keys).count == 6)
        let filtered = try server.request("GET", "/api/v1/runs?pruner=dense")
        #expect((filtered.json?["runs"] as? [Any])?.count == 2)
        let csv = try server.request("GET", "/api/v1/sweeps/\(id)/results?format=csv")
        let lines = csv.text.split(separator: "\r\n")
        #expect(csv.status == 200 && lines.count == 7 && lines[0].hasPrefix("key,architecture,dataset,pruner,mode,target_compression"))
        let json = try server.request("GET", "/api/v1/sweeps/\(id)/results")
        #expect((json.json?["results"] as? [Any])?.count == 6)
        let list = try server.request("GET", "/api/v1/sweeps")
        #expect((list.json?["sweeps"] as? [[String: Any]])?.first?["id"] as? Int == id)
        let metrics = try server.request("GET", "/api/v1/runs/\(keys[0])/metrics")
        #expect(metrics.status == 200 && (metrics.json?["metrics"] as? [Any])?.isEmpty == true)
        let cancelled = try server.request("POST", "/api/v1/sweeps/\(id)/cancel")
        #expect(cancelled.status == 200 && cancelled.json?["cancelled"] as? Int == 6, "\(cancelled.text)")
        #expect(try Self.query(path, "SELECT DISTINCT status FROM runs") == "cancelled")
    }

    static func query(_ database: String, _ sql: String) throws -> String? {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/sqlite3")
        process.arguments = [database, sql]
        let pipe = Pipe()
        process.standardOutput = pipe
        try process.run()
        process.waitUntilExit()
        let text = String(decoding: pipe.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
            .trimmingCharacters(in: .whitespacesAndNewlines)
        return text.isEmpty ? nil : text
    }

    struct BadCase: Sendable, CustomTestStringConvertible {
        let name: String
        let method: String
        let path: String
        let body: String?
        let token: String??
        let status: Int
        let field: String
        var contentType: String? = nil
        var testDescription: String { name }
    }

    static let unknownKey = String(repeating: "ab", count: 32)
    /// Stands for the key of a queued run (it has no masks yet) in a case's path.
    static let queuedRun = "{queued}"

    /// A finish message for a 2×2 layer keeping 2 weights, 1 of them effective.
    static let finish = """
        {"worker": "w", "figures": {"test_accuracy": 0.5, "test_loss": 1, "train_loss": 1, "train_accuracy": 0.5, "steps": 1,
         "total_steps": 1, "training_seconds": 1, "wall_seconds": 1, "images_per_second": 1,
         "layers": [{"name": "fc1", "shape": [2, 2], "size": 4, "kept": 2, "effective": 1}]}}
        """
    static let someHash = String(repeating: "0", count: 64)
    static let badCases: [BadCase] = [
        BadCase(name: "malformed JSON", method: "POST", path: "/api/v1/sweeps", body: "{\"name\": ", token: .none, status: 400, field: "body"),
        BadCase(name: "unknown architecture", method: "POST", path: "/api/v1/sweeps",
                body: "{\"name\": \"x\", \"base\": {\"architecture\": \"resnet-9000\", \"pruner\": \"dense\"}, \"grid\": {\"seed\": [0]}}",
                token: .none, status: 400, field: "architecture"),
        BadCase(name: "unknown pruner", method: "POST", path: "/api/v1/sweeps",
                body: "{\"name\": \"x\", \"base\": {\"architecture\": \"lenet300-100\", \"compression\": 10}, \"grid\": {\"pruner\": [\"random/erk\", \"magic\"]}}",
                token: .none, status: 400, field: "pruner"),
        BadCase(name: "compression ≤ 1", method: "POST", path: "/api/v1/sweeps",
                body: "{\"name\": \"x\", \"base\": {\"architecture\": \"lenet300-100\", \"pruner\": \"random/erk\"}, \"grid\": {\"compression\": [10, 0.5]}}",
                token: .none, status: 400, field: "compression"),
        BadCase(name: "empty grid", method: "POST", path: "/api/v1/sweeps", body: "{\"name\": \"x\", \"grid\": {}}", token: .none,
                status: 400, field: "grid"),
        BadCase(name: "oversized body", method: "POST", path: "/api/v1/sweeps",
                body: "{\"name\": \"" + String(repeating: "x", count: 2 << 20) + "\", \"grid\": {\"seed\": [0]}}", token: .none,
                status: 413, field: "body"),
        BadCase(name: "missing token", method: "POST", path: "/api/v1/sweeps", body: ServeCommandTests.sweep, token: .some(nil),
                status: 401, field: "Authorization"),
        BadCase(name: "wrong token", method: "POST", path: "/api/v1/sweeps", body: ServeCommandTests.sweep, token: .some("guess"),
                status: 401, field: "Authorization"),
        BadCase(name: "unknown sweep", method: "GET", path: "/api/v1/sweeps/999", body: nil, token: .none, status: 404, field: "id"),
        BadCase(name: "unknown run", method: "GET", path: "/api/v1/runs/\(unknownKey)", body: nil, token: .none, status: 404, field: "key"),
        BadCase(name: "malformed run key", method: "GET", path: "/api/v1/runs/xyz", body: nil, token: .none, status: 400, field: "key"),
        BadCase(name: "negative limit", method: "GET", path: "/api/v1/runs?limit=-1", body: nil, token: .none, status: 400, field: "limit"),
        BadCase(name: "bad cursor", method: "GET", path: "/api/v1/runs?cursor=not-a-cursor", body: nil, token: .none, status: 400, field: "cursor"),
        BadCase(name: "cancel without token", method: "POST", path: "/api/v1/sweeps/1/cancel", body: nil, token: .some(nil), status: 401,
                field: "Authorization"),
        BadCase(name: "cancel unknown sweep", method: "POST", path: "/api/v1/sweeps/999/cancel", body: nil, token: .none, status: 404, field: "id"),
        BadCase(name: "results of unknown sweep", method: "GET", path: "/api/v1/sweeps/999/results", body: nil, token: .none, status: 404,
                field: "id"),
        BadCase(name: "limit not a number", method: "GET", path: "/api/v1/runs?limit=abc", body: nil, token: .none, status: 400,
                field: "limit"),
        BadCase(name: "unknown mask kind", method: "GET", path: "/api/v1/runs/\(unknownKey)/masks.npz?kind=sideways", body: nil,
                token: .none, status: 400, field: "kind"),
        BadCase(name: "masks of unknown run", method: "GET", path: "/api/v1/runs/\(unknownKey)/masks.npz", body: nil, token: .none,
                status: 404, field: "key"),
        BadCase(name: "masks of an unfinished run", method: "GET", path: "/api/v1/runs/\(queuedRun)/masks.npz?kind=effective", body: nil,
                token: .none, status: 404, field: "key"),
        BadCase(name: "finish of an unknown run", method: "POST", path: "/api/v1/runs/\(unknownKey)/finish",
                body: finish, token: .none, status: 404, field: "key"),
        BadCase(name: "finish without the lease", method: "POST", path: "/api/v1/runs/\(queuedRun)/finish",
                body: finish, token: .none, status: 409, field: "worker"),
        BadCase(name: "masks of an unknown run", method: "PUT", path: "/api/v1/runs/\(unknownKey)/masks?worker=w&kind=direct",
                body: "\u{1}", token: .none, status: 404, field: "key", contentType: "application/octet-stream"),
        BadCase(name: "masks without the lease", method: "PUT", path: "/api/v1/runs/\(queuedRun)/masks?worker=w&kind=direct",
                body: "\u{1}", token: .none, status: 409, field: "worker", contentType: "application/octet-stream"),
        BadCase(name: "checkpoint with a malformed hash", method: "PUT",
                path: "/api/v1/runs/\(queuedRun)/checkpoint?worker=w&phase=0&step=1&sha256=xyz",
                body: "\u{1}", token: .none, status: 400, field: "sha256", contentType: "application/octet-stream"),
        BadCase(name: "checkpoint without the lease", method: "PUT",
                path: "/api/v1/runs/\(queuedRun)/checkpoint?worker=w&phase=0&step=1&sha256=\(someHash)",
                body: "\u{1}", token: .none, status: 409, field: "worker", contentType: "application/octet-stream"),
        BadCase(name: "events limit 0", method: "GET", path: "/api/v1/events?limit=0", body: nil, token: .none, status: 400, field: "limit"),
        BadCase(name: "events of a malformed run key", method: "GET", path: "/api/v1/events?run=xyz", body: nil, token: .none, status: 400,
                field: "run"),
        BadCase(name: "sweep as plain text", method: "POST", path: "/api/v1/sweeps", body: ServeCommandTests.sweep, token: .none,
                status: 415, field: "Content-Type", contentType: "text/plain"),
        BadCase(name: "metrics of unknown run", method: "GET", path: "/api/v1/runs/\(unknownKey)/metrics", body: nil, token: .none,
                status: 404, field: "key"),
        // What fuzzing and the audit of issue 16 found: each of these once trapped the server or was
        // answered with the wrong status.
        BadCase(name: "an LTH rate so small its rounds overflow", method: "POST", path: "/api/v1/sweeps",
                body: #"{"name": "x", "base": {"architecture": "lenet300-100", "dataset": "synthetic", "pruner": "lth", "lth": {"rate": 1e-20}}, "grid": {"compression": [10, 1e300]}}"#,
                token: .none, status: 400, field: "lth.rate"),
        BadCase(name: "iterations beyond the limit", method: "POST", path: "/api/v1/sweeps",
                body: #"{"name": "x", "base": {"architecture": "lenet300-100", "pruner": "dense", "training": {"iterations": 9000000000000000000}}, "grid": {"seed": [0]}}"#,
                token: .none, status: 400, field: "training.iterations"),
        BadCase(name: "JSON nested 100 000 deep", method: "POST", path: "/api/v1/sweeps",
                body: #"{"name": "x", "base": {"x": "# + String(repeating: "[", count: 100_000) + String(repeating: "]", count: 100_000) + "}}",
                token: .none, status: 400, field: "body"),
        BadCase(name: "a method the path does not have", method: "DELETE", path: "/api/v1/sweeps", body: nil, token: .none, status: 405,
                field: "method"),
        BadCase(name: "a negative heartbeat step", method: "POST", path: "/api/v1/runs/\(queuedRun)/heartbeat",
                body: #"{"worker": "w", "step": -1}"#, token: .none, status: 400, field: "step"),
        BadCase(name: "a worker id of 201 characters", method: "POST", path: "/api/v1/workers/lease",
                body: #"{"worker": ""# + String(repeating: "w", count: 201) + #""}"#, token: .none, status: 400, field: "worker"),
        BadCase(name: "a metric name of 65 characters", method: "POST", path: "/api/v1/runs/\(queuedRun)/metrics",
                body: #"{"worker": "w", "metrics": [{"phase": 0, "step": 1, "name": ""# + String(repeating: "n", count: 65) + #"", "value": 1}]}"#,
                token: .none, status: 400, field: "metrics[0].name"),
        BadCase(name: "a metric name holding a NUL (SQLite would hand it back empty)", method: "POST",
                path: "/api/v1/runs/\(queuedRun)/metrics", body: #"{"worker": "w", "metrics": [{"phase": 0, "step": 1, "name": "a\u0000", "value": 1}]}"#,
                token: .none, status: 400, field: "metrics[0].name"),
        BadCase(name: "runs of an unknown status", method: "GET", path: "/api/v1/runs?status=sleeping", body: nil, token: .none, status: 400,
                field: "status"),
    ]

    /// Each bad request gets its 4xx with the field named, and the database does not change.
    @Test(.timeLimit(.minutes(10)))
    func badInputGetsA4xxNamingTheFieldAndChangesNothing() throws {
        let (path, directory) = try Self.database()
        defer { try? FileManager.default.removeItem(at: directory) }
        let server = try ServerProcess(database: path)
        defer { server.stop() }
        #expect(try server.request("POST", "/api/v1/sweeps", body: Data(Self.sweep.utf8)).status == 201)
        let before = try Self.counts(path)
        let queued = try #require(try Self.query(path, "SELECT key FROM runs LIMIT 1"))
        for c in Self.badCases {
            let reply = try server.request(c.method, c.path.replacingOccurrences(of: Self.queuedRun, with: queued),
                                           body: c.body.map { Data($0.utf8) }, token: c.token, contentType: c.contentType)
            #expect(reply.status == c.status, "\(c.name): \(reply.status) \(reply.text.prefix(300))")
            #expect(reply.json?["field"] as? String == c.field, "\(c.name): \(reply.text.prefix(300))")
            #expect((reply.json?["error"] as? String)?.isEmpty == false, "\(c.name)")
            #expect(try Self.counts(path) == before, "\(c.name) changed the database")
        }
        #expect(server.process.isRunning)
    }
}
