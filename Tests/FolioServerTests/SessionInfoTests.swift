import Testing
import FolioBSON
import FolioQuery
@testable import FolioServer

/// The session fields of commands (SessionInfo.swift): MongoDB's checks, retryable writes
/// through the commands, and the onPrimaryTransactionalWrite fail point.
@Suite struct SessionInfoTests {
    static let lsid: BSON = ["id": .binary(Binary(subtype: Binary.Subtype.uuid, data: [UInt8](repeating: 3, count: 16)))]

    private func code(_ reply: Document) -> Int32? { reply["code"]?.exactInt64.map { Int32($0) } }

    @Test(arguments: [
        (["find": "c", "lsid": "x"], 14),
        (["find": "c", "lsid": ["uid": 1]], 40414),
        (["find": "c", "lsid": ["id": "not a uuid"]], 14),
        (["find": "c", "lsid": ["id": .binary(Binary(subtype: 0, data: [UInt8](repeating: 3, count: 16)))]], 14),
        (["insert": "c", "documents": [[:]], "lsid": lsid, "txnNumber": .int32(1)], 14),
        (["insert": "c", "documents": [[:]], "txnNumber": .int64(1)], 72),
        (["insert": "c", "documents": [[:]], "lsid": lsid, "txnNumber": .int64(-1)], 72),
        (["find": "c", "lsid": lsid, "autocommit": false], 72),
        (["find": "c", "lsid": lsid, "txnNumber": .int64(1), "autocommit": true], 72),
        (["find": "c", "lsid": lsid, "txnNumber": .int64(1), "autocommit": false, "startTransaction": false], 72),
        (["find": "c", "lsid": lsid, "txnNumber": .int64(1), "startTransaction": true], 72),
        (["find": "c", "lsid": lsid, "txnNumber": .int64(1), "autocommit": "no"], 14),
        (["find": "c", "lsid": lsid, "txnNumber": .int64(1)], 50768),
        (["insert": "c", "documents": [[:], [:]], "lsid": lsid, "txnNumber": .int64(1), "stmtIds": [.int32(1)]], 16),
        (["insert": "c", "documents": [[:]], "lsid": lsid, "txnNumber": .int64(1), "stmtId": "one"], 14),
    ] as [(Document, Int32)])
    func malformedSessionFieldsAreRefusedAndChangeNothing(body: Document, expected: Int32) throws {
        let s = try TestServer()
        let reply = s.run(body)
        #expect(code(reply) == expected, "\(reply)")
        #expect(s.run(["count": "c"])["n"] == .int32(0))
    }

    @Test func aRetriedCommandAnswersAsTheFirstTime() throws {
        let s = try TestServer()
        s.run(["insert": "c", "documents": [["_id": 1, "n": 0]]])
        let update: Document = ["update": "c", "updates": [["q": ["_id": 1], "u": ["$inc": ["n": 1]]],
                                                           ["q": ["_id": 2], "u": ["$set": ["n": 9]], "upsert": true]],
                                "lsid": SessionInfoTests.lsid, "txnNumber": .int64(1)]
        let first = s.run(update)
        let again = s.run(update)
        #expect(first["n"] == .int32(2) && first["nModified"] == .int32(1), "\(first)")
        #expect(again["n"] == first["n"] && again["nModified"] == first["nModified"] && again["upserted"] == first["upserted"])
        let found = s.run(["find": "c", "filter": ["_id": 1]])
        #expect(s.firstBatch(found) == [["_id": 1, "n": 1]])
        let older = s.run(["insert": "c", "documents": [["_id": 3]], "lsid": SessionInfoTests.lsid, "txnNumber": .int64(0)])
        #expect(older["codeName"] == "TransactionTooOld", "\(older)")
        let status = s.run(["serverStatus": 1], db: "admin")
        guard case .document(let transactions)? = status["transactions"] else { Issue.record("no transactions section"); return }
        #expect(transactions["retriedCommandsCount"] == .int64(1) && transactions["retriedStatementsCount"] == .int64(2))
    }

    @Test func aRetriedBulkWriteAppliesEachOperationOnce() throws {
        let s = try TestServer()
        s.run(["insert": "c", "documents": [["_id": 1, "n": 0]]])
        let bulk: Document = ["bulkWrite": 1, "ops": [["insert": 0, "document": ["_id": 2]],
                                                     ["update": 0, "filter": ["_id": 1], "updateMods": ["$inc": ["n": 1]]]],
                              "nsInfo": [["ns": "test.c"]], "lsid": SessionInfoTests.lsid, "txnNumber": .int64(4)]
        let first = s.run(bulk, db: "admin")
        let again = s.run(bulk, db: "admin")
        #expect(first["nErrors"] == .int32(0) && again["nErrors"] == .int32(0), "\(again)")
        #expect(again["nInserted"] == .int32(1) && again["nModified"] == .int32(1))
        #expect(s.firstBatch(s.run(["find": "c", "filter": ["_id": 1]])) == [["_id": 1, "n": 1]])
    }

    /// onPrimaryTransactionalWrite: with failBeforeCommitExceptionCode the statement fails and
    /// is undone; without it the write commits and the connection closes instead of the reply.
    @Test func onPrimaryTransactionalWrite() throws {
        let s = try TestServer(enableTestCommands: true)
        s.run(["insert": "c", "documents": [["_id": 1, "x": 0], ["_id": 2, "x": 0]]])
        let configured = s.run(["configureFailPoint": "onPrimaryTransactionalWrite", "mode": ["skip": 1],
                                "data": ["closeConnection": false, "failBeforeCommitExceptionCode": 1]], db: "admin")
        #expect(configured["ok"] == .double(1), "\(configured)")
        let update: Document = ["update": "c", "updates": [["q": ["_id": 1], "u": ["$inc": ["x": 1]]],
                                                           ["q": ["_id": 2], "u": ["$inc": ["x": 1]]]],
                                "lsid": SessionInfoTests.lsid, "txnNumber": .int64(2)]
        let failed = s.run(update)
        #expect(failed["nModified"] == .int32(1), "\(failed)")
        guard case .array(let errors)? = failed["writeErrors"], case .document(let error)? = errors.first else {
            Issue.record("no write error: \(failed)"); return
        }
        #expect(error["index"] == .int32(1) && error["code"] == .int32(1))
        // Plain writes (no txnNumber) do not trigger it.
        #expect(s.run(["update": "c", "updates": [["q": ["_id": 9], "u": ["$set": ["x": 1]]]]])["ok"] == .double(1))
        s.run(["configureFailPoint": "onPrimaryTransactionalWrite", "mode": "off"], db: "admin")
        let retried = s.run(update)
        #expect(retried["nModified"] == .int32(2), "\(retried)")
        #expect(s.firstBatch(s.run(["find": "c", "sort": ["_id": 1]])) == [["_id": 1, "x": 1], ["_id": 2, "x": 1]])

        // The default closes the connection after the write commits.
        s.run(["configureFailPoint": "onPrimaryTransactionalWrite", "mode": ["times": 1]], db: "admin")
        let insert: Document = ["insert": "c", "documents": [["_id": 3]], "lsid": SessionInfoTests.lsid, "txnNumber": .int64(3), "$db": "test"]
        let answer = s.dispatcher.answer(insert, connection: s.connection)
        #expect(answer.closeConnection)
        let retry = s.dispatcher.answer(insert, connection: s.connection)
        #expect(!retry.closeConnection && retry.reply["n"] == .int32(1), "\(retry.reply)")
        #expect(s.run(["count": "c"])["n"] == .int32(3))
    }

    /// A retryable write refused at shutdown carries RetryableWriteError (drivers retry only
    /// labelled errors); the same error on a read, or on a write without txnNumber, does not.
    @Test func retryableErrorsOfRetryableWritesAreLabelled() throws {
        let s = try TestServer()
        s.dispatcher.context.operations.beginShutdown()
        let write = s.run(["insert": "c", "documents": [[:]], "lsid": SessionInfoTests.lsid, "txnNumber": .int64(1)])
        #expect(write["code"] == .int32(91) && write["errorLabels"] == ["RetryableWriteError"], "\(write)")
        #expect(s.run(["insert": "c", "documents": [[:]]])["errorLabels"] == nil)
        #expect(s.run(["find": "c", "lsid": SessionInfoTests.lsid])["errorLabels"] == nil)
    }
}
