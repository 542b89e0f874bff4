import Foundation
#if canImport(FoundationXML)
import FoundationXML
#endif
@testable import Service
import Store
import Testing

/// An attribute's value (FoundationXML's attribute(forName:) misses them under a default namespace).
func attribute(_ element: XMLElement, _ name: String) -> String? {
    element.attributes?.first { $0.name == name }?.stringValue
}

/// The sweep plot as a pure function of result rows: aggregation over seeds, log ticks, SVG.
@Suite struct AccuracyPlotTests {
    /// A results row as the store returns it (ResultRow is Codable with its column names).
    static func row(_ pruner: String, mode: String?, target: Double?, seed: Int, accuracy: Double?, direct: Double?, effective: Double?,
                    status: String = "succeeded", architecture: String = "lenet300-100") throws -> ResultRow {
        var object: [String: Any] = ["key": UUID().uuidString, "architecture": architecture, "dataset": "mnist", "pruner": pruner,
                                     "seed": seed, "status": status, "attempts": 1]
        object["mode"] = mode; object["target_compression"] = target; object["test_accuracy"] = accuracy
        object["direct_compression"] = direct; object["effective_compression"] = effective
        return try JSONDecoder().decode(ResultRow.self, from: JSONSerialization.data(withJSONObject: object))
    }

    static func rows() throws -> [ResultRow] {
        [
            try row("dense", mode: nil, target: nil, seed: 0, accuracy: 0.98, direct: 1, effective: 1),
            try row("dense", mode: nil, target: nil, seed: 1, accuracy: 0.96, direct: 1, effective: 1),
            try row("snip", mode: "direct", target: 10, seed: 0, accuracy: 0.90, direct: 10, effective: 12),
            try row("snip", mode: "direct", target: 10, seed: 1, accuracy: 0.92, direct: 10, effective: 27),
            try row("snip", mode: "direct", target: 100, seed: 0, accuracy: 0.50, direct: 100, effective: nil),
            try row("snip", mode: "direct", target: 100, seed: 1, accuracy: 0.60, direct: 100, effective: 400),
            try row("snip", mode: "effective", target: 10, seed: 0, accuracy: 0.93, direct: 8, effective: 10),
            try row("random/erk", mode: "direct", target: 10, seed: 0, accuracy: 0.88, direct: 10, effective: 11),
            try row("random/erk", mode: "direct", target: 100, seed: 0, accuracy: nil, direct: nil, effective: nil, status: "running"),
        ]
    }

    @Test func meansOverSeedsWithSampleStandardDeviationAndGeometricCentres() throws {
        let (series, dense, omitted) = AccuracyPlot.series(try Self.rows(), x: .effective)
        #expect(series.map { "\($0.pruner)|\($0.mode ?? "")" } == ["random/erk|direct", "snip|direct", "snip|effective"])
        let snip = series[1]
        #expect(snip.points.count == 2)
        #expect(abs(snip.points[0].accuracy - 0.91) < 1e-12 && abs(snip.points[0].spread - 0.02.squareRoot() * 0.1) < 1e-12)
        #expect(abs(snip.points[0].compression - 18) < 1e-9, "geometric mean of 12 and 27")
        #expect(snip.points[0].target == 10 && snip.points[0].seeds == 2)
        // The seed with infinite effective compression is left out and counted.
        #expect(snip.points[1].seeds == 1 && abs(snip.points[1].compression - 400) < 1e-9 && omitted == 1)
        #expect(dense.count == 1 && abs(dense[0].points[0].accuracy - 0.97) < 1e-12 && dense[0].points[0].target == nil)
        // On the direct axis the same runs all count.
        #expect(AccuracyPlot.series(try Self.rows(), x: .direct).omitted == 0)
    }

    /// The summary table's groups: one per cell, accuracy over all its seeds, geometric means of
    /// the finite compressions, infinite ones counted.
    @Test func groupsAggregateEachCellOnce() throws {
        let groups = AccuracyPlot.groups(try Self.rows())
        #expect(groups.map { "\($0.pruner)|\($0.mode?.rawValue ?? "")|\($0.target.map { "\($0)" } ?? "-")" }
                == ["dense||-", "random/erk|direct|10.0", "snip|direct|10.0", "snip|direct|100.0", "snip|effective|10.0"])
        let dense = groups[0]
        #expect(dense.runs == 2 && abs(dense.test_accuracy - 0.97) < 1e-12 && abs(dense.test_accuracy_spread - 0.02.squareRoot() * 0.1) < 1e-12)
        let snip10 = groups[2]
        #expect(snip10.runs == 2 && abs((snip10.effective_compression ?? 0) - 18) < 1e-9 && snip10.infinite_effective == 0)
        #expect(abs((snip10.direct_compression ?? 0) - 10) < 1e-9)
        // Both seeds count for the accuracy (0.5 and 0.6), one effective compression is infinite.
        let snip100 = groups[3]
        #expect(snip100.runs == 2 && abs(snip100.test_accuracy - 0.55) < 1e-12 && snip100.infinite_effective == 1)
        #expect(abs((snip100.effective_compression ?? 0) - 400) < 1e-9)
        let single = groups[4]
        #expect(single.runs == 1 && single.test_accuracy_spread == 0 && abs((single.direct_compression ?? 0) - 8) < 1e-9)
    }

    @Test(arguments: [(2.0, 64.0), (1.0, 1000.0), (3.9, 4.1), (10.0, 100_000.0), (1.5, 1.5)])
    func logTicksCoverTheRange(low: Double, high: Double) {
        let ticks = AccuracyPlot.logTicks(low: low, high: high)
        #expect(ticks.count >= 2 && ticks.first! <= low && ticks.last! >= high, "\(ticks)")
        #expect(zip(ticks, ticks.dropFirst()).allSatisfy { $0 < $1 })
    }

    @Test func tickLabels() {
        #expect(AccuracyPlot.tickLabel(2) == "2" && AccuracyPlot.tickLabel(1000) == "1000" && AccuracyPlot.tickLabel(100_000) == "10⁵")
        #expect(AccuracyPlot.tickLabel(2.5) == "2.5" && AccuracyPlot.significant(12.34) == "12.3")
    }

    @Test func svgParsesWithOnePathPerSeriesDashedForEffectiveMode() throws {
        let text = AccuracyPlot.svg(try Self.rows(), x: .direct, title: "sweep 1 <test> & co")
        let document = try XMLDocument(xmlString: text, options: [])
        let root = try #require(document.rootElement())
        #expect(root.name == "svg" && attribute(root, "data-plot") == "direct")
        let paths = try root.nodes(forXPath: "//*[local-name()='path'][@class='series']").compactMap { $0 as? XMLElement }
        #expect(paths.count == 3)
        let dashed = paths.filter { attribute($0, "stroke-dasharray") != nil }.map { attribute($0, "data-mode") }
        #expect(dashed == ["effective"])
        // The same pruner has the same colour in both modes; different pruners differ.
        let colours = Dictionary(grouping: paths, by: { attribute($0, "data-pruner") })
            .mapValues { Set($0.map { attribute($0, "stroke") }) }
        #expect(colours["snip"]?.count == 1 && colours["snip"] != colours["random/erk"])
        let texts = try root.nodes(forXPath: "//*[local-name()='text']").compactMap(\.stringValue)
        #expect(texts.contains("direct compression (log scale)") && texts.contains("test accuracy (%)") && texts.contains("sweep 1 <test> & co"))
        #expect(try root.nodes(forXPath: "//*[@class='reference']").count == 1)
        #expect(try root.nodes(forXPath: "//*[@class='band']").count == 1, "only snip · direct has several points")
    }

    @Test func emptySweepStillDrawsLabelledAxes() throws {
        let text = AccuracyPlot.svg([], x: .effective, title: "empty")
        let root = try #require(try XMLDocument(xmlString: text, options: []).rootElement())
        #expect(try root.nodes(forXPath: "//*[local-name()='path']").isEmpty)
        let texts = try root.nodes(forXPath: "//*[local-name()='text']").compactMap(\.stringValue)
        #expect(texts.contains("no finished runs yet") && texts.contains("effective compression (log scale)"))
    }

    @Test func severalModelsGetTheirNameInTheLegend() throws {
        let rows = [try Self.row("snip", mode: "direct", target: 10, seed: 0, accuracy: 0.9, direct: 10, effective: 10),
                    try Self.row("snip", mode: "direct", target: 10, seed: 0, accuracy: 0.8, direct: 10, effective: 10, architecture: "vgg16")]
        let text = AccuracyPlot.svg(rows, x: .direct, title: "two")
        #expect(text.contains("lenet300-100/mnist snip · direct") && text.contains("vgg16/mnist snip · direct") && text.contains("<rect class=\"point\""))
    }
}

extension AccuracyPlotTests {
    /// Runs that differ in a field the plot does not show (here shuffle) are separate lines.
    @Test func variantsAreSeparateLines() throws {
        let rows = [try Self.row("snip", mode: "direct", target: 10, seed: 0, accuracy: 0.9, direct: 10, effective: 10),
                    try Self.row("snip", mode: "direct", target: 10, seed: 0, accuracy: 0.7, direct: 10, effective: 10)]
        let variants = [rows[0].key: "shuffle=false", rows[1].key: "shuffle=true"]
        let (series, _, _) = AccuracyPlot.series(rows, x: .direct, variants: variants)
        #expect(series.map(\.variant) == ["shuffle=false", "shuffle=true"] && series.map { $0.points[0].accuracy } == [0.9, 0.7])
        #expect(AccuracyPlot.series(rows, x: .direct).series.count == 1, "without variants they average")
        let text = AccuracyPlot.svg(rows, x: .direct, variants: variants, title: "t")
        #expect(text.contains("snip · direct [shuffle=true]") && text.contains("data-variant=\"shuffle=false\""))
    }
}
