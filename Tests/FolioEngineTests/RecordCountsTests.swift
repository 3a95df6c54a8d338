import Foundation
import Testing
import FolioBSON
import FolioQuery
import FolioStorage
@testable import FolioEngine

/// Record counts kept by the commits (RecordCounts.swift, GroupCommit.swift): the count of a
/// collection without a filter is exact after every kind of write, undone write, catalog
/// change and restart, without counting the records.
@Suite struct RecordCountsTests {
    /// The count the engine keeps, and the records actually there.
    func counts(_ engine: Engine, _ namespace: Namespace) throws -> (kept: Int, real: Int) {
        var request = FindRequest()
        request.hint = ["$natural": 1]
        return (try engine.estimatedCount(namespace), try docs(engine.find(namespace, request)).count)
    }

    @Test(arguments: Backend.allCases)
    func countsFollowEveryWrite(backend: Backend) throws {
        let engine = try makeEngine(backend)
        defer { engine.close() }
        func check(_ expected: Int, _ namespace: Namespace = ns, line: Int = #line) throws {
            let (kept, real) = try counts(engine, namespace)
            #expect(kept == expected && real == expected, "line \(line): kept \(kept), real \(real)")
        }
        _ = try engine.insert(ns, (0..<10).map { ["_id": .int32(Int32($0)), "u": .int32(Int32($0))] })
        try check(10)
        // A unique index refuses one document of a batch: only the others count.
        _ = try engine.createIndexes(ns, [["key": ["u": 1], "name": "u_1", "unique": true]])
        let partly = try engine.insert(ns, [["_id": 10, "u": 10], ["_id": 11, "u": 1], ["_id": 12, "u": 12]],
                                       options: WriteOptions(ordered: false))
        #expect(partly.insertedCount == 2)
        try check(12)
        // Updates move no count; upserts add one; deletes remove.
        _ = try engine.update(ns, [UpdateStatement(filter: ["_id": 1], update: ["$set": ["x": 1]]),
                                   UpdateStatement(filter: ["_id": 99], update: ["$set": ["u": 99]], upsert: true)])
        try check(13)
        _ = try engine.delete(ns, [DeleteStatement(filter: ["u": ["$gte": 10]], limitOne: false)])
        try check(10)
        _ = try engine.findAndModify(ns, FindAndModifyRequest(filter: ["_id": 0], remove: true))
        try check(9)
        _ = try engine.findAndModify(ns, FindAndModifyRequest(filter: ["_id": 50], update: ["$set": ["u": 50]], upsert: true))
        try check(10)
        // A failing statement in a retryable write, and a retry, leave the count exact.
        var failing = RetryableWrite(session: [1], txnNumber: 1)
        failing.beforeCommit = { () throws(FolioError) in throw FolioError(.internalError, "injected") }
        _ = try engine.insert(ns, [["_id": 100, "u": 100]], options: WriteOptions(retryable: failing))
        try check(10)
        let retry = RetryableWrite(session: [1], txnNumber: 1)
        _ = try engine.insert(ns, [["_id": 100, "u": 100]], options: WriteOptions(retryable: retry))
        _ = try engine.insert(ns, [["_id": 100, "u": 100]], options: WriteOptions(retryable: retry))
        try check(11)
        // Rename, drop, and a collection that is created by its first insert.
        let renamed = try Namespace(database: "app", collection: "renamed")
        try engine.renameCollection(ns, to: renamed)
        try check(11, renamed)
        try check(0)
        _ = try engine.insert(ns, [["_id": 1]])
        try check(1)
        _ = try engine.dropCollection(renamed)
        try check(0, renamed)
        try engine.dropDatabase("app")
        try check(0)
    }

    @Test func countsAreExactAfterARestart() throws {
        let directory = tempDir()
        do {
            let engine = try Engine.open(directory: directory)
            _ = try engine.insert(ns, (0..<500).map { ["_id": .int32(Int32($0))] })
            _ = try engine.delete(ns, [DeleteStatement(filter: ["_id": ["$lt": 100]], limitOne: false)])
            engine.close()
        }
        let engine = try Engine.open(directory: directory)
        defer { engine.close() }
        let (kept, real) = try counts(engine, ns)
        #expect(kept == 400 && real == 400)
    }

    /// A clean close leaves the counts with the change log's newest key; the next open takes
    /// them instead of counting while that key is still the newest, and removes them before
    /// any write (so after kill -9 there are none, and the open counts).
    @Test func aCleanCloseLeavesTheCountsForTheNextOpen() throws {
        let directory = tempDir()
        let store: String
        do {
            let engine = try Engine.open(directory: directory)
            _ = try engine.insert(ns, (0..<300).map { ["_id": .int32(Int32($0))] })
            _ = try engine.delete(ns, [DeleteStatement(filter: ["_id": ["$lt": 50]], limitOne: false)])
            store = try #require(engine.entry(ns)?.recordStore)
            engine.close()
            #expect(throws: FolioError.self) { try engine.insert(ns, [["_id": 1000]]) }
        }
        /// The saved row and the change log's newest key, read from storage directly.
        func saved(_ storage: any StorageEngine) throws -> (row: [UInt8]?, newest: [UInt8]?) {
            let s = try storage.snapshot()
            defer { s.close() }
            return (try s.get(Engine.metaStore, RecordCounts.savedKey), try s.scan(ChangeLog.store, .all, reverse: true, limit: 1).first?.key)
        }
        /// Replaces the saved row with one that says `count`, and optionally adds a change-log
        /// entry after it (a write the row does not know of).
        func tamper(count: Int, writeAfter: Bool) throws {
            let storage = try SQLiteStorageEngine(directory: directory)
            defer { storage.close() }
            let (row, newest) = try saved(storage)
            #expect(RecordCounts.decode(try #require(row), changeLogNewest: newest)?[store] == 250)
            let w = try storage.beginWrite()
            try w.put(Engine.metaStore, RecordCounts.savedKey, RecordCounts.encode([store: count], changeLogNewest: newest))
            if writeAfter { try w.put(ChangeLog.store, (newest ?? []) + [0xFF], Document().bsonBytes()) }
            try w.commit(durable: true)
        }
        // Taken without counting: a row that says 7 gives 7, and is gone once the engine is open.
        try tamper(count: 7, writeAfter: false)
        do {
            let engine = try Engine.open(directory: directory)
            #expect(try engine.estimatedCount(ns) == 7)
            #expect(try saved(engine.storage).row == nil)
            engine.committer.recordCounts.load(store, 250)  // the true count, for the next close
            engine.close()
        }
        // A change-log entry after the row: the open counts.
        try tamper(count: 7, writeAfter: true)
        let engine = try Engine.open(directory: directory)
        defer { engine.close() }
        let (kept, real) = try counts(engine, ns)
        #expect(kept == 250 && real == 250)
    }

    @Test func savedCountsThatDoNotDecodeAreIgnored() {
        let good = RecordCounts.encode(["a": 1, "b": 2], changeLogNewest: [1, 2])
        #expect(RecordCounts.decode(good, changeLogNewest: [1, 2]) == ["a": 1, "b": 2])
        #expect(RecordCounts.decode(good, changeLogNewest: [1, 3]) == nil)
        #expect(RecordCounts.decode(good, changeLogNewest: nil) == nil)
        #expect(RecordCounts.decode(RecordCounts.encode([:], changeLogNewest: nil), changeLogNewest: nil) == [:])
        #expect(RecordCounts.decode(RecordCounts.encode([:], changeLogNewest: nil), changeLogNewest: [0]) == nil)
        #expect(RecordCounts.decode(Array(good.dropLast()), changeLogNewest: [1, 2]) == nil)
        #expect(RecordCounts.decode([], changeLogNewest: nil) == nil)
    }

    /// Concurrent writers, some failing: the count is the number of records.
    @Test func concurrentWritersKeepTheCountExact() throws {
        let engine = try Engine.open(directory: tempDir())
        defer { engine.close() }
        DispatchQueue.concurrentPerform(iterations: 8) { t in
            for i in 0..<200 {
                let id = BSON.int32(Int32(t * 1000 + i % 150))  // repeats: some inserts fail as duplicates
                _ = try? engine.insert(ns, [["_id": id]])
                if i % 7 == 0 { _ = try? engine.delete(ns, [DeleteStatement(filter: ["_id": id], limitOne: true)]) }
            }
        }
        let (kept, real) = try counts(engine, ns)
        #expect(kept == real && real > 0)
    }

    /// countDocuments({}) (the drivers' `$match {}` + `$group` count) is answered from the kept
    /// count, with the same answer as the pipeline run in full.
    @Test func countDocumentsOfEverythingUsesTheCount() throws {
        let engine = try Engine.inMemory()
        func run(_ pipeline: [BSON]) throws -> [Document] {
            try docs(engine.aggregate(database: ns.database, collection: ns.collection, AggregateRequest(pipeline: pipeline)))
        }
        let fast: [BSON] = [["$match": [:]], ["$group": ["_id": 1, "n": ["$sum": 1]]]]
        let full: [BSON] = [["$match": [:]], ["$group": ["_id": 1, "n": ["$sum": .int32(1)]]], ["$match": [:]]]
        #expect(try run(fast) == [])
        _ = try engine.insert(ns, (0..<25).map { ["_id": .int32(Int32($0))] })
        #expect(try run(fast) == [["_id": 1, "n": 25]])
        #expect(try run(fast) == run(full))
    }
}
