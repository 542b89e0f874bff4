import ArgumentParser
import CUDABackend
import Tensors

/// Where a command computes: the CPU (oneDNN) or a CUDA GPU by ordinal.
enum ComputeDevice: Equatable, CustomStringConvertible {
    case cpu
    case gpu(Int)

    /// `cpu`, `gpu` (= gpu:0) or `gpu:N`.
    init(parsing text: String) throws {
        switch text {
        case "cpu": self = .cpu
        case "gpu": self = .gpu(0)
        default:
            guard text.hasPrefix("gpu:"), let ordinal = Int(text.dropFirst(4)), ordinal >= 0 else {
                throw InvalidOption(option: "--device", reason: "expected cpu, gpu or gpu:N, got '\(text)'")
            }
            self = .gpu(ordinal)
        }
    }

    var description: String {
        switch self {
        case .cpu: "cpu"
        case let .gpu(ordinal): "gpu:\(ordinal)"
        }
    }

    /// Opens the backend: loads NVIDIA's libraries, picks the device and compiles the kernels (or
    /// takes them from the cache) for a GPU; a one-line error naming what was looked for otherwise.
    func openBackend() throws -> any Backend {
        switch self {
        case .cpu: return CPUBackend.shared
        case let .gpu(ordinal): return try CUDABackend(runtime: try CUDARuntime(ordinal: ordinal), ordinal: ordinal)
        }
    }
}

/// `--device` for the commands that compute.
struct DeviceOptions: ParsableArguments {
    @Option(help: "Where to compute: cpu, gpu (= gpu:0) or gpu:N (CUDA, loaded at run time; see PRUNELAB_CUDA_LIBS).")
    var device: String = "cpu"

    func parsed() throws -> ComputeDevice { try ComputeDevice(parsing: device) }
    func openBackend() throws -> any Backend { try parsed().openBackend() }
}
