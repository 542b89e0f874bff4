import Tensors

/// The architectures prunelab trains, by the names used in specs, the API and the database.
public enum ModelZoo {
    public struct Entry: Sendable {
        public let name: String
        public let inputShape: [Int]
        public let classes: Int
        public let defaultDataset: String
        public let summary: String
    }

    public static let entries: [Entry] = [
        Entry(name: "lenet300-100", inputShape: [1, 28, 28], classes: 10, defaultDataset: "fashion-mnist",
              summary: "784-300-100-10 MLP, BatchNorm after each hidden layer (LeCun et al. 1998; paper's code)"),
        Entry(name: "lenet5", inputShape: [3, 32, 32], classes: 10, defaultDataset: "cifar10",
              summary: "conv 6@5×5 → avgpool 2 → conv 16@5×5 → avgpool 2 → 120 → 84 → 10, BatchNorm after each hidden layer"),
    ]

    public static var names: [String] { entries.map(\.name) }

    public enum Error: Swift.Error, Equatable, CustomStringConvertible {
        case unknownArchitecture(String)
        case incompatibleInput(architecture: String, expected: [Int], got: [Int])
        public var description: String {
            switch self {
            case let .unknownArchitecture(name):
                "unknown architecture '\(name)' (known: \(ModelZoo.names.joined(separator: ", ")))"
            case let .incompatibleInput(architecture, expected, got):
                "architecture \(architecture) takes input \(expected), the dataset has \(got)"
            }
        }
    }

    /// Builds `name` for input samples of `inputShape` (nil: the architecture's default) and `classes`.
    public static func make(_ name: String, inputShape: [Int]? = nil, classes: Int? = nil,
                            backend: any Backend = CPUBackend.shared) throws -> Network {
        guard let entry = entries.first(where: { $0.name == name }) else { throw Error.unknownArchitecture(name) }
        let shape = inputShape ?? entry.inputShape
        let classes = classes ?? entry.classes
        switch name {
        case "lenet300-100":
            return try Network(name: name, inputShape: shape, classes: classes,
                               body: lenet300100(inputs: shape.reduce(1, *), classes: classes, backend: backend), backend: backend)
        case "lenet5":
            guard shape.count == 3 else { throw Error.incompatibleInput(architecture: name, expected: entry.inputShape, got: shape) }
            return try Network(name: name, inputShape: shape, classes: classes,
                               body: try lenet5(inputShape: shape, classes: classes, backend: backend), backend: backend)
        default:
            throw Error.unknownArchitecture(name)
        }
    }

    /// LeNet-300-100: Flatten → 300 → BN → ReLU → 100 → BN → ReLU → classes.
    static func lenet300100(inputs: Int, classes: Int, backend: any Backend) -> Sequential {
        Sequential([
            Flatten(),
            Linear(inputs, 300, backend: backend), BatchNorm(300, backend: backend), ReLU(backend: backend),
            Linear(300, 100, backend: backend), BatchNorm(100, backend: backend), ReLU(backend: backend),
            Linear(100, classes, backend: backend),
        ])
    }

    /// LeNet-5 as in the paper's code (Vysogorets & Kempe 2023): valid 5×5 convs with 6 and 16
    /// filters, 2×2 average pooling, flatten in C,H,W order (400 for 32×32 input), dense 120, 84, classes.
    static func lenet5(inputShape: [Int], classes: Int, backend: any Backend) throws -> Sequential {
        let features = Sequential([
            Conv2d(inputShape[0], 6, kernelSize: 5, padding: .valid, backend: backend), BatchNorm(6, backend: backend), ReLU(backend: backend),
            AvgPool2d(2, backend: backend),
            Conv2d(6, 16, kernelSize: 5, padding: .valid, backend: backend), BatchNorm(16, backend: backend), ReLU(backend: backend),
            AvgPool2d(2, backend: backend),
            Flatten(),
        ])
        let flattened = try features.outputShape(for: [1] + inputShape)[1]
        return Sequential(features.layers + [
            Linear(flattened, 120, backend: backend), BatchNorm(120, backend: backend), ReLU(backend: backend),
            Linear(120, 84, backend: backend), BatchNorm(84, backend: backend), ReLU(backend: backend),
            Linear(84, classes, backend: backend),
        ])
    }
}
