/// Expected prunable weight shapes, written from the published architectures and nothing else:
/// the loops below read the papers' plans (VGG configurations, ResNet stage tuples, Table 2 of
/// MobileNetV2) and do not call into the model zoo. Conv weights are (out, in / groups, kh, kw),
/// dense weights (out, in); order is order of creation, the 1×1 projection shortcut after the
/// block's last body conv.
enum ArchitectureTables {
    /// VGG as blocks of 3×3 convs separated by 2×2 pools; on 32×32 five pools leave 512×1×1 for the dense layer.
    static func vgg(blocks: [[Int]], classes: Int) -> [[Int]] {
        var shapes: [[Int]] = []
        var channels = 3
        for block in blocks {
            for width in block {
                shapes.append([width, channels, 3, 3])
                channels = width
            }
        }
        return shapes + [[classes, channels]]
    }

    /// Configuration D (VGG-16) and E (VGG-19) of Simonyan & Zisserman, Table 1.
    static let vgg16 = vgg(blocks: [[64, 64], [128, 128], [256, 256, 256], [512, 512, 512], [512, 512, 512]], classes: 10)
    static let vgg19 = vgg(blocks: [[64, 64], [128, 128], [256, 256, 256, 256], [512, 512, 512, 512], [512, 512, 512, 512]],
                           classes: 100)

    /// Basic-block ResNet with a 3×3 stem: two 3×3 convs per block, a 1×1 projection when the
    /// stride or the width changes.
    static func basicResNet(stem: Int, stages: [(width: Int, blocks: Int, stride: Int)], classes: Int) -> [[Int]] {
        var shapes = [[stem, 3, 3, 3]]
        var channels = stem
        for stage in stages {
            for block in 0..<stage.blocks {
                let stride = block == 0 ? stage.stride : 1
                shapes.append([stage.width, channels, 3, 3])
                shapes.append([stage.width, stage.width, 3, 3])
                if stride != 1 || channels != stage.width { shapes.append([stage.width, channels, 1, 1]) }
                channels = stage.width
            }
        }
        return shapes + [[classes, channels]]
    }

    /// ResNet-18 layout (2 blocks per stage, 64…512) on TinyImageNet's 200 classes.
    static let resnet18 = basicResNet(stem: 64, stages: [(64, 2, 1), (128, 2, 2), (256, 2, 2), (512, 2, 2)], classes: 200)
    /// He et al. §4.2: 6n + 2 layers with n = 3, widths 16/32/64.
    static let resnet20 = basicResNet(stem: 16, stages: [(16, 3, 1), (32, 3, 2), (64, 3, 2)], classes: 10)

    /// ResNet-18 written out by hand (21 prunable layers).
    static let resnet18Literal: [[Int]] = [
        [64, 3, 3, 3],
        [64, 64, 3, 3], [64, 64, 3, 3], [64, 64, 3, 3], [64, 64, 3, 3],
        [128, 64, 3, 3], [128, 128, 3, 3], [128, 64, 1, 1], [128, 128, 3, 3], [128, 128, 3, 3],
        [256, 128, 3, 3], [256, 256, 3, 3], [256, 128, 1, 1], [256, 256, 3, 3], [256, 256, 3, 3],
        [512, 256, 3, 3], [512, 512, 3, 3], [512, 256, 1, 1], [512, 512, 3, 3], [512, 512, 3, 3],
        [200, 512],
    ]

    /// ResNet-20 written out by hand (22 prunable layers).
    static let resnet20Literal: [[Int]] = [
        [16, 3, 3, 3],
        [16, 16, 3, 3], [16, 16, 3, 3], [16, 16, 3, 3], [16, 16, 3, 3], [16, 16, 3, 3], [16, 16, 3, 3],
        [32, 16, 3, 3], [32, 32, 3, 3], [32, 16, 1, 1], [32, 32, 3, 3], [32, 32, 3, 3], [32, 32, 3, 3], [32, 32, 3, 3],
        [64, 32, 3, 3], [64, 64, 3, 3], [64, 32, 1, 1], [64, 64, 3, 3], [64, 64, 3, 3], [64, 64, 3, 3], [64, 64, 3, 3],
        [10, 64],
    ]

    /// VGG-16 written out by hand (13 convs + dense).
    static let vgg16Literal: [[Int]] = [
        [64, 3, 3, 3], [64, 64, 3, 3],
        [128, 64, 3, 3], [128, 128, 3, 3],
        [256, 128, 3, 3], [256, 256, 3, 3], [256, 256, 3, 3],
        [512, 256, 3, 3], [512, 512, 3, 3], [512, 512, 3, 3],
        [512, 512, 3, 3], [512, 512, 3, 3], [512, 512, 3, 3],
        [10, 512],
    ]

    /// ResNet-50 v1: 7×7/2 stem, bottlenecks 1×1 (w) → 3×3 (w) → 1×1 (4w), stages (64, 3), (128, 4),
    /// (256, 6), (512, 3); a 1×1 projection on each stage's first block.
    static let resnet50: [[Int]] = {
        var shapes = [[64, 3, 7, 7]]
        var channels = 64
        for (width, blocks) in [(64, 3), (128, 4), (256, 6), (512, 3)] {
            for block in 0..<blocks {
                shapes += [[width, channels, 1, 1], [width, width, 3, 3], [4 * width, width, 1, 1]]
                if block == 0 { shapes.append([4 * width, channels, 1, 1]) }
                channels = 4 * width
            }
        }
        return shapes + [[1000, 2048]]
    }()

    /// MobileNetV2, Table 2 of Sandler et al.: (t, c, n, s); the expansion 1×1 is absent when t = 1;
    /// the depthwise 3×3 has one input channel per group.
    static let mobileNetV2: [[Int]] = {
        let table = [(1, 16, 1, 1), (6, 24, 2, 2), (6, 32, 3, 2), (6, 64, 4, 2), (6, 96, 3, 1), (6, 160, 3, 2), (6, 320, 1, 1)]
        var shapes = [[32, 3, 3, 3]]
        var channels = 32
        for (t, c, n, _) in table {
            for _ in 0..<n {
                let hidden = channels * t
                if t != 1 { shapes.append([hidden, channels, 1, 1]) }
                shapes.append([hidden, 1, 3, 3])
                shapes.append([c, hidden, 1, 1])
                channels = c
            }
        }
        return shapes + [[1280, 320, 1, 1], [1000, 1280]]
    }()

    static func count(_ shapes: [[Int]]) -> Int { shapes.reduce(0) { $0 + $1.reduce(1, *) } }
}
