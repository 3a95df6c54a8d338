import Dispatch
import FolioServer
import FolioWire
import Logging
import ServiceLifecycle
import UnixSignals

// `folio serve` runs its parts as swift-service-lifecycle services in one ServiceGroup: the
// wire server and, with --metrics-port, the metrics endpoint. Graceful shutdown starts on
// SIGINT or SIGTERM (logged as MongoDB logs it, signal number included) or when the wire
// server stops by itself (the `shutdown` command); the group then shuts its services down in
// reverse order, the wire server first: stop accepting, interrupt running commands, close
// cursors, checkpoint and close storage (WireServer.shutdown).

/// The wire server as a service: runs until it stops, shutting it down on graceful shutdown.
struct WireService: Service, CustomStringConvertible {
    let server: WireServer
    var description: String { "WireServer" }

    func run() async throws {
        let server = self.server
        await withGracefulShutdownHandler {
            // The server's own wait blocks: it runs on a thread of its own, not the pool's.
            await withCheckedContinuation { (done: CheckedContinuation<Void, Never>) in
                DispatchQueue.global().async {
                    try? server.wait()
                    done.resume()
                }
            }
        } onGracefulShutdown: {
            DispatchQueue.global().async { server.shutdown() }
        }
    }
}

/// The Prometheus endpoint as a service: open until graceful shutdown reaches it.
struct MetricsService: Service, CustomStringConvertible {
    let endpoint: MetricsEndpoint
    var description: String { "MetricsEndpoint" }

    func run() async throws {
        try? await gracefulShutdown()
        let endpoint = self.endpoint
        await withCheckedContinuation { (done: CheckedContinuation<Void, Never>) in
            DispatchQueue.global().async {
                endpoint.close()
                done.resume()
            }
        }
    }
}

extension Serve {
    /// Runs the services until they have shut down.
    static func runServices(server: WireServer, metrics: MetricsEndpoint?, log: ServerLog) async throws {
        var services: [ServiceGroupConfiguration.ServiceConfiguration] = []
        if let metrics { services.append(.init(service: MetricsService(endpoint: metrics))) }
        // The server stopping by itself (the shutdown command) shuts the rest down gracefully.
        services.append(.init(service: WireService(server: server), successTerminationBehavior: .gracefullyShutdownGroup))
        // The group's own lines are debug chatter without MongoDB's ids: only its warnings and
        // errors (a service that failed) reach the log.
        var logger = log.logger
        logger.logLevel = .warning
        let group = ServiceGroup(configuration: ServiceGroupConfiguration(services: services, logger: logger))
        let signals = Task {
            for await signal in await UnixSignalsSequence(trapping: .sigint, .sigterm) {
                log.log(.info, .control, id: 23377, ctx: "SignalHandler", "Received signal",
                        attr: ["signal": .int32(signal.rawValue), "error": .string(signal == .sigint ? "Interrupt" : "Terminated")])
                await group.triggerGracefulShutdown()
            }
        }
        defer { signals.cancel() }
        try await group.run()
    }
}
