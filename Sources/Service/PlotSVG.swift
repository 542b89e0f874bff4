import Experiments
import Foundation
import Store

/// Which compression a sweep plot's x axis shows.
public enum CompressionAxis: String, Sendable, CaseIterable {
    case direct, effective

    /// The row's compression on this axis; nil while unfinished or when infinite (nothing kept or
    /// nothing effective: the network is disconnected) — or beyond any network's weight count
    /// (10¹²), which only a hand-edited database could hold: the axis' ticks are then finite.
    func value(_ row: ResultRow) -> Double? {
        let value = self == .direct ? row.directCompression : row.effectiveCompression
        return value.flatMap { $0.isFinite && $0 > 0 && $0 <= 1e12 ? $0 : nil }
    }
}

/// The seeds of one target compression of one series, aggregated.
public struct AccuracyPoint: Sendable, Equatable {
    /// The sweep's target compression (nil for dense runs).
    public var target: Double?
    /// Geometric mean over seeds of the axis' compression (seeds land on slightly different
    /// effective compressions; the geometric mean is the centre on a log axis).
    public var compression: Double
    /// Mean test accuracy over seeds.
    public var accuracy: Double
    /// Sample standard deviation of the test accuracy over seeds (0 for one seed).
    public var spread: Double
    public var seeds: Int
}

/// One line of a sweep plot: a pruner in one mode on one architecture and dataset.
public struct AccuracySeries: Sendable, Equatable {
    public var architecture: String
    public var dataset: String
    public var pruner: String
    public var mode: String?
    /// The other config fields this line's runs share and other runs of the sweep do not
    /// (`Store.runVariants`), e.g. "shuffle=true"; "" when the sweep varies nothing else.
    public var variant: String
    public var points: [AccuracyPoint]
}

/// The paper's key figure (Vysogorets & Kempe 2023, Fig. 1 and 4): test accuracy against direct or
/// effective compression on a log axis, one colour per pruner, solid for direct-mode runs and
/// dashed for effective-mode runs, the mean over seeds with a ± 1 s.d. band; dense runs are a
/// dotted reference line. The page shows this very SVG; its table shows `groups`.
public enum AccuracyPlot {
    /// Tableau 10 and four of Tableau 20's: one colour per pruner (sorted by name) for the paper's
    /// eleven and a few more.
    static let palette = ["#4e79a7", "#f28e2b", "#e15759", "#76b7b2", "#59a14f", "#edc948", "#b07aa1", "#ff9da7", "#9c755f", "#bab0ac",
                          "#499894", "#d37295", "#8cd17d", "#b6992d"]
    static let markers = ["circle", "square", "triangle", "diamond"]

    /// A sweep's succeeded runs (with an accuracy in [0, 1]) by cell: architecture, dataset,
    /// pruner, mode, variant and target compression. The seeds of a cell are what every figure
    /// aggregates. `variants` maps run keys to `Store.runVariants`.
    struct Cell: Hashable, Comparable {
        var architecture, dataset, pruner, mode, variant: String
        /// The target compression (1 for dense runs).
        var target: Double

        var series: [String] { [architecture, dataset, pruner, mode, variant] }
        static func < (a: Self, b: Self) -> Bool {
            a.series == b.series ? a.target < b.target : a.series.lexicographicallyPrecedes(b.series)
        }
    }

    static func cells(_ rows: [ResultRow], variants: [String: String]) -> [Cell: [ResultRow]] {
        var cells: [Cell: [ResultRow]] = [:]
        for row in rows where row.status == .succeeded {
            guard let accuracy = row.testAccuracy, (0...1).contains(accuracy) else { continue }
            let cell = Cell(architecture: row.architecture, dataset: row.dataset, pruner: row.pruner, mode: row.mode ?? "",
                            variant: variants[row.key] ?? "", target: row.targetCompression ?? 1)
            cells[cell, default: []].append(row)
        }
        return cells
    }

    /// Mean over seeds per cell, sorted: the sweep's summary table.
    public static func groups(_ rows: [ResultRow], variants: [String: String] = [:]) -> [Components.Schemas.SeedGroup] {
        cells(rows, variants: variants).sorted { $0.key < $1.key }.compactMap { cell, runs in
            guard let accuracy = SeedStatistics(runs.compactMap(\.testAccuracy)) else { return nil }
            let effective = runs.compactMap { CompressionAxis.effective.value($0) }
            return .init(architecture: cell.architecture, dataset: cell.dataset, pruner: cell.pruner,
                         mode: cell.mode.isEmpty ? nil : .init(rawValue: cell.mode), variant: cell.variant,
                         target: cell.pruner == "dense" ? nil : cell.target, runs: runs.count, test_accuracy: accuracy.mean,
                         test_accuracy_spread: accuracy.spread,
                         direct_compression: SeedStatistics.geometricMean(runs.compactMap { CompressionAxis.direct.value($0) }),
                         effective_compression: SeedStatistics.geometricMean(effective), infinite_effective: runs.count - effective.count)
        }
    }

    /// The lines of the figure on `axis`: one per series of cells (sorted by architecture,
    /// dataset, pruner, mode, variant), one point per target, at the geometric mean of the runs'
    /// compressions, with the mean and spread of their accuracy; the dense references; and how
    /// many finished runs have no finite compression on this axis (left out).
    public static func series(_ rows: [ResultRow], x axis: CompressionAxis, variants: [String: String] = [:])
        -> (series: [AccuracySeries], dense: [AccuracySeries], omitted: Int) {
        var lines: [[String]: [AccuracyPoint]] = [:]
        var omitted = 0
        for (cell, runs) in cells(rows, variants: variants) {
            let placed = runs.filter { axis.value($0) != nil }
            omitted += runs.count - placed.count
            guard let accuracy = SeedStatistics(placed.compactMap(\.testAccuracy)),
                  let centre = SeedStatistics.geometricMean(placed.compactMap { axis.value($0) }) else { continue }
            lines[cell.series, default: []].append(AccuracyPoint(target: cell.pruner == "dense" ? nil : cell.target, compression: centre,
                                                                 accuracy: accuracy.mean, spread: accuracy.spread, seeds: accuracy.seeds))
        }
        var series: [AccuracySeries] = [], dense: [AccuracySeries] = []
        for key in lines.keys.sorted(by: { $0.lexicographicallyPrecedes($1) }) {
            let line = AccuracySeries(architecture: key[0], dataset: key[1], pruner: key[2], mode: key[3].isEmpty ? nil : key[3],
                                      variant: key[4], points: lines[key]!.sorted { $0.compression < $1.compression })
            if line.pruner == "dense" { dense.append(line) } else { series.append(line) }
        }
        return (series, dense, omitted)
    }

    /// The figure as a standalone SVG document.
    public static func svg(_ rows: [ResultRow], x axis: CompressionAxis, variants: [String: String] = [:], title: String) -> String {
        let (series, dense, omitted) = series(rows, x: axis, variants: variants)
        // The plot area is fixed; the canvas grows downwards when the legend (one line per series)
        // needs more room, as the paper's grid of ten pruners × two modes × variants does.
        let width = 820.0, plotHeight = 440.0
        let left = 64.0, right = width - 260, top = 36.0, bottom = plotHeight - 56
        let height = max(plotHeight, top + 6 + 18 * Double(series.count + dense.count) + 16)
        // Colours by pruner, markers by architecture/dataset and variant (when a sweep has several).
        let pruners = Array(Set(series.map(\.pruner))).sorted()
        func colour(_ pruner: String) -> String { palette[(pruners.firstIndex(of: pruner) ?? 0) % palette.count] }
        let models = Array(Set((series + dense).map { "\($0.architecture)/\($0.dataset)" })).sorted()
        let shapes = Array(Set(series.map { "\($0.architecture)/\($0.dataset)|\($0.variant)" })).sorted()
        func model(_ s: AccuracySeries) -> Int { shapes.firstIndex(of: "\(s.architecture)/\(s.dataset)|\(s.variant)") ?? 0 }

        let xs = series.flatMap { $0.points.map(\.compression) }
        let ys = (series + dense).flatMap { $0.points.flatMap { [$0.accuracy - $0.spread, $0.accuracy + $0.spread] } }
        // Margins keep points off the axes: a factor of 1.15 on the log axis, 5 % of the range on the other.
        let xTicks = logTicks(low: (xs.min() ?? 1.15) / 1.15, high: (xs.max() ?? 87) * 1.15)
        let yPad = ((ys.max() ?? 1) - (ys.min() ?? 0)) * 0.05
        let yTicks = linearTicks(low: max(0, (ys.min() ?? 0) - yPad), high: min(1, (ys.max() ?? 1) + yPad))
        let (x0, x1) = (log(xTicks.first!), log(xTicks.last!)), (y0, y1) = (yTicks.first!, yTicks.last!)
        func px(_ x: Double) -> Double { left + (log(x) - x0) / (x1 - x0) * (right - left) }
        func py(_ y: Double) -> Double { bottom - (y - y0) / (y1 - y0) * (bottom - top) }

        let yDigits = yTicks.count > 1 && yTicks[1] - yTicks[0] < 0.0099 ? 1 : 0
        let frame = PlotFrame(width: width, height: height, left: left, right: right, top: top, bottom: bottom, title: title, kind: axis.rawValue)
        var svg = frame.open(xTicks: xTicks, yTicks: yTicks, px: px, py: py, xTick: tickLabel, yTick: { percent($0, digits: yDigits) },
                             xAxis: "\(axis.rawValue) compression (log scale)", yAxis: "test accuracy (%)")
        if series.isEmpty && dense.isEmpty {
            svg += "<text class=\"empty\" x=\"\(f((left + right) / 2))\" y=\"\(f((top + bottom) / 2))\" text-anchor=\"middle\" fill=\"#777\">"
                + "no finished runs yet</text>\n"
        }
        for line in dense {
            let y = py(line.points.map(\.accuracy).reduce(0, +) / Double(line.points.count))
            svg += "<line class=\"reference\" data-pruner=\"dense\" x1=\"\(f(left))\" x2=\"\(f(right))\" y1=\"\(f(y))\" y2=\"\(f(y))\" "
                + "stroke=\"#555\" stroke-dasharray=\"2 3\"><title>\(escape(label(line, models: models.count)))</title></line>\n"
        }
        // Each line with its band and points in a group the legend (and the page) can hide.
        for (index, line) in series.enumerated() {
            svg += "<g class=\"series-group\" data-series=\"\(index)\">\n"
            if line.points.count > 1 {
                // The band: upper edge left to right, lower edge back.
                let upper = line.points.map { "\(f(px($0.compression))),\(f(py(min(y1, $0.accuracy + $0.spread))))" }
                let lower = line.points.reversed().map { "\(f(px($0.compression))),\(f(py(max(y0, $0.accuracy - $0.spread))))" }
                svg += "<path class=\"band\" data-pruner=\"\(escape(line.pruner))\" data-mode=\"\(line.mode ?? "")\" "
                    + "d=\"M\((upper + lower).joined(separator: "L"))Z\" fill=\"\(colour(line.pruner))\" fill-opacity=\"0.15\" stroke=\"none\"/>\n"
            }
            let d = line.points.map { "\(f(px($0.compression))),\(f(py($0.accuracy)))" }.joined(separator: "L")
            svg += "<path class=\"series\" data-pruner=\"\(escape(line.pruner))\" data-mode=\"\(line.mode ?? "")\" "
                + "data-architecture=\"\(escape(line.architecture))\" data-variant=\"\(escape(line.variant))\" d=\"M\(d)\" fill=\"none\" stroke=\"\(colour(line.pruner))\" "
                + "stroke-width=\"2\"\(line.mode == "effective" ? " stroke-dasharray=\"6 4\"" : "")/>\n"
            for point in line.points {
                let tip = "\(label(line, models: models.count)): target \(point.target.map(tickLabel) ?? "–"), "
                    + "\(axis.rawValue) compression \(significant(point.compression)), accuracy \(percent(point.accuracy, digits: 2))%"
                    + (point.seeds > 1 ? " ± \(percent(point.spread, digits: 2)) (\(point.seeds) seeds)" : " (1 seed)")
                svg += marker(model(line), x: px(point.compression), y: py(point.accuracy), colour: colour(line.pruner),
                              hollow: line.mode == "effective", tip: tip) + "\n"
            }
            svg += "</g>\n"
        }
        // The legend: one entry per series, then the dense reference.
        svg += "<g class=\"legend\" font-size=\"11\">"
        var y = top + 6
        for (index, line) in series.enumerated() {
            let dash = line.mode == "effective" ? " stroke-dasharray=\"6 4\"" : ""
            svg += "<g class=\"legend-entry\" data-series=\"\(index)\" data-pruner=\"\(escape(line.pruner))\" data-mode=\"\(line.mode ?? "")\">"
                + "<line x1=\"\(f(right + 16))\" x2=\"\(f(right + 44))\" y1=\"\(f(y))\" y2=\"\(f(y))\" stroke=\"\(colour(line.pruner))\" "
                + "stroke-width=\"2\"\(dash)/>" + marker(model(line), x: right + 30, y: y, colour: colour(line.pruner),
                                                          hollow: line.mode == "effective", tip: nil)
                + "<text x=\"\(f(right + 50))\" y=\"\(f(y + 4))\">\(escape(label(line, models: models.count)))</text></g>"
            y += 18
        }
        for line in dense {
            svg += "<g class=\"legend-entry\" data-pruner=\"dense\"><line x1=\"\(f(right + 16))\" x2=\"\(f(right + 44))\" "
                + "y1=\"\(f(y))\" y2=\"\(f(y))\" stroke=\"#555\" stroke-dasharray=\"2 3\"/>"
                + "<text x=\"\(f(right + 50))\" y=\"\(f(y + 4))\">\(escape(label(line, models: models.count)))</text></g>"
            y += 18
        }
        svg += "</g>\n"
        var notes = ["mean over seeds, band ± 1 s.d.; solid: direct mode, dashed: effective mode"]
        if omitted > 0 { notes.append("\(omitted) finished run\(omitted == 1 ? "" : "s") with infinite \(axis.rawValue) compression not shown") }
        svg += "<text class=\"note\" x=\"\(f(left))\" y=\"\(f(height - 6))\" font-size=\"10\" fill=\"#666\">\(escape(notes.joined(separator: "; ")))</text>\n"
        return svg + "</svg>\n"
    }

    static func label(_ line: AccuracySeries, models: Int) -> String {
        var name = line.pruner == "dense" ? "dense" : "\(line.pruner) · \(line.mode ?? "direct")"
        if !line.variant.isEmpty { name += " [\(line.variant)]" }
        return models > 1 ? "\(line.architecture)/\(line.dataset) \(name)" : name
    }

    static func marker(_ shape: Int, x: Double, y: Double, colour: String, hollow: Bool, tip: String?) -> String {
        let paint = "fill=\"\(hollow ? "#fff" : colour)\" stroke=\"\(colour)\" stroke-width=\"1.5\""
        let title = tip.map { "<title>\(escape($0))</title>" } ?? ""
        let r = 3.5
        switch markers[shape % markers.count] {
        case "square":
            return "<rect class=\"point\" x=\"\(f(x - r))\" y=\"\(f(y - r))\" width=\"\(f(2 * r))\" height=\"\(f(2 * r))\" \(paint)>\(title)</rect>"
        case "triangle":
            return "<polygon class=\"point\" points=\"\(f(x)),\(f(y - r - 1)) \(f(x + r + 1)),\(f(y + r)) \(f(x - r - 1)),\(f(y + r))\" \(paint)>\(title)</polygon>"
        case "diamond":
            return "<polygon class=\"point\" points=\"\(f(x)),\(f(y - r - 1)) \(f(x + r + 1)),\(f(y)) \(f(x)),\(f(y + r + 1)) \(f(x - r - 1)),\(f(y))\" \(paint)>\(title)</polygon>"
        default:
            return "<circle class=\"point\" cx=\"\(f(x))\" cy=\"\(f(y))\" r=\"\(f(r))\" \(paint)>\(title)</circle>"
        }
    }

    /// Ticks of a log axis covering [low, high]: powers of ten over three decades or more, else
    /// 1-2-5 steps, so a sweep over 2…64 still gets several labelled ticks.
    static func logTicks(low: Double, high: Double) -> [Double] {
        var low = max(low, 1e-9), high = max(high, low)
        if high / low < 2 { low /= 1.5; high *= 1.5 }
        let first = floor(log10(low)), last = ceil(log10(high))
        let steps: [Double] = last - first >= 3 ? [1] : [1, 2, 5]
        var ticks: [Double] = []
        var decade = first
        while decade <= last {
            for step in steps { ticks.append(step * pow(10, decade)) }
            decade += 1
        }
        // Keep one tick at or below low and one at or above high.
        let below = ticks.last { $0 <= low * (1 + 1e-9) } ?? ticks.first!
        let above = ticks.first { $0 >= high * (1 - 1e-9) } ?? ticks.last!
        return ticks.filter { $0 >= below && $0 <= above }
    }

    /// Ticks of the accuracy axis: a 1-2-5 step giving about five intervals, within [0, 1].
    static func linearTicks(low: Double, high: Double) -> [Double] {
        var low = low, high = high
        if high - low < 0.02 { low = max(0, low - 0.01); high = min(1, high + 0.01) }
        let raw = (high - low) / 5
        let magnitude = pow(10, floor(log10(raw)))
        let step = [1.0, 2, 5, 10].map { $0 * magnitude }.first { $0 >= raw } ?? 10 * magnitude
        let first = floor(low / step + 1e-9) * step, last = ceil(high / step - 1e-9) * step
        return stride(from: first, through: last + step / 2, by: step).map { ($0 / step).rounded() * step }
    }

    static func tickLabel(_ value: Double) -> String {
        if value >= 1e4 {
            let exponent = Int(log10(value).rounded())
            if abs(pow(10, Double(exponent)) - value) < 1e-6 * value {
                let superscripts: [Character] = ["⁰", "¹", "²", "³", "⁴", "⁵", "⁶", "⁷", "⁸", "⁹"]
                return "10" + String(String(exponent).compactMap { $0.wholeNumberValue.map { superscripts[$0] } })
            }
        }
        return significant(value)
    }

    /// At most three significant digits, no trailing zeros.
    static func significant(_ value: Double) -> String {
        guard value.isFinite, abs(value) < 1e15 else { return String(format: "%.3g", value) }
        if value >= 100 { return String(Int(value.rounded())) }
        var text = String(format: value >= 10 ? "%.1f" : "%.2f", value)
        while text.contains("."), text.hasSuffix("0") { text.removeLast() }
        if text.hasSuffix(".") { text.removeLast() }
        return text
    }

    static func percent(_ value: Double, digits: Int = 0) -> String {
        String(format: "%.\(digits)f", value * 100)
    }

    static func f(_ value: Double) -> String { String(format: "%.1f", value) }

    static func escape(_ text: String) -> String {
        text.replacingOccurrences(of: "&", with: "&amp;").replacingOccurrences(of: "<", with: "&lt;")
            .replacingOccurrences(of: ">", with: "&gt;").replacingOccurrences(of: "\"", with: "&quot;")
    }
}

/// What both figures (accuracy and connectivity) draw first: the document's opening tag with its
/// size and `data-plot` kind, the title, a white background, the grid at the ticks, the axes,
/// the tick labels and the axis labels, for the plot area [left, right] × [top, bottom].
struct PlotFrame {
    var width, height, left, right, top, bottom: Double
    var title: String
    /// The `data-plot` attribute: the axis of an accuracy plot, "connectivity" for a curve.
    var kind: String

    func open(xTicks: [Double], yTicks: [Double], px: (Double) -> Double, py: (Double) -> Double, xTick: (Double) -> String,
              yTick: (Double) -> String, xAxis: String, yAxis: String) -> String {
        let f = AccuracyPlot.f, escape = AccuracyPlot.escape
        var svg = """
            <svg xmlns="http://www.w3.org/2000/svg" width="\(f(width))" height="\(f(height))" viewBox="0 0 \(f(width)) \(f(height))" \
            font-family="DejaVu Sans, Helvetica, Arial, sans-serif" font-size="12" data-plot="\(kind)">
            <title>\(escape(title))</title>
            <rect width="100%" height="100%" fill="#fff"/>
            <text x="\(f(left))" y="20" font-size="14" font-weight="bold">\(escape(title))</text>

            """
        svg += "<g class=\"grid\" stroke=\"#e5e5e5\">"
        for t in xTicks { svg += "<line x1=\"\(f(px(t)))\" x2=\"\(f(px(t)))\" y1=\"\(f(top))\" y2=\"\(f(bottom))\"/>" }
        for t in yTicks { svg += "<line x1=\"\(f(left))\" x2=\"\(f(right))\" y1=\"\(f(py(t)))\" y2=\"\(f(py(t)))\"/>" }
        svg += "</g>\n<g class=\"axes\" stroke=\"#333\">"
        svg += "<line x1=\"\(f(left))\" x2=\"\(f(right))\" y1=\"\(f(bottom))\" y2=\"\(f(bottom))\"/>"
        svg += "<line x1=\"\(f(left))\" x2=\"\(f(left))\" y1=\"\(f(top))\" y2=\"\(f(bottom))\"/></g>\n<g class=\"ticks\" fill=\"#333\">"
        for t in xTicks {
            svg += "<text class=\"x-tick\" x=\"\(f(px(t)))\" y=\"\(f(bottom + 16))\" text-anchor=\"middle\">\(xTick(t))</text>"
        }
        for t in yTicks {
            svg += "<text class=\"y-tick\" x=\"\(f(left - 6))\" y=\"\(f(py(t) + 4))\" text-anchor=\"end\">\(yTick(t))</text>"
        }
        svg += "</g>\n"
        svg += "<text class=\"axis-label x\" x=\"\(f((left + right) / 2))\" y=\"\(f(bottom + 38))\" text-anchor=\"middle\">\(escape(xAxis))</text>\n"
        svg += "<text class=\"axis-label y\" transform=\"translate(16 \(f((top + bottom) / 2))) rotate(-90)\" text-anchor=\"middle\">"
            + "\(escape(yAxis))</text>\n"
        return svg
    }
}
