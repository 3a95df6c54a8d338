import Foundation
import Testing
import FolioBSON
import FolioQuery
@testable import FolioEngine

/// Retryable writes: a command retried with the same session and transaction number answers
/// with its first result and changes nothing more, also after a restart.
@Suite struct RetryableWritesTests {
    let session: [UInt8] = Array(repeating: 7, count: 16)

    func retry(_ txnNumber: Int64, _ ids: RetryableWrite.StatementIDs = .from(0)) -> RetryableWrite {
        RetryableWrite(session: session, sessionSuffix: " - s", txnNumber: txnNumber, statementIDs: ids)
    }

    func options(_ txnNumber: Int64, ordered: Bool = true) -> WriteOptions {
        WriteOptions(ordered: ordered, retryable: retry(txnNumber))
    }

    @Test(arguments: Backend.allCases)
    func aRetriedInsertCountsItsDocumentsWithoutInsertingThemAgain(backend: Backend) throws {
        let engine = try makeEngine(backend)
        defer { engine.close() }
        let first = try engine.insert(ns, [["_id": 1], ["_id": 2]], options: options(1))
        #expect(first.insertedCount == 2 && first.writeErrors.isEmpty)
        let again = try engine.insert(ns, [["_id": 1], ["_id": 2]], options: options(1))
        #expect(again.insertedCount == 2)
        #expect(again.writeErrors.isEmpty)
        #expect(engine.retryStatistics.retriedStatements.load(ordering: .relaxed) == 2)
        #expect(engine.retryStatistics.retriedCommands.load(ordering: .relaxed) == 1)
        // Without a transaction number the same insert is a new write: a duplicate.
        #expect(try engine.insert(ns, [["_id": 1]]).writeErrors.first?.error.code == .duplicateKey)
    }

    @Test(arguments: Backend.allCases)
    func anOrderedInsertRetriedAfterAFailureRunsOnlyWhatDidNotRun(backend: Backend) throws {
        let engine = try makeEngine(backend)
        defer { engine.close() }
        _ = try engine.insert(ns, [["_id": 2]])
        let first = try engine.insert(ns, [["_id": 1], ["_id": 2], ["_id": 3]], options: options(4))
        #expect(first.insertedCount == 1 && first.writeErrors.map(\.index) == [1])
        _ = try engine.delete(ns, [DeleteStatement(filter: ["_id": 2], limitOne: true)])
        let again = try engine.insert(ns, [["_id": 1], ["_id": 2], ["_id": 3]], options: options(4))
        #expect(again.insertedCount == 3 && again.writeErrors.isEmpty)
        #expect(try docs(engine.find(ns, FindRequest(sort: ["_id": 1]))) == [["_id": 1], ["_id": 2], ["_id": 3]])
    }

    @Test(arguments: Backend.allCases)
    func aRetriedIncrementIsAppliedOnceAndAnswersAsTheFirstTime(backend: Backend) throws {
        let engine = try makeEngine(backend)
        defer { engine.close() }
        _ = try engine.insert(ns, [["_id": 1, "n": 0]])
        let statements = [UpdateStatement(filter: ["_id": 1], update: ["$inc": ["n": 1]]),
                          UpdateStatement(filter: ["_id": 9], update: ["$set": ["n": 5]], upsert: true),
                          UpdateStatement(filter: ["_id": 42], update: ["$set": ["n": 5]])]
        let first = try engine.update(ns, statements, options: options(1))
        let again = try engine.update(ns, statements, options: options(1))
        #expect(first.matched == 1 && first.modified == 1 && first.upserted.map(\.id) == [9])
        #expect(again.matched == first.matched && again.modified == first.modified)
        #expect(again.upserted.map(\.index) == [1] && again.upserted.map(\.id) == [9])
        #expect(try docs(engine.find(ns, FindRequest(filter: ["_id": 1]))) == [["_id": 1, "n": 1]])
        // The next transaction number is a new write.
        _ = try engine.update(ns, [statements[0]], options: options(2))
        #expect(try docs(engine.find(ns, FindRequest(filter: ["_id": 1]))) == [["_id": 1, "n": 2]])
    }

    @Test func anOlderTransactionNumberIsRefused() throws {
        let engine = try Engine.inMemory()
        _ = try engine.insert(ns, [["_id": 1]], options: options(5))
        #expect(throws: FolioError.self) { _ = try engine.insert(ns, [["_id": 2]], options: options(4)) }
        do {
            _ = try engine.update(ns, [UpdateStatement(filter: [:], update: ["$set": ["a": 1]])], options: options(3))
            Issue.record("accepted")
        } catch {
            #expect(error.code == .transactionTooOld)
            #expect(error.message.contains("txnNumber 3 is prohibited on session 07070707-0707-0707-0707-070707070707 - s because"))
        }
        #expect(try docs(engine.find(ns, FindRequest())) == [["_id": 1]])
    }

    @Test func multiUpdatesAndDeletesAreNotRetryable() throws {
        let engine = try Engine.inMemory()
        _ = try engine.insert(ns, [["_id": 1, "x": 1], ["_id": 2, "x": 1]])
        let updated = try engine.update(ns, [UpdateStatement(filter: ["_id": 1], update: ["$set": ["y": 1]]),
                                             UpdateStatement(filter: ["x": 1], update: ["$set": ["z": 1]], multi: true)],
                                         options: options(1))
        #expect(updated.modified == 1)
        #expect(updated.writeErrors.map(\.index) == [1])
        #expect(updated.writeErrors.first?.error.code == .invalidOptions)
        let deleted = try engine.delete(ns, [DeleteStatement(filter: ["_id": 1], limitOne: true),
                                             DeleteStatement(filter: ["x": 1], limitOne: false)],
                                         options: WriteOptions(ordered: false, retryable: retry(2)))
        #expect(deleted.deleted == 1)
        #expect(deleted.writeErrors.map(\.index) == [1] && deleted.writeErrors.first?.error.code == .invalidOptions)
    }

    @Test(arguments: Backend.allCases)
    func aRetriedFindAndModifyReturnsTheFirstDocument(backend: Backend) throws {
        let engine = try makeEngine(backend)
        defer { engine.close() }
        _ = try engine.insert(ns, [["_id": 1, "n": 0]])
        let request = FindAndModifyRequest(filter: ["_id": 1], update: ["$inc": ["n": 1]], returnNew: true)
        let first = try engine.findAndModify(ns, request, retryable: retry(1))
        let again = try engine.findAndModify(ns, request, retryable: retry(1))
        #expect(first.value == ["_id": 1, "n": 1])
        #expect(again.value == first.value && again.matched == 1 && again.updatedExisting)
        let removal = FindAndModifyRequest(filter: ["_id": 1], remove: true)
        let removed = try engine.findAndModify(ns, removal, retryable: retry(2))
        let removedAgain = try engine.findAndModify(ns, removal, retryable: retry(2))
        #expect(removed.value == ["_id": 1, "n": 1] && removedAgain.value == removed.value)
    }

    @Test func theHistorySurvivesARestart() throws {
        let directory = tempDir()
        do {
            let engine = try Engine.open(directory: directory)
            _ = try engine.insert(ns, [["_id": 1, "n": 0]])
            _ = try engine.update(ns, [UpdateStatement(filter: ["_id": 1], update: ["$inc": ["n": 1]])], options: options(7))
            engine.close()
        }
        let engine = try Engine.open(directory: directory)
        defer { engine.close() }
        let again = try engine.update(ns, [UpdateStatement(filter: ["_id": 1], update: ["$inc": ["n": 1]])], options: options(7))
        #expect(again.matched == 1 && again.modified == 1)
        #expect(try docs(engine.find(ns, FindRequest())) == [["_id": 1, "n": 1]])
    }

    @Test func explicitStatementIDsIdentifyTheStatements() throws {
        let engine = try Engine.inMemory()
        _ = try engine.insert(ns, [["_id": 1]], options: WriteOptions(retryable: retry(1, .list([10]))))
        // The same statement id in another position of a later attempt is still the same statement.
        let again = try engine.insert(ns, [["_id": 2], ["_id": 1]], options: WriteOptions(retryable: retry(1, .list([11, 10]))))
        #expect(again.insertedCount == 2 && again.writeErrors.isEmpty)
        #expect(try docs(engine.find(ns, FindRequest(sort: ["_id": 1]))) == [["_id": 1], ["_id": 2]])
    }

    @Test func aFailureBeforeCommitUndoesTheStatementAndLetsTheRetryApplyIt() throws {
        let engine = try Engine.inMemory()
        _ = try engine.insert(ns, [["_id": 1, "n": 0]])
        var failing = retry(3)
        failing.beforeCommit = { () throws(FolioError) in throw FolioError(.internalError, "injected") }
        let statement = UpdateStatement(filter: ["_id": 1], update: ["$inc": ["n": 1]])
        let failed = try engine.update(ns, [statement], options: WriteOptions(retryable: failing))
        #expect(failed.modified == 0 && failed.writeErrors.first?.error.code == .internalError)
        let inserted = try engine.insert(ns, [["_id": 2], ["_id": 3]], options: WriteOptions(retryable: failing))
        #expect(inserted.insertedCount == 0 && inserted.writeErrors.map(\.index) == [0])
        #expect(try docs(engine.find(ns, FindRequest(filter: ["_id": 1]))) == [["_id": 1, "n": 0]])
        #expect(try engine.update(ns, [statement], options: options(3)).modified == 1)
        #expect(try engine.update(ns, [statement], options: options(3)).modified == 1)
        #expect(try docs(engine.find(ns, FindRequest())) == [["_id": 1, "n": 1]])
    }

    @Test func historiesOfIdleSessionsExpire() throws {
        let engine = try Engine.inMemory()
        _ = try engine.insert(ns, [["_id": 1]], options: options(1))
        let now = Int64(Date().timeIntervalSince1970 * 1000)
        #expect(try engine.expireRetryHistory(idleMilliseconds: 60_000, nowMilliseconds: now) == 0)
        #expect(try engine.expireRetryHistory(idleMilliseconds: 60_000, nowMilliseconds: now + 120_000) == 1)
        // Forgotten: the same transaction number is a new write again (a duplicate here).
        #expect(try engine.insert(ns, [["_id": 1]], options: options(1)).writeErrors.first?.error.code == .duplicateKey)
    }
}

extension RetryableWritesTests {
    /// Statement ids recorded in any order are each remembered once, in merged ranges.
    @Test func statementIDsInAnyOrder() throws {
        let engine = try Engine.inMemory()
        let ids: [Int32] = [5, 3, 4, 9, 1, 2, 7, 6, 8, 0, -4, Int32.max, Int32.min]
        let documents: [Document] = ids.indices.map { ["_id": .int32(Int32($0))] }
        let first = try engine.insert(ns, documents, options: WriteOptions(retryable: retry(1, .list(ids))))
        #expect(first.insertedCount == ids.count)
        // Every id is now a retry, whatever order it comes in; a new id is a new statement.
        let again = try engine.insert(ns, documents.reversed() + [["_id": 100]],
                                      options: WriteOptions(retryable: retry(1, .list(ids.reversed() + [10]))))
        #expect(again.insertedCount == ids.count + 1 && again.writeErrors.isEmpty)
        #expect(engine.retryStatistics.retriedStatements.load(ordering: .relaxed) == Int64(ids.count))
    }
}
