import Testing
import Tensors
@testable import NeuralNet

/// Each convolution with the [N, C, H, W] it sees at the architecture's default input, in order of
/// creation (a residual's body before its shortcut, both fed the block's input).
func convolutionInputs(_ network: Network) throws -> [(conv: Conv2d, input: [Int])] {
    var found: [(conv: Conv2d, input: [Int])] = []
    func visit(_ layer: any Layer, _ shape: [Int]) throws -> [Int] {
        if let sequential = layer as? Sequential { return try sequential.layers.reduce(shape) { try visit($1, $0) } }
        if let residual = layer as? Residual {
            let out = try visit(residual.body, shape)
            if let shortcut = residual.shortcut { _ = try visit(shortcut, shape) }
            return out
        }
        if let conv = layer as? Conv2d { found.append((conv, shape)) }
        return try layer.outputShape(for: shape)
    }
    _ = try visit(network.body, [1] + network.inputShape)
    return found
}

@Suite("ModelZoo padding conventions")
struct ModelZooPaddingTests {
    /// TensorFlow "same" on even inputs: a stride-2 3×3 window needs one pixel of padding in total
    /// ((out − 1)·2 + 3 − in = 1), and TensorFlow puts it bottom/right.
    @Test func resnet18StridedConvsPadOnlyBottomRight() throws {
        let network = try ModelZoo.make("resnet18")
        let convs = try convolutionInputs(network)
        #expect(convs.count == 20)
        let strided3x3 = convs.filter { $0.conv.kernelSize == (3, 3) && $0.conv.stride == (2, 2) }
        #expect(strided3x3.map { $0.input[2] } == [64, 32, 16])
        #expect(strided3x3.map { $0.input[1] } == [64, 128, 256])
        for (conv, input) in strided3x3 {
            let g = try conv.geometry(for: input)
            #expect(g.padTop == 0 && g.padLeft == 0 && g.padBottom == 1 && g.padRight == 1, "\(conv.description) on \(input): \(g)")
            #expect(g.outHeight == input[2] / 2 && g.outWidth == input[3] / 2)
        }
        for (conv, input) in convs where conv.kernelSize == (3, 3) && conv.stride == (1, 1) {
            let g = try conv.geometry(for: input)
            #expect(g.padTop == 1 && g.padLeft == 1 && g.padBottom == 1 && g.padRight == 1, "\(conv.description) on \(input): \(g)")
            #expect(g.outHeight == input[2] && g.outWidth == input[3])
        }
        let projections = convs.filter { $0.conv.kernelSize == (1, 1) }
        #expect(projections.count == 3)
        for (conv, input) in projections {
            let g = try conv.geometry(for: input)
            #expect(conv.stride == (2, 2))
            #expect(g.padTop == 0 && g.padLeft == 0 && g.padBottom == 0 && g.padRight == 0, "\(conv.description): \(g)")
            #expect(g.outHeight == input[2] / 2)
        }
        // Spatial sizes of the stages on 64×64: 64, 32, 16, 8 (no stem pooling).
        #expect(Set(convs.map { $0.input[2] }) == [64, 32, 16, 8])
        #expect(try network.body.outputShape(for: [1, 3, 64, 64]) == [1, 200])
    }

    @Test func resnet20StridedConvsPadOnlyBottomRight() throws {
        let convs = try convolutionInputs(try ModelZoo.make("resnet20"))
        let strided3x3 = convs.filter { $0.conv.kernelSize == (3, 3) && $0.conv.stride == (2, 2) }
        #expect(strided3x3.map { $0.input[2] } == [32, 16])
        for (conv, input) in strided3x3 {
            let g = try conv.geometry(for: input)
            #expect(g.padTop == 0 && g.padLeft == 0 && g.padBottom == 1 && g.padRight == 1, "\(conv.description): \(g)")
        }
    }

    /// Keras' correct_pad on 224 → 112 → 56 → 28 → 14 → 7: every strided 3×3 sees an even input and
    /// pads (0, 0, 1, 1); stride-1 3×3 (depthwise too) pad 1 everywhere; 1×1 convs none.
    @Test func mobileNetV2Padding() throws {
        let convs = try convolutionInputs(try ModelZoo.make("mobilenetv2"))
        #expect(convs.count == 52)
        let strided = convs.filter { $0.conv.stride == (2, 2) }
        #expect(strided.map { $0.input[2] } == [224, 112, 56, 28, 14])
        for (conv, input) in convs {
            let g = try conv.geometry(for: input)
            let pads = [g.padTop, g.padLeft, g.padBottom, g.padRight]
            switch (conv.kernelSize.height, conv.stride.height) {
            case (3, 2): #expect(pads == [0, 0, 1, 1], "\(conv.description) on \(input)")
            case (3, 1): #expect(pads == [1, 1, 1, 1], "\(conv.description) on \(input)")
            default: #expect(pads == [0, 0, 0, 0], "\(conv.description) on \(input)")
            }
        }
        #expect(convs.last?.input == [1, 320, 7, 7])
    }

    /// Keras ResNet50: ZeroPadding2D(3) before the 7×7/2 stem (224 + 6 → 112), ZeroPadding2D(1)
    /// before the 3×3/2 max pool (112 + 2 → 56); 3×3 convs pad 1.
    @Test func resnet50Padding() throws {
        let network = try ModelZoo.make("resnet50")
        let convs = try convolutionInputs(network)
        let stem = try convs[0].conv.geometry(for: convs[0].input)
        #expect([stem.padTop, stem.padLeft, stem.padBottom, stem.padRight] == [3, 3, 3, 3])
        #expect(stem.outHeight == 112 && stem.outWidth == 112)
        let pool = try #require(network.body.layers.first { $0 is MaxPool2d } as? MaxPool2d)
        let poolGeometry = try pool.geometry(for: [1, 64, 112, 112])
        #expect([poolGeometry.padTop, poolGeometry.padLeft, poolGeometry.padBottom, poolGeometry.padRight] == [1, 1, 1, 1])
        #expect(poolGeometry.outHeight == 56)
        #expect(convs[1].input == [1, 64, 56, 56])
        for (conv, input) in convs.dropFirst() {
            let g = try conv.geometry(for: input)
            let expected = conv.kernelSize.height == 3 ? [1, 1, 1, 1] : [0, 0, 0, 0]
            #expect([g.padTop, g.padLeft, g.padBottom, g.padRight] == expected, "\(conv.description) on \(input)")
        }
        // Stage 4 runs at 7×7; the last conv created is the last block's 1×1 expansion to 2048.
        #expect(convs.last?.input == [1, 512, 7, 7])
        #expect(convs.last?.conv.outChannels == 2048)
    }

    @Test(arguments: ["vgg16", "vgg19"])
    func vggPadsOneEverywhere(arch: String) throws {
        let convs = try convolutionInputs(try ModelZoo.make(arch))
        #expect(Set(convs.map { $0.input[2] }) == [32, 16, 8, 4, 2])
        for (conv, input) in convs {
            let g = try conv.geometry(for: input)
            #expect([g.padTop, g.padLeft, g.padBottom, g.padRight] == [1, 1, 1, 1], "\(conv.description) on \(input)")
        }
    }

    @Test func everyEntryStatesPaddingAndSource() throws {
        #expect(ModelZoo.entries.count == 8)
        for entry in ModelZoo.entries {
            #expect(entry.padding.contains { !$0.isWhitespace }, "\(entry.name)")
            #expect(entry.source.contains { !$0.isWhitespace }, "\(entry.name)")
            #expect(!entry.summary.isEmpty, "\(entry.name)")
            // The network carries its architecture's padding statement.
            #expect(try ModelZoo.make(entry.name).padding == entry.padding, "\(entry.name)")
        }
    }

    /// VGG's five 2×2 pools need at least 32×32: 28×28 (Fashion-MNIST) ends at a 1×1 map before the
    /// last pool, which must be a clear error naming the architecture and the shape.
    @Test(arguments: ["vgg16", "vgg19"])
    func vggRejectsMNISTSizedInput(arch: String) throws {
        let error = try #require(throws: ModelZoo.Error.self) { try ModelZoo.make(arch, inputShape: [1, 28, 28], classes: 10) }
        guard case let .incompatibleInput(architecture, inputShape, reason) = error else {
            Issue.record("wrong error \(error)"); return
        }
        #expect(architecture == arch && inputShape == [1, 28, 28] && !reason.isEmpty)
        #expect(error.description.contains(arch) && error.description.contains("[1, 28, 28]"), "\(error)")
        #expect(!error.description.contains("\n"))
    }

    /// 'same' convolutions never run out of input, but VGG's valid 2×2 pools do (16 → 8 → 4 → 2 → 1 → none).
    @Test(arguments: [("vgg16", [3, 16, 16]), ("mobilenetv2", [3, 224]), ("resnet20", [3, 32]), ("resnet18", [64, 64])])
    func tooSmallOrWrongRankInputIsIncompatible(arch: String, shape: [Int]) throws {
        let error = try #require(throws: ModelZoo.Error.self) { try ModelZoo.make(arch, inputShape: shape) }
        guard case let .incompatibleInput(architecture, inputShape, _) = error else { Issue.record("wrong error \(error)"); return }
        #expect(architecture == arch && inputShape == shape)
    }

    @Test func unknownArchitecture() {
        #expect(throws: ModelZoo.Error.unknownArchitecture("nope")) { try ModelZoo.make("nope") }
        #expect(throws: ModelZoo.Error.unknownArchitecture("VGG16")) { try ModelZoo.entry("VGG16") }
    }
}
