import Tensors

/// Fully connected layer y = x·Wᵀ + b with PyTorch's weight layout (out, in).
public final class Linear: Layer {
    public let inFeatures: Int, outFeatures: Int
    public let weight: Parameter
    public let bias: Parameter?
    private let backend: any Backend
    private var outputs = ShapeCache<(output: Tensor, inputGradient: Tensor)>()
    private var input: Tensor?
    // One adapter per conversion site, so two conversions never share a buffer.
    private var inputAdapter = LayoutAdapter()
    private var outputGradientAdapter = LayoutAdapter()

    public init(_ inFeatures: Int, _ outFeatures: Int, bias: Bool = true, backend: any Backend = CPUBackend.shared) {
        self.inFeatures = inFeatures
        self.outFeatures = outFeatures
        self.backend = backend
        weight = Parameter(name: "weight", role: .weight, shape: [outFeatures, inFeatures], isPrunable: true, decays: true,
                           fans: (inFeatures, outFeatures))
        self.bias = bias ? Parameter(name: "bias", role: .bias, shape: [outFeatures], isPrunable: false, decays: false) : nil
    }

    public var description: String { "Linear(\(inFeatures)→\(outFeatures))" }
    public var parameters: [Parameter] { bias.map { [weight, $0] } ?? [weight] }

    public func outputShape(for inputShape: [Int]) throws -> [Int] {
        let perSample = inputShape.dropFirst().reduce(1, *)
        guard inputShape.count >= 2, perSample == inFeatures else {
            throw LayerError.shapeMismatch(layer: description, expected: "[N, \(inFeatures)]", got: inputShape)
        }
        return [inputShape[0], outFeatures]
    }

    public func forward(_ input: Tensor, training: Bool) throws -> Tensor {
        let input = try inputAdapter.conform(input, to: .plain, backend: backend)
        let shape = input.shape
        let buffers = try outputs.value(for: shape) {
            (Tensor(shape: try outputShape(for: shape)), Tensor(shape: shape))
        }
        let rows = shape[0]
        backend.gemm(transposeA: false, transposeB: true, m: rows, n: outFeatures, k: inFeatures,
                     alpha: 1, a: input, b: weight.value, beta: 0, c: buffers.output)
        if let bias { backend.addBias(bias.value, to: buffers.output) }
        self.input = input
        return buffers.output
    }

    public func backward(_ outputGradient: Tensor, needsInputGradient: Bool) throws -> Tensor? {
        guard let input else { throw LayerError.backwardBeforeForward(layer: description) }
        let outputGradient = try outputGradientAdapter.conform(outputGradient, to: .plain, backend: backend)
        let rows = input.shape[0]
        backend.gemm(transposeA: true, transposeB: false, m: outFeatures, n: inFeatures, k: rows,
                     alpha: 1, a: outputGradient, b: input, beta: 0, c: weight.gradient)
        if let bias { backend.sumRows(of: outputGradient, into: bias.gradient) }
        guard needsInputGradient else { return nil }
        let inputGradient = outputs.value(for: input.shape) { fatalError("unreachable: forward made the buffers") }.inputGradient
        backend.gemm(transposeA: false, transposeB: false, m: rows, n: inFeatures, k: outFeatures,
                     alpha: 1, a: outputGradient, b: weight.value, beta: 0, c: inputGradient)
        return inputGradient
    }
}
