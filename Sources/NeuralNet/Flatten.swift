import Tensors

/// [N, C, H, W] → [N, C·H·W] in C, H, W order: a view of plain input (no copy); blocked input is
/// reordered to plain here, at the edge between the convolutional and the dense part.
public final class Flatten: Layer {
    private var outputView: (input: Tensor, view: Tensor)?
    private var gradientView: (gradient: Tensor, view: Tensor)?
    private var inputShape: [Int]?
    private var inputLayout: TensorLayout = .plain
    // One adapter per conversion site, so two conversions never share a buffer.
    private var inputAdapter = LayoutAdapter()
    private var outputGradientAdapter = LayoutAdapter()
    private var inputGradientAdapter = LayoutAdapter()
    private let backend: any Backend

    public init(backend: any Backend = CPUBackend.shared) { self.backend = backend }

    public var description: String { "Flatten" }

    public func outputShape(for inputShape: [Int]) throws -> [Int] {
        guard let batch = inputShape.first else { throw LayerError.shapeMismatch(layer: description, expected: "[N, …]", got: inputShape) }
        return [batch, inputShape.dropFirst().reduce(1, *)]
    }

    public func forward(_ input: Tensor, training: Bool) throws -> Tensor {
        inputShape = input.shape
        inputLayout = input.layout
        let input = try inputAdapter.conform(input, to: .plain, backend: backend)
        if let outputView, outputView.input === input, outputView.input.shape == input.shape { return outputView.view }
        let view = Tensor(viewing: input, shape: try outputShape(for: input.shape))
        outputView = (input, view)
        return view
    }

    public func backward(_ outputGradient: Tensor, needsInputGradient: Bool) throws -> Tensor? {
        guard let inputShape else { throw LayerError.backwardBeforeForward(layer: description) }
        guard needsInputGradient else { return nil }
        let outputGradient = try outputGradientAdapter.conform(outputGradient, to: .plain, backend: backend)
        let view: Tensor
        if let gradientView, gradientView.gradient === outputGradient, gradientView.view.shape == inputShape {
            view = gradientView.view
        } else {
            view = Tensor(viewing: outputGradient, shape: inputShape)
            gradientView = (outputGradient, view)
        }
        return try inputGradientAdapter.conform(view, to: inputLayout, backend: backend)
    }
}
