import ArgumentParser
import Experiments
import Figures
import FileSupport
import Foundation
import NeuralNet
import Pruning
import Service
import Store

/// `prunelab curves`: connectivity curves — effective against direct compression of networks
/// pruned at initialisation, without training — for architectures × pruners × targets × seeds.
struct CurveCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "curves",
        abstract: "Effective vs direct compression (mean ± s.d. over seeds) of networks pruned at initialisation, no training: "
            + "the paper's connectivity figures, as tables, CSV, SVG and rows of the service's database.",
        discussion: """
            Every point prunes a freshly initialised network (seed = initialisation and pruning seed) in direct mode
            and counts its effective weights. By default: every architecture of the zoo, the data-free pruners
            (\(ConnectivityCurves.dataFreePruners.joined(separator: ", "))), 10× to 10⁴× and 3 seeds. Data-dependent
            pruners (snip, grasp, …) need --dataset with the architecture's own input shape (LeNet-300-100 and
            fashion-mnist here).

            --out DIR writes curves.csv (the points), curves-summary.csv (mean ± s.d. per curve and target),
            curves.json and one SVG per architecture (curve-ARCH.svg). --db FILE stores the points in the
            service's database, where GET /api/v1/curves and the results page (#/curves) show them, and skips
            points already stored there: a second invocation computes only what is missing.
            """,
        aliases: ["curve"])

    @Option(help: "Comma-separated architectures, or 'all' (\(ModelZoo.names.joined(separator: ", "))).")
    var arch: String = "all"
    @Option(help: "An ONNX model instead of the zoo's architectures (its points are named FILE#SHA-256 prefix).")
    var onnx: String?
    @Option(help: "Comma-separated pruners (default: the data-free ones).")
    var pruners: String = ConnectivityCurves.dataFreePruners.joined(separator: ",")
    @Option(help: "Comma-separated target direct compressions, each > 1.")
    var compressions: String = ConnectivityCurves.defaultTargets.map { String(format: "%g", $0) }.joined(separator: ",")
    @Option(help: "Seeds 0…N−1 per point.")
    var seeds: Int = 3
    @Option(help: "Rounds of the iterative pruners (synflow, snip/iterative); the paper uses 100.")
    var rounds: Int = 100
    @OptionGroup var data: DataOptions
    @Option(help: "Folder to write curves.csv, curves-summary.csv, curves.json and curve-ARCH.svg into (created when missing).")
    var out: String?
    @Option(help: "The service's SQLite database: store the points there and skip those it holds.")
    var db: String?
    @Flag(help: "Print the points and curves as one JSON object on stdout.")
    var json = false

    func list(_ text: String, option: String) throws -> [String] {
        let items = text.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
        guard !items.isEmpty else { throw InvalidOption(option: option, reason: "give at least one value") }
        return items
    }

    struct Output: Encodable {
        var points: [ConnectivityPoint]
        var curves: [Curve]
        var unreachable: [ConnectivityCurves.Unreachable]
        var seconds: Double
    }

    struct Curve: Encodable {
        var architecture, pruner, dataset: String
        var rounds: Int
        var firstLoss, firstDisconnection, fullDisconnection: Double?
        var points: [Point]
    }

    struct Point: Encodable {
        var target: Double
        var seeds: Int
        var directCompression: Double
        var effectiveMean: Double?
        var effectiveStd: Double?
        var disconnected: Int
        var losing: Int
    }

    func run() throws {
        var architectures = arch == "all" ? ModelZoo.names : try list(arch, option: "--arch")
        var graphs: [String: URL] = [:]
        if let onnx {
            guard arch == "all" else { throw InvalidOption(option: "--onnx", reason: "name either --arch or --onnx, not both") }
            let url = URL(fileURLWithPath: onnx)
            guard FileManager.default.isReadableFile(atPath: url.path) else { throw InvalidOption(option: "--onnx", reason: "cannot read \(onnx)") }
            let name = try ConnectivityCurves.graphName(of: url)
            architectures = [name]
            graphs[name] = url
        }
        for name in architectures where !ModelZoo.names.contains(name) && graphs[name] == nil { throw ModelZoo.Error.unknownArchitecture(name) }
        let prunerNames = try list(pruners, option: "--pruners")
        let targets = try list(compressions, option: "--compressions").map { text -> Double in
            guard let value = Double(text) else { throw InvalidOption(option: "--compressions", reason: "'\(text)' is not a number") }
            guard value.isFinite, value > 1 else { throw InvalidOption(option: "--compressions", reason: "each must exceed 1, got \(text)") }
            return value
        }
        guard (1...1000).contains(seeds) else { throw InvalidOption(option: "--seeds", reason: "must be from 1 to 1000, got \(seeds)") }
        guard (1...10_000).contains(rounds) else { throw InvalidOption(option: "--rounds", reason: "must be from 1 to 10000, got \(rounds)") }
        try data.check()
        let output = try out.map { path -> URL in
            let url = URL(fileURLWithPath: path).standardizedFileURL
            try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
            return url
        }
        var request = ConnectivityCurves.Request(architectures: architectures, pruners: Array(Set(prunerNames)).sorted(), targets: targets,
                                                 seeds: Array(0..<seeds), rounds: rounds)
        request.graphs = graphs
        if let dataset = data.dataset {
            guard graphs.isEmpty else { throw InvalidOption(option: "--dataset", reason: "an ONNX model's curves are data-free") }
            let entry = try ModelZoo.entry(architectures[0])
            request.dataset = (dataset, try data.loadSplits(dataset, entry: entry))
        }
        try ConnectivityCurves.validate(request)

        let store = try db.map { try Store(path: $0) }
        let stored = try store?.connectivityPoints() ?? []
        var points = Dictionary(stored.map { ($0.identity, $0) }, uniquingKeysWith: { a, _ in a })
        let start = monotonicSeconds()
        var skipped: [ConnectivityCurves.Unreachable] = []
        var computed = 0
        try ConnectivityCurves.compute(request, known: Set(points.keys), record: { point in
            try store?.saveConnectivityPoint(point)
            points[point.identity] = point
            computed += 1
            printError(String(format: "%@ %@ seed %d target %g×: kept %d, effective %d (%@ effective compression), %.2f s", point.architecture,
                              point.pruner, point.seed, point.target, point.kept, point.effective,
                              point.effective > 0 ? String(format: "%.4g×", point.effectiveCompression) : "∞", point.seconds))
        }, unreachable: { skipped.append($0) })
        let seconds = monotonicSeconds() - start
        // The request's points: computed now or stored before.
        let prunerList = try request.pruners.map { try Pruner($0) }
        let wanted = request.architectures.flatMap { architecture in
            prunerList.flatMap { pruner in
                request.seeds.flatMap { seed in
                    request.targets.compactMap { points[request.identity(architecture: architecture, pruner: pruner, seed: seed, target: $0)] }
                }
            }
        }
        let series = ConnectivityPlot.series(wanted)
        let curves = series.map { line in
            Curve(architecture: line.architecture, pruner: line.pruner, dataset: line.dataset, rounds: line.rounds, firstLoss: line.firstLoss,
                  firstDisconnection: line.firstDisconnection, fullDisconnection: line.fullDisconnection,
                  points: line.points.map { Point(target: $0.target, seeds: $0.seeds, directCompression: $0.direct, effectiveMean: $0.effective,
                                                  effectiveStd: $0.effectiveSpread, disconnected: $0.disconnected, losing: $0.losing) })
        }
        let result = Output(points: wanted, curves: curves, unreachable: skipped, seconds: seconds)
        if let output {
            try AtomicFile.write(try JSONCoding.encoder().encode(result), to: output.appendingPathComponent("curves.json").path)
            try AtomicFile.write(Data(ConnectivityPlot.csv(wanted).utf8), to: output.appendingPathComponent("curves.csv").path)
            try AtomicFile.write(Data(ConnectivityPlot.summaryCSV(series).utf8), to: output.appendingPathComponent("curves-summary.csv").path)
            for architecture in request.architectures {
                let svg = ConnectivityPlot.svg(series.filter { $0.architecture == architecture },
                                               title: "\(architecture): effective vs direct compression, pruned at initialisation")
                let file = architecture.replacingOccurrences(of: "#", with: "-")
                try AtomicFile.write(Data(svg.utf8), to: output.appendingPathComponent("curve-\(file).svg").path)
            }
        }
        printError(String(format: "prunelab: %d points computed in %.1f s, %d reused%@", computed, seconds, wanted.count - computed,
                          skipped.isEmpty ? "" : ", \(skipped.count) unreachable"))
        if json {
            try printJSON(result)
            return
        }
        for line in series {
            print("\(line.architecture) \(ConnectivityPlot.label(line)): first ineffective weight at \(line.firstLoss.map(describe) ?? "none"), "
                  + "fully disconnected at \(line.fullDisconnection.map(describe) ?? "none")")
            print("  target     direct       effective (mean ± s.d.)     disconnected seeds")
            for p in line.points {
                let effective: String = p.effective.map { String(format: "%10.4g ± %-10.4g", $0, p.effectiveSpread ?? 0) }
                    ?? "∞ (nothing effective)".padding(toLength: 23, withPad: " ", startingAt: 0)
                print(String(format: "  %-9g  %-11.4g  %@     %d of %d", p.target, p.direct, effective, p.disconnected, p.seeds))
            }
        }
        // One line per curve: the targets no seed reaches, and why (the reason of the first).
        var reported = Set<String>()
        for skip in skipped where reported.insert("\(skip.architecture) \(skip.pruner)").inserted {
            let same = skipped.filter { $0.architecture == skip.architecture && $0.pruner == skip.pruner }
            let targets = Array(Set(same.map(\.target))).sorted().map(describe).joined(separator: ", ")
            print("unreachable: \(skip.architecture) \(skip.pruner) at \(targets): \(skip.reason)")
        }
    }

    func describe(_ target: Double) -> String { String(format: "%g×", target) }
}
