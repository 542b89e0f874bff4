import Foundation
@testable import prunelab
import Testing

/// `serve` bound beyond loopback: every data route needs a bearer token (the write token, or the
/// read token for GET/HEAD), /healthz, the API document and the page's static files do not,
/// /metrics only with --open-metrics; the read token never writes; on loopback reads stay open.
/// The server is bound to 0.0.0.0 and asked over 127.0.0.1 (what binds decides, not who asks).
@Suite("reads beyond loopback need a token", .serialized)
struct ReadAccessTests {
    static let readToken = "viewer-\(UUID().uuidString)"

    /// One finished run (masks, metrics) and one killed mid-run with a checkpoint: a real key for
    /// every read route, checkpoint included.
    final class Fixture: Sendable {
        static let shared = Result { try Fixture() }
        let database: String
        let directory: URL
        let finished: String
        let checkpointed: String
        /// An uploaded model (LeNet-300-100 as ONNX).
        let model: String

        private init() throws {
            let (database, directory) = try ServeCommandTests.database()
            self.database = database
            self.directory = directory
            let server = try ServerProcess(database: database)
            defer { server.stop() }
            let short = ServiceIntegrationTests.sweep(iterations: 10, pruners: ["random/erk"], evalEvery: 5)
            guard try server.request("POST", "/api/v1/sweeps", body: short).status == 201 else { throw Failure("submit failed") }
            let onnx = try Data(contentsOf: PruneCommandTests.onnxFixtures.appendingPathComponent("lenet300-100.onnx"))
            let uploaded = try server.request("POST", "/api/v1/models", body: onnx, contentType: "application/octet-stream")
            guard uploaded.status == 201, let model = uploaded.json?["sha256"] as? String else { throw Failure("upload failed: \(uploaded.text)") }
            self.model = model
            let worker = try WorkerProcess(server: server, exitWhenIdle: true)
            worker.process.waitUntilExit()
            let long = ServiceIntegrationTests.sweep(iterations: 20_000, pruners: ["random/erk"], evalEvery: 10)
            guard try server.request("POST", "/api/v1/sweeps", body: long).status == 201 else { throw Failure("submit failed") }
            let second = try WorkerProcess(server: server)
            let checkpointed = try waitUntil(seconds: 60 * ChildProcess.busyMachineSlack) {
                try ServiceIntegrationTests.query(database, "SELECT COUNT(*) FROM checkpoints") == "1"
            }
            second.kill()
            guard checkpointed else { throw Failure("no checkpoint was uploaded: \(server.log.suffix(2000))") }
            finished = try ServiceIntegrationTests.query(database, "SELECT key FROM runs WHERE status = 'succeeded'")
            self.checkpointed = try ServiceIntegrationTests.query(database, "SELECT run_key FROM checkpoints")
            guard finished.count == 64, self.checkpointed.count == 64 else { throw Failure("keys: \(finished) \(self.checkpointed)") }
            atexit {
                if case let .success(fixture) = Fixture.shared { try? FileManager.default.removeItem(at: fixture.directory) }
            }
        }
    }

    struct Failure: Error, CustomStringConvertible {
        let description: String
        init(_ description: String) { self.description = description }
    }

    struct Route: CustomStringConvertible {
        let method: String
        /// As in openapi.yaml (under /api/v1), or the path itself outside the document.
        let template: String
        let path: String
        /// A body, for the reads that POST one (a computation that stores nothing).
        var body: Data? = nil
        var contentType: String? = nil
        var description: String { "\(method) \(path)" }
    }

    /// POST /effective with the corners fixture and its masks: a read.
    static func effectiveRead() -> Route {
        let fixtures = PruneCommandTests.onnxFixtures
        let body = PruneCommandTests.multipart([("model", (try? Data(contentsOf: fixtures.appendingPathComponent("corners.onnx"))) ?? Data()),
                                                ("masks", (try? Data(contentsOf: fixtures.appendingPathComponent("corners-masks-0.npz"))) ?? Data())])
        return Route(method: "POST", template: "/effective", path: "/api/v1/effective", body: body,
                     contentType: "multipart/form-data; boundary=prunelab-test-boundary")
    }

    /// Every GET of the document with a real sweep or run, the same data another way, and the
    /// routes outside the document.
    static func reads(_ fixture: Fixture) -> (data: [Route], open: [Route]) {
        let done = fixture.finished, saved = fixture.checkpointed
        let data = [
            Route(method: "GET", template: "/sweeps", path: "/api/v1/sweeps"),
            Route(method: "GET", template: "/sweeps/{id}", path: "/api/v1/sweeps/1"),
            Route(method: "GET", template: "/sweeps/{id}/results", path: "/api/v1/sweeps/1/results"),
            Route(method: "GET", template: "/sweeps/{id}/results", path: "/api/v1/sweeps/1/results?format=csv"),
            Route(method: "GET", template: "/sweeps/{id}/plot.svg", path: "/api/v1/sweeps/1/plot.svg?x=direct"),
            Route(method: "GET", template: "/sweeps/{id}/summary", path: "/api/v1/sweeps/1/summary"),
            Route(method: "GET", template: "/sweeps/{id}/plot.svg", path: "/api/v1/sweeps/1/plot.svg?x=effective&pruner=random%2Ferk"),
            Route(method: "GET", template: "/curves", path: "/api/v1/curves"),
            Route(method: "GET", template: "/curves/plot.svg", path: "/api/v1/curves/plot.svg?architecture=lenet5"),
            Route(method: "GET", template: "/runs", path: "/api/v1/runs?sweep=2"),
            Route(method: "GET", template: "/runs/{key}", path: "/api/v1/runs/\(done)"),
            Route(method: "GET", template: "/events", path: "/api/v1/events?limit=10"),
            Route(method: "GET", template: "/runs/{key}/metrics", path: "/api/v1/runs/\(done)/metrics"),
            Route(method: "GET", template: "/runs/{key}/masks.npz", path: "/api/v1/runs/\(done)/masks.npz?kind=effective"),
            Route(method: "GET", template: "/runs/{key}/checkpoint", path: "/api/v1/runs/\(saved)/checkpoint"),
            Route(method: "GET", template: "/metrics", path: "/metrics"),
            Route(method: "GET", template: "/models", path: "/api/v1/models"),
            Route(method: "GET", template: "/models/{sha256}", path: "/api/v1/models/\(fixture.model)"),
            Route(method: "GET", template: "/models/{sha256}/model.onnx", path: "/api/v1/models/\(fixture.model)/model.onnx"),
            effectiveRead(),
        ]
        let open = [
            Route(method: "GET", template: "/healthz", path: "/healthz"),
            Route(method: "GET", template: "/api/v1/openapi.yaml", path: "/api/v1/openapi.yaml"),
            Route(method: "GET", template: "page", path: "/"),
            Route(method: "GET", template: "page", path: "/index.html"),
            Route(method: "GET", template: "page", path: "/app.js"),
            Route(method: "GET", template: "page", path: "/charts.js"),
            Route(method: "GET", template: "page", path: "/style.css"),
        ]
        return (data, open)
    }

    /// Every write of the document (bodies do not matter: the token is checked first).
    static func writes(_ fixture: Fixture) -> [Route] {
        let key = fixture.checkpointed
        return [
            Route(method: "POST", template: "/sweeps", path: "/api/v1/sweeps"),
            Route(method: "POST", template: "/models", path: "/api/v1/models"),
            Route(method: "POST", template: "/sweeps/{id}/cancel", path: "/api/v1/sweeps/2/cancel"),
            Route(method: "POST", template: "/workers/lease", path: "/api/v1/workers/lease"),
            Route(method: "POST", template: "/runs/{key}/heartbeat", path: "/api/v1/runs/\(key)/heartbeat"),
            Route(method: "POST", template: "/runs/{key}/metrics", path: "/api/v1/runs/\(key)/metrics"),
            Route(method: "PUT", template: "/runs/{key}/checkpoint", path: "/api/v1/runs/\(key)/checkpoint?worker=w&phase=0&step=1&sha256=\(key)"),
            Route(method: "PUT", template: "/runs/{key}/masks", path: "/api/v1/runs/\(key)/masks?worker=w&kind=direct"),
            Route(method: "POST", template: "/runs/{key}/finish", path: "/api/v1/runs/\(key)/finish"),
            Route(method: "POST", template: "/runs/{key}/fail", path: "/api/v1/runs/\(key)/fail"),
        ]
    }

    /// "METHOD /path" of every operation in openapi.yaml.
    static func documentedOperations() throws -> Set<String> {
        let source = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("Sources/Service/openapi.yaml")
        var operations = Set<String>(), path: String?
        for line in try String(contentsOf: source, encoding: .utf8).split(separator: "\n", omittingEmptySubsequences: false) {
            if line.hasPrefix("  /"), line.hasSuffix(":"), !line.hasPrefix("   ") { path = String(line.dropFirst(2).dropLast()) }
            if line.hasPrefix("components:") { path = nil }
            for method in ["get", "post", "put", "delete", "patch"] where line == "    \(method):" {
                if let path { operations.insert("\(method.uppercased()) \(path)") }
            }
        }
        return operations
    }

    func expectRefusal(_ reply: ServerProcess.Reply, _ status: Int, _ route: Route, sourceLocation: SourceLocation = #_sourceLocation) {
        #expect(reply.status == status, "\(route): \(reply.status) \(reply.text)", sourceLocation: sourceLocation)
        #expect(reply.json?["field"] as? String == "Authorization" && (reply.json?["error"] as? String ?? "").count > 10,
                "\(route): \(reply.text)", sourceLocation: sourceLocation)
    }

    @Test(.timeLimit(.minutes(10)))
    func everyRouteButHealthAndThePageNeedsATokenBeyondLoopback() throws {
        let fixture = try Fixture.shared.get()
        let (data, open) = Self.reads(fixture)
        let writes = Self.writes(fixture)
        // The tables cover the document: a new operation must be added here (and so be checked).
        let covered = Set((data + writes).filter { $0.template != "/metrics" }
            .map { "\($0.method) \($0.template)" })
        let documented = try Self.documentedOperations()
        #expect(documented.count >= 18 && covered == documented, "\(covered.symmetricDifference(documented))")

        let server = try ServerProcess(database: fixture.database, extraArguments: ["--host", "0.0.0.0", "--read-token", Self.readToken,
                                                                                    "--log-level", "trace"])
        defer { server.stop() }
        var table: [String] = []
        for route in data {
            let anonymous = try server.request(route.method, route.path, body: route.body, token: .some(nil), contentType: route.contentType)
            expectRefusal(anonymous, 401, route)
            let wrong = try server.request(route.method, route.path, body: route.body, token: "not-the-token", contentType: route.contentType)
            #expect(wrong.status == 401, "\(route): a wrong token")
            let viewer = try server.request(route.method, route.path, body: route.body, token: .some(Self.readToken), contentType: route.contentType)
            #expect(viewer.status == 200, "\(route) with the read token: \(viewer.status) \(viewer.text.prefix(300))")
            #expect(!viewer.body.isEmpty, "\(route)")
            let owner = try server.request(route.method, route.path, body: route.body, contentType: route.contentType)
            #expect(owner.status == 200, "\(route) with the write token: \(owner.status)")
            table.append("\(route.method) \(route.path.replacingOccurrences(of: fixture.finished, with: "{key}").replacingOccurrences(of: fixture.checkpointed, with: "{key}")) → \(anonymous.status)")
        }
        for route in open {
            let anonymous = try server.request(route.method, route.path, token: .some(nil))
            #expect(anonymous.status == 200 && !anonymous.body.isEmpty, "\(route) without a token: \(anonymous.status)")
            table.append("\(route.method) \(route.path) → \(anonymous.status)")
        }
        // HEAD is a read like GET.
        #expect(try server.request("HEAD", "/api/v1/sweeps/1", token: .some(nil)).status == 401)
        #expect(![401, 403].contains(try server.request("HEAD", "/api/v1/sweeps/1", token: .some(Self.readToken)).status))
        table.append("HEAD /api/v1/sweeps/1 → 401")
        // What no file or route answers is refused too: existence is not told without a token.
        for path in ["/api/v1/sweeps/999", "/api/v1/no-such-route", "/no-such-page", "/api/v1/runs/\(fixture.finished)/masks.npz?kind=x"] {
            let reply = try server.request("GET", path, token: .some(nil))
            expectRefusal(reply, 401, Route(method: "GET", template: path, path: path))
            table.append("GET \(path.replacingOccurrences(of: fixture.finished, with: "{key}")) → \(reply.status)")
        }
        for route in writes {
            expectRefusal(try server.request(route.method, route.path, body: Data("{}".utf8), token: .some(nil)), 401, route)
            // Authenticated, not authorised: the read token never writes.
            expectRefusal(try server.request(route.method, route.path, body: Data("{}".utf8), token: .some(Self.readToken)), 403, route)
            table.append("\(route.method) \(route.template) → 401 (read token: 403)")
        }
        let resubmitted = try server.request("POST", "/api/v1/sweeps",
                                             body: ServiceIntegrationTests.sweep(iterations: 10, pruners: ["random/erk"], evalEvery: 5))
        #expect(resubmitted.status == 200 || resubmitted.status == 201, "the write token writes: \(resubmitted.text)")
        #expect(try ServiceIntegrationTests.query(fixture.database, "SELECT status FROM sweeps WHERE id = 2") == "active",
                "no refused write changed anything")
        // The client commands read with the read token.
        let status = try PrunelabBinary.run(["status", "1", "--server", "http://127.0.0.1:\(server.port)", "--token", Self.readToken], timeout: 45)
        #expect(status.status == 0 && status.stdout.contains("succeeded"), "\(status)")
        let refused = try PrunelabBinary.run(["status", "1", "--server", "http://127.0.0.1:\(server.port)"], timeout: 45)
        #expect(refused.status != 0 && refused.stderrLines.count == 1 && refused.stderr.contains("401"), "\(refused)")
        // Neither token is ever written to the log, even at trace level.
        #expect(!server.log.contains(Self.readToken) && !server.log.contains(server.token) && !server.log.contains("Bearer"), "\(server.log.suffix(3000))")
        print("route table, serve --host 0.0.0.0, no token:\n" + table.joined(separator: "\n"))
    }

    @Test(.timeLimit(.minutes(10)))
    func metricsOpenOnlyWhenAskedAndLoopbackReadsStayOpen() throws {
        let fixture = try Fixture.shared.get()
        // With a retention of under a second every event of the fixture goes; the totals stay.
        let submitted = try ServiceIntegrationTests.query(fixture.database, "SELECT COUNT(*) FROM events WHERE kind = 'sweep_submitted'")
        #expect(Int(submitted) ?? 0 >= 2)
        let scraped = try ServerProcess(database: fixture.database, extraArguments: ["--host", "0.0.0.0", "--open-metrics",
                                                                                     "--events-retention-days", "0.00001", "--lease-seconds", "2"])
        do {
            defer { scraped.stop() }
            let pruned = try waitUntil(seconds: 30) {
                try ServiceIntegrationTests.query(fixture.database, "SELECT COUNT(*) FROM events WHERE kind IN ('sweep_submitted', 'succeeded')") == "0"
            }
            #expect(pruned, "\(scraped.log.suffix(1000))")
            #expect(scraped.log.contains("old events deleted"))
            let metrics = try scraped.request("GET", "/metrics", token: .some(nil))
            #expect(metrics.status == 200 && metrics.text.contains("prunelab_events_total{kind=\"succeeded\"} 1")
                    && metrics.text.contains("prunelab_events_total{kind=\"sweep_submitted\"} \(submitted)\n"), "\(metrics.text.prefix(1500))")
            #expect(try scraped.request("GET", "/api/v1/events", token: .some(nil)).status == 401)
            // The embedded page (no --public) loads without a token.
            let page = try scraped.request("GET", "/", token: .some(nil))
            #expect(page.status == 200 && page.text.contains("token-form"))
        }
        // Behind a reverse proxy on the same machine every request comes from loopback.
        let proxied = try ServerProcess(database: fixture.database, extraArguments: ["--reads-need-token", "--read-token", Self.readToken])
        do {
            defer { proxied.stop() }
            let route = Route(method: "GET", template: "/sweeps", path: "/api/v1/sweeps")
            expectRefusal(try proxied.request("GET", route.path, token: .some(nil)), 401, route)
            #expect(try proxied.request("GET", route.path, token: .some(Self.readToken)).status == 200)
        }
        let local = try ServerProcess(database: fixture.database, extraArguments: ["--read-token", Self.readToken])
        defer { local.stop() }
        for path in ["/api/v1/sweeps", "/api/v1/runs/\(fixture.finished)", "/metrics"] {
            #expect(try local.request("GET", path, token: .some(nil)).status == 200, "loopback: \(path) stays open")
        }
        let route = Route(method: "POST", template: "/sweeps/{id}/cancel", path: "/api/v1/sweeps/2/cancel")
        expectRefusal(try local.request("POST", route.path, body: Data("{}".utf8), token: .some(nil)), 401, route)
        expectRefusal(try local.request("POST", route.path, body: Data("{}".utf8), token: .some(Self.readToken)), 403, route)
    }

    @Test(.timeLimit(.minutes(10)), arguments: [
        (["--token", "same", "--read-token", "same"], "--read-token"),
        (["--events-retention-days", "0"], "--events-retention-days"),
        (["--events-retention-days=-3"], "--events-retention-days"),
        (["--events-retention-days", "nan"], "--events-retention-days"),
    ])
    func badAccessAndRetentionOptionsAreOneLine(_ extra: [String], _ option: String) throws {
        let run = try PrunelabBinary.run(["serve", "--db", "/tmp/prunelab-never.sqlite", "--port", "0"] + extra, timeout: 45)
        #expect(!run.timedOut && run.status != 0 && run.stderrLines.count == 1 && run.stderr.contains(option), "\(run)")
        #expect(!FileManager.default.fileExists(atPath: "/tmp/prunelab-never.sqlite"), "nothing was created")
    }

    /// The results page beyond loopback: without a token it asks for one (and shows no data);
    /// given the read token through its own form, once, it renders the sweep's table from the API.
    @Test(.timeLimit(.minutes(10)), .enabled(if: HeadlessChromium.executable != nil, "needs Debian's chromium"))
    func pageAsksForTheTokenOnceAndShowsTheSweep() throws {
        let fixture = try Fixture.shared.get()
        // The page's own files plus a driver page of the same origin that answers the page's
        // question in an iframe, as a person would type it, and then shows the page's DOM.
        let site = fixture.directory.appendingPathComponent("site-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: site, withIntermediateDirectories: true)
        let sources = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("Sources/Service/Public")
        for file in try FileManager.default.contentsOfDirectory(atPath: sources.path) {
            try FileManager.default.copyItem(at: sources.appendingPathComponent(file), to: site.appendingPathComponent(file))
        }
        try Data(Self.driver(token: Self.readToken).utf8).write(to: site.appendingPathComponent("driver.html"))
        let server = try ServerProcess(database: fixture.database, extraArguments: ["--host", "0.0.0.0", "--read-token", Self.readToken,
                                                                                    "--public", site.path])
        defer { server.stop() }
        let results = try #require(try server.request("GET", "/api/v1/sweeps/1/results").json?["results"] as? [[String: Any]])
        let keys = results.compactMap { $0["key"] as? String }
        #expect(keys == [fixture.finished])
        let base = "http://127.0.0.1:\(server.port)/"

        let locked = try HeadlessChromium.dom(base + "#/sweeps/1")
        let lockedPage = DumpedPage(html: locked.stdout)
        #expect(locked.status == 0 && lockedPage.recordedErrors == "[]", "\(locked)")
        #expect(lockedPage.state == "loading" && locked.stdout.contains("data-auth=\"needed\""), "\(locked)")
        #expect(lockedPage.resultKeys.isEmpty && !locked.stdout.contains(fixture.finished), "no data without the token")

        let run = try HeadlessChromium.dom(base + "driver.html")
        let page = DumpedPage(html: run.stdout)
        #expect(run.status == 0, "\(run)")
        #expect(page.recordedErrors == "[]" && HeadlessChromium.consoleErrors(run).isEmpty, "\(run)")
        #expect(page.state == "ready" && page.view == "sweep", "\(run)")
        #expect(page.resultKeys == keys, "the table shows the sweep's run: \(page.resultKeys)")
        #expect(page.plot("direct") != nil, "the plot drew")
        #expect(attribute("data-asked", in: run.stdout) == "1", "asked once: \(run.stdout.prefix(400))")
        #expect(attribute("data-stored", in: run.stdout) == "yes", "kept in sessionStorage")
        #expect(attribute("data-url", in: run.stdout).map { !$0.contains(Self.readToken) && $0.hasSuffix("#/sweeps/1") } == true,
                "never in the URL: \(attribute("data-url", in: run.stdout) ?? "none")")
        #expect(attribute("data-download", in: run.stdout).map { $0.hasPrefix("key,") } == true,
                "the CSV link fetched the file with the token: \(attribute("data-download", in: run.stdout) ?? "nothing")")
        #expect(!server.log.contains(Self.readToken), "never logged")
    }

    /// Loads the page in an iframe, types `token` into its form when it asks (counting the
    /// questions), once the page is ready clicks its CSV link, and then replaces itself with a
    /// copy of the page's DOM (plus what it saw in data- attributes).
    static func driver(token: String) -> String {
        """
        <!doctype html><html><body><iframe id="page" src="index.html#/sweeps/1" width="1400" height="1800"></iframe>
        <script>
        "use strict";
        const token = "\(token)", frame = document.getElementById("page");
        let asked = 0, downloaded = null;
        function step() {
          const doc = frame.contentDocument, body = doc && doc.body;
          const form = doc && doc.getElementById("token-form");
          if (form && !form.hidden && body.dataset.auth === "needed") {
            asked += 1;
            doc.getElementById("token-input").value = token;
            form.requestSubmit();
          }
          if (body && body.dataset.state === "ready" && downloaded === null) {
            // The CSV link goes without the token as a plain link: the page fetches it with the
            // header and saves a blob; catch the blob to see what came back.
            downloaded = undefined;
            const win = frame.contentWindow, original = win.URL.createObjectURL.bind(win.URL);
            win.URL.createObjectURL = (blob) => { blob.text().then((text) => { downloaded = text; }); return original(blob); };
            doc.querySelector('a[data-api][href*="format=csv"]').click();
          }
          if (body && body.dataset.state === "ready" && typeof downloaded === "string") {
            const copy = document.importNode(doc.documentElement, true);
            copy.dataset.download = downloaded.split("\\n")[0];
            copy.querySelectorAll("script").forEach((s) => s.remove());
            copy.dataset.asked = String(asked);
            copy.dataset.stored = sessionStorage.getItem("prunelab.token") === token ? "yes" : "no";
            copy.dataset.url = frame.contentWindow.location.href;
            document.replaceChild(copy, document.documentElement);
            return;
          }
          setTimeout(step, 50);
        }
        step();
        </script></body></html>
        """
    }
}
