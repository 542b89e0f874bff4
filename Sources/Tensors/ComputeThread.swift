import Foundation

/// The one thread that runs a long-lived process's engine work, job after job, for the life of
/// the process.
///
/// libgomp gives every thread that opens a parallel region a team (thread pool) of its own, and
/// counts all their threads together: once a process holds more OpenMP threads than cores, every
/// barrier spins only 100 rounds before it sleeps in a futex. A worker that ran each run on a new
/// thread, after opening the backend on a cooperative one, held two teams on two cores. Its
/// LeNet-300-100 training loop then made 20 000 context switches a second, used 1.3 of its 2
/// cores and ran at 60 % of `bench lenet300`'s speed. The team of a new thread also missed the
/// denormal flush done on the first one. On this thread there is one team, made once and
/// flushed once.
public final class ComputeThread: @unchecked Sendable {
    /// The process's compute thread, started on first use.
    public static let shared = ComputeThread(name: "prunelab-compute")

    private let thread: Thread
    private let queue: JobQueue

    /// Starts the thread; it never ends (jobs wait for it, and a process has one).
    public init(name: String) {
        let queue = JobQueue()
        self.queue = queue
        thread = Thread { queue.serve() }
        thread.name = name
        // The engine recurses little, but a run's thread had the default 8 MiB; keep it.
        thread.stackSize = 8 << 20
        thread.start()
    }

    /// Runs `body` on the compute thread after the jobs before it and returns (or throws) what it did.
    public func run<T>(_ body: @escaping @Sendable () throws -> sending T) async throws -> sending T {
        try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<T, any Error>) in
            queue.add {
                do { continuation.resume(returning: try body()) } catch { continuation.resume(throwing: error) }
            }
        }
    }

    /// Whether the caller is the compute thread.
    public var isCurrent: Bool { Thread.current == thread }

    /// The jobs, in order, and the loop that runs them.
    private final class JobQueue: @unchecked Sendable {
        private let condition = NSCondition()
        private var jobs: [() -> Void] = []

        func add(_ job: @escaping () -> Void) {
            condition.lock()
            jobs.append(job)
            condition.signal()
            condition.unlock()
        }

        func serve() {
            // This thread's OpenMP team is the one the engine will use: flush denormals on it.
            Parallel.flushDenormalsOnThisThreadsTeam()
            while true {
                condition.lock()
                while jobs.isEmpty { condition.wait() }
                let job = jobs.removeFirst()
                condition.unlock()
                job()
            }
        }
    }
}
