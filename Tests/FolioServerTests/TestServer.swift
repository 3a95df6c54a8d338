import CoreMetrics
import FolioBSON
import FolioEngine
@testable import FolioServer

/// A server core over the in-memory engine for command tests: runs command bodies through
/// the dispatcher as the wire server does, on connection 1.
struct TestServer {
    let dispatcher: CommandDispatcher
    let connection = ConnectionInfo(id: 1, remoteAddress: "127.0.0.1:1")

    /// Over the in-memory engine, or over SQLite in `directory`; with test commands on request.
    /// `auth`: access control on (`--auth`).
    init(directory: String? = nil, enableTestCommands: Bool = false, auth: Bool = false,
         metricsFactory: any MetricsFactory = NOOPMetricsHandler.instance) throws {
        let engine = try directory.map { d throws in try Engine.open(directory: d) } ?? Engine.inMemory()
        var configuration = ServerConfiguration(dataPath: directory ?? ServerConfiguration.defaultDataPath, inMemory: directory == nil,
                                                enableTestCommands: enableTestCommands)
        configuration.auth = auth
        dispatcher = CommandDispatcher(context: ServerContext(engine: engine, configuration: configuration, metricsFactory: metricsFactory))
    }

    /// Over a dispatcher made elsewhere (a context with options TestServer does not set).
    init(dispatcher: CommandDispatcher) { self.dispatcher = dispatcher }

    /// Runs `body` against database `db` (unless it names one) and returns the reply; on
    /// `connection` when given (another client).
    @discardableResult
    func run(_ body: Document, db: String = "test", connection: ConnectionInfo? = nil) -> Document {
        var b = body
        if b["$db"] == nil { b.append("$db", .string(db)) }
        return dispatcher.run(b, connection: connection ?? self.connection)
    }

    /// The documents of a cursor reply's first batch.
    func firstBatch(_ reply: Document) -> [BSON]? {
        guard case .document(let cursor)? = reply["cursor"], case .array(let batch)? = cursor["firstBatch"] else { return nil }
        return batch
    }
}
