import Testing
import FolioBSON
import FolioEngine
@testable import FolioServer

/// The commands around change streams: aggregate with `$changeStream` (Aggregate.swift),
/// awaitData getMores that ask to be answered again after the next commit (Find.swift,
/// RawBatchSlot), the error labels drivers resume by, local.oplog.rs, replSetGetStatus and
/// replSetResizeOplog (Admin.swift), and failGetMoreAfterCursorCheckout (FailPoints.swift).
@Suite struct ChangeStreamCommandTests {
    func cursor(_ reply: Document) -> Document? { reply["cursor"]?.documentValue }

    @Test func aChangeStreamCursorCarriesItsResumeTokenInEveryBatch() throws {
        let s = try TestServer()
        let opened = s.run(["aggregate": "m", "pipeline": [["$changeStream": [:]]], "cursor": [:]])
        let id = try #require(cursor(opened)?["id"])
        #expect(id != .int64(0) && s.firstBatch(opened) == [])
        #expect(cursor(opened)?["postBatchResumeToken"]?.documentValue?["_data"] != nil)
        s.run(["insert": "m", "documents": [["_id": 1]]])
        // On the wire (a raw batch slot), a getMore with the event answers at once.
        let slot = RawBatchSlot()
        let more = s.dispatcher.run(["getMore": id, "collection": "m", "maxTimeMS": 5000, "$db": "test"], connection: s.connection, rawBatch: slot)
        #expect(more["ok"] == .double(1) && slot.batch?.count == 1 && slot.wait == nil)
        #expect(cursor(more)?["postBatchResumeToken"] != nil)
        // With nothing new it asks to be answered again after the next commit, until its wait ends.
        let idle = RawBatchSlot()
        _ = s.dispatcher.run(["getMore": id, "collection": "m", "maxTimeMS": 5000, "$db": "test"], connection: s.connection, rawBatch: idle)
        let wait = try #require(idle.wait)
        #expect(idle.batch?.isEmpty == true && wait.since == s.dispatcher.context.engine.clusterTime)
        let last = RawBatchSlot()
        last.awaitDeadline = .now - .seconds(1)
        _ = s.dispatcher.run(["getMore": id, "collection": "m", "$db": "test"], connection: s.connection, rawBatch: last)
        #expect(last.wait == nil)
    }

    @Test func badChangeStreamsAreRefusedWithMongoDBsCodes() throws {
        let s = try TestServer()
        let cases: [(Document, Int32)] = [
            (["aggregate": "m", "pipeline": [["$changeStream": 1]], "cursor": [:]], 50808),
            (["aggregate": "m", "pipeline": [["$changeStream": ["bogus": 1]]], "cursor": [:]], 40415),
            (["aggregate": "m", "pipeline": [["$changeStream": [:]], ["$group": ["_id": 1]]], "cursor": [:]], 20),
            (["aggregate": "m", "pipeline": [["$match": [:]], ["$changeStream": [:]]], "cursor": [:]], 40602),
            (["aggregate": "system.views", "pipeline": [["$changeStream": [:]]], "cursor": [:]], 73),
            (["aggregate": "m", "pipeline": [["$changeStream": [:]]], "cursor": [:], "readConcern": ["level": "snapshot"]], 72),
        ]
        for (command, code) in cases {
            #expect(s.run(command)["code"] == .int32(code), "\(command)")
        }
        let lost = s.run(["aggregate": "m", "pipeline": [["$changeStream": ["startAtOperationTime": .timestamp(Timestamp(seconds: 1, increment: 0))]]],
                          "cursor": [:]])
        #expect(lost["code"] == .int32(286) && lost["errorLabels"] == ["NonResumableChangeStreamError"], "\(lost)")
        #expect(s.run(["aggregate": 1, "pipeline": [["$changeStream": ["allChangesForCluster": true]]], "cursor": [:]], db: "admin")["ok"] == .double(1))
    }

    /// A getMore's maxTimeMS on a change stream is how long to wait for events, not a limit on
    /// reading them (OperationRegistry.swift): reading a bulk load's events for longer than
    /// that returns them.
    @Test func aStreamsMaxTimeIsAWaitNotALimit() throws {
        let s = try TestServer()
        let id = try #require(cursor(s.run(["aggregate": "m", "pipeline": [["$changeStream": [:]]], "cursor": [:]]))?["id"])
        s.run(["insert": "m", "documents": .array((0..<20_000).map { .document(["_id": .int32(Int32($0)), "pad": "0123456789abcdef"]) })])
        let more = s.run(["getMore": id, "collection": "m", "maxTimeMS": 1, "batchSize": 20_000])
        #expect(more["ok"] == .double(1), "\(more["errmsg"] ?? "")")
        #expect(cursor(more)?["nextBatch"]?.arrayValue?.count ?? 0 > 0)
    }

    @Test func aResumableFailureOfAStreamsGetMoreIsLabelled() throws {
        let s = try TestServer(enableTestCommands: true)
        let id = try #require(cursor(s.run(["aggregate": "m", "pipeline": [["$changeStream": [:]]], "cursor": [:]]))?["id"])
        s.run(["configureFailPoint": "failGetMoreAfterCursorCheckout", "mode": ["times": 1], "data": ["errorCode": 6]], db: "admin")
        let failed = s.run(["getMore": id, "collection": "m", "maxTimeMS": 10])
        #expect(failed["code"] == .int32(6) && failed["errorLabels"] == ["ResumableChangeStreamError"], "\(failed)")
        // A find cursor's getMore gets no change-stream label.
        s.run(["insert": "f", "documents": [["_id": 1], ["_id": 2]]])
        let find = try #require(cursor(s.run(["find": "f", "batchSize": 1]))?["id"])
        s.run(["configureFailPoint": "failGetMoreAfterCursorCheckout", "mode": ["times": 1], "data": ["errorCode": 6]], db: "admin")
        #expect(s.run(["getMore": find, "collection": "f"])["errorLabels"] == nil)
    }

    @Test func theOplogAndTheReplicaSetStatus() throws {
        let s = try TestServer()
        s.run(["insert": "m", "documents": [["_id": 1]]])
        let newest = s.run(["find": "oplog.rs", "sort": ["$natural": -1], "limit": 1], db: "local")
        let entry = try #require(s.firstBatch(newest)?.first?.documentValue)
        #expect(entry["op"] == "i" && entry["ns"] == "test.m" && entry["o"] == ["_id": 1])
        let status = s.run(["replSetGetStatus": 1], db: "admin")
        #expect(status["myState"] == .int32(1) && status["optimes"]?.documentValue?["appliedOpTime"]?.documentValue?["ts"] == entry["ts"])
        #expect(s.run(["replSetGetStatus": 1])["code"] == .int32(13))
        #expect(s.run(["replSetResizeOplog": 1, "size": 2000.5, "minRetentionHours": 1.5], db: "admin")["ok"] == .double(1))
        #expect(s.dispatcher.context.engine.changeLogRetention == ChangeLogRetention(maxBytes: Int(2000.5 * 1024 * 1024), minRetentionHours: 1.5))
        for (command, code) in [(["replSetResizeOplog": 1, "size": 10] as Document, Int32(72)), (["replSetResizeOplog": 1], 72),
                                (["replSetResizeOplog": 1, "minRetentionHours": -1], 2), (["replSetResizeOplog": 1, "x": 1], 40415)] {
            #expect(s.run(command, db: "admin")["code"] == .int32(code), "\(command)")
        }
    }
}
