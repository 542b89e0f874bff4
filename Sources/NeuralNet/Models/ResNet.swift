import Tensors

/// Residual networks (He et al. 2016). Convolutions carry no bias (BatchNorm follows each).
enum ResNet {
    /// Basic block: 3×3 (stride s) → BN → ReLU → 3×3 → BN, plus the shortcut, then ReLU.
    static func basicBlock(_ input: Int, _ output: Int, stride: Int, backend: any Backend) -> [any Layer] {
        residual(Blocks.convBNReLU(input, output, kernel: 3, stride: stride, padding: .same, backend: backend)
                 + Blocks.convBN(output, output, kernel: 3, padding: .same, backend: backend),
                 input: input, output: output, stride: stride, backend: backend)
    }

    /// body + shortcut (identity, or 1×1 stride-s conv + BN when the shape changes), then ReLU.
    /// The projection is created after the body: it follows the body's convs in canonical order.
    static func residual(_ body: [any Layer], input: Int, output: Int, stride: Int, backend: any Backend) -> [any Layer] {
        let shortcut = stride != 1 || input != output
            ? Sequential(Blocks.convBN(input, output, kernel: 1, stride: stride, padding: .valid, backend: backend)) : nil
        return [Residual(body: Sequential(body), shortcut: shortcut, backend: backend), ReLU(backend: backend)]
    }

    /// ResNet-18, TinyImageNet variant of the paper's code: 3×3 stride-1 stem, no stem pooling,
    /// stages 64/128/256/512 of two basic blocks, the first block of stages 2–4 strided.
    static let resnet18 = ModelZoo.Entry(
        name: "resnet18", inputShape: [3, 64, 64], classes: 200, defaultDataset: "tinyimagenet",
        summary: "3×3 stem, 4 stages × 2 basic blocks (64/128/256/512), 1×1 stride-2 projections, global average pool, dense",
        source: "He et al. 2016; TinyImageNet variant of Vysogorets & Kempe 2023 (paper's code, TensorFlow)",
        padding: "TensorFlow 'same': stride-1 3×3 convs pad 1 on every side; stride-2 3×3 convs on even inputs pad only bottom/right (0 top/left, 1 bottom/right); 1×1 projections unpadded",
        build: { shape, classes, backend in
            var layers = Blocks.convBNReLU(shape[0], 64, kernel: 3, padding: .same, backend: backend)
            var channels = 64
            for (width, stride) in [(64, 1), (128, 2), (256, 2), (512, 2)] {
                layers += basicBlock(channels, width, stride: stride, backend: backend)
                layers += basicBlock(width, width, stride: 1, backend: backend)
                channels = width
            }
            return Sequential(layers + [GlobalAvgPool2d(backend: backend), Linear(512, classes, backend: backend)])
        })

    /// ResNet-20 for CIFAR (He et al. 2016, §4.2): 3×3 stem with 16 filters, three stages of three
    /// basic blocks (16/32/64), strided first blocks with 1×1 projection shortcuts (option B).
    static let resnet20 = ModelZoo.Entry(
        name: "resnet20", inputShape: [3, 32, 32], classes: 10, defaultDataset: "cifar10",
        summary: "3×3 stem, 3 stages × 3 basic blocks (16/32/64), 1×1 projections, global average pool, dense",
        source: "He et al. 2016, section 4.2 (CIFAR-10 ResNet-20), projection shortcuts (option B)",
        padding: "TensorFlow 'same': stride-1 3×3 convs pad 1 on every side; stride-2 3×3 convs on even inputs pad only bottom/right",
        build: { shape, classes, backend in
            var layers = Blocks.convBNReLU(shape[0], 16, kernel: 3, padding: .same, backend: backend)
            var channels = 16
            for (width, stride) in [(16, 1), (32, 2), (64, 2)] {
                layers += basicBlock(channels, width, stride: stride, backend: backend)
                for _ in 1..<3 { layers += basicBlock(width, width, stride: 1, backend: backend) }
                channels = width
            }
            return Sequential(layers + [GlobalAvgPool2d(backend: backend), Linear(64, classes, backend: backend)])
        })

    /// Bottleneck block as in Keras' ResNet50 (v1): 1×1 (stride s) → 3×3 → 1×1 (×4 width), BN after
    /// each, ReLU after the first two; projection shortcut (1×1 stride s + BN) on the first block of a stage.
    static func bottleneck(_ input: Int, _ width: Int, stride: Int, backend: any Backend) -> [any Layer] {
        residual(Blocks.convBNReLU(input, width, kernel: 1, stride: stride, padding: .valid, backend: backend)
                 + Blocks.convBNReLU(width, width, kernel: 3, padding: .same, backend: backend)
                 + Blocks.convBN(width, 4 * width, kernel: 1, padding: .valid, backend: backend),
                 input: input, output: 4 * width, stride: stride, backend: backend)
    }

    /// ResNet-50 for 224×224 ImageNet as in Keras applications (He et al. 2016, v1: the stride sits
    /// in the first 1×1 conv of a block): 7×7/2 stem with 3 pixels of padding, 3×3/2 max pool with
    /// 1 pixel, stages of 3/4/6/3 bottlenecks (64/128/256/512 ×4), global average pool, dense.
    static let resnet50 = ModelZoo.Entry(
        name: "resnet50", inputShape: [3, 224, 224], classes: 1000, defaultDataset: "imagenet",
        summary: "7×7/2 stem, 3×3/2 max pool, 3/4/6/3 bottleneck blocks (256/512/1024/2048), global average pool, dense",
        source: "He et al. 2016 (ResNet-50 v1) as in keras.applications.ResNet50",
        padding: "stem: 3 pixels of zeros on every side (ZeroPadding2D(3)) then valid 7×7/2; max pool: 1 pixel of zeros (ZeroPadding2D(1)) then valid 3×3/2; 3×3 convs 'same' stride 1 (pad 1); 1×1 convs unpadded",
        build: { shape, classes, backend in
            var layers = Blocks.convBNReLU(shape[0], 64, kernel: 7, stride: 2, padding: .symmetric(3), backend: backend)
            // Keras pads with zeros before the pool; after ReLU the zeros never win a max, as with -inf padding.
            layers.append(MaxPool2d(3, stride: 2, padding: .symmetric(1), backend: backend))
            var channels = 64
            for (width, count, stride) in [(64, 3, 1), (128, 4, 2), (256, 6, 2), (512, 3, 2)] {
                layers += bottleneck(channels, width, stride: stride, backend: backend)
                for _ in 1..<count { layers += bottleneck(4 * width, width, stride: 1, backend: backend) }
                channels = 4 * width
            }
            return Sequential(layers + [GlobalAvgPool2d(backend: backend), Linear(2048, classes, backend: backend)])
        })
}
