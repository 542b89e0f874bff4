import ArgumentParser
import Experiments
import Foundation
import Store

/// `prunelab gc`: what nothing references in a database's artifact store, reported and removed.
struct GarbageCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "gc",
        abstract: "Report and remove what nothing references: checkpoints of finished runs, orphaned artifact files, abandoned uploads.",
        discussion: """
            Safe beside a running server: a checkpoint is recorded in the same transaction that looks for \
            references, and files younger than --grace seconds are left alone (an upload may be between its \
            file and its row). serve does the same at start-up. Ends with a truncating WAL checkpoint.
            """)

    @Option(help: "The SQLite database file.")
    var db: String
    @Option(help: "Folder of the artifact store (default: the database's path + .artifacts).")
    var artifacts: String?
    @Option(help: "Leave files younger than this many seconds.")
    var grace: Double = 600
    @Flag(help: "Report what would be removed; remove nothing.")
    var dryRun = false
    @Flag(help: "Print the report as one JSON object.")
    var json = false

    func run() throws {
        guard grace >= 0, grace.isFinite else { throw InvalidOption(option: "--grace", reason: "must be 0 or more seconds, got \(grace)") }
        guard FileManager.default.fileExists(atPath: db) else { throw InvalidOption(option: "--db", reason: "\(db) does not exist") }
        let store = try Store(path: db, artifacts: try artifacts.map { try FileArtifactStore(root: $0) })
        let report = try store.collectGarbage(dryRun: dryRun, grace: grace)
        if json {
            print(String(decoding: try JSONCoding.encoder().encode(report), as: UTF8.self))
            return
        }
        let verb = dryRun ? "would remove" : "removed"
        func size(_ bytes: Int) -> String { String(format: "%.1f MB", Double(bytes) / 1e6) }
        print("""
            \(verb): \(report.finishedCheckpoints) checkpoints of finished runs (\(size(report.finishedCheckpointBytes))), \
            \(report.orphanFiles) orphaned files (\(size(report.orphanBytes))), \
            \(report.abandonedUploads) abandoned uploads (\(size(report.abandonedBytes)))
            kept: \(report.keptFiles) referenced files (\(size(report.keptBytes)))
            """)
    }
}
