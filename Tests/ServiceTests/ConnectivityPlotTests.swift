import Figures
import Foundation
#if canImport(FoundationXML)
import FoundationXML
#endif
@testable import Service
import Store
import Testing

/// Connectivity curves as a pure function of stored points (aggregation over seeds, thresholds,
/// CSV, SVG) and their table in a real SQLite file.
@Suite struct ConnectivityPlotTests {
    static func point(_ pruner: String, seed: Int, target: Double, kept: Int, effective: Int, total: Int = 1000,
                      architecture: String = "lenet5") -> ConnectivityPoint {
        ConnectivityPoint(architecture: architecture, pruner: pruner, seed: seed, target: target, rounds: 1, dataset: "", total: total,
                          kept: kept, effective: effective, seconds: 0.5)
    }

    /// Worked by hand: at 10× the seeds keep 100 weights, 100 and 80 effective (compressions 10
    /// and 12.5: mean 11.25, s.d. √3.125); at 100× 10 kept, 0 and 5 effective (one seed
    /// disconnected, the other 200×); at 1000× nothing effective in either seed.
    static let points = [
        point("random/uniform", seed: 0, target: 10, kept: 100, effective: 100),
        point("random/uniform", seed: 1, target: 10, kept: 100, effective: 80),
        point("random/uniform", seed: 0, target: 100, kept: 10, effective: 0),
        point("random/uniform", seed: 1, target: 100, kept: 10, effective: 5),
        point("random/uniform", seed: 0, target: 1000, kept: 1, effective: 0),
        point("random/uniform", seed: 1, target: 1000, kept: 1, effective: 0),
        point("synflow", seed: 0, target: 10, kept: 100, effective: 100),
        point("synflow", seed: 0, target: 1000, kept: 1, effective: 1),
    ]

    @Test func aggregatesOverSeedsAndFindsTheThresholds() throws {
        let series = ConnectivityPlot.series(Self.points)
        #expect(series.map(\.pruner) == ["random/uniform", "synflow"])
        let uniform = series[0]
        #expect(uniform.points.map(\.target) == [10, 100, 1000])
        #expect(uniform.points.map(\.seeds) == [2, 2, 2])
        #expect(uniform.points.map(\.direct) == [10, 100, 1000])
        #expect(uniform.points[0].effective == 11.25)
        #expect(abs((uniform.points[0].effectiveSpread ?? 0) - 3.125.squareRoot()) < 1e-12)
        #expect(uniform.points[1].effective == 200 && uniform.points[1].effectiveSpread == 0)
        #expect(uniform.points[2].effective == nil && uniform.points[2].effectiveSpread == nil)
        #expect(uniform.points.map(\.disconnected) == [0, 1, 2])
        #expect(uniform.points.map(\.losing) == [1, 2, 2])
        #expect(uniform.firstLoss == 10 && uniform.firstDisconnection == 100 && uniform.fullDisconnection == 1000)
        let synflow = series[1]
        #expect(synflow.firstLoss == nil && synflow.firstDisconnection == nil && synflow.fullDisconnection == nil)
        #expect(synflow.points.map(\.effective) == [10, 1000])
    }

    @Test func csvHasOneRowPerPointAndPerCell() {
        let lines = ConnectivityPlot.csv(Self.points).split(separator: "\r\n")
        #expect(lines.count == 1 + Self.points.count)
        #expect(lines[0].hasPrefix("architecture,pruner,dataset,rounds,seed,target,total,kept,effective"))
        #expect(lines[3] == "lenet5,random/uniform,,1,0,100,1000,10,0,100,inf,0.500")
        let summary = ConnectivityPlot.summaryCSV(ConnectivityPlot.series(Self.points)).split(separator: "\r\n")
        #expect(summary.count == 1 + 5)
        #expect(summary[3] == "lenet5,random/uniform,,1,1000,2,1000,inf,,2,2")
    }

    @Test func svgHasTheDiagonalOneLinePerPrunerAndCrossesForDisconnectedSeeds() throws {
        let svg = ConnectivityPlot.svg(ConnectivityPlot.series(Self.points), title: "lenet5 & co")
        let document = try XMLDocument(data: Data(svg.utf8))
        let root = try #require(document.rootElement())
        #expect(root.name == "svg")
        func elements(_ name: String, class value: String) -> [XMLElement] {
            var found: [XMLElement] = []
            func walk(_ node: XMLElement) {
                if node.name == name, attribute(node, "class") == value { found.append(node) }
                for child in node.children ?? [] { if let element = child as? XMLElement { walk(element) } }
            }
            walk(root)
            return found
        }
        #expect(elements("path", class: "series").count == 2)
        #expect(elements("line", class: "diagonal").count == 1)
        // random/uniform: one seed at 100×, two at 1000× — a cross per target with any.
        #expect(elements("path", class: "disconnected").count == 2)
        #expect(svg.contains("lenet5 &amp; co"))
        #expect(svg.contains("effective compression (log scale)") && svg.contains("direct compression (log scale)"))
        let empty = ConnectivityPlot.svg([], title: "none")
        #expect(empty.contains("no points computed yet"))
    }

    @Test func pointsRoundTripThroughSQLiteAndRefuseImpossibleCounts() throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("prunelab-curves-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let store = try Store(path: directory.appendingPathComponent("db.sqlite").path)
        for point in Self.points { try store.saveConnectivityPoint(point) }
        // The same identity again replaces the row.
        var again = Self.points[1]
        again.seconds = 2
        try store.saveConnectivityPoint(again)
        let read = try store.connectivityPoints()
        #expect(read.count == Self.points.count)
        #expect(Set(read.map(\.identity)) == Set(Self.points.map(\.identity)))
        #expect(read.first { $0.identity == again.identity }?.seconds == 2)
        #expect(try store.connectivityPoints(architecture: "vgg19").isEmpty)
        // More effective than kept weights, or a target of 1, never reaches the table.
        #expect(throws: (any Error).self) { try store.saveConnectivityPoint(Self.point("x", seed: 0, target: 10, kept: 5, effective: 6)) }
        #expect(throws: (any Error).self) { try store.saveConnectivityPoint(Self.point("x", seed: 0, target: 1, kept: 5, effective: 5)) }
        #expect(try store.connectivityPoints().count == Self.points.count)
    }
}
