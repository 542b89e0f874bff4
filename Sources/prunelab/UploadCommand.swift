import ArgumentParser
import Foundation
import OpenAPIRuntime
import Service

/// `prunelab upload`: sends an ONNX model to the server, so that sweeps can train it.
struct UploadCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "upload",
        abstract: "Upload an ONNX model to a running server; sweeps then name it as onnx:<sha256>.",
        discussion: """
            Prints the name run configs use ("architecture": "onnx:<sha256>") and whether the engine
            can train the graph (and if not, why: the node and the reason). Uploading the same file
            again answers the first record.
            """)

    @Argument(help: "The ONNX file (as torch.onnx.export writes it).")
    var model: String
    @Option(help: "What to call the model in listings (default: the file's name).")
    var name: String?
    @OptionGroup var serverOptions: ServerOptions
    @Flag(help: "Print the server's record of the model as JSON.")
    var json = false

    func run() async throws {
        guard let data = FileManager.default.contents(atPath: model) else { throw InvalidOption(option: "model", reason: "cannot read \(model)") }
        let label = name ?? URL(fileURLWithPath: model).lastPathComponent
        let record: Components.Schemas.Model
        switch try await serverOptions.client().uploadModel(query: .init(name: String(label.prefix(200))), body: .binary(HTTPBody(data))) {
        case let .created(created): record = try created.body.json
        case let .ok(ok): record = try ok.body.json
        case let .badRequest(answer): throw ServerRefused("400", try? answer.body.json)
        case let .unauthorized(answer): throw ServerRefused("401", try? answer.body.json)
        case let .forbidden(answer): throw ServerRefused("403", try? answer.body.json)
        case let .contentTooLarge(answer): throw ServerRefused("413", try? answer.body.json)
        case let .unsupportedMediaType(answer): throw ServerRefused("415", try? answer.body.json)
        case let .code507(answer): throw ServerRefused("507", try? answer.body.json)
        case let .undocumented(status, _): throw ServerRefused("\(status)", nil)
        }
        if json {
            try printJSON(record)
        } else {
            let shape = record.input_shape.map(String.init).joined(separator: "×")
            let what = "\(record.prunable_layers) prunable layers, \(record.weights) weights, input \(shape)"
            if let refusal = record.refusal {
                print("\(record.architecture) (\(record.name)): \(what); sweeps cannot train it: \(refusal)")
            } else {
                print("\(record.architecture) (\(record.name)): \(what), \(record.classes.map(String.init) ?? "?") classes; trainable")
            }
        }
    }
}
