import Dispatch

/// Work split over the machine's cores in fixed, deterministic chunks.
public enum Parallel {
    /// Number of worker threads the CPU backend uses for its own loops.
    public nonisolated(unsafe) static var threads: Int = ProcessInfoCores.count

    /// Runs `body` over `0..<count` split into at most `threads` contiguous ranges of at least
    /// `minimumChunk` elements; small ranges run inline on the caller's thread. The split depends
    /// only on `count`, so reductions that combine per-chunk results stay deterministic.
    @inline(__always)
    public static func forEachChunk(count: Int, minimumChunk: Int, _ body: (Range<Int>) -> Void) {
        let chunks = min(threads, max(1, count / max(minimumChunk, 1)))
        if chunks <= 1 { body(0..<count); return }
        let size = (count + chunks - 1) / chunks
        withoutActuallyEscaping(body) { body in
            let box = UncheckedBox(body)
            DispatchQueue.concurrentPerform(iterations: chunks) { chunk in
                let start = chunk * size
                box.value(start..<min(count, start + size))
            }
        }
    }
}

/// Carries a non-Sendable value into `concurrentPerform`, whose chunks touch disjoint memory.
struct UncheckedBox<T>: @unchecked Sendable {
    let value: T
    init(_ value: T) { self.value = value }
}

enum ProcessInfoCores {
    static var count: Int {
        #if canImport(Glibc)
        return max(1, Int(sysconf(Int32(_SC_NPROCESSORS_ONLN))))
        #else
        return 1
        #endif
    }
}

#if canImport(Glibc)
import Glibc
#endif
