import Tensors

/// y = body(x) + shortcut(x), the residual join; the shortcut is the identity when nil.
public final class Residual: Layer {
    public let body: Sequential
    public let shortcut: Sequential?
    private let backend: any Backend
    private var outputs = ShapeCache<(output: Tensor, inputGradient: Tensor)>()
    private var inputShape: [Int]?

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
        let b = outputs.value(for: input.shape) { (Tensor(shape: shape), Tensor(shape: input.shape)) }
        let main = try body.forward(input, training: training)
        let side = try shortcut?.forward(input, training: training) ?? input
        backend.add(main, side, into: b.output)
        inputShape = input.shape
        return b.output
    }

    public func backward(_ outputGradient: Tensor, needsInputGradient: Bool) throws -> Tensor? {
        guard let inputShape else { throw LayerError.backwardBeforeForward(layer: description) }
        let mainGradient = try body.backward(outputGradient, needsInputGradient: needsInputGradient)
        let sideGradient = try shortcut.map { try $0.backward(outputGradient, needsInputGradient: needsInputGradient) } ?? outputGradient
        guard needsInputGradient, let mainGradient, let sideGradient else { return nil }
        let b = outputs.value(for: inputShape) { fatalError("unreachable: forward made the buffers") }
        backend.add(mainGradient, sideGradient, into: b.inputGradient)
        return b.inputGradient
    }
}
