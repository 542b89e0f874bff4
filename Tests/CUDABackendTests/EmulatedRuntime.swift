import CDNNL
import CUDABackend
import Foundation

/// A `DeviceRuntime` on the CPU: "device" memory is separate host memory (filled with NaN when
/// allocated, so reading what no kernel wrote shows up), kernels are the backend's own CUDA C
/// source compiled with the system C++ compiler under `EmulatorPrelude`, and sgemm follows
/// cuBLAS's column-major contract (on oneDNN). It counts the bytes that cross the "bus", so tests
/// can check that a training step moves only its batch.
final class EmulatedRuntime: DeviceRuntime, @unchecked Sendable {
    /// One per test process: compiling the kernels takes seconds.
    nonisolated(unsafe) private static var compiled: [String: UnsafeMutableRawPointer] = [:]
    /// Emulated launches share global state (thread coordinates, shared arrays): one at a time.
    private static let launchLock = NSLock()

    private let lock = NSLock()
    private var allocations: [DevicePointer: Int] = [:]
    private(set) var hostToDeviceBytes = 0
    private(set) var deviceToHostBytes = 0
    private(set) var launches = 0

    /// cuDNN's convolutions when given (the fake libcudnn, whose "device" pointers are host pointers too).
    let convolutions: (any DeviceConvolutions)?

    init(convolutions: (any DeviceConvolutions)? = nil) {
        self.convolutions = convolutions
    }

    var deviceDescription: String { "host emulation" + (convolutions.map { ", \($0.libraryDescription)" } ?? "") }
    var liveAllocations: Int { lock.withLock { allocations.count } }

    func resetCounters() {
        lock.withLock { hostToDeviceBytes = 0; deviceToHostBytes = 0; launches = 0 }
    }

    func allocate(bytes: Int) throws -> DevicePointer {
        let raw = UnsafeMutableRawPointer.allocate(byteCount: max(bytes, 4), alignment: 256)
        raw.initializeMemory(as: UInt32.self, repeating: 0x7FC0_0000, count: max(bytes, 4) / 4)  // quiet NaN
        let address = DevicePointer(UInt(bitPattern: raw))
        lock.withLock { allocations[address] = bytes }
        return address
    }

    func free(_ pointer: DevicePointer) {
        guard let raw = UnsafeMutableRawPointer(bitPattern: UInt(pointer)) else { return }
        let known = lock.withLock { allocations.removeValue(forKey: pointer) != nil }
        precondition(known, "free of an address that was not allocated")
        raw.deallocate()
    }

    private func raw(_ pointer: DevicePointer) -> UnsafeMutableRawPointer {
        UnsafeMutableRawPointer(bitPattern: UInt(pointer))!
    }

    func copyToDevice(_ destination: DevicePointer, from source: UnsafeRawPointer, bytes: Int) throws {
        raw(destination).copyMemory(from: source, byteCount: bytes)
        lock.withLock { hostToDeviceBytes += bytes }
    }

    func copyToHost(_ destination: UnsafeMutableRawPointer, from source: DevicePointer, bytes: Int) throws {
        destination.copyMemory(from: raw(source), byteCount: bytes)
        lock.withLock { deviceToHostBytes += bytes }
    }

    func copyOnDevice(_ destination: DevicePointer, from source: DevicePointer, bytes: Int) throws {
        raw(destination).copyMemory(from: raw(source), byteCount: bytes)
    }

    func zero(_ destination: DevicePointer, bytes: Int) throws {
        raw(destination).initializeMemory(as: UInt8.self, repeating: 0, count: bytes)
    }

    final class Function: KernelFunction {
        let name: String
        let entry: @convention(c) (UInt32, UInt32, UInt32, UInt32, UInt32, UInt32, UnsafeMutablePointer<UnsafeMutableRawPointer?>) -> Void
        init(name: String, entry: @escaping @convention(c) (UInt32, UInt32, UInt32, UInt32, UInt32, UInt32, UnsafeMutablePointer<UnsafeMutableRawPointer?>) -> Void) {
            self.name = name
            self.entry = entry
        }
    }

    enum EmulationError: Error, CustomStringConvertible {
        case compilerFailed(String), missingSymbol(String)
        var description: String {
            switch self {
            case let .compilerFailed(log): "emulated kernels did not compile: \(log)"
            case let .missingSymbol(name): "emulated kernel \(name) not exported"
            }
        }
    }

    func loadKernels(source: String, names: [String]) throws -> [String: any KernelFunction] {
        let handle = try Self.library(for: source, names: names)
        var functions: [String: any KernelFunction] = [:]
        for name in names {
            guard let symbol = dlsym(handle, "emu_\(name)") else { throw EmulationError.missingSymbol(name) }
            functions[name] = Function(name: name, entry: unsafeBitCast(symbol, to: (@convention(c) (UInt32, UInt32, UInt32, UInt32, UInt32, UInt32, UnsafeMutablePointer<UnsafeMutableRawPointer?>) -> Void).self))
        }
        return functions
    }

    /// Compiles `source` with the prelude into a shared library (once per process) and opens it.
    private static func library(for source: String, names: [String]) throws -> UnsafeMutableRawPointer {
        try launchLock.withLock {
            if let handle = compiled[source] { return handle }
            // A kernel whose body declares shared memory synchronises its block: run its threads as fibers.
            var exports = ""
            for name in names {
                let body = kernelBody(name, in: source)
                exports += "EMU_EXPORT(\(name), \(body.contains("__shared__") ? "true" : "false"))\n"
            }
            let directory = FileManager.default.temporaryDirectory.appendingPathComponent("prunelab-emulator-\(getpid())-\(compiled.count)")
            try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
            let file = directory.appendingPathComponent("kernels.cpp"), library = directory.appendingPathComponent("kernels.so")
            try (EmulatorPrelude.prelude + "\n" + source + "\n" + exports).write(to: file, atomically: true, encoding: .utf8)
            let process = Process()
            process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
            process.arguments = [ProcessInfo.processInfo.environment["CXX"] ?? "c++", "-std=c++17", "-O2", "-fPIC", "-shared", "-U_FORTIFY_SOURCE",
                                 "-Wno-unused-function", "-o", library.path, file.path]
            let errors = Pipe()
            process.standardError = errors
            try process.run()
            let log = errors.fileHandleForReading.readDataToEndOfFile()
            process.waitUntilExit()
            guard process.terminationStatus == 0 else {
                throw EmulationError.compilerFailed(String(decoding: log, as: UTF8.self).split(separator: "\n").prefix(20).joined(separator: "\n"))
            }
            guard let handle = dlopen(library.path, RTLD_NOW | RTLD_LOCAL) else {
                throw EmulationError.compilerFailed(String(cString: dlerror()))
            }
            compiled[source] = handle
            return handle
        }
    }

    /// The text from `KERNEL name(` to the next `KERNEL` (or the end).
    static func kernelBody(_ name: String, in source: String) -> Substring {
        guard let start = source.range(of: "KERNEL \(name)(") else { return "" }
        let rest = source[start.upperBound...]
        let end = rest.range(of: "\nKERNEL ")?.lowerBound ?? rest.endIndex
        return rest[..<end]
    }

    func launch(_ kernel: any KernelFunction, grid: (x: Int, y: Int, z: Int), block: (x: Int, y: Int, z: Int),
                sharedBytes: Int, arguments: [KernelArgument]) throws {
        let function = kernel as! Function
        // Each value in its own 8-byte slot, and an array of pointers to the slots: cuLaunchKernel's contract.
        let slots = UnsafeMutableRawPointer.allocate(byteCount: 8 * max(arguments.count, 1), alignment: 8)
        defer { slots.deallocate() }
        let pointers = UnsafeMutablePointer<UnsafeMutableRawPointer?>.allocate(capacity: max(arguments.count, 1))
        defer { pointers.deallocate() }
        for (index, argument) in arguments.enumerated() {
            let slot = slots + 8 * index
            switch argument {
            case let .pointer(value): slot.storeBytes(of: value, as: UInt64.self)
            case let .int32(value): slot.storeBytes(of: value, as: Int32.self)
            case let .int64(value): slot.storeBytes(of: value, as: Int64.self)
            case let .float(value): slot.storeBytes(of: value, as: Float.self)
            }
            pointers[index] = slot
        }
        Self.launchLock.withLock {
            function.entry(UInt32(grid.x), UInt32(grid.y), UInt32(grid.z), UInt32(block.x), UInt32(block.y), UInt32(block.z), pointers)
        }
        lock.withLock { launches += 1 }
    }

    /// cuBLAS semantics: column-major C = alpha·op(A)·op(B) + beta·C. A column-major matrix read
    /// row-major is its transpose, so oneDNN's row-major sgemm computes Cᵀ = op(B)ᵀ·op(A)ᵀ.
    func sgemm(transposeA: Bool, transposeB: Bool, m: Int, n: Int, k: Int, alpha: Float,
               a: DevicePointer, lda: Int, strideA: Int, b: DevicePointer, ldb: Int, strideB: Int,
               beta: Float, c: DevicePointer, ldc: Int, strideC: Int, batch: Int) throws {
        let floats = MemoryLayout<Float>.stride
        for i in 0..<batch {
            let pa = raw(a + UInt64(i * strideA * floats)).assumingMemoryBound(to: Float.self)
            let pb = raw(b + UInt64(i * strideB * floats)).assumingMemoryBound(to: Float.self)
            let pc = raw(c + UInt64(i * strideC * floats)).assumingMemoryBound(to: Float.self)
            let status = dnnl_sgemm(transposeB ? 84 : 78, transposeA ? 84 : 78, dnnl_dim_t(n), dnnl_dim_t(m), dnnl_dim_t(k), alpha,
                                    pb, dnnl_dim_t(ldb), pa, dnnl_dim_t(lda), beta, pc, dnnl_dim_t(ldc))
            precondition(status == dnnl_success, "emulated sgemm failed")
        }
    }

    func synchronize() throws {}
}
