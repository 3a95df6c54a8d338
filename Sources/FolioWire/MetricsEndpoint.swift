import FolioServer
import NIOCore
import NIOHTTP1
import NIOPosix
import Prometheus

/// `GET /metrics` in Prometheus's text format, on its own port (`--metrics-port`).
public final class MetricsEndpoint: Sendable {
    let channel: any Channel

    /// Serves `registry` on `host:port` (port 0 picks a free one), refreshing the server's
    /// gauges before each scrape.
    public static func start(host: String, port: Int, registry: PrometheusCollectorRegistry, context: ServerContext,
                             group: any EventLoopGroup) throws -> MetricsEndpoint {
        let bootstrap = ServerBootstrap(group: group)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelInitializer { channel in
                channel.pipeline.configureHTTPServerPipeline().flatMap {
                    channel.pipeline.addHandler(MetricsHTTPHandler(registry: registry, context: context))
                }
            }
        return MetricsEndpoint(channel: try bootstrap.bind(host: host, port: port).wait())
    }

    init(channel: any Channel) { self.channel = channel }

    /// The port bound.
    public var port: Int { channel.localAddress?.port ?? 0 }

    public func close() { try? channel.close().wait() }
}

final class MetricsHTTPHandler: ChannelInboundHandler, @unchecked Sendable {
    // @unchecked: used only on its channel's event loop.
    typealias InboundIn = HTTPServerRequestPart
    typealias OutboundOut = HTTPServerResponsePart

    let registry: PrometheusCollectorRegistry
    let context: ServerContext
    private var request: HTTPRequestHead?

    init(registry: PrometheusCollectorRegistry, context: ServerContext) {
        self.registry = registry
        self.context = context
    }

    func channelRead(context ctx: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head(let head):
            request = head
        case .body:
            break
        case .end:
            guard let head = request else { return }
            request = nil
            let found = head.method == .GET && head.uri.split(separator: "?").first == "/metrics"
            var body: [UInt8]
            if found {
                context.telemetry.refresh(context)
                body = registry.emitToBuffer()
            } else {
                body = Array("not found: metrics are at /metrics\n".utf8)
            }
            var headers = HTTPHeaders()
            headers.add(name: "Content-Type", value: found ? "text/plain; version=0.0.4; charset=utf-8" : "text/plain")
            headers.add(name: "Content-Length", value: String(body.count))
            let responseHead = HTTPResponseHead(version: head.version, status: found ? .ok : .notFound, headers: headers)
            ctx.write(wrapOutboundOut(.head(responseHead)), promise: nil)
            var buffer = ctx.channel.allocator.buffer(capacity: body.count)
            buffer.writeBytes(body)
            ctx.write(wrapOutboundOut(.body(.byteBuffer(buffer))), promise: nil)
            let channel = ctx.channel, keepAlive = head.isKeepAlive
            ctx.writeAndFlush(wrapOutboundOut(.end(nil))).whenComplete { _ in
                if !keepAlive { channel.close(promise: nil) }
            }
        }
    }
}
