import Foundation
import Logging
import ServiceLifecycle
#if canImport(Glibc)
import Glibc
#endif

/// The dispatcher: spawns local `prunelab worker` processes once the server is listening — one
/// per GPU with `CUDA_VISIBLE_DEVICES=i`, else CPU workers — restarts any that exit, and stops
/// them when the server shuts down (their runs' leases then expire and resume elsewhere). The
/// workers share this machine's cores: each gets `OMP_NUM_THREADS` = cores / workers (unless the
/// server's environment sets it), since OpenMP teams that each take every core spin against one
/// another (BENCHMARKS.md, "Workers sharing a machine").
public final class WorkerSupervisor: Service, @unchecked Sendable {
    public struct Slot: Sendable, Equatable {
        public var device: String
        public var environment: [String: String]

        /// "GPU 3 (8 CPU threads)", "cpu (1 CPU thread)": what the startup line lists.
        public var summary: String {
            (environment["CUDA_VISIBLE_DEVICES"].map { "GPU \($0)" } ?? device)
                + (environment["OMP_NUM_THREADS"].map { " (\($0) CPU thread\($0 == "1" ? "" : "s"))" } ?? "")
        }
    }

    public let slots: [Slot]
    private let executable: String
    private let token: String
    private let logger: Logger
    private let ports: AsyncStream<Int>
    private let portContinuation: AsyncStream<Int>.Continuation
    private let lock = NSLock()
    private var children: [Process] = []

    /// `workers`: "auto" (one per GPU that `countGPUs` finds, else one CPU worker) or a count of CPU
    /// workers. GPU worker i sees only its GPU (`CUDA_VISIBLE_DEVICES`), which CUDA then numbers 0.
    /// `cores`: the cores the workers share (default: those this process may run on).
    public init(workers: String, executable: String, token: String, logger: Logger,
                countGPUs: () -> (count: Int, explanation: String) = { (0, "no GPU counter given") },
                environment: [String: String] = ProcessInfo.processInfo.environment,
                cores: Int = ProcessInfo.processInfo.activeProcessorCount) throws {
        var slots: [Slot]
        if workers == "auto" {
            let gpus = countGPUs()
            logger.info("GPUs for workers: \(gpus.count)", metadata: ["how": "\(gpus.explanation)"])
            slots = gpus.count > 0
                ? Self.gpuSlots(count: gpus.count, inherited: environment["CUDA_VISIBLE_DEVICES"])
                : [Slot(device: "cpu", environment: [:])]
        } else if let count = Int(workers), (0...64).contains(count) {
            slots = Array(repeating: Slot(device: "cpu", environment: [:]), count: count)
        } else {
            throw APIError(.badRequest, "expected auto or a number of workers from 0 to 64, got '\(workers)'", field: "--workers")
        }
        // An explicit OMP_NUM_THREADS is the operator's choice and passes through unchanged.
        if (environment["OMP_NUM_THREADS"] ?? "").isEmpty, !slots.isEmpty {
            let share = Self.threadShare(cores: cores, workers: slots.count)
            for index in slots.indices { slots[index].environment["OMP_NUM_THREADS"] = "\(share)" }
        }
        self.slots = slots
        self.executable = executable
        self.token = token
        self.logger = logger
        (ports, portContinuation) = AsyncStream.makeStream(of: Int.self)
    }

    /// One slot per GPU. When this process was itself given a subset (`CUDA_VISIBLE_DEVICES=2,3` from
    /// Slurm), worker i gets the i-th of those, not GPU i of the machine.
    static func gpuSlots(count: Int, inherited: String?) -> [Slot] {
        let visible = inherited.map { $0.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) } } ?? []
        return (0..<count).map { index in
            Slot(device: "gpu:0", environment: ["CUDA_VISIBLE_DEVICES": index < visible.count ? visible[index] : "\(index)"])
        }
    }

    /// Each worker's share of `cores` (at least one thread): the remainder stays idle rather than
    /// giving some workers a larger team, so that every worker trains at the same pace.
    static func threadShare(cores: Int, workers: Int) -> Int {
        max(1, cores / max(1, workers))
    }

    /// Tells the supervisor where the server listens (from the application's onServerRunning).
    public func serverIsRunning(port: Int) { portContinuation.yield(port) }


    public func run() async throws {
        // No local workers: wait for the shutdown like every other service of the group.
        guard !slots.isEmpty else { return try await gracefulShutdown() }
        var port: Int?
        for await value in ports.cancelOnGracefulShutdown() {
            port = value
            break
        }
        guard let port else { return }
        await withTaskGroup(of: Void.self) { group in
            for (index, slot) in slots.enumerated() {
                group.addTask { await self.supervise(slot, index: index, port: port) }
            }
            await withGracefulShutdownHandler {
                await group.waitForAll()
            } onGracefulShutdown: {
                self.stopChildren()
            }
        }
    }

    private var stopping: Bool { lock.withLock { isStopping } }
    private var isStopping = false

    private func stopChildren() {
        let running = lock.withLock { () -> [Process] in
            isStopping = true
            return children
        }
        for child in running where child.isRunning { child.terminate() }
    }

    /// Keeps one worker alive until shutdown, restarting it (after a pause) when it exits.
    private func supervise(_ slot: Slot, index: Int, port: Int) async {
        var restarts = 0
        while !stopping, !Task.isCancelled {
            let process = Process()
            process.executableURL = URL(fileURLWithPath: executable)
            process.arguments = ["worker", "--server", "http://127.0.0.1:\(port)", "--device", slot.device]
            var environment = ProcessInfo.processInfo.environment
            environment["PRUNELAB_TOKEN"] = token
            for (name, value) in slot.environment { environment[name] = value }
            process.environment = environment
            do {
                try process.run()
            } catch {
                logger.error("cannot start worker", metadata: ["worker": "\(index)", "error": "\(error)"])
                return
            }
            lock.withLock { children.append(process) }
            logger.info("worker started", metadata: ["worker": "\(index)", "pid": "\(process.processIdentifier)", "device": "\(slot.device)"])
            await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
                process.terminationHandler = { _ in continuation.resume() }
                if !process.isRunning { process.terminationHandler = nil; continuation.resume() }
            }
            lock.withLock { children.removeAll { $0 === process } }
            if stopping { return }
            restarts += 1
            logger.warning("worker exited; restarting",
                           metadata: ["worker": "\(index)", "status": "\(process.terminationStatus)", "restarts": "\(restarts)"])
            // Paused in short naps, so that a shutdown meanwhile is not kept waiting for the restart.
            let resume = Date().addingTimeInterval(min(Double(restarts), 10))
            while !stopping, !Task.isCancelled, Date() < resume { try? await Task.sleep(nanoseconds: 50_000_000) }
        }
    }
}
