import CDNNL
#if canImport(Glibc)
import Glibc
#endif

/// A oneDNN call that did not return `dnnl_success`, with the operation that made it.
public struct DNNLError: Error, CustomStringConvertible, Sendable {
    public let operation: String
    public let status: Int32
    public var description: String {
        let name: String
        switch dnnl_status_t(rawValue: UInt32(bitPattern: status)) {
        case dnnl_out_of_memory: name = "out of memory"
        case dnnl_invalid_arguments: name = "invalid arguments"
        case dnnl_unimplemented: name = "unimplemented"
        case dnnl_runtime_error: name = "runtime error"
        default: name = "status \(status)"
        }
        return "oneDNN \(operation) failed: \(name)"
    }
}

@inline(__always)
func dnnlCheck(_ status: dnnl_status_t, _ operation: @autoclosure () -> String) throws {
    if status != dnnl_success { throw DNNLError(operation: operation(), status: Int32(bitPattern: status.rawValue)) }
}

/// The process-wide oneDNN CPU engine and one in-order stream per calling thread.
///
/// oneDNN's CPU engine with the OpenMP runtime executes primitives synchronously on the calling
/// thread's OpenMP team. Streams are not thread-safe, so each thread that executes gets its own.
public final class DNNLContext: @unchecked Sendable {
    public static let shared: DNNLContext = {
        do { return try DNNLContext() } catch { fatalError("cannot create the oneDNN CPU engine: \(error)") }
    }()

    let engine: dnnl_engine_t
    /// Attributes every primitive is created with: user-managed scratchpad, so each primitive owns
    /// its scratch memory and no two primitives (or threads) ever share one.
    let attributes: dnnl_primitive_attr_t
    private var streamKey = pthread_key_t()

    private init() throws {
        var engine: dnnl_engine_t?
        try dnnlCheck(dnnl_engine_create(&engine, dnnl_cpu, 0), "engine_create")
        self.engine = engine!
        // No primitive cache: identical descriptors would otherwise share one primitive object
        // across plans and threads. Every plan is made once per shape, so the cache buys nothing;
        // sharing is the prime suspect for a rare wrong 1×1 stride-2 weight gradient seen only
        // when many tests ran concurrently (not reproduced since).
        try dnnlCheck(dnnl_set_primitive_cache_capacity(0), "set_primitive_cache_capacity")
        var attributes: dnnl_primitive_attr_t?
        try dnnlCheck(dnnl_primitive_attr_create(&attributes), "primitive_attr_create")
        try dnnlCheck(dnnl_primitive_attr_set_scratchpad_mode(attributes, dnnl_scratchpad_mode_user), "set_scratchpad_mode")
        self.attributes = attributes!
        pthread_key_create(&streamKey) { stream in dnnl_stream_destroy(OpaquePointer(stream)) }
    }

    /// The calling thread's stream, created on first use.
    var stream: dnnl_stream_t {
        get throws {
            if let existing = pthread_getspecific(streamKey) { return OpaquePointer(existing) }
            var stream: dnnl_stream_t?
            try dnnlCheck(dnnl_stream_create(&stream, engine, UInt32(dnnl_stream_default_flags.rawValue)), "stream_create")
            pthread_setspecific(streamKey, UnsafeRawPointer(stream!))
            return stream!
        }
    }

    /// The oneDNN library version, e.g. "2.6.3".
    public static var version: String {
        guard let v = dnnl_version() else { return "unknown" }
        return "\(v.pointee.major).\(v.pointee.minor).\(v.pointee.patch)"
    }
}

/// A plain (row-major) memory descriptor of the given dimensions.
func plainMemoryDescriptor(_ dims: [Int]) throws -> dnnl_memory_desc_t {
    let tags: [Int: dnnl_format_tag_t] = [1: dnnl_a, 2: dnnl_ab, 3: dnnl_abc, 4: dnnl_abcd, 5: dnnl_abcde]
    guard let tag = tags[dims.count] else { throw DNNLError(operation: "memory descriptor of rank \(dims.count)", status: -1) }
    var md = dnnl_memory_desc_t()
    try withDims(dims) { pointer in
        try dnnlCheck(dnnl_memory_desc_init_by_tag(&md, Int32(dims.count), pointer, dnnl_f32, tag), "memory_desc_init \(dims)")
    }
    return md
}

/// The memory descriptor of a tensor shape in a layout.
func memoryDescriptor(_ dims: [Int], layout: TensorLayout) throws -> dnnl_memory_desc_t {
    switch layout {
    case .plain:
        return try plainMemoryDescriptor(dims)
    case .channelsLast:
        guard dims.count == 4 else { throw DNNLError(operation: "memory descriptor \(dims) in layout \(layout)", status: -1) }
        var md = dnnl_memory_desc_t()
        try withDims(dims) { pointer in
            try dnnlCheck(dnnl_memory_desc_init_by_tag(&md, 4, pointer, dnnl_f32, dnnl_nhwc), "memory_desc_init \(dims) nhwc")
        }
        return md
    case let .channelBlocked(block):
        let tags: [Int: dnnl_format_tag_t] = [4: dnnl_nChw4c, 8: dnnl_nChw8c, 16: dnnl_nChw16c]
        guard dims.count == 4, let tag = tags[block] else {
            throw DNNLError(operation: "memory descriptor \(dims) in layout \(layout)", status: -1)
        }
        var md = dnnl_memory_desc_t()
        try withDims(dims) { pointer in
            try dnnlCheck(dnnl_memory_desc_init_by_tag(&md, 4, pointer, dnnl_f32, tag), "memory_desc_init \(dims) \(layout)")
        }
        return md
    }
}

/// A memory descriptor that lets the primitive choose the format (`format_tag_any`).
func anyMemoryDescriptor(_ dims: [Int]) throws -> dnnl_memory_desc_t {
    var md = dnnl_memory_desc_t()
    try withDims(dims) { pointer in
        try dnnlCheck(dnnl_memory_desc_init_by_tag(&md, Int32(dims.count), pointer, dnnl_f32, dnnl_format_tag_any), "memory_desc_init any \(dims)")
    }
    return md
}

func memoryDescriptorsEqual(_ a: dnnl_memory_desc_t, _ b: dnnl_memory_desc_t) -> Bool {
    var a = a, b = b
    return dnnl_memory_desc_equal(&a, &b) != 0
}

/// Bytes a memory descriptor spans.
func memoryDescriptorSize(_ md: dnnl_memory_desc_t) -> Int {
    var md = md
    return dnnl_memory_desc_get_size(&md)
}

/// `dnnl_dims_t` (a 12-element C array) from a Swift array.
func dnnlDims(_ values: [Int]) -> dnnl_dims_t {
    var d: dnnl_dims_t = (0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0)
    withUnsafeMutableBytes(of: &d) { raw in
        let p = raw.bindMemory(to: dnnl_dim_t.self)
        for (i, v) in values.enumerated() { p[i] = dnnl_dim_t(v) }
    }
    return d
}

/// Calls `body` with a pointer to the first element of a `dnnl_dims_t` built from `values`.
func withDims<R>(_ values: [Int], _ body: (UnsafePointer<dnnl_dim_t>) throws -> R) rethrows -> R {
    // The whole 12-element tuple must be addressed, not just its first element: a pointer to `.0`
    // only covers that element, and the optimiser may copy nothing else.
    let d = dnnlDims(values)
    return try withUnsafeBytes(of: d) { raw in try body(raw.bindMemory(to: dnnl_dim_t.self).baseAddress!) }
}

/// One oneDNN primitive with its descriptor, memories bound by argument id, executed on the shared stream.
final class DNNLPrimitive {
    let descriptor: dnnl_primitive_desc_t
    let primitive: dnnl_primitive_t
    private var arguments: [dnnl_exec_arg_t] = []
    private var memories: [Int32: dnnl_memory_t] = [:]
    private var owned: [UnsafeMutableRawPointer] = []
    private var ownedByArgument: [Int32: UnsafeMutableRawPointer] = [:]
    let name: String

    /// Takes ownership of `descriptor`.
    init(descriptor: dnnl_primitive_desc_t, name: String) throws {
        self.descriptor = descriptor
        self.name = name
        var primitive: dnnl_primitive_t?
        let status = dnnl_primitive_create(&primitive, descriptor)
        if status != dnnl_success {
            dnnl_primitive_desc_destroy(descriptor)
            try dnnlCheck(status, "primitive_create \(name)")
        }
        self.primitive = primitive!
        if let scratchpad = memoryDescriptor(dnnl_query_scratchpad_md), memoryDescriptorSize(scratchpad) > 0 {
            try bindOwned(DNNL_ARG_SCRATCHPAD, scratchpad)
        }
    }

    deinit {
        for memory in memories.values { dnnl_memory_destroy(memory) }
        for pointer in owned { pointer.deallocate() }
        dnnl_primitive_destroy(primitive)
        dnnl_primitive_desc_destroy(descriptor)
    }

    /// The memory descriptor the primitive expects for `query` (e.g. `dnnl_query_src_md`) at `index`.
    func memoryDescriptor(_ query: dnnl_query_t, index: Int32 = 0) -> dnnl_memory_desc_t? {
        guard let md = dnnl_primitive_desc_query_md(descriptor, query, index) else { return nil }
        return md.pointee
    }

    /// The implementation oneDNN chose, e.g. "jit:avx512_core".
    var implementation: String {
        var cString: UnsafePointer<CChar>?
        guard dnnl_primitive_desc_query(descriptor, dnnl_query_impl_info_str, 0, &cString) == dnnl_success,
              let cString else { return "unknown" }
        return String(cString: cString)
    }

    /// Declares argument `argument` with memory descriptor `md`; its data pointer is set per execution.
    func bind(_ argument: Int32, _ md: dnnl_memory_desc_t) throws {
        var md = md
        var memory: dnnl_memory_t?
        try dnnlCheck(dnnl_memory_create(&memory, &md, DNNLContext.shared.engine, nil), "memory_create \(name)")
        memories[argument] = memory!
        arguments.append(dnnl_exec_arg_t(arg: argument, memory: memory!))
    }

    /// Declares an argument whose buffer the primitive owns (workspace, scratch statistics).
    func bindOwned(_ argument: Int32, _ md: dnnl_memory_desc_t) throws {
        var md = md
        let size = max(dnnl_memory_desc_get_size(&md), 64)
        let buffer = UnsafeMutableRawPointer.allocate(byteCount: size, alignment: 64)
        owned.append(buffer)
        ownedByArgument[argument] = buffer
        try bind(argument, md)
        try set(argument, buffer)
    }

    /// The buffer of an argument bound with `bindOwned`.
    func ownedHandle(_ argument: Int32) -> UnsafeMutableRawPointer? { ownedByArgument[argument] }

    @inline(__always)
    func set(_ argument: Int32, _ pointer: UnsafeMutableRawPointer) throws {
        guard let memory = memories[argument] else { throw DNNLError(operation: "\(name): argument \(argument) not bound", status: -1) }
        try dnnlCheck(dnnl_memory_set_data_handle(memory, pointer), "set_data_handle \(name)")
    }

    func set(_ argument: Int32, _ tensor: Tensor) throws { try set(argument, UnsafeMutableRawPointer(tensor.data)) }

    func execute() throws {
        let stream = try DNNLContext.shared.stream
        try arguments.withUnsafeBufferPointer { args in
            try dnnlCheck(dnnl_primitive_execute(primitive, stream, Int32(args.count), args.baseAddress), "execute \(name)")
        }
    }
}

/// Creates a primitive descriptor from an operation descriptor, optionally with a forward hint.
func makePrimitiveDescriptor<Op>(_ op: inout Op, hint: dnnl_primitive_desc_t? = nil, name: String) throws -> dnnl_primitive_desc_t {
    var pd: dnnl_primitive_desc_t?
    try withUnsafePointer(to: &op) { opPointer in
        try dnnlCheck(dnnl_primitive_desc_create(&pd, UnsafeRawPointer(opPointer), DNNLContext.shared.attributes, DNNLContext.shared.engine, hint), "primitive_desc_create \(name)")
    }
    return pd!
}

/// A oneDNN reorder between two memory descriptors of the same logical shape.
final class DNNLReorder {
    let primitive: DNNLPrimitive
    let source: dnnl_memory_desc_t
    let destination: dnnl_memory_desc_t

    init(from source: dnnl_memory_desc_t, to destination: dnnl_memory_desc_t, name: String) throws {
        self.source = source
        self.destination = destination
        var pd: dnnl_primitive_desc_t?
        var src = source, dst = destination
        let engine = DNNLContext.shared.engine
        try dnnlCheck(dnnl_reorder_primitive_desc_create(&pd, &src, engine, &dst, engine, DNNLContext.shared.attributes), "reorder \(name)")
        primitive = try DNNLPrimitive(descriptor: pd!, name: "reorder \(name)")
        try primitive.bind(DNNL_ARG_FROM, source)
        try primitive.bind(DNNL_ARG_TO, destination)
    }

    func execute(from: UnsafeMutableRawPointer, to: UnsafeMutableRawPointer) throws {
        try primitive.set(DNNL_ARG_FROM, from)
        try primitive.set(DNNL_ARG_TO, to)
        try primitive.execute()
    }
}

/// A buffer in a primitive's preferred format, filled from plain data by a reorder when the
/// formats differ (weights for convolution kernels).
final class FormattedBuffer {
    let descriptor: dnnl_memory_desc_t
    private let reorder: DNNLReorder?
    private let storage: UnsafeMutableRawPointer?

    /// `wanted` is what the primitive asked for, `plain` the layout the data lives in. When the
    /// primitive works on input channels padded to a whole block, `logicalInChannels` names the real
    /// count: the reorder then targets the same blocked format with the real dimensions (identical
    /// bytes; the reorder writes zeros into the padding).
    init(wanted: dnnl_memory_desc_t, plain: dnnl_memory_desc_t, logicalInChannels: Int? = nil, toPlain: Bool, name: String) throws {
        descriptor = wanted
        var formatted = wanted
        if let logicalInChannels {  // dims are (out, in, kh, kw): shrink `in` back, keep the padded dims
            withUnsafeMutableBytes(of: &formatted.dims) { raw in raw.bindMemory(to: dnnl_dim_t.self)[1] = dnnl_dim_t(logicalInChannels) }
        }
        if memoryDescriptorsEqual(formatted, plain) {
            reorder = nil
            storage = nil
        } else {
            reorder = toPlain ? try DNNLReorder(from: formatted, to: plain, name: name) : try DNNLReorder(from: plain, to: formatted, name: name)
            let size = max(memoryDescriptorSize(wanted), 64)
            let buffer = UnsafeMutableRawPointer.allocate(byteCount: size, alignment: 64)
            buffer.initializeMemory(as: UInt8.self, repeating: 0, count: size)
            storage = buffer
        }
    }

    deinit { storage?.deallocate() }

    var needsReorder: Bool { reorder != nil }

    /// The pointer to hand the primitive: the tensor itself when no reorder is needed.
    func pointer(for tensor: Tensor) -> UnsafeMutableRawPointer { storage ?? UnsafeMutableRawPointer(tensor.data) }

    /// Plain tensor → formatted buffer (before the primitive reads it).
    func fill(from tensor: Tensor) throws {
        if let reorder, let storage { try reorder.execute(from: UnsafeMutableRawPointer(tensor.data), to: storage) }
    }

    /// Formatted buffer → plain tensor (after the primitive wrote it).
    func drain(into tensor: Tensor) throws {
        if let reorder, let storage { try reorder.execute(from: storage, to: UnsafeMutableRawPointer(tensor.data)) }
    }
}
