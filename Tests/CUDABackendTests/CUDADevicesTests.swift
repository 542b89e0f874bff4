import Foundation
import Testing
@testable import CUDABackend

@Test(arguments: [
    ("", 0),
    ("No devices were found\n", 0),
    ("GPU 0: NVIDIA H100 80GB HBM3 (UUID: GPU-5f1c2a7e-0c1d-4b7e-9a55-8e1f0d2c3b4a)\n", 1),
    ("""
     GPU 0: NVIDIA A100-SXM4-40GB (UUID: GPU-1)
     GPU 1: NVIDIA A100-SXM4-40GB (UUID: GPU-2)
       MIG 3g.20gb     Device  0: (UUID: MIG-3)
       MIG 3g.20gb     Device  1: (UUID: MIG-4)

     GPU 2: Tesla T4 (UUID: GPU-5)\r
     NVIDIA-SMI has failed because it couldn't communicate with the NVIDIA driver. GPU 3
     """, 3),
])
func nvidiaSMIOutputCountsGPULines(output: String, expected: Int) {
    #expect(CUDADevices.countGPUs(inNvidiaSMIOutput: output) == expected)
}

/// A search with only `directories` and a PATH of `path`.
private func search(_ directories: [String], path: String) -> CUDALibrarySearch {
    FakeCUDA.search(directories, environment: ["PATH": path])
}

/// A directory holding an executable `nvidia-smi` running `script`.
private func fakeNvidiaSMI(_ script: String) -> String {
    let directory = FakeCUDA.temporaryDirectory("smi")
    #expect(FileManager.default.createFile(atPath: directory + "/nvidia-smi", contents: Data("#!/bin/sh\n\(script)\n".utf8),
                                    attributes: [.posixPermissions: 0o755]))
    return directory
}

@Test func theDriverCountsFirst() throws {
    let directory = try FakeCUDA.directory("count-2", driver: .init(deviceCount: 2))
    let smi = fakeNvidiaSMI("echo 'GPU 0: should not be asked'")
    let found = CUDADevices.count(libraries: search([directory], path: smi))
    #expect(found.count == 2)
    #expect(found.explanation == "2 GPUs reported by the CUDA driver at \(directory)/libcuda.so.1")
}

@Test func aDriverWithoutDevicesMeansZero() throws {
    let directory = try FakeCUDA.directory("no-device", driver: .init(initResult: 100))
    let found = CUDADevices.count(libraries: FakeCUDA.search([directory], environment: ["CUDA_VISIBLE_DEVICES": ""]))
    #expect(found.count == 0)
    #expect(found.explanation.contains("sees none") && found.explanation.contains("CUDA_VISIBLE_DEVICES=\"\""))
}

@Test func withoutTheDriverNvidiaSMICounts() {
    let smi = fakeNvidiaSMI("[ \"$1\" = -L ] && printf 'GPU 0: A (UUID: 1)\\nGPU 1: B (UUID: 2)\\n'")
    let found = CUDADevices.count(libraries: search([], path: "/nonexistent:\(smi)"))
    #expect(found.count == 2)
    #expect(found.explanation == "2 GPUs listed by \(smi)/nvidia-smi -L (libcuda not found)")
}

@Test func nothingFoundSaysWhy() {
    let found = CUDADevices.count(libraries: search([], path: "/nonexistent"))
    #expect(found == CUDADeviceCount(count: 0, explanation: "no GPU: libcuda not found; nvidia-smi is not on PATH"))
}

@Test(arguments: ["exit 9", "sleep 30"])
func aFailingOrHangingNvidiaSMIMeansZero(script: String) {
    let smi = fakeNvidiaSMI(script)
    let started = Date()
    let found = CUDADevices.count(libraries: search([], path: smi), nvidiaSMITimeout: 1)
    #expect(found.count == 0)
    #expect(found.explanation.contains("-L failed or timed out"))
    #expect(Date().timeIntervalSince(started) < 10)
}
