import Tensors

/// Convolution as im2col + cuBLAS GEMM + col2im, over chunks of the batch so the column matrix
/// stays within the backend's `convolutionWorkspaceLimit` floats. One GEMM per chunk covers all groups
/// (strided batched over groups); the GEMM output is channel-major ([C][samples·P]) and is moved
/// to NCHW (adding the bias) by a transpose kernel.
final class CUDAConvolution: ConvolutionKernel {
    let geometry: ConvolutionGeometry
    unowned let backend: CUDABackend

    var implementation: String { "im2col + cuBLAS sgemm (chunks of \(samplesPerChunk))" + (note.map { "; \($0)" } ?? "") }
    var usesReferenceImplementation: Bool { false }

    private let groupInputRows: Int, groupOutputs: Int, plane: Int
    let samplesPerChunk: Int
    /// Why not the library's convolution, when it refused this geometry.
    let note: String?

    init(_ geometry: ConvolutionGeometry, backend: CUDABackend, note: String? = nil) {
        self.geometry = geometry
        self.backend = backend
        self.note = note
        let g = geometry
        plane = g.outHeight * g.outWidth
        groupInputRows = g.inChannels / g.groups * g.kernelHeight * g.kernelWidth
        groupOutputs = g.outChannels / g.groups
        let perSample = (g.inChannels * g.kernelHeight * g.kernelWidth + g.outChannels) * max(plane, 1)
        samplesPerChunk = max(1, min(g.batch, backend.convolutionWorkspaceLimit / max(perSample, 1)))
    }

    /// Runs `body(index, first sample, samples, columns = samples · P)` for each chunk of the batch, in order.
    private func forEachChunk(_ body: (Int, Int, Int, Int) throws -> Void) throws {
        for (index, first) in stride(from: 0, to: geometry.batch, by: samplesPerChunk).enumerated() {
            let samples = min(samplesPerChunk, geometry.batch - first)
            try body(index, first, samples, samples * plane)
        }
    }

    /// The arguments im2col and col2im share.
    private func convolutionArguments(first: Int, samples: Int) -> [KernelArgument] {
        let g = geometry
        return [g.inChannels, g.inHeight, g.inWidth, g.kernelHeight, g.kernelWidth, g.strideHeight, g.strideWidth,
                g.padTop, g.padLeft, g.outHeight, g.outWidth, first, samples].map { .int64(Int64($0)) }
    }

    private func im2col(_ input: DevicePointer, into columns: DevicePointer, first: Int, samples: Int) throws {
        let g = geometry
        try backend.launch("im2col", count: g.inChannels * g.kernelHeight * g.kernelWidth * samples * plane,
                           [.pointer(input), .pointer(columns)] + convolutionArguments(first: first, samples: samples))
    }

    private func toChannelMajor(_ tensor: DevicePointer, into destination: DevicePointer, first: Int, samples: Int) throws {
        let g = geometry
        try backend.launch("nchw_to_channel_major", count: samples * g.outChannels * plane, [
            .pointer(tensor), .pointer(destination), .int64(Int64(g.outChannels)), .int64(Int64(plane)),
            .int64(Int64(first)), .int64(Int64(samples)),
        ])
    }

    /// The column and channel-major workspaces for one chunk of `samplesPerChunk` samples.
    private func workspaces() throws -> (columns: DevicePointer, channelMajor: DevicePointer) {
        let g = geometry
        let columns = try backend.workspace(.columns, floats: g.inChannels * g.kernelHeight * g.kernelWidth * samplesPerChunk * plane)
        let channelMajor = try backend.workspace(.channelMajor, floats: g.outChannels * samplesPerChunk * plane)
        return (columns, channelMajor)
    }

    func forward(input: Tensor, weight: Tensor, bias: Tensor?, output: Tensor) throws {
        let g = geometry
        try backend.performThrowing {
            let x = try backend.address(input, .read), w = try backend.address(weight, .read)
            let b = try bias.map { try backend.address($0, .read) } ?? 0
            let y = try backend.address(output, .write)
            let (columns, channelMajor) = try workspaces()
            try forEachChunk { _, first, samples, length in
                try im2col(x, into: columns, first: first, samples: samples)
                // Per group: out_g (Cout_g × length) = W_g (Cout_g × K_g) · columns_g (K_g × length).
                try backend.rowMajorGemm(transposeA: false, transposeB: false, m: groupOutputs, n: length, k: groupInputRows, alpha: 1,
                                         a: w, lda: groupInputRows, strideA: groupOutputs * groupInputRows,
                                         b: columns, ldb: length, strideB: groupInputRows * length,
                                         beta: 0, c: channelMajor, ldc: length, strideC: groupOutputs * length, batch: g.groups)
                try backend.launch("channel_major_to_nchw", count: samples * g.outChannels * plane, [
                    .pointer(channelMajor), .pointer(y), .pointer(b), .int64(Int64(g.outChannels)), .int64(Int64(plane)),
                    .int64(Int64(first)), .int64(Int64(samples)),
                ])
            }
        }
    }

    func backwardData(outputGradient: Tensor, weight: Tensor, inputGradient: Tensor) throws {
        let g = geometry
        try backend.performThrowing {
            let dy = try backend.address(outputGradient, .read), w = try backend.address(weight, .read)
            let dx = try backend.address(inputGradient, .write)
            let (columns, channelMajor) = try workspaces()
            try forEachChunk { _, first, samples, length in
                try toChannelMajor(dy, into: channelMajor, first: first, samples: samples)
                // Per group: columns_g (K_g × length) = W_gᵀ (K_g × Cout_g) · dy_g (Cout_g × length).
                try backend.rowMajorGemm(transposeA: true, transposeB: false, m: groupInputRows, n: length, k: groupOutputs, alpha: 1,
                                         a: w, lda: groupInputRows, strideA: groupOutputs * groupInputRows,
                                         b: channelMajor, ldb: length, strideB: groupOutputs * length,
                                         beta: 0, c: columns, ldc: length, strideC: groupInputRows * length, batch: g.groups)
                try backend.launch("col2im", count: samples * g.inChannels * g.inHeight * g.inWidth,
                                   [.pointer(columns), .pointer(dx)] + convolutionArguments(first: first, samples: samples))
            }
        }
    }

    func backwardWeights(input: Tensor, outputGradient: Tensor, weightGradient: Tensor, biasGradient: Tensor?) throws {
        let g = geometry
        try backend.performThrowing {
            let x = try backend.address(input, .read), dy = try backend.address(outputGradient, .read)
            let dw = try backend.address(weightGradient, .write)
            let db = try biasGradient.map { try backend.address($0, .write) }
            let (columns, channelMajor) = try workspaces()
            try forEachChunk { index, first, samples, length in
                try im2col(x, into: columns, first: first, samples: samples)
                try toChannelMajor(dy, into: channelMajor, first: first, samples: samples)
                // Per group: dW_g (Cout_g × K_g) (+)= dy_g (Cout_g × length) · columns_gᵀ (length × K_g); chunks add up in order.
                try backend.rowMajorGemm(transposeA: false, transposeB: true, m: groupOutputs, n: groupInputRows, k: length, alpha: 1,
                                         a: channelMajor, lda: length, strideA: groupOutputs * length,
                                         b: columns, ldb: length, strideB: groupInputRows * length,
                                         beta: index == 0 ? 0 : 1, c: dw, ldc: groupInputRows, strideC: groupOutputs * groupInputRows,
                                         batch: g.groups)
                if let db {
                    try backend.launchReduction("sum_channel_rows", blocks: g.outChannels, [
                        .pointer(channelMajor), .pointer(db), .int64(Int64(length)), .int32(index == 0 ? 0 : 1),
                    ])
                }
            }
        }
    }
}

/// Convolution by the runtime's library (cuDNN) on the whole batch, the bias added and reduced by
/// the backend's own kernels (`add_channel_bias`, `sum_channels`: fixed-order sums, like the rest).
///
/// With `padsExplicitly` the plan is for the input already padded (`explicitlyPadded`): the input is
/// copied into a zero-bordered buffer (`pad_planes`) before the forward and filter passes, and the
/// data pass's padded gradient is cropped (`crop_planes`) into the input gradient.
final class CUDALibraryConvolution: ConvolutionKernel {
    let geometry: ConvolutionGeometry
    unowned let backend: CUDABackend
    let plan: any DeviceConvolutionPlan
    let padsExplicitly: Bool
    private let libraryName: String
    /// Floats of the padded input, and the arguments pad_planes and crop_planes share (fixed per geometry).
    private let paddedCount: Int
    private let planeArguments: [KernelArgument]

    var implementation: String {
        "\(libraryName)\(padsExplicitly ? " (input padded explicitly)" : ""): \(plan.algorithms)"
    }
    var usesReferenceImplementation: Bool { false }

    init(_ geometry: ConvolutionGeometry, plan: any DeviceConvolutionPlan, libraryName: String, padsExplicitly: Bool,
         backend: CUDABackend) {
        self.geometry = geometry
        self.plan = plan
        self.libraryName = libraryName
        self.padsExplicitly = padsExplicitly
        self.backend = backend
        let g = geometry, padded = Self.explicitlyPadded(geometry)
        paddedCount = padded.batch * padded.inChannels * padded.inHeight * padded.inWidth
        planeArguments = [g.batch * g.inChannels, g.inHeight, g.inWidth, g.padTop, g.padLeft, padded.inHeight, padded.inWidth]
            .map { .int64(Int64($0)) }
    }

    /// `geometry` on its input padded all round: the same output, with no padding left to do.
    static func explicitlyPadded(_ geometry: ConvolutionGeometry) -> ConvolutionGeometry {
        var padded = geometry
        padded.inHeight += geometry.padTop + geometry.padBottom
        padded.inWidth += geometry.padLeft + geometry.padRight
        (padded.padTop, padded.padLeft, padded.padBottom, padded.padRight) = (0, 0, 0, 0)
        return padded
    }

    private var workspace: DevicePointer {
        get throws { try backend.workspace(.library, floats: (plan.workspaceBytes + 3) / 4) }
    }

    /// The input the plan reads: `x` itself, or its padded copy.
    private func planInput(_ x: DevicePointer) throws -> DevicePointer {
        guard padsExplicitly else { return x }
        let padded = try backend.workspace(.padded, floats: paddedCount)
        try backend.launch("pad_planes", count: paddedCount, [.pointer(x), .pointer(padded)] + planeArguments)
        return padded
    }

    func forward(input: Tensor, weight: Tensor, bias: Tensor?, output: Tensor) throws {
        let g = geometry
        try backend.performThrowing {
            let x = try planInput(try backend.address(input, .read)), w = try backend.address(weight, .read)
            let y = try backend.address(output, .write)
            try plan.forward(input: x, weight: w, output: y, workspace: try workspace)
            if let bias {
                let count = g.batch * g.outChannels * g.outHeight * g.outWidth
                try backend.launch("add_channel_bias", count: count, [
                    .pointer(try backend.address(bias, .read)), .pointer(y), .int64(Int64(g.outChannels)),
                    .int64(Int64(g.outHeight * g.outWidth)), .int64(Int64(count)),
                ])
            }
        }
    }

    func backwardData(outputGradient: Tensor, weight: Tensor, inputGradient: Tensor) throws {
        let g = geometry
        try backend.performThrowing {
            let dy = try backend.address(outputGradient, .read), w = try backend.address(weight, .read)
            let dx = try backend.address(inputGradient, .write)
            guard padsExplicitly else {
                try plan.backwardData(outputGradient: dy, weight: w, inputGradient: dx, workspace: try workspace)
                return
            }
            let padded = try backend.workspace(.padded, floats: paddedCount)
            try plan.backwardData(outputGradient: dy, weight: w, inputGradient: padded, workspace: try workspace)
            try backend.launch("crop_planes", count: g.batch * g.inChannels * g.inHeight * g.inWidth,
                               [.pointer(padded), .pointer(dx)] + planeArguments)
        }
    }

    func backwardWeights(input: Tensor, outputGradient: Tensor, weightGradient: Tensor, biasGradient: Tensor?) throws {
        let g = geometry
        try backend.performThrowing {
            // The padded copy is made again: the shared buffer may hold another layer's by now.
            let x = try planInput(try backend.address(input, .read)), dy = try backend.address(outputGradient, .read)
            let dw = try backend.address(weightGradient, .write)
            try plan.backwardFilter(input: x, outputGradient: dy, weightGradient: dw, workspace: try workspace)
            if let biasGradient {
                try backend.launchReduction("sum_channels", blocks: g.outChannels, [
                    .pointer(dy), .pointer(try backend.address(biasGradient, .write)), .int64(Int64(g.batch)),
                    .int64(Int64(g.outChannels)), .int64(Int64(g.outHeight * g.outWidth)),
                ])
            }
        }
    }
}
