import Foundation
import Testing
import FolioTestSupport
import FolioBSON
import FolioQuery
@testable import FolioServer
@testable import FolioEngine

/// The sessions' transaction state machine (Transactions.swift): MongoDB's errors for every
/// state and hostile sequence, and bounded resources under many open transactions.
@Suite struct TransactionsTests {
    static func lsid(_ n: Int) -> BSON {
        var bytes = [UInt8](repeating: 0, count: 16)
        withUnsafeBytes(of: n.bigEndian) { bytes.replaceSubrange(8..<16, with: $0) }
        return ["id": .binary(Binary(subtype: Binary.Subtype.uuid, data: bytes))]
    }

    private func code(_ reply: Document) -> Int32? { reply["code"]?.exactInt64.map { Int32($0) } }
    private func labels(_ reply: Document) -> [String] { reply["errorLabels"]?.arrayValue?.compactMap(\.stringValue) ?? [] }

    /// A command of transaction `txn` on session `session`.
    func inTxn(_ body: Document, _ txn: Int64, session: Int = 1, start: Bool = false) -> Document {
        var b = body
        b.append("lsid", TransactionsTests.lsid(session))
        b.append("txnNumber", .int64(txn))
        b.append("autocommit", false)
        if start { b.append("startTransaction", true) }
        return b
    }

    @Test func theStateMachineAnswersAsMongoDB() throws {
        let s = try TestServer()
        s.run(["insert": "c", "documents": [["_id": 0]]])
        #expect(s.run(inTxn(["insert": "c", "documents": [["_id": 1]]], 3, start: true))["ok"] == .double(1))
        // The same number again is a conflict; an older one is too old; an unknown one does not exist.
        #expect(code(s.run(inTxn(["insert": "c", "documents": [["_id": 2]]], 3, start: true))) == 117)
        #expect(code(s.run(inTxn(["insert": "c", "documents": [["_id": 2]]], 2, start: true))) == 225)
        let unknown = s.run(inTxn(["find": "c"], 4))
        #expect(code(unknown) == 251 && labels(unknown) == ["TransientTransactionError"])
        // Commands a transaction cannot run, and options it does not take.
        #expect(code(s.run(inTxn(["count": "c"], 3))) == 263)
        #expect(code(s.run(inTxn(["drop": "c"], 5, start: true))) == 263)
        // Indexes only on a collection the transaction creates; no $out or $merge.
        #expect(code(s.run(inTxn(["createIndexes": "c", "indexes": [["key": ["a": 1], "name": "a_1"]]], 10, session: 5, start: true))) == 263)
        #expect(s.run(inTxn(["createIndexes": "new", "indexes": [["key": ["a": 1], "name": "a_1"]]], 11, session: 5, start: true))["ok"] == .double(1))
        #expect(code(s.run(inTxn(["aggregate": "c", "pipeline": [["$out": "x"]], "cursor": [:]], 11, session: 5))) == 263)
        #expect(code(s.run(inTxn(["find": "c", "readConcern": ["level": "local"]], 6, start: true))) == nil)
        #expect(code(s.run(inTxn(["find": "c", "readConcern": ["level": "local"]], 6))) == 72)
        // Transaction 7 commits, twice, and then only commits.
        #expect(s.run(inTxn(["insert": "c", "documents": [["_id": 7]]], 7, start: true))["ok"] == .double(1))
        #expect(code(s.run(inTxn(["commitTransaction": 1], 7))) == 13)
        #expect(s.run(inTxn(["commitTransaction": 1], 7), db: "admin")["ok"] == .double(1))
        #expect(s.run(inTxn(["commitTransaction": 1], 7), db: "admin")["ok"] == .double(1))
        #expect(code(s.run(inTxn(["find": "c"], 7))) == 256)
        #expect(code(s.run(inTxn(["abortTransaction": 1], 7), db: "admin")) == 256)
        // commitTransaction outside a transaction.
        #expect(code(s.run(["commitTransaction": 1, "lsid": TransactionsTests.lsid(1)], db: "admin")) == 72)
        #expect(code(s.run(["commitTransaction": 1], db: "admin")) == 72)
        // Only the committed transaction's write is there; transaction 3 was ended by 5.
        let found = s.run(["find": "c", "sort": ["_id": 1]])
        #expect(s.firstBatch(found) == [["_id": 0], ["_id": 7]])
        // A retryable write with a higher number ends an open transaction.
        #expect(s.run(inTxn(["insert": "c", "documents": [["_id": 8]]], 8, start: true))["ok"] == .double(1))
        #expect(s.run(["insert": "c", "documents": [["_id": 9]], "lsid": TransactionsTests.lsid(1), "txnNumber": .int64(9)])["n"] == .int32(1))
        #expect(code(s.run(inTxn(["commitTransaction": 1], 8), db: "admin")) == 225)
        #expect(s.run(["count": "c"])["n"] == .int32(3))
        // A number belongs to retryable writes or to one transaction, never both.
        #expect(code(s.run(inTxn(["insert": "c", "documents": [["_id": 10]]], 9, start: true))) == 117)
        #expect(code(s.run(inTxn(["find": "c"], 9))) == 251)
        #expect(s.run(["insert": "c", "documents": [["_id": 9]], "lsid": TransactionsTests.lsid(1), "txnNumber": .int64(9)])["n"] == .int32(1))
        #expect(s.run(inTxn(["insert": "c", "documents": [["_id": 10]]], 10, start: true))["ok"] == .double(1))
        let reused = s.run(["insert": "c", "documents": [["_id": 11]], "lsid": TransactionsTests.lsid(1), "txnNumber": .int64(10)])
        #expect(code(reused) == 217, "\(reused)")
        #expect(s.run(["count": "c"])["n"] == .int32(3))
    }

    /// What a transaction's commands do reaches others only at commit (it once was refused
    /// with 115 so that nothing was applied outside a transaction a client believed in).
    @Test func commandsInATransactionApplyAtCommit() throws {
        let s = try TestServer()
        s.run(["insert": "accounts", "documents": [["_id": 1, "balance": 100]]])
        #expect(s.run(inTxn(["update": "accounts", "updates": [["q": ["_id": 1], "u": ["$inc": ["balance": -30]]]]], 1, start: true))["nModified"] == .int32(1))
        #expect(s.run(inTxn(["insert": "accounts", "documents": [["_id": 2]]], 1))["n"] == .int32(1))
        #expect(s.firstBatch(s.run(inTxn(["find": "accounts"], 1))) == [["_id": 1, "balance": 70], ["_id": 2]])
        #expect(s.firstBatch(s.run(["find": "accounts"])) == [["_id": 1, "balance": 100]])
        #expect(s.run(inTxn(["commitTransaction": 1], 1), db: "admin")["ok"] == .double(1))
        #expect(s.firstBatch(s.run(["find": "accounts"])) == [["_id": 1, "balance": 70], ["_id": 2]])
        // Retryable writes (txnNumber without autocommit) run as before, after the transaction.
        let retryable = s.run(["update": "accounts", "updates": [["q": ["_id": 1], "u": ["$inc": ["balance": 1]]]],
                               "lsid": TransactionsTests.lsid(1), "txnNumber": .int64(2)])
        #expect(retryable["nModified"] == .int32(1))
    }

    @Test func aWriteErrorAbortsAndAWriteConflictIsLabelled() throws {
        let s = try TestServer()
        s.run(["insert": "c", "documents": [["_id": 1]]])
        let dup = s.run(inTxn(["insert": "c", "documents": [["_id": 2], ["_id": 1], ["_id": 3]], "ordered": false], 1, start: true))
        #expect(dup["n"] == .int32(1) && dup["writeErrors"]?.arrayValue?.count == 1 && dup["errorLabels"] == nil)
        #expect(code(s.run(inTxn(["commitTransaction": 1], 1), db: "admin")) == 251)
        #expect(s.run(inTxn(["update": "c", "updates": [["q": ["_id": 1], "u": ["$set": ["a": 1]]]]], 1, session: 2, start: true))["nModified"] == .int32(1))
        let conflict = s.run(inTxn(["update": "c", "updates": [["q": ["_id": 1], "u": ["$set": ["a": 2]]]]], 1, session: 3, start: true))
        #expect(code(conflict) == 112 && labels(conflict) == ["TransientTransactionError"])
        #expect(s.run(inTxn(["commitTransaction": 1], 1, session: 2), db: "admin")["ok"] == .double(1))
        #expect(s.firstBatch(s.run(["find": "c", "filter": ["_id": 1]])) == [["_id": 1, "a": 1]])
    }

    /// 10,000 transactions opened by one client and never ended: the oldest idle ones are
    /// aborted past the limit, so open transactions stay bounded and the server answers.
    @Test func tenThousandOpenTransactionsStayBounded() throws {
        let s = try TestServer()
        s.run(["create": "c"])
        for i in 0..<10_000 {
            let reply = s.run(inTxn(["insert": "c", "documents": [["_id": .int64(Int64(i))]]], 1, session: i, start: true))
            #expect(reply["ok"] == .double(1))
        }
        let status = s.run(["serverStatus": 1])
        guard case .document(let transactions)? = status["transactions"] else { Issue.record("no transactions section"); return }
        #expect((transactions["currentOpen"]?.exactInt64 ?? .max) <= Int64(TransactionRegistry.limit))
        #expect(transactions["totalStarted"]?.exactInt64 == 10_000)
        // The newest can still commit; one aborted to make room answers NoSuchTransaction.
        #expect(s.run(inTxn(["commitTransaction": 1], 1, session: 9_999), db: "admin")["ok"] == .double(1))
        #expect(code(s.run(inTxn(["commitTransaction": 1], 1, session: 0), db: "admin")) == 251)
        #expect(s.run(["count": "c"])["n"] == .int32(1))
    }

    /// A commit retried after a restart is answered as done (the commit recorded the
    /// session's number with the data), and older numbers stay too old.
    /// After a clean restart and after a crash (the commit's record then only in its change
    /// log entry, RetryableWrites.swift), a retried commit is done and the number is used.
    @Test(arguments: [false, true])
    func aCommitRetriedAfterARestartIsDone(crash: Bool) throws {
        let directory = TestSupport.scratchPath("folio-txn-server", directory: false)
        do {
            let s = try TestServer(directory: directory)
            #expect(s.run(inTxn(["insert": "c", "documents": [["_id": 1]]], 4, start: true))["ok"] == .double(1))
            #expect(s.run(inTxn(["commitTransaction": 1], 4), db: "admin")["ok"] == .double(1))
            let engine = s.dispatcher.context.engine
            if crash {
                engine.resumedBuilds?.stop()
                engine.storage.close()
            } else {
                engine.close()
            }
        }
        let s = try TestServer(directory: directory)
        defer { s.dispatcher.context.engine.close() }
        #expect(s.run(inTxn(["commitTransaction": 1], 4), db: "admin")["ok"] == .double(1))
        #expect(code(s.run(inTxn(["find": "c"], 4))) == 256)
        #expect(code(s.run(inTxn(["insert": "c", "documents": [["_id": 2]]], 3, start: true))) == 225)
        #expect(code(s.run(inTxn(["commitTransaction": 1], 4, session: 2), db: "admin")) == 251)
        #expect(s.run(["count": "c"])["n"] == .int32(1))
    }

    @Test func theLifetimeLimitAbortsAbandonedTransactions() throws {
        let s = try TestServer()
        #expect(s.run(inTxn(["insert": "c", "documents": [["_id": 1]]], 1, start: true))["ok"] == .double(1))
        #expect(s.dispatcher.context.transactions.expire(lifetimeSeconds: 3600) == 0)
        #expect(s.dispatcher.context.transactions.expire(lifetimeSeconds: 0) == 1)
        #expect(code(s.run(inTxn(["commitTransaction": 1], 1), db: "admin")) == 251)
        #expect(s.run(["setParameter": 1, "transactionLifetimeLimitSeconds": 5], db: "admin")["ok"] == .double(1))
        #expect(s.run(["getParameter": 1, "transactionLifetimeLimitSeconds": 1], db: "admin")["transactionLifetimeLimitSeconds"] == .int32(5))
    }
}
