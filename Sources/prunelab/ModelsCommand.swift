import ArgumentParser
import Experiments
import Foundation
import NeuralNet
import ONNX
import Pruning

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
    @Option(help: "Show an ONNX model's prunable weights (the names masks are keyed by) and whether prunelab can train it.")
    var onnx: String?
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

    struct ONNXWeight: Encodable {
        var index: Int
        var name: String
        var shape: [Int]
        var parameters: Int
        var node: String
    }

    struct ONNXDetail: Encodable {
        var file: String
        var producer: String
        var inputShape: [Int]
        var prunableParameters: Int
        var weights: [ONNXWeight]
        /// Whether the engine can train it (chains and residual blocks of the operators it has), and if not, why.
        var trainable: Bool
        var notTrainableBecause: String?
    }

    func run() throws {
        if let onnx {
            guard arch == nil else { throw InvalidOption(option: "--onnx", reason: "name either --arch or --onnx, not both") }
            let model = try ONNXModel(contentsOf: URL(fileURLWithPath: onnx))
            let graph = try ONNXGraph(model: model)
            var reason: String?
            if case let .failure(refusal) = ImportedModels.assess(model) { reason = refusal.reason }
            let weights = graph.weights.enumerated().map { index, weight in
                ONNXWeight(index: index, name: weight.name, shape: weight.shape, parameters: weight.count, node: weight.node)
            }
            let detail = ONNXDetail(file: URL(fileURLWithPath: onnx).lastPathComponent, producer: graph.producer, inputShape: graph.inputShape,
                                    prunableParameters: weights.reduce(0) { $0 + $1.parameters }, weights: weights,
                                    trainable: reason == nil, notTrainableBecause: reason)
            if json { try printJSON(detail); return }
            print("\(detail.file)\(detail.producer.isEmpty ? "" : " (written by \(detail.producer))"): input \(detail.inputShape)")
            let width = max(8, (weights.map(\.name.count).max() ?? 0) + 2)
            print(pad("#", 4) + pad("weight (mask name)", width) + pad("shape", 22) + pad("parameters", 12) + "node")
            for row in weights {
                print(pad("\(row.index)", 4) + pad(row.name, width) + pad("\(row.shape)", 22) + pad("\(row.parameters)", 12) + row.node)
            }
            print("total prunable parameters: \(detail.prunableParameters) in \(weights.count) weights")
            let name = Architecture.importedPrefix + ImportedModels.sha256(of: try Data(contentsOf: URL(fileURLWithPath: onnx), options: .alwaysMapped))
            print(reason.map { "training: no — \($0)" }
                  ?? "training: sweeps can train it as \(name) once it is uploaded (prunelab upload \(onnx))")
            return
        }
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
