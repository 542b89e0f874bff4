import Tensors

/// Batch normalisation per channel of [N, C] or [N, C, H, W] (plain layout): one block per channel
/// for the statistics and gradient sums (fixed-order tree reductions), element-wise kernels for
/// the rest. Same conventions as the CPU's oneDNN primitive: biased batch variance, ε inside the root.
final class CUDABatchNorm: BatchNormKernel {
    let geometry: BatchNormGeometry
    unowned let backend: CUDABackend

    init(_ geometry: BatchNormGeometry, backend: CUDABackend) {
        self.geometry = geometry
        self.backend = backend
    }

    private var plane: Int { geometry.isFlat ? 1 : geometry.height * geometry.width }
    private var count: Int { geometry.batch * geometry.channels * plane }

    private func normalize(_ x: DevicePointer, _ y: DevicePointer, mean: DevicePointer, variance: DevicePointer,
                           scale: DevicePointer, shift: DevicePointer) throws {
        let g = geometry
        try backend.launch("bn_forward", count: count, [
            .pointer(x), .pointer(y), .pointer(mean), .pointer(variance), .pointer(scale), .pointer(shift),
            .int64(Int64(count)), .int64(Int64(g.channels)), .int64(Int64(plane)), .float(g.epsilon),
        ])
    }

    func forwardTraining(input: Tensor, scale: Tensor, shift: Tensor, output: Tensor, mean: Tensor, variance: Tensor) throws {
        let g = geometry
        try backend.performThrowing {
            let x = try backend.address(input, .read)
            let m = try backend.address(mean, .write), v = try backend.address(variance, .write)
            try backend.launchReduction("bn_statistics", blocks: g.channels, [
                .pointer(x), .pointer(m), .pointer(v), .int64(Int64(g.batch)), .int64(Int64(g.channels)), .int64(Int64(plane)),
            ])
            try normalize(x, try backend.address(output, .write), mean: m, variance: v,
                          scale: try backend.address(scale, .read), shift: try backend.address(shift, .read))
        }
    }

    func forwardInference(input: Tensor, scale: Tensor, shift: Tensor, mean: Tensor, variance: Tensor, output: Tensor) throws {
        try backend.performThrowing {
            try normalize(try backend.address(input, .read), try backend.address(output, .write),
                          mean: try backend.address(mean, .read), variance: try backend.address(variance, .read),
                          scale: try backend.address(scale, .read), shift: try backend.address(shift, .read))
        }
    }

    func backward(input: Tensor, outputGradient: Tensor, scale: Tensor, mean: Tensor, variance: Tensor,
                  inputGradient: Tensor, scaleGradient: Tensor, shiftGradient: Tensor) throws {
        let g = geometry
        try backend.performThrowing {
            let x = try backend.address(input, .read), dy = try backend.address(outputGradient, .read)
            let m = try backend.address(mean, .read), v = try backend.address(variance, .read)
            let ds = try backend.address(scaleGradient, .write), db = try backend.address(shiftGradient, .write)
            try backend.launchReduction("bn_backward_reduce", blocks: g.channels, [
                .pointer(x), .pointer(dy), .pointer(m), .pointer(v), .pointer(ds), .pointer(db),
                .int64(Int64(g.batch)), .int64(Int64(g.channels)), .int64(Int64(plane)), .float(g.epsilon),
            ])
            try backend.launch("bn_backward_data", count: count, [
                .pointer(x), .pointer(dy), .pointer(try backend.address(inputGradient, .write)), .pointer(m), .pointer(v),
                .pointer(try backend.address(scale, .read)), .pointer(ds), .pointer(db),
                .int64(Int64(count)), .int64(Int64(g.channels)), .int64(Int64(plane)), .float(g.epsilon),
                .float(1 / Float(g.batch * plane)),
            ])
        }
    }
}
