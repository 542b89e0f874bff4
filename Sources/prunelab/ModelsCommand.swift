import ArgumentParser
import NeuralNet

/// `prunelab models`: the architecture registry, and per-layer shapes of one architecture.
struct ModelsCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "models",
        abstract: "List the architectures (input shape, classes, prunable layers and parameters), or one architecture's layers.",
        discussion: """
            Prunable parameters are the weights of dense and convolution layers (no biases, no BatchNorm).
            Layers are listed in canonical order — the order of creation, which masks follow everywhere:
            input to output; in a residual block the 1×1 projection shortcut comes after the block's
            last body convolution.
            """)

    @Option(help: "Show the prunable layers of one architecture.")
    var arch: String?
    @Flag(help: "Print JSON on stdout.")
    var json = false

    struct Summary: Encodable {
        var name: String
        var inputShape: [Int]
        var classes: Int
        var defaultDataset: String
        var prunableLayers: Int
        var prunableParameters: Int
        var summary: String
        var source: String
        var padding: String
    }

    struct LayerRow: Encodable {
        var index: Int
        var layer: String
        var weightShape: [Int]
        var parameters: Int
    }

    struct Detail: Encodable {
        var model: Summary
        var layers: [LayerRow]
    }

    static func summary(_ entry: ModelZoo.Entry, _ network: Network) -> Summary {
        Summary(name: entry.name, inputShape: entry.inputShape, classes: entry.classes, defaultDataset: entry.defaultDataset,
                prunableLayers: network.prunableParameters.count, prunableParameters: network.prunableParameterCount,
                summary: entry.summary, source: entry.source, padding: entry.padding)
    }

    func run() throws {
        if let arch {
            let entry = try ModelZoo.entry(arch)
            let network = try ModelZoo.make(arch)
            let rows = network.prunableLayers.enumerated().map { index, item in
                LayerRow(index: index, layer: item.layer.description, weightShape: item.weight.shape, parameters: item.weight.count)
            }
            let detail = Detail(model: Self.summary(entry, network), layers: rows)
            if json { try printJSON(detail); return }
            print("\(entry.name): input \(entry.inputShape), \(entry.classes) classes, default dataset \(entry.defaultDataset)")
            print("source: \(entry.source)")
            print("padding: \(entry.padding)")
            print(pad("#", 4) + pad("layer", 44) + pad("weight shape", 22) + "parameters")
            for row in rows {
                print(pad("\(row.index)", 4) + pad(row.layer, 44) + pad("\(row.weightShape)", 22) + "\(row.parameters)")
            }
            print("total prunable parameters: \(network.prunableParameterCount) in \(rows.count) layers")
            return
        }
        let summaries = try ModelZoo.entries.map { Self.summary($0, try ModelZoo.make($0.name)) }
        if json { try printJSON(summaries); return }
        print(pad("architecture", 15) + pad("input", 16) + pad("classes", 9) + pad("dataset", 15) + pad("layers", 8) + "prunable parameters")
        for s in summaries {
            print(pad(s.name, 15) + pad("\(s.inputShape)", 16) + pad("\(s.classes)", 9) + pad(s.defaultDataset, 15)
                  + pad("\(s.prunableLayers)", 8) + "\(s.prunableParameters)")
        }
    }
}

/// `text` left-aligned in a column of `width` characters (at least one space after it). Swift's
/// String(format:) does not pad `%@` on Linux, so tables pad by hand.
func pad(_ text: String, _ width: Int) -> String {
    text.count >= width ? text + " " : text + String(repeating: " ", count: width - text.count)
}
