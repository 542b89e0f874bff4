import Tensors

/// Rectified linear unit, optionally clipped from above (ReLU6 of MobileNetV2: `ReLU(ceiling: 6)`).
public final class ReLU: Layer {
    public let ceiling: Float
    private let backend: any Backend
    private var buffers_ = ShapeCache<(output: Tensor, inputGradient: Tensor)>()
    private var output: Tensor?
    private var outputGradientAdapter = LayoutAdapter()

    public init(ceiling: Float = .infinity, backend: any Backend = CPUBackend.shared) {
        precondition(ceiling > 0, "ReLU ceiling must be positive")
        self.ceiling = ceiling
        self.backend = backend
    }

    public var description: String { ceiling == .infinity ? "ReLU" : "ReLU\(Int(ceiling))" }
    public func outputShape(for inputShape: [Int]) throws -> [Int] { inputShape }

    public func forward(_ input: Tensor, training: Bool) throws -> Tensor {
        let layout = input.layout
        let b = buffers_.value(for: input.shape, layout: layout) {
            (Tensor(shape: input.shape, layout: layout), Tensor(shape: input.shape, layout: layout))
        }
        backend.relu(input: input, output: b.output, ceiling: ceiling)
        output = b.output
        return b.output
    }

    public func backward(_ outputGradient: Tensor, needsInputGradient: Bool) throws -> Tensor? {
        guard let output else { throw LayerError.backwardBeforeForward(layer: description) }
        guard needsInputGradient else { return nil }
        let b = buffers_.value(for: output.shape, layout: output.layout) { fatalError("unreachable: forward made the buffers") }
        let outputGradient = try outputGradientAdapter.conform(outputGradient, to: output.layout, backend: backend)
        backend.reluBackward(output: output, outputGradient: outputGradient, inputGradient: b.inputGradient, ceiling: ceiling)
        return b.inputGradient
    }
}
