import Tensors

/// MobileNetV2 (Sandler et al. 2018) with width multiplier 1.0, as in keras.applications.MobileNetV2:
/// inverted residual blocks (1×1 expansion → 3×3 depthwise → 1×1 linear projection), ReLU6,
/// identity shortcuts where stride is 1 and widths agree, final 1×1 conv to 1280, global average pool, dense.
enum MobileNetV2 {
    /// (expansion t, output channels c, repeats n, first stride s) from Table 2 of the paper.
    static let settings = [(1, 16, 1, 1), (6, 24, 2, 2), (6, 32, 3, 2), (6, 64, 4, 2), (6, 96, 3, 1), (6, 160, 3, 2), (6, 320, 1, 1)]

    static func invertedResidual(_ input: Int, _ output: Int, expansion: Int, stride: Int, backend: any Backend) -> [any Layer] {
        let hidden = input * expansion
        var body: [any Layer] = []
        if expansion != 1 {
            body += Blocks.convBNReLU(input, hidden, kernel: 1, padding: .valid, ceiling: 6, backend: backend)
        }
        body += Blocks.convBNReLU(hidden, hidden, kernel: 3, stride: stride, padding: .same, groups: hidden, ceiling: 6, backend: backend)
        body += Blocks.convBN(hidden, output, kernel: 1, padding: .valid, backend: backend)
        if stride == 1 && input == output { return [Residual(body: Sequential(body), backend: backend)] }
        return body
    }

    static let entry = ModelZoo.Entry(
        name: "mobilenetv2", inputShape: [3, 224, 224], classes: 1000, defaultDataset: "imagenet",
        summary: "3×3/2 stem (32), 17 inverted residual blocks (t, c, n, s of Table 2), 1×1 conv to 1280, global average pool, dense",
        source: "Sandler et al. 2018 (MobileNetV2, width 1.0) as in keras.applications.MobileNetV2",
        padding: "TensorFlow 'same': stride-2 3×3 convs on even inputs pad only bottom/right (Keras' correct_pad), stride-1 3×3 pad 1; 1×1 convs unpadded",
        build: { shape, classes, backend in
            var layers = Blocks.convBNReLU(shape[0], 32, kernel: 3, stride: 2, padding: .same, ceiling: 6, backend: backend)
            var channels = 32
            for (expansion, width, repeats, stride) in settings {
                for index in 0..<repeats {
                    layers += invertedResidual(channels, width, expansion: expansion, stride: index == 0 ? stride : 1, backend: backend)
                    channels = width
                }
            }
            layers += Blocks.convBNReLU(channels, 1280, kernel: 1, padding: .valid, ceiling: 6, backend: backend)
            return Sequential(layers + [GlobalAvgPool2d(backend: backend), Linear(1280, classes, backend: backend)])
        })
}
