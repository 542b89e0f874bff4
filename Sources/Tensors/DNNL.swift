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
    private var streamKey = pthread_key_t()

    private init() throws {
        var engine: dnnl_engine_t?
        try dnnlCheck(dnnl_engine_create(&engine, dnnl_cpu, 0), "engine_create")
        self.engine = engine!
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
        try dnnlCheck(dnnl_primitive_desc_create(&pd, UnsafeRawPointer(opPointer), nil, DNNLContext.shared.engine, hint), "primitive_desc_create \(name)")
    }
    return pd!
}
