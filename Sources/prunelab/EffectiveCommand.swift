import ArgumentParser
import Foundation
import ONNX
import NeuralNet
import Pruning

/// `prunelab effective`: effective sparsity of a mask file.
struct EffectiveCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "effective",
        abstract: "Compute the exact effective masks of a mask file and report direct and effective sparsity.",
        discussion: """
            The npz holds one 0/1 array per prunable layer (bool, uint8 or float), keyed by layer name
            (conv1…, fc1…; see `prunelab models --arch A`) or positionally (arr_0, arr_1, … in canonical
            order); dense layers (out, in), convolutions (out, in/groups, kh, kw).
            With --onnx MODEL the layers are the model's Conv, Gemm and MatMul weights, keyed by their
            names in the model (PyTorch's `layer1.0.conv1.weight`) and shaped as the model declares them:
            save `{name: mask}` with np.savez. A model exported from a network pruned with torch.nn.utils.prune
            (with its parameters) carries its masks: --masks may then be left out.
            A kept weight is effective iff it lies on a path from the input to the output.
            """)

    @OptionGroup var network: NetworkOptions
    @Option(help: "The masks (.npz). With --onnx, optional when the model holds the masks torch.nn.utils.prune put in it.")
    var masks: String?
    @Option(help: "Write the effective masks to this .npz file.")
    var saveEffective: String?
    @Flag(help: "Print one JSON object on stdout.")
    var json = false

    struct Output: Encodable {
        var source: String
        var masks: SparsityFigures
        var saved: String?
    }

    func run() throws {
        try network.check()
        if let saveEffective { try checkWritable(saveEffective, option: "--save-effective") }
        if network.onnx != nil { return try runONNX() }
        guard let masks = self.masks else { throw InvalidOption(option: "--masks", reason: "name the masks file (.npz)") }
        // The network's structure only: its weights are never initialised or read, and masks stay
        // bytes from the file to the report (and to --save-effective).
        let model = try network.makeNetwork()
        let binary = try MaskFile.readBinary(path: masks, network: model)
        let (effectiveMasks, report) = try EffectiveMasks(network: model).compute(binary)
        if let saveEffective { try MaskFile.write(effectiveMasks, network: model, to: saveEffective) }
        try present(SparsityFigures(architecture: network.architecture, inputShape: model.inputShape, report: report), source: masks)
    }

    /// The figures as JSON or as a table, for zoo networks and ONNX models alike.
    private func present(_ figures: SparsityFigures, source: String) throws {
        if json {
            try printJSON(Output(source: source, masks: figures, saved: saveEffective))
        } else {
            print("\(source) on \(figures.architecture) \(figures.inputShape)")
            print(figures.table)
            if let saveEffective { print("effective masks written to \(saveEffective)") }
        }
    }

    /// The same for an ONNX model: masks keyed by its weight names, figures per weight.
    private func runONNX() throws {
        let file = try ONNXModel(contentsOf: URL(fileURLWithPath: network.onnx ?? ""))
        let graph = try ONNXGraph(model: file)
        let source: String, masks: [BinaryMask]
        if let path = self.masks {
            (source, masks) = (path, try MaskFile.readBinary(path: path, layers: graph.weightNames, shapes: graph.weightShapes))
        } else if let embedded = try graph.embeddedMasks(from: file) {
            (source, masks) = ("the masks in the model", embedded)
        } else {
            throw InvalidOption(option: "--masks", reason: "name the masks file (.npz); the model holds no torch.nn.utils.prune masks")
        }
        let (effectiveMasks, report) = try graph.compute(masks)
        if let saveEffective {
            try MaskFile.write(effectiveMasks, layers: graph.weightNames, shapes: graph.weightShapes, to: saveEffective)
        }
        let name = URL(fileURLWithPath: network.onnx ?? "").lastPathComponent
        try present(SparsityFigures(architecture: name, inputShape: graph.inputShape, report: report), source: source)
    }
}
