import CoreMetrics
import FolioBSON
import Metrics
import FolioStorage
import Synchronization
import FolioLocks

/// The server's metrics through swift-metrics: commands by name and outcome, their latency,
/// and gauges of connections, cursors, sessions and storage, read at each scrape. The factory
/// decides where they go (`folio serve --metrics-port` uses swift-prometheus; an embedding
/// application may pass its own; the default discards them).
package final class ServerTelemetry: Sendable {
    struct CommandMetrics: Sendable {
        let succeeded: CoreMetrics.Counter
        let failed: CoreMetrics.Counter
        let latency: Metrics.Timer
    }

    let commands: [String: CommandMetrics]
    let unknown: CommandMetrics
    let connections: Metrics.Gauge
    let cursors: Metrics.Gauge
    let sessions: Metrics.Gauge
    let storageBytes: Metrics.Gauge
    let logLines: Metrics.Gauge
    /// Storage's own counts: the record cache's hits, misses and size, background checkpoints
    /// and their time (counters move by what changed since the last scrape).
    let cacheHits: CoreMetrics.Counter
    let cacheMisses: CoreMetrics.Counter
    let cacheBytes: Metrics.Gauge
    let checkpoints: CoreMetrics.Counter
    let checkpointSeconds: CoreMetrics.FloatingPointCounter
    /// Finds answered from the message's bytes (RawPointRead.swift), a part of the finds counted
    /// in `folio_commands_total`.
    let pointReadsFromBytes: CoreMetrics.Counter
    let reported = Locked(StorageStatistics())

    init(factory: any MetricsFactory, commandNames: some Sequence<String>) {
        func metrics(_ name: String) -> CommandMetrics {
            CommandMetrics(succeeded: CoreMetrics.Counter(label: "folio_commands_total", dimensions: [("command", name), ("outcome", "ok")], factory: factory),
                           failed: CoreMetrics.Counter(label: "folio_commands_total", dimensions: [("command", name), ("outcome", "error")], factory: factory),
                           latency: Metrics.Timer(label: "folio_command_duration_seconds", dimensions: [("command", name)], factory: factory))
        }
        commands = Dictionary(uniqueKeysWithValues: commandNames.map { ($0, metrics($0)) })
        unknown = metrics("<UNKNOWN>")
        connections = Metrics.Gauge(label: "folio_connections", factory: factory)
        cursors = Metrics.Gauge(label: "folio_open_cursors", factory: factory)
        sessions = Metrics.Gauge(label: "folio_sessions", factory: factory)
        storageBytes = Metrics.Gauge(label: "folio_storage_bytes", factory: factory)
        logLines = Metrics.Gauge(label: "folio_log_lines", factory: factory)
        cacheHits = CoreMetrics.Counter(label: "folio_record_cache_hits_total", factory: factory)
        cacheMisses = CoreMetrics.Counter(label: "folio_record_cache_misses_total", factory: factory)
        cacheBytes = Metrics.Gauge(label: "folio_record_cache_bytes", factory: factory)
        checkpoints = CoreMetrics.Counter(label: "folio_checkpoints_total", factory: factory)
        checkpointSeconds = CoreMetrics.FloatingPointCounter(label: "folio_checkpoint_seconds_total", factory: factory)
        pointReadsFromBytes = CoreMetrics.Counter(label: "folio_point_reads_from_bytes_total", factory: factory)
    }

    /// Counts a command by its own name (nil: an unknown command).
    func record(_ name: String?, ok: Bool, duration: Duration) {
        let m = name.flatMap { commands[$0] } ?? unknown
        (ok ? m.succeeded : m.failed).increment()
        m.latency.recordNanoseconds(duration.wholeNanoseconds)
    }

    /// Reads the gauges' current values (before each scrape).
    package func refresh(_ context: ServerContext) {
        connections.record(context.metrics.currentConnections.load(ordering: .relaxed))
        cursors.record(context.cursors.count)
        sessions.record(context.sessions.sessions.withLock { $0.count })
        storageBytes.record(context.engine.sizeOnDiskBytes)
        logLines.record(context.log.recent.total)
        let now = context.engine.storageStatistics
        let last = reported.withLock { last in defer { last = now }; return last }
        cacheHits.increment(by: max(0, now.cacheHits - last.cacheHits))
        cacheMisses.increment(by: max(0, now.cacheMisses - last.cacheMisses))
        cacheBytes.record(now.cacheBytes)
        checkpoints.increment(by: max(0, now.checkpoints - last.checkpoints))
        checkpointSeconds.increment(by: max(0, now.checkpointSeconds - last.checkpointSeconds))
    }
}
