/// A float32 tensor in row-major (NCHW at the API) order on 64-byte aligned storage it owns.
///
/// Tensors are reference types so that layers can hand out their preallocated buffers without
/// copying; hot loops take `data` once and work on the raw pointer.
public final class Tensor: @unchecked Sendable {
    public private(set) var shape: [Int]
    public let count: Int
    public let data: UnsafeMutablePointer<Float>
    /// The tensor whose storage a view shares (kept alive by the view); nil when this one owns it.
    private let base: Tensor?

    /// A zero-filled tensor of the given shape.
    public init(shape: [Int]) {
        precondition(shape.allSatisfy { $0 >= 0 }, "negative dimension in \(shape)")
        self.shape = shape
        self.count = shape.reduce(1, *)
        let raw = UnsafeMutableRawPointer.allocate(byteCount: max(count, 1) * MemoryLayout<Float>.stride, alignment: 64)
        self.data = raw.bindMemory(to: Float.self, capacity: max(count, 1))
        data.initialize(repeating: 0, count: max(count, 1))
        self.base = nil
    }

    /// A view of `base`'s storage with another shape of the same element count (no copy).
    public init(viewing base: Tensor, shape: [Int]) {
        precondition(shape.reduce(1, *) == base.count, "cannot view \(base.shape) as \(shape)")
        self.shape = shape
        self.count = base.count
        self.data = base.data
        self.base = base
    }

    /// A tensor holding a copy of `values`.
    public convenience init(shape: [Int], values: [Float]) {
        precondition(values.count == shape.reduce(1, *), "\(values.count) values for shape \(shape)")
        self.init(shape: shape)
        values.withUnsafeBufferPointer { data.update(from: $0.baseAddress!, count: count) }
    }

    deinit { if base == nil { UnsafeMutableRawPointer(data).deallocate() } }

    public var rank: Int { shape.count }
    /// The leading (batch) dimension.
    public var rows: Int { shape.first ?? 1 }
    /// Elements per leading index.
    public var columns: Int { rows == 0 ? 0 : count / rows }
    public var buffer: UnsafeMutableBufferPointer<Float> { UnsafeMutableBufferPointer(start: data, count: count) }
    /// A copy of the values, for tests and serialisation (not for hot paths).
    public var array: [Float] { Array(buffer) }

    public subscript(index: Int) -> Float {
        get { data[index] }
        set { data[index] = newValue }
    }

    /// Reinterprets the same storage with another shape of equal element count.
    public func reshape(to newShape: [Int]) {
        precondition(newShape.reduce(1, *) == count, "cannot reshape \(shape) to \(newShape)")
        shape = newShape
    }

    public func fill(_ value: Float) { data.update(repeating: value, count: count) }

    public func copy(from other: Tensor) {
        precondition(other.count == count, "copy of \(other.shape) into \(shape)")
        data.update(from: other.data, count: count)
    }

    public func clone() -> Tensor {
        let result = Tensor(shape: shape)
        result.copy(from: self)
        return result
    }
}
