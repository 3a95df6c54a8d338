import Testing
import FolioBSON
import FolioEngine
import FolioQuery
@testable import FolioServer

/// The connection state machine without sockets: each test feeds it events and checks the
/// actions it returns.
@Suite struct ConnectionStateMachineTests {
    typealias Machine = ConnectionStateMachine

    static func message(_ body: Document, id: Int32, flags: UInt32 = 0) -> Result<(MessageHeader, WireMessage), any Error> {
        .success((MessageHeader(length: 0, requestID: id, responseTo: 0, opCode: 2013), .message(OpMsg(flags: flags, body: body))))
    }

    static let ok: Document = ["ok": 1.0]

    static func cursorReply(id: Int64) -> Machine.Answer {
        .init(body: ["cursor": ["nextBatch": [], "id": .int64(id), "ns": "db.c"], "ok": 1.0])
    }

    /// The request a `.run` action runs, or nil.
    static func runs(_ actions: [Machine.Action]) -> Machine.Request? {
        guard actions.count == 1, case .run(let r) = actions[0] else { return nil }
        return r
    }

    /// The reply of the `.send` action at `index`, with whether its writing must be reported.
    static func sent(_ actions: [Machine.Action], at index: Int = 0) -> (Machine.Reply, Bool)? {
        guard actions.count > index, case .send(let reply, let report) = actions[index] else { return nil }
        return (reply, report)
    }

    @Test func aRequestRunsAndItsReplyRespondsToIt() throws {
        var m = Machine()
        let run = try #require(Self.runs(m.received(Self.message(["ping": 1, "$db": "admin"], id: 7))))
        #expect(run.kind == .command && run.respondTo == 7)
        let actions = m.answered(.init(body: Self.ok), replyID: 100)
        let (reply, report) = try #require(Self.sent(actions))
        #expect(actions.count == 1 && !report)
        #expect(reply.requestID == 100 && reply.responseTo == 7 && !reply.moreToCome && !reply.legacy && reply.body == Self.ok)
        guard case .idle = m.phase else { Issue.record("not idle: \(m.phase)"); return }
    }

    @Test func aReplyMadeWhereItArrivedTakesTheNextPlaceOnlyWhenIdle() throws {
        var m = Machine()
        #expect(m.repliedWhereItArrived() == 1)
        _ = m.received(Self.message(["ping": 1], id: 1))
        // While a request runs, a point read must queue behind it like any other.
        #expect(m.repliedWhereItArrived() == nil)
        let (reply, _) = try #require(Self.sent(m.answered(.init(body: Self.ok), replyID: 10)))
        #expect(reply.sequence == 2)
        #expect(m.repliedWhereItArrived() == 3)
        m.closed()
        #expect(m.repliedWhereItArrived() == nil)
    }

    @Test func requestsThatArriveMeanwhileRunInOrder() throws {
        var m = Machine()
        _ = m.received(Self.message(["ping": 1], id: 1))
        #expect(m.received(Self.message(["find": "a"], id: 2)).isEmpty)
        #expect(m.received(Self.message(["find": "b"], id: 3)).isEmpty)
        #expect(m.pending.count == 2)
        let first = m.answered(.init(body: Self.ok), replyID: 10)
        #expect(first.count == 2 && Self.sent(first)?.0.responseTo == 1)
        guard case .run(let second) = first[1] else { Issue.record("the next request does not run"); return }
        #expect(second.respondTo == 2)
        let third = m.answered(.init(body: Self.ok), replyID: 11)
        guard third.count == 2, case .run(let r3) = third[1] else { Issue.record("the third request does not run"); return }
        #expect(r3.respondTo == 3)
        #expect(m.answered(.init(body: Self.ok), replyID: 12).count == 1)
        #expect(m.pending.isEmpty)
    }

    @Test func moreToComeRequestsGetNoReply() throws {
        var m = Machine()
        _ = m.received(Self.message(["insert": "c", "documents": [[:]]], id: 1, flags: OpMsg.moreToComeFlag))
        _ = m.received(Self.message(["ping": 1], id: 2))
        let actions = m.answered(.init(body: Self.ok), replyID: 10)
        // No send for the first: the second runs at once.
        #expect(Self.runs(actions)?.respondTo == 2)
        // A moreToCome getMore is a plain command, never a stream, even with exhaustAllowed.
        var other = Machine()
        let r = try #require(Self.runs(other.received(Self.message(["getMore": .int64(5), "collection": "c"], id: 1,
                                                                    flags: OpMsg.moreToComeFlag | OpMsg.exhaustAllowedFlag))))
        #expect(r.kind == .command)
    }

    /// exhaustAllowed getMore: each reply is flagged moreToCome and responds to the previous
    /// reply; the next batch runs only once the last is written; the stream ends with the cursor.
    @Test func exhaustGetMoreStreamsUntilTheCursorEnds() throws {
        var m = Machine()
        let getMore: Document = ["getMore": .int64(9), "collection": "c", "$db": "db"]
        let first = try #require(Self.runs(m.received(Self.message(getMore, id: 5, flags: OpMsg.exhaustAllowedFlag))))
        #expect(first.kind == .exhaustGetMore)
        let (r1, report1) = try #require(Self.sent(m.answered(Self.cursorReply(id: 9), replyID: 50)))
        #expect(r1.moreToCome && report1 && r1.responseTo == 5)
        // Nothing runs until the reply is written; a request arriving meanwhile waits.
        #expect(m.received(Self.message(["ping": 1], id: 6)).isEmpty)
        let again = try #require(Self.runs(m.written(success: true)))
        #expect(again.respondTo == 50)
        let (r2, _) = try #require(Self.sent(m.answered(Self.cursorReply(id: 9), replyID: 51)))
        #expect(r2.moreToCome && r2.responseTo == 50)
        _ = m.written(success: true)
        let last = m.answered(Self.cursorReply(id: 0), replyID: 52)
        let (r3, report3) = try #require(Self.sent(last))
        #expect(!r3.moreToCome && !report3 && r3.responseTo == 51)
        // The stream is over: the ping that waited runs.
        guard last.count == 2, case .run(let ping) = last[1] else { Issue.record("the waiting request does not run"); return }
        #expect(ping.respondTo == 6)
    }

    @Test func anExhaustStreamEndsWithAnErrorOrAFailedWrite() throws {
        var m = Machine()
        _ = m.received(Self.message(["getMore": .int64(9), "collection": "c"], id: 5, flags: OpMsg.exhaustAllowedFlag))
        let (failed, _) = try #require(Self.sent(m.answered(.init(body: ["ok": 0.0, "code": .int32(43)]), replyID: 50)))
        #expect(!failed.moreToCome)

        var w = Machine()
        _ = w.received(Self.message(["getMore": .int64(9), "collection": "c"], id: 5, flags: OpMsg.exhaustAllowedFlag))
        _ = w.answered(Self.cursorReply(id: 9), replyID: 50)
        let closing = w.written(success: false)
        guard closing.count == 1, case .close = closing[0] else { Issue.record("a failed write does not close"); return }
        #expect(w.received(Self.message(["ping": 1], id: 6)).isEmpty)
    }

    /// An awaitable hello answers when its wait ends (clamped to 60 s); with exhaustAllowed it
    /// streams a reply after every wait.
    @Test func awaitableHelloWaitsThenStreams() throws {
        var m = Machine()
        let hello: Document = ["hello": 1, "topologyVersion": ["processId": .objectID(ObjectID()), "counter": .int64(0)],
                               "maxAwaitTimeMS": .int64(600_000), "$db": "admin"]
        let start = m.received(Self.message(hello, id: 3, flags: OpMsg.exhaustAllowedFlag))
        guard start.count == 1, case .waitTimer(let token, let ms) = start[0] else { Issue.record("no timer: \(start)"); return }
        #expect(ms == 60_000)
        #expect(m.waitEnded(token: token + 1).isEmpty)   // a stale timer does nothing
        let run = try #require(Self.runs(m.waitEnded(token: token)))
        #expect(run.kind == .awaitableHello(milliseconds: 60_000, exhaust: true))
        #expect(m.waitEnded(token: token).isEmpty)       // nor the same timer twice
        let (reply, report) = try #require(Self.sent(m.answered(.init(body: Self.ok), replyID: 30)))
        #expect(reply.moreToCome && report && reply.responseTo == 3)
        let next = m.written(success: true)
        guard next.count == 1, case .waitTimer(let token2, _) = next[0] else { Issue.record("no second wait"); return }
        #expect(token2 != token)
        let second = try #require(Self.runs(m.waitEnded(token: token2)))
        #expect(second.respondTo == 30)

        // Without exhaustAllowed: one reply after the wait, then idle.
        var once = Machine()
        guard case .waitTimer(let t, _) = once.received(Self.message(hello, id: 4))[0] else { return }
        _ = once.waitEnded(token: t)
        let (single, _) = try #require(Self.sent(once.answered(.init(body: Self.ok), replyID: 40)))
        #expect(!single.moreToCome)
        guard case .idle = once.phase else { Issue.record("not idle"); return }
    }

    /// An awaitData getMore that found nothing waits for a commit or its deadline; whichever
    /// reports first runs it again with the deadline, the other is ignored.
    @Test func awaitDataGetMoreWaitsForACommitOrItsDeadline() throws {
        var m = Machine()
        _ = m.received(Self.message(["getMore": .int64(9), "collection": "c"], id: 8))
        let until = ContinuousClock.now + .seconds(1)
        let wait = Machine.CommitWait(since: Timestamp(seconds: 5, increment: 1), until: until)
        let waiting = m.answered(.init(body: Self.cursorReply(id: 9).body, wait: wait), replyID: 80)
        guard waiting.count == 1, case .waitForCommit(let token, let w) = waiting[0] else { Issue.record("no wait: \(waiting)"); return }
        #expect(w == wait)
        #expect(m.received(Self.message(["ping": 1], id: 9)).isEmpty)
        let again = try #require(Self.runs(m.waitEnded(token: token, deadline: until)))
        #expect(again.awaitDeadline == until && again.respondTo == 8)
        #expect(m.waitEnded(token: token, deadline: until).isEmpty)
        let answered = m.answered(Self.cursorReply(id: 9), replyID: 81)
        #expect(Self.sent(answered)?.0.responseTo == 8 && answered.count == 2)
    }

    @Test func unreadableMessagesAndFailPointsClose() throws {
        struct Bad: Error {}
        var m = Machine()
        let closing = m.received(.failure(Bad()))
        guard closing.count == 1, case .close = closing[0] else { Issue.record("no close"); return }
        #expect(m.received(Self.message(["ping": 1], id: 2)).isEmpty)
        #expect(m.answered(.init(body: Self.ok), replyID: 1).isEmpty)

        var f = Machine()
        _ = f.received(Self.message(["ping": 1], id: 1))
        _ = f.received(Self.message(["ping": 1], id: 2))
        let closed = f.answered(.init(body: Self.ok, closeConnection: true), replyID: 10)
        guard closed.count == 1, case .close = closed[0] else { Issue.record("no close"); return }
        #expect(f.pending.isEmpty)
    }

    @Test func theChannelClosingDropsWaitingRequests() {
        var m = Machine()
        _ = m.received(Self.message(["ping": 1], id: 1))
        _ = m.received(Self.message(["ping": 1], id: 2))
        m.closed()
        #expect(m.pending.isEmpty)
        #expect(m.answered(.init(body: Self.ok), replyID: 5).isEmpty)
        #expect(m.written(success: true).isEmpty)
    }

    @Test func legacyQueriesGetLegacyReplies() throws {
        var m = Machine()
        let q = OpQuery(flags: 0, collection: "admin.$cmd", query: ["isMaster": 1])
        let run = try #require(Self.runs(m.received(.success((MessageHeader(length: 0, requestID: 4, responseTo: 0, opCode: 2004), .query(q))))))
        #expect(run.kind == .legacyQuery)
        let (reply, _) = try #require(Self.sent(m.answered(.init(body: Self.ok), replyID: 9)))
        #expect(reply.legacy && reply.responseTo == 4)
    }

    @Test func compressedRequestsGetCompressedReplies() throws {
        var m = Machine()
        var header = MessageHeader(length: 0, requestID: 4, responseTo: 0, opCode: 2013)
        header.compressorID = 2
        _ = m.received(.success((header, .message(OpMsg(flags: 0, body: ["ping": 1])))))
        #expect(Self.sent(m.answered(.init(body: Self.ok), replyID: 9))?.0.compressor == 2)
    }

    /// Client metadata only in the first hello (MongoDB's 186 after it); the first hello ends
    /// the handshake with or without metadata.
    @Test func clientMetadataOnlyInTheFirstHello() throws {
        var m = Machine()
        try m.hello(client: ["application": ["name": "chat-api"], "driver": ["name": "x"]])
        #expect(m.handshake.finished && m.handshake.applicationName == "chat-api")
        try m.hello(client: nil)
        #expect(throws: FolioError.self) { try m.hello(client: ["application": ["name": "other"]]) }
        do { try m.hello(client: [:]) } catch { #expect(error.code.rawValue == 186 && error.code.name == "ClientMetadataCannotBeMutated") }
        #expect(m.handshake.applicationName == "chat-api")

        var bare = Machine()
        try bare.hello(client: nil)
        #expect(throws: FolioError.self) { try bare.hello(client: ["driver": ["name": "late"]]) }
    }
}
