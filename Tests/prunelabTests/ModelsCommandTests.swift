import Foundation
import Testing

@Suite("prunelab models and train across the model zoo", .serialized)
struct ModelsCommandTests {
    /// name, input shape, classes, prunable layers, prunable parameters — counted by hand in
    /// Tests/NeuralNetTests/ModelZooShapeTests.swift.
    static let zoo: [(name: String, input: [Int], classes: Int, layers: Int, parameters: Int)] = [
        ("lenet300-100", [1, 28, 28], 10, 3, 266_200),
        ("lenet5", [3, 32, 32], 10, 5, 61_770),
        ("vgg16", [3, 32, 32], 10, 14, 14_715_584),
        ("vgg19", [3, 32, 32], 100, 17, 20_070_080),
        ("resnet18", [3, 64, 64], 200, 21, 11_261_632),
        ("resnet20", [3, 32, 32], 10, 22, 270_896),
        ("resnet50", [3, 224, 224], 1000, 54, 25_502_912),
        ("mobilenetv2", [3, 224, 224], 1000, 53, 3_469_760),
    ]

    /// ResNet-18 on TinyImageNet, written out by hand: stem, four stages of two basic blocks, the
    /// 1×1 projection after the second conv of each strided block, dense.
    static let resnet18Shapes: [[Int]] = [
        [64, 3, 3, 3],
        [64, 64, 3, 3], [64, 64, 3, 3], [64, 64, 3, 3], [64, 64, 3, 3],
        [128, 64, 3, 3], [128, 128, 3, 3], [128, 64, 1, 1], [128, 128, 3, 3], [128, 128, 3, 3],
        [256, 128, 3, 3], [256, 256, 3, 3], [256, 128, 1, 1], [256, 256, 3, 3], [256, 256, 3, 3],
        [512, 256, 3, 3], [512, 512, 3, 3], [512, 256, 1, 1], [512, 512, 3, 3], [512, 512, 3, 3],
        [200, 512],
    ]

    static func ints(_ value: Any?) -> [Int]? { (value as? [Any])?.compactMap { number($0).map(Int.init) } }

    @Test(.timeLimit(.minutes(10)))
    func listsEveryArchitectureAsJSON() throws {
        let run = try PrunelabBinary.run(["models", "--json"], timeout: 90)
        #expect(!run.timedOut && run.status == 0, "\(run)")
        let text = run.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
        #expect(!text.contains("\n"), "one line of JSON: \(run)")
        let list = try #require(try JSONSerialization.jsonObject(with: Data(text.utf8)) as? [[String: Any]], "not an array: \(run)")
        #expect(list.map { $0["name"] as? String ?? "?" } == Self.zoo.map(\.name))
        for (row, want) in zip(list, Self.zoo) {
            #expect(number(row["prunable_parameters"]).map(Int.init) == want.parameters, "\(want.name): \(row)")
            #expect(number(row["prunable_layers"]).map(Int.init) == want.layers, "\(want.name): \(row)")
            #expect(Self.ints(row["input_shape"]) == want.input, "\(want.name): \(row)")
            #expect(number(row["classes"]).map(Int.init) == want.classes, "\(want.name): \(row)")
            for key in ["source", "padding", "summary", "default_dataset"] {
                #expect(!((row[key] as? String) ?? "").isEmpty, "\(want.name) has no \(key)")
            }
        }
    }

    @Test(.timeLimit(.minutes(10)))
    func resnet18LayersAsJSON() throws {
        let run = try PrunelabBinary.run(["models", "--arch", "resnet18", "--json"], timeout: 90)
        #expect(!run.timedOut && run.status == 0, "\(run)")
        let detail = try PrunelabBinary.json(run)
        let model = try #require(detail["model"] as? [String: Any], "no model: \(run)")
        #expect(model["name"] as? String == "resnet18")
        #expect(number(model["prunable_parameters"]) == 11_261_632)
        #expect(Self.ints(model["input_shape"]) == [3, 64, 64])
        let padding = try #require(model["padding"] as? String)
        #expect(padding.contains("bottom/right"), "\(padding)")
        let layers = try #require(detail["layers"] as? [[String: Any]], "no layers: \(run)")
        #expect(layers.count == 21)
        #expect(layers.compactMap { Self.ints($0["weight_shape"]) } == Self.resnet18Shapes)
        #expect(layers.compactMap { number($0["index"]).map(Int.init) } == Array(0..<21))
        for (layer, shape) in zip(layers, Self.resnet18Shapes) {
            #expect(number(layer["parameters"]).map(Int.init) == shape.reduce(1, *), "\(layer)")
        }
        #expect(layers.map { number($0["parameters"]) ?? 0 }.reduce(0, +) == 11_261_632)
        // The strided 3×3 convs say so in their description.
        let described = layers.compactMap { $0["layer"] as? String }
        #expect(described.count == 21 && [5, 10, 15].allSatisfy { described[$0].contains("stride 2") }, "\(described)")
    }

    @Test(.timeLimit(.minutes(10)))
    func resnet18LayersAsText() throws {
        let run = try PrunelabBinary.run(["models", "--arch", "resnet18"], timeout: 90)
        #expect(run.status == 0, "\(run)")
        #expect(run.stdout.contains("total prunable parameters: 11261632 in 21 layers"), "\(run)")
        #expect(run.stdout.contains("padding:") && run.stdout.contains("source:"), "\(run)")
    }

    /// One debug-build epoch on the architecture's synthetic data (2 000 / 500 samples). Debug
    /// timings alone on 2 cores: lenet5 ≈ 1.4 s at batch 100 (≈ 11 s at batch 8: a fixed per-step
    /// cost dominates, so a larger batch is the quick one), resnet20 ≈ 15 s at batch 100 (≈ 110 s at
    /// batch 8), vgg16 ≈ 40 s at batch 100 (≈ 60 s at batch 8; 0.3 GMAC per image, compute-bound).
    /// Next to the rest of the suite a 15 s child process competes with the in-process oneDNN work
    /// for the two cores and stretched the whole run from ~28 s to ~95 s (BadInputTests then hit their
    /// time limits), so resnet20 and vgg16 run only with PRUNELAB_SLOW_TESTS=1; their training steps
    /// are checked in-process by ModelZooTrainingTests.
    @Test(.timeLimit(.minutes(10)), arguments: [("lenet5", 100)])
    func trainsOneSyntheticEpoch(arch: String, batchSize: Int) throws {
        try trainOneEpoch(arch: arch, batchSize: batchSize)
    }

    @Test(.enabled(if: ProcessInfo.processInfo.environment["PRUNELAB_SLOW_TESTS"] == "1", "set PRUNELAB_SLOW_TESTS=1"),
          .timeLimit(.minutes(10)), arguments: [("lenet5", 8), ("resnet20", 100), ("vgg16", 100)])
    func trainsOneSyntheticEpochSlow(arch: String, batchSize: Int) throws {
        try trainOneEpoch(arch: arch, batchSize: batchSize)
    }

    func trainOneEpoch(arch: String, batchSize: Int) throws {
        let run = try PrunelabBinary.run(["train", "--arch", arch, "--dataset", "synthetic", "--epochs", "1",
                                          "--batch-size", "\(batchSize)", "--json"], timeout: 280)
        #expect(!run.timedOut && run.status == 0, "\(run)")
        let report = try PrunelabBinary.json(run)
        let test = try #require(report["test"] as? [String: Any], "no test object: \(run)")
        let loss = try #require(number(test["loss"]))
        #expect(loss.isFinite && loss > 0, "test loss \(loss)")
        let config = try #require(report["config"] as? [String: Any])
        #expect(config["architecture"] as? String == arch)
        #expect(number(config["batch_size"]) == Double(batchSize))
        let expected = Self.zoo.first { $0.name == arch }!.parameters
        #expect(number(report["prunable_parameters"]).map(Int.init) == expected)
        #expect(run.stderrLines.first?.contains(arch) == true, "\(run.stderr)")
    }
}
