#if canImport(Glibc)
import Glibc
#endif

/// How a tensor's elements are laid out in memory.
public enum TensorLayout: Hashable, Sendable, CustomStringConvertible {
    /// Row-major in the order of the shape (NCHW for images).
    case plain
    /// oneDNN's nChw{b}c: channels in blocks of `b` innermost ([N][⌈C/b⌉][H][W][b]), the channel
    /// count padded with zeros to a multiple of `b`. Activations between convolution-family layers
    /// stay in it, so oneDNN's direct kernels run without reorders on the per-step path.
    case channelBlocked(Int)
    /// NHWC ([N][H][W][C]): no padding; oneDNN has direct kernels for it where a partial channel
    /// block (e.g. 6 channels) rules the blocked layout out.
    case channelsLast

    public var description: String {
        switch self {
        case .plain: "plain"
        case let .channelBlocked(b): "nChw\(b)c"
        case .channelsLast: "nhwc"
        }
    }

    /// Elements of storage for a logical shape (channel padding included).
    public func storageCount(for shape: [Int]) -> Int {
        switch self {
        case .plain: return shape.reduce(1, *)
        case .channelsLast:
            precondition(shape.count == 4, "channels-last layout needs [N, C, H, W], got \(shape)")
            return shape.reduce(1, *)
        case let .channelBlocked(b):
            precondition(shape.count == 4, "blocked layout needs [N, C, H, W], got \(shape)")
            return shape[0] * ((shape[1] + b - 1) / b * b) * shape[2] * shape[3]
        }
    }
}

/// Storage on an accelerator that mirrors a tensor's host storage, attached by a device backend
/// (`TensorStorage.mirror`). The backend moves values across; the host side only asks for them back.
public protocol DeviceMirror: AnyObject {
    /// Copies the device's values into `host` (`count` floats); traps with the driver's message when the device fails.
    func download(into host: UnsafeMutablePointer<Float>, count: Int)
}

/// Where a tensor's current values live when a device backend mirrors it.
public enum Residency: Sendable {
    /// Only the host copy is current (the default, and the only state on the CPU backend).
    case host
    /// Only the device copy is current: host reads download it first.
    case device
    /// Both copies hold the same values.
    case both
}

/// The 64-byte aligned host buffer behind one or more tensors (a tensor and its views), and the
/// device mirror a GPU backend may attach to it.
///
/// Host access through `Tensor.data` is write access: it brings the host copy up to date and
/// marks the device copy stale. `Tensor.readableData` brings it up to date and keeps the device
/// copy valid. A device backend uploads only when the host copy is newer, so on the per-step path
/// values cross the bus only at batch boundaries (images, labels, the loss).
public final class TensorStorage: @unchecked Sendable {
    /// Host storage (`capacity` floats).
    public let host: UnsafeMutablePointer<Float>
    public let capacity: Int
    /// The device copy, when a device backend has used this storage.
    public var mirror: (any DeviceMirror)?
    public var residency: Residency = .host

    /// Whether `host` is an anonymous mapping (large buffers) rather than a heap block.
    private let mapped: Bool
    /// Buffers from this size on are mapped: the kernel hands out zeroed pages on first touch, so
    /// a buffer that is never written (a network built only to read its structure, a gradient a
    /// mask-only command never computes) costs address space, not memory.
    static let mappingThreshold = 1 << 20

    init(capacity: Int) {
        self.capacity = capacity
        let bytes = capacity * MemoryLayout<Float>.stride
        if bytes >= Self.mappingThreshold,
           let raw = mmap(nil, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0), raw != MAP_FAILED {
            // Page-aligned (beyond the 64 bytes asked of heap blocks) and already zero.
            mapped = true
            host = raw.bindMemory(to: Float.self, capacity: capacity)
        } else {
            mapped = false
            let raw = UnsafeMutableRawPointer.allocate(byteCount: bytes, alignment: 64)
            host = raw.bindMemory(to: Float.self, capacity: capacity)
            host.initialize(repeating: 0, count: capacity)
        }
    }

    deinit {
        if mapped { munmap(UnsafeMutableRawPointer(host), capacity * MemoryLayout<Float>.stride) } else {
            UnsafeMutableRawPointer(host).deallocate()
        }
    }

    /// Downloads the device copy when it is the only current one.
    @inline(__always)
    func synchronizeHost() {
        if residency == .device { downloadFromDevice() }
    }

    private func downloadFromDevice() {
        guard let mirror else { preconditionFailure("tensor storage marked device-resident without a device mirror") }
        mirror.download(into: host, count: capacity)
        residency = .both
    }
}

/// A float32 tensor: a logical shape (NCHW at the API) on 64-byte aligned storage in a layout.
///
/// Tensors are reference types so that layers can hand out their preallocated buffers without
/// copying; hot loops take `data` once and work on the raw pointer. Element-wise loops run over
/// `storageCount`; reading values in NCHW order for a non-plain tensor goes through a backend
/// (`Backend.plainValues(of:)`). On a device backend the storage may carry a device mirror; host
/// access synchronises with it (see `TensorStorage`).
public final class Tensor: @unchecked Sendable {
    public let shape: [Int]
    public let layout: TensorLayout
    /// Logical number of elements (product of the shape).
    public let count: Int
    /// Number of stored elements (≥ count: blocked layouts pad channels).
    public let storageCount: Int
    /// The buffer this tensor uses (shared with the tensor a view was made from).
    public let storage: TensorStorage

    /// Host values for writing (and reading): current values are downloaded first when a device
    /// holds them, and the device copy becomes stale.
    public var data: UnsafeMutablePointer<Float> {
        @inline(__always) get {
            let storage = storage
            if storage.residency != .host {
                storage.synchronizeHost()
                storage.residency = .host
            }
            return storage.host
        }
    }

    /// Host values for reading only: downloaded first when a device holds them; the device copy stays valid.
    public var readableData: UnsafePointer<Float> {
        @inline(__always) get {
            storage.synchronizeHost()
            return UnsafePointer(storage.host)
        }
    }

    /// A zero-filled tensor of the given shape and layout.
    public init(shape: [Int], layout: TensorLayout = .plain) {
        precondition(shape.allSatisfy { $0 >= 0 }, "negative dimension in \(shape)")
        self.shape = shape
        self.layout = layout
        self.count = shape.reduce(1, *)
        self.storageCount = layout.storageCount(for: shape)
        self.storage = TensorStorage(capacity: max(storageCount, 1))
    }

    /// A view of a plain tensor's storage with another shape of the same element count (no copy).
    public init(viewing base: Tensor, shape: [Int]) {
        precondition(base.layout == .plain, "only plain tensors can be viewed with another shape")
        precondition(shape.reduce(1, *) == base.count, "cannot view \(base.shape) as \(shape)")
        self.shape = shape
        self.layout = .plain
        self.count = base.count
        self.storageCount = base.count
        self.storage = base.storage
    }

    /// A plain tensor holding a copy of `values`.
    public convenience init(shape: [Int], values: [Float]) {
        precondition(values.count == shape.reduce(1, *), "\(values.count) values for shape \(shape)")
        self.init(shape: shape)
        values.withUnsafeBufferPointer { data.update(from: $0.baseAddress!, count: count) }
    }

    public var rank: Int { shape.count }
    /// The leading (batch) dimension.
    public var rows: Int { shape.first ?? 1 }
    /// Elements per leading index.
    public var columns: Int { rows == 0 ? 0 : count / rows }
    /// The stored elements (in storage order).
    public var buffer: UnsafeMutableBufferPointer<Float> { UnsafeMutableBufferPointer(start: data, count: storageCount) }
    /// A copy of the stored values, for tests and serialisation of plain tensors (not for hot paths).
    public var array: [Float] { Array(UnsafeBufferPointer(start: readableData, count: storageCount)) }

    public subscript(index: Int) -> Float {
        get { readableData[index] }
        set { data[index] = newValue }
    }

    public func fill(_ value: Float) {
        precondition(layout == .plain || value == 0, "filling a blocked tensor would fill its channel padding")
        data.update(repeating: value, count: storageCount)
    }

    /// Copies the storage of a tensor of the same shape and layout.
    public func copy(from other: Tensor) {
        precondition(other.storageCount == storageCount && other.layout == layout, "copy of \(other.shape) \(other.layout) into \(shape) \(layout)")
        data.update(from: other.readableData, count: storageCount)
    }

    public func clone() -> Tensor {
        let result = Tensor(shape: shape, layout: layout)
        result.copy(from: self)
        return result
    }
}
