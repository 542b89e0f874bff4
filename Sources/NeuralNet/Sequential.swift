import Tensors

/// Layers applied one after another.
public final class Sequential: Layer {
    public private(set) var layers: [any Layer]

    public init(_ layers: [any Layer]) { self.layers = layers }

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
        let firstTrainable = needsInputGradient ? 0 : (layers.firstIndex { !$0.parameters.isEmpty } ?? layers.count)
        for index in layers.indices.reversed() {
            if index < firstTrainable { return nil }
            let needs = index > firstTrainable || needsInputGradient
            guard let next = try layers[index].backward(gradient, needsInputGradient: needs) else { return nil }
            gradient = next
        }
        return gradient
    }
}
