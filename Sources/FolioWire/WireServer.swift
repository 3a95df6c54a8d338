import FolioServer
import Dispatch
import Synchronization
import FolioBSON
import FolioEngine
import FolioQuery
import NIOCore
import NIOPosix
import FolioLocks

// The network face: SwiftNIO accepts connections, frames messages, and hands each command
// to a per-connection serial queue so no event loop waits for storage and replies keep
// request order; only commands that can never wait run on the loop (RunsWhereItArrives.swift).

/// Splits the byte stream into whole messages, checking the length before buffering.
final class MessageFramer: ByteToMessageDecoder {
    init() {}
    typealias InboundOut = [UInt8]

    func decode(context: ChannelHandlerContext, buffer: inout ByteBuffer) throws -> DecodingState {
        guard let length = buffer.getInteger(at: buffer.readerIndex, endianness: .little, as: Int32.self) else { return .needMoreData }
        guard length >= Int32(MessageHeader.size), Int(length) <= Limits.maximumMessageSizeBytes else {
            throw WireError.invalidLength(length)
        }
        guard buffer.readableBytes >= Int(length), let bytes = buffer.readBytes(length: Int(length)) else { return .needMoreData }
        context.fireChannelRead(wrapInboundOut(bytes))
        return .continue
    }
}

/// Request ids of the server's replies (drivers match replies by responseTo; exhaust
/// streams chain on these ids).
enum ReplyIDs {
    static let counter = Atomic<Int32>(1)
    static func next() -> Int32 { counter.wrappingAdd(1, ordering: .relaxed).newValue & Int32.max }
}

/// Runs one connection: feeds its `ConnectionStateMachine` the events (a message arrived, a
/// command finished, a streamed reply was written, a wait ended, the channel closed) and
/// performs the actions it returns. Everything but the write itself, and the few commands
/// that can never wait (RunsWhereItArrives.swift), happens on the connection's serial
/// queue, so no event loop waits for storage and replies keep request order.
final class ConnectionHandler: ChannelInboundHandler, Sendable {
    typealias InboundIn = [UInt8]
    typealias OutboundOut = ByteBuffer

    let dispatcher: CommandDispatcher
    let state: ConnectionState
    let queue: DispatchQueue
    /// Messages given to the queue that the machine has not yet received.
    let handedOff = Atomic<Int>(0)
    /// Replies that reached the loop before one made earlier (touched on the loop only).
    let ordered = Locked<(next: Int, held: [Int: (ByteBuffer, EventLoopPromise<Void>)])>((next: 1, held: [:]))

    init(dispatcher: CommandDispatcher, state: ConnectionState) {
        self.dispatcher = dispatcher
        self.state = state
        self.queue = DispatchQueue(label: "folio.connection.\(state.info.id)")
    }

    var connection: ConnectionInfo { state.info }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let bytes = unwrapInboundIn(data)
        dispatcher.context.metrics.received(bytes: bytes.count)
        let channel = context.channel
        // A small message that arrives while nothing of this connection waits on its queue is
        // parsed here; a command that can never wait (RunsWhereItArrives.swift) then runs here
        // too, and its reply is written without a thread hand-off either way.
        if bytes.count <= CommandDispatcher.inlineMaximumBytes, handedOff.load(ordering: .acquiring) == 0 {
            // A point read is answered from the message's bytes (RawPointRead.swift): here when
            // its document is in memory, on the queue when it must be read from storage.
            if let read = RawPointRead(bytes) {
                if answerFromBytes(read, readsStorage: false, channel: channel) { return }
                if read.field == "_id" {
                    handOff(channel: channel, answeredFirst: { placed in
                        self.answerFromBytes(read, readsStorage: true, channel: channel, placed: placed)
                    }) {
                        Result { try WireCodec.parse(bytes) }
                    }
                    return
                }
            }
            let parsed = Result<(MessageHeader, WireMessage), any Error> { try WireCodec.parse(bytes) }
            if case .success((_, .message(let msg))) = parsed, !msg.moreToCome, !msg.exhaustAllowed,
               dispatcher.runsWhereItArrives(msg.body) {
                // The machine runs it now if it is idle, or queues it behind the request in
                // flight, which the queue then runs after that one.
                perform(state.withLock { $0.received(parsed) }, channel: channel)
                return
            }
            handOff(channel: channel) { parsed }
            return
        }
        // Parsing (checksum, decompression, BSON validation and decoding) is linear in the
        // message's size but still tens of milliseconds for 48 MB: it runs on the connection's
        // queue, so no event loop (and no other connection on it) waits for it.
        handOff(channel: channel) { Result { try WireCodec.parse(bytes) } }
    }

    /// Answers a point read from its bytes (CommandDispatcher.answer(_:RawPointRead...)) and
    /// writes the reply in its place among the connection's replies; false when the general
    /// path must answer it (or the connection is not idle: then it waits its turn there).
    /// `placed` runs once the reply has its place, before it is written.
    private func answerFromBytes(_ read: RawPointRead, readsStorage: Bool, channel: any Channel,
                                 placed: () -> Void = {}) -> Bool {
        guard state.withLock({ $0.isIdle }) else { return false }
        var sequence = 0
        let reply = dispatcher.answer(read, replyID: ReplyIDs.next(), connection: connection, readsStorage: readsStorage) {
            guard let place = state.withLock({ $0.repliedWhereItArrived() }) else { return false }
            sequence = place
            return true
        }
        guard let reply else { return false }
        placed()
        _ = send(reply, sequence: sequence, compressor: nil, on: channel)
        return true
    }

    /// Gives a message to the connection's queue. Until the machine has received it, later
    /// messages go the same way, so the machine receives them in the order they arrived.
    /// `answeredFirst` may answer it there without the machine (a point read from its bytes).
    private func handOff(channel: any Channel, answeredFirst: (@Sendable (_ placed: () -> Void) -> Bool)? = nil,
                         _ parse: @escaping @Sendable () -> Result<(MessageHeader, WireMessage), any Error>) {
        handedOff.add(1, ordering: .releasing)
        queue.async {
            // A message answered here no longer holds the next ones off the event loop once its
            // reply has its place (as one the machine received, below): the client may send the
            // next request as soon as it reads the reply.
            if let answeredFirst, answeredFirst({ self.handedOff.subtract(1, ordering: .releasing) }) { return }
            let actions = self.state.withLock { $0.received(parse()) }
            self.handedOff.subtract(1, ordering: .releasing)
            self.perform(actions, channel: channel)
        }
    }

    func channelInactive(context: ChannelHandlerContext) {
        queue.async { self.state.withLock { $0.closed() } }
        context.fireChannelInactive()
    }

    /// Performs the machine's actions in order, and those the events they cause return.
    /// Runs on the connection's queue.
    func perform(_ actions: [ConnectionStateMachine.Action], channel: any Channel) {
        var work = actions[...]
        while let action = work.popFirst() {
            switch action {
            case .run(let request):
                let answer = run(request)
                work.append(contentsOf: state.withLock { $0.answered(answer, replyID: ReplyIDs.next()) })
            case .send(let reply, let reportWritten):
                let bytes = reply.legacy
                    ? WireCodec.queryReply(requestID: reply.requestID, responseTo: reply.responseTo, document: reply.body)
                    : WireCodec.messageReply(requestID: reply.requestID, responseTo: reply.responseTo, body: reply.body,
                                             batch: reply.batch, moreToCome: reply.moreToCome)
                let sent = send(bytes, sequence: reply.sequence, compressor: reply.compressor, on: channel)
                // Backpressure: a stream's next reply is produced only once this one is written.
                if reportWritten {
                    sent.whenComplete { result in
                        self.queue.async {
                            let ok = (try? result.get()) != nil && channel.isActive
                            self.perform(self.state.withLock { $0.written(success: ok) }, channel: channel)
                        }
                    }
                }
            case .waitTimer(let token, let milliseconds):
                queue.asyncAfter(deadline: .now() + .milliseconds(Int(milliseconds))) {
                    guard channel.isActive else { return }
                    self.perform(self.state.withLock { $0.waitEnded(token: token) }, channel: channel)
                }
            case .waitForCommit(let token, let wait):
                // Whichever of the commit and the deadline comes first answers the getMore
                // again; the machine ignores the other.
                let ended: @Sendable () -> Void = {
                    self.queue.async {
                        guard channel.isActive else { return }
                        self.perform(self.state.withLock { $0.waitEnded(token: token, deadline: wait.until) }, channel: channel)
                    }
                }
                let engine = dispatcher.context.engine
                if let id = engine.notifyAfterCommit(since: wait.since, ended) {
                    let left = ContinuousClock.now.duration(to: wait.until)
                    queue.asyncAfter(deadline: .now() + .nanoseconds(Int(max(0, left.wholeNanoseconds)))) {
                        engine.cancelCommitNotification(id)
                        ended()
                    }
                }
            case .close:
                // Unreadable or unsupported messages close this connection, never the server.
                channel.close(promise: nil)
            }
        }
    }

    /// Runs a request's command (on the connection's queue, never on an event loop).
    func run(_ request: ConnectionStateMachine.Request) -> ConnectionStateMachine.Answer {
        switch request.message {
        case .query(let q):
            return .init(body: ConnectionHandler.legacyQuery(q, dispatcher: dispatcher, connection: connection))
        case .message(let msg):
            let (body, batch, close, wait) = dispatcher.answer(msg.body, connection: connection, awaitDeadline: request.awaitDeadline,
                                                                sequences: msg.sequences)
            return .init(body: body, batch: batch, closeConnection: close, wait: wait.map { .init(since: $0.since, until: $0.until) })
        }
    }

    /// Compresses like the request was (if it was) and writes the reply from the channel's loop,
    /// in the order of the replies' sequence numbers.
    func send(_ reply: [UInt8], sequence: Int, compressor: UInt8?, on channel: any Channel) -> EventLoopFuture<Void> {
        let reply = compressor.map { WireCodec.compress(reply, compressor: $0) } ?? reply
        dispatcher.context.metrics.sent(bytes: reply.count)
        // The copy into the channel's buffer happens here, off the event loop (a large reply
        // is megabytes); the loop only queues the write.
        var filled = channel.allocator.buffer(capacity: reply.count)
        filled.writeBytes(reply)
        let buffer = filled
        let promise = channel.eventLoop.makePromise(of: Void.self)
        if channel.eventLoop.inEventLoop {
            write(buffer, sequence: sequence, promise: promise, channel: channel)
        } else {
            channel.eventLoop.execute { self.write(buffer, sequence: sequence, promise: promise, channel: channel) }
        }
        return promise.futureResult
    }

    /// Writes a reply once every reply before it is written (on the channel's loop). A reply
    /// made on the queue may reach the loop after the next one, made on the loop itself.
    private func write(_ buffer: ByteBuffer, sequence: Int, promise: EventLoopPromise<Void>, channel: any Channel) {
        let ready = ordered.withLock { o -> [(ByteBuffer, EventLoopPromise<Void>)] in
            o.held[sequence] = (buffer, promise)
            var ready: [(ByteBuffer, EventLoopPromise<Void>)] = []
            while let next = o.held.removeValue(forKey: o.next) {
                ready.append(next)
                o.next += 1
            }
            return ready
        }
        guard !ready.isEmpty else { return }
        for (buffer, promise) in ready { channel.write(buffer, promise: promise) }
        channel.flush()
    }

    /// OP_QUERY serves only the legacy handshake on `admin.$cmd`; anything else gets 352.
    static func legacyQuery(_ q: OpQuery, dispatcher: CommandDispatcher, connection: ConnectionInfo) -> Document {
        var query = q.query
        if case .document(let inner)? = query["$query"] { query = inner }
        guard q.collection.hasSuffix(".$cmd"), let name = query.fieldNames.first,
              HelloCommand.names.contains(name) else {
            return FolioError(.unsupportedOpQueryCommand, "Unsupported OP_QUERY command: \(query.fieldNames.first ?? ""). The client driver may require an upgrade.").replyFields
        }
        query["$db"] = .string(String(q.collection.dropLast(5)))
        return dispatcher.run(query, connection: connection)
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        context.close(promise: nil)
    }
}

/// The running server.
public final class WireServer: Sendable {
    let group: MultiThreadedEventLoopGroup
    let channel: any Channel
    public let context: ServerContext
    let sweeper: SweepTimer
    let idleSweeper: SweepTimer
    let ttlMonitor: SweepTimer
    let ttlQueue = DispatchQueue(label: "folio.ttl-monitor")
    let shuttingDown = Atomic<Bool>(false)
    /// Signalled once shutdown has closed storage.
    let stopped = DispatchSemaphore(value: 0)

    /// Binds and starts accepting connections.
    public static func start(context: ServerContext) throws -> WireServer {
        let tls = context.configuration.tls.enabled ? try TLSContextHolder(settings: context.configuration.tls) : nil
        context.tls.withLock { $0 = tls }
        let group = MultiThreadedEventLoopGroup(numberOfThreads: System.coreCount)
        let dispatcher = CommandDispatcher(context: context)
        let bootstrap = ServerBootstrap(group: group)
            .serverChannelOption(.backlog, value: 1024)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelOption(.socketOption(.tcp_nodelay), value: 1)
            .childChannelInitializer { channel in
                let id = context.newConnectionID()
                let remote = channel.remoteAddress.map { "\($0.ipAddress ?? "?"):\($0.port ?? 0)" } ?? "unknown"
                context.metrics.connectionOpened()
                let state = context.connections.open(ConnectionInfo(id: id, remoteAddress: remote))
                context.log.log(.info, .network, id: 22943, ctx: "listener", "Connection accepted", attr: [
                    "remote": .string(remote), "connectionId": .int64(Int64(id)),
                    "connectionCount": .int64(context.metrics.currentConnections.load(ordering: .relaxed))], quietable: true)
                channel.closeFuture.whenComplete { _ in
                    context.metrics.connectionClosed()
                    context.connections.closed(id)
                    context.log.log(.info, .network, id: 22944, ctx: "conn\(id)", "Connection ended", attr: [
                        "remote": .string(remote), "connectionId": .int64(Int64(id)),
                        "connectionCount": .int64(context.metrics.currentConnections.load(ordering: .relaxed))], quietable: true)
                }
                return channel.eventLoop.makeCompletedFuture {
                    if let tls {
                        try channel.pipeline.syncOperations.addHandler(TLSSniffer(holder: tls) {
                            context.log.log(.info, .network, id: 22988, ctx: "conn\(id)",
                                            "Error receiving request from client. Ending connection from remote",
                                            attr: ["error": "SSLHandshakeFailed: The server is configured to only allow SSL connections",
                                                   "remote": .string(remote), "connectionId": .int64(Int64(id))])
                        } onPeerSubject: { subject in
                            state.withLock { $0.authentication.peerSubject = subject }
                        })
                    }
                    try channel.pipeline.syncOperations.addHandler(ByteToMessageHandler(MessageFramer()))
                    try channel.pipeline.syncOperations.addHandler(
                        ConnectionHandler(dispatcher: dispatcher, state: state))
                }
            }
        let channel = try bootstrap.bind(host: context.configuration.bindAddress, port: context.configuration.port).wait()
        let server = WireServer(group: group, channel: channel, context: context)
        context.shutdownHandler.withLock { $0 = { [weak server] timeout in server?.shutdown(timeout: timeout) } }
        return server
    }

    init(group: MultiThreadedEventLoopGroup, channel: any Channel, context: ServerContext) {
        self.group = group
        self.channel = channel
        self.context = context
        let timer = DispatchSource.makeTimerSource(queue: DispatchQueue(label: "folio.cursor-sweeper"))
        // Every 4 seconds, as MongoDB's clientCursorMonitorFrequencySecs.
        timer.schedule(deadline: .now() + 4, repeating: 4)
        timer.setEventHandler { context.sweepIdle() }
        timer.resume()
        // Idle memory: after a quiet 5-second window (monitoring heartbeats aside) following
        // activity, storage caches and free allocator pages are given back.
        let idleTimer = DispatchSource.makeTimerSource(queue: DispatchQueue(label: "folio.idle-memory"))
        let activity = IdleWatch()
        idleTimer.schedule(deadline: .now() + 5, repeating: 5)
        idleTimer.setEventHandler {
            if activity.shouldRelease(operations: context.operationCounter.load(ordering: .relaxed)) {
                context.engine.releaseIdleMemory()
            }
        }
        idleTimer.resume()
        sweeper = SweepTimer(timer)
        idleSweeper = SweepTimer(idleTimer)
        ttlMonitor = SweepTimer(WireServer.startTTLMonitor(context, on: ttlQueue))
    }

    /// How often expired sessions' retry histories are removed.
    static let retryHistorySweepSeconds = 300

    /// The TTL monitor: a pass over every TTL index each ttlMonitorSleepSecs seconds while
    /// ttlMonitorEnabled (both setParameter-able), on its own queue; every five minutes the
    /// removal of expired sessions' retry histories; each second the change log's retention
    /// and the log lines of index builds the engine started again at its open.
    static func startTTLMonitor(_ context: ServerContext, on queue: DispatchQueue) -> any DispatchSourceTimer {
        let timer = DispatchSource.makeTimerSource(queue: queue)
        let elapsed = Locked((ttl: 0, sessions: 0))
        timer.schedule(deadline: .now() + 1, repeating: 1)
        timer.setEventHandler {
            let parameters = context.parameters.current
            let (due, forgetSessions) = elapsed.withLock { seconds -> (Bool, Bool) in
                seconds.ttl += 1
                seconds.sessions += 1
                let forget = seconds.sessions >= WireServer.retryHistorySweepSeconds
                if forget { seconds.sessions = 0 }
                guard seconds.ttl >= Int(parameters.ttlMonitorSleepSecs) else { return (false, forget) }
                seconds.ttl = 0
                return (true, forget)
            }
            if forgetSessions {
                // Retry histories of sessions idle past the session timeout (MongoDB's
                // config.transactions entries go with their expired sessions).
                do throws(FolioError) {
                    try context.engine.expireRetryHistory(idleMilliseconds: SessionRegistry.timeoutMilliseconds)
                } catch {
                    context.log.log(.warning, .storage, id: ServerLog.FolioID.ttlMonitorFailed, ctx: "TTLMonitor",
                                    "Removing expired sessions' retry history failed",
                                    attr: ["error": .string(error.message), "code": .int32(error.code.rawValue)])
                }
            }
            // Index builds the engine started again at its open (a shutdown or a crash cut
            // them short), as they end.
            context.noteEndedIndexBuilds()
            // The change log's retention (replSetResizeOplog), checked each second.
            do throws(FolioError) {
                try context.engine.trimChangeLog()
            } catch {
                context.log.log(.warning, .storage, id: ServerLog.FolioID.ttlMonitorFailed, ctx: "OplogTruncation",
                                "Truncating the change log failed", attr: ["error": .string(error.message), "code": .int32(error.code.rawValue)])
            }
            guard due, parameters.ttlMonitorEnabled else { return }
            do throws(FolioError) {
                try context.engine.expireTTLDocuments()
            } catch {
                context.log.log(.warning, .index, id: ServerLog.FolioID.ttlMonitorFailed, ctx: "TTLMonitor", "TTL monitor pass failed",
                                attr: ["error": .string(error.message), "code": .int32(error.code.rawValue)])
            }
        }
        timer.resume()
        return timer
    }

    /// The port actually bound (useful with port 0).
    public var port: Int { channel.localAddress?.port ?? context.configuration.port }

    /// Shuts down gracefully: stops accepting connections, answers new commands with 91
    /// ShutdownInProgress, interrupts running ones (11600 InterruptedAtShutdown) and waits up to
    /// `timeout` for them to end, closes the connections and open cursors, then closes storage
    /// (a final checkpoint). Safe to call more than once and from any thread but an event loop.
    public func shutdown(timeout: Duration = .seconds(15)) {
        guard !shuttingDown.exchange(true, ordering: .acquiringAndReleasing) else {
            stopped.wait()
            stopped.signal()
            return
        }
        sweeper.timer.cancel()
        idleSweeper.timer.cancel()
        ttlMonitor.timer.cancel()
        ttlQueue.sync {}  // a pass already running ends before storage closes
        try? channel.close().wait()
        context.operations.beginShutdown()
        let deadline = ContinuousClock.now + timeout
        while !context.operations.isEmpty && ContinuousClock.now < deadline { usleep(10_000) }
        try? group.syncShutdownGracefully()
        context.cursors.closeAll()
        context.engine.close()
        stopped.signal()
    }

    /// Blocks until the server has shut down (its storage closed).
    public func wait() throws {
        try channel.closeFuture.wait()
        stopped.wait()
        stopped.signal()
    }
}

// @unchecked Sendable: DispatchSource timers are thread-safe; only cancel() is called.
final class SweepTimer: @unchecked Sendable {
    let timer: any DispatchSourceTimer
    init(_ timer: any DispatchSourceTimer) { self.timer = timer }
}

/// Decides when the server has gone quiet: at most a few commands (heartbeats) in the last
/// window, after a window with more.
final class IdleWatch: Sendable {
    struct State { var lastCount: Int64 = 0; var released = true }
    let state = Locked(State())
    static let heartbeatAllowance: Int64 = 8

    func shouldRelease(operations: Int64) -> Bool {
        state.withLock { s in
            let delta = operations - s.lastCount
            s.lastCount = operations
            if delta > IdleWatch.heartbeatAllowance { s.released = false; return false }
            if s.released { return false }
            s.released = true
            return true
        }
    }
}
