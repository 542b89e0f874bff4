import Foundation
import Testing
import NeuralNet
@testable import Experiments

/// Runs of an uploaded ONNX model (`"architecture": "onnx:<sha256>"`): the config's forms, and
/// that the engine trains the graph exactly as it trains the zoo network it describes.
@Suite("runs of imported ONNX models")
struct ImportedModelRunTests {
    static let fixtures = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("PruningTests/Fixtures/onnx")

    /// The fixture's bytes and name, made available to `ImportedModels.shared`.
    static func provide(_ file: String) throws -> String {
        let bytes = try Data(contentsOf: fixtures.appendingPathComponent(file))
        let sha256 = ImportedModels.sha256(of: bytes)
        ImportedModels.shared.addSource { $0 == sha256 ? bytes : nil }
        return sha256
    }

    static let training = #""training": {"iterations": 12, "batch_size": 20, "learning_rate": 0.05, "momentum": 0.9, "weight_decay": 0.0001, "lr_drops": [6], "eval_every": 6}"#

    func config(_ architecture: String, _ rest: String = #", "dataset": "synthetic""#) throws -> RunConfig {
        try RunConfig.parse(Data(#"{"architecture": \#(architecture), "pruner": "synflow", "mode": "effective", "compression": 20, "synflow": {"rounds": 4}, \#(Self.training)\#(rest)}"#.utf8))
    }

    func field(_ body: () throws -> RunConfig) -> String? {
        do { _ = try body(); return nil } catch let error as ExperimentsError { return error.field } catch { return "other: \(error)" }
    }

    @Test func bothFormsAreOneRunAndBadNamesAreRefusedByField() throws {
        let sha256 = String(repeating: "ab", count: 32)
        let object = try config(#"{"onnx": "\#(sha256)"}"#), string = try config(#""onnx:\#(sha256)""#)
        #expect(object.key == string.key && object.architecture == "onnx:\(sha256)")
        #expect(String(decoding: object.canonicalJSON, as: UTF8.self).contains(#""architecture":"onnx:\#(sha256)""#))
        #expect(field { try config(#""onnx:\#(sha256.uppercased())""#) } == "architecture")
        #expect(field { try config(#""onnx:abc""#) } == "architecture")
        #expect(field { try config(#"{"onnx": "abc"}"#) } == "architecture.onnx")
        #expect(field { try config(#"{"onnx": 5}"#) } == "architecture.onnx")
        #expect(field { try config(#"{}"#) } == "architecture.onnx")
        #expect(field { try config(#"{"onnx": "\#(sha256)", "file": "x"}"#) } == "architecture.file")
        #expect(field { try config(#"["onnx"]"#) } == "architecture")
        // No default data set or training setup: both are asked for.
        #expect(field { try config(#""onnx:\#(sha256)""#, "") } == "dataset")
        #expect(field {
            try RunConfig.parse(Data(#"{"architecture": "onnx:\#(sha256)", "dataset": "synthetic", "pruner": "dense"}"#.utf8))
        }?.hasPrefix("training.") == true)
    }

    /// LeNet-300-100 written as an ONNX graph and the zoo's LeNet-300-100: the same seed makes
    /// the same initial weights, masks and training, so the runs agree — layer names aside, which
    /// are the graph's.
    @Test func anImportedLeNetTrainsAsTheZoosDoes() throws {
        let sha256 = try Self.provide("lenet300-100.onnx")
        let imported = try RunExecutor(config: try config(#""onnx:\#(sha256)""#)).run()
        let zoo = try RunExecutor(config: try config(#""lenet300-100""#)).run()
        #expect(imported.figures.layers.map(\.name) == ["fc1.weight", "fc2.weight", "fc3.weight"])
        #expect(imported.figures.layers.map(\.kept) == zoo.figures.layers.map(\.kept))
        #expect(imported.figures.layers.map(\.effective) == zoo.figures.layers.map(\.effective))
        #expect(abs(imported.figures.effectiveCompression - 20) < 0.05)
        #expect(abs(imported.figures.testLoss - zoo.figures.testLoss) < 1e-4 * max(1, zoo.figures.testLoss), "\(imported.figures.testLoss) vs \(zoo.figures.testLoss)")
        #expect(abs(imported.figures.testAccuracy - zoo.figures.testAccuracy) <= 0.005)
        // Determinism: the same config again is the same run, bit for bit.
        let again = try RunExecutor(config: try config(#""onnx:\#(sha256)""#)).run()
        #expect(again.figures.testLoss == imported.figures.testLoss && again.figures.layers == imported.figures.layers)
        // What the service checks uploads against: the graph's names and shapes.
        let layout = try RunLayout.of(try config(#""onnx:\#(sha256)""#))
        #expect(layout.layers.map(\.name) == ["fc1.weight", "fc2.weight", "fc3.weight"])
        #expect(layout.layers.map(\.shape) == [[300, 784], [100, 300], [10, 100]])
    }

    @Test func aModelNobodyProvidesOrWhoseBytesDifferIsRefused() throws {
        let missing = String(repeating: "0", count: 64)
        #expect(throws: ImportedModels.Failure.unknown(sha256: missing)) { _ = try ImportedModels.shared.trainable(missing) }
        // A source answering other bytes under the name (a corrupt copy) is caught by the hash.
        let claimed = String(repeating: "7", count: 64)
        let bytes = try Data(contentsOf: Self.fixtures.appendingPathComponent("resnet20.onnx"))
        ImportedModels.shared.addSource { $0 == claimed ? bytes : nil }
        #expect(throws: ImportedModels.Failure.corrupt(sha256: claimed, actual: ImportedModels.sha256(of: bytes))) {
            _ = try ImportedModels.shared.trainable(claimed)
        }
        // Data of another shape than the graph takes: refused naming both.
        let sha256 = try Self.provide("resnet20.onnx")
        #expect(throws: ImportedModels.Failure.self) {
            _ = try Architecture.resolve("onnx:\(sha256)").make(inputShape: [1, 28, 28], classes: 10)
        }
    }
}
