import Tensors

/// Max and average pooling (padding excluded from averages and never a maximum), NCHW. Max
/// pooling records the winning input of every window; backward passes gather per input element.
final class CUDAPooling: PoolingKernel {
    let geometry: PoolingGeometry
    unowned let backend: CUDABackend
    /// Index (within its plane) of each output's maximum, written by every max forward pass.
    private var argmax: DeviceBuffer?

    init(_ geometry: PoolingGeometry, backend: CUDABackend) {
        self.geometry = geometry
        self.backend = backend
    }

    private var poolArguments: [KernelArgument] {
        let g = geometry
        return [g.batch * g.channels, g.inHeight, g.inWidth, g.outHeight, g.outWidth, g.kernelHeight, g.kernelWidth,
                g.strideHeight, g.strideWidth, g.padTop, g.padLeft].map { .int64(Int64($0)) }
    }

    private var outputCount: Int { geometry.batch * geometry.channels * geometry.outHeight * geometry.outWidth }
    private var inputCount: Int { geometry.batch * geometry.channels * geometry.inHeight * geometry.inWidth }

    func forward(input: Tensor, output: Tensor, training: Bool) throws {
        try backend.performThrowing {
            let x = try backend.address(input, .read), y = try backend.address(output, .write)
            if geometry.kind == .max {
                if argmax == nil { argmax = try DeviceBuffer(runtime: backend.runtime, bytes: max(outputCount, 1) * MemoryLayout<Int32>.stride) }
                try backend.launch("pool_max_forward", count: outputCount, [.pointer(x), .pointer(y), .pointer(argmax!.pointer)] + poolArguments)
            } else {
                try backend.launch("pool_avg_forward", count: outputCount, [.pointer(x), .pointer(y)] + poolArguments)
            }
        }
    }

    func backward(outputGradient: Tensor, inputGradient: Tensor) throws {
        try backend.performThrowing {
            let dy = try backend.address(outputGradient, .read), dx = try backend.address(inputGradient, .write)
            var winners: DevicePointer = 0  // null: average pooling
            if geometry.kind == .max {
                guard let argmax else { throw CUDABackendError.backwardBeforeForward("max pooling") }
                winners = argmax.pointer
            }
            try backend.launch("pool_backward", count: inputCount, [.pointer(dy), .pointer(winners), .pointer(dx)] + poolArguments)
        }
    }
}
