import Tensors

/// Layers applied one after another.
public final class Sequential: Layer {
    public private(set) var layers: [any Layer] { didSet { firstTrainableIndex = Self.firstTrainable(in: layers) } }
    /// Index of the first layer with parameters: nothing below it needs an input gradient.
    private var firstTrainableIndex: Int

    public init(_ layers: [any Layer]) {
        self.layers = layers
        firstTrainableIndex = Self.firstTrainable(in: layers)
    }

    private static func firstTrainable(in layers: [any Layer]) -> Int {
        layers.firstIndex { !$0.parameters.isEmpty } ?? layers.count
    }

    public var description: String { "Sequential(\(layers.count) layers)" }
    public var children: [any Layer] { layers }
    public var parameters: [Parameter] { layers.flatMap(\.parameters) }
    public var buffers: [(name: String, tensor: Tensor)] { layers.flatMap(\.buffers) }

    public func append(_ layer: any Layer) { layers.append(layer) }

    public func outputShape(for inputShape: [Int]) throws -> [Int] {
        try layers.reduce(inputShape) { try $1.outputShape(for: $0) }
    }

    public func forward(_ input: Tensor, training: Bool) throws -> Tensor {
        var x = input
        for layer in layers { x = try layer.forward(x, training: training) }
        return x
    }

    public func backward(_ outputGradient: Tensor, needsInputGradient: Bool) throws -> Tensor? {
        var gradient = outputGradient
        // Below the first layer with parameters nothing needs a gradient unless the caller does.
        let firstTrainable = needsInputGradient ? 0 : firstTrainableIndex
        for index in layers.indices.reversed() {
            if index < firstTrainable { return nil }
            let needs = index > firstTrainable || needsInputGradient
            guard let next = try layers[index].backward(gradient, needsInputGradient: needs) else { return nil }
            gradient = next
        }
        return gradient
    }
}
