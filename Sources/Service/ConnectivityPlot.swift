import Experiments
import Figures
import Foundation

/// One target of a connectivity curve, over its seeds.
public struct ConnectivityAggregate: Sendable, Equatable {
    public var target: Double
    public var seeds: Int
    /// Mean direct compression (the target, within one weight).
    public var direct: Double
    /// Mean and sample standard deviation of the effective compression over the seeds that keep
    /// something effective; nil when none does.
    public var effective: Double?
    public var effectiveSpread: Double?
    /// Seeds whose network is fully disconnected (nothing effective: infinite effective compression).
    public var disconnected: Int
    /// Seeds with at least one kept weight on no input–output path.
    public var losing: Int
}

/// One curve: an architecture and pruner (with its rounds and scoring data), over targets.
public struct ConnectivitySeries: Sendable, Equatable {
    public var architecture, pruner, dataset: String
    public var rounds: Int
    public var points: [ConnectivityAggregate]

    /// The smallest target at which some seed keeps a weight that is not effective.
    public var firstLoss: Double? { points.first { $0.losing > 0 }?.target }
    /// The smallest target at which every seed is fully disconnected.
    public var fullDisconnection: Double? { points.first { $0.disconnected == $0.seeds }?.target }
    /// The smallest target at which some seed is fully disconnected.
    public var firstDisconnection: Double? { points.first { $0.disconnected > 0 }?.target }
}

/// The paper's effective-vs-direct figures (Vysogorets & Kempe 2023): effective against direct
/// compression of networks pruned at initialisation, one line per pruner, mean ± 1 s.d. over
/// seeds, both axes logarithmic, the diagonal (every kept weight effective) for reference, and
/// the fully disconnected seeds as crosses on a band above the plot.
public enum ConnectivityPlot {
    /// The curves of `points`, sorted by architecture, pruner, data set and rounds; points by target.
    /// Points no pruner makes (nothing kept, more effective than kept weights: a hand-edited row)
    /// are left out, so every direct compression is finite.
    public static func series(_ points: [ConnectivityPoint]) -> [ConnectivitySeries] {
        struct Line: Hashable { var architecture, pruner, dataset: String; var rounds: Int }
        var lines: [Line: [Double: [ConnectivityPoint]]] = [:]
        for point in points where point.total > 0 && point.kept > 0 && point.effective >= 0 && point.effective <= point.kept {
            lines[Line(architecture: point.architecture, pruner: point.pruner, dataset: point.dataset, rounds: point.rounds),
                  default: [:]][point.target, default: []].append(point)
        }
        return lines.map { line, targets in
            ConnectivitySeries(architecture: line.architecture, pruner: line.pruner, dataset: line.dataset, rounds: line.rounds,
                               points: targets.sorted { $0.key < $1.key }.map { target, seeds in
                let connected = seeds.filter { $0.effective > 0 }.map(\.effectiveCompression)
                let statistics = SeedStatistics(connected)
                return ConnectivityAggregate(target: target, seeds: seeds.count,
                                             direct: seeds.map(\.directCompression).reduce(0, +) / Double(seeds.count),
                                             effective: statistics?.mean, effectiveSpread: statistics?.spread,
                                             disconnected: seeds.count - connected.count, losing: seeds.filter { $0.effective < $0.kept }.count)
            })
        }.sorted { [$0.architecture, $0.pruner, $0.dataset, String($0.rounds)].lexicographicallyPrecedes([$1.architecture, $1.pruner, $1.dataset, String($1.rounds)]) }
    }

    /// The points as CSV, one row per point, with both compressions ("inf" when infinite).
    public static func csv(_ points: [ConnectivityPoint]) -> String {
        var text = "architecture,pruner,dataset,rounds,seed,target,total,kept,effective,direct_compression,effective_compression,seconds\r\n"
        for p in points {
            let fields = [p.architecture, p.pruner, p.dataset, String(p.rounds), String(p.seed), number(p.target), String(p.total), String(p.kept),
                          String(p.effective), number(p.directCompression), number(p.effectiveCompression), String(format: "%.3f", p.seconds)]
            text += fields.map(csvField).joined(separator: ",") + "\r\n"
        }
        return text
    }

    /// The summary as CSV: one row per curve and target, mean ± s.d. over seeds.
    public static func summaryCSV(_ series: [ConnectivitySeries]) -> String {
        var text = "architecture,pruner,dataset,rounds,target,seeds,direct_compression,effective_compression_mean,effective_compression_sd,"
            + "disconnected_seeds,seeds_losing_weights\r\n"
        for line in series {
            for p in line.points {
                let fields = [line.architecture, line.pruner, line.dataset, String(line.rounds), number(p.target), String(p.seeds), number(p.direct),
                              p.effective.map(number) ?? "inf", p.effectiveSpread.map(number) ?? "", String(p.disconnected), String(p.losing)]
                text += fields.map(csvField).joined(separator: ",") + "\r\n"
            }
        }
        return text
    }

    static func number(_ value: Double) -> String {
        value.isFinite ? String(format: "%.6g", value) : (value > 0 ? "inf" : "nan")
    }

    static func csvField(_ text: String) -> String {
        text.contains(where: { ",\"\n\r".contains($0) }) ? "\"" + text.replacingOccurrences(of: "\"", with: "\"\"") + "\"" : text
    }

    /// One architecture's figure as a standalone SVG document.
    public static func svg(_ series: [ConnectivitySeries], title: String) -> String {
        typealias P = AccuracyPlot
        let width = 820.0, height = 480.0
        let left = 72.0, right = width - 250, top = 64.0, bottom = height - 56
        let band = 40.0 // the "disconnected" band above the plot
        let xs = series.flatMap { $0.points.map(\.direct) }.filter { $0.isFinite && $0 > 0 }
        let ys = series.flatMap { $0.points.compactMap { p in p.effective.map { e in [e, e + (p.effectiveSpread ?? 0)] } }.flatMap { $0 } }
            .filter { $0.isFinite && $0 > 0 }
        let xTicks = P.logTicks(low: (xs.min() ?? 10) / 1.15, high: (xs.max() ?? 10_000) * 1.15)
        let yTicks = P.logTicks(low: min(xTicks.first!, (ys.min() ?? 10) / 1.15), high: max(xTicks.last!, (ys.max() ?? 10_000) * 1.15))
        let (x0, x1) = (log(xTicks.first!), log(xTicks.last!)), (y0, y1) = (log(yTicks.first!), log(yTicks.last!))
        func px(_ x: Double) -> Double { left + (log(x) - x0) / (x1 - x0) * (right - left) }
        func py(_ y: Double) -> Double { bottom - (log(max(y, yTicks.first!)) - y0) / (y1 - y0) * (bottom - top) }
        let pruners = Array(Set(series.map(\.pruner))).sorted()
        func colour(_ pruner: String) -> String { palette[(pruners.firstIndex(of: pruner) ?? 0) % palette.count] }
        let f = P.f, escape = P.escape

        let frame = PlotFrame(width: width, height: height, left: left, right: right, top: top, bottom: bottom, title: title, kind: "connectivity")
        var svg = frame.open(xTicks: xTicks, yTicks: yTicks, px: px, py: py, xTick: P.tickLabel, yTick: P.tickLabel,
                             xAxis: "direct compression (log scale)", yAxis: "effective compression (log scale)")
        // The band above the plot where fully disconnected seeds (infinite effective compression) go.
        svg += "<rect class=\"disconnected-band\" x=\"\(f(left))\" y=\"\(f(top - band + 6))\" width=\"\(f(right - left))\" "
            + "height=\"\(f(band - 14))\" fill=\"#f6f0f0\"/>\n"
            + "<text x=\"\(f(left - 6))\" y=\"\(f(top - band / 2 + 3))\" text-anchor=\"end\" font-size=\"10\" fill=\"#a33\">∞</text>\n"
        // The diagonal: effective = direct, every kept weight on a path.
        let lo = max(xTicks.first!, yTicks.first!), hi = min(xTicks.last!, yTicks.last!)
        svg += "<line class=\"diagonal\" x1=\"\(f(px(lo)))\" y1=\"\(f(py(lo)))\" x2=\"\(f(px(hi)))\" y2=\"\(f(py(hi)))\" stroke=\"#999\" "
            + "stroke-dasharray=\"2 3\"><title>effective = direct</title></line>\n"
        if series.isEmpty {
            svg += "<text class=\"empty\" x=\"\(f((left + right) / 2))\" y=\"\(f((top + bottom) / 2))\" text-anchor=\"middle\" fill=\"#777\">"
                + "no points computed yet (prunelab curves --db)</text>\n"
        }
        for (index, line) in series.enumerated() {
            let c = colour(line.pruner)
            svg += "<g class=\"series-group\" data-series=\"\(index)\" data-pruner=\"\(escape(line.pruner))\">\n"
            let connected = line.points.filter { $0.effective != nil }
            if connected.count > 1 {
                let upper = connected.map { "\(f(px($0.direct))),\(f(py($0.effective! + ($0.effectiveSpread ?? 0))))" }
                let lower = connected.reversed().map { "\(f(px($0.direct))),\(f(py(max($0.effective! - ($0.effectiveSpread ?? 0), $0.direct))))" }
                svg += "<path class=\"band\" d=\"M\((upper + lower).joined(separator: "L"))Z\" fill=\"\(c)\" fill-opacity=\"0.15\" stroke=\"none\"/>\n"
                svg += "<path class=\"series\" d=\"M\(connected.map { "\(f(px($0.direct))),\(f(py($0.effective!)))" }.joined(separator: "L"))\" "
                    + "fill=\"none\" stroke=\"\(c)\" stroke-width=\"2\"/>\n"
            }
            for p in line.points {
                var tip = "\(label(line)): direct \(P.significant(p.direct))×, "
                if let effective = p.effective {
                    tip += "effective \(P.significant(effective))×" + (p.seeds > 1 ? " ± \(P.significant(p.effectiveSpread ?? 0))" : "")
                } else {
                    tip += "effective ∞ (nothing effective)"
                }
                tip += " (\(p.seeds) seed\(p.seeds == 1 ? "" : "s")"
                    + (p.disconnected > 0 ? ", \(p.disconnected) fully disconnected" : "") + ")"
                if let effective = p.effective {
                    svg += P.marker(index / palette.count, x: px(p.direct), y: py(effective), colour: c, hollow: p.disconnected > 0, tip: tip) + "\n"
                }
                if p.disconnected > 0 {
                    // Crosses of different lines a little apart in the band.
                    let x: Double = px(p.direct)
                    let y: Double = top - band / 2 + Double(index % 4) * 4 - 6
                    svg += "<path class=\"disconnected\" d=\"M\(f(x - 4)),\(f(y - 4))L\(f(x + 4)),\(f(y + 4))M\(f(x - 4)),\(f(y + 4))L\(f(x + 4)),\(f(y - 4))\" "
                        + "stroke=\"\(c)\" stroke-width=\"2\"><title>\(escape(tip))</title></path>\n"
                }
            }
            svg += "</g>\n"
        }
        svg += "<g class=\"legend\" font-size=\"11\">"
        var y = top + 6
        for (index, line) in series.enumerated() {
            svg += "<g class=\"legend-entry\" data-series=\"\(index)\"><line x1=\"\(f(right + 16))\" x2=\"\(f(right + 44))\" y1=\"\(f(y))\" "
                + "y2=\"\(f(y))\" stroke=\"\(colour(line.pruner))\" stroke-width=\"2\"/>"
                + P.marker(index / palette.count, x: right + 30, y: y, colour: colour(line.pruner), hollow: false, tip: nil)
                + "<text x=\"\(f(right + 50))\" y=\"\(f(y + 4))\">\(escape(label(line)))</text></g>"
            y += 18
        }
        svg += "</g>\n"
        let seeds = Set(series.flatMap { $0.points.map(\.seeds) }).sorted()
        let note = "mean ± 1 s.d. over \(seeds.map(String.init).joined(separator: "/")) seed(s) of the connected networks; "
            + "crosses: fully disconnected seeds; dotted: effective = direct"
        svg += "<text class=\"note\" x=\"\(f(left))\" y=\"\(f(height - 6))\" font-size=\"10\" fill=\"#666\">\(escape(note))</text>\n"
        return svg + "</svg>\n"
    }

    /// One colour per pruner, as in the accuracy plots.
    static let palette = AccuracyPlot.palette

    public static func label(_ line: ConnectivitySeries) -> String {
        var name = line.pruner
        if line.rounds > 1 { name += " (\(line.rounds) rounds)" }
        if !line.dataset.isEmpty { name += " on \(line.dataset)" }
        return name
    }
}
