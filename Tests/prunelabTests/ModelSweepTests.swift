import Foundation
@testable import prunelab
import Testing

/// Training imported models in sweeps, as a user does it: upload an ONNX file with curl's
/// equivalent, name it in a sweep, let a worker process train it, read the results and masks.
@Suite("uploaded ONNX models in sweeps", .serialized)
struct ModelSweepTests {
    static func fixture(_ name: String) throws -> Data {
        try Data(contentsOf: PruneCommandTests.onnxFixtures.appendingPathComponent(name))
    }

    static func upload(_ server: ServerProcess, _ file: String, name: String? = nil) throws -> ServerProcess.Reply {
        try server.request("POST", "/api/v1/models" + (name.map { "?name=\($0)" } ?? ""), body: try fixture(file),
                           contentType: "application/octet-stream")
    }

    static func sweep(_ architecture: String, dataset: String = "synthetic", pruners: [String], modes: [String] = ["direct", "effective"]) -> Data {
        let list = { (values: [String]) in values.map { "\"\($0)\"" }.joined(separator: ", ") }
        return Data("""
            {"name": "imported", "base": {"architecture": \(architecture), "dataset": "\(dataset)", "compression": 10,
             "training": {"iterations": 20, "batch_size": 50, "learning_rate": 0.05, "momentum": 0.9, "weight_decay": 0.0001,
                          "lr_drops": [], "eval_every": 10}, "synflow": {"rounds": 5}},
             "grid": {"pruner": [\(list(pruners))], "mode": [\(list(modes))]}}
            """.utf8)
    }

    static func files(under folder: String) -> Int {
        (FileManager.default.enumerator(atPath: folder)?.allObjects as? [String])?
            .filter { !$0.hasPrefix("uploads") && !$0.hasSuffix("/") }
            .filter { var isDirectory: ObjCBool = false
                      return FileManager.default.fileExists(atPath: folder + "/" + $0, isDirectory: &isDirectory) && !isDirectory.boolValue }
            .count ?? 0
    }

    @Test(.timeLimit(.minutes(10)))
    func uploadedModelTrainsInASweepWithItsOwnLayerNames() throws {
        let (database, directory) = try ServeCommandTests.database()
        defer { try? FileManager.default.removeItem(at: directory) }
        let server = try ServerProcess(database: database)
        defer { server.stop() }

        // Upload: the record says what the graph is; the same file again is the same record.
        let first = try Self.upload(server, "lenet300-100.onnx", name: "lenet")
        #expect(first.status == 201, "\(first.text)")
        let sha256 = try #require(first.json?["sha256"] as? String)
        #expect(first.json?["architecture"] as? String == "onnx:\(sha256)")
        #expect(first.json?["trainable"] as? Bool == true && first.json?["refusal"] == nil)
        #expect((first.json?["input_shape"] as? [Int]) == [1, 28, 28] && first.json?["classes"] as? Int == 10)
        #expect(first.json?["prunable_layers"] as? Int == 3 && first.json?["weights"] as? Int == 266_200)
        #expect(first.json?["name"] as? String == "lenet")
        let again = try Self.upload(server, "lenet300-100.onnx", name: "other")
        #expect(again.status == 200 && again.json?["name"] as? String == "lenet", "\(again.text)")
        // The CLI client says the same.
        let fixture = PruneCommandTests.onnxFixtures.appendingPathComponent("lenet300-100.onnx").path
        let client = ["--server", "http://127.0.0.1:\(server.port)", "--token", server.token]
        let cli = try PrunelabBinary.run(["upload", fixture, "--json"] + client, timeout: 60)
        #expect(cli.status == 0, "\(cli)")
        let record = try PrunelabBinary.json(cli)
        #expect(record["sha256"] as? String == sha256 && record["trainable"] as? Bool == true)
        let line = try PrunelabBinary.run(["upload", fixture] + client, timeout: 60)
        #expect(line.status == 0 && line.stdout.contains("onnx:\(sha256) (lenet)") && line.stdout.contains("trainable"), "\(line)")
        let listed = try server.request("GET", "/api/v1/models")
        #expect((listed.json?["models"] as? [[String: Any]])?.compactMap { $0["sha256"] as? String } == [sha256])
        let download = try server.request("GET", "/api/v1/models/\(sha256)/model.onnx")
        let original = try Self.fixture("lenet300-100.onnx")
        #expect(download.status == 200 && download.body == original)

        // A sweep names it as an object; the string form is the same runs.
        let submitted = try server.request("POST", "/api/v1/sweeps", body: Self.sweep("{\"onnx\": \"\(sha256)\"}",
                                                                                   pruners: ["synflow", "magnitude/global"]))
        #expect(submitted.status == 201, "\(submitted.text)")
        #expect(submitted.json?["runs"] as? Int == 5, "four pruned runs and the dense parent magnitude prunes")
        let worker = try WorkerProcess(server: server, exitWhenIdle: true)
        worker.process.waitUntilExit()
        #expect(try ServiceIntegrationTests.query(database, "SELECT status || ':' || COUNT(*) FROM runs GROUP BY status") == "succeeded:5",
                "\(server.log.suffix(3000))")
        let resubmitted = try server.request("POST", "/api/v1/sweeps", body: Self.sweep("\"onnx:\(sha256)\"", pruners: ["synflow", "magnitude/global"]))
        #expect(resubmitted.json?["reused"] as? Int == 5 && resubmitted.json?["new"] as? Int == 0, "\(resubmitted.text)")

        // Results: every run names the model; effective-mode runs reach the target effectively.
        let results = try #require(try server.request("GET", "/api/v1/sweeps/1/results").json?["results"] as? [[String: Any]])
        #expect(results.count == 5 && results.allSatisfy { $0["architecture"] as? String == "onnx:\(sha256)" })
        for row in results where row["mode"] as? String == "effective" {
            #expect(abs((row["effective_compression"] as? Double ?? 0) - 10) < 0.1, "\(row)")
        }
        for row in results where row["mode"] as? String == "direct" {
            #expect(abs((row["direct_compression"] as? Double ?? 0) - 10) < 0.1, "\(row)")
        }

        // Masks come keyed by the graph's weight names, so they load into the framework the model
        // came from — and prunelab's own `effective --onnx` reads them back with the same counts.
        let key = try #require(results.first { $0["pruner"] as? String == "synflow" && $0["mode"] as? String == "direct" }?["key"] as? String)
        let masks = try server.request("GET", "/api/v1/runs/\(key)/masks.npz?kind=direct")
        #expect(masks.status == 200)
        let masksPath = directory.appendingPathComponent("masks.npz").path
        try masks.body.write(to: URL(fileURLWithPath: masksPath))
        let model = directory.appendingPathComponent("model.onnx").path
        try Self.fixture("lenet300-100.onnx").write(to: URL(fileURLWithPath: model))
        let checked = try PrunelabBinary.run(["effective", "--onnx", model, "--masks", masksPath, "--json"], timeout: 60)
        #expect(checked.status == 0, "\(checked)")
        let report = try #require(try PrunelabBinary.json(checked)["masks"] as? [String: Any])
        #expect((report["layers"] as? [[String: Any]])?.map { $0["name"] as? String } == ["fc1.weight", "fc2.weight", "fc3.weight"])
        // The results page shows the sweep and the run: the model by the first digits of its
        // name, the layers by the graph's names.
        let base = "http://127.0.0.1:\(server.port)/"
        let sweepPage = DumpedPage(html: try HeadlessChromium.dom(base + "#/sweeps/1").stdout)
        #expect(sweepPage.recordedErrors == "[]" && sweepPage.view == "sweep" && sweepPage.state == "ready")
        #expect(Set(sweepPage.resultKeys) == Set(results.compactMap { $0["key"] as? String }))
        #expect(sweepPage.html.contains("onnx:\(sha256.prefix(12))…"), "\(sweepPage.html.prefix(3000))")
        let runPage = DumpedPage(html: try HeadlessChromium.dom(base + "#/runs/\(key)").stdout)
        #expect(runPage.recordedErrors == "[]" && runPage.view == "run" && runPage.state == "ready")
        #expect(["fc1.weight", "fc2.weight", "fc3.weight"].allSatisfy(runPage.html.contains), "\(runPage.html.prefix(3000))")

        let run = try #require(try server.request("GET", "/api/v1/runs/\(key)").json)
        let figures = try #require(run["figures"] as? [String: Any] ?? run)
        for field in ["kept", "effective"] {
            #expect(number(report[field]) != nil && number(report[field]) == number(figures[field]), "\(field): \(report[field] ?? "-") vs \(figures[field] ?? "-")")
        }
    }

    @Test(.timeLimit(.minutes(5)))
    func modelsThatCannotBeTrainedOrReadAreRefusedWithTheReason() throws {
        let (database, directory) = try ServeCommandTests.database()
        defer { try? FileManager.default.removeItem(at: directory) }
        let server = try ServerProcess(database: database)
        defer { server.stop() }
        let artifacts = database + ".artifacts"

        // A graph the engine reads but cannot train is stored with the reason.
        let dense = try Self.upload(server, "densenet-tiny.onnx")
        #expect(dense.status == 201 && dense.json?["trainable"] as? Bool == false, "\(dense.text)")
        let refusal = try #require(dense.json?["refusal"] as? String)
        #expect(refusal.contains("Concat"), "\(refusal)")
        let lenet = try #require(try Self.upload(server, "lenet300-100.onnx").json?["sha256"] as? String)
        let stored = Self.files(under: artifacts)
        #expect(stored == 2)

        // Files prunelab cannot read: one 400 each naming the body, nothing stored.
        let truncated = try Self.fixture("bad-truncated.onnx")
        for (body, mentions) in [(truncated, "ONNX"), (try Self.fixture("bad-operator.onnx"), "Resize"), (try Self.fixture("bad-cycle.onnx"), "cycle"),
                                 (try Self.fixture("bad-huge.onnx"), "2^28"), (Data("not a model".utf8), "ONNX"), (Data(), "empty")] {
            let reply = try server.request("POST", "/api/v1/models", body: body, contentType: "application/octet-stream")
            #expect(reply.status == 400 && reply.json?["field"] as? String == "body", "\(reply.status) \(reply.text)")
            let error = (reply.json?["error"] as? String ?? "").lowercased()
            #expect(error.contains(mentions.lowercased()), "\(reply.text)")
        }
        let client = ["--server", "http://127.0.0.1:\(server.port)", "--token", server.token]
        let refused = try PrunelabBinary.run(["upload", PruneCommandTests.onnxFixtures.appendingPathComponent("bad-operator.onnx").path] + client,
                                             timeout: 60)
        let message = refused.stderr.trimmingCharacters(in: .whitespacesAndNewlines)
        #expect(refused.status != 0 && !message.contains("\n") && message.contains("Resize") && message.contains("400"), "\(refused)")
        let untrainableLine = try PrunelabBinary.run(["upload", PruneCommandTests.onnxFixtures.appendingPathComponent("densenet-tiny.onnx").path]
                                                     + client, timeout: 60)
        #expect(untrainableLine.status == 0 && untrainableLine.stdout.contains("cannot train it"), "\(untrainableLine)")
        for name in ["", String(repeating: "n", count: 201), "%0A"] {
            let reply = try server.request("POST", "/api/v1/models?name=\(name)", body: try Self.fixture("lenet300-100.onnx"),
                                           contentType: "application/octet-stream")
            #expect(reply.status == 400 && reply.json?["field"] as? String == "name", "'\(name)': \(reply.status) \(reply.text)")
        }
        for path in ["/api/v1/models/xyz", "/api/v1/models/\(String(repeating: "A", count: 64))/model.onnx"] {
            let reply = try server.request("GET", path)
            #expect(reply.status == 400 && reply.json?["field"] as? String == "sha256", "\(path): \(reply.text)")
        }
        let unknown = String(repeating: "1", count: 64)
        #expect(try server.request("GET", "/api/v1/models/\(unknown)").status == 404)
        #expect(try server.request("GET", "/api/v1/models/\(unknown)/model.onnx").status == 404)
        #expect(Self.files(under: artifacts) == stored)
        #expect(try ServiceIntegrationTests.query(database, "SELECT COUNT(*) FROM models") == "2")

        // Sweeps naming what cannot train are refused naming the field and the reason.
        let untrainable = try #require(dense.json?["sha256"] as? String)
        let cases: [(Data, String, String)] = [
            (Self.sweep("\"onnx:\(untrainable)\"", pruners: ["synflow"]), "architecture", "Concat"),
            (Self.sweep("\"onnx:\(unknown)\"", pruners: ["synflow"]), "architecture", "no model"),
            (Self.sweep("{\"onnx\": \"\(lenet)\"}", dataset: "cifar10", pruners: ["synflow"]), "dataset", "[3, 32, 32]"),
            (Self.sweep("{\"onnx\": \"ABC\"}", pruners: ["synflow"]), "architecture.onnx", "hexadecimal"),
            (Self.sweep("{\"onnx\": \"\(lenet)\", \"name\": 1}", pruners: ["synflow"]), "architecture.name", "unknown"),
            (Self.sweep("\"onnx:\(lenet)\"", pruners: ["synflow"]).replacingDataset(), "dataset", "imported model"),
        ]
        for (body, field, mentions) in cases {
            let reply = try server.request("POST", "/api/v1/sweeps", body: body)
            #expect(reply.status == 400 && reply.json?["field"] as? String == field, "\(field): \(reply.status) \(reply.text)")
            let error = reply.json?["error"] as? String ?? ""
            #expect(error.contains(mentions), "\(reply.text)")
        }
        #expect(try ServiceIntegrationTests.query(database, "SELECT COUNT(*) FROM sweeps") == "0")
        #expect(try ServiceIntegrationTests.query(database, "SELECT COUNT(*) FROM runs") == "0")
    }
}

extension ModelSweepTests {
    /// `prunelab run` without a server: the config names the model, `--onnx` gives its file.
    @Test(.timeLimit(.minutes(5)))
    func runCommandTakesTheModelFile() throws {
        let directory = try PruneCommandTests.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let model = PruneCommandTests.onnxFixtures.appendingPathComponent("lenet300-100.onnx").path
        let other = PruneCommandTests.onnxFixtures.appendingPathComponent("resnet20.onnx").path
        let sha256 = try BackupCommandTests.digest(model)
        #expect(sha256.count == 64)
        func config(seed: Int) throws -> String {
            let path = directory.appendingPathComponent("run-\(seed).json").path
            try Data(#"{"architecture": "onnx:\#(sha256)", "dataset": "synthetic", "pruner": "random/erk", "compression": 10, "seed": \#(seed), "training": {"iterations": 10, "batch_size": 20, "learning_rate": 0.1, "momentum": 0.9, "weight_decay": 0, "lr_drops": []}}"#.utf8)
                .write(to: URL(fileURLWithPath: path))
            return path
        }
        let runs = directory.appendingPathComponent("runs").path
        let first = try PrunelabBinary.run(["run", "--config", try config(seed: 0), "--runs-dir", runs, "--onnx", other, "--onnx", model, "--json"], timeout: 60)
        #expect(first.status == 0, "\(first)")
        let result = try #require(try PrunelabBinary.json(first)["result"] as? [String: Any])
        #expect((result["layers"] as? [[String: Any]])?.map { $0["name"] as? String } == ["fc1.weight", "fc2.weight", "fc3.weight"])
        // Finished: reused without the file.
        let reused = try PrunelabBinary.run(["run", "--config", try config(seed: 0), "--runs-dir", runs], timeout: 60)
        #expect(reused.status == 0 && reused.stderr.contains("reusing"), "\(reused)")
        // A new run needs the file; another file is named by what it is.
        let missing = try PrunelabBinary.run(["run", "--config", try config(seed: 1), "--runs-dir", runs, "--onnx", other], timeout: 60)
        #expect(missing.status != 0 && missing.stderrLines.count == 1, "\(missing)")
        #expect(missing.stderr.contains("--onnx") && missing.stderr.contains("onnx:\(sha256)") && missing.stderr.contains("resnet20.onnx is onnx:"),
                "\(missing)")
    }
}

private extension Data {
    /// The same sweep without its data set (an imported model has no default one).
    func replacingDataset() -> Data {
        Data(String(decoding: self, as: UTF8.self).replacingOccurrences(of: "\"dataset\": \"synthetic\", ", with: "").utf8)
    }
}
