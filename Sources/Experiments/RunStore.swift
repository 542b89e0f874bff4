import FileSupport
import Foundation
import Tensors
#if canImport(Glibc)
import Glibc
#endif

/// A directory of runs, one folder per run key:
///
/// ```
/// <runs-dir>/<key>/config.json     the completed config (with data_dir)
/// <runs-dir>/<key>/masks.npz       the masks it trains with (bool, one array per prunable layer)
/// <runs-dir>/<key>/effective-masks.npz   their effective masks (same layout)
/// <runs-dir>/<key>/metrics.jsonl   {"phase","step","name","value"} per evaluation
/// <runs-dir>/<key>/checkpoint.bin  the latest training state (see `Checkpoint`)
/// <runs-dir>/<key>/final.bin       the final state, which child runs prune from
/// <runs-dir>/<key>/result.json     written last: its presence means the run finished
/// ```
///
/// A finished run is reused instead of trained again; a run whose dense parent is missing has the
/// parent trained first. Runs of one key are serialised by an advisory lock (`.lock`).
public final class RunStore {
    public let root: URL
    /// Where the last run this store executed (not reused) spent its time.
    public private(set) var lastProfile: RunProfile?

    /// Opens (creating if needed) a runs directory, failing early when it cannot be written.
    public init(path: String) throws {
        root = URL(fileURLWithPath: path, isDirectory: true)
        let manager = FileManager.default
        var isDirectory: ObjCBool = false
        if manager.fileExists(atPath: root.path, isDirectory: &isDirectory) {
            guard isDirectory.boolValue else { throw ExperimentsError.runDirectory(path: path, reason: "is a file, not a directory") }
        } else {
            do {
                try manager.createDirectory(at: root, withIntermediateDirectories: true)
            } catch {
                throw ExperimentsError.runDirectory(path: path, reason: "cannot be created")
            }
        }
        guard access(root.path, W_OK | X_OK) == 0 else { throw ExperimentsError.runDirectory(path: path, reason: "is not writable") }
    }

    public func folder(for key: String) -> URL { root.appendingPathComponent(key, isDirectory: true) }

    func file(_ name: String, of key: String) -> String { folder(for: key).appendingPathComponent(name).path }

    /// The result of a finished run, if there is one.
    public func result(for key: String) -> RunResult? {
        guard let data = FileManager.default.contents(atPath: file("result.json", of: key)) else { return nil }
        return try? JSONCoding.decoder(convertingKeys: false).decode(RunResult.self, from: data)
    }

    /// Runs `config` (and first its dense parent when it needs one and it has not run), or returns
    /// the stored result of an identical finished run. With `resume`, an unfinished run continues
    /// from its checkpoint; without, it starts over.
    public func execute(_ config: RunConfig, resume: Bool = false, reporter: any Reporter = SilentReporter(),
                        stopAfter: (phase: Int, step: Int)? = nil, checkpointEvery: Int? = nil, checkpointSeconds: Double = 0,
                        backend: any Backend = CPUBackend.shared) throws -> (result: RunResult, reused: Bool) {
        let key = config.key
        if let done = result(for: key) { return (done, true) }
        var parent: Checkpoint?
        if let parentConfig = config.parent() {
            reporter.report(.stage("dense parent \(parentConfig.key)"))
            _ = try execute(parentConfig, resume: resume, reporter: reporter, checkpointEvery: checkpointEvery,
                            checkpointSeconds: checkpointSeconds, backend: backend)
            parent = try Checkpoint.read(path: file("final.bin", of: parentConfig.key))
        }
        let folder = folder(for: key)
        let isNew = !FileManager.default.fileExists(atPath: folder.path)
        do {
            try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        } catch {
            throw ExperimentsError.runDirectory(path: folder.path, reason: "cannot be created")
        }
        let lock = try Lock(path: file(".lock", of: key))
        var keepFolder = true
        defer {
            lock.release()
            // A run that failed before leaving anything to resume leaves no half-written folder.
            if !keepFolder { try? FileManager.default.removeItem(at: folder) }
        }
        do {
            return try run(config, key: key, parent: parent, resume: resume, reporter: reporter, stopAfter: stopAfter,
                           checkpointEvery: checkpointEvery, checkpointSeconds: checkpointSeconds, backend: backend)
        } catch let error as RunInterrupted {
            throw error
        } catch {
            keepFolder = !isNew || FileManager.default.fileExists(atPath: file("checkpoint.bin", of: key))
            throw error
        }
    }

    private func run(_ config: RunConfig, key: String, parent: Checkpoint?, resume: Bool, reporter: any Reporter,
                     stopAfter: (phase: Int, step: Int)?, checkpointEvery: Int?, checkpointSeconds: Double, backend: any Backend) throws -> (result: RunResult, reused: Bool) {
        // Another process may have finished it while we waited for the lock.
        if let done = result(for: key) { return (done, true) }
        try AtomicFile.write(try config.encodedForDisk(), to: file("config.json", of: key))
        let checkpointPath = file("checkpoint.bin", of: key)
        var checkpoint: Checkpoint?
        if resume, FileManager.default.fileExists(atPath: checkpointPath) {
            checkpoint = try Checkpoint.read(path: checkpointPath)
            guard checkpoint?.header.runKey == key else {
                throw ExperimentsError.badCheckpoint(path: checkpointPath, reason: "belongs to run \(checkpoint?.header.runKey ?? "?")")
            }
        } else {
            for stale in ["checkpoint.bin", "metrics.jsonl", "masks.npz", "effective-masks.npz", "final.bin"] { try? FileManager.default.removeItem(atPath: file(stale, of: key)) }
        }
        let files = RunFiles(checkpoint: checkpointPath, masks: file("masks.npz", of: key),
                             effectiveMasks: file("effective-masks.npz", of: key), metrics: file("metrics.jsonl", of: key),
                             final: file("final.bin", of: key))
        let executor = try RunExecutor(config: config, reporter: reporter, files: files, parent: parent, checkpointEvery: checkpointEvery,
                                       backend: backend)
        executor.checkpointInterval = checkpointSeconds
        if let stopAfter { executor.stop(after: stopAfter.step, of: stopAfter.phase) }
        defer { lastProfile = executor.profile }
        let result = try executor.run(resume: checkpoint)
        try AtomicFile.write(try JSONCoding.encoder(pretty: true).encode(result), to: file("result.json", of: key))
        try? FileManager.default.removeItem(atPath: checkpointPath)
        return (result, false)
    }
}

/// An exclusive advisory lock on a file (flock), held until released or the process exits.
final class Lock {
    private let descriptor: Int32

    init(path: String) throws {
        descriptor = open(path, O_CREAT | O_RDWR, 0o644)
        guard descriptor >= 0 else { throw ExperimentsError.runDirectory(path: path, reason: "cannot open lock file") }
        guard flock(descriptor, LOCK_EX) == 0 else {
            close(descriptor)
            throw ExperimentsError.runDirectory(path: path, reason: "cannot lock")
        }
    }

    func release() {
        flock(descriptor, LOCK_UN)
        close(descriptor)
    }
}
