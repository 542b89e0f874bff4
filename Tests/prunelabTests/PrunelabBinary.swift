import Foundation
#if canImport(Glibc)
import Glibc
#endif
import Testing

/// The built `prunelab` executable, run as a user would: a child process with captured output.
enum PrunelabBinary {
    /// What one run left behind.
    struct Run: Sendable, CustomStringConvertible {
        let arguments: [String]
        let status: Int32
        let stdout: String
        let stderr: String
        let timedOut: Bool
        let seconds: Double

        var stderrLines: [String] { stderr.split(separator: "\n", omittingEmptySubsequences: false).map(String.init).filter { !$0.isEmpty } }
        var description: String {
            "prunelab \(arguments.joined(separator: " ")) → status \(status)\(timedOut ? " (timed out)" : "")\n"
                + "stdout: \(stdout.prefix(2000))\nstderr: \(stderr.prefix(2000))"
        }
    }

    struct NotFound: Error, CustomStringConvertible {
        let searched: [String]
        var description: String {
            "cannot find the prunelab executable next to the test bundle (build it with `swift build --build-tests`); searched: "
                + searched.joined(separator: ", ")
        }
    }

    /// The executable in the build directory that holds the test bundle: `PRUNELAB_BINARY` when set,
    /// else the first `prunelab` found walking up from the bundle / test runner (on Linux the
    /// `.xctest` is a file in the build directory; on macOS a bundle whose parent is that directory).
    static let location: Result<URL, NotFound> = {
        let fileManager = FileManager.default
        if let override = ProcessInfo.processInfo.environment["PRUNELAB_BINARY"], fileManager.isExecutableFile(atPath: override) {
            return .success(URL(fileURLWithPath: override))
        }
        var starts = [Bundle.main.bundleURL, URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent()]
        if let executable = Bundle.main.executableURL { starts.append(executable.deletingLastPathComponent()) }
        for bundle in Bundle.allBundles where bundle.bundlePath.hasSuffix(".xctest") { starts.append(bundle.bundleURL.deletingLastPathComponent()) }
        var searched: [String] = []
        for start in starts {
            var directory = start.resolvingSymlinksInPath()
            for _ in 0..<5 {
                let candidate = directory.appendingPathComponent("prunelab")
                searched.append(candidate.path)
                var isDirectory: ObjCBool = false
                if fileManager.fileExists(atPath: candidate.path, isDirectory: &isDirectory), !isDirectory.boolValue,
                   fileManager.isExecutableFile(atPath: candidate.path) {
                    return .success(candidate)
                }
                directory = directory.deletingLastPathComponent()
            }
        }
        return .failure(NotFound(searched: searched))
    }()

    /// The environment of a long-lived child that trains (a server's workers, a worker) while other
    /// tests run in parallel: one OpenMP thread, as OpenMP teams that each take every core spin
    /// against one another and starve the children's heartbeats.
    /// Workers upload a checkpoint at every evaluation (not once a minute): the tests interrupt
    /// runs of a few seconds and resume them from their checkpoints.
    static var childEnvironment: [String: String] {
        ProcessInfo.processInfo.environment.merging(["OMP_NUM_THREADS": "1", "PRUNELAB_CHECKPOINT_SECONDS": "0"]) { _, new in new }
    }

    /// Runs `prunelab arguments…`, killing it after `timeout` seconds. Output goes through files,
    /// so a chatty child can never block on a full pipe.
    static func run(_ arguments: [String], timeout: Double) throws -> Run {
        let child = try ChildProcess.run(try location.get(), timeout: timeout) { _ in arguments }
        return Run(arguments: arguments, status: child.status, stdout: child.stdout, stderr: child.stderr, timedOut: child.timedOut,
                   seconds: child.seconds)
    }

    /// The single JSON object a `--json` run printed on stdout.
    static func json(_ run: Run) throws -> [String: Any] {
        let text = run.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
        #expect(!text.contains("\n"), "stdout should be one line of JSON: \(run)")
        let object = try JSONSerialization.jsonObject(with: Data(text.utf8))
        return try #require(object as? [String: Any], "stdout is not a JSON object: \(run)")
    }
}

/// A JSON number as Double (NSNumber bridges on every platform), nil for anything else.
func number(_ value: Any?) -> Double? {
    if let value = value as? Double { return value }
    if let value = value as? Int { return Double(value) }
    if let value = value as? NSNumber { return value.doubleValue }
    return nil
}

/// A child process with its output captured through files (so a chatty child never blocks on a
/// full pipe), terminated after `timeout` seconds.
enum ChildProcess {
    struct Outcome {
        let status: Int32
        let stdout: String
        let stderr: String
        let timedOut: Bool
        let seconds: Double
    }

    /// Timeouts catch hangs, not slowness: on a machine busy with other work (CI beside another
    /// job, the other core compiling) a child may take several times as long as on an idle one, so
    /// each test's timeout, sized for an idle machine, is stretched by this factor.
    static let busyMachineSlack = 5.0

    /// `arguments` receives a scratch directory that lives as long as the child.
    static func run(_ executable: URL, timeout: Double, arguments: (URL) -> [String]) throws -> Outcome {
        let timeout = timeout * busyMachineSlack
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("prunelab-child-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let outURL = directory.appendingPathComponent("stdout"), errURL = directory.appendingPathComponent("stderr")
        _ = FileManager.default.createFile(atPath: outURL.path, contents: nil)
        _ = FileManager.default.createFile(atPath: errURL.path, contents: nil)
        let out = try FileHandle(forWritingTo: outURL), err = try FileHandle(forWritingTo: errURL)
        let process = Process()
        process.executableURL = executable
        process.arguments = arguments(directory)
        process.standardOutput = out
        process.standardError = err
        process.standardInput = FileHandle.nullDevice
        let start = Date()
        try process.run()
        var timedOut = false
        while process.isRunning {
            if Date().timeIntervalSince(start) > timeout {
                timedOut = true
                process.terminate()
                break
            }
            usleep(20_000)
        }
        process.waitUntilExit()
        try out.close(); try err.close()
        return Outcome(status: process.terminationStatus, stdout: String(decoding: try Data(contentsOf: outURL), as: UTF8.self),
                       stderr: String(decoding: try Data(contentsOf: errURL), as: UTF8.self), timedOut: timedOut,
                       seconds: Date().timeIntervalSince(start))
    }
}
