import Tensors

/// A trainable tensor with its gradient and, for prunable weights, a 0/1 mask of the same shape.
public final class Parameter {
    public enum Role: String, Sendable { case weight, bias, scale, shift }

    public let name: String
    public let role: Role
    public let value: Tensor
    public let gradient: Tensor
    /// True for dense and convolution weights: the tensors pruning masks apply to.
    public let isPrunable: Bool
    /// Whether weight decay applies (kernels only, as in the paper's Keras regularisers).
    public let decays: Bool
    /// 0/1 mask for prunable weights; nil means dense (all kept).
    public var mask: Tensor? {
        didSet {
            if let mask { precondition(mask.shape == value.shape, "mask \(mask.shape) for \(name) \(value.shape)") }
        }
    }

    /// Fan-in and fan-out for initialisation (weights only).
    public let fans: (fanIn: Int, fanOut: Int)

    public init(name: String, role: Role, shape: [Int], isPrunable: Bool, decays: Bool, fans: (fanIn: Int, fanOut: Int) = (0, 0)) {
        self.fans = fans
        self.name = name
        self.role = role
        self.value = Tensor(shape: shape)
        self.gradient = Tensor(shape: shape)
        self.isPrunable = isPrunable
        self.decays = decays
    }

    public var shape: [Int] { value.shape }
    public var count: Int { value.count }

    /// Sets the mask and zeroes the masked weights at once, so the invariant holds from now on.
    public func setMask(_ newMask: Tensor, backend: any Backend = CPUBackend.shared) {
        mask = newMask
        backend.applyMask(newMask, to: value)
    }

    /// Number of weights the mask keeps (all when unmasked).
    public var keptCount: Int {
        guard let mask else { return count }
        var kept = 0
        for i in 0..<mask.count where mask[i] != 0 { kept += 1 }
        return kept
    }
}
