import Foundation
#if canImport(Glibc)
import Glibc
#endif
@testable import prunelab
import Testing

/// The paper's architectures through `serve` and a worker with default settings: masks and
/// checkpoints of VGG, ResNet and MobileNetV2 size travel as binary, checkpoints live in the
/// artifact store beside the database, and nothing is left behind.
@Suite("every architecture through the service", .serialized)
struct LargeModelServiceTests {
    static let architectures = ["lenet300-100", "lenet5", "vgg16", "vgg19", "resnet18", "resnet20", "resnet50", "mobilenetv2"]

    static func query(_ database: String, _ sql: String) throws -> String { try ServiceIntegrationTests.query(database, sql) }

    /// Files under `folder` (recursively), relative names.
    static func files(in folder: String) -> [String] {
        (FileManager.default.enumerator(atPath: folder)?.allObjects as? [String] ?? []).filter { name in
            var isDirectory: ObjCBool = false
            return FileManager.default.fileExists(atPath: "\(folder)/\(name)", isDirectory: &isDirectory) && !isDirectory.boolValue
        }.sorted()
    }

    /// What the artifact store beside `database` holds: committed blobs and uploads in flight.
    static func artifacts(_ database: String) -> (blobs: [String], uploads: [String]) {
        (files(in: database + ".artifacts/sha256").map { String($0.split(separator: "/").last!) }, files(in: database + ".artifacts/uploads"))
    }

    static func sha256(_ data: Data) throws -> String {
        let file = FileManager.default.temporaryDirectory.appendingPathComponent("prunelab-hash-\(UUID().uuidString)")
        try data.write(to: file)
        defer { try? FileManager.default.removeItem(at: file) }
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/sha256sum")
        process.arguments = [file.path]
        let output = Pipe()
        process.standardOutput = output
        try process.run()
        let text = String(decoding: output.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        process.waitUntilExit()
        return String(text.prefix(64))
    }

    @Test(.timeLimit(.minutes(30)))
    func everyArchitectureOfTheZooFinishesWithDefaultSettings() throws {
        let (path, directory) = try ServeCommandTests.database()
        defer { try? FileManager.default.removeItem(at: directory) }
        let server = try ServerProcess(database: path)
        defer { server.stop() }
        let list = Self.architectures.map { "\"\($0)\"" }.joined(separator: ", ")
        let sweep = """
            {"name": "zoo", "base": {"dataset": "synthetic", "pruner": "random/erk", "mode": "direct", "compression": 10,
             "training": {"iterations": 2, "batch_size": 2, "eval_every": 2}}, "grid": {"architecture": [\(list)], "seed": [0]}}
            """
        let created = try server.request("POST", "/api/v1/sweeps", body: Data(sweep.utf8))
        #expect(created.json?["new"] as? Int == Self.architectures.count, "\(created.text)")
        let worker = try WorkerProcess(server: server, exitWhenIdle: true)
        worker.process.waitUntilExit()
        #expect(try Self.query(path, "SELECT architecture || ':' || status FROM runs ORDER BY architecture")
                == Self.architectures.sorted().map { "\($0):succeeded" }.joined(separator: "\n"), "\(server.log.suffix(3000))")
        for architecture in ["vgg16", "resnet50"] {
            let key = try Self.query(path, "SELECT key FROM runs WHERE architecture = '\(architecture)'")
            let run = try server.request("GET", "/api/v1/runs/\(key)")
            let layers = try #require(run.json?["layers"] as? [[String: Any]], "\(run.text)")
            #expect(layers.count == (architecture == "vgg16" ? 14 : 54))
            try ServiceIntegrationTests.checkMasksInNumPy(server: server, key: key, layers: layers, directory: directory)
        }
        // Finished runs keep no checkpoint: the artifact store is empty, and so is the WAL's excess.
        #expect(try Self.query(path, "SELECT COUNT(*) FROM checkpoints") == "0")
        let left = Self.artifacts(path)
        #expect(left.blobs.isEmpty && left.uploads.isEmpty, "\(left)")
    }

    /// kill -9 of a worker during a VGG-16 run: another worker resumes from the checkpoint it
    /// streamed, with results identical to an uninterrupted run. Meanwhile a truncated,
    /// corrupted, oversized or mislabelled upload is refused and leaves nothing behind.
    @Test(.timeLimit(.minutes(30)))
    func aLargeRunResumesFromItsStreamedCheckpointAndBadUploadsLeaveNothing() throws {
        let sweep = Data("""
            {"name": "vgg", "base": {"architecture": "vgg16", "dataset": "synthetic", "pruner": "random/erk", "compression": 10,
             "training": {"iterations": 60, "batch_size": 8, "eval_every": 10}}, "grid": {"seed": [0]}}
            """.utf8)
        let reference = try ServiceIntegrationTests.uninterrupted(sweep)
        let (path, directory) = try ServeCommandTests.database()
        defer { try? FileManager.default.removeItem(at: directory) }
        let server = try ServerProcess(database: path, extraArguments: ["--lease-seconds", "3"])
        defer { server.stop() }
        _ = try server.request("POST", "/api/v1/sweeps", body: sweep)
        let key = try Self.query(path, "SELECT key FROM runs")
        let first = try WorkerProcess(server: server)
        #expect(waitUntil(seconds: 600) { (try? Self.query(path, "SELECT COUNT(*) FROM checkpoints")) == "1" }, "\(server.log.suffix(2000))")
        first.kill()
        #expect(waitUntil(seconds: 60) { (try? Self.query(path, "SELECT status FROM runs")) == "queued" })
        let row = try Self.query(path, "SELECT sha256 || ' ' || size || ' ' || phase || ' ' || step FROM checkpoints").split(separator: " ")
        let (hash, size, phase, step) = (String(row[0]), Int(row[1])!, Int(row[2])!, Int(row[3])!)
        #expect(Self.artifacts(path).blobs == [hash] && Self.artifacts(path).uploads.isEmpty)
        let checkpoint = try server.request("GET", "/api/v1/runs/\(key)/checkpoint")
        let downloaded = try Self.sha256(checkpoint.body)
        #expect(checkpoint.status == 200 && checkpoint.body.count == size && downloaded == hash)

        let route = "/api/v1/runs/\(key)/checkpoint?worker=tester&phase=\(phase)&step=\(step)"
        var corrupt = checkpoint.body
        corrupt[corrupt.count / 2] ^= 0x40
        let truncated = checkpoint.body.prefix(size - 1000), extended = checkpoint.body + Data(count: 10)
        let cases: [(String, Data, String, Int, String)] = [
            ("wrong hash", checkpoint.body, String(repeating: "a", count: 64), 400, "sha256"),
            ("truncated", truncated, try Self.sha256(truncated), 400, "body"),
            ("corrupted", corrupt, try Self.sha256(corrupt), 400, "body"),
            ("longer than its header", extended, try Self.sha256(extended), 400, "body"),
            ("far too large", Data(count: 200 << 20), try Self.sha256(Data(count: 200 << 20)), 413, "body"),
        ]
        // Hold the lease as a worker would (heartbeats keep it), and send what a broken or hostile worker might.
        let lease = try server.request("POST", "/api/v1/workers/lease", body: Data(#"{"worker": "tester"}"#.utf8))
        #expect(lease.json?["key"] as? String == key && lease.json?["has_checkpoint"] as? Bool == true, "\(lease.text)")
        func heartbeat() throws {
            let beat = try server.request("POST", "/api/v1/runs/\(key)/heartbeat", body: Data(#"{"worker": "tester"}"#.utf8))
            #expect(beat.status == 200, "\(beat.text)")
        }
        for (name, body, sha, status, field) in cases {
            try heartbeat()
            let reply = try server.request("PUT", route + "&sha256=\(sha)", body: body, contentType: "application/octet-stream")
            #expect(reply.status == status && reply.json?["field"] as? String == field, "\(name): \(reply.status) \(reply.text.prefix(300))")
            #expect(Self.artifacts(path).blobs == [hash] && Self.artifacts(path).uploads.isEmpty, "\(name) left something behind")
            #expect(try Self.query(path, "SELECT sha256 FROM checkpoints") == hash, "\(name) replaced the checkpoint")
        }
        // Masks: exactly as long as VGG-16's packed masks (14 715 584 bits ⇒ 1 839 448 bytes), no padding bits.
        let masks = "/api/v1/runs/\(key)/masks?worker=tester&kind=direct"
        try heartbeat()
        let short = try server.request("PUT", masks, body: Data(count: 1000), contentType: "application/octet-stream")
        #expect(short.status == 400 && short.json?["field"] as? String == "body", "\(short.text)")
        try heartbeat()
        let long = try server.request("PUT", masks, body: Data(count: 1_839_449), contentType: "application/octet-stream")
        #expect(long.status == 413 && long.json?["field"] as? String == "body", "\(long.text)")
        #expect(try Self.query(path, "SELECT COUNT(*) FROM masks") == "0")

        // The tester's lease runs out; a new worker resumes from the streamed checkpoint.
        #expect(waitUntil(seconds: 60) { (try? Self.query(path, "SELECT status FROM runs")) == "queued" })
        let second = try WorkerProcess(server: server, exitWhenIdle: true)
        second.process.waitUntilExit()
        // Three attempts: the killed worker, the tester, the resuming worker. On a loaded machine the
        // 3-second lease may also run out while the resuming worker downloads the 177 MB checkpoint
        // before its first heartbeat: allowed, as long as every extra attempt is an expiry the
        // events tell and the numbers below are those of an uninterrupted run.
        let outcome = try Self.query(path, "SELECT status || ' ' || attempts || ' ' || "
                                     + "(SELECT COUNT(*) FROM events WHERE kind = 'lease_expired') FROM runs")
        let parts = outcome.split(separator: " ")
        #expect(parts.count == 3 && parts[0] == "succeeded" && Int(parts[1]).map { $0 >= 3 } == true
                && Int(parts[1]).map { $0 - 1 } == Int(parts[2]), "\(outcome)")
        #expect(try Self.query(path, ServiceIntegrationTests.allMetrics) == reference.metrics)
        #expect(try Self.query(path, ServiceIntegrationTests.finalFigures) == reference.figures)
        let left = Self.artifacts(path)
        #expect(left.blobs.isEmpty && left.uploads.isEmpty, "\(left)")
    }

    /// `prunelab gc` reports (and, without --dry-run, removes) what nothing references; a bad
    /// option is one line and a non-zero exit.
    @Test(.timeLimit(.minutes(10)))
    func gcReportsAndRemovesWhatNothingReferences() throws {
        let (path, directory) = try ServeCommandTests.database()
        defer { try? FileManager.default.removeItem(at: directory) }
        do {
            let server = try ServerProcess(database: path)
            server.stop()
        }
        let hash = String(repeating: "ab", count: 32)
        try FileManager.default.createDirectory(atPath: path + ".artifacts/sha256/ab", withIntermediateDirectories: true)
        try Data(count: 1000).write(to: URL(fileURLWithPath: path + ".artifacts/sha256/ab/\(hash)"))
        try Data(count: 10).write(to: URL(fileURLWithPath: path + ".artifacts/uploads/interrupted"))
        let preview = try PrunelabBinary.run(["gc", "--db", path, "--grace", "0", "--dry-run", "--json"], timeout: 60)
        let report = try PrunelabBinary.json(preview)
        #expect(report["orphan_files"] as? Int == 1 && report["orphan_bytes"] as? Int == 1000 && report["abandoned_uploads"] as? Int == 1,
                "\(preview)")
        #expect(Self.artifacts(path).blobs == [hash], "a dry run removes nothing")
        let young = try PrunelabBinary.run(["gc", "--db", path], timeout: 60)
        #expect(young.status == 0 && young.stdout.contains("removed: 0 checkpoints") && Self.artifacts(path).blobs == [hash], "\(young)")
        let removed = try PrunelabBinary.run(["gc", "--db", path, "--grace", "0"], timeout: 60)
        #expect(removed.status == 0 && removed.stdout.contains("1 orphaned files"), "\(removed)")
        #expect(Self.artifacts(path).blobs.isEmpty && Self.artifacts(path).uploads.isEmpty)
        let bad = try PrunelabBinary.run(["gc", "--db", path, "--grace", "-1"], timeout: 60)
        #expect(bad.status != 0 && bad.stderrLines.count == 1 && bad.stderr.contains("--grace"), "\(bad)")
        let missing = try PrunelabBinary.run(["gc", "--db", directory.appendingPathComponent("nope.sqlite").path], timeout: 60)
        #expect(missing.status != 0 && missing.stderrLines.count == 1, "\(missing)")
    }
}
