import Tensors

/// A network layer with an explicit forward and backward pass (llm.c style).
///
/// `forward` returns a buffer the layer owns (allocated once per input shape) and caches what
/// `backward` needs. `backward` overwrites the layer's parameter gradients and returns the gradient
/// with respect to the input, or nil when `needsInputGradient` is false (first layer).
public protocol Layer: AnyObject {
    /// Short description, e.g. "Conv2d(3→6, 5×5, valid)".
    var description: String { get }
    /// Output shape (batch first) for an input shape, or an error naming what does not fit.
    func outputShape(for inputShape: [Int]) throws -> [Int]
    func forward(_ input: Tensor, training: Bool) throws -> Tensor
    func backward(_ outputGradient: Tensor, needsInputGradient: Bool) throws -> Tensor?
    /// Trainable parameters in canonical order (order of creation).
    var parameters: [Parameter] { get }
    /// Child layers, for traversal; empty for leaves.
    var children: [any Layer] { get }
    /// Non-trainable state to checkpoint (BatchNorm running statistics), in canonical order.
    var buffers: [(name: String, tensor: Tensor)] { get }
}

extension Layer {
    public var parameters: [Parameter] { [] }
    public var children: [any Layer] { [] }
    public var buffers: [(name: String, tensor: Tensor)] { [] }
}

/// A shape mismatch or impossible layer configuration.
public enum LayerError: Error, Equatable, CustomStringConvertible {
    case shapeMismatch(layer: String, expected: String, got: [Int])
    case invalidConfiguration(layer: String, reason: String)
    case backwardBeforeForward(layer: String)

    public var description: String {
        switch self {
        case let .shapeMismatch(layer, expected, got): "\(layer): expected input \(expected), got \(got)"
        case let .invalidConfiguration(layer, reason): "\(layer): \(reason)"
        case let .backwardBeforeForward(layer): "\(layer): backward called before forward"
        }
    }
}

/// Per-input-shape (and layout) storage: a layer's buffers and plans are made once per shape and
/// reused. The common case — the same shape as last call — compares without allocating.
struct ShapeCache<Value> {
    private struct Key: Hashable {
        let shape: [Int]
        let layout: TensorLayout
    }
    private var entries: [Key: Value] = [:]
    private var lastShape: [Int] = []
    private var lastLayout: TensorLayout = .plain
    private var last: Value?

    mutating func value(for shape: [Int], layout: TensorLayout = .plain, make: () throws -> Value) rethrows -> Value {
        if let last, layout == lastLayout, shape == lastShape { return last }
        let key = Key(shape: shape, layout: layout)
        let value = try entries[key] ?? make()
        entries[key] = value
        lastShape = shape
        lastLayout = layout
        last = value
        return value
    }

    /// Every value made so far.
    var values: [Value] { Array(entries.values) }
}

/// Brings tensors into the layout a layer needs, reordering into a buffer owned per
/// (shape, from, to) when they arrive in another one. A no-op when layouts already agree, which is
/// the per-step case everywhere except the model's edges.
struct LayoutAdapter {
    private var entries: [TensorLayout: ShapeCache<(kernel: any ReorderKernel, buffer: Tensor)>] = [:]

    mutating func conform(_ tensor: Tensor, to layout: TensorLayout, backend: any Backend) throws -> Tensor {
        if tensor.layout == layout { return tensor }
        let entry = try entries[layout, default: ShapeCache()].value(for: tensor.shape, layout: tensor.layout) {
            (try backend.makeReorder(shape: tensor.shape, from: tensor.layout, to: layout), Tensor(shape: tensor.shape, layout: layout))
        }
        try entry.kernel.reorder(tensor, into: entry.buffer)
        return entry.buffer
    }
}
