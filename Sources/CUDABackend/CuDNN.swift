import Tensors

/// Which convolution the CUDA backend uses: `PRUNELAB_CUDA_CONVOLUTION` = `auto` (cuDNN when it loads,
/// im2col + cuBLAS otherwise; the default), `cudnn` (cuDNN or an error) or `im2col`.
public enum CUDAConvolutionChoice: String, Sendable, CaseIterable {
    case auto, cudnn, im2col

    public static let variable = "PRUNELAB_CUDA_CONVOLUTION"

    /// The choice `environment` makes; an unknown value is an error naming the variable.
    public init(environment: [String: String]) throws {
        let text = environment[Self.variable] ?? ""
        guard let choice = text.isEmpty ? .auto : Self(rawValue: text) else {
            throw CUDAError.invalidArgument(function: Self.variable,
                                            reason: "expected auto, cudnn or im2col, got '\(text)'")
        }
        self = choice
    }
}

/// The part of the cuDNN API (cudnn_ops.h, cudnn_cnn.h; the "legacy" API, present in cuDNN 8 and 9)
/// prunelab calls: descriptors, the heuristic algorithm queries and the three convolution passes.
/// Descriptors and the handle are opaque pointers, statuses Int32, device pointers raw pointers.
struct CuDNNFunctions {
    let library: LoadedLibrary
    let cudnnGetVersion: @convention(c) () -> Int
    let cudnnGetErrorString: @convention(c) (Int32) -> CString
    let cudnnCreate: @convention(c) (HandleOut) -> Int32
    let cudnnDestroy: @convention(c) (Handle) -> Int32
    let cudnnCreateTensorDescriptor: @convention(c) (HandleOut) -> Int32
    /// descriptor, format, data type, n, c, h, w.
    let cudnnSetTensor4dDescriptor: @convention(c) (Handle, Int32, Int32, Int32, Int32, Int32, Int32) -> Int32
    let cudnnDestroyTensorDescriptor: @convention(c) (Handle) -> Int32
    let cudnnCreateFilterDescriptor: @convention(c) (HandleOut) -> Int32
    /// descriptor, data type, format, k, c, h, w (data type before format, unlike tensors).
    let cudnnSetFilter4dDescriptor: @convention(c) (Handle, Int32, Int32, Int32, Int32, Int32, Int32) -> Int32
    let cudnnDestroyFilterDescriptor: @convention(c) (Handle) -> Int32
    let cudnnCreateConvolutionDescriptor: @convention(c) (HandleOut) -> Int32
    /// descriptor, pad h, pad w, stride h, stride w, dilation h, dilation w, mode, compute type.
    let cudnnSetConvolution2dDescriptor: @convention(c) (Handle, Int32, Int32, Int32, Int32, Int32, Int32, Int32, Int32) -> Int32
    let cudnnSetConvolutionGroupCount: @convention(c) (Handle, Int32) -> Int32
    let cudnnSetConvolutionMathType: @convention(c) (Handle, Int32) -> Int32
    /// convolution, input, filter, n, c, h, w out.
    let cudnnGetConvolution2dForwardOutputDim: @convention(c) (Handle, Handle, Handle, IntOut, IntOut, IntOut, IntOut) -> Int32
    let cudnnDestroyConvolutionDescriptor: @convention(c) (Handle) -> Int32
    /// handle, four descriptors (in each pass's own order), requested count, returned count, perf results.
    typealias AlgorithmQuery = @convention(c) (Handle, Handle, Handle, Handle, Handle, Int32, IntOut, UnsafeMutableRawPointer?) -> Int32
    let cudnnGetConvolutionForwardAlgorithm: AlgorithmQuery
    let cudnnGetConvolutionBackwardDataAlgorithm: AlgorithmQuery
    let cudnnGetConvolutionBackwardFilterAlgorithm: AlgorithmQuery
    /// handle, four descriptors, algorithm, bytes out.
    typealias WorkspaceQuery = @convention(c) (Handle, Handle, Handle, Handle, Handle, Int32, SizeOut) -> Int32
    let cudnnGetConvolutionForwardWorkspaceSize: WorkspaceQuery
    let cudnnGetConvolutionBackwardDataWorkspaceSize: WorkspaceQuery
    let cudnnGetConvolutionBackwardFilterWorkspaceSize: WorkspaceQuery
    /// handle, alpha, descriptor A, A, descriptor B, B, convolution, algorithm, workspace, workspace bytes,
    /// beta, output descriptor, output — the shape of all three passes.
    typealias Pass = @convention(c) (Handle, UnsafeRawPointer?, Handle, UnsafeRawPointer?, Handle, UnsafeRawPointer?, Handle,
                                     Int32, UnsafeMutableRawPointer?, Int, UnsafeRawPointer?, Handle, UnsafeMutableRawPointer?) -> Int32
    let cudnnConvolutionForward: Pass
    let cudnnConvolutionBackwardData: Pass
    let cudnnConvolutionBackwardFilter: Pass

    init(_ library: LoadedLibrary) throws {
        self.library = library
        cudnnGetVersion = try library.function("cudnnGetVersion")
        cudnnGetErrorString = try library.function("cudnnGetErrorString")
        cudnnCreate = try library.function("cudnnCreate")
        cudnnDestroy = try library.function("cudnnDestroy")
        cudnnCreateTensorDescriptor = try library.function("cudnnCreateTensorDescriptor")
        cudnnSetTensor4dDescriptor = try library.function("cudnnSetTensor4dDescriptor")
        cudnnDestroyTensorDescriptor = try library.function("cudnnDestroyTensorDescriptor")
        cudnnCreateFilterDescriptor = try library.function("cudnnCreateFilterDescriptor")
        cudnnSetFilter4dDescriptor = try library.function("cudnnSetFilter4dDescriptor")
        cudnnDestroyFilterDescriptor = try library.function("cudnnDestroyFilterDescriptor")
        cudnnCreateConvolutionDescriptor = try library.function("cudnnCreateConvolutionDescriptor")
        cudnnSetConvolution2dDescriptor = try library.function("cudnnSetConvolution2dDescriptor")
        cudnnSetConvolutionGroupCount = try library.function("cudnnSetConvolutionGroupCount")
        cudnnSetConvolutionMathType = try library.function("cudnnSetConvolutionMathType")
        cudnnGetConvolution2dForwardOutputDim = try library.function("cudnnGetConvolution2dForwardOutputDim")
        cudnnDestroyConvolutionDescriptor = try library.function("cudnnDestroyConvolutionDescriptor")
        cudnnGetConvolutionForwardAlgorithm = try library.function("cudnnGetConvolutionForwardAlgorithm_v7")
        cudnnGetConvolutionBackwardDataAlgorithm = try library.function("cudnnGetConvolutionBackwardDataAlgorithm_v7")
        cudnnGetConvolutionBackwardFilterAlgorithm = try library.function("cudnnGetConvolutionBackwardFilterAlgorithm_v7")
        cudnnGetConvolutionForwardWorkspaceSize = try library.function("cudnnGetConvolutionForwardWorkspaceSize")
        cudnnGetConvolutionBackwardDataWorkspaceSize = try library.function("cudnnGetConvolutionBackwardDataWorkspaceSize")
        cudnnGetConvolutionBackwardFilterWorkspaceSize = try library.function("cudnnGetConvolutionBackwardFilterWorkspaceSize")
        cudnnConvolutionForward = try library.function("cudnnConvolutionForward")
        cudnnConvolutionBackwardData = try library.function("cudnnConvolutionBackwardData")
        cudnnConvolutionBackwardFilter = try library.function("cudnnConvolutionBackwardFilter")
    }

    /// Throws `CUDAError.cudnn` with cuDNN's own name for `status` unless it is CUDNN_STATUS_SUCCESS.
    func check(_ function: String, _ status: Int32) throws {
        guard status != 0 else { return }
        let name = cudnnGetErrorString(status).map { String(cString: $0) } ?? "cudnnStatus_t \(status)"
        throw CUDAError.cudnn(function: function, status: status, name: name)
    }
}

/// cudnn_graph.h / cudnn_ops.h / cudnn_cnn.h constants.
enum CuDNNConstant {
    static let formatNCHW: Int32 = 0
    static let dataFloat: Int32 = 0
    static let crossCorrelation: Int32 = 1
    static let deterministic: Int32 = 1
    static let defaultMath: Int32 = 0
    /// CUDNN_FMA_MATH (cuDNN ≥ 8.0): float32 stays float32, no TF32 tensor cores — as cuBLAS's
    /// default math mode here, and PyTorch's `allow_tf32 = False`.
    static let fmaMath: Int32 = 3
    /// Entries asked of an algorithm query: more than any cuDNN version has algorithms for one pass.
    static let requestedAlgorithms = 16
    /// sizeof(cudnnConvolution{Fwd,BwdData,BwdFilter}AlgoPerf_t): algo, status (int), time (float),
    /// memory (size_t, at 16), determinism (24), mathType (28), int reserved[3]; 8-byte aligned.
    static let performanceStride = 48

    static let forwardNames = ["IMPLICIT_GEMM", "IMPLICIT_PRECOMP_GEMM", "GEMM", "DIRECT", "FFT", "FFT_TILING", "WINOGRAD",
                               "WINOGRAD_NONFUSED"]
    static let backwardDataNames = ["ALGO_0", "ALGO_1", "FFT", "FFT_TILING", "WINOGRAD", "WINOGRAD_NONFUSED"]
    static let backwardFilterNames = ["ALGO_0", "ALGO_1", "FFT", "ALGO_3", "WINOGRAD", "WINOGRAD_NONFUSED", "FFT_TILING"]
}

/// cuDNN's convolutions on one handle, on the legacy default stream like every other piece of work
/// (so they are ordered with the kernels and cuBLAS without events).
///
/// Algorithms come from cuDNN's heuristics (`cudnnGet…Algorithm_v7`), never from timing runs
/// (`cudnnFind…`): the first one, in cuDNN's order, that is deterministic, keeps float32 arithmetic
/// and fits the workspace limit. The choice depends only on the geometry, the device and the cuDNN
/// version, so repeated runs on one kind of device give the same numbers.
final class CuDNNConvolutions: DeviceConvolutions {
    let functions: CuDNNFunctions
    let libraryDescription: String
    let handle: OpaquePointer
    /// Runs before every cuDNN call: makes the runtime's context current on this thread.
    let prepare: () throws -> Void

    init(_ library: LoadedLibrary, prepare: @escaping () throws -> Void) throws {
        let functions = try CuDNNFunctions(library)
        try prepare()
        var handle: OpaquePointer?
        try functions.check("cudnnCreate", functions.cudnnCreate(&handle))
        guard let handle else { throw CUDAError.cudnn(function: "cudnnCreate", status: -1, name: "returned no handle") }
        self.functions = functions
        self.handle = handle
        self.prepare = prepare
        libraryDescription = "cuDNN " + Self.versionText(functions.cudnnGetVersion())
    }

    deinit {
        try? prepare()
        _ = functions.cudnnDestroy(handle)
    }

    /// cuDNN 9 numbers versions major·10000 + minor·100 + patch, cuDNN 8 major·1000 + minor·100 + patch.
    static func versionText(_ version: Int) -> String {
        let major = version >= 90_000 ? version / 10_000 : version / 1_000
        let minor = version >= 90_000 ? version % 10_000 / 100 : version % 1_000 / 100
        return "\(major).\(minor).\(version % 100)"
    }

    func plan(for geometry: ConvolutionGeometry, workspaceLimit: Int) throws -> (any DeviceConvolutionPlan)? {
        let g = geometry
        let sizes = [g.batch, g.inChannels, g.outChannels, g.inHeight, g.inWidth, g.kernelHeight, g.kernelWidth,
                     g.strideHeight, g.strideWidth, g.padTop, g.padLeft, g.groups, g.outHeight, g.outWidth]
        // The 4-d descriptors hold tensors of fewer than 2^31 elements; larger ones go to im2col's chunks.
        let elements = [g.inputShape, g.outputShape].map { $0.reduce(1.0) { $0 * Double($1) } }
        guard g.outHeight > 0, g.outWidth > 0, g.groups > 0, sizes.allSatisfy({ $0 >= 0 && $0 <= Int(Int32.max) }),
              elements.allSatisfy({ $0 > 0 && $0 < Double(Int32.max) }),
              g.inChannels % g.groups == 0, g.outChannels % g.groups == 0 else { return nil }
        try prepare()
        let plan = try CuDNNConvolutionPlan(geometry, owner: self)
        return try plan.chooseAlgorithms(workspaceLimit: workspaceLimit) ? plan : nil
    }
}

/// The descriptors and algorithms of one geometry. It keeps its `CuDNNConvolutions` (the handle) alive.
final class CuDNNConvolutionPlan: DeviceConvolutionPlan {
    private let owner: CuDNNConvolutions
    private var functions: CuDNNFunctions { owner.functions }
    private var handle: OpaquePointer { owner.handle }
    private var input: OpaquePointer?, output: OpaquePointer?, filter: OpaquePointer?, convolution: OpaquePointer?
    private(set) var forwardAlgorithm: Int32 = -1, backwardDataAlgorithm: Int32 = -1, backwardFilterAlgorithm: Int32 = -1
    private(set) var workspaceBytes = 0
    private var forwardBytes = 0, backwardDataBytes = 0, backwardFilterBytes = 0

    var algorithms: String {
        func name(_ names: [String], _ algorithm: Int32) -> String {
            names.indices.contains(Int(algorithm)) ? names[Int(algorithm)] : "algorithm \(algorithm)"
        }
        return "forward \(name(CuDNNConstant.forwardNames, forwardAlgorithm)), "
            + "backward data \(name(CuDNNConstant.backwardDataNames, backwardDataAlgorithm)), "
            + "backward filter \(name(CuDNNConstant.backwardFilterNames, backwardFilterAlgorithm))"
    }

    /// Sets up the descriptors; throws when cuDNN refuses one. The caller has checked every size fits an Int32.
    init(_ g: ConvolutionGeometry, owner: CuDNNConvolutions) throws {
        self.owner = owner
        let f = owner.functions
        func i32(_ value: Int) -> Int32 { Int32(value) }
        try f.check("cudnnCreateTensorDescriptor", f.cudnnCreateTensorDescriptor(&input))
        try f.check("cudnnCreateTensorDescriptor", f.cudnnCreateTensorDescriptor(&output))
        try f.check("cudnnCreateFilterDescriptor", f.cudnnCreateFilterDescriptor(&filter))
        try f.check("cudnnCreateConvolutionDescriptor", f.cudnnCreateConvolutionDescriptor(&convolution))
        try f.check("cudnnSetTensor4dDescriptor", f.cudnnSetTensor4dDescriptor(
            input, CuDNNConstant.formatNCHW, CuDNNConstant.dataFloat, i32(g.batch), i32(g.inChannels), i32(g.inHeight), i32(g.inWidth)))
        try f.check("cudnnSetFilter4dDescriptor", f.cudnnSetFilter4dDescriptor(
            filter, CuDNNConstant.dataFloat, CuDNNConstant.formatNCHW, i32(g.outChannels), i32(g.inChannels / g.groups),
            i32(g.kernelHeight), i32(g.kernelWidth)))
        // cuDNN pads both sides alike (padTop, padLeft); `matchesOutput` below refuses what that changes.
        try f.check("cudnnSetConvolution2dDescriptor", f.cudnnSetConvolution2dDescriptor(
            convolution, i32(g.padTop), i32(g.padLeft), i32(g.strideHeight), i32(g.strideWidth), 1, 1,
            CuDNNConstant.crossCorrelation, CuDNNConstant.dataFloat))
        try f.check("cudnnSetConvolutionGroupCount", f.cudnnSetConvolutionGroupCount(convolution, i32(g.groups)))
        try f.check("cudnnSetConvolutionMathType", f.cudnnSetConvolutionMathType(convolution, CuDNNConstant.fmaMath))
        try f.check("cudnnSetTensor4dDescriptor", f.cudnnSetTensor4dDescriptor(
            output, CuDNNConstant.formatNCHW, CuDNNConstant.dataFloat, i32(g.batch), i32(g.outChannels), i32(g.outHeight), i32(g.outWidth)))
        matchesOutput = try Self.outputShape(f, convolution, input, filter) == g.outputShape
    }

    /// Whether cuDNN's symmetric padding gives the geometry's output shape. With a different bottom
    /// or right padding but the same output size every window starts at the same place and reads the
    /// same inputs, so the results are equal; a different size cannot be computed.
    private var matchesOutput = false

    private static func outputShape(_ f: CuDNNFunctions, _ convolution: OpaquePointer?, _ input: OpaquePointer?,
                                    _ filter: OpaquePointer?) throws -> [Int] {
        var n: Int32 = 0, c: Int32 = 0, h: Int32 = 0, w: Int32 = 0
        try f.check("cudnnGetConvolution2dForwardOutputDim", f.cudnnGetConvolution2dForwardOutputDim(convolution, input, filter, &n, &c, &h, &w))
        return [n, c, h, w].map(Int.init)
    }

    deinit {
        try? owner.prepare()
        if let input { _ = functions.cudnnDestroyTensorDescriptor(input) }
        if let output { _ = functions.cudnnDestroyTensorDescriptor(output) }
        if let filter { _ = functions.cudnnDestroyFilterDescriptor(filter) }
        if let convolution { _ = functions.cudnnDestroyConvolutionDescriptor(convolution) }
    }

    /// Picks each pass's algorithm; false when the padding cannot be expressed or some pass has no
    /// deterministic float32 algorithm within `workspaceLimit` bytes.
    func chooseAlgorithms(workspaceLimit: Int) throws -> Bool {
        guard matchesOutput else { return false }
        let f = functions
        guard let forward = try choose("cudnnGetConvolutionForwardAlgorithm_v7", f.cudnnGetConvolutionForwardAlgorithm,
                                       (input, filter, convolution, output), limit: workspaceLimit),
              let backwardData = try choose("cudnnGetConvolutionBackwardDataAlgorithm_v7", f.cudnnGetConvolutionBackwardDataAlgorithm,
                                            (filter, output, convolution, input), limit: workspaceLimit),
              let backwardFilter = try choose("cudnnGetConvolutionBackwardFilterAlgorithm_v7", f.cudnnGetConvolutionBackwardFilterAlgorithm,
                                              (input, output, convolution, filter), limit: workspaceLimit)
        else { return false }
        // The workspace each needs, asked again for the algorithm chosen (the heuristics' figure is an estimate).
        forwardBytes = try workspace("cudnnGetConvolutionForwardWorkspaceSize", f.cudnnGetConvolutionForwardWorkspaceSize,
                                     (input, filter, convolution, output), forward)
        backwardDataBytes = try workspace("cudnnGetConvolutionBackwardDataWorkspaceSize", f.cudnnGetConvolutionBackwardDataWorkspaceSize,
                                          (filter, output, convolution, input), backwardData)
        backwardFilterBytes = try workspace("cudnnGetConvolutionBackwardFilterWorkspaceSize", f.cudnnGetConvolutionBackwardFilterWorkspaceSize,
                                            (input, output, convolution, filter), backwardFilter)
        guard max(forwardBytes, backwardDataBytes, backwardFilterBytes) <= workspaceLimit else { return false }
        (forwardAlgorithm, backwardDataAlgorithm, backwardFilterAlgorithm) = (forward, backwardData, backwardFilter)
        workspaceBytes = max(forwardBytes, backwardDataBytes, backwardFilterBytes)
        return true
    }

    private typealias Descriptors = (OpaquePointer?, OpaquePointer?, OpaquePointer?, OpaquePointer?)

    /// The first algorithm of the heuristics' list that ran its query successfully, is deterministic,
    /// uses no tensor-op math and needs at most `limit` bytes.
    private func choose(_ name: String, _ query: CuDNNFunctions.AlgorithmQuery, _ d: Descriptors, limit: Int) throws -> Int32? {
        let stride = CuDNNConstant.performanceStride, capacity = CuDNNConstant.requestedAlgorithms
        let results = UnsafeMutableRawPointer.allocate(byteCount: stride * capacity, alignment: 8)
        defer { results.deallocate() }
        results.initializeMemory(as: UInt8.self, repeating: 0, count: stride * capacity)
        var returned: Int32 = 0
        try functions.check(name, query(handle, d.0, d.1, d.2, d.3, Int32(capacity), &returned, results))
        for index in 0..<min(max(Int(returned), 0), capacity) {
            let entry = results + index * stride
            let algorithm = entry.load(fromByteOffset: 0, as: Int32.self)
            let status = entry.load(fromByteOffset: 4, as: Int32.self)
            let memory = entry.load(fromByteOffset: 16, as: Int.self)
            let determinism = entry.load(fromByteOffset: 24, as: Int32.self)
            let mathType = entry.load(fromByteOffset: 28, as: Int32.self)
            if status == 0, determinism == CuDNNConstant.deterministic,
               mathType == CuDNNConstant.defaultMath || mathType == CuDNNConstant.fmaMath,
               memory >= 0, memory <= limit {
                return algorithm
            }
        }
        return nil
    }

    private func workspace(_ name: String, _ query: CuDNNFunctions.WorkspaceQuery, _ d: Descriptors, _ algorithm: Int32) throws -> Int {
        var bytes = 0
        try functions.check(name, query(handle, d.0, d.1, d.2, d.3, algorithm, &bytes))
        return bytes
    }

    private func run(_ name: String, _ pass: CuDNNFunctions.Pass, _ a: (OpaquePointer?, DevicePointer), _ b: (OpaquePointer?, DevicePointer),
                     algorithm: Int32, workspace: DevicePointer, bytes: Int, into c: (OpaquePointer?, DevicePointer)) throws {
        try owner.prepare()
        var alpha: Float = 1, beta: Float = 0
        func raw(_ pointer: DevicePointer) -> UnsafeMutableRawPointer? { UnsafeMutableRawPointer(bitPattern: UInt(pointer)) }
        try functions.check(name, pass(handle, &alpha, a.0, raw(a.1), b.0, raw(b.1), convolution, algorithm,
                                       bytes > 0 ? raw(workspace) : nil, bytes, &beta, c.0, raw(c.1)))
    }

    func forward(input x: DevicePointer, weight w: DevicePointer, output y: DevicePointer, workspace: DevicePointer) throws {
        try run("cudnnConvolutionForward", functions.cudnnConvolutionForward, (input, x), (filter, w),
                algorithm: forwardAlgorithm, workspace: workspace, bytes: forwardBytes, into: (output, y))
    }

    func backwardData(outputGradient dy: DevicePointer, weight w: DevicePointer, inputGradient dx: DevicePointer,
                      workspace: DevicePointer) throws {
        try run("cudnnConvolutionBackwardData", functions.cudnnConvolutionBackwardData, (filter, w), (output, dy),
                algorithm: backwardDataAlgorithm, workspace: workspace, bytes: backwardDataBytes, into: (input, dx))
    }

    func backwardFilter(input x: DevicePointer, outputGradient dy: DevicePointer, weightGradient dw: DevicePointer,
                        workspace: DevicePointer) throws {
        try run("cudnnConvolutionBackwardFilter", functions.cudnnConvolutionBackwardFilter, (input, x), (output, dy),
                algorithm: backwardFilterAlgorithm, workspace: workspace, bytes: backwardFilterBytes, into: (filter, dw))
    }
}
