import Foundation
import Testing
import FolioTestSupport
import FolioBSON
import FolioQuery
import Synchronization
@testable import FolioEngine

/// Multi-document transactions in the engine (Transactions.swift): one snapshot plus the
/// transaction's own writes for every read, all writes visible at once at commit, nothing
/// after abort, conflicts as MongoDB reports them, and the catalog and counts kept right.
@Suite struct TransactionsTests {
    func ids(_ engine: Engine, _ filter: Document = [:], _ namespace: Namespace = ns) throws -> [Int64] {
        try docs(engine.find(namespace, FindRequest(filter: filter, sort: ["_id": 1]))).compactMap { $0["_id"]?.exactInt64 }
    }

    @Test(arguments: Backend.allCases)
    func commitShowsEverythingAtOnceAndAbortNothing(backend: Backend) throws {
        let engine = try makeEngine(backend)
        defer { engine.close() }
        _ = try engine.insert(ns, (0..<5).map { ["_id": .int64($0), "v": .int64($0)] })
        _ = try engine.createIndexes(ns, [["key": ["v": 1], "name": "v_1"]])
        let txn = try engine.beginTransaction()
        _ = try txn.engine.update(ns, [UpdateStatement(filter: ["_id": 1], update: ["$set": ["v": 100]])])
        _ = try txn.engine.delete(ns, [DeleteStatement(filter: ["_id": 2], limitOne: true)])
        _ = try txn.engine.insert(ns, [["_id": .int64(9), "v": .int64(9)]])
        // The transaction reads its own writes through the record store and the index...
        #expect(try ids(txn.engine) == [0, 1, 3, 4, 9])
        #expect(try ids(txn.engine, ["v": ["$gte": 4]]) == [1, 4, 9])
        #expect(try txn.engine.count(ns, filter: [:]) == 5)
        // ...and nobody else does.
        #expect(try ids(engine) == [0, 1, 2, 3, 4])
        #expect(try engine.estimatedCount(ns) == 5)
        try txn.commit(durable: true)
        #expect(try ids(engine) == [0, 1, 3, 4, 9])
        #expect(try ids(engine, ["v": 100]) == [1])
        #expect(try engine.estimatedCount(ns) == 5)
        #expect(try engine.validate(ns).errors.isEmpty)

        let aborted = try engine.beginTransaction()
        _ = try aborted.engine.insert(ns, [["_id": .int64(20)]])
        aborted.abort()
        #expect(try ids(engine) == [0, 1, 3, 4, 9])
        #expect(engine.openTransactions.transactions == 0)
    }

    @Test(arguments: Backend.allCases)
    func readsStayAtTheSnapshot(backend: Backend) throws {
        let engine = try makeEngine(backend)
        defer { engine.close() }
        _ = try engine.insert(ns, (0..<3).map { ["_id": .int64($0)] })
        let txn = try engine.beginTransaction()
        #expect(try ids(txn.engine) == [0, 1, 2])
        _ = try engine.insert(ns, [["_id": .int64(7)]])
        _ = try engine.insert(try Namespace(database: "app", collection: "later"), [["_id": 1]])
        #expect(try ids(txn.engine) == [0, 1, 2])
        #expect(txn.engine.collectionExists(try Namespace(database: "app", collection: "later")) == false)
        // Two transactions begun between the same commits share one snapshot.
        let other = try engine.beginTransaction(), third = try engine.beginTransaction()
        #expect(engine.openTransactions == (3, 2))
        txn.abort()
        other.abort()
        third.abort()
    }

    @Test(arguments: Backend.allCases)
    func conflictsAndWaiting(backend: Backend) throws {
        let engine = try makeEngine(backend)
        defer { engine.close() }
        _ = try engine.insert(ns, [["_id": 1, "n": 0]])
        let a = try engine.beginTransaction(), b = try engine.beginTransaction()
        _ = try a.engine.update(ns, [UpdateStatement(filter: ["_id": 1], update: ["$inc": ["n": 1]])])
        #expect(throws: FolioError.self) { _ = try b.engine.update(ns, [UpdateStatement(filter: ["_id": 1], update: ["$inc": ["n": 1]])]) }
        b.abort()
        // A plain write waits for the transaction holding the document, then applies after it.
        let done = DispatchSemaphore(value: 0)
        Thread {
            _ = try? engine.update(ns, [UpdateStatement(filter: ["_id": 1], update: ["$inc": ["n": 10]])])
            done.signal()
        }.start()
        #expect(done.wait(timeout: .now() + 0.2) == .timedOut)
        try a.commit(durable: false)
        #expect(done.wait(timeout: .now() + 10) == .success)
        #expect(try docs(engine.find(ns, FindRequest(filter: ["_id": 1])))[0]["n"] == .int32(11))
        // A transaction whose snapshot predates a plain write conflicts on that document.
        let c = try engine.beginTransaction()
        _ = try engine.update(ns, [UpdateStatement(filter: ["_id": 1], update: ["$set": ["n": 0]])])
        do {
            _ = try c.engine.update(ns, [UpdateStatement(filter: ["_id": 1], update: ["$inc": ["n": 1]])])
            Issue.record("no WriteConflict")
        } catch {
            #expect(error.code == .writeConflict && error.labels == ["TransientTransactionError"])
        }
        c.abort()
    }

    @Test(arguments: Backend.allCases)
    func collectionsAndMultikeyIndexesAppearAtCommit(backend: Backend) throws {
        let engine = try makeEngine(backend)
        defer { engine.close() }
        _ = try engine.createIndexes(ns, [["key": ["tags": 1], "name": "tags_1"]])
        let fresh = try Namespace(database: "app", collection: "fresh")
        let txn = try engine.beginTransaction()
        _ = try txn.engine.insert(fresh, [["_id": 1]])
        _ = try txn.engine.insert(ns, [["_id": 1, "tags": ["a", "b"]]])
        #expect(!engine.collectionExists(fresh))
        #expect(engine.indexes(ns).first?.isMultikey == false)
        try txn.commit(durable: false)
        #expect(engine.collectionExists(fresh) && engine.indexes(ns).first?.isMultikey == true)
        #expect(try ids(engine, ["tags": "b"]) == [1])
        #expect(try engine.estimatedCount(fresh) == 1)
    }

    @Test func committedTransactionsSurviveARestart() throws {
        let directory = TestSupport.scratchPath("folio-txn", directory: false)
        var engine = try Engine.open(directory: directory)
        _ = try engine.insert(ns, [["_id": 1, "n": 0]])
        let txn = try engine.beginTransaction()
        _ = try txn.engine.update(ns, [UpdateStatement(filter: ["_id": 1], update: ["$inc": ["n": 5]])])
        _ = try txn.engine.insert(ns, [["_id": 2]])
        try txn.commit(durable: true)
        engine.close()
        engine = try Engine.open(directory: directory)
        defer { engine.close() }
        #expect(try docs(engine.find(ns, FindRequest(sort: ["_id": 1]))) == [["_id": 1, "n": 5], ["_id": 2]])
    }

    /// Transfers between accounts from several threads: totals never change, in any snapshot.
    @Test(arguments: Backend.allCases)
    func concurrentTransfersKeepTheTotal(backend: Backend) throws {
        let engine = try makeEngine(backend)
        defer { engine.close() }
        _ = try engine.insert(ns, (0..<10).map { ["_id": .int64($0), "balance": 100] })
        let failures = Mutex<[String]>([])
        DispatchQueue.concurrentPerform(iterations: 4) { t in
            var rng = SystemRandomNumberGenerator()
            for _ in 0..<100 {
                let from = Int64.random(in: 0..<10, using: &rng), to = (from + Int64.random(in: 1..<10, using: &rng)) % 10
                while true {
                    do {
                        let txn = try engine.beginTransaction()
                        if t == 0 {
                            let total = try docs(txn.engine.find(ns, FindRequest())).compactMap { $0["balance"]?.exactInt64 }.reduce(0, +)
                            if total != 1000 { failures.withLock { $0.append("total \(total)") } }
                        }
                        _ = try txn.engine.update(ns, [UpdateStatement(filter: ["_id": .int64(from)], update: ["$inc": ["balance": -1]])])
                        _ = try txn.engine.update(ns, [UpdateStatement(filter: ["_id": .int64(to)], update: ["$inc": ["balance": 1]])])
                        try txn.commit(durable: false)
                        break
                    } catch let error as FolioError where error.labels.contains("TransientTransactionError") {
                        continue
                    } catch {
                        failures.withLock { $0.append("\(error)") }
                        return
                    }
                }
            }
        }
        #expect(failures.withLock { $0 } == [])
        #expect(try docs(engine.find(ns, FindRequest())).compactMap { $0["balance"]?.exactInt64 }.reduce(0, +) == 1000)
        #expect(engine.openTransactions.transactions == 0)
    }
}
