import ArgumentParser
import Foundation
import Logging
import Service
import Tensors

/// `prunelab worker`: pulls runs from a server and executes them.
struct WorkerCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "worker",
        abstract: "Lease runs from a prunelab server and execute them (heartbeats, metrics, checkpoints, results over HTTP).",
        discussion: """
            SIGTERM or SIGINT (systemd stop, Slurm preemption or scancel, Kubernetes pod deletion) stops the worker \
            within seconds in every phase — before the current run's next training step, pruning round, effective-target \
            probe or evaluation batch, and without waiting out retries of an unreachable server — uploads a \
            checkpoint of the steps done (requests still in flight get 3 seconds) and exits 0 without failing the \
            run, whose lease then expires and another worker resumes it from that checkpoint. A second signal \
            exits at once.
            """)

    @Option(help: "Server URL, e.g. http://127.0.0.1:8080 (the API lives under /api/v1).")
    var server: String
    @Option(help: "Bearer token (default: $PRUNELAB_TOKEN).")
    var token: String?
    @OptionGroup var device: DeviceOptions
    @Option(help: "Seconds between polls while the queue is empty.")
    var pollInterval: Double = 1
    @Flag(help: "Exit when the queue is empty instead of waiting for work.")
    var exitWhenIdle = false
    @Option(help: "Least seconds between checkpoint uploads, at evaluation boundaries (default: $PRUNELAB_CHECKPOINT_SECONDS, else 60). A stop on SIGTERM always uploads one; a killed worker loses at most this much work; 0 uploads at every evaluation.")
    var checkpointSeconds: Double?
    @Option(help: "Megabytes of decoded, normalised data sets kept between runs (least recently used evicted; 0 keeps none).")
    var dataCacheMb: Int = WorkerConfiguration.defaultDataCacheBytes >> 20
    @OptionGroup var logging: LoggingOptions

    func run() async throws {
        let url = try apiURL(server)
        let chosen = try device.parsed()
        guard pollInterval > 0 else { throw InvalidOption(option: "--poll-interval", reason: "must be positive, got \(pollInterval)") }
        let environment = ProcessInfo.processInfo.environment["PRUNELAB_CHECKPOINT_SECONDS"]
        let checkpointSeconds = self.checkpointSeconds ?? environment.map { Double($0) ?? -1 } ?? 60
        guard checkpointSeconds >= 0, checkpointSeconds.isFinite else {
            throw InvalidOption(option: "--checkpoint-seconds",
                                reason: "must be 0 or more seconds, got \(self.checkpointSeconds.map { "\($0)" } ?? environment ?? "")")
        }
        guard (0...(1 << 30)).contains(dataCacheMb) else {
            throw InvalidOption(option: "--data-cache-mb", reason: "must be from 0 to \(1 << 30), got \(dataCacheMb)")
        }
        guard let token = token ?? ProcessInfo.processInfo.environment["PRUNELAB_TOKEN"], !token.isEmpty else {
            throw InvalidOption(option: "--token", reason: "give the server's token (or set PRUNELAB_TOKEN)")
        }
        // Open the device before leasing anything: a GPU worker without CUDA fails here, in one line.
        // On the thread that will run the engine: the backend's setup (the denormal flush on its
        // OpenMP team, a GPU's context) belongs to it.
        let backend = try await ComputeThread.shared.run { try chosen.openBackend() }
        let worker = Worker(WorkerConfiguration(server: url, token: token, device: chosen.description, pollInterval: pollInterval,
                                                exitWhenIdle: exitWhenIdle, checkpointSeconds: checkpointSeconds, backend: backend,
                                                dataCacheBytes: dataCacheMb << 20))
        let logger = try logging.logger(label: "prunelab.worker")
        let signals = Self.stopOnSignals(worker, logger: logger)
        let executed = try await worker.run(logger: logger)
        signals.forEach { $0.cancel() }
        logger.info(worker.isStopping ? "stopped on signal; exiting" : "queue empty; exiting",
                    metadata: ["worker": "\(worker.id)", "runs": "\(executed)"])
    }

    /// SIGTERM/SIGINT ask the worker to stop; a second one ends the process immediately (the
    /// lease expires either way, so nothing depends on a graceful end).
    static func stopOnSignals(_ worker: Worker, logger: Logger) -> [any DispatchSourceSignal] {
        [SIGTERM, SIGINT].map { number in
            signal(number, SIG_IGN)
            let source = DispatchSource.makeSignalSource(signal: number, queue: .global())
            source.setEventHandler {
                if worker.isStopping { _exit(128 + number) }
                logger.notice("signal received; stopping", metadata: ["worker": "\(worker.id)", "signal": "\(number)"])
                worker.stop()
            }
            source.resume()
            return source
        }
    }
}
