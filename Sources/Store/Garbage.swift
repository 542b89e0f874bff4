import Foundation
import GRDB

/// What `collectGarbage` found (and removed, unless it was a dry run).
public struct GarbageReport: Sendable, Equatable, Codable {
    /// Checkpoint rows of finished runs nothing needs (and their bytes).
    public var finishedCheckpoints = 0
    public var finishedCheckpointBytes = 0
    /// Files in the artifact store that no row refers to.
    public var orphanFiles = 0
    public var orphanBytes = 0
    /// Uploads that never committed.
    public var abandonedUploads = 0
    public var abandonedBytes = 0
    /// What stays: referenced files and their bytes.
    public var keptFiles = 0
    public var keptBytes = 0

    public init(finishedCheckpoints: Int = 0, finishedCheckpointBytes: Int = 0, orphanFiles: Int = 0, orphanBytes: Int = 0,
                abandonedUploads: Int = 0, abandonedBytes: Int = 0, keptFiles: Int = 0, keptBytes: Int = 0) {
        self.finishedCheckpoints = finishedCheckpoints; self.finishedCheckpointBytes = finishedCheckpointBytes
        self.orphanFiles = orphanFiles; self.orphanBytes = orphanBytes
        self.abandonedUploads = abandonedUploads; self.abandonedBytes = abandonedBytes
        self.keptFiles = keptFiles; self.keptBytes = keptBytes
    }
}

extension Store {
    /// Finds and (unless `dryRun`) removes what nothing references: checkpoints of finished runs
    /// that no waiting child needs, artifact files without a checkpoint row, and uploads abandoned
    /// for longer than `grace` seconds (files younger than `grace` are left alone: an upload may be
    /// between writing its file and recording it). Ends with a truncating WAL checkpoint.
    public func collectGarbage(dryRun: Bool = false, grace: Double = 600) throws -> GarbageReport {
        var report = GarbageReport()
        let finished: [(String, Int)] = try pool.read { db in
            try Row.fetchAll(db, SQLRequest(literal: "SELECT c.sha256, c.size \(Self.finishedCheckpoints)")).map { ($0["sha256"], $0["size"]) }
        }
        report.finishedCheckpoints = finished.count
        report.finishedCheckpointBytes = finished.reduce(0) { $0 + $1.1 }
        if !dryRun {
            let released = try pool.write { db in try Self.dropFinishedCheckpoints(db) }
            try release(released)
        }
        let cutoff = Date().timeIntervalSince1970 - grace
        let goingAway = dryRun ? Set(finished.map(\.0)) : []
        let files = try artifacts.list()
        try pool.write { db in
            // In a write transaction: no checkpoint can be recorded between the look-up and the removal.
            let referenced = Set(try String.fetchAll(db, sql: "SELECT sha256 FROM checkpoints UNION SELECT sha256 FROM models"))
            for file in files where !goingAway.contains(file.sha256) {
                if referenced.contains(file.sha256) {
                    report.keptFiles += 1
                    report.keptBytes += file.size
                } else if file.modified <= cutoff {
                    report.orphanFiles += 1
                    report.orphanBytes += file.size
                    if !dryRun { try artifacts.remove(file.sha256) }
                }
            }
        }
        (report.abandonedUploads, report.abandonedBytes) = try artifacts.abandonedUploads(olderThan: grace, remove: !dryRun)
        if !dryRun { try pool.writeWithoutTransaction { db in try db.execute(sql: "PRAGMA wal_checkpoint(TRUNCATE)") } }
        return report
    }
}
