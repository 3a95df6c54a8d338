import Foundation
import MetricsTestKit
import NIOPosix
import Prometheus
import Testing
import FolioBSON
@testable import FolioServer
@testable import FolioWire

/// Metrics through swift-metrics and the Prometheus endpoint (ServerTelemetry.swift).
@Suite struct ServerTelemetryTests {
    @Test func commandsAreCountedByOutcomeAndTimed() throws {
        let metrics = TestMetrics()
        let s = try TestServer(metricsFactory: metrics)
        s.run(["insert": "c", "documents": [["_id": 1]]])
        s.run(["insert": "c", "documents": [["_id": 1]], "ordered": 7])
        s.run(["find": "c", "filter": ["$bad": 1]])
        s.run(["findandmodify": "c", "query": ["_id": 1], "remove": true])
        s.run(["noSuchCommand": 1])
        #expect(try metrics.expectCounter("folio_commands_total", [("command", "insert"), ("outcome", "ok")]).totalValue == 2)
        #expect(try metrics.expectCounter("folio_commands_total", [("command", "find"), ("outcome", "error")]).totalValue == 1)
        #expect(try metrics.expectCounter("folio_commands_total", [("command", "findAndModify"), ("outcome", "ok")]).totalValue == 1,
                "an alias counts under its command's name")
        #expect(try metrics.expectCounter("folio_commands_total", [("command", "<UNKNOWN>"), ("outcome", "error")]).totalValue == 1)
        #expect(try metrics.expectTimer("folio_command_duration_seconds", [("command", "insert")]).values.count == 2)
        s.dispatcher.context.telemetry.refresh(s.dispatcher.context)
        #expect(try metrics.expectGauge("folio_open_cursors").lastValue == 0)
    }

    @Test func prometheusEndpointServesTheRegistry() throws {
        let registry = PrometheusCollectorRegistry()
        let s = try TestServer(metricsFactory: PrometheusMetricsFactory(registry: registry))
        s.run(["ping": 1])
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        defer { try? group.syncShutdownGracefully() }
        let endpoint = try MetricsEndpoint.start(host: "127.0.0.1", port: 0, registry: registry, context: s.dispatcher.context, group: group)
        defer { endpoint.close() }
        let text = try ServerTelemetryTests.get(port: endpoint.port, path: "/metrics")
        #expect(text.contains("folio_commands_total{command=\"ping\",outcome=\"ok\"} 1"), "\(text.prefix(500))")
        #expect(text.contains("# TYPE folio_command_duration_seconds histogram"))
        #expect(text.contains("folio_connections 0"))
        #expect(text.contains("folio_record_cache_hits_total"))
        #expect(text.contains("folio_checkpoint_seconds_total"))
    }

    /// Storage's counts reach the counters by what changed between two scrapes.
    @Test func storageCountsMoveTheCounters() throws {
        let metrics = TestMetrics()
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("folio-telemetry-\(UUID())").path
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let s = try TestServer(directory: directory, metricsFactory: metrics)
        s.run(["insert": "c", "documents": [["_id": 1, "a": 1]]])
        s.run(["createIndexes": "c", "indexes": [["key": ["a": 1], "name": "a_1"]]])
        let context = s.dispatcher.context
        context.telemetry.refresh(context)
        let hits = try metrics.expectCounter("folio_record_cache_hits_total").totalValue
        // An index fetch reads the record by key: the first read misses, the next ones hit.
        for _ in 0..<3 { s.run(["find": "c", "filter": ["a": 1]]) }
        context.telemetry.refresh(context)
        #expect(try metrics.expectCounter("folio_record_cache_hits_total").totalValue >= hits + 2)
        #expect(try metrics.expectGauge("folio_record_cache_bytes").lastValue ?? 0 > 0)
    }

    /// A plain HTTP/1.0 GET over a socket (Foundation's URL loading is not part of the Linux core).
    static func get(port: Int, path: String) throws -> String {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(fd) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = in_port_t(UInt16(port).bigEndian)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        let connected = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        try #require(connected == 0)
        var timeout = timeval(tv_sec: 10, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        let request = Array("GET \(path) HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n".utf8)
        _ = request.withUnsafeBytes { send(fd, $0.baseAddress, $0.count, 0) }
        var response: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 65536)
        while true {
            let n = chunk.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
            if n <= 0 { break }
            response += chunk[..<n]
        }
        return String(decoding: response, as: UTF8.self)
    }
}
