import Foundation
import NeuralNet
import ONNX
import Testing
import Tensors

@testable import Pruning

/// Trainable networks from ONNX graphs (`ONNXNetwork`): the zoo's own networks come back layer for
/// layer and compute the same outputs; a small PyTorch model computes what PyTorch computed.
@Suite struct ONNXNetworkTests {
    static func made(_ fixture: String) throws -> (ONNXModel, ONNXNetwork.Made) {
        let model = try ONNXModel(contentsOf: ONNXFixtures.url(fixture + ".onnx"))
        return (model, try ONNXNetwork.make(model, name: fixture))
    }

    /// Random input of `shape` (batch first), reproducible.
    static func input(_ shape: [Int], seed: UInt64) -> Tensor {
        var rng = RandomGenerator(seed: seed)
        let tensor = Tensor(shape: shape)
        for i in 0..<tensor.count { tensor[i] = Float(rng.nextNormal()) }
        return tensor
    }

    @Test(arguments: [("lenet300-100", "lenet300-100"), ("vgg16", "vgg16"), ("resnet20", "resnet20"), ("resnet50", "resnet50")])
    func zooGraphsBecomeTheZoosNetworks(fixture: String, architecture: String) throws {
        let (_, made) = try Self.made(fixture)
        let zoo = try ModelZoo.make(architecture)
        let network = made.network
        #expect(network.parameters.map(\.shape) == zoo.parameters.map(\.shape))
        #expect(network.buffers.map(\.tensor.shape) == zoo.buffers.map(\.tensor.shape))
        #expect(try network.multiplyAddsPerSample() == zoo.multiplyAddsPerSample())
        #expect(made.weightNames.count == zoo.prunableParameters.count)
        #expect(try ONNXFixtures.graph(fixture).weightNames == made.weightNames)
        // The same values in both: the same outputs, in evaluation mode (running statistics) and training mode (batch statistics).
        zoo.initialize(seed: 4)
        for (to, from) in zip(network.parameters, zoo.parameters) { to.value.copy(from: from.value) }
        for (to, from) in zip(network.buffers, zoo.buffers) { to.tensor.copy(from: from.tensor) }
        let batch = architecture == "resnet50" ? 1 : 3
        let x = Self.input([batch] + zoo.inputShape, seed: 9)
        for training in [false, true] {
            let expected = try zoo.forward(x, training: training).array, got = try network.forward(x, training: training).array
            let scale = expected.map(abs).max() ?? 1
            let worst = zip(expected, got).map { abs($0 - $1) }.max() ?? 0
            #expect(worst <= 1e-5 * max(scale, 1), "\(fixture) training \(training): largest difference \(worst) of \(scale)")
        }
    }

    /// PyTorch's forward pass of a small network (ceil-mode max and average pools, a residual block
    /// with an identity shortcut and one with a strided projection, ReLU6, a depthwise convolution
    /// with bias, global pooling, a Linear), exported with its parameters: the engine computes the
    /// same logits from the file's initializers.
    @Test func aPyTorchModelComputesWhatPyTorchComputed() throws {
        let (model, made) = try Self.made("small-torch")
        #expect(try made.loadInitializers(from: model))
        let io = try NPZArchive.read(path: ONNXFixtures.url("small-torch-io.npz").path)
        let input = try #require(io.first { $0.name == "input" }?.array), output = try #require(io.first { $0.name == "output" }?.array)
        let logits = try made.network.forward(Tensor(shape: input.shape, values: input.values), training: false)
        #expect(logits.shape == output.shape)
        let worst = zip(logits.array, output.values).map { abs($0 - $1) }.max() ?? .infinity
        #expect(worst < 1e-4, "largest difference from PyTorch \(worst)")
        #expect(made.weightNames.first == "stem.0.weight" && made.weightNames.last == "head.weight")
    }

    @Test func pytorchExportsWithoutParametersConvertAndKeepTheirInitialisation() throws {
        for (fixture, layers) in [("resnet18-torchvision", 21), ("mobilenet_v2-torchvision", 53)] {
            let (model, made) = try Self.made(fixture)
            #expect(made.weightNames.count == layers && made.network.classes == 10)
            #expect(try made.loadInitializers(from: model) == false)
            let logits = try made.network.forward(Self.input([2, 3, 64, 64], seed: 1), training: true)
            #expect(logits.shape == [2, 10])
        }
    }

    /// Graphs the engine cannot train are refused with the node and the reason, while their
    /// effective masks work.
    @Test(arguments: [("densenet-tiny", "Concat"), ("inception-tiny", "feeds 4 operators"), ("corners", "dilations"), ("two-outputs", "without joining")])
    func graphsBeyondTheEngineAreRefusedForTraining(fixture: String, mentions: String) throws {
        #expect { _ = try Self.made(fixture) } throws: { error in
            guard case let ONNXError.notTrainable(node, reason)? = error as? ONNXError else { return false }
            return "\(node) \(reason)".contains(mentions)
        }
        _ = try ONNXFixtures.graph(fixture)
    }
}
