import Foundation
@testable import prunelab
import Testing

/// `prunelab backup` of a database a server is writing, and the sweep finished from the copy.
@Suite("backup command", .serialized)
struct BackupCommandTests {
    static func query(_ database: String, _ sql: String) throws -> String { try ServiceIntegrationTests.query(database, sql) }

    /// The SHA-256 of a file, by coreutils' sha256sum.
    static func digest(_ path: String) throws -> String {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/sha256sum")
        process.arguments = [path]
        let pipe = Pipe()
        process.standardOutput = pipe
        try process.run()
        let text = String(decoding: pipe.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        process.waitUntilExit()
        return String(text.prefix(64))
    }

    /// Mid-sweep (the dense parent done with its child unfinished, a run part-way with a
    /// checkpoint, the worker still writing) → backup → the copy passes its checks and holds the checkpoints it refers to →
    /// the original finishes → `serve` on the copy finishes the sweep with the very same metrics
    /// and figures.
    @Test(.timeLimit(.minutes(10)))
    func backupMidSweepThenFinishTheSweepFromTheCopy() throws {
        let (path, directory) = try ServeCommandTests.database()
        defer { try? FileManager.default.removeItem(at: directory) }
        let sweep = ServiceIntegrationTests.sweep(iterations: 300, pruners: ["random/erk", "magnitude/global"], evalEvery: 15)
        let server = try ServerProcess(database: path, extraArguments: ["--lease-seconds", "2"])
        defer { server.stop() }
        #expect(try server.request("POST", "/api/v1/sweeps", body: sweep).status == 201)
        let worker = try WorkerProcess(server: server)
        defer { worker.stop() }
        let midway = try waitUntil(seconds: 120 * ChildProcess.busyMachineSlack) {
            try Self.query(path, """
                SELECT EXISTS (SELECT 1 FROM runs p JOIN run_dependencies d ON d.parent_key = p.key JOIN runs c ON c.key = d.run_key
                               WHERE p.status = 'succeeded' AND c.status <> 'succeeded')
                   AND EXISTS (SELECT 1 FROM checkpoints c JOIN runs r ON r.key = c.run_key WHERE r.status IN ('leased', 'running') AND c.step >= 30)
                """) == "1"
        }
        try #require(midway, "\(server.log.suffix(2000))")

        let copy = directory.appendingPathComponent("backup.sqlite").path
        let backup = try PrunelabBinary.run(["backup", "--db", path, "--out", copy], timeout: 60 * ChildProcess.busyMachineSlack)
        // A checkpoint the worker replaces between the snapshot and the file copy is dropped from the
        // copy (said on stderr; that run starts over there): a race a loaded machine can hit.
        let raced = backup.stderr.contains("went from the live store during the copy")
        #expect(backup.status == 0 && (backup.stderr.isEmpty || (raced && backup.stderrLines.count == 1)), "\(backup)")
        #expect(backup.stdout.hasPrefix("backup \(copy): ") && backup.stdout.contains("integrity ok"), "\(backup)")
        print("mid-sweep backup: \(backup.stdout.trimmingCharacters(in: .whitespacesAndNewlines)) (command \(String(format: "%.2f", backup.seconds)) s)")
        #expect(try Self.query(copy, "PRAGMA integrity_check") == "ok")
        #expect(try Self.query(copy, "PRAGMA foreign_key_check").isEmpty)
        #expect(try Self.query(copy, "PRAGMA journal_mode") == "delete", "one self-contained file")
        #expect(!FileManager.default.fileExists(atPath: copy + "-wal"))
        let unfinished = Int(try Self.query(copy, "SELECT COUNT(*) FROM runs WHERE status <> 'succeeded'")) ?? 0
        #expect(unfinished >= 1, "the copy is mid-sweep")
        // The running run's last checkpoint and the dense parent's final state its child prunes.
        let hashes = try Self.query(copy, "SELECT sha256 FROM checkpoints").split(separator: "\n").map(String.init)
        #expect(hashes.count >= (raced ? 1 : 2), "\(hashes)")
        #expect(try Self.query(copy, "SELECT COUNT(*) FROM checkpoints c JOIN runs r ON r.key = c.run_key WHERE r.status = 'succeeded'") == "1")
        for hash in hashes {
            let file = "\(copy).artifacts/sha256/\(hash.prefix(2))/\(hash)"
            #expect(FileManager.default.fileExists(atPath: file) && (try? Self.digest(file)) == hash, "checkpoint \(hash) copied whole")
        }
        let copied = try Self.digest(copy)

        // An existing --out is left alone without --force; with it, replaced.
        let again = try PrunelabBinary.run(["backup", "--db", path, "--out", copy], timeout: 60)
        #expect(again.status != 0 && again.stderrLines.count == 1 && again.stderr.contains("--force") && again.stdout.isEmpty, "\(again)")
        #expect(try Self.digest(copy) == copied)
        let leftovers = try FileManager.default.contentsOfDirectory(atPath: directory.path).filter { $0.hasSuffix(".tmp") }
        #expect(leftovers.isEmpty, "\(leftovers)")

        // The original goes on to the end: the reference.
        let finished = try waitUntil(seconds: 180 * ChildProcess.busyMachineSlack) {
            try Self.query(path, "SELECT COUNT(*) FROM runs WHERE status <> 'succeeded'") == "0"
        }
        try #require(finished, "\(server.log.suffix(2000))")
        worker.stop()
        server.stop()
        let reference = (metrics: try Self.query(path, ServiceIntegrationTests.allMetrics), figures: try Self.query(path, ServiceIntegrationTests.finalFigures))

        // The copy, served: its running run's lease expires and it resumes from the copied checkpoint.
        let restored = try ServerProcess(database: copy, extraArguments: ["--lease-seconds", "2"])
        defer { restored.stop() }
        let second = try WorkerProcess(server: restored)
        defer { second.stop() }
        let resumed = try waitUntil(seconds: 180 * ChildProcess.busyMachineSlack) {
            try Self.query(copy, "SELECT COUNT(*) FROM runs WHERE status <> 'succeeded'") == "0"
        }
        try #require(resumed, "\(restored.log.suffix(2000))")
        #expect(try Self.query(copy, "SELECT COUNT(*) FROM events WHERE kind = 'lease_expired'") != "0", "a run was picked up mid-way")
        #expect(try Self.query(copy, "SELECT COUNT(*) FROM runs WHERE status = 'succeeded' AND attempts > 1") != "0")
        let metrics = try Self.query(copy, ServiceIntegrationTests.allMetrics)
        #expect(!metrics.isEmpty && metrics == reference.metrics)
        #expect(try Self.query(copy, ServiceIntegrationTests.finalFigures) == reference.figures)
    }

    /// Bad input: one line naming the option, exit ≠ 0, nothing written.
    @Test(.timeLimit(.minutes(10)))
    func badInputIsOneLineAndWritesNothing() throws {
        let (path, directory) = try ServeCommandTests.database()
        defer { try? FileManager.default.removeItem(at: directory) }
        let junk = directory.appendingPathComponent("junk.sqlite").path
        try Data("not a database at all, just text\n".utf8).write(to: URL(fileURLWithPath: junk))
        let empty = directory.appendingPathComponent("empty.sqlite").path
        #expect(try Self.query(empty, "CREATE TABLE t (x); SELECT 'made'") == "made")
        let out = directory.appendingPathComponent("out.sqlite").path
        let cases: [([String], [String])] = [
            (["--db", directory.appendingPathComponent("missing.sqlite").path, "--out", out], ["--db", "missing.sqlite"]),
            (["--db", junk, "--out", out], ["--db", "junk.sqlite"]),
            (["--db", empty, "--out", out], ["--db", "not a prunelab database"]),
            (["--db", empty, "--out", empty], ["--out", "is the database being backed up"]),
            (["--db", empty, "--out", "/nonexistent/prunelab/out.sqlite"], ["--out", "/nonexistent/prunelab"]),
            (["--db", empty, "--out", directory.path], ["--out", "is a folder"]),
            (["--db", empty, "--out", out, "--no-artifacts", "--artifacts", directory.path], ["--artifacts"]),
        ]
        for (arguments, words) in cases {
            let run = try PrunelabBinary.run(["backup"] + arguments, timeout: 45)
            #expect(!run.timedOut && run.status != 0 && run.stdout.isEmpty && run.stderrLines.count == 1, "\(run)")
            for word in words { #expect(run.stderr.contains(word), "\(word): \(run)") }
        }
        #expect(!FileManager.default.fileExists(atPath: out) && !FileManager.default.fileExists(atPath: path))
        #expect(try String(contentsOfFile: junk, encoding: .utf8) == "not a database at all, just text\n")
        #expect(try FileManager.default.contentsOfDirectory(atPath: directory.path).sorted() == ["empty.sqlite", "junk.sqlite"])
    }
}
