import Tensors

/// y = body(x) + shortcut(x), the residual join; the shortcut is the identity when nil.
public final class Residual: Layer {
    public let body: Sequential
    public let shortcut: Sequential?
    private let backend: any Backend
    private var outputs = ShapeCache<(output: Tensor, inputGradient: Tensor)>()
    private var input: Tensor?
    // One adapter per conversion site, so two conversions never share a buffer.
    private var sideAdapter = LayoutAdapter()
    private var outputGradientAdapter = LayoutAdapter()
    private var mainGradientAdapter = LayoutAdapter()
    private var sideGradientAdapter = LayoutAdapter()

    public init(body: Sequential, shortcut: Sequential? = nil, backend: any Backend = CPUBackend.shared) {
        self.body = body
        self.shortcut = shortcut
        self.backend = backend
    }

    public var description: String { "Residual(\(body.layers.count) layers, \(shortcut == nil ? "identity" : "projection") shortcut)" }
    public var children: [any Layer] { shortcut.map { [body, $0] } ?? [body] }
    public var parameters: [Parameter] { body.parameters + (shortcut?.parameters ?? []) }
    public var buffers: [(name: String, tensor: Tensor)] { body.buffers + (shortcut?.buffers ?? []) }

    public func outputShape(for inputShape: [Int]) throws -> [Int] {
        let main = try body.outputShape(for: inputShape)
        let side = try shortcut?.outputShape(for: inputShape) ?? inputShape
        guard main == side else {
            throw LayerError.invalidConfiguration(layer: description, reason: "body gives \(main) but shortcut gives \(side)")
        }
        return main
    }

    public func forward(_ input: Tensor, training: Bool) throws -> Tensor {
        let shape = try outputShape(for: input.shape)
        let main = try body.forward(input, training: training)
        let side = try sideAdapter.conform(try shortcut?.forward(input, training: training) ?? input, to: main.layout, backend: backend)
        let b = outputs.value(for: input.shape, layout: input.layout) {
            (Tensor(shape: shape, layout: main.layout), Tensor(shape: input.shape, layout: input.layout))
        }
        backend.add(main, side, into: b.output)
        self.input = input
        return b.output
    }

    public func backward(_ outputGradient: Tensor, needsInputGradient: Bool) throws -> Tensor? {
        guard let input else { throw LayerError.backwardBeforeForward(layer: description) }
        let b = outputs.value(for: input.shape, layout: input.layout) { fatalError("unreachable: forward made the buffers") }
        let outputGradient = try outputGradientAdapter.conform(outputGradient, to: b.output.layout, backend: backend)
        let mainGradient = try body.backward(outputGradient, needsInputGradient: needsInputGradient)
        let sideGradient = try shortcut.map { try $0.backward(outputGradient, needsInputGradient: needsInputGradient) } ?? outputGradient
        guard needsInputGradient, let mainGradient, let sideGradient else { return nil }
        let main = try mainGradientAdapter.conform(mainGradient, to: input.layout, backend: backend)
        let side = try sideGradientAdapter.conform(sideGradient, to: input.layout, backend: backend)
        backend.add(main, side, into: b.inputGradient)
        return b.inputGradient
    }
}
