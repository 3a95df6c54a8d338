internal import FolioEngine
internal import FolioServer
import Dispatch

// `runCommand`: the server's command layer (FolioServer, no networking) over the library's
// engine, for everything the typed API does not cover.

extension FolioClient {
    /// Runs a database command as the server does (the same command table, options, checks,
    /// errors and reply), for what the typed API does not cover.
    func runCommand(_ command: Document, database: String) async throws(FolioError) -> Document {
        if transactionLock != nil {
            throw FolioError(.operationNotSupportedInTransaction,
                             "runCommand is not available in a withTransaction body: it would run outside the transaction")
        }
        let commands = embeddedCommands()
        var body = command
        _ = body.removeValue(forKey: "$db")
        body.append("$db", .string(database))
        let request = body
        let reply = try await run { () throws(FolioError) in commands.dispatcher.run(request, connection: commands.connection) }
        guard reply["ok"] == .double(1) else {
            let code = ErrorCode(rawValue: Int32(clamping: reply["code"]?.exactInt64 ?? Int64(ErrorCode.unknownError.rawValue)))
            let labels = reply["errorLabels"]?.arrayValue?.compactMap(\.stringValue) ?? []
            throw FolioError(code, reply["errmsg"]?.stringValue ?? "command failed", labels: labels)
        }
        return reply
    }

    /// The command layer, made once: a server context over this engine (no network, no
    /// authentication: the process owns the data) and one connection for its commands.
    func embeddedCommands() -> EmbeddedCommands {
        commands.withLock { existing in
            if let existing { return existing }
            var configuration = ServerConfiguration(dataPath: directory ?? ServerConfiguration.defaultDataPath,
                                                    advertiseHost: "embedded", inMemory: directory == nil)
            configuration.changeLogRetention = engine.changeLogRetention
            let context = ServerContext(engine: engine, configuration: configuration)
            let connection = ConnectionInfo(id: context.newConnectionID(), remoteAddress: "embedded")
            _ = context.connections.open(connection)
            let made = EmbeddedCommands(context: context, connection: connection)
            existing = made
            return made
        }
    }
}

/// The server's command layer as the library runs it, with the server's upkeep: what
/// commands leave behind (cursors not read to the end, sessions, a transaction started with
/// `startTransaction` and never ended) expires as on the server, every 4 seconds.
final class EmbeddedCommands: Sendable {
    let context: ServerContext
    let dispatcher: CommandDispatcher
    let connection: ConnectionInfo
    // nonisolated(unsafe): a dispatch source may be cancelled from any thread.
    nonisolated(unsafe) private let sweeper: any DispatchSourceTimer

    init(context: ServerContext, connection: ConnectionInfo) {
        self.context = context
        self.dispatcher = CommandDispatcher(context: context)
        self.connection = connection
        sweeper = DispatchSource.makeTimerSource(queue: DispatchQueue(label: "folio.embedded-sweeper"))
        sweeper.schedule(deadline: .now() + 4, repeating: 4)
        sweeper.setEventHandler { context.sweepIdle() }
        sweeper.resume()
    }

    /// Stops the upkeep and closes what commands left open (the client is closing).
    func close() {
        sweeper.cancel()
        context.cursors.closeAll()
        context.transactions.end(nil)
    }

    deinit { sweeper.cancel() }
}

extension FolioDatabase {
    /// Runs a database command exactly as the server would for a driver's `runCommand`
    /// (`$db` is this database): the same options, checks, errors and reply document. For
    /// what the typed API does not cover: `collStats`, `dbStats`, `validate`, `collMod`,
    /// `listCollections`, `serverStatus`, ... A command that opens a cursor returns its first
    /// batch and id; `getMore` and `killCursors` continue and close it.
    ///
    /// ```swift
    /// let stats = try await db.runCommand(["collStats": "messages"])
    /// ```
    /// - Throws: the command's error (code, message and labels) when the reply has `ok: 0`.
    ///   Write errors of `insert`, `update` and `delete` are in the reply (`writeErrors`), as
    ///   for a driver. Inside `withTransaction`, 263 OperationNotSupportedInTransaction: the
    ///   command would not run in the transaction.
    public func runCommand(_ command: Document) async throws(FolioError) -> Document {
        try await folio.runCommand(command, database: name)
    }

    /// Creates a read-only view: reads of `view` run `pipeline` over `source` (a collection or
    /// another view of this database), under `collation` when given.
    /// - Throws: 48 NamespaceExists when the name is taken; the `create` command's errors for
    ///   a bad pipeline or a chain of views that loops (165 ViewDepthLimitExceeded).
    public func createView(_ view: String, on source: String, pipeline: [Document], collation: Document? = nil) async throws(FolioError) {
        var command: Document = ["create": .string(view), "viewOn": .string(source), "pipeline": .array(pipeline.map(BSON.document))]
        if let collation { command.append("collation", .document(collation)) }
        _ = try await runCommand(command)
    }
}
