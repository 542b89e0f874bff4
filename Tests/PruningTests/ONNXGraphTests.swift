import Foundation
import NeuralNet
import ONNX
import PropertyBased
import Tensors
import Testing

@testable import Pruning

/// Fixtures written by scripts/onnx-fixtures.py (the onnx helper) and scripts/export-torch-fixtures.py (PyTorch).
enum ONNXFixtures {
    static let directory = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Fixtures/onnx")

    static func url(_ name: String) -> URL { directory.appendingPathComponent(name) }

    static func graph(_ name: String) throws -> ONNXGraph {
        try ONNXGraph(model: ONNXModel(contentsOf: url(name + ".onnx")))
    }

    /// Random byte masks, each weight kept with probability `density`.
    static func randomMasks(_ shapes: [[Int]], density: Double, seed: Int) -> [BinaryMask] {
        var rng = SelectionTests.SplitMix(seed)
        let threshold = density >= 1 ? UInt64.max : UInt64(density * 0x1p64)
        return shapes.map { shape in
            let mask = BinaryMask(shape: shape)
            for i in 0..<mask.count { mask.bytes[i] = rng.next() < threshold ? 1 : 0 }
            return mask
        }
    }
}

@Suite struct ONNXGraphTests {
    /// The zoo's networks written as ONNX graphs (PyTorch names, weights as inputs, each
    /// architecture's padding convention: explicit pads, SAME_UPPER, Keras' symmetric stem) give
    /// the zoo's effective masks weight for weight.
    @Test(arguments: [("lenet300-100", "lenet300-100"), ("vgg16", "vgg16"), ("resnet20", "resnet20"), ("resnet50", "resnet50")])
    func zooGraphsGiveTheZoosEffectiveMasks(fixture: String, architecture: String) throws {
        let graph = try ONNXFixtures.graph(fixture)
        let network = try ModelZoo.make(architecture)
        let zoo = try EffectiveMasks(network: network)
        #expect(graph.weightShapes == zoo.shapes)
        #expect(graph.inputShape == network.inputShape)
        var sawLoss = false
        for (seed, density) in [0.5, 0.05, 0.01, 0.002].enumerated() {
            let masks = ONNXFixtures.randomMasks(zoo.shapes, density: density, seed: seed)
            let (expected, expectedReport) = try zoo.compute(masks)
            let (got, report) = try graph.compute(masks)
            #expect(got == expected, "\(fixture) at density \(density)")
            #expect(report.layers.map(\.effective) == expectedReport.layers.map(\.effective))
            #expect(report.layers.map(\.kept) == expectedReport.layers.map(\.kept))
            sawLoss = sawLoss || report.effective < report.kept
        }
        // The sparse mask sets disconnect weights, so equality above compares more than copies of the masks.
        #expect(sawLoss)
    }

    @Test func namesAreTheExportersAndLayoutsAreAsDeclared() throws {
        let graph = try ONNXFixtures.graph("resnet20")
        #expect(graph.weightNames.first == "conv1.weight")
        #expect(graph.weightNames.contains("layer2.0.downsample.0.weight"))
        #expect(graph.weights.last == ONNXGraph.Weight(name: "fc.weight", shape: [10, 64], isTransposed: false, node: "node 'fc' (Gemm)"))
        let corners = try ONNXFixtures.graph("corners")
        let head = try #require(corners.weights.first { $0.name == "head.weight" })
        #expect(head.isTransposed && head.shape == [12, 7])
    }

    /// DenseNet- and Inception-style graphs, asymmetric and SAME_LOWER pads, dilations, depthwise
    /// and grouped convolutions, ceil-mode pools, Reshape, MatMul + Add and two outputs: effective
    /// masks equal those of the brute-force path search in scripts/onnx-fixtures.py.
    @Test(arguments: ["densenet-tiny", "inception-tiny", "corners", "two-outputs"])
    func graphsBeyondTheZooMatchTheBruteForceSearch(name: String) throws {
        let graph = try ONNXFixtures.graph(name)
        var lost = 0
        for k in 0..<3 {
            let masks = try MaskFile.readBinary(path: ONNXFixtures.url("\(name)-masks-\(k).npz").path, layers: graph.weightNames,
                                                shapes: graph.weightShapes)
            let expected = try MaskFile.readBinary(path: ONNXFixtures.url("\(name)-effective-\(k).npz").path, layers: graph.weightNames,
                                                   shapes: graph.weightShapes)
            let (got, report) = try graph.compute(masks)
            for (index, weight) in graph.weights.enumerated() {
                #expect(got[index] == expected[index], "\(name) mask set \(k): \(weight.name)")
            }
            #expect(report.effective == expected.reduce(0) { $0 + $1.keptCount })
            #expect(try graph.report(masks).layers == report.layers)
            lost += report.kept - report.effective
        }
        #expect(lost > 0, "the sparse mask sets disconnect some weights")
    }

    /// torchvision's ResNet-18 and MobileNetV2 exported by PyTorch without parameters: every
    /// weight named as PyTorch names it, dense masks fully effective, a pruned stage disconnecting
    /// what lies behind it.
    @Test(arguments: [("resnet18-torchvision", 21, "layer4.1.conv2.weight"), ("mobilenet_v2-torchvision", 53, "features.18.0.weight")])
    func pytorchExportsRead(name: String, weights: Int, named: String) throws {
        let graph = try ONNXFixtures.graph(name)
        #expect(graph.weights.count == weights)
        #expect(graph.weightNames.contains(named))
        #expect(graph.weightNames.last == (name.hasPrefix("resnet") ? "fc.weight" : "classifier.1.weight"))
        #expect(graph.inputShape == [3, 64, 64])
        let dense = graph.weightShapes.map { shape in
            let mask = BinaryMask(shape: shape)
            mask.bytes.update(repeating: 1, count: mask.count)
            return mask
        }
        let report = try graph.report(dense)
        #expect(report.effective == report.kept)
        // Pruning every weight of the first convolution leaves nothing effective.
        dense[0].bytes.update(repeating: 0, count: dense[0].count)
        #expect(try graph.report(dense).effective == 0)
    }

    /// A network pruned with torch.nn.utils.prune exports weight_orig · weight_mask: the graph reads
    /// the weight under its module's name, its mask from the model (equal to what PyTorch saved), and
    /// its values as the product; exported without parameters, the names and shapes still read.
    @Test func torchPruneMasksAreReadFromTheModel() throws {
        let file = try ONNXModel(contentsOf: ONNXFixtures.url("pruned-torch.onnx"))
        let graph = try ONNXGraph(model: file)
        #expect(graph.weightNames == ["0.weight", "3.weight", "6.weight"])
        let embedded = try #require(try graph.embeddedMasks(from: file))
        let saved = try MaskFile.readBinary(path: ONNXFixtures.url("pruned-torch-masks.npz").path, layers: graph.weightNames,
                                            shapes: graph.weightShapes)
        #expect(embedded == saved)
        #expect(embedded[0].keptCount < embedded[0].count && embedded[2].keptCount < embedded[2].count / 5)
        #expect(embedded[1].keptCount == embedded[1].count, "a weight torch did not prune is dense")
        let weights = try #require(graph.initialWeights(from: file))
        for (weight, mask) in zip(weights, embedded) {
            for i in 0..<mask.count where mask.bytes[i] == 0 { #expect(weight[i] == 0) }
        }
        let bare = try ONNXModel(contentsOf: ONNXFixtures.url("pruned-torch-noparams.onnx"))
        let bareGraph = try ONNXGraph(model: bare)
        #expect(bareGraph.weightNames == graph.weightNames && bareGraph.weightShapes == graph.weightShapes)
        #expect { _ = try bareGraph.embeddedMasks(from: bare) } throws: { error in "\(error)".contains("without its values") }
        #expect(try ONNXFixtures.graph("resnet20").embeddedMasks(from: ONNXModel(contentsOf: ONNXFixtures.url("resnet20.onnx"))) == nil)
    }

    @Test func badFilesAreOneClearError() throws {
        #expect { _ = try ONNXModel(contentsOf: ONNXFixtures.url("bad-truncated.onnx")) } throws: { error in
            "\(error)".contains("truncated") || "\(error)".contains("malformed")
        }
        #expect { _ = try ONNXModel(contentsOf: ONNXFixtures.url("bad-cycle.onnx")) } throws: { error in
            "\(error)".contains("cycle")
        }
        #expect { _ = try ONNXFixtures.graph("bad-operator") } throws: { error in
            guard case let ONNXError.unsupportedOperator(node, supported)? = error as? ONNXError else { return false }
            return node == "node 'resize' (Resize)" && supported.contains("Conv")
        }
        #expect { _ = try ONNXFixtures.graph("bad-huge") } throws: { error in "\(error)".contains("2^28") }
        #expect { _ = try ONNXModel(data: Data("not a model at all".utf8)) } throws: { error in error is ONNXError }
        #expect { _ = try ONNXModel(data: Data()) } throws: { error in error is ONNXError }
    }

    @Test func masksWithOtherNamesOrShapesAreRefused() throws {
        let graph = try ONNXFixtures.graph("corners")
        let masks = ONNXFixtures.url("two-outputs-masks-0.npz").path
        #expect { _ = try MaskFile.readBinary(path: masks, layers: graph.weightNames, shapes: graph.weightShapes) } throws: { error in
            "\(error)".contains("unknown array names") && "\(error)".contains("head.weight")
        }
        var wrong = graph.weightShapes.map { ONNXFixtures.randomMasks([$0], density: 1, seed: 0)[0] }
        wrong[0] = BinaryMask(shape: [1, 2, 3])
        #expect(throws: PruningError.maskShape(layer: graph.weightNames[0], expected: graph.weightShapes[0], got: [1, 2, 3])) {
            try graph.report(wrong)
        }
    }

    /// Corrupted files (random bytes flipped, cut or inserted in a real model) and random bytes
    /// are decoded or refused with an error: never a trap, never an unbounded allocation.
    @Test func corruptedFilesNeverTrap() async throws {
        let original = try [UInt8](Data(contentsOf: ONNXFixtures.url("corners.onnx")))
        await propertyCheck(count: 600, input: Gen.int(in: 0...Int(UInt32.max)).array(of: 1...12), Gen.int(in: 0...3)) { edits, mode in
            var bytes = mode == 3 ? edits.map { UInt8(truncatingIfNeeded: $0) } : original
            for edit in edits where !bytes.isEmpty {
                let position = edit % bytes.count, value = UInt8(truncatingIfNeeded: edit >> 8)
                switch mode {
                case 0: bytes[position] = value
                case 1: bytes.insert(value, at: position)
                case 2: bytes.removeSubrange(position..<min(bytes.count, position + 1 + edit % 7))
                default: break
                }
            }
            do {
                let graph = try ONNXGraph(model: ONNXModel(data: Data(bytes)))
                guard graph.weights.reduce(0, { $0 + $1.count }) < 1 << 20 else { return }
                _ = try graph.report(ONNXFixtures.randomMasks(graph.weightShapes, density: 0.5, seed: 1))
            } catch is ONNXError {
            } catch is PruningError {
            } catch {
                Issue.record("unexpected error \(error)")
            }
        }
    }
}

@Suite struct ONNXPruningTests {
    /// SynFlow on the DAG (scale per value) scores what the zoo's path graph (scale per chain link)
    /// scores, for the same weights: log scores agree to float32 precision.
    @Test(arguments: [("vgg16", "vgg16"), ("resnet20", "resnet20")])
    func synflowOnTheGraphScoresLikeTheZoo(fixture: String, architecture: String) throws {
        let graph = try ONNXFixtures.graph(fixture)
        let network = try ModelZoo.make(architecture)
        network.initialize(seed: 3)
        let weights = network.prunableParameters.map(\.value)
        let layout = FlatLayout(shapes: network.prunableParameters.map(\.shape))
        let scratch = layout.shapes.map { Tensor(shape: $0) }
        let none = [Tensor?](repeating: nil, count: weights.count)
        let expected = try Scores.synflowLog(weights, graph: PathGraph(network: network), layout: layout, masks: none, scratch: scratch)
        let got = try Scores.synflowLog(weights, graph: PathDAG(graph.description, backend: CPUBackend.shared), layout: layout,
                                        masks: none, scratch: scratch)
        var worst = 0.0
        for (a, b) in zip(got, expected) where a.isFinite || b.isFinite { worst = max(worst, abs(a - b)) }
        #expect(worst < 1e-3, "largest difference of log scores \(worst)")
        // The scores span many orders of magnitude, so agreement is not an accident of scale.
        let finite = expected.filter(\.isFinite)
        #expect(finite.max()! - finite.min()! > 5)
    }

    /// Random pruning of an imported graph draws exactly the zoo's masks (same shapes, seed and
    /// quota), in both modes: the graph's effective search is the zoo's search.
    @Test(arguments: ["random/igq", "random/erk", "random/uniform"])
    func randomPruningOfTheGraphIsTheZoos(pruner: String) throws {
        let graph = try ONNXFixtures.graph("resnet20")
        let network = try ModelZoo.make("resnet20")
        for mode in PruningMode.allCases {
            let options = PruningOptions(compression: 200, mode: mode, seed: 7)
            let expected = try Pruner(pruner).prune(network, options: options)
            let got = try Pruner(pruner).prune(graph, weights: nil, options: options)
            #expect(got.masks.map(\.array) == expected.masks.map(\.array), "\(pruner) \(mode)")
            #expect(got.report.layers.map(\.effective) == expected.report.layers.map(\.effective))
            #expect(got.report.layers.first?.name == "conv1.weight")
            if mode == .effective { #expect(got.report.effectiveCompression <= 200 && got.report.effectiveCompression > 199) }
        }
    }

    /// Magnitude pruning of a graph with initializers keeps the largest |w| of the file, in the
    /// file's layout (MatMul's (in, out) weight included), checked against a plain sort here.
    @Test func magnitudeRanksTheInitializersInTheirOwnLayout() throws {
        let file = try ONNXModel(contentsOf: ONNXFixtures.url("corners.onnx"))
        let graph = try ONNXGraph(model: file)
        let weights = try #require(graph.initialWeights(from: file))
        let outcome = try Pruner("magnitude/global").prune(graph, weights: weights, options: PruningOptions(compression: 4, seed: 0))
        let all = weights.flatMap(\.array).map(abs).sorted(by: >)
        let keep = outcome.report.kept
        #expect(keep == Int((Double(all.count) / 4).rounded()))
        let threshold = all[keep - 1]
        for (weight, mask) in zip(weights, outcome.masks) {
            #expect(mask.shape == weight.shape)
            for (w, m) in zip(weight.array, mask.array) where abs(w) != threshold { #expect((m != 0) == (abs(w) > threshold)) }
        }
        #expect(graph.weights.contains { $0.isTransposed })
    }

    @Test func prunersThatNeedWhatAGraphLacksAreRefused() throws {
        let graph = try ONNXFixtures.graph("resnet20")
        #expect { _ = try Pruner("snip").prune(graph, weights: nil, options: PruningOptions(compression: 10, seed: 0)) } throws: { error in
            "\(error)".contains("training data")
        }
        #expect { _ = try Pruner("lamp").prune(graph, weights: nil, options: PruningOptions(compression: 10, seed: 0)) } throws: { error in
            "\(error)".contains("export_params=True")
        }
    }
}
