/// A failure of the CUDA runtime, with the call and NVIDIA's own name for the status.
public enum CUDAError: Error, CustomStringConvertible {
    /// cuInit found no device (CUDA_ERROR_NO_DEVICE); `visibleDevices` is CUDA_VISIBLE_DEVICES, if set.
    case noDevice(visibleDevices: String?)
    /// The requested ordinal is not below the number of devices the driver sees.
    case ordinalOutOfRange(ordinal: Int, count: Int)
    /// A driver call returned `code` (`name`, e.g. CUDA_ERROR_OUT_OF_MEMORY, and its `message`).
    case driver(function: String, code: Int32, name: String, message: String)
    /// A cuBLAS call returned `status` (`name`, e.g. CUBLAS_STATUS_INVALID_VALUE).
    case cublas(function: String, status: Int32, name: String)
    /// A cuDNN call returned `status` (`name`, e.g. CUDNN_STATUS_BAD_PARAM, as cudnnGetErrorString says it).
    case cudnn(function: String, status: Int32, name: String)
    /// The compiled module does not contain the kernel `name` (not declared `extern "C"`?).
    case kernelNotFound(name: String)
    /// A value the CUDA API cannot take (a negative size, a dimension beyond 32 bits, a foreign kernel).
    case invalidArgument(function: String, reason: String)

    public var description: String {
        switch self {
        case let .noDevice(visibleDevices):
            let visible = visibleDevices.map { "CUDA_VISIBLE_DEVICES=\"\($0)\"" } ?? "CUDA_VISIBLE_DEVICES is unset"
            return "no CUDA device: the driver sees no GPU (\(visible)); check nvidia-smi and the device's "
                + "visibility to this process"
        case let .ordinalOutOfRange(ordinal, count):
            return "CUDA device \(ordinal) does not exist: the driver sees \(count) device\(count == 1 ? "" : "s")"
                + (count > 0 ? " (ordinals 0...\(count - 1))" : "")
        case let .driver(function, code, name, message):
            return "\(function) failed: \(name) (\(code)): \(message)"
        case let .cublas(function, status, name):
            return "\(function) failed: \(name) (\(status))"
        case let .cudnn(function, status, name):
            return "\(function) failed: \(name) (\(status))"
        case let .kernelNotFound(name):
            return "kernel \(name) is not in the compiled module; declare it extern \"C\" __global__"
        case let .invalidArgument(function, reason):
            return "\(function): \(reason)"
        }
    }
}
