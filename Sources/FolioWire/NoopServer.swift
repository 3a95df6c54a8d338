import FolioServer
import FolioBSON
import FolioQuery
import NIOCore
import NIOPosix
import Synchronization
import FolioLocks

// The floor of the wire benchmark (`scripts/bench wire`): a server that frames and parses
// messages like Folio, answers on the event loop itself and does no database work. It
// presents the same topology as `folio serve` (a one-member replica set's primary, cluster
// times on every reply) so a driver takes the same code paths against both. Inserted
// documents are kept as raw bytes only so that finds return real documents of the same
// size: `find` with a filter returns the namespace's first document, without one every
// document, in batches.

/// A wire server that answers every command without doing the work.
public final class NoopWireServer: Sendable {
    let group: MultiThreadedEventLoopGroup
    let channel: any Channel

    public static func start(host: String, port: Int) throws -> NoopWireServer {
        let group = MultiThreadedEventLoopGroup(numberOfThreads: System.coreCount)
        let state = NoopState(address: "\(host):\(port)")
        let bootstrap = ServerBootstrap(group: group)
            .serverChannelOption(.backlog, value: 1024)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelOption(.socketOption(.tcp_nodelay), value: 1)
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandler(ByteToMessageHandler(MessageFramer()))
                    try channel.pipeline.syncOperations.addHandler(NoopHandler(state: state))
                }
            }
        let channel = try bootstrap.bind(host: host, port: port).wait()
        return NoopWireServer(group: group, channel: channel)
    }

    init(group: MultiThreadedEventLoopGroup, channel: any Channel) {
        self.group = group
        self.channel = channel
    }

    public func wait() throws { try channel.closeFuture.wait() }
}

final class NoopState: Sendable {
    struct Store {
        var documents: [String: [BSON]] = [:]
        var cursors: [Int64: (namespace: String, offset: Int)] = [:]
        var nextCursor: Int64 = 1
    }
    let address: String
    let store = Locked(Store())
    /// Documents kept per namespace.
    static let retainedDocuments = 1_000
    let processID = ObjectID()
    init(address: String) { self.address = address }

    func reply(_ body: Document) -> Document {
        guard let name = body.fieldNames.first else { return ["ok": 0.0, "errmsg": "empty command"] }
        let db = body["$db"]?.stringValue ?? "test"
        var out = Document()
        switch name {
        case let hello where HelloCommand.names.contains(hello):
            out = HelloCommand.reply(command: hello, body: body, processID: processID, connectionID: 1, address: address,
                                     setName: ServerConfiguration.defaultReplicaSetName, opTime: time())
        case "insert":
            let docs = body["documents"]?.arrayValue ?? []
            let ns = db + "." + (body["insert"]?.stringValue ?? "")
            // Only the first documents are kept, for finds to return: a floor that kept
            // everything grew by every benchmark run (603 MB at idle after a few).
            store.withLock { s in
                let room = NoopState.retainedDocuments - (s.documents[ns]?.count ?? 0)
                if room > 0 { s.documents[ns, default: []] += docs.prefix(room) }
            }
            out = ["n": .int32(Int32(docs.count))]
        case "update":
            let n = Int32(body["updates"]?.arrayValue?.count ?? 0)
            out = ["n": .int32(n), "nModified": .int32(n)]
        case "delete":
            out = ["n": .int32(Int32(body["deletes"]?.arrayValue?.count ?? 0))]
        case "find":
            let ns = db + "." + (body["find"]?.stringValue ?? "")
            let filtered = !(body["filter"]?.documentValue?.isEmpty ?? true)
            let limit = filtered ? 1 : Int(body["batchSize"]?.exactInt64 ?? 101)
            out = batch(ns: ns, cursor: nil, offset: 0, count: limit, single: filtered, first: true)
        case "aggregate":
            // A cursor with the first stored documents (drivers reject an aggregate reply
            // without one).
            let ns = db + "." + (body["aggregate"]?.stringValue ?? "$cmd.aggregate")
            let size = body["cursor"]?.documentValue?["batchSize"]?.exactInt64 ?? 10
            out = batch(ns: ns, cursor: nil, offset: 0, count: Int(max(0, min(size, 10))), single: true, first: true)
        case "getMore":
            let id = body["getMore"]?.exactInt64 ?? 0
            guard let c = store.withLock({ $0.cursors[id] }) else {
                return ["ok": 0.0, "errmsg": .string("cursor id \(id) not found"), "code": .int32(43), "codeName": "CursorNotFound"]
            }
            out = batch(ns: c.namespace, cursor: id, offset: c.offset, count: Int(body["batchSize"]?.exactInt64 ?? Int64(Int.max)),
                        single: false, first: false)
        default:
            break
        }
        out.append("ok", 1.0)
        return CommandDispatcher.withClusterTime(out, time())
    }

    func time() -> Timestamp { Timestamp(seconds: UInt32(ObjectID.currentSeconds()), increment: 1) }

    func batch(ns: String, cursor: Int64?, offset: Int, count: Int, single: Bool, first: Bool) -> Document {
        store.withLock { s in
            let all = s.documents[ns] ?? []
            // Counted, not sized: the benchmark's batches stay far below 16 MiB.
            let end = offset + min(count, all.count - offset)
            var id: Int64 = 0
            if !single && end < all.count {
                id = cursor ?? s.nextCursor
                if cursor == nil { s.nextCursor += 1 }
                s.cursors[id] = (ns, end)
            } else if let cursor {
                s.cursors[cursor] = nil
            }
            return ["cursor": ["id": .int64(id), "ns": .string(ns), (first ? "firstBatch" : "nextBatch"): .array(Array(all[offset..<end]))]]
        }
    }
}

final class NoopHandler: ChannelInboundHandler, Sendable {
    typealias InboundIn = [UInt8]
    typealias OutboundOut = ByteBuffer
    let state: NoopState
    init(state: NoopState) { self.state = state }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        guard let (header, message) = try? WireCodec.parse(unwrapInboundIn(data)) else {
            context.close(promise: nil)
            return
        }
        let reply: [UInt8]
        switch message {
        case .message(let msg):
            if let wait = NoopHandler.awaitableWait(msg) {
                streamHello(msg, responseTo: header.requestID, wait: wait, channel: context.channel)
                return
            }
            let body = state.reply(msg.body)
            if msg.moreToCome { return }
            reply = WireCodec.messageReply(requestID: ReplyIDs.next(), responseTo: header.requestID, body: body)
        case .query(let q):
            var query = q.query
            if case .document(let inner)? = query["$query"] { query = inner }
            reply = WireCodec.queryReply(requestID: ReplyIDs.next(), responseTo: header.requestID, document: state.reply(query))
        }
        var buffer = context.channel.allocator.buffer(capacity: reply.count)
        buffer.writeBytes(reply)
        context.writeAndFlush(wrapOutboundOut(buffer), promise: nil)
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) { context.close(promise: nil) }

    /// The wait of an awaitable hello (a monitoring connection's), in milliseconds.
    static func awaitableWait(_ msg: OpMsg) -> Int64? {
        guard let name = msg.body.fieldNames.first, HelloCommand.names.contains(name), !msg.moreToCome,
              msg.body["topologyVersion"] != nil, let wait = msg.body["maxAwaitTimeMS"]?.exactInt64 else { return nil }
        return max(0, min(wait, 60_000))
    }

    /// Answers an awaitable hello when its wait ends, and with exhaustAllowed keeps
    /// answering every wait, as `folio serve` does: answering at once would have the
    /// driver's monitor ask again at once, busying the client the benchmark measures.
    func streamHello(_ msg: OpMsg, responseTo: Int32, wait: Int64, channel: any Channel) {
        channel.eventLoop.scheduleTask(in: .milliseconds(wait)) { [state] in
            guard channel.isActive else { return }
            let requestID = ReplyIDs.next()
            let reply = WireCodec.messageReply(requestID: requestID, responseTo: responseTo, body: state.reply(msg.body),
                                               moreToCome: msg.exhaustAllowed)
            var buffer = channel.allocator.buffer(capacity: reply.count)
            buffer.writeBytes(reply)
            channel.writeAndFlush(buffer, promise: nil)
            if msg.exhaustAllowed { self.streamHello(msg, responseTo: requestID, wait: wait, channel: channel) }
        }
    }
}
