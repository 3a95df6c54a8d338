import FolioBSON
import FolioEngine
import FolioQuery
import DequeModule

/// Everything one client connection has established and is doing, as one pure state machine
/// (events in, actions out; no I/O, no clocks, no locks), in the way postgres-nio's
/// `ConnectionStateMachine` is built:
/// - the handshake: whether the first `hello` finished, and the client metadata it gave;
/// - authentication: the SASL conversation under way and the users the connection proved it is;
/// - the requests: the one being answered, those that arrived behind it, and what answering
///   involves — waiting for data (awaitData getMore), waiting out an awaitable `hello`, or
///   streaming replies (exhaust) one after another, each only once the last is written.
///
/// The wire handler feeds it events and performs the actions it returns (run a command, send a
/// reply, set a timer, close); commands reach the handshake and authentication parts through
/// `ConnectionState`. `ConnectionStateMachineTests` drives it without sockets.
package struct ConnectionStateMachine: Sendable {
    // MARK: - State

    /// What the connection is doing with its requests.
    enum Phase: Sendable {
        /// Nothing in flight: the next request that arrives runs at once.
        case idle
        /// A command is running (the handler reports `answered` when it is done).
        case running(Request)
        /// An awaitData getMore found nothing and waits for a commit later than it looked,
        /// or for its deadline, whichever comes first (`waitEnded`).
        case awaitingData(Request, token: Int)
        /// An awaitable hello waits out its maxAwaitTimeMS before answering (`waitEnded`).
        case awaitingHello(Request, token: Int)
        /// A streamed (moreToCome) reply is being written; the next one is produced only once
        /// it is (`written`), so a slow reader holds back its own stream and nothing else.
        case streaming(Request)
        /// The connection is closed or closing; every later event is ignored.
        case closed
    }

    private(set) var phase: Phase = .idle
    /// Requests that arrived while another was in flight, in arrival order.
    private(set) var pending = Deque<Request>()
    private var nextToken = 1
    /// Replies made so far (each reply's `sequence`).
    private var repliesMade = 0

    /// What the handshake established.
    struct Handshake: Sendable, Equatable {
        /// The first hello has been answered; client metadata can no longer be given.
        var finished = false
        /// The handshake's `client` document, and its application name.
        var clientMetadata: Document?
        var applicationName: String? { clientMetadata?["application"]?.documentValue?["name"]?.stringValue }
    }
    private(set) var handshake = Handshake()

    /// The users, their privileges and the SASL conversation.
    package var authentication = ConnectionAuthentication()

    // MARK: - Requests

    /// One request from the client and how it is answered, decided once when it arrives.
    package struct Request: Sendable {
        let header: MessageHeader
        package let message: WireMessage
        let kind: Kind
        /// The request id the next reply responds to: the request's own, then, while a stream
        /// goes on, each streamed reply's.
        var respondTo: Int32
        /// For an awaitData getMore answered again after its wait: when it must answer at the latest.
        package var awaitDeadline: ContinuousClock.Instant?

        enum Kind: Sendable, Equatable {
            /// A command answered once (or not at all with moreToCome).
            case command
            /// A getMore with exhaustAllowed: answered again and again until its cursor ends.
            case exhaustGetMore
            /// A hello with topologyVersion and maxAwaitTimeMS, answered after that wait;
            /// with exhaustAllowed, again after every wait.
            case awaitableHello(milliseconds: Int64, exhaust: Bool)
            /// OP_QUERY (the legacy handshake), answered with OP_REPLY.
            case legacyQuery
        }

        init(header: MessageHeader, message: WireMessage) {
            self.header = header
            self.message = message
            self.respondTo = header.requestID
            switch message {
            case .query: kind = .legacyQuery
            case .message(let msg):
                let name = msg.body.fieldNames.first
                if let name, HelloCommand.names.contains(name), !msg.moreToCome, msg.body["topologyVersion"] != nil,
                   let wait = msg.body["maxAwaitTimeMS"]?.exactInt64 {
                    // The topology never changes here, so an awaitable hello answers when its wait ends.
                    kind = .awaitableHello(milliseconds: max(0, min(wait, 60_000)), exhaust: msg.exhaustAllowed)
                } else if name == "getMore", msg.exhaustAllowed, !msg.moreToCome {
                    kind = .exhaustGetMore
                } else {
                    kind = .command
                }
            }
        }

        /// Whether the client waits for a reply (not with moreToCome).
        var expectsReply: Bool {
            if case .message(let msg) = message { return !msg.moreToCome }
            return true
        }
    }

    /// What running a request's command produced.
    package struct Answer: Sendable {
        var body: Document
        /// A cursor's batch as stored bytes (sent in place of the reply's empty batch array).
        var batch: [RawDocument]? = nil
        /// A fail point asked for the connection to close instead of a reply.
        var closeConnection = false
        /// An awaitData getMore that found nothing: answer again after a commit later than
        /// `since`, or at `until`.
        var wait: CommitWait? = nil

        package init(body: Document, batch: [RawDocument]? = nil, closeConnection: Bool = false, wait: CommitWait? = nil) {
            self.body = body
            self.batch = batch
            self.closeConnection = closeConnection
            self.wait = wait
        }
    }

    package struct CommitWait: Sendable, Equatable {
        package var since: Timestamp
        package var until: ContinuousClock.Instant

        package init(since: Timestamp, until: ContinuousClock.Instant) {
            self.since = since
            self.until = until
        }
    }

    /// A reply to write.
    package struct Reply: Sendable {
        package var body: Document
        package var batch: [RawDocument]?
        package var requestID: Int32
        package var responseTo: Int32
        /// Another reply follows without a request (exhaust streams).
        package var moreToCome: Bool
        /// Compress with the request's compressor, if it came compressed.
        package var compressor: UInt8?
        /// OP_REPLY rather than OP_MSG (answers to OP_QUERY).
        package var legacy: Bool
        /// The reply's place among this connection's replies (1, 2, ...): replies can be
        /// produced on different threads (RunsWhereItArrives.swift) and are written in this order.
        package var sequence = 0
    }

    /// What the handler does next.
    package enum Action: Sendable {
        /// Run the request's command and report `answered`.
        case run(Request)
        /// Write the reply. With `reportWritten`, report `written` once it is written (the
        /// stream goes on from there).
        case send(Reply, reportWritten: Bool)
        /// Report `waitEnded(token)` after `milliseconds`.
        case waitTimer(token: Int, milliseconds: Int64)
        /// Report `waitEnded(token)` after the next commit later than `wait.since`, or at
        /// `wait.until`, whichever is first (each may report; only the first counts).
        case waitForCommit(token: Int, CommitWait)
        /// Close the connection.
        case close
    }

    // MARK: - Events

    /// A message arrived (or could not be read: the connection closes, never the server).
    package mutating func received(_ parsed: Result<(MessageHeader, WireMessage), any Error>) -> [Action] {
        if case .closed = phase { return [] }
        guard case .success(let (header, message)) = parsed else { return close() }
        let request = Request(header: header, message: message)
        guard case .idle = phase else {
            pending.append(request)
            return []
        }
        return start(request)
    }

    /// The running request's command finished. `replyID` is the id its reply goes out with.
    package mutating func answered(_ answer: Answer, replyID: Int32) -> [Action] {
        guard case .running(var request) = phase else { return [] }
        if answer.closeConnection { return close() }
        if let wait = answer.wait, request.expectsReply {
            let token = takeToken()
            request.awaitDeadline = nil
            phase = .awaitingData(request, token: token)
            return [.waitForCommit(token: token, wait)]
        }
        guard request.expectsReply else { return next() }
        let streams = streamsOn(request, answer)
        var reply = Reply(body: answer.body, batch: answer.batch, requestID: replyID, responseTo: request.respondTo,
                          moreToCome: streams, compressor: request.header.compressorID, legacy: request.kind == .legacyQuery)
        repliesMade += 1
        reply.sequence = repliesMade
        if streams {
            request.respondTo = replyID
            request.awaitDeadline = nil
            phase = .streaming(request)
            return [.send(reply, reportWritten: true)]
        }
        return [.send(reply, reportWritten: false)] + next()
    }

    /// Whether nothing is in flight or waiting (a request that arrives now runs at once).
    package var isIdle: Bool {
        if case .idle = phase { return true }
        return false
    }

    /// A request was answered where it arrived, without running through the machine
    /// (RawPointRead.swift): its reply's place among the replies when nothing is in flight or
    /// waiting; nil otherwise (the request must then be `received` like any other).
    package mutating func repliedWhereItArrived() -> Int? {
        guard case .idle = phase else { return nil }
        repliesMade += 1
        return repliesMade
    }

    /// A streamed reply was written (or could not be: the stream ends with the connection).
    package mutating func written(success: Bool) -> [Action] {
        guard case .streaming(let request) = phase else { return [] }
        guard success else { return close() }
        return start(request)
    }

    /// A timer or a commit notification of a waiting request fired (a stale token is ignored:
    /// the commit and the deadline of one wait may both report).
    package mutating func waitEnded(token: Int, deadline: ContinuousClock.Instant? = nil) -> [Action] {
        switch phase {
        case .awaitingData(var request, let t) where t == token:
            request.awaitDeadline = deadline
            phase = .running(request)
            return [.run(request)]
        case .awaitingHello(let request, let t) where t == token:
            phase = .running(request)
            return [.run(request)]
        default:
            return []
        }
    }

    /// The channel closed: nothing more is answered.
    package mutating func closed() {
        phase = .closed
        pending.removeAll()
    }

    // MARK: - Handshake

    /// A hello runs: its client metadata is kept if this is the first hello, and refused
    /// (MongoDB's 186 ClientMetadataCannotBeMutated) after it; the first hello ends the
    /// handshake whether or not it gave metadata, as MongoDB finalizes it.
    mutating func hello(client: Document?) throws(FolioError) {
        if let client {
            guard !handshake.finished else {
                throw FolioError(.clientMetadataCannotBeMutated, "The client metadata document may only be sent in the first hello")
            }
            handshake.clientMetadata = client
        }
        handshake.finished = true
    }

    // MARK: - Internals

    private mutating func start(_ request: Request) -> [Action] {
        if case .awaitableHello(let milliseconds, _) = request.kind {
            let token = takeToken()
            phase = .awaitingHello(request, token: token)
            return [.waitTimer(token: token, milliseconds: milliseconds)]
        }
        phase = .running(request)
        return [.run(request)]
    }

    private mutating func next() -> [Action] {
        guard let request = pending.popFirst() else {
            phase = .idle
            return []
        }
        return start(request)
    }

    private mutating func close() -> [Action] {
        closed()
        return [.close]
    }

    private mutating func takeToken() -> Int {
        defer { nextToken += 1 }
        return nextToken
    }

    /// Whether the reply goes out flagged moreToCome with another to follow: an exhaust
    /// getMore whose cursor is still open, or an exhaust awaitable hello that succeeded.
    private func streamsOn(_ request: Request, _ answer: Answer) -> Bool {
        switch request.kind {
        case .exhaustGetMore:
            guard answer.body["ok"]?.asDouble == 1, case .document(let cursor)? = answer.body["cursor"],
                  let id = cursor["id"]?.exactInt64 else { return false }
            return id != 0
        case .awaitableHello(_, let exhaust):
            return exhaust && answer.body["ok"]?.asDouble == 1
        case .command, .legacyQuery:
            return false
        }
    }
}
