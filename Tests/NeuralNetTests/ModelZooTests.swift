import Testing
import Tensors
@testable import NeuralNet

@Suite("ModelZoo architectures")
struct ModelZooTests {
    /// LeNet-5 on 3×32×32: conv 6·3·25 = 450, conv 16·6·25 = 2 400, dense 400·120 = 48 000,
    /// 120·84 = 10 080, 84·10 = 840; 450 + 2 400 + 48 000 + 10 080 + 840 = 61 770.
    @Test func lenet5PrunableWeights() throws {
        let network = try ModelZoo.make("lenet5")
        #expect(network.prunableParameterCount == 61_770)
        #expect(network.prunableParameters.map(\.shape) == [[6, 3, 5, 5], [16, 6, 5, 5], [120, 400], [84, 120], [10, 84]])
        #expect(network.inputShape == [3, 32, 32] && network.classes == 10)
    }

    /// LeNet-300-100: 784·300 = 235 200, 300·100 = 30 000, 100·10 = 1 000; total 266 200.
    @Test func lenet300100PrunableWeights() throws {
        let network = try ModelZoo.make("lenet300-100")
        #expect(network.prunableParameterCount == 266_200)
        #expect(network.prunableParameters.map(\.shape) == [[300, 784], [100, 300], [10, 100]])
        #expect(network.inputShape == [1, 28, 28] && network.classes == 10)
    }

    /// Every parameter in order of creation: Linear weight, bias, then BatchNorm scale, shift, …
    @Test func lenet300100ParametersInOrderOfCreation() throws {
        let network = try ModelZoo.make("lenet300-100")
        let described = network.parameters.map { "\($0.role.rawValue)\($0.shape)" }
        #expect(described == [
            "weight[300, 784]", "bias[300]", "scale[300]", "shift[300]",
            "weight[100, 300]", "bias[100]", "scale[100]", "shift[100]",
            "weight[10, 100]", "bias[10]",
        ])
        #expect(network.buffers.map(\.name) == ["running_mean", "running_variance", "running_mean", "running_variance"])
    }

    @Test func lenet5ParametersInOrderOfCreation() throws {
        let network = try ModelZoo.make("lenet5")
        let described = network.parameters.map { "\($0.role.rawValue)\($0.shape)" }
        #expect(described == [
            "weight[6, 3, 5, 5]", "bias[6]", "scale[6]", "shift[6]",
            "weight[16, 6, 5, 5]", "bias[16]", "scale[16]", "shift[16]",
            "weight[120, 400]", "bias[120]", "scale[120]", "shift[120]",
            "weight[84, 120]", "bias[84]", "scale[84]", "shift[84]",
            "weight[10, 84]", "bias[10]",
        ])
        // Only kernels are prunable and decay.
        for parameter in network.parameters {
            #expect(parameter.isPrunable == (parameter.role == .weight), "\(parameter.name)")
            #expect(parameter.decays == (parameter.role == .weight), "\(parameter.name)")
        }
    }

    /// LeNet-5 on 1×28×28: conv → 24², pool → 12², conv → 8², pool → 4², flatten 16·4·4 = 256;
    /// prunable 150 + 2 400 + 256·120 (30 720) + 10 080 + 840 = 44 190.
    @Test func lenet5OnMNISTSizedInput() throws {
        let network = try ModelZoo.make("lenet5", inputShape: [1, 28, 28], classes: 10)
        #expect(network.prunableParameters.map(\.shape) == [[6, 1, 5, 5], [16, 6, 5, 5], [120, 256], [84, 120], [10, 84]])
        #expect(network.prunableParameterCount == 44_190)
        network.initialize(seed: 1)
        let output = try network.forward(randomTensor([2, 1, 28, 28], seed: 3), training: false)
        #expect(output.shape == [2, 10])
        let values = try CPUBackend.shared.plainValues(of: output)
        let allFinite = values.allSatisfy { $0.isFinite }
        #expect(values.count == 20 && allFinite)
    }

    @Test(arguments: [("lenet300-100", [1, 28, 28], 10, 5), ("lenet5", [3, 32, 32], 10, 3), ("lenet5", [2, 16, 16], 4, 6),
                      ("lenet300-100", [1, 8, 8], 4, 7)])
    func outputIsBatchByClasses(arch: String, inputShape: [Int], classes: Int, batch: Int) throws {
        let network = try ModelZoo.make(arch, inputShape: inputShape, classes: classes)
        network.initialize(seed: 2)
        for training in [true, false] {
            let output = try network.forward(randomTensor([batch] + inputShape, seed: 4), training: training)
            #expect(output.shape == [batch, classes])
            #expect(try CPUBackend.shared.plainValues(of: output).count == batch * classes)
        }
    }

    @Test func unknownArchitectureNamesTheKnownOnes() {
        do {
            _ = try ModelZoo.make("resnet-1000")
            Issue.record("an unknown architecture was built")
        } catch let error as ModelZoo.Error {
            #expect(error == .unknownArchitecture("resnet-1000"))
            let text = error.description
            #expect(text.contains("resnet-1000"))
            #expect(text.contains("lenet300-100") && text.contains("lenet5"), "\(text)")
        } catch {
            Issue.record("unexpected error \(error)")
        }
    }

    @Test func lenet5RejectsNonImageInput() throws {
        for shape in [[784], [1, 8, 8]] {
            // [784] is not an image; 8×8 is too small for two valid 5×5 convolutions with pooling.
            let error = try #require(throws: ModelZoo.Error.self) { try ModelZoo.make("lenet5", inputShape: shape) }
            guard case let .incompatibleInput(architecture, inputShape, reason) = error else {
                Issue.record("wrong error \(error)"); continue
            }
            #expect(architecture == "lenet5" && inputShape == shape && !reason.isEmpty)
            #expect(error.description.contains("lenet5") && error.description.contains("\(shape)"), "\(error)")
        }
    }

    @Test func forwardRejectsAWrongSampleShape() throws {
        let network = try ModelZoo.make("lenet300-100", inputShape: [1, 8, 8], classes: 4)
        #expect(throws: LayerError.self) { try network.forward(Tensor(shape: [2, 1, 9, 9]), training: false) }
    }

    /// LeNet-300-100: the dense multiply-adds equal the weight count, 266 200.
    /// LeNet-5 on 3×32×32: conv1 28·28·6 outputs × 3·25 = 4 704 · 75 = 352 800; conv2 10·10·16 × 6·25
    /// = 1 600 · 150 = 240 000; dense 48 000 + 10 080 + 840 = 58 920; total 651 720.
    /// LeNet-5 on 1×28×28: conv1 24·24·6 × 25 = 86 400; conv2 8·8·16 × 150 = 153 600;
    /// dense 30 720 + 10 080 + 840 = 41 640; total 281 640.
    @Test(arguments: [("lenet300-100", [1, 28, 28], 266_200), ("lenet5", [3, 32, 32], 651_720), ("lenet5", [1, 28, 28], 281_640)])
    func multiplyAddsPerSample(arch: String, inputShape: [Int], expected: Int) throws {
        #expect(try ModelZoo.make(arch, inputShape: inputShape, classes: 10).multiplyAddsPerSample() == expected)
    }

    @Test func catalogueNames() {
        #expect(ModelZoo.names == ["lenet300-100", "lenet5", "vgg16", "vgg19", "resnet18", "resnet20", "resnet50", "mobilenetv2"])
        #expect(ModelZoo.entries.map(\.defaultDataset)
                == ["fashion-mnist", "cifar10", "cifar10", "cifar100", "tinyimagenet", "cifar10", "imagenet", "imagenet"])
    }
}
