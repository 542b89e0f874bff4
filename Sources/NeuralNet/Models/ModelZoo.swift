import Tensors

/// The architectures prunelab trains, by the names used in specs, the API and the database.
///
/// Canonical layer order — the order of `Network.prunableParameters`, which masks follow
/// everywhere — is the order of creation: layer by layer from input to output; inside a residual
/// block the body's convolutions come first and the 1×1 projection shortcut after the block's
/// last body convolution.
public enum ModelZoo {
    /// One architecture: its default input, where its definition comes from and how it pads.
    public struct Entry: Sendable {
        public let name: String
        /// Per-sample input shape [C, H, W] the definition is written for.
        public let inputShape: [Int]
        public let classes: Int
        public let defaultDataset: String
        public let summary: String
        /// Where the exact definition comes from.
        public let source: String
        /// How convolutions and pools pad. Effective sparsity depends on it: a kernel tap that
        /// only ever multiplies padding is not effective.
        public let padding: String
        let build: @Sendable (_ inputShape: [Int], _ classes: Int, _ backend: any Backend) throws -> Sequential
    }

    public static let entries: [Entry] = [
        LeNet.lenet300100, LeNet.lenet5, VGG.vgg16, VGG.vgg19, ResNet.resnet18, ResNet.resnet20, ResNet.resnet50,
        MobileNetV2.entry,
    ]

    public static var names: [String] { entries.map(\.name) }

    public static func entry(_ name: String) throws -> Entry {
        guard let entry = entries.first(where: { $0.name == name }) else { throw Error.unknownArchitecture(name) }
        return entry
    }

    public enum Error: Swift.Error, Equatable, CustomStringConvertible {
        case unknownArchitecture(String)
        case incompatibleInput(architecture: String, inputShape: [Int], reason: String)
        public var description: String {
            switch self {
            case let .unknownArchitecture(name):
                "unknown architecture '\(name)' (known: \(ModelZoo.names.joined(separator: ", ")))"
            case let .incompatibleInput(architecture, inputShape, reason):
                "architecture \(architecture) does not fit input samples \(inputShape): \(reason)"
            }
        }
    }

    /// Builds `name` for input samples of `inputShape` (nil: the architecture's default) and `classes`.
    /// An input the graph cannot take (too small for its pools and strides, wrong rank) is an
    /// `incompatibleInput` error naming the architecture, the shape and the layer that fails.
    public static func make(_ name: String, inputShape: [Int]? = nil, classes: Int? = nil,
                            backend: any Backend = CPUBackend.shared) throws -> Network {
        let entry = try entry(name)
        let shape = inputShape ?? entry.inputShape
        let classes = classes ?? entry.classes
        do {
            guard shape.count == 3 else {
                throw LayerError.invalidConfiguration(layer: name, reason: "samples must be [C, H, W]")
            }
            let body = try entry.build(shape, classes, backend)
            return try Network(name: name, inputShape: shape, classes: classes, body: body, padding: entry.padding, backend: backend)
        } catch let error as LayerError {
            throw Error.incompatibleInput(architecture: name, inputShape: shape, reason: error.description)
        }
    }
}

/// Small builders shared by the architectures.
enum Blocks {
    /// Conv → BatchNorm → ReLU (ReLU6 with `ceiling` 6).
    static func convBNReLU(_ input: Int, _ output: Int, kernel: Int, stride: Int = 1, padding: Padding, groups: Int = 1,
                           bias: Bool = false, ceiling: Float = .infinity, backend: any Backend) -> [any Layer] {
        [Conv2d(input, output, kernelSize: kernel, stride: stride, padding: padding, groups: groups, bias: bias, backend: backend),
         BatchNorm(output, backend: backend), ReLU(ceiling: ceiling, backend: backend)]
    }

    /// Conv → BatchNorm.
    static func convBN(_ input: Int, _ output: Int, kernel: Int, stride: Int = 1, padding: Padding, groups: Int = 1,
                       bias: Bool = false, backend: any Backend) -> [any Layer] {
        [Conv2d(input, output, kernelSize: kernel, stride: stride, padding: padding, groups: groups, bias: bias, backend: backend),
         BatchNorm(output, backend: backend)]
    }
}
