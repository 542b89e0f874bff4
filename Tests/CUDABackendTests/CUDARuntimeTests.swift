import Foundation
import Testing
@testable import CUDABackend

// CUDARuntime against the fake libraries (FakeCUDALibraries.swift): the error paths of a machine
// without a usable GPU, and every call's C signature, checked by the fakes doing the work on the host.

@Test(arguments: [nil, "", "7"] as [String?])
func noDeviceIsATypedErrorNamingCudaVisibleDevices(visible: String?) throws {
    let directory = try FakeCUDA.directory("no-device", driver: .init(initResult: 100))
    let environment = visible.map { ["CUDA_VISIBLE_DEVICES": $0] } ?? [:]
    let error = #expect(throws: CUDAError.self) {
        try CUDARuntime(ordinal: 0, libraries: FakeCUDA.search([directory], environment: environment))
    }
    guard case let .noDevice(visibleDevices) = try #require(error) else {
        Issue.record("expected noDevice, got \(String(describing: error))")
        return
    }
    #expect(visibleDevices == visible)
    let text = error?.description ?? ""
    #expect(text.hasPrefix("no CUDA device"))
    #expect(text.contains(visible.map { "CUDA_VISIBLE_DEVICES=\"\($0)\"" } ?? "CUDA_VISIBLE_DEVICES is unset"))
}

@Test(arguments: [(count: 0, ordinal: 0), (count: 1, ordinal: 3), (count: 1, ordinal: -1)])
func anOrdinalBeyondTheDevicesIsRefusedWithTheCount(count: Int, ordinal: Int) throws {
    let directory = try FakeCUDA.directory("count-\(count)", driver: .init(deviceCount: count))
    let error = #expect(throws: CUDAError.self) {
        try CUDARuntime(ordinal: ordinal, libraries: FakeCUDA.search([directory]))
    }
    guard case .ordinalOutOfRange(ordinal, count) = try #require(error) else {
        Issue.record("expected ordinalOutOfRange, got \(String(describing: error))")
        return
    }
    #expect(error?.description.contains("sees \(count) device") == true)
}

@Test func aMissingCuBLASReleasesThePrimaryContext() throws {
    let directory = try FakeCUDA.directory("no-cublas", cublas: false, nvrtc: true)
    let error = #expect(throws: CUDALibraryError.self) {
        try CUDARuntime(ordinal: 0, libraries: FakeCUDA.search([directory]))
    }
    #expect(error?.description.hasPrefix("libcublas not found") == true)
    #expect(FakeCUDA.counter("fake_retained", in: directory + "/libcuda.so.1") == 0)
}

@Test func theRuntimeDescribesTheDeviceAndReleasesEverythingAtTheEnd() throws {
    let directory = try FakeCUDA.directory("lifecycle", cublas: true, nvrtc: true)
    let driver = directory + "/libcuda.so.1", cublas = directory + "/libcublas.so.12"
    do {
        let runtime = try CUDARuntime(ordinal: 0, libraries: FakeCUDA.search([directory]))
        #expect(runtime.deviceDescription.hasPrefix("Fake GPU (sm_80, driver 12.4, 16.0 GiB"))
        #expect(runtime.architecture == CUDAArchitecture(major: 8, minor: 0))
        #expect(FakeCUDA.counter("fake_retained", in: driver) == 1)
        #expect(FakeCUDA.counter("fake_handles", in: cublas) == 1)
        // CUBLAS_DEFAULT_MATH: FP32 stays FP32.
        #expect(FakeCUDA.counter("fake_math_mode", in: cublas) == 0)
        // libcublasLt was loaded (RTLD_GLOBAL) from the same directory before libcublas.
        #expect(FakeCUDA.counter("fake_cublas_lt_marker", in: directory + "/libcublasLt.so.12") == 1)
        _ = try runtime.loadKernels(source: "// lifecycle \(UUID())", names: ["saxpy"])
        #expect(FakeCUDA.counter("fake_modules", in: driver) == 1)
    }
    #expect(FakeCUDA.counter("fake_retained", in: driver) == 0)
    #expect(FakeCUDA.counter("fake_handles", in: cublas) == 0)
    #expect(FakeCUDA.counter("fake_modules", in: driver) == 0)
}

@Test func copiesAndZeroRoundTrip() throws {
    let runtime = try CUDARuntime(ordinal: 0, libraries: FakeCUDA.search([FakeCUDA.directory("full", cublas: true, nvrtc: true)]))
    let values: [Float] = [1, 2, 3, 4, 5, 6]
    let bytes = values.count * 4
    let first = try runtime.allocate(bytes: bytes), second = try runtime.allocate(bytes: bytes)
    defer { runtime.free(first); runtime.free(second) }
    try values.withUnsafeBytes { try runtime.copyToDevice(first, from: $0.baseAddress!, bytes: bytes) }
    try runtime.copyOnDevice(second, from: first, bytes: bytes)
    try runtime.zero(first + 8, bytes: 8)
    var back = [Float](repeating: -1, count: values.count), copied = back
    try back.withUnsafeMutableBytes { try runtime.copyToHost($0.baseAddress!, from: first, bytes: bytes) }
    try copied.withUnsafeMutableBytes { try runtime.copyToHost($0.baseAddress!, from: second, bytes: bytes) }
    try runtime.synchronize()
    #expect(back == [1, 2, 0, 0, 5, 6])
    #expect(copied == values)
    #expect(throws: CUDAError.self) { try runtime.zero(first, bytes: 6) }
}

@Test func driverFailuresCarryNvidiasNames() throws {
    let runtime = try CUDARuntime(ordinal: 0, libraries: FakeCUDA.search([FakeCUDA.directory("full", cublas: true, nvrtc: true)]))
    let error = #expect(throws: CUDAError.self) { try runtime.allocate(bytes: 1 << 50) }
    guard case let .driver(function, code, name, message) = try #require(error) else {
        Issue.record("expected a driver error, got \(String(describing: error))")
        return
    }
    #expect(function == "cuMemAlloc_v2" && code == 2 && name == "CUDA_ERROR_OUT_OF_MEMORY" && message == "out of memory")
    #expect(error?.description == "cuMemAlloc_v2 failed: CUDA_ERROR_OUT_OF_MEMORY (2): out of memory")
}

@Test func kernelsLaunchWithEveryKindOfArgument() throws {
    let runtime = try CUDARuntime(ordinal: 0, libraries: FakeCUDA.search([FakeCUDA.directory("full", cublas: true, nvrtc: true)]))
    let kernels = try runtime.loadKernels(source: "// saxpy and fill64 \(UUID())", names: ["saxpy", "fill64"])
    let x: [Float] = [1, 2, 3, 4], y: [Float] = [10, 20, 30, 40]
    let dx = try runtime.allocate(bytes: 16), dy = try runtime.allocate(bytes: 16), dz = try runtime.allocate(bytes: 16)
    defer { [dx, dy, dz].forEach(runtime.free) }
    try x.withUnsafeBytes { try runtime.copyToDevice(dx, from: $0.baseAddress!, bytes: 16) }
    try y.withUnsafeBytes { try runtime.copyToDevice(dy, from: $0.baseAddress!, bytes: 16) }
    try runtime.zero(dz, bytes: 16)
    try runtime.launch(try #require(kernels["saxpy"]), grid: (x: 1, y: 1, z: 1), block: (x: 4, y: 1, z: 1),
                       sharedBytes: 0, arguments: [.int32(4), .float(0.5), .pointer(dx), .pointer(dy)])
    try runtime.launch(try #require(kernels["fill64"]), grid: (x: 1, y: 1, z: 1), block: (x: 3, y: 1, z: 1),
                       sharedBytes: 128, arguments: [.int64(3), .float(-2), .pointer(dz)])
    var result = [Float](repeating: 0, count: 4), filled = result
    try result.withUnsafeMutableBytes { try runtime.copyToHost($0.baseAddress!, from: dy, bytes: 16) }
    try filled.withUnsafeMutableBytes { try runtime.copyToHost($0.baseAddress!, from: dz, bytes: 16) }
    #expect(result == [10.5, 21, 31.5, 42])
    #expect(filled == [-2, -2, -2, 0])

    let error = #expect(throws: CUDAError.self) { try runtime.loadKernels(source: "// \(UUID())", names: ["absent"]) }
    guard case .kernelNotFound("absent") = try #require(error) else {
        Issue.record("expected kernelNotFound, got \(String(describing: error))")
        return
    }
}

/// The column-major reference: C_i = alpha · op(A_i) · op(B_i) + beta · C_i.
private func referenceGemm(transposeA: Bool, transposeB: Bool, m: Int, n: Int, k: Int, alpha: Float, a: [Float], lda: Int,
                           strideA: Int, b: [Float], ldb: Int, strideB: Int, beta: Float, c: [Float], ldc: Int,
                           strideC: Int, batch: Int) -> [Float] {
    var c = c
    for i in 0..<batch {
        for column in 0..<n {
            for row in 0..<m {
                var sum: Float = 0
                for l in 0..<k {
                    let left = transposeA ? a[i * strideA + l + row * lda] : a[i * strideA + row + l * lda]
                    let right = transposeB ? b[i * strideB + column + l * ldb] : b[i * strideB + l + column * ldb]
                    sum += left * right
                }
                let index = i * strideC + row + column * ldc
                c[index] = alpha * sum + beta * c[index]
            }
        }
    }
    return c
}

@Test(arguments: [(false, false, 1), (true, false, 1), (false, true, 2), (true, true, 3)])
func sgemmPassesEveryArgumentThrough(transposeA: Bool, transposeB: Bool, batch: Int) throws {
    let directory = try FakeCUDA.directory("sgemm-\(transposeA)-\(transposeB)-\(batch)", cublas: true, nvrtc: true)
    let runtime = try CUDARuntime(ordinal: 0, libraries: FakeCUDA.search([directory]))
    let (m, n, k) = (3, 4, 5)
    // Leading dimensions and strides larger than needed, and all different, so a swapped argument shows.
    let lda = (transposeA ? k : m) + 1, ldb = (transposeB ? n : k) + 2, ldc = m + 3
    let strideA = lda * (transposeA ? m : k) + 5, strideB = ldb * (transposeB ? k : n) + 7, strideC = ldc * n + 11
    let a = (0..<(strideA * batch)).map { Float($0 % 7) - 3 }
    let b = (0..<(strideB * batch)).map { Float($0 % 5) * 0.5 }
    let c = (0..<(strideC * batch)).map { Float($0 % 3) }
    func upload(_ values: [Float]) throws -> DevicePointer {
        let pointer = try runtime.allocate(bytes: values.count * 4)
        try values.withUnsafeBytes { try runtime.copyToDevice(pointer, from: $0.baseAddress!, bytes: values.count * 4) }
        return pointer
    }
    let da = try upload(a), db = try upload(b), dc = try upload(c)
    defer { [da, db, dc].forEach(runtime.free) }
    try runtime.sgemm(transposeA: transposeA, transposeB: transposeB, m: m, n: n, k: k, alpha: 1.5, a: da, lda: lda,
                      strideA: strideA, b: db, ldb: ldb, strideB: strideB, beta: -0.5, c: dc, ldc: ldc,
                      strideC: strideC, batch: batch)
    var result = [Float](repeating: 0, count: c.count)
    try result.withUnsafeMutableBytes { try runtime.copyToHost($0.baseAddress!, from: dc, bytes: c.count * 4) }
    #expect(result == referenceGemm(transposeA: transposeA, transposeB: transposeB, m: m, n: n, k: k, alpha: 1.5, a: a,
                                    lda: lda, strideA: strideA, b: b, ldb: ldb, strideB: strideB, beta: -0.5, c: c,
                                    ldc: ldc, strideC: strideC, batch: batch))
    let cublas = directory + "/libcublas.so.12"
    #expect(FakeCUDA.counter(batch == 1 ? "fake_plain_calls" : "fake_batched_calls", in: cublas) == 1)

    let error = #expect(throws: CUDAError.self) {
        try runtime.sgemm(transposeA: false, transposeB: false, m: 4, n: 1, k: 1, alpha: 1, a: da, lda: 4, strideA: 0,
                          b: db, ldb: 1, strideB: 0, beta: 0, c: dc, ldc: 2, strideC: 0, batch: batch)
    }
    #expect(error?.description.contains("CUBLAS_STATUS_INVALID_VALUE (7)") == true)
}
