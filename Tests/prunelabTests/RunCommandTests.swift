import Foundation
import Testing

/// `prunelab run` as a user runs it.
@Suite("run command", .serialized)
struct RunCommandTests {
    static func directory() throws -> URL {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("prunelab-run-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
        return url
    }

    func write(_ json: String, in directory: URL, name: String = "run.json") throws -> String {
        let path = directory.appendingPathComponent(name).path
        try Data(json.utf8).write(to: URL(fileURLWithPath: path))
        return path
    }

    /// The issue's example on the installed Fashion-MNIST: finishes, reports its effective
    /// compression (≈ 100) and accuracy; the same config again is reused, not retrained.
    @Test(.timeLimit(.minutes(10)), .enabled(if: InstalledFashionMNIST.isInstalled, InstalledFashionMNIST.absent))
    func exampleConfigOnFashionMNIST() throws {
        let directory = try Self.directory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let config = try write("""
            {"architecture": "lenet300-100", "dataset": "fashion-mnist", "pruner": "random/igq", "mode": "effective",
             "compression": 100, "seed": 0, "training": {"iterations": 200, "batch_size": 100}}
            """, in: directory)
        let runs = directory.appendingPathComponent("runs").path
        let run = try PrunelabBinary.run(["run", "--config", config, "--runs-dir", runs, "--json"], timeout: 150)
        #expect(run.status == 0 && !run.timedOut, "\(run)")
        let output = try PrunelabBinary.json(run)
        let result = try #require(output["result"] as? [String: Any])
        let effective = try #require(number(result["effective_compression"]))
        #expect(effective <= 100 && effective > 95, "effective compression \(effective)")
        #expect(try #require(number(result["direct_compression"])) < effective)
        #expect(try #require(number(result["test_accuracy"])) > 0.6)
        #expect((result["layers"] as? [Any])?.count == 3)
        #expect(output["reused"] as? Bool == false)
        let key = try #require(result["key"] as? String)
        for file in ["config.json", "masks.npz", "metrics.jsonl", "final.bin", "result.json"] {
            #expect(FileManager.default.fileExists(atPath: "\(runs)/\(key)/\(file)"), "\(file)")
        }
        let again = try PrunelabBinary.run(["run", "--config", config, "--runs-dir", runs, "--json"], timeout: 60)
        #expect(again.status == 0, "\(again)")
        let reused = try PrunelabBinary.json(again)["reused"] as? Bool
        #expect(reused == true, "\(again)")
    }

    /// Killed after 7 steps (the hidden --stop-after-steps), resumed with --resume: the final state
    /// file is byte for byte the one an uninterrupted run writes.
    @Test(.timeLimit(.minutes(10)))
    func stopAndResumeMatchesAnUninterruptedRun() throws {
        let directory = try Self.directory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let config = try write("""
            {"architecture": "lenet300-100", "dataset": "synthetic", "pruner": "snip", "compression": 10,
             "training": {"iterations": 20, "batch_size": 50, "eval_every": 5}}
            """, in: directory)
        let whole = directory.appendingPathComponent("whole").path, split = directory.appendingPathComponent("split").path
        let uninterrupted = try PrunelabBinary.run(["run", "--config", config, "--runs-dir", whole, "--json"], timeout: 120)
        #expect(uninterrupted.status == 0, "\(uninterrupted)")
        let stopped = try PrunelabBinary.run(["run", "--config", config, "--runs-dir", split, "--stop-after-steps", "7"], timeout: 120)
        #expect(stopped.status != 0 && stopped.stderr.contains("--resume"), "\(stopped)")
        let resumed = try PrunelabBinary.run(["run", "--config", config, "--runs-dir", split, "--resume", "--json"], timeout: 120)
        #expect(resumed.status == 0, "\(resumed)")
        let resumedResult = try #require(try PrunelabBinary.json(resumed)["result"] as? [String: Any])
        let key = resumedResult["key"] as? String
        let a = FileManager.default.contents(atPath: "\(whole)/\(key ?? "")/final.bin")
        let b = FileManager.default.contents(atPath: "\(split)/\(key ?? "")/final.bin")
        #expect(a != nil && a == b, "final states differ")
    }

    /// `reproduce` is a thin client of the service: with no server it serves its database with a
    /// local worker, submits the sweep, waits, and prints the server's summary; a second
    /// invocation reuses every run.
    @Test(.timeLimit(.minutes(10)))
    func reproduceSubmitsWaitsAndReusesEveryRun() throws {
        let directory = try Self.directory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let spec = try write("""
            {"name": "tiny paper", "base": {"architecture": "lenet300-100", "dataset": "synthetic", "training": {"iterations": 20, "batch_size": 50}},
             "grid": {"pruner": ["random/uniform", "magnitude/global"], "mode": ["direct", "effective"], "compression": [10], "seed": [0]}}
            """, in: directory, name: "spec.json")
        let database = directory.appendingPathComponent("reproduce.sqlite").path
        let arguments = ["reproduce", spec, "--db", database, "--workers", "1", "--json"]
        let run = try PrunelabBinary.run(arguments, timeout: 300)
        #expect(run.status == 0, "\(run)")
        let groups = try #require(try JSONSerialization.jsonObject(with: Data(run.stdout.utf8)) as? [[String: Any]])
        #expect(groups.map { $0["pruner"] as? String } == ["dense", "magnitude/global", "magnitude/global", "random/uniform", "random/uniform"])
        for group in groups.dropFirst() {
            let effective = number(group["effective_compression"]) ?? 0, direct = number(group["direct_compression"]) ?? 0
            if group["mode"] as? String == "effective" { #expect(effective <= 10 * (1 + 1e-12) && effective > 9, "\(effective)") } else { #expect(abs(direct - 10) < 0.01) }
        }
        #expect(run.stderr.contains("5 runs (5 new, 0 reused"), "\(run.stderr)")
        let again = try PrunelabBinary.run(Array(arguments.dropLast()), timeout: 120)
        #expect(again.status == 0 && again.stderr.contains("5 runs (0 new, 5 reused"), "\(again)")
        #expect(again.stdout.contains("| magnitude/global | 10× | effective |"), "\(again.stdout)")
        let missing = try PrunelabBinary.run(["reproduce", directory.appendingPathComponent("none.json").path, "--db", database], timeout: 60)
        #expect(missing.status != 0 && missing.stderrLines.count == 1 && missing.stderr.contains("none.json"), "\(missing)")
    }

    /// Bad configs and an unusable runs directory: one line, exit ≠ 0, no run directory.
    @Test(.timeLimit(.minutes(10)))
    func badInputLeavesNoRunDirectory() throws {
        let directory = try Self.directory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let runs = directory.appendingPathComponent("runs").path
        let blocker = try write("not a directory", in: directory, name: "blocker")
        let cases: [(json: String, runsDir: String, mentions: [String])] = [
            ("{\"architecture\": \"lenet300-100\", ", runs, ["JSON", "json"]),
            ("[1, 2]", runs, ["object"]),
            ("{\"architecture\": \"lenet300-100\", \"pruner\": \"random/erk\", \"compression\": 10, \"colour\": \"red\"}", runs, ["colour"]),
            ("{\"architecture\": \"lenet300-100\", \"pruner\": \"random/erk\", \"compression\": 10, \"training\": {\"lr\": 1}}", runs,
             ["training.lr"]),
            ("{\"architecture\": \"lenet300-100\", \"pruner\": \"random/erk\", \"compression\": 1}", runs, ["compression"]),
            ("{\"architecture\": \"lenet300-100\", \"pruner\": \"random/erk\", \"compression\": 0.5}", runs, ["compression"]),
            ("{\"architecture\": \"lenet300-100\", \"pruner\": \"magnitude/global\", \"compression\": 10, \"dataset\": \"synthetic\"}",
             "\(blocker)/runs", [blocker]),
        ]
        for c in cases {
            let config = try write(c.json, in: directory)
            let run = try PrunelabBinary.run(["run", "--config", config, "--runs-dir", c.runsDir], timeout: 60)
            #expect(run.status != 0 && !run.timedOut, "\(run)")
            #expect(run.stderrLines.count == 1, "\(run)")
            let line = run.stderrLines.first ?? ""
            #expect(c.mentions.contains { line.contains($0) }, "should name one of \(c.mentions): \(line)")
            #expect(!FileManager.default.fileExists(atPath: runs), "\(c.json) created \(runs)")
        }
    }
}
