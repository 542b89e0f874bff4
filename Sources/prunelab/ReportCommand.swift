import ArgumentParser
import Foundation
import Service
import Store

/// `prunelab report`: a sweep's results page as static files, straight from the database.
struct ReportCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "report",
        abstract: "Write a sweep's results page as a self-contained static site (no server needed).",
        discussion: """
            Writes DIR/index.html (the page `serve` hosts, its data embedded in data.js and data/), the two plots
            as plot-direct.svg and plot-effective.svg, and the results table as results.csv. Open index.html from
            disk, attach the folder to a paper or publish it on any static host.
            """)

    @Argument(help: "The sweep's id.")
    var sweep: Int64
    @Option(help: "The SQLite database file the server writes.")
    var db: String
    @Option(help: "Folder to write the site into (created when missing).")
    var out: String

    func run() async throws {
        guard FileManager.default.fileExists(atPath: db) else { throw InvalidOption(option: "--db", reason: "\(db) does not exist") }
        let store = try Store(path: db)
        let directory = URL(fileURLWithPath: out).standardizedFileURL
        let summary: ResultsReport.Summary
        do {
            summary = try await ResultsReport.write(store: store, sweep: sweep, to: directory)
        } catch ResultsReport.ReportError.unknownSweep(let id) {
            throw InvalidOption(option: "SWEEP", reason: "no sweep \(id) in \(db)")
        }
        print("sweep \(summary.sweep) \(summary.name): \(summary.runs) runs, \(summary.files.count) files written to \(directory.path)")
        print("open \(directory.appendingPathComponent("index.html").path)")
    }
}
