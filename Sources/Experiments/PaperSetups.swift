import Datasets

/// The training setups runs default to, per architecture, and the training-set sizes that turn
/// epochs into iterations.
public enum PaperSetups {
    /// One architecture's default training: the setup itself and where it comes from.
    public struct Setup: Sendable, Equatable {
        public let training: TrainingSetup
        public let source: String
    }

    /// Every architecture of `ModelZoo` has one. `evalEvery` is the run default for the paper's
    /// length, max(1, iterations / 10); a run's own default follows its own length.
    public static let setups: [String: Setup] = [
        // Vysogorets & Kempe (JMLR 2023), training-setup table (docs/science.md): LeNet-300-100 / MNIST.
        "lenet300-100": paper(96_000, batch: 100, lr: 0.1, drops: [25_000, 50_000, 75_000], decay: 5e-4,
                              source: "Vysogorets & Kempe 2023, LeNet-300-100 / MNIST"),
        // Same table: LeNet-5 / CIFAR-10.
        "lenet5": paper(120_000, batch: 128, lr: 0.1, drops: [30_000, 60_000, 90_000], decay: 5e-4,
                        source: "Vysogorets & Kempe 2023, LeNet-5 / CIFAR-10"),
        // Same table: VGG-16 / CIFAR-10 and VGG-19 / CIFAR-100.
        "vgg16": paper(62_500, batch: 128, lr: 0.1, drops: [31_250, 46_875], decay: 1e-4,
                       source: "Vysogorets & Kempe 2023, VGG-16 / CIFAR-10"),
        "vgg19": paper(62_500, batch: 128, lr: 0.1, drops: [31_250, 46_875], decay: 1e-4,
                       source: "Vysogorets & Kempe 2023, VGG-19 / CIFAR-100"),
        // Same table: ResNet-18 / TinyImageNet (200 epochs of 391 batches of 256).
        "resnet18": paper(78_200, batch: 256, lr: 0.2, drops: [39_100, 58_650], decay: 1e-4,
                          source: "Vysogorets & Kempe 2023, ResNet-18 / TinyImageNet"),
        // Not in the paper's table: He et al. 2016 ("Deep Residual Learning", §4.2, CIFAR-10):
        // 64k iterations, batch 128, lr 0.1 divided by 10 at 32k and 48k, weight decay 1e-4.
        "resnet20": paper(64_000, batch: 128, lr: 0.1, drops: [32_000, 48_000], decay: 1e-4,
                          source: "He et al. 2016, ResNet-20 / CIFAR-10 (not in the paper's table)"),
        // Not in the paper's table (the paper trains these on ImageNet but its table does not give
        // its setup): the common ImageNet recipe of He et al. 2016 as scheduled by Goyal et al. 2017
        // ("Accurate, Large Minibatch SGD"): batch 256, lr 0.1, 90 epochs, ×0.1 at epochs 30, 60
        // and 80, weight decay 1e-4. An epoch is ⌊1 281 167 / 256⌋ = 5 004 full batches (the
        // engine drops the last partial batch), so 90 epochs = 450 360 iterations and the drops are
        // at 150 120, 300 240 and 400 320. MobileNetV2's own recipe (RMSProp, wd 4e-5) is not
        // SGD-with-steps, so it takes the same recipe, for comparability with ResNet-50.
        "resnet50": paper(450_360, batch: 256, lr: 0.1, drops: [150_120, 300_240, 400_320], decay: 1e-4,
                          source: "He et al. 2016 / Goyal et al. 2017 ImageNet recipe (not in the paper's table)"),
        "mobilenetv2": paper(450_360, batch: 256, lr: 0.1, drops: [150_120, 300_240, 400_320], decay: 1e-4,
                             source: "ResNet-50's ImageNet recipe (not in the paper's table)"),
    ]

    /// The default training of `architecture`, or nil for an architecture without one.
    public static func setup(for architecture: String) -> Setup? { setups[architecture] }

    /// Training samples of a data set as `DatasetCatalog.load` reads it, or nil when unknown:
    /// MNIST and Fashion-MNIST 60 000, CIFAR-10/100 50 000, TinyImageNet 100 000 (200 × 500).
    public static func trainSampleCount(for dataset: String) -> Int? {
        switch dataset {
        case "fashion-mnist", "mnist": 60_000
        case "cifar10", "cifar100": 50_000
        case "tinyimagenet": 100_000
        case "synthetic": DatasetCatalog.syntheticTrainCount
        default: nil
        }
    }

    private static func paper(_ iterations: Int, batch: Int, lr: Double, drops: [Int], decay: Double,
                              source: String) -> Setup {
        Setup(training: TrainingSetup(iterations: iterations, batchSize: batch, learningRate: lr, momentum: 0.9,
                                      weightDecay: decay, lrDrops: drops, evalEvery: max(1, iterations / 10)),
              source: source)
    }
}
