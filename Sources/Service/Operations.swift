import Foundation
import Hummingbird
import Logging
import Metrics
import Prometheus
import ServiceLifecycle
import Store

/// The numbers `GET /metrics` exposes in Prometheus' text format: request counts and latencies
/// (Hummingbird's MetricsMiddleware through swift-metrics), and the queue's state read from the
/// database at each scrape (runs by status, runnable queue depth, live workers, lease expiries
/// and other events as monotone totals, metrics ingested).
public final class ServiceMetrics: Sendable {
    public let registry: PrometheusCollectorRegistry
    private let runs: [RunStatus: Prometheus.Gauge]
    private let sweeps: [SweepStatus: Prometheus.Gauge]
    private let runnable: Prometheus.Gauge
    private let liveWorkers: Prometheus.Gauge
    private let events: NIOLockedEvents
    let metricsIngested: Prometheus.Counter
    let checkpointBytes: Prometheus.Counter
    let uploadsRefused: Prometheus.Counter

    /// The process-wide instance; `bootstrap()` routes swift-metrics (Hummingbird's request
    /// metrics) into its registry.
    public static let shared = ServiceMetrics()
    private static let bootstrapped = NSLock()
    nonisolated(unsafe) private static var isBootstrapped = false

    init() {
        let registry = PrometheusCollectorRegistry()
        self.registry = registry
        runs = Dictionary(uniqueKeysWithValues: RunStatus.allCases.map {
            ($0, registry.makeGauge(descriptor: metric("prunelab_runs", "Runs by status."), labels: [("status", $0.rawValue)]))
        })
        // The statuses the API reports (`OperationalCounts.sweeps`).
        sweeps = Dictionary(uniqueKeysWithValues: SweepStatus.allCases.map {
            ($0, registry.makeGauge(descriptor: metric("prunelab_sweeps", "Sweeps by status."), labels: [("status", $0.rawValue)]))
        })
        runnable = registry.makeGauge(descriptor: metric("prunelab_queue_depth", "Queued runs whose parents have all succeeded."))
        liveWorkers = registry.makeGauge(descriptor: metric("prunelab_live_workers", "Workers seen within the last lease period."))
        metricsIngested = registry.makeCounter(descriptor: metric("prunelab_metrics_ingested_total", "Metric samples stored from workers."))
        checkpointBytes = registry.makeCounter(descriptor: metric("prunelab_checkpoint_bytes_total", "Checkpoint bytes stored in the artifact store."))
        uploadsRefused = registry.makeCounter(descriptor: metric("prunelab_uploads_refused_total",
                                                                 "Checkpoint uploads refused (corrupt, truncated, oversized or a wrong hash)."))
        events = NIOLockedEvents(registry: registry)
    }

    /// Sends swift-metrics to this registry (once per process; later calls do nothing).
    public func bootstrap() {
        Self.bootstrapped.withLock {
            guard !Self.isBootstrapped else { return }
            var factory = PrometheusMetricsFactory(registry: registry)
            factory.defaultDurationHistogramBuckets = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10]
                .map { Duration.microseconds(Int64($0 * 1e6)) }
            // Prometheus names: letters, digits and underscores.
            factory.nameAndLabelSanitizer = { name, labels in
                func clean(_ text: String) -> String { String(text.map { $0.isLetter || $0.isNumber ? $0 : "_" }) }
                return (clean(name), labels.map { (clean($0.0), $0.1) })
            }
            MetricsSystem.bootstrap(factory)
            Self.isBootstrapped = true
        }
    }

    /// Refreshes the database-backed figures and renders everything.
    func scrape(_ store: Store, liveWithin seconds: Double) throws -> String {
        let counts = try store.operationalCounts(now: Date().timeIntervalSince1970, liveWithin: seconds)
        for (status, gauge) in runs { gauge.set(Double(counts.runs[status] ?? 0)) }
        for (status, gauge) in sweeps { gauge.set(Double(counts.sweeps[status] ?? 0)) }
        runnable.set(Double(counts.runnable))
        liveWorkers.set(Double(counts.liveWorkers))
        events.update(counts.events)
        return registry.emitToString()
    }
}

/// `prunelab_events_total{kind=…}` from the running totals by kind (`event_counts`, which never
/// decrease, also when old events are deleted): each scrape adds what happened since the last one.
private final class NIOLockedEvents: @unchecked Sendable {
    private let registry: PrometheusCollectorRegistry
    private let lock = NSLock()
    private var counters: [String: (counter: Prometheus.Counter, seen: Int)] = [:]

    init(registry: PrometheusCollectorRegistry) {
        self.registry = registry
        // The kinds an operator alerts on exist from the start, at zero.
        for kind in ["lease_expired", "failed", "retry", "succeeded", "leased", "sweep_submitted"] { update([kind: 0]) }
    }

    func update(_ totals: [String: Int]) {
        lock.withLock {
            for (kind, total) in totals {
                var entry = counters[kind] ?? (registry.makeCounter(descriptor: metric("prunelab_events_total", "Queue events by kind (lease_expired, retry, failed, …)."),
                                                                    labels: [("kind", kind)]), 0)
                if total > entry.seen { entry.counter.increment(by: Int64(total - entry.seen)) }
                entry.seen = max(entry.seen, total)
                counters[kind] = entry
            }
        }
    }
}

/// Background upkeep of `serve`: returns runs whose lease ran out to the queue (so status pages
/// are right even while no worker asks for work), and writes every queue event — from any code
/// path — to the log with its sweep, run and worker as metadata.
struct Housekeeper: Service {
    let store: Store
    let interval: Double
    /// Events older than this many seconds are deleted (nil: kept).
    var eventsRetention: Double? = nil
    let logger: Logger

    func run() async throws {
        var lastEvent = try store.lastEventID()
        while !Task.isCancelled && !Task.isShuttingDownGracefully {
            do {
                try store.expireLeases(now: Date().timeIntervalSince1970)
                for event in try store.events(after: lastEvent, limit: 10_000) {
                    lastEvent = event.id
                    log(event)
                }
                if let retention = eventsRetention {
                    let deleted = try store.pruneEvents(olderThan: Date().timeIntervalSince1970 - retention)
                    if deleted > 0 { logger.info("old events deleted", metadata: ["events": "\(deleted)", "retention_days": "\(retention / 86400)"]) }
                }
            } catch {
                logger.error("housekeeping failed", metadata: ["error": "\(error)"])
            }
            // Sleeps until the next round, or returns at once when shutdown begins.
            _ = try? await cancelWhenGracefulShutdown { try await Task.sleep(for: .seconds(interval)) }
        }
    }

    private func log(_ event: EventRecord) {
        var metadata: Logger.Metadata = ["event": "\(event.kind)"]
        if let sweep = event.sweep { metadata["sweep"] = "\(sweep)" }
        if let run = event.run { metadata["run"] = "\(run)" }
        if let worker = event.worker { metadata["worker"] = "\(worker)" }
        if let detail = event.detail { metadata["detail"] = "\(detail)" }
        let level: Logger.Level = ["lease_expired", "retry", "failed"].contains(event.kind) ? .warning : .info
        logger.log(level: level, "\(event.kind.replacingOccurrences(of: "_", with: " "))", metadata: metadata)
    }
}

/// A Prometheus name with its help text.
private func metric(_ name: String, _ help: String) -> MetricNameDescriptor {
    MetricNameDescriptor(metricName: name, unitName: "", helpText: help)
}
