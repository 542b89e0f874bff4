import Foundation
#if canImport(FoundationXML)
import FoundationXML
#endif
#if canImport(Glibc)
import Glibc
#endif
@testable import prunelab
import Testing

/// A small sweep run to the end once (server + worker + SQLite), shared by the page tests:
/// two pruners × both modes × two targets × two seeds, plus the dense parents of magnitude; and
/// sweep 2, random/erk at the same targets with and without layerwise shuffling (a variant).
final class FinishedSweep: Sendable {
    static let pruners = ["magnitude/global", "random/erk"]
    static let shared = Result { try FinishedSweep() }

    let database: String
    let directory: URL
    /// Runs in the sweep (dense parents included).
    let runs: Int

    private init() throws {
        let (path, directory) = try ServeCommandTests.database()
        database = path
        self.directory = directory
        let server = try ServerProcess(database: path)
        defer { server.stop() }
        let spec = """
            {"name": "page", "base": {"architecture": "lenet300-100", "dataset": "synthetic",
             "training": {"iterations": 20, "batch_size": 50, "eval_every": 5}},
             "grid": {"pruner": ["random/erk", "magnitude/global"], "mode": ["direct", "effective"], "compression": [4, 16], "seed": [0, 1]}}
            """
        let created = try server.request("POST", "/api/v1/sweeps", body: Data(spec.utf8))
        guard created.status == 201, let runs = created.json?["runs"] as? Int else { throw Failure("submit: \(created.text)") }
        self.runs = runs
        let shuffled = """
            {"name": "shuffle", "base": {"architecture": "lenet300-100", "dataset": "synthetic", "pruner": "random/erk", "seed": 0,
             "training": {"iterations": 20, "batch_size": 50, "eval_every": 5}}, "grid": {"compression": [4, 16], "shuffle": [false, true]}}
            """
        let second = try server.request("POST", "/api/v1/sweeps", body: Data(shuffled.utf8))
        guard second.status == 201, second.json?["id"] as? Int == 2 else { throw Failure("submit: \(second.text)") }
        let worker = try WorkerProcess(server: server, exitWhenIdle: true)
        worker.process.waitUntilExit()
        let states = try ServeCommandTests.query(path, "SELECT DISTINCT status FROM runs") ?? ""
        guard states == "succeeded" else { throw Failure("sweep did not finish: \(states)") }
        // The shared database goes when the test process ends.
        atexit {
            if case let .success(sweep) = FinishedSweep.shared { try? FileManager.default.removeItem(at: sweep.directory) }
        }
    }

    struct Failure: Error, CustomStringConvertible {
        let description: String
        init(_ description: String) { self.description = description }
    }
}

/// The results page in headless Chromium against a real server, the server-rendered plot, the
/// static report opened from disk, and the static files' refusal of path traversal.
@Suite("results page", .serialized)
struct ResultsPageTests {
    func sweep() throws -> FinishedSweep { try FinishedSweep.shared.get() }

    /// Checks a dumped sweep view against the API's results: no recorded errors, every run in the
    /// table, each plot with one solid and one dashed series per pruner and the dense reference.
    func checkSweepView(_ run: HeadlessChromium.Run, keys: Set<String>, context: String) {
        let page = DumpedPage(html: run.stdout)
        #expect(run.status == 0, "\(context): \(run)")
        #expect(page.recordedErrors == "[]", "\(context): \(page.recordedErrors ?? "no data-errors attribute")")
        #expect(HeadlessChromium.consoleErrors(run).isEmpty, "\(context): \(HeadlessChromium.consoleErrors(run))")
        #expect(page.state == "ready" && page.view == "sweep", "\(context): \(run)")
        #expect(page.strayValues.isEmpty, "\(context): \(page.strayValues)")
        #expect(page.refreshes == nil, "\(context): a finished sweep is not polled")
        #expect(page.html.contains("<span class=\"status status-finished\">finished</span>"), "\(context): the sweep's status")
        #expect(Set(page.resultKeys) == keys && page.resultKeys.count == keys.count, "\(context): \(page.resultKeys.count) rows")
        for axis in ["direct", "effective"] {
            let svg = page.plot(axis) ?? ""
            #expect(!svg.isEmpty, "\(context): no \(axis) plot")
            let series = matches(of: #"<path class="series" data-pruner="([^"]+)" data-mode="(?:[^"]+)""#, in: svg)
            let modes = matches(of: #"<path class="series" data-pruner="[^"]+" data-mode="([^"]+)""#, in: svg)
            #expect(series.sorted() == (FinishedSweep.pruners + FinishedSweep.pruners).sorted(), "\(context) \(axis): \(series)")
            #expect(modes.filter { $0 == "effective" }.count == 2, "\(context) \(axis): \(modes)")
            #expect(svg.contains("\(axis) compression (log scale)") && svg.contains("test accuracy (%)"), "\(context) \(axis)")
            #expect(svg.contains("class=\"reference\""), "\(context) \(axis): dense reference line")
        }
    }

    @Test(.timeLimit(.minutes(10)))
    func pageShowsTheFinishedSweepInChromium() throws {
        let sweep = try sweep()
        let server = try ServerProcess(database: sweep.database)
        defer { server.stop() }
        let results = try #require(try server.request("GET", "/api/v1/sweeps/1/results").json?["results"] as? [[String: Any]])
        let keys = Set(results.compactMap { $0["key"] as? String })
        #expect(keys.count == sweep.runs)
        let base = "http://127.0.0.1:\(server.port)/"

        let sweepView = try HeadlessChromium.dom(base + "#/sweeps/1")
        checkSweepView(sweepView, keys: keys, context: "sweep view")
        // The page draws the very figure the server renders: same lines, same coordinates.
        for axis in ["direct", "effective"] {
            let drawn = Self.seriesCoordinates(DumpedPage(html: sweepView.stdout).plot(axis) ?? "")
            let rendered = Self.seriesCoordinates(try server.request("GET", "/api/v1/sweeps/1/plot.svg?x=\(axis)").text)
            #expect(drawn.count == 4 && drawn.count == rendered.count, "\(axis): \(drawn.count) vs \(rendered.count)")
            for (a, b) in zip(drawn, rendered) {
                #expect(a.count == b.count && zip(a, b).allSatisfy { abs($0 - $1) <= 0.11 }, "\(axis): page \(a) vs plot.svg \(b)")
            }
        }

        // The sweep list.
        let list = try HeadlessChromium.dom(base)
        let listPage = DumpedPage(html: list.stdout)
        #expect(listPage.recordedErrors == "[]" && listPage.view == "sweeps" && listPage.state == "ready", "\(list)")
        #expect(list.stdout.contains("data-sweep=\"1\"") && list.stdout.contains("\(sweep.runs) succeeded"), "\(list)")
        #expect(matches(of: #"<span class="status status-([a-z]+)">"#, in: list.stdout) == ["finished", "finished"], "\(list)")

        // Sorting is part of the URL: by test accuracy, best first, as the API's numbers say.
        let sorted = DumpedPage(html: try HeadlessChromium.dom(base + "#/sweeps/1?sort=test_accuracy&dir=desc").stdout)
        let accuracy = Dictionary(uniqueKeysWithValues: results.map { ($0["key"] as! String, number($0["test_accuracy"]) ?? -1) })
        let shown = sorted.resultKeys.map { accuracy[$0] ?? -1 }
        #expect(shown.count == keys.count && shown == shown.sorted(by: >), "\(shown)")

        // A run: curves from its metrics and the per-layer bars (3 layers × size, kept, effective).
        let key = try #require(try ServeCommandTests.query(sweep.database, "SELECT key FROM runs WHERE pruner = 'random/erk' AND mode = 'effective' LIMIT 1"))
        let run = try HeadlessChromium.dom(base + "#/runs/\(key)")
        let runPage = DumpedPage(html: run.stdout)
        #expect(runPage.recordedErrors == "[]" && runPage.view == "run" && runPage.state == "ready", "\(run)")
        #expect(runPage.strayValues.isEmpty, "\(runPage.strayValues)")
        #expect(matches(of: #"<path class="series" data-metric="([a-z_]+)""#, in: run.stdout).sorted()
                == ["test_accuracy", "test_loss", "train_accuracy", "train_loss"], "\(run)")
        #expect(matches(of: #"class="bar (bar-[a-z]+)""#, in: run.stdout).count == 9, "\(run)")
        #expect(run.stdout.contains("data-layer=\"fc1\"") && run.stdout.contains("masks.npz?kind=effective"), "\(run)")

        // A sweep over shuffle draws one line per variant, named in the legend and the table.
        let variants = try HeadlessChromium.dom(base + "#/sweeps/2")
        let variantPage = DumpedPage(html: variants.stdout)
        #expect(variantPage.recordedErrors == "[]" && variantPage.state == "ready" && variantPage.resultKeys.count == 4, "\(variants)")
        for axis in ["direct", "effective"] {
            let svg = variantPage.plot(axis) ?? ""
            #expect(matches(of: #"<path class="series"[^>]* data-variant="([^"]*)""#, in: svg) == ["shuffle=false", "shuffle=true"], "\(svg)")
            #expect(svg.contains("random/erk · direct [shuffle=true]"), "\(svg)")
        }
        #expect(variantPage.html.contains("<th data-column=\"variant\""), "variant column")
        // The variants side by side: one row per target (4×, 16×), both variants, their difference.
        let variantTable = Self.section(variantPage.html, from: "<table class=\"variants\">", to: "</table>")
        #expect(variantTable.components(separatedBy: "<tr>").count - 1 == 3, "\(variantTable)")
        #expect(variantTable.contains("test acc. [shuffle=false]") && variantTable.contains("test acc. [shuffle=true]")
                && variantTable.contains("Δ test acc. (points)"), "\(variantTable)")

        // One method's figures: only its lines (and the dense reference), against both axes.
        let method = DumpedPage(html: try HeadlessChromium.dom(base + "#/sweeps/1?method=random%2Ferk").stdout)
        #expect(method.recordedErrors == "[]" && method.state == "ready", "\(method.html.prefix(2000))")
        let perMethod = Self.section(method.html, from: "<section class=\"per-method\">", to: "</section>")
        #expect(perMethod.components(separatedBy: "data-method=\"random/erk\"").count - 1 == 2, "\(perMethod.prefix(2000))")
        let methodLines = matches(of: #"<path class="series" data-pruner="([^"]+)""#, in: perMethod)
        #expect(methodLines.count == 4 && Set(methodLines) == ["random/erk"], "\(methodLines)")

        // Unknown things are said on the page, not thrown.
        let missing = DumpedPage(html: try HeadlessChromium.dom(base + "#/sweeps/999").stdout)
        #expect(missing.recordedErrors == "[]" && missing.state == "failed" && missing.html.contains("unknown sweep 999"), "\(missing.html.prefix(2000))")
    }

    /// The text from `start` to the end of the first `end` after it ("" when absent).
    static func section(_ html: String, from start: String, to end: String) -> String {
        guard let open = html.range(of: start), let close = html.range(of: end, range: open.upperBound..<html.endIndex) else { return "" }
        return String(html[open.lowerBound..<close.upperBound])
    }

    /// Connectivity curves computed by `prunelab curves --db` show on the page (#/curves): one
    /// figure per architecture, a row per pruner with its thresholds.
    @Test(.timeLimit(.minutes(10)))
    func curvesViewShowsTheStoredCurves() throws {
        let (database, directory) = try ServeCommandTests.database()
        defer { try? FileManager.default.removeItem(at: directory) }
        let computed = try PrunelabBinary.run(["curves", "--arch", "lenet5,lenet300-100", "--pruners", "random/uniform,random/igq",
                                               "--compressions", "10,1000", "--seeds", "2", "--db", database], timeout: 300)
        #expect(computed.status == 0, "\(computed)")
        let server = try ServerProcess(database: database)
        defer { server.stop() }
        let run = try HeadlessChromium.dom("http://127.0.0.1:\(server.port)/#/curves")
        let page = DumpedPage(html: run.stdout)
        #expect(page.recordedErrors == "[]" && page.view == "curves" && page.state == "ready", "\(run)")
        #expect(HeadlessChromium.consoleErrors(run).isEmpty, "\(HeadlessChromium.consoleErrors(run))")
        #expect(matches(of: #"<section class="curves" data-architecture="([^"]+)""#, in: run.stdout) == ["lenet300-100", "lenet5"], "\(run)")
        #expect(matches(of: #"<g class="series-group" data-series="\d+" data-pruner="([^"]+)""#, in: run.stdout).count == 4, "\(run)")
        // random/uniform disconnects LeNet-5 completely at 1000× in both seeds (it keeps 62 of 61 770 weights).
        let lenet5 = Self.section(run.stdout, from: "data-architecture=\"lenet5\"", to: "</table>")
        #expect(lenet5.contains("<td>random/uniform</td>") && lenet5.contains("1000×"), "\(lenet5.suffix(1500))")
    }

    /// While runs train, the sweep view lists them with their progress and latest metrics and
    /// keeps polling; the run view shows the curves so far.
    @Test(.timeLimit(.minutes(10)))
    func pageFollowsRunsInProgress() throws {
        let (path, directory) = try ServeCommandTests.database()
        defer { try? FileManager.default.removeItem(at: directory) }
        let server = try ServerProcess(database: path)
        defer { server.stop() }
        let spec = """
            {"name": "live", "base": {"architecture": "lenet300-100", "dataset": "synthetic", "pruner": "random/erk", "compression": 10,
             "training": {"iterations": 20000, "batch_size": 50, "eval_every": 10}}, "grid": {"seed": [0, 1]}}
            """
        #expect(try server.request("POST", "/api/v1/sweeps", body: Data(spec.utf8)).status == 201)
        let worker = try WorkerProcess(server: server)
        defer { worker.stop() }
        var key = ""
        let training = try waitUntil(seconds: 90) {
            guard let run = (try server.request("GET", "/api/v1/runs?sweep=1&status=running").json?["runs"] as? [[String: Any]])?.first,
                  let runKey = run["key"] as? String else { return false }
            key = runKey
            let step = try server.request("GET", "/api/v1/runs/\(runKey)").json?["step"] as? Int ?? 0
            let metrics = try server.request("GET", "/api/v1/runs/\(runKey)/metrics").json?["metrics"] as? [Any] ?? []
            return step >= 20 && metrics.count >= 4
        }
        try #require(training, "a run should be training")
        let base = "http://127.0.0.1:\(server.port)/"

        let sweep = try HeadlessChromium.dom(base + "#/sweeps/1", budgetMilliseconds: 9000)
        let page = DumpedPage(html: sweep.stdout)
        #expect(page.recordedErrors == "[]" && page.state == "ready" && page.strayValues.isEmpty, "\(sweep)")
        #expect((page.refreshes ?? 0) >= 1, "the view polls while runs are active: \(String(describing: page.refreshes))")
        #expect(page.html.contains("<span class=\"status status-active\">active</span>"), "\(sweep)")
        let active = try #require(page.element("<section class=\"active-runs\"", end: "</section>"), "\(sweep)")
        #expect(active.contains("data-key=\"\(key)\"") && active.contains("1 queued"), "\(active)")
        let done = matches(of: #"<progress max="20000" value="(\d+)""#, in: active).compactMap { Int($0) }
        #expect(done.count == 1 && done.allSatisfy { $0 > 0 && $0 < 20000 }, "\(active)")
        #expect(matches(of: #"<td class="numeric">([0-9.]+%)</td>"#, in: active).count == 1, "latest test accuracy: \(active)")
        #expect(page.resultKeys.count == 2)

        let run = try HeadlessChromium.dom(base + "#/runs/\(key)", budgetMilliseconds: 5000)
        let runPage = DumpedPage(html: run.stdout)
        #expect(runPage.recordedErrors == "[]" && runPage.state == "ready" && (runPage.refreshes ?? 0) >= 1, "\(run)")
        #expect(run.stdout.contains("/20,000 steps") && run.stdout.contains("The per-layer table arrives when the run succeeds."), "\(run)")
        #expect(Set(matches(of: #"<path class="series" data-metric="([a-z_]+)""#, in: run.stdout)).count == 4, "\(run)")

        // The queued run: no progress, no metrics, no layers yet, and no errors either.
        let queued = try #require(page.resultKeys.first { $0 != key })
        let waiting = try HeadlessChromium.dom(base + "#/runs/\(queued)", budgetMilliseconds: 3000)
        let waitingPage = DumpedPage(html: waiting.stdout)
        #expect(waitingPage.recordedErrors == "[]" && waitingPage.state == "ready" && waitingPage.strayValues.isEmpty, "\(waiting)")
        #expect(waiting.stdout.contains("status-queued") && waiting.stdout.contains("no metrics yet"), "\(waiting)")
    }

    /// A 10 000-run sweep (the paper's LeNet grid at 30 seeds is 5 790) stays light: the table
    /// shows a page of rows sorted by the server, and polls while runs are active read the sweep
    /// and the runs in progress but not the results, summary or plots again while nothing
    /// changed, and redraw nothing that did not change.
    @Test(.timeLimit(.minutes(10)))
    func tenThousandRunSweepStaysLight() throws {
        let (path, directory) = try ServeCommandTests.database()
        defer { try? FileManager.default.removeItem(at: directory) }
        let server = try ServerProcess(database: path)
        defer { server.stop() }
        let seeds = (0..<1000).map(String.init).joined(separator: ",")
        let spec = """
            {"name": "large", "base": {"architecture": "lenet300-100", "dataset": "synthetic", "training": {"iterations": 10}},
             "grid": {"pruner": ["random/uniform", "random/erk", "random/igq", "snip", "synflow"], "compression": [10, 100], "seed": [\(seeds)]}}
            """
        let created = try server.request("POST", "/api/v1/sweeps", body: Data(spec.utf8))
        #expect(created.status == 201 && created.json?["runs"] as? Int == 10_000, "\(created.text)")
        // Finished by hand (no training): all but ten runs, which stay running under a lease
        // that outlives the test, so the view keeps polling.
        let running = "SELECT key FROM runs ORDER BY key LIMIT 10"
        _ = try ServeCommandTests.query(path, """
            UPDATE runs SET status = 'succeeded', attempts = 1, test_accuracy = 0.5 + (seed % 400) / 1000.0, test_loss = 1,
                total_weights = 266200, kept = CAST(266200 / compression AS INTEGER), effective = CAST(266200 / compression / 2 AS INTEGER),
                direct_compression = compression, effective_compression = 2 * compression, wall_seconds = 1,
                finished_at = strftime('%Y-%m-%dT%H:%M:%fZ', 'now') WHERE key NOT IN (\(running));
            UPDATE runs SET status = 'running', attempts = 1, worker_id = 'w', lease_expires = unixepoch() + 86400, step = 5, total_steps = 10
                WHERE key IN (\(running));
            """)
        let base = "http://127.0.0.1:\(server.port)/"
        func served(_ route: String) throws -> Int {
            let metrics = try server.request("GET", "/metrics").text
            let label = NSRegularExpression.escapedPattern(for: "http_route=\"/api/v1/\(route)\",http_request_method=\"GET\",http_response_status_code=\"200\"}")
            return matches(of: "http_server_request_duration_count\\{" + label + #" (\d+)"#, in: metrics).compactMap { Int($0) }.reduce(0, +)
        }
        let before = try ["sweeps/{id}/results", "sweeps/{id}/summary", "sweeps/{id}/plot.svg", "sweeps/{id}"].map(served)

        let view = try HeadlessChromium.dom(base + "#/sweeps/1", budgetMilliseconds: 12000)
        let page = DumpedPage(html: view.stdout)
        #expect(page.recordedErrors == "[]" && page.state == "ready" && page.strayValues.isEmpty, "\(view.stderr.suffix(2000))")
        let polls = try #require(page.refreshes, "the view polls while runs are active")
        #expect(polls >= 3, "\(polls) polls")
        #expect(page.resultKeys.count == 100, "one page of rows, not \(page.resultKeys.count)")
        #expect(view.stdout.contains("rows 1–100 of 10,000"), "the pager")
        #expect(page.redrawn == "", "a poll with no change redraws nothing: \(page.redrawn ?? "nil")")
        #expect(matches(of: #"<tr data-key="([0-9a-f]{64})""#, in: page.element("<section class=\"active-runs\"", end: "</section>") ?? "").count == 10)
        let after = try ["sweeps/{id}/results", "sweeps/{id}/summary", "sweeps/{id}/plot.svg", "sweeps/{id}"].map(served)
        let reads = zip(after, before).map { $0 - $1 }
        // One load: one results page, one summary, two plots; every poll reads the sweep again.
        #expect(reads[0] == 1 && reads[1] == 1 && reads[2] == 2, "results, summary, plots read \(reads) times over \(polls) polls")
        #expect(reads[3] == polls + 1, "the sweep is read once a poll: \(reads[3]) for \(polls) polls")

        // Sorted by the server, a later page: the 4th hundred by test accuracy, best first.
        let sorted = DumpedPage(html: try HeadlessChromium.dom(base + "#/sweeps/1?sort=test_accuracy&dir=desc&page=3", budgetMilliseconds: 3000).stdout)
        let expected = try #require(try ServeCommandTests.query(path, """
            SELECT group_concat(key, ' ') FROM (SELECT key FROM runs ORDER BY test_accuracy IS NULL, test_accuracy DESC, key LIMIT 100 OFFSET 300)
            """)).split(separator: " ").map(String.init)
        #expect(sorted.resultKeys == expected, "server-sorted page 4")
    }

    @Test(.timeLimit(.minutes(10)))
    func screenshotOfTheSweepView() throws {
        let sweep = try sweep()
        let server = try ServerProcess(database: sweep.database)
        defer { server.stop() }
        let file = sweep.directory.appendingPathComponent("sweep-\(UUID().uuidString).png")
        let run = try HeadlessChromium.screenshot("http://127.0.0.1:\(server.port)/#/sweeps/1", to: file, width: 1400, height: 2000)
        let png = try Data(contentsOf: file)
        // Kept for people (and CI artifacts) when PRUNELAB_SCREENSHOTS names a folder.
        if let keep = ProcessInfo.processInfo.environment["PRUNELAB_SCREENSHOTS"], !keep.isEmpty {
            try? FileManager.default.createDirectory(atPath: keep, withIntermediateDirectories: true)
            try? png.write(to: URL(fileURLWithPath: keep).appendingPathComponent("sweep-view.png"))
        }
        #expect(run.status == 0, "\(run)")
        #expect(png.count > 20_000, "a blank page compresses to a few kB; got \(png.count) bytes")
        #expect(Array(png.prefix(8)) == [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a])
        // IHDR: width and height, big-endian, at bytes 16…23.
        let width = png[16..<20].reduce(0) { $0 << 8 | Int($1) }, height = png[20..<24].reduce(0) { $0 << 8 | Int($1) }
        #expect(width == 1400 && height == 2000, "\(width)×\(height)")
    }

    /// The numbers of each series path's `d`, in document order.
    static func seriesCoordinates(_ svg: String) -> [[Double]] {
        matches(of: #"<path class="series"[^>]* d="([^"]+)""#, in: svg).map {
            $0.split(whereSeparator: { !"0123456789.-".contains($0) }).compactMap { Double($0) }
        }
    }

    /// Parses an SVG document and returns its series paths' pruners and modes and its texts.
    static func parseSVG(_ text: String) throws -> (series: [(pruner: String, mode: String, d: String)], texts: [String], root: String) {
        let document = try XMLDocument(xmlString: text, options: [])
        let root = try #require(document.rootElement())
        let paths = try root.nodes(forXPath: "//*[local-name()='path'][@class='series']").compactMap { $0 as? XMLElement }
        // FoundationXML's attribute(forName:) misses attributes under a default namespace.
        func value(_ element: XMLElement, _ name: String) -> String { element.attributes?.first { $0.name == name }?.stringValue ?? "" }
        let series = paths.map { (value($0, "data-pruner"), value($0, "data-mode"), value($0, "d")) }
        let texts = try root.nodes(forXPath: "//*[local-name()='text']").compactMap { $0.stringValue }
        return (series, texts, root.name ?? "")
    }

    @Test(.timeLimit(.minutes(10)))
    func plotSVGIsValidWithAxesAndOneLinePerPrunerAndMode() throws {
        let sweep = try sweep()
        let server = try ServerProcess(database: sweep.database)
        defer { server.stop() }
        for axis in ["direct", "effective"] {
            let reply = try rawHTTP(port: server.port, target: "/api/v1/sweeps/1/plot.svg?x=\(axis)")
            #expect(reply.status == 200 && reply.headers["content-type"]?.hasPrefix("image/svg+xml") == true, "\(reply.headers)")
            let svg = try Self.parseSVG(try server.request("GET", "/api/v1/sweeps/1/plot.svg?x=\(axis)").text)
            #expect(svg.root == "svg")
            #expect(svg.texts.contains("\(axis) compression (log scale)") && svg.texts.contains("test accuracy (%)"), "\(svg.texts)")
            #expect(svg.series.map(\.pruner).sorted() == (FinishedSweep.pruners + FinishedSweep.pruners).sorted())
            #expect(svg.series.map(\.mode).sorted() == ["direct", "direct", "effective", "effective"])
            // Two targets: each line joins two points (means over the two seeds).
            #expect(svg.series.allSatisfy { $0.d.hasPrefix("M") && $0.d.split(separator: "L").count == 2 }, "\(svg.series.map(\.d))")
            #expect(svg.texts.contains("magnitude/global · effective") && svg.texts.contains("dense"), "legend: \(svg.texts)")
            #expect(svg.texts.contains { $0.hasPrefix("sweep 1 page") })
        }
        // Sweep 2 varies shuffle: one line per variant, and the results say which.
        let shuffled = try Self.parseSVG(try server.request("GET", "/api/v1/sweeps/2/plot.svg?x=effective").text)
        #expect(shuffled.series.map(\.pruner) == ["random/erk", "random/erk"] && shuffled.texts.contains("random/erk · direct [shuffle=true]"),
                "\(shuffled.texts)")
        let rows = try server.request("GET", "/api/v1/sweeps/2/results").json?["results"] as? [[String: Any]] ?? []
        #expect(Set(rows.compactMap { $0["variant"] as? String }) == ["shuffle=false", "shuffle=true"] && rows.count == 4)
        let plainRows = try server.request("GET", "/api/v1/sweeps/1/results").json?["results"] as? [[String: Any]] ?? []
        #expect(plainRows.allSatisfy { $0["variant"] == nil }, "sweep 1 varies nothing beyond the plotted fields")
        let plain = try server.request("GET", "/api/v1/sweeps/1/plot.svg")
        #expect(plain.status == 200 && plain.text.contains("data-plot=\"direct\""), "x defaults to direct")
        let badAxis = try server.request("GET", "/api/v1/sweeps/1/plot.svg?x=sideways")
        #expect(badAxis.status == 400 && badAxis.json?["field"] as? String == "x", "\(badAxis.text)")
        let unknown = try server.request("GET", "/api/v1/sweeps/42/plot.svg?x=direct")
        #expect(unknown.status == 404 && unknown.json?["field"] as? String == "id", "\(unknown.text)")
    }

    @Test(.timeLimit(.minutes(10)))
    func reportOpensFromDiskWithoutAServer() throws {
        let sweep = try sweep()
        let server = try ServerProcess(database: sweep.database)
        let csv = try server.request("GET", "/api/v1/sweeps/1/results?format=csv").text
        let results = try #require(try server.request("GET", "/api/v1/sweeps/1/results").json?["results"] as? [[String: Any]])
        let served = try server.request("GET", "/api/v1/sweeps/1/plot.svg?x=effective").text
        server.stop()
        #expect(!server.process.isRunning)

        let out = sweep.directory.appendingPathComponent("report-\(UUID().uuidString)")
        let written = try PrunelabBinary.run(["report", "1", "--db", sweep.database, "--out", out.path], timeout: 120)
        #expect(written.status == 0 && written.stdout.contains("sweep 1 page: \(sweep.runs) runs"), "\(written)")
        for file in ["index.html", "app.js", "charts.js", "style.css", "data.js", "results.csv", "plot-direct.svg", "plot-effective.svg"] {
            #expect(FileManager.default.fileExists(atPath: out.appendingPathComponent(file).path), "\(file) missing")
        }
        #expect(try String(contentsOf: out.appendingPathComponent("results.csv"), encoding: .utf8) == csv, "the CSV the API serves")
        let plotFile = try String(contentsOf: out.appendingPathComponent("plot-effective.svg"), encoding: .utf8)
        let parsed = try Self.parseSVG(plotFile)
        #expect(parsed.series.count == 4 && plotFile == served, "the SVG the API serves")
        let runFiles = try FileManager.default.contentsOfDirectory(atPath: out.appendingPathComponent("data").path)
        #expect(runFiles.count == sweep.runs, "\(runFiles)")

        let keys = Set(results.compactMap { $0["key"] as? String })
        let index = out.appendingPathComponent("index.html").absoluteString
        checkSweepView(try HeadlessChromium.dom(index), keys: keys, context: "report")
        checkSweepView(try HeadlessChromium.dom(index + "#/sweeps/1"), keys: keys, context: "report #/sweeps/1")
        // A run's view loads its data file on demand.
        let key = try #require(keys.sorted().first)
        let run = try HeadlessChromium.dom(index + "#/runs/\(key)")
        let runPage = DumpedPage(html: run.stdout)
        #expect(runPage.recordedErrors == "[]" && runPage.view == "run" && runPage.state == "ready", "\(run)")
        #expect(runPage.strayValues.isEmpty, "\(runPage.strayValues)")
        #expect(matches(of: #"<path class="series" data-metric="([a-z_]+)""#, in: run.stdout).count == 4, "\(run)")
        #expect(!run.stdout.contains("href=\"api/v1/"), "a report links to no server")
        // Each method's figures are in the report too.
        let method = DumpedPage(html: try HeadlessChromium.dom(index + "#/sweeps/1?method=magnitude%2Fglobal").stdout)
        #expect(method.recordedErrors == "[]" && method.state == "ready", "\(method.html.prefix(2000))")
        #expect(method.html.components(separatedBy: "data-method=\"magnitude/global\"").count - 1 == 2, "report: per-method figures")

        let unknown = try PrunelabBinary.run(["report", "9", "--db", sweep.database, "--out", out.path], timeout: 60)
        #expect(unknown.status != 0 && unknown.stderrLines.count == 1 && unknown.stderr.contains("no sweep 9"), "\(unknown)")
        let missing = try PrunelabBinary.run(["report", "1", "--db", out.appendingPathComponent("nothing.sqlite").path, "--out", out.path], timeout: 60)
        #expect(missing.status != 0 && missing.stderr.contains("--db"), "\(missing)")
        #expect(!FileManager.default.fileExists(atPath: out.appendingPathComponent("nothing.sqlite").path), "no database created")
    }

    static let traversals = [
        "/../../etc/passwd", "/../../../../../../etc/passwd", "/%2e%2e/%2e%2e/etc/passwd", "/%2E%2E/%2E%2E/etc/passwd",
        "/..%2f..%2f..%2fetc%2fpasswd", "/%2e%2e%2f%2e%2e%2fetc%2fpasswd", "/%252e%252e/%252e%252e/etc/passwd",
        "/%252e%252e%252f%252e%252e%252fetc%252fpasswd", "/..%5c..%5cetc%5cpasswd", "/.%2e/.%2e/etc/passwd", "/index.html/../../../etc/passwd",
        "/./../etc/passwd", "//etc/passwd", "/%2fetc%2fpasswd", "/..;/..;/etc/passwd", "/%c0%ae%c0%ae/%c0%ae%c0%ae/etc/passwd",
        "/../secret.txt", "/%2e%2e/secret.txt", "/..%2fsecret.txt", "/%252e%252e%252fsecret.txt", "/site/../secret.txt",
    ]

    /// Neither the embedded page nor `--public DIR` hands out a file outside the page's folder.
    @Test(.timeLimit(.minutes(10)))
    func staticFilesRefusePathTraversal() throws {
        let (path, directory) = try ServeCommandTests.database()
        defer { try? FileManager.default.removeItem(at: directory) }
        // A page folder with a secret beside it.
        let site = directory.appendingPathComponent("site")
        try FileManager.default.createDirectory(at: site, withIntermediateDirectories: true)
        try Data("<!doctype html><title>site</title>".utf8).write(to: site.appendingPathComponent("index.html"))
        try Data("TOP-SECRET".utf8).write(to: directory.appendingPathComponent("secret.txt"))
        for extra in [[], ["--public", site.path]] {
            let server = try ServerProcess(database: path, extraArguments: extra)
            defer { server.stop() }
            for target in Self.traversals {
                let reply = try rawHTTP(port: server.port, target: target)
                #expect(!reply.body.contains("root:") && !reply.body.contains("TOP-SECRET"), "\(extra) \(target) leaked: \(reply.body.prefix(200))")
                #expect(reply.status != 200 || reply.body.contains("<!doctype html>"), "\(extra) \(target): \(reply.status)")
            }
            #expect(try rawHTTP(port: server.port, target: "/").status == 200)
        }
        // Content types and revalidation for the embedded page.
        let server = try ServerProcess(database: path)
        defer { server.stop() }
        let types = ["/": "text/html", "/index.html": "text/html", "/app.js": "javascript", "/charts.js": "javascript", "/style.css": "text/css"]
        for (target, type) in types {
            let reply = try rawHTTP(port: server.port, target: target)
            #expect(reply.status == 200 && reply.headers["content-type"]?.contains(type) == true, "\(target): \(reply.headers)")
            #expect(reply.headers["cache-control"]?.contains("no-cache") == true, "\(target): \(reply.headers)")
            let etag = try #require(reply.headers["etag"], "\(target): \(reply.headers)")
            let again = try rawHTTP(port: server.port, target: target, headers: ["If-None-Match: \(etag)"])
            #expect(again.status == 304 && again.body.isEmpty, "\(target): \(again.status)")
        }
        #expect(try rawHTTP(port: server.port, target: "/nothing.js").status == 404)
        // An empty database: the page says there is nothing yet.
        let empty = try HeadlessChromium.dom("http://127.0.0.1:\(server.port)/", budgetMilliseconds: 3000)
        let emptyPage = DumpedPage(html: empty.stdout)
        #expect(emptyPage.recordedErrors == "[]" && emptyPage.state == "ready" && empty.stdout.contains("No sweeps yet"), "\(empty)")
    }
}
