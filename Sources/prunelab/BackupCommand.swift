import ArgumentParser
import Foundation
import Store

/// `prunelab backup`: a consistent copy of a live database (and the checkpoints it refers to).
struct BackupCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "backup",
        abstract: "Copy a database, live or not, with SQLite's online backup, and the checkpoint files it refers to.",
        discussion: """
            Safe while serve writes: the copy is one consistent snapshot (a read transaction in WAL mode; \
            writers do not wait). It is written beside --out under a temporary name, checked (PRAGMA \
            integrity_check and foreign_key_check) and renamed into place, so --out is the whole copy or \
            untouched. The checkpoint files its rows name are copied from the artifact store into \
            <out>.artifacts (each verified against its SHA-256); with --no-artifacts only the database is \
            copied, and the runs that would resume or prune from a checkpoint need that folder restored \
            beside the copy (or serve --artifacts pointing at one that holds them). Serve the copy with \
            `prunelab serve --db OUT`: unfinished runs resume from their last checkpoint.
            """)

    @Option(help: "The database to copy (not created, not migrated).")
    var db: String
    @Option(help: "Where the copy goes.")
    var out: String
    @Option(help: "Folder of the live artifact store (default: the database's path + .artifacts).")
    var artifacts: String?
    @Flag(help: "Copy the database only, not the checkpoint files it refers to.")
    var noArtifacts = false
    @Flag(help: "Replace --out when it exists.")
    var force = false

    func run() throws {
        if noArtifacts, artifacts != nil { throw InvalidOption(option: "--artifacts", reason: "cannot be combined with --no-artifacts") }
        let started = Date()
        let report: BackupReport
        do {
            report = try Store.backup(database: db, to: out, artifacts: noArtifacts ? nil : artifacts ?? Store.defaultArtifactsPath(for: db),
                                      replace: force)
        } catch let error as BackupError {
            switch error {
            case .source: throw InvalidOption(option: "--db", reason: error.description)
            case .destination: throw InvalidOption(option: "--out", reason: error.description)
            case .check: throw InvalidOption(option: "--db", reason: error.description)
            }
        }
        func size(_ bytes: Int) -> String { String(format: "%.1f MB", Double(bytes) / 1e6) }
        print("backup \(out): \(size(report.bytes)), \(report.runs) runs, \(report.events) events, schema \(report.migrations.last ?? "none"), "
              + (noArtifacts ? "checkpoint files not copied" : "\(report.artifactFiles) checkpoint files (\(size(report.artifactBytes)))")
              + ", integrity ok, \(String(format: "%.2f", Date().timeIntervalSince(started))) s")
        if !report.droppedCheckpoints.isEmpty {
            printError("prunelab: \(report.droppedCheckpoints.count) checkpoints went from the live store during the copy; those runs start over: "
                       + report.droppedCheckpoints.map { String($0.prefix(12)) }.joined(separator: ", "))
        }
    }
}
