import ArgumentParser
import Experiments
import Foundation
import NeuralNet
import Pruning

/// `prunelab curve`: direct vs effective compression of a pruner over targets and seeds, no training.
struct CurveCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "curve",
        abstract: "Direct vs effective compression (mean ± std over seeds) of a pruner at several targets, without training.",
        discussion: "A sweep's pre-flight: how far effective compression runs ahead of direct compression.")

    @OptionGroup var network: NetworkOptions
    @OptionGroup var prunerOptions: PrunerOptions
    @Option(help: "Comma-separated target compressions, each > 1 (e.g. 10,100,1000).")
    var compressions: String
    @Option(help: "Seeds 0…N−1 per target.")
    var seeds: Int = 3
    @Option(help: "direct or effective pruning at each target.")
    var mode: String = "direct"
    @Flag(help: "Print one JSON object on stdout.")
    var json = false

    struct Point: Encodable {
        var targetCompression: Double
        var directCompression: [Double]
        var effectiveCompression: [Double]
        var directMean: Double, directStd: Double
        var effectiveMean: Double, effectiveStd: Double
    }

    struct Output: Encodable {
        var architecture: String
        var pruner: String
        var mode: String
        var seeds: Int
        var seconds: Double
        var points: [Point]
    }

    func run() throws {
        try network.check()
        let pruner = try prunerOptions.check()
        guard let mode = PruningMode(rawValue: mode) else {
            throw InvalidOption(option: "--mode", reason: "expected direct or effective, got '\(self.mode)'")
        }
        guard seeds >= 1 else { throw InvalidOption(option: "--seeds", reason: "must be at least 1, got \(seeds)") }
        let targets = try compressions.split(separator: ",").map { part -> Double in
            guard let value = Double(part.trimmingCharacters(in: .whitespaces)) else {
                throw InvalidOption(option: "--compressions", reason: "'\(part)' is not a number")
            }
            guard value.isFinite, value > 1 else { throw PruningError.invalidCompression(value) }
            return value
        }
        guard !targets.isEmpty else { throw InvalidOption(option: "--compressions", reason: "give at least one target") }
        let start = monotonicSeconds()
        var direct = Array(repeating: [Double](), count: targets.count), effective = direct
        for seed in 0..<UInt64(seeds) {
            let (model, batches) = try prunerOptions.prepare(network, pruner: pruner, seed: seed)
            let effectiveMasks = try EffectiveMasks(network: model)
            for (index, target) in targets.enumerated() {
                let outcome = try pruner.prune(model, options: PruningOptions(compression: target, mode: mode, seed: seed,
                                                                              rounds: prunerOptions.rounds),
                                               batches: batches, effectiveMasks: effectiveMasks)
                direct[index].append(outcome.report.directCompression)
                effective[index].append(outcome.report.effectiveCompression)
                if !json {
                    printError(String(format: "seed %d target %g×: direct %@, effective %@", seed, target,
                                      formatCompression(outcome.report.directCompression),
                                      formatCompression(outcome.report.effectiveCompression)))
                }
            }
        }
        let points = targets.indices.map { i in
            // seeds ≥ 1, so every target has values.
            let directStatistics = SeedStatistics(direct[i]), effectiveStatistics = SeedStatistics(effective[i])
            return Point(targetCompression: targets[i], directCompression: direct[i], effectiveCompression: effective[i],
                         directMean: directStatistics?.mean ?? .nan, directStd: directStatistics?.spread ?? .nan,
                         effectiveMean: effectiveStatistics?.mean ?? .nan, effectiveStd: effectiveStatistics?.spread ?? .nan)
        }
        let seconds = monotonicSeconds() - start
        if json {
            try printJSON(Output(architecture: network.arch, pruner: pruner.name, mode: mode.rawValue, seeds: seeds, seconds: seconds,
                                 points: points))
            return
        }
        print("\(pruner.name) on \(network.arch), \(mode.rawValue) pruning, \(seeds) seed(s), \(String(format: "%.1f", seconds)) s")
        print("target      direct compression        effective compression")
        for p in points {
            let effective = p.effectiveMean.isFinite ? String(format: "%12.2f ± %-10.2f", p.effectiveMean, p.effectiveStd)
                : String(format: "%12@", "∞ (all disconnected in some seed)")
            print(String(format: "%-10g  %10.2f ± %-10.2f  ", p.targetCompression, p.directMean, p.directStd) + effective)
        }
    }
}
