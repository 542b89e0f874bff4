import Foundation
import Testing
import Tensors
#if canImport(Glibc)
import Glibc
#endif

@Suite("ComputeThread: one thread, one OpenMP team, for every job")
struct ComputeThreadTests {
    struct Refused: Error, Equatable { let code: Int }

    /// The thread and the OpenMP team of a job, and whether each team member flushes a denormal
    /// product to zero.
    struct Team: Sendable, Equatable {
        var thread: UInt
        var members: Set<UInt>
        var flushed: [Bool]
    }

    static func team() -> Team {
        let count = Parallel.threads
        let members = UnsafeMutableBufferPointer<UInt>.allocate(capacity: count)
        let flushed = UnsafeMutableBufferPointer<Bool>.allocate(capacity: count)
        defer { members.deallocate(); flushed.deallocate() }
        members.initialize(repeating: 0)
        flushed.initialize(repeating: false)
        // 2⁻¹³⁰ is a denormal; read from memory so the compiler cannot fold the product.
        let inputs: [Float] = [Float(sign: .plus, exponent: -130, significand: 1), 1]
        Parallel.onTeam(threads: count) { index, _ in
            members[index] = UInt(pthread_self())
            flushed[index] = inputs[0] * inputs[1] == 0
        }
        return Team(thread: UInt(pthread_self()), members: Set(members), flushed: Array(flushed))
    }

    @Test("jobs run on one thread that is not the caller's, and keep its OpenMP team, denormals flushed")
    func oneThreadOneTeam() async throws {
        let compute = ComputeThread(name: "compute-test")
        let first = try await compute.run { Self.team() }
        let second = try await compute.run { Self.team() }
        let caller = UInt(pthread_self())
        #expect(first.thread != caller)
        #expect(first == second, "a later job ran on another thread or another team")
        #expect(first.members.contains(first.thread), "the compute thread leads its own team")
        #expect(first.members.count == Parallel.threads)
        #if arch(x86_64)
        #expect(first.flushed.allSatisfy { $0 }, "a team member of the compute thread keeps denormals: \(first.flushed)")
        #endif
        #expect(try await compute.run { compute.isCurrent })
        #expect(!compute.isCurrent)
    }

    @Test("concurrent callers each get their own job's result on the one thread; an error reaches its caller, and the thread goes on")
    func concurrentCallersAndErrors() async throws {
        let compute = ComputeThread(name: "compute-test")
        let threads = Log()
        let results = try await withThrowingTaskGroup(of: (Int, Int).self) { group in
            for index in 0..<16 {
                group.addTask { (index, try await compute.run { threads.append(Int(bitPattern: UInt(pthread_self()))); return index * index }) }
            }
            return try await group.reduce(into: [:]) { $0[$1.0] = $1.1 }
        }
        #expect(results == Dictionary(uniqueKeysWithValues: (0..<16).map { ($0, $0 * $0) }))
        #expect(Set(threads.values).count == 1, "jobs ran on \(Set(threads.values).count) threads")
        await #expect(throws: Refused(code: 7)) { try await compute.run { throw Refused(code: 7) } }
        #expect(try await compute.run { 6 * 7 } == 42)
    }

    final class Log: @unchecked Sendable {
        private let lock = NSLock()
        private var entries: [Int] = []
        func append(_ value: Int) { lock.lock(); entries.append(value); lock.unlock() }
        var values: [Int] { lock.lock(); defer { lock.unlock() }; return entries }
    }
}
