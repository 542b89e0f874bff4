#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import Tensors

/// A 0/1 mask with one byte per weight in C order: the form npz files hold masks in, a quarter of
/// a float tensor's memory. Mask-only commands (`prunelab effective`) read, compute and write masks
/// in this form without ever making float tensors the size of the weights.
public final class BinaryMask: @unchecked Sendable, Equatable, CustomStringConvertible {
    public let shape: [Int]
    public let count: Int
    /// `count` bytes, each 0 or 1.
    public let bytes: UnsafeMutablePointer<UInt8>

    /// An all-zero mask of `shape`. Zeroed by `calloc`: a large block comes straight from the
    /// kernel's zero pages, so nothing is written twice.
    public init(shape: [Int]) {
        precondition(shape.allSatisfy { $0 >= 0 }, "negative dimension in \(shape)")
        self.shape = shape
        count = shape.reduce(1, *)
        guard let raw = calloc(max(count, 1), 1) else { fatalError("out of memory for a \(shape) mask") }
        bytes = raw.bindMemory(to: UInt8.self, capacity: max(count, 1))
    }

    /// A mask holding `values` (each 0 or 1).
    public convenience init(shape: [Int], values: [UInt8]) {
        precondition(values.count == shape.reduce(1, *), "\(values.count) values for shape \(shape)")
        precondition(values.allSatisfy { $0 <= 1 }, "mask values are 0 or 1")
        self.init(shape: shape)
        values.withUnsafeBufferPointer { bytes.update(from: $0.baseAddress!, count: count) }
    }

    /// The mask of a plain 0/1 float tensor; nil, with the first other value, when it holds one.
    public static func from(_ tensor: Tensor) -> (mask: BinaryMask?, nonBinary: Float?) {
        precondition(tensor.layout == .plain, "masks are plain tensors")
        let mask = BinaryMask(shape: tensor.shape)
        let values = tensor.readableData
        for i in 0..<tensor.count {
            let value = values[i]
            guard value == 0 || value == 1 else { return (nil, value) }
            mask.bytes[i] = value == 0 ? 0 : 1
        }
        return (mask, nil)
    }

    deinit { free(bytes) }

    public var buffer: UnsafeBufferPointer<UInt8> { UnsafeBufferPointer(start: bytes, count: count) }
    public var array: [UInt8] { Array(buffer) }

    public subscript(index: Int) -> UInt8 {
        get { bytes[index] }
        set {
            precondition(newValue <= 1, "mask values are 0 or 1")
            bytes[index] = newValue
        }
    }

    /// Number of kept weights (ones).
    public var keptCount: Int { Bytes.ones(bytes, count: count) }

    /// A 2-D mask with rows and columns swapped ((in, out) weights seen as (out, in) and back).
    public func transposed() -> BinaryMask {
        precondition(shape.count == 2, "only 2-D masks transpose")
        let rows = shape[0], columns = shape[1]
        let result = BinaryMask(shape: [columns, rows])
        for r in 0..<rows {
            for c in 0..<columns { result.bytes[c * rows + r] = bytes[r * columns + c] }
        }
        return result
    }

    /// The mask as a plain float tensor (what the training engine multiplies by).
    public var tensor: Tensor {
        let tensor = Tensor(shape: shape)
        let values = tensor.data
        for i in 0..<count { values[i] = Float(bytes[i]) }
        return tensor
    }

    public static func == (a: BinaryMask, b: BinaryMask) -> Bool {
        a.shape == b.shape && memcmp(a.bytes, b.bytes, a.count) == 0
    }

    public var description: String { "BinaryMask(\(shape), \(keptCount) of \(count) kept)" }
}
