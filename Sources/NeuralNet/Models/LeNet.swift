import Tensors

/// LeNet-300-100 and LeNet-5 as in the paper's code (Vysogorets & Kempe 2023; LeCun et al. 1998).
enum LeNet {
    static let lenet300100 = ModelZoo.Entry(
        name: "lenet300-100", inputShape: [1, 28, 28], classes: 10, defaultDataset: "fashion-mnist",
        summary: "784-300-100-10 MLP, BatchNorm after each hidden layer",
        source: "LeCun et al. 1998; Vysogorets & Kempe 2023 (paper's code)",
        padding: "none (dense layers only)",
        build: { shape, classes, backend in
            Sequential([
                Flatten(backend: backend),
                Linear(shape.reduce(1, *), 300, backend: backend), BatchNorm(300, backend: backend), ReLU(backend: backend),
                Linear(300, 100, backend: backend), BatchNorm(100, backend: backend), ReLU(backend: backend),
                Linear(100, classes, backend: backend),
            ])
        })

    /// Valid 5×5 convs with 6 and 16 filters, 2×2 average pooling, flatten in C,H,W order
    /// (400 features on 32×32 input), dense 120, 84, classes; BatchNorm after each hidden layer.
    static let lenet5 = ModelZoo.Entry(
        name: "lenet5", inputShape: [3, 32, 32], classes: 10, defaultDataset: "cifar10",
        summary: "conv 6@5×5 → avgpool 2 → conv 16@5×5 → avgpool 2 → 120 → 84 → classes, BatchNorm after each hidden layer",
        source: "LeCun et al. 1998; Vysogorets & Kempe 2023 (paper's code)",
        padding: "valid convolutions (no padding)",
        build: { shape, classes, backend in
            let features = Sequential(
                Blocks.convBNReLU(shape[0], 6, kernel: 5, padding: .valid, bias: true, backend: backend)
                + [AvgPool2d(2, backend: backend)]
                + Blocks.convBNReLU(6, 16, kernel: 5, padding: .valid, bias: true, backend: backend)
                + [AvgPool2d(2, backend: backend), Flatten(backend: backend)])
            let flattened = try features.outputShape(for: [1] + shape)[1]
            return Sequential(features.layers + [
                Linear(flattened, 120, backend: backend), BatchNorm(120, backend: backend), ReLU(backend: backend),
                Linear(120, 84, backend: backend), BatchNorm(84, backend: backend), ReLU(backend: backend),
                Linear(84, classes, backend: backend),
            ])
        })
}
