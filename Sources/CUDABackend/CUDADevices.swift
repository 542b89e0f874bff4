import Foundation

/// How many GPUs this machine has, and how that was found out.
public struct CUDADeviceCount: Sendable, Equatable {
    /// The number of usable GPUs (0 when none was found).
    public var count: Int
    /// One line for the log: the source of the count, or why there is none.
    public var explanation: String
}

/// Finds the GPUs `serve --workers auto` gives one worker each.
public enum CUDADevices {
    /// Counts GPUs through the driver when libcuda loads, else with `nvidia-smi -L`; never throws.
    ///
    /// The driver comes first because it honours CUDA_VISIBLE_DEVICES, which nvidia-smi ignores; it
    /// runs in this process only once (cuInit) and workers are separate processes, so nothing leaks.
    public static func count(libraries: CUDALibrarySearch = .init(), nvidiaSMITimeout: Double = 10) -> CUDADeviceCount {
        let driverFailure: String
        switch countWithDriver(libraries) {
        case let .success(found): return found
        case let .failure(reason): driverFailure = reason.description
        }
        guard let smi = findOnPath("nvidia-smi", environment: libraries.environment) else {
            return CUDADeviceCount(count: 0, explanation: "no GPU: \(driverFailure); nvidia-smi is not on PATH")
        }
        guard let output = run(smi, arguments: ["-L"], timeout: nvidiaSMITimeout) else {
            return CUDADeviceCount(count: 0, explanation: "no GPU: \(driverFailure); \(smi) -L failed or timed out")
        }
        let count = countGPUs(inNvidiaSMIOutput: output)
        return CUDADeviceCount(count: count, explanation: "\(count) GPU\(count == 1 ? "" : "s") listed by \(smi) -L "
            + "(\(driverFailure))")
    }

    /// The number of GPUs in `nvidia-smi -L` output: lines starting "GPU " (MIG instances are indented).
    public static func countGPUs(inNvidiaSMIOutput output: String) -> Int {
        output.split(whereSeparator: \.isNewline).filter { $0.hasPrefix("GPU ") }.count
    }

    private static func countWithDriver(_ libraries: CUDALibrarySearch) -> Result<CUDADeviceCount, DriverFailure> {
        let library: LoadedLibrary
        let cuInit: @convention(c) (UInt32) -> CUresult
        let cuDeviceGetCount: @convention(c) (IntOut) -> CUresult
        do {
            library = try LoadedLibrary.load(.driver, search: libraries)
            cuInit = try library.function("cuInit")
            cuDeviceGetCount = try library.function("cuDeviceGetCount")
        } catch {
            // The full not-found message lists every directory; here one clause is enough.
            let reason = (error as? CUDALibraryError).map {
                if case .missingSymbol = $0 { return $0.description }
                return "libcuda not found"
            } ?? "\(error)"
            return .failure(DriverFailure(reason))
        }
        let initialized = cuInit(0)
        if initialized == CUDAConstant.errorNoDevice {
            let visible = libraries.environment["CUDA_VISIBLE_DEVICES"].map { "CUDA_VISIBLE_DEVICES=\"\($0)\"" }
            return .success(CUDADeviceCount(count: 0, explanation: "no GPU: the CUDA driver at \(library.path) sees none"
                + (visible.map { " (\($0))" } ?? "")))
        }
        guard initialized == CUDAConstant.success else {
            return .failure(DriverFailure("cuInit at \(library.path) returned \(initialized)"))
        }
        var count: Int32 = 0
        let counted = cuDeviceGetCount(&count)
        guard counted == CUDAConstant.success else {
            return .failure(DriverFailure("cuDeviceGetCount at \(library.path) returned \(counted)"))
        }
        return .success(CUDADeviceCount(count: Int(count), explanation: "\(count) GPU\(count == 1 ? "" : "s") "
            + "reported by the CUDA driver at \(library.path)"))
    }

    private struct DriverFailure: Error, CustomStringConvertible {
        let description: String
        init(_ description: String) { self.description = description }
    }

    private static func findOnPath(_ name: String, environment: [String: String]) -> String? {
        for directory in (environment["PATH"] ?? "").split(separator: ":") where !directory.isEmpty {
            let path = "\(directory)/\(name)"
            if FileManager.default.isExecutableFile(atPath: path) { return path }
        }
        return nil
    }

    /// Standard output of `executable`, or nil when it fails to start, exits non-zero or outlives
    /// `timeout` seconds (nvidia-smi hangs when the driver is wedged).
    private static func run(_ executable: String, arguments: [String], timeout: Double) -> String? {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = arguments
        let output = Pipe()
        process.standardOutput = output
        process.standardError = FileHandle.nullDevice
        let finished = DispatchSemaphore(value: 0)
        process.terminationHandler = { _ in finished.signal() }
        do { try process.run() } catch { return nil }
        // Read while it runs: a full pipe would block the child before it exits.
        let reader = OutputReader(output.fileHandleForReading)
        guard finished.wait(timeout: .now() + timeout) == .success else {
            process.terminate()
            return nil
        }
        let data = reader.wait()
        guard process.terminationStatus == 0 else { return nil }
        return String(decoding: data, as: UTF8.self)
    }

    /// Reads a pipe to its end on another thread.
    private final class OutputReader: @unchecked Sendable {
        private var data = Data()
        private let done = DispatchSemaphore(value: 0)

        init(_ handle: FileHandle) {
            Thread.detachNewThread { [self] in
                data = handle.readDataToEndOfFile()
                done.signal()
            }
        }

        func wait() -> Data {
            done.wait()
            return data
        }
    }
}
