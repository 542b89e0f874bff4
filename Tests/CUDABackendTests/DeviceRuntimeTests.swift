import Testing
@testable import CUDABackend

@Test func kernelArgumentsCarryTheirValues() {
    let arguments: [KernelArgument] = [.pointer(16), .int32(-3), .int64(1 << 40), .float(0.5)]
    #expect(arguments.count == 4)
    if case let .int64(value) = arguments[2] { #expect(value == 1 << 40) } else { Issue.record("int64 argument lost") }
}
