import FileSupport
import Foundation
import GRDB

/// What `Store.backup` copied.
public struct BackupReport: Sendable, Equatable {
    /// Size of the database copy in bytes.
    public var bytes = 0
    /// Runs and events in the copy (what a restore brings back).
    public var runs = 0
    public var events = 0
    /// Migrations applied to the copy, in order.
    public var migrations: [String] = []
    /// Checkpoint and uploaded model files copied into `<out>.artifacts` (already present ones count too) and their bytes.
    public var artifactFiles = 0
    public var artifactBytes = 0
    /// Runs whose checkpoint file went from the live store between the snapshot and its copy
    /// (superseded or collected meanwhile): their rows are dropped from the copy, so they start over.
    public var droppedCheckpoints: [String] = []
}

extension Store {
    /// Copies the live database at `source` to `destination` with SQLite's online backup (one read
    /// transaction: a consistent snapshot, while `serve` keeps writing in WAL mode). The copy is
    /// written under a temporary name beside `destination`, switched to a self-contained rollback
    /// journal, checked (`PRAGMA integrity_check`, `foreign_key_check`) and only then renamed into
    /// place. With `artifacts` (the live store's folder), the checkpoint files the copy refers to
    /// are copied into `<destination>.artifacts` first, each verified against its SHA-256.
    /// The source is opened without migrating it: a newer binary leaves a running server's schema alone.
    public static func backup(database source: String, to destination: String, artifacts: String?, replace: Bool) throws -> BackupReport {
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: source, isDirectory: &isDirectory), !isDirectory.boolValue else {
            throw BackupError.source(path: source, reason: "no such database file")
        }
        let sourceURL = URL(fileURLWithPath: source).resolvingSymlinksInPath().standardizedFileURL
        let destinationURL = URL(fileURLWithPath: destination).standardizedFileURL
        guard sourceURL.path != destinationURL.resolvingSymlinksInPath().path else {
            throw BackupError.destination(path: destination, reason: "is the database being backed up")
        }
        if FileManager.default.fileExists(atPath: destination, isDirectory: &isDirectory) {
            guard !isDirectory.boolValue else { throw BackupError.destination(path: destination, reason: "is a folder") }
            guard replace else { throw BackupError.destination(path: destination, reason: "exists (give --force to replace it)") }
        }
        let folder = destinationURL.deletingLastPathComponent().path
        guard FileManager.default.fileExists(atPath: folder, isDirectory: &isDirectory), isDirectory.boolValue else {
            throw BackupError.destination(path: destination, reason: "folder \(folder) does not exist")
        }

        var configuration = Configuration()
        configuration.busyMode = .timeout(10)
        configuration.label = "prunelab-backup-source"
        let live: DatabaseQueue
        do {
            live = try DatabaseQueue(path: sourceURL.path, configuration: configuration)
            let tables = try live.read { db in
                try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM sqlite_master WHERE type = 'table' AND name IN ('runs', 'events', 'grdb_migrations')") ?? 0
            }
            guard tables == 3 else { throw BackupError.source(path: source, reason: "not a prunelab database (no runs, events or grdb_migrations table)") }
        } catch let error as BackupError {
            throw error
        } catch {
            throw BackupError.source(path: source, reason: "\(error)")
        }

        var report = BackupReport()
        do {
            try AtomicFile.replace(destinationURL.path) { temporary in
                // SQLite's files beside the copy, left only by a failure: nothing but the copy is kept.
                defer { for suffix in ["-journal", "-wal", "-shm"] { try? FileManager.default.removeItem(atPath: temporary + suffix) } }
                let copy = try DatabaseQueue(path: temporary)
                try live.backup(to: copy)
                try live.close()
                try copy.writeWithoutTransaction { db in
                    // A backup is one file: no -wal beside it to forget when it is moved.
                    try db.execute(sql: "PRAGMA journal_mode = DELETE")
                    let integrity = try String.fetchAll(db, sql: "PRAGMA integrity_check")
                    guard integrity == ["ok"] else {
                        throw BackupError.check(reason: "integrity_check: \(integrity.prefix(5).joined(separator: "; "))")
                    }
                    let foreignKeys = try Row.fetchAll(db, sql: "PRAGMA foreign_key_check")
                    guard foreignKeys.isEmpty else { throw BackupError.check(reason: "foreign_key_check: \(foreignKeys.count) rows refer to nothing") }
                    report.runs = try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM runs") ?? 0
                    report.events = try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM events") ?? 0
                    report.migrations = try String.fetchAll(db, sql: "SELECT identifier FROM grdb_migrations ORDER BY identifier")
                }
                if let artifacts {
                    try copyCheckpoints(of: copy, from: artifacts, to: defaultArtifactsPath(for: destinationURL.path), report: &report)
                }
                try copy.close()
                report.bytes = (try? FileManager.default.attributesOfItem(atPath: temporary)[.size] as? Int) ?? 0
            }
        } catch let error as BackupError {
            throw error
        } catch {
            throw BackupError.destination(path: destination, reason: "\(error)")
        }
        return report
    }

    /// Copies the files the copy's `checkpoints` rows name, through the artifact store's own
    /// upload (write, fsync, rename under the hash it computed), and checks each hash.
    private static func copyCheckpoints(of copy: DatabaseQueue, from sourceRoot: String, to destinationRoot: String,
                                        report: inout BackupReport) throws {
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: sourceRoot, isDirectory: &isDirectory), isDirectory.boolValue else {
            let rows = try copy.read { db in
                try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM checkpoints") ?? 0
                    + (try db.tableExists("models") ? Int.fetchOne(db, sql: "SELECT COUNT(*) FROM models") ?? 0 : 0)
            }
            guard rows == 0 else { throw BackupError.source(path: sourceRoot, reason: "artifact folder missing, yet \(rows) checkpoints or models refer to it") }
            return
        }
        let source = try FileArtifactStore(root: sourceRoot)
        let destination = try FileArtifactStore(root: destinationRoot)
        let rows = try copy.read { db in try Row.fetchAll(db, sql: "SELECT run_key, sha256, size FROM checkpoints ORDER BY run_key") }
        // Uploaded models (0009) are artifacts too, and nothing could make one again: a missing file fails the backup.
        let models = try copy.read { db -> [Row] in
            guard try db.tableExists("models") else { return [] }
            return try Row.fetchAll(db, sql: "SELECT NULL AS run_key, sha256, size FROM models ORDER BY sha256")
        }
        var copied = Set<String>()
        for row in rows + models {
            let key: String? = row["run_key"], hash: String = row["sha256"], size: Int = row["size"]
            if copied.contains(hash) || destination.size(of: hash) == size {
                if copied.insert(hash).inserted { report.artifactFiles += 1; report.artifactBytes += size }
                continue
            }
            guard ContentAddress.isSHA256(hash), let file = FileHandle(forReadingAtPath: source.path(of: hash)) else {
                guard let key else { throw BackupError.source(path: source.path(of: hash), reason: "the file of uploaded model \(hash) is missing") }
                try copy.write { db in try db.execute(sql: "DELETE FROM checkpoints WHERE run_key = ?", arguments: [key]) }
                report.droppedCheckpoints.append(key)
                continue
            }
            defer { try? file.close() }
            let upload = try destination.beginUpload()
            do {
                while let chunk = try file.read(upToCount: 1 << 20), !chunk.isEmpty {
                    try chunk.withUnsafeBytes { try upload.write($0) }
                }
                let written = try upload.commit()
                guard written == hash else {
                    try? destination.remove(written)
                    throw BackupError.source(path: source.path(of: hash), reason: "contents do not match their SHA-256 (\(written))")
                }
            } catch {
                upload.abort()
                throw error
            }
            copied.insert(hash)
            report.artifactFiles += 1
            report.artifactBytes += size
        }
    }
}

/// Why a backup failed, naming the file.
public enum BackupError: Error, CustomStringConvertible {
    case source(path: String, reason: String)
    case destination(path: String, reason: String)
    case check(reason: String)

    public var description: String {
        switch self {
        case let .source(path, reason): "\(path): \(reason)"
        case let .destination(path, reason): "\(path): \(reason)"
        case let .check(reason): "the copy failed its check: \(reason)"
        }
    }
}
