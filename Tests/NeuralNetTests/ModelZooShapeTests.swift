import Testing
import Tensors
@testable import NeuralNet

/// Prunable parameter counts and per-layer weight shapes of the model zoo, against tables written
/// from the papers (`ArchitectureTables`), not from the implementation.
@Suite("ModelZoo layer tables")
struct ModelZooShapeTests {
    struct Pinned: CustomTestStringConvertible, Sendable {
        let arch: String
        let inputShape: [Int]
        let classes: Int
        let prunableParameters: Int
        let layers: Int
        var testDescription: String { arch }
    }

    /// VGG-16 (CIFAR-10), 3×3 convs: 3·64·9 = 1 728; 64·64·9 = 36 864; 64·128·9 = 73 728;
    /// 128·128·9 = 147 456; 128·256·9 = 294 912; 2 × 256·256·9 = 2 × 589 824; 256·512·9 = 1 179 648;
    /// 5 × 512·512·9 = 5 × 2 359 296 = 11 796 480; convs total 14 710 464; dense 512·10 = 5 120;
    /// total 14 715 584 in 14 layers.
    ///
    /// VGG-19 (CIFAR-100): 1 728 + 36 864 + 73 728 + 147 456 + 294 912 + 3 × 589 824 (1 769 472)
    /// + 1 179 648 + 7 × 2 359 296 (16 515 072) = 20 018 880; dense 512·100 = 51 200; total 20 070 080 in 17 layers.
    ///
    /// ResNet-18 (TinyImageNet, 200 classes): stem 3·64·9 = 1 728; stage 1 four 64·64·9 = 147 456;
    /// stage 2 64·128·9 73 728 + three 128·128·9 442 368 + projection 64·128 8 192 = 524 288;
    /// stage 3 128·256·9 294 912 + three 256·256·9 1 769 472 + projection 32 768 = 2 097 152;
    /// stage 4 256·512·9 1 179 648 + three 512·512·9 7 077 888 + projection 131 072 = 8 388 608;
    /// dense 512·200 = 102 400; total 1 728 + 147 456 + 524 288 + 2 097 152 + 8 388 608 + 102 400
    /// = 11 261 632 in 1 + 4 + 5 + 5 + 5 + 1 = 21 layers.
    ///
    /// ResNet-20 (He et al. §4.2, projections on the two stage changes): stem 3·16·9 = 432;
    /// stage 1 six 16·16·9 = 13 824; stage 2 16·32·9 4 608 + five 32·32·9 46 080 + projection 16·32 512
    /// = 51 200; stage 3 32·64·9 18 432 + five 64·64·9 184 320 + projection 32·64 2 048 = 204 800;
    /// dense 64·10 = 640; total 432 + 13 824 + 51 200 + 204 800 + 640 = 270 896 in 1 + 6 + 7 + 7 + 1 = 22 layers.
    ///
    /// ResNet-50 v1 (ImageNet): stem 7·7·3·64 = 9 408.
    /// stage 1 (w 64): first block 64·64 4 096 + 64·64·9 36 864 + 64·256 16 384 + projection 64·256 16 384
    ///   = 73 728; two blocks 256·64 + 36 864 + 64·256 = 69 632 each; stage 212 992.
    /// stage 2 (w 128): first 256·128 32 768 + 147 456 + 128·512 65 536 + projection 256·512 131 072 = 376 832;
    ///   three blocks 512·128 65 536 + 147 456 + 65 536 = 278 528 each (835 584); stage 1 212 416.
    /// stage 3 (w 256): first 512·256 131 072 + 589 824 + 256·1024 262 144 + projection 512·1024 524 288
    ///   = 1 507 328; five blocks 262 144 + 589 824 + 262 144 = 1 114 112 each (5 570 560); stage 7 077 888.
    /// stage 4 (w 512): first 1024·512 524 288 + 2 359 296 + 512·2048 1 048 576 + projection 1024·2048
    ///   2 097 152 = 6 029 312; two blocks 1 048 576 + 2 359 296 + 1 048 576 = 4 456 448 each; stage 14 942 208.
    /// dense 2048·1000 = 2 048 000.
    /// total 9 408 + 212 992 + 1 212 416 + 7 077 888 + 14 942 208 + 2 048 000 = 25 502 912 in
    /// 1 + 10 + 13 + 19 + 10 + 1 = 54 layers.
    /// Cross-check with torchvision's 25 557 032 parameters: BatchNorm channels 64 (stem) + stage 1
    /// 3·(64+64+256) + 256 = 1 408, stage 2 4·768 + 512 = 3 584, stage 3 6·1 536 + 1 024 = 10 240,
    /// stage 4 3·3 072 + 2 048 = 11 264, sum 26 560, times 2 (γ, β) = 53 120; fc bias 1 000;
    /// 25 557 032 − 53 120 − 1 000 = 25 502 912.
    ///
    /// MobileNetV2 (width 1.0, 1000 classes), per block expand in·h + depthwise h·9 + project h·out:
    /// stem 3·32·9 = 864;
    /// (1,16,1,1): no expansion, depthwise 32·9 288 + 32·16 512 = 800;
    /// (6,24,2,2): 16·96 1 536 + 864 + 96·24 2 304 = 4 704; 24·144 3 456 + 1 296 + 3 456 = 8 208; sum 12 912;
    /// (6,32,3,2): 3 456 + 1 296 + 144·32 4 608 = 9 360; 2 × (32·192 6 144 + 1 728 + 6 144 = 14 016); sum 37 392;
    /// (6,64,4,2): 6 144 + 1 728 + 192·64 12 288 = 20 160; 3 × (64·384 24 576 + 3 456 + 24 576 = 52 608); sum 177 984;
    /// (6,96,3,1): 24 576 + 3 456 + 384·96 36 864 = 64 896; 2 × (96·576 55 296 + 5 184 + 55 296 = 115 776); sum 296 448;
    /// (6,160,3,2): 55 296 + 5 184 + 576·160 92 160 = 152 640; 2 × (160·960 153 600 + 8 640 + 153 600 = 315 840);
    ///   sum 784 320;
    /// (6,320,1,1): 153 600 + 8 640 + 960·320 307 200 = 469 440;
    /// last 1×1 320·1280 = 409 600; dense 1280·1000 = 1 280 000.
    /// total 864 + 800 + 12 912 + 37 392 + 177 984 + 296 448 + 784 320 + 469 440 + 409 600 + 1 280 000
    /// = 3 469 760 in 1 + 2 + 16·3 + 1 + 1 = 53 layers.
    /// Cross-check with keras.applications.MobileNetV2: 3 538 984 parameters of which 34 112 are
    /// BatchNorm moving statistics (17 056 channels), so γ, β are another 34 112; fc bias 1 000;
    /// 3 538 984 − 2 · 34 112 − 1 000 = 3 469 760.
    static let pinned: [Pinned] = [
        Pinned(arch: "lenet300-100", inputShape: [1, 28, 28], classes: 10, prunableParameters: 266_200, layers: 3),
        Pinned(arch: "lenet5", inputShape: [3, 32, 32], classes: 10, prunableParameters: 61_770, layers: 5),
        Pinned(arch: "vgg16", inputShape: [3, 32, 32], classes: 10, prunableParameters: 14_715_584, layers: 14),
        Pinned(arch: "vgg19", inputShape: [3, 32, 32], classes: 100, prunableParameters: 20_070_080, layers: 17),
        Pinned(arch: "resnet18", inputShape: [3, 64, 64], classes: 200, prunableParameters: 11_261_632, layers: 21),
        Pinned(arch: "resnet20", inputShape: [3, 32, 32], classes: 10, prunableParameters: 270_896, layers: 22),
        Pinned(arch: "resnet50", inputShape: [3, 224, 224], classes: 1000, prunableParameters: 25_502_912, layers: 54),
        Pinned(arch: "mobilenetv2", inputShape: [3, 224, 224], classes: 1000, prunableParameters: 3_469_760, layers: 53),
    ]

    @Test(arguments: pinned)
    func prunableParameterCount(_ p: Pinned) throws {
        let network = try ModelZoo.make(p.arch)
        #expect(network.inputShape == p.inputShape && network.classes == p.classes)
        #expect(network.prunableParameterCount == p.prunableParameters)
        #expect(network.prunableParameters.count == p.layers)
        #expect(network.prunableLayers.count == p.layers)
        let entry = try ModelZoo.entry(p.arch)
        #expect(entry.inputShape == p.inputShape && entry.classes == p.classes)
    }

    /// The hand tables add up to the hand arithmetic above (so the tables and the comments agree).
    @Test func tablesAddUpToThePinnedCounts() {
        #expect(ArchitectureTables.count(ArchitectureTables.vgg16) == 14_715_584)
        #expect(ArchitectureTables.count(ArchitectureTables.vgg16Literal) == 14_715_584)
        #expect(ArchitectureTables.count(ArchitectureTables.vgg19) == 20_070_080)
        #expect(ArchitectureTables.count(ArchitectureTables.resnet18) == 11_261_632)
        #expect(ArchitectureTables.count(ArchitectureTables.resnet18Literal) == 11_261_632)
        #expect(ArchitectureTables.count(ArchitectureTables.resnet20) == 270_896)
        #expect(ArchitectureTables.count(ArchitectureTables.resnet20Literal) == 270_896)
        #expect(ArchitectureTables.count(ArchitectureTables.resnet50) == 25_502_912)
        #expect(ArchitectureTables.count(ArchitectureTables.mobileNetV2) == 3_469_760)
        #expect(ArchitectureTables.resnet18 == ArchitectureTables.resnet18Literal)
        #expect(ArchitectureTables.resnet20 == ArchitectureTables.resnet20Literal)
        #expect(ArchitectureTables.vgg16 == ArchitectureTables.vgg16Literal)
    }

    @Test(arguments: [
        ("vgg16", ArchitectureTables.vgg16Literal), ("vgg19", ArchitectureTables.vgg19),
        ("resnet18", ArchitectureTables.resnet18Literal), ("resnet20", ArchitectureTables.resnet20Literal),
        ("resnet50", ArchitectureTables.resnet50), ("mobilenetv2", ArchitectureTables.mobileNetV2),
    ])
    func everyPrunableShapeInCanonicalOrder(arch: String, expected: [[Int]]) throws {
        let network = try ModelZoo.make(arch)
        let shapes = network.prunableParameters.map(\.shape)
        #expect(shapes.count == expected.count)
        for (index, (got, want)) in zip(shapes, expected).enumerated() {
            #expect(got == want, "\(arch) prunable layer \(index): \(got), expected \(want)")
        }
        // prunableLayers lists the same weights, in the same order, each with the layer owning it.
        let layers = network.prunableLayers
        #expect(layers.map(\.weight.shape) == shapes)
        #expect(zip(layers.map(\.weight), network.prunableParameters).allSatisfy { $0 === $1 })
        for (layer, weight) in layers {
            #expect(layer.parameters.first === weight, "\(layer.description)")
            #expect(layer is Conv2d || layer is Linear, "\(layer.description)")
        }
        // Only the last prunable layer is dense.
        #expect(layers.last.map { $0.layer is Linear } == true)
        #expect(layers.dropLast().allSatisfy { $0.layer is Conv2d })
    }

    @Test func resnet50SpotChecks() throws {
        let shapes = try ModelZoo.make("resnet50").prunableParameters.map(\.shape)
        try #require(shapes.count == 54)
        #expect(shapes[0] == [64, 3, 7, 7])
        // First bottleneck: 1×1, 3×3, 1×1 (×4), then its projection.
        #expect(Array(shapes[1...4]) == [[64, 64, 1, 1], [64, 64, 3, 3], [256, 64, 1, 1], [256, 64, 1, 1]])
        #expect(shapes[5] == [64, 256, 1, 1])
        // Stage 2 opens at index 1 + 3·3 + 1 = 11 with the strided 1×1 (v1 puts the stride there).
        #expect(Array(shapes[11...14]) == [[128, 256, 1, 1], [128, 128, 3, 3], [512, 128, 1, 1], [512, 256, 1, 1]])
        // Stage 4's first block: 11 + 4·3 + 1 + 6·3 + 1 = 43.
        #expect(Array(shapes[43...46]) == [[512, 1024, 1, 1], [512, 512, 3, 3], [2048, 512, 1, 1], [2048, 1024, 1, 1]])
        #expect(shapes[52] == [2048, 512, 1, 1])
        #expect(shapes[53] == [1000, 2048])
    }

    @Test func resnet50StridesSitInTheFirstOneByOne() throws {
        let network = try ModelZoo.make("resnet50")
        let convs = network.prunableLayers.compactMap { $0.layer as? Conv2d }
        #expect(convs[0].stride == (2, 2) && convs[0].kernelSize == (7, 7))
        // 3 strided 1×1 body convs (stages 2–4) and their 3 strided projections, plus the stem.
        let strided = convs.filter { $0.stride.height == 2 }
        #expect(strided.count == 7)
        #expect(strided.dropFirst().allSatisfy { $0.kernelSize == (1, 1) })
        #expect(convs.filter { $0.kernelSize == (3, 3) }.allSatisfy { $0.stride == (1, 1) })
    }

    @Test func mobileNetV2SpotChecks() throws {
        let network = try ModelZoo.make("mobilenetv2")
        let shapes = network.prunableParameters.map(\.shape)
        try #require(shapes.count == 53)
        #expect(Array(shapes[0...5]) == [[32, 3, 3, 3], [32, 1, 3, 3], [16, 32, 1, 1], [96, 16, 1, 1], [96, 1, 3, 3], [24, 96, 1, 1]])
        #expect(Array(shapes[6...8]) == [[144, 24, 1, 1], [144, 1, 3, 3], [24, 144, 1, 1]])
        #expect(Array(shapes[48...52]) == [[960, 160, 1, 1], [960, 1, 3, 3], [320, 960, 1, 1], [1280, 320, 1, 1], [1000, 1280]])
        // Every 3×3 except the stem is depthwise: groups = channels = outputs.
        let convs = network.prunableLayers.compactMap { $0.layer as? Conv2d }
        let depthwise = convs.filter { $0.kernelSize == (3, 3) }.dropFirst()
        #expect(depthwise.count == 17)
        #expect(depthwise.allSatisfy { $0.groups == $0.inChannels && $0.inChannels == $0.outChannels })
        // First strides of Table 2 on the depthwise convs: s = 1, 2, 2, 2, 1, 2, 1 for the groups of n = 1, 2, 3, 4, 3, 3, 1.
        let strides = depthwise.map(\.stride.height)
        #expect(strides == [1, 2, 1, 2, 1, 1, 2, 1, 1, 1, 1, 1, 1, 2, 1, 1, 1])
        #expect(convs[0].stride == (2, 2))
    }

    /// Identity shortcuts where stride 1 and widths agree: 1 + 2 + 3 + 2 + 2 = 10 blocks in MobileNetV2;
    /// ResNets: one residual per block, a projection on each stage change.
    @Test(arguments: [("mobilenetv2", 10, 0), ("resnet18", 8, 3), ("resnet20", 9, 2), ("resnet50", 16, 4)])
    func residualBlocks(arch: String, blocks: Int, projections: Int) throws {
        let network = try ModelZoo.make(arch)
        func residuals(_ layer: any Layer) -> [Residual] {
            (layer as? Residual).map { [$0] } ?? layer.children.flatMap(residuals)
        }
        let found = residuals(network.body)
        #expect(found.count == blocks)
        #expect(found.filter { $0.shortcut != nil }.count == projections)
        // Every projection is a 1×1 conv followed by BatchNorm.
        for residual in found {
            guard let shortcut = residual.shortcut else { continue }
            #expect(shortcut.layers.count == 2)
            #expect((shortcut.layers.first as? Conv2d).map { $0.kernelSize == (1, 1) } == true)
            #expect(shortcut.layers.last is BatchNorm)
        }
    }

    /// VGG convolutions carry a bias (as in the paper's Keras code); ResNet and MobileNetV2 convolutions
    /// do not (BatchNorm follows). Biases are never prunable.
    @Test(arguments: [("vgg16", true), ("vgg19", true), ("resnet20", false), ("resnet18", false), ("mobilenetv2", false)])
    func convolutionBiases(arch: String, hasBias: Bool) throws {
        let network = try ModelZoo.make(arch)
        let convs = network.prunableLayers.compactMap { $0.layer as? Conv2d }
        #expect(!convs.isEmpty)
        #expect(convs.allSatisfy { ($0.bias != nil) == hasBias })
        #expect(network.parameters.filter(\.isPrunable).allSatisfy { $0.role == .weight })
    }
}
