import CDNNL
import CSupport

/// Work split over the cores on oneDNN's own OpenMP thread team.
public enum Parallel {
    /// Threads in the team (OMP_NUM_THREADS, else the number of cores).
    public static let threads: Int = Int(omp_get_max_threads())

    /// Flushes denormals to zero on the calling thread and on every thread of the OpenMP team
    /// (libgomp keeps its workers, so this holds for all later oneDNN calls). Idempotent.
    public static let flushDenormals: Bool = flushDenormalsOnThisThreadsTeam()

    /// Flushes denormals to zero on the calling thread and its OpenMP team, which libgomp makes
    /// per thread: a thread that will drive the engine (`ComputeThread`) calls it first.
    @discardableResult
    public static func flushDenormalsOnThisThreadsTeam() -> Bool {
        let supported = prunelab_flush_denormals() == 1
        onTeam(threads: threads) { _, _ in _ = prunelab_flush_denormals() }
        return supported
    }

    /// Runs `body` over `0..<count` split into at most `threads` contiguous ranges of at least
    /// `minimumChunk` elements; small ranges run inline on the caller's thread. The split depends
    /// only on `count` and the team size, so reductions over per-chunk results stay deterministic.
    @inline(__always)
    public static func forEachChunk(count: Int, minimumChunk: Int, _ body: (Range<Int>) -> Void) {
        let chunks = min(threads, max(1, count / max(minimumChunk, 1)))
        if chunks <= 1 { body(0..<count); return }
        let size = (count + chunks - 1) / chunks
        onTeam(threads: chunks) { thread, _ in
            let start = thread * size
            if start < count { body(start..<min(count, start + size)) }
        }
    }

    /// Runs `body(threadIndex, threadCount)` once on each thread of an OpenMP team of `threads`.
    public static func onTeam(threads: Int, _ body: (Int, Int) -> Void) {
        withoutActuallyEscaping(body) { body in
            var context = body
            withUnsafeMutablePointer(to: &context) { pointer in
                GOMP_parallel({ raw in
                    let body = raw!.assumingMemoryBound(to: ((Int, Int) -> Void).self).pointee
                    body(Int(omp_get_thread_num()), Int(omp_get_num_threads()))
                }, pointer, UInt32(threads), 0)
            }
        }
    }
}
