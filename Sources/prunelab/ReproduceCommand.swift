import ArgumentParser
import Experiments
import Foundation

/// `prunelab reproduce`: the paper's direct-vs-effective grid on LeNet-300-100 in one command.
struct ReproduceCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "reproduce",
        abstract: "Run the paper's LeNet-300-100 grid (pruners × compressions × direct/effective × seeds) and print the table.",
        discussion: """
            Every cell is an ordinary run (`prunelab run`) stored under --runs-dir, so an interrupted
            reproduction continues where it stopped and finished cells are reused. Magnitude pruning
            trains its dense parent once per seed.
            """)

    @Option(help: "Directory holding one folder per run key.")
    var runsDir: String = "runs"
    @Option(help: "Architecture.")
    var arch: String = "lenet300-100"
    @Option(help: "Dataset.")
    var dataset: String = "fashion-mnist"
    @Option(help: "Directory holding the dataset files.")
    var dataDir: String?
    @Option(help: "Comma-separated pruners.")
    var pruners: String = "random/uniform,random/erk,random/igq,snip,synflow,magnitude/global"
    @Option(help: "Comma-separated target compressions.")
    var compressions: String = "10,100,1000"
    @Option(help: "Comma-separated modes (direct, effective).")
    var modes: String = "direct,effective"
    @Option(help: "Seeds 0…N−1.")
    var seeds: Int = 3
    @Option(help: "Training epochs per run (a short schedule; the paper trains 160 epochs).")
    var epochs: Int = 2
    @Option(help: "Mini-batch size.")
    var batchSize: Int = 100
    @Flag(help: "Print the table as one JSON object on stdout instead of Markdown.")
    var json = false

    struct Cell: Encodable {
        var pruner: String
        var mode: String
        var targetCompression: Double?
        var runs: Int
        var testAccuracyMean: Double
        var testAccuracyStd: Double
        var directCompressionMean: Double
        var effectiveCompressionMean: Double
        var keys: [String]
    }

    func list(_ text: String, option: String) throws -> [String] {
        let items = text.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
        guard !items.isEmpty else { throw InvalidOption(option: option, reason: "give at least one value") }
        return items
    }

    func run() throws {
        guard seeds >= 1 else { throw InvalidOption(option: "--seeds", reason: "must be at least 1, got \(seeds)") }
        guard epochs >= 1 else { throw InvalidOption(option: "--epochs", reason: "must be at least 1, got \(epochs)") }
        let targets = try list(compressions, option: "--compressions").map { text -> Double in
            guard let value = Double(text) else { throw InvalidOption(option: "--compressions", reason: "'\(text)' is not a number") }
            return value
        }
        let modeList = try list(modes, option: "--modes")
        // Every config is parsed (and so validated) before anything runs.
        var grid: [(pruner: String, mode: String?, target: Double?, configs: [RunConfig])] = []
        func config(_ pruner: String, _ mode: String?, _ target: Double?, _ seed: Int) throws -> RunConfig {
            var object: [String: Any] = [
                "architecture": arch, "dataset": dataset, "pruner": pruner, "seed": seed,
                "training": ["epochs": epochs, "batch_size": batchSize],
            ]
            if let mode { object["mode"] = mode }
            if let target { object["compression"] = target }
            if let dataDir { object["data_dir"] = dataDir }
            return try RunConfig.parse(try JSONSerialization.data(withJSONObject: object))
        }
        grid.append(("dense", nil, nil, try (0..<seeds).map { try config("dense", nil, nil, $0) }))
        for pruner in try list(pruners, option: "--pruners") {
            for target in targets {
                for mode in modeList {
                    grid.append((pruner, mode, target, try (0..<seeds).map { try config(pruner, mode, target, $0) }))
                }
            }
        }
        let store = try RunStore(path: runsDir)
        let total = grid.reduce(0) { $0 + $1.configs.count }
        var done = 0
        let start = Date()
        var cells: [Cell] = []
        for row in grid {
            var results: [RunResult] = []
            for config in row.configs {
                let (result, reused) = try store.execute(config, reporter: SilentReporter())
                done += 1
                printError(String(format: "[%d/%d] %@ %@ seed %d: test accuracy %.2f%%, direct %@, effective %@%@", done, total,
                                  row.pruner, row.target.map { "\(row.mode ?? "direct") \(Int($0))×" } ?? "", Int(config.seed),
                                  100 * result.testAccuracy, formatCompression(result.directCompression),
                                  formatCompression(result.effectiveCompression), reused ? " (reused)" : ""))
                results.append(result)
            }
            let accuracy = SeedStatistics(results.map(\.testAccuracy))
            cells.append(Cell(pruner: row.pruner, mode: row.mode ?? "direct", targetCompression: row.target, runs: results.count,
                              testAccuracyMean: accuracy?.mean ?? .nan, testAccuracyStd: accuracy?.spread ?? .nan,
                              directCompressionMean: SeedStatistics(results.map(\.directCompression))?.mean ?? .nan,
                              effectiveCompressionMean: SeedStatistics(results.map(\.effectiveCompression))?.mean ?? .nan,
                              keys: results.map(\.key)))
        }
        printError(String(format: "prunelab: %d runs in %.0f s", total, Date().timeIntervalSince(start)))
        if json {
            try printJSON(cells)
            return
        }
        print("| pruner | target | mode | direct compression | effective compression | test accuracy (%, mean ± std over \(seeds) seeds) |")
        print("|---|---|---|---|---|---|")
        for cell in cells {
            let target = cell.targetCompression.map { String(format: "%g×", $0) } ?? "—"
            print(String(format: "| %@ | %@ | %@ | %@ | %@ | %.2f ± %.2f |", cell.pruner, target, cell.mode,
                         formatCompression(cell.directCompressionMean), formatCompression(cell.effectiveCompressionMean),
                         100 * cell.testAccuracyMean, 100 * cell.testAccuracyStd))
        }
    }
}
