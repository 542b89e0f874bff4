import Tensors

/// VGG-16 and VGG-19 for 32×32 inputs as in the paper's code (Vysogorets & Kempe 2023, after
/// Simonyan & Zisserman 2015): 3×3 stride-1 "same" convolutions, BatchNorm and ReLU after every
/// convolution, 2×2/2 max pooling after each block, flatten (512×1×1) and one dense layer.
enum VGG {
    /// Channel plans; 0 marks a 2×2/2 max pool.
    static let plan16 = [64, 64, 0, 128, 128, 0, 256, 256, 256, 0, 512, 512, 512, 0, 512, 512, 512, 0]
    static let plan19 = [64, 64, 0, 128, 128, 0, 256, 256, 256, 256, 0, 512, 512, 512, 512, 0, 512, 512, 512, 512, 0]

    static let vgg16 = entry(name: "vgg16", plan: plan16, classes: 10, dataset: "cifar10")
    static let vgg19 = entry(name: "vgg19", plan: plan19, classes: 100, dataset: "cifar100")

    static func entry(name: String, plan: [Int], classes: Int, dataset: String) -> ModelZoo.Entry {
        ModelZoo.Entry(
            name: name, inputShape: [3, 32, 32], classes: classes, defaultDataset: dataset,
            summary: "\(plan.filter { $0 > 0 }.count) 3×3 convs (BN + ReLU) in 5 blocks with 2×2 max pools, one dense layer",
            source: "Simonyan & Zisserman 2015; CIFAR variant of Vysogorets & Kempe 2023 (paper's code)",
            padding: "3×3 stride-1 'same' convolutions: 1 pixel of zeros on every side",
            build: { shape, classes, backend in
                var layers: [any Layer] = []
                var channels = shape[0]
                for width in plan {
                    if width == 0 {
                        layers.append(MaxPool2d(2, backend: backend))
                    } else {
                        layers += Blocks.convBNReLU(channels, width, kernel: 3, padding: .same, bias: true, backend: backend)
                        channels = width
                    }
                }
                let features = Sequential(layers + [Flatten(backend: backend)])
                let flattened = try features.outputShape(for: [1] + shape)[1]
                return Sequential(features.layers + [Linear(flattened, classes, backend: backend)])
            })
    }
}
