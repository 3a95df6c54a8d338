import Foundation
import Testing
import FolioBSON
import FolioQuery
import FolioStorage
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

/// Where the history lives between commits (RetryableWrites.swift): in the change log entry of
/// the commit that made it and in memory, put into its store once a second, before the log
/// is trimmed and at a clean close; read back from the log after a crash.
extension RetryableWritesTests {
    func stored(_ engine: Engine) throws -> [UInt8]? {
        let snapshot = try engine.storage.snapshot()
        defer { snapshot.close() }
        return try snapshot.get(Engine.retryHistoryStore, session)
    }

    /// A no-op change log entry carrying the session's record for `txnNumber`, statement 0.
    func retryEntry(txnNumber: Int64) throws -> Document {
        let record = (["t": .int64(txnNumber), "w": .datetime(0), "e": [0, 0]] as Document).bsonBytes()
        var entry: Document = ["op": "n", "ns": "", "o": .document([:])]
        entry.append(ChangeLog.retryField, .array(try RawDocument(validating: RetryHistoryCache.encode([(session, record)])).document().map { _, v in v }))
        return entry
    }

    /// A crash: storage closes without the engine's close (nothing is flushed or saved).
    func crash(_ engine: Engine) {
        engine.resumedBuilds?.stop()
        engine.storage.close()
    }

    @Test func aRetryAfterACrashAnswersFromTheChangeLog() throws {
        let dir = tempDir()
        let bump = UpdateStatement(filter: ["_id": 1], update: ["$inc": ["n": 1]])
        let request = FindAndModifyRequest(filter: ["_id": 2], update: ["$inc": ["n": 10]], returnNew: true)
        do {
            let engine = try Engine.open(directory: dir)
            _ = try engine.insert(ns, [["_id": 2, "n": 0]])
            #expect(try engine.insert(ns, [["_id": 1, "n": 0], ["_id": 3]], options: options(1)).insertedCount == 2)
            #expect(try engine.update(ns, [bump], options: options(2)).modified == 1)
            #expect(try engine.findAndModify(ns, request, retryable: retry(3)).value == ["_id": 2, "n": 10])
            // Only the change log and memory hold the history yet.
            #expect(try stored(engine) == nil)
            #expect(try engine.lastTransaction(session: session)?.txnNumber == 3)
            crash(engine)
        }
        let engine = try Engine.open(directory: dir)
        defer { engine.close() }
        #expect(try stored(engine) != nil)
        #expect(try engine.lastTransaction(session: session)?.txnNumber == 3)
        let again = try engine.findAndModify(ns, request, retryable: retry(3))
        #expect(again.value == ["_id": 2, "n": 10] && again.matched == 1)
        #expect(try docs(engine.find(ns, FindRequest(sort: ["_id": 1]))) == [["_id": 1, "n": 1], ["_id": 2, "n": 10], ["_id": 3]])
        // Older transaction numbers are refused: the history knows the session reached 3.
        #expect(throws: FolioError.self) { try engine.update(ns, [bump], options: options(2)) }
    }

    @Test func anOlderRetryIsAnsweredFromTheChangeLogAfterACrash() throws {
        let dir = tempDir()
        do {
            let engine = try Engine.open(directory: dir)
            #expect(try engine.insert(ns, [["_id": 1], ["_id": 2]], options: options(5)).insertedCount == 2)
            crash(engine)
        }
        let engine = try Engine.open(directory: dir)
        defer { engine.close() }
        let again = try engine.insert(ns, [["_id": 1], ["_id": 2]], options: options(5))
        #expect(again.insertedCount == 2 && again.writeErrors.isEmpty)
    }

    @Test func theStoreCatchesUpBeforeATrimAndAtAClose() throws {
        let dir = tempDir()
        do {
            let engine = try Engine.open(directory: dir)
            _ = try engine.insert(ns, [["_id": 1]], options: options(1))
            #expect(try stored(engine) == nil)
            engine.changeLogRetention = ChangeLogRetention(maxBytes: 1, minRetentionHours: 0)
            #expect(try engine.trimChangeLog() > 0)
            #expect(try stored(engine) != nil)
            _ = try engine.insert(ns, [["_id": 2]], options: options(2))
            engine.close()
        }
        let engine = try Engine.open(directory: dir)
        defer { engine.close() }
        let record = try #require(try stored(engine).flatMap { try? Document(bsonBytes: $0) })
        #expect(record["t"] == .int64(2))
        #expect(try engine.insert(ns, [["_id": 2]], options: options(2)).writeErrors.isEmpty)
    }

    /// A commit with nothing to log (an update that changes nothing) puts the history into
    /// the store itself, with every record memory held.
    @Test func aCommitWithoutLogEntriesStoresTheHistory() throws {
        let engine = try Engine.open(directory: tempDir())
        defer { engine.close() }
        _ = try engine.insert(ns, [["_id": 1, "n": 0]], options: options(1))
        #expect(try stored(engine) == nil)
        let same = try engine.update(ns, [UpdateStatement(filter: ["_id": 1], update: ["$set": ["n": 0]])], options: options(2))
        #expect(same.matched == 1 && same.modified == 0)
        let record = try #require(try stored(engine).flatMap { try? Document(bsonBytes: $0) })
        #expect(record["t"] == .int64(2))
    }

    /// The records are not part of what local.oplog.rs shows.
    @Test func theOplogDoesNotShowTheRecords() throws {
        let engine = try Engine.inMemory()
        _ = try engine.insert(ns, [["_id": 1]], options: options(1))
        let entries = try docs(engine.find(try Namespace(database: "local", collection: "oplog.rs"), FindRequest(filter: ["op": "i"])))
        #expect(entries.count == 1 && entries.allSatisfy { $0[ChangeLog.retryField] == nil })
    }
}

extension RetryableWritesTests {
    /// Past 1,000 sessions the next commit puts them into the store, and the first commit
    /// after they are a second old does.
    @Test func manySessionsOrASecondPutTheHistoryIntoItsStore() throws {
        let engine = try Engine.inMemory()
        func storedCount() throws -> Int {
            let snapshot = try engine.storage.snapshot()
            defer { snapshot.close() }
            return try snapshot.count(Engine.retryHistoryStore)
        }
        for i in 0..<RetryHistoryCache.maxSessions {
            let s = [UInt8](repeating: 0, count: 14) + [UInt8(i >> 8), UInt8(i & 0xFF)]
            _ = try engine.insert(ns, [["_id": .int32(Int32(i))]], options: WriteOptions(retryable: RetryableWrite(session: s, txnNumber: 1)))
        }
        #expect(try storedCount() == 0)
        _ = try engine.insert(ns, [["_id": -1]], options: options(1))
        #expect(try storedCount() == RetryHistoryCache.maxSessions + 1)
        _ = try engine.insert(ns, [["_id": -2]], options: options(2))
        _ = try engine.insert(ns, [["_id": -3]], options: options(3))
        #expect(try stored(engine).flatMap { try? Document(bsonBytes: $0) }?["t"] == .int64(1))
        Thread.sleep(forTimeInterval: 1.1)
        _ = try engine.insert(ns, [["_id": -4]])
        #expect(engine.committer.retryCache.isEmpty)
        #expect(try stored(engine).flatMap { try? Document(bsonBytes: $0) }?["t"] == .int64(3))
    }
}

extension RetryableWritesTests {
    /// Rows after the flushed key are read back at the open: `$retry` fields of the wrong
    /// shape are skipped, well-formed ones kept; a row that is not a sequence of BSON
    /// documents fails the open with a clear error instead of a crash.
    @Test func theOpenReadsMalformedRecordsSafely() throws {
        let dir = tempDir()
        do {
            let engine = try Engine.open(directory: dir)
            _ = try engine.insert(ns, [["_id": 1]])
            engine.close()
        }
        func append(_ rows: [[UInt8]]) throws {
            let storage = try SQLiteStorageEngine(directory: dir)
            defer { storage.close() }
            let w = try storage.beginWrite()
            var key = try #require(try ChangeLog.newestKey(w))
            for row in rows {
                key[key.count - 1] &+= 1
                try w.put(ChangeLog.store, key, row)
            }
            try w.commit(durable: true)
        }
        var entries: [[UInt8]] = []
        for retry: BSON in [.string("x"), .array([.int32(1), .document(["k": 1, "r": 2]), .document(["k": .binary(Binary(subtype: 0, data: [1]))])])] {
            var d: Document = ["op": "n", "ns": "", "o": .document([:])]
            d.append(ChangeLog.retryField, retry)
            entries.append(d.bsonBytes())
        }
        try append(entries + [try retryEntry(txnNumber: 9).bsonBytes()])
        do {
            let engine = try Engine.open(directory: dir)
            #expect(try engine.lastTransaction(session: session)?.txnNumber == 9)
            engine.close()
        }
        try append([[9, 0, 0, 0, 3, 0xFF]])
        #expect(throws: FolioError.self) { try Engine.open(directory: dir) }
    }
}

extension RetryableWritesTests {
    /// A directory from before the flushed key: its store has every record, and its change
    /// log is not read at the open (no entry of that time carries records); the key is
    /// written for the next open.
    @Test func aDirectoryWithoutTheFlushedKeyKeepsItsStore() throws {
        let dir = tempDir()
        do {
            let engine = try Engine.open(directory: dir)
            _ = try engine.insert(ns, [["_id": 1]], options: options(4))
            engine.close()
        }
        do {
            let storage = try SQLiteStorageEngine(directory: dir)
            defer { storage.close() }
            let w = try storage.beginWrite()
            #expect(try w.delete(Engine.metaStore, RetryHistoryCache.flushedKey))
            // An entry with records after it would be read back if the open looked.
            var key = try #require(try ChangeLog.newestKey(w))
            key[key.count - 1] &+= 1
            try w.put(ChangeLog.store, key, try retryEntry(txnNumber: 99).bsonBytes())
            try w.commit(durable: true)
        }
        let engine = try Engine.open(directory: dir)
        defer { engine.close() }
        #expect(try engine.lastTransaction(session: session)?.txnNumber == 4)
        let snapshot = try engine.storage.snapshot()
        defer { snapshot.close() }
        #expect(try snapshot.get(Engine.metaStore, RetryHistoryCache.flushedKey) != nil)
        #expect(try engine.insert(ns, [["_id": 1]], options: options(4)).writeErrors.isEmpty)
    }
}
