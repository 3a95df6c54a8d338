import Dispatch
import Foundation
import Testing
import FolioBSON
import FolioQuery
@testable import FolioEngine
import FolioTestSupport

func tempDir() -> String {
    TestSupport.scratchPath("folio-engine")
}

enum Backend: String, CaseIterable, Sendable { case memory, sqlite }

func makeEngine(_ b: Backend) throws -> Engine {
    switch b {
    case .memory: return try Engine.inMemory()
    case .sqlite: return try Engine.open(directory: tempDir())
    }
}

let ns = try! Namespace(database: "app", collection: "users")

func docs(_ cursor: Cursor) throws -> [Document] { try cursor.all().map { $0.document() } }

@Suite struct EngineWriteTests {
    @Test(arguments: Backend.allCases)
    func insertAddsObjectIdFirstAndCreatesTheCollection(backend: Backend) throws {
        let engine = try makeEngine(backend)
        defer { engine.close() }
        #expect(!engine.collectionExists(ns))
        let r = try engine.insert(ns, [["name": "ada"], ["x": 1, "_id": 7]])
        #expect(r.insertedCount == 2 && r.writeErrors.isEmpty)
        #expect(r.insertedIDs[0]?.type == .objectID)
        #expect(engine.collectionExists(ns))
        let all = try docs(engine.find(ns, FindRequest(sort: ["x": 1])))
        #expect(all.map { $0.fieldNames.first } == ["_id", "_id"])
        #expect(all[1] == ["_id": 7, "x": 1])
        #expect(engine.databaseNames() == ["app"])
    }

    @Test(arguments: Backend.allCases)
    func duplicateKeyHasMongoDBsShape(backend: Backend) throws {
        let engine = try makeEngine(backend)
        defer { engine.close() }
        _ = try engine.insert(ns, [["_id": "a@b.c"]])
        let r = try engine.insert(ns, [["_id": "a@b.c", "v": 2]])
        #expect(r.insertedCount == 0)
        let e = try #require(r.writeErrors.first)
        #expect(e.index == 0 && e.error.code == .duplicateKey)
        #expect(e.error.message == #"E11000 duplicate key error collection: app.users index: _id_ dup key: { _id: "a@b.c" }"#)
        #expect(e.error.extraFields == ["keyPattern": ["_id": 1], "keyValue": ["_id": "a@b.c"]])
        // Numeric equality across types makes 1 and 1.0 the same key.
        _ = try engine.insert(ns, [["_id": 1]])
        #expect(try engine.insert(ns, [["_id": 1.0]]).writeErrors.first?.error.code == .duplicateKey)
    }

    @Test(arguments: Backend.allCases)
    func orderedStopsUnorderedContinues(backend: Backend) throws {
        let engine = try makeEngine(backend)
        defer { engine.close() }
        let batch: [Document] = [["_id": 1], ["_id": 1], ["_id": 2]]
        let ordered = try engine.insert(ns, batch)
        #expect(ordered.insertedCount == 1 && ordered.writeErrors.map(\.index) == [1])
        let unordered = try engine.insert(try Namespace(database: "app", collection: "u2"), batch, options: WriteOptions(ordered: false))
        #expect(unordered.insertedCount == 2 && unordered.writeErrors.map(\.index) == [1])
    }

    /// Documents an index cannot take are refused with nothing of them written, without a
    /// savepoint per document, also while concurrent batches share group commits; a unique
    /// index's duplicates are still undone alone.
    @Test(arguments: Backend.allCases)
    func indexRefusalsLeaveNothingBehindInConcurrentBatches(backend: Backend) throws {
        let engine = try makeEngine(backend)
        defer { engine.close() }
        _ = try engine.createIndexes(ns, [["key": ["tags": 1, "n": 1], "name": "tags_n"], ["key": ["city": 1], "name": "city"]])
        let other = try Namespace(database: "app", collection: "unique")
        _ = try engine.createIndexes(other, [["key": ["email": 1], "name": "email", "unique": true]])
        let writers = 4, perBatch = 50
        let lock = NSLock()
        nonisolated(unsafe) var results: [(InsertResult, InsertResult)] = []
        DispatchQueue.concurrentPerform(iterations: writers) { w in
            let batch: [Document] = (0..<perBatch).map { i in
                let id = BSON.int32(Int32(w * 1000 + i))
                // Every tenth document has parallel arrays, which the compound index refuses.
                return i % 10 == 3 ? ["_id": id, "tags": [1, 2], "n": [3, 4], "city": "bad"]
                                   : ["_id": id, "tags": [.int32(Int32(i)), "x"], "n": .int32(Int32(i)), "city": .string("c\(w)")]
            }
            // Every tenth email repeats the one before it.
            let emails: [Document] = (0..<perBatch).map { i in ["_id": .int32(Int32(w * 1000 + i)), "email": .string("w\(w)-\(i % 10 == 5 ? i - 1 : i)")] }
            let r1 = try! engine.insert(ns, batch, options: WriteOptions(ordered: false))
            let r2 = try! engine.insert(other, emails, options: WriteOptions(ordered: false))
            lock.withLock { results.append((r1, r2)) }
        }
        #expect(results.count == writers)
        for (r1, r2) in results {
            #expect(r1.writeErrors.map(\.index) == [3, 13, 23, 33, 43])
            #expect(r1.writeErrors.allSatisfy { $0.error.code == .cannotIndexParallelArrays })
            #expect(r1.insertedCount == perBatch - 5)
            #expect(r2.writeErrors.map(\.index) == [5, 15, 25, 35, 45])
            #expect(r2.writeErrors.allSatisfy { $0.error.code == .duplicateKey })
        }
        #expect(try engine.count(ns, filter: [:]) == writers * (perBatch - 5))
        #expect(try engine.count(ns, filter: ["city": "bad"]) == 0)
        #expect(try engine.count(ns, filter: ["city": "c2"]) == perBatch - 5)
        #expect(try engine.count(ns, filter: ["tags": "x"]) == writers * (perBatch - 5))
        #expect(try engine.count(other, filter: [:]) == writers * (perBatch - 5))
        #expect(try engine.validate(ns).isValid)
        #expect(try engine.validate(other).isValid)
    }

    @Test(arguments: Backend.allCases)
    func hostileDocumentsAreRejectedWithMongoDBCodes(backend: Backend) throws {
        let engine = try makeEngine(backend)
        defer { engine.close() }
        let big = String(repeating: "x", count: Limits.maximumDocumentSizeBytes)
        var deep: BSON = 1
        for _ in 0..<120 { deep = .document(["a": deep]) }
        let cases: [(Document, ErrorCode)] = [
            (["_id": [1, 2]], .invalidIdField),
            (["_id": .undefined], .invalidIdField),
            (["_id": .regex(BSONRegex(pattern: "x"))], .badValue),
            (["_id": ["$bad": 1]], .dollarPrefixedFieldName),
            (["big": .string(big)], .bsonObjectTooLarge),
            (["deep": deep], .overflow),
        ]
        for (d, code) in cases {
            let r = try engine.insert(ns, [d])
            #expect(r.writeErrors.first?.error.code == code, "\(code)")
        }
        #expect(try engine.count(ns) == 0)
    }

    @Test(arguments: Backend.allCases)
    func updatesUpsertsAndReplacements(backend: Backend) throws {
        let engine = try makeEngine(backend)
        defer { engine.close() }
        _ = try engine.insert(ns, [["_id": 1, "n": 1], ["_id": 2, "n": 2], ["_id": 3, "n": 3]])
        var r = try engine.update(ns, [UpdateStatement(filter: ["n": ["$gte": 2]], update: ["$inc": ["n": 10]], multi: true)])
        #expect(r.matched == 2 && r.modified == 2)
        r = try engine.update(ns, [UpdateStatement(filter: ["_id": 1], update: ["$set": ["n": 1]])])
        #expect(r.matched == 1 && r.modified == 0)
        r = try engine.update(ns, [UpdateStatement(filter: ["_id": 9, "k": "v"], update: ["$set": ["z": true]], upsert: true)])
        #expect(r.upserted.map(\.id) == [9])
        #expect(try docs(engine.find(ns, FindRequest(filter: ["_id": 9]))) == [["_id": 9, "k": "v", "z": true]])
        r = try engine.update(ns, [UpdateStatement(filter: ["_id": 2], update: ["other": 1])])
        #expect(r.modified == 1)
        #expect(try docs(engine.find(ns, FindRequest(filter: ["_id": 2]))) == [["_id": 2, "other": 1]])
        r = try engine.update(ns, [UpdateStatement(filter: ["_id": 2], update: ["_id": 3])])
        #expect(r.writeErrors.first?.error.code == .immutableField)
        r = try engine.update(ns, [UpdateStatement(filter: [:], update: ["a": 1], multi: true)])
        #expect(r.writeErrors.first?.error.code == .failedToParse)
        // updateOne with sort (MongoDB 8.0) picks the first document in sort order.
        r = try engine.update(ns, [UpdateStatement(filter: ["n": ["$exists": true]], update: ["$set": ["top": true]], sort: ["n": -1])])
        #expect(try docs(engine.find(ns, FindRequest(filter: ["top": true]))).map { $0["_id"] } == [3])
    }

    @Test(arguments: Backend.allCases)
    func deletesAndFindAndModify(backend: Backend) throws {
        let engine = try makeEngine(backend)
        defer { engine.close() }
        _ = try engine.insert(ns, (1...5).map { ["_id": .int32(Int32($0)), "g": .int32(Int32($0 % 2))] })
        #expect(try engine.delete(ns, [DeleteStatement(filter: ["g": 1], limitOne: true)]).deleted == 1)
        #expect(try engine.delete(ns, [DeleteStatement(filter: ["g": 1], limitOne: false)]).deleted == 2)
        var f = try engine.findAndModify(ns, FindAndModifyRequest(filter: ["g": 0], sort: ["_id": -1], update: ["$set": ["seen": true]], returnNew: true))
        #expect(f.value == ["_id": 4, "g": 0, "seen": true] && f.updatedExisting)
        f = try engine.findAndModify(ns, FindAndModifyRequest(filter: ["_id": 2], remove: true))
        #expect(f.value == ["_id": 2, "g": 0])
        f = try engine.findAndModify(ns, FindAndModifyRequest(filter: ["_id": 50], update: ["$set": ["u": 1]], returnNew: true, fields: ["u": 1], upsert: true))
        #expect(f.value == ["_id": 50, "u": 1] && f.upsertedID == 50 && !f.updatedExisting)
        #expect(throws: FolioError.self) { try engine.findAndModify(ns, FindAndModifyRequest(filter: [:])) }
    }
}

@Suite struct EngineReadTests {
    @Test(arguments: Backend.allCases)
    func cursorsStreamFromOneSnapshotInBatches(backend: Backend) throws {
        let engine = try makeEngine(backend)
        defer { engine.close() }
        _ = try engine.insert(ns, (0..<1000).map { ["_id": .int32(Int32($0)), "v": .int32(Int32($0 % 10))] })
        let cursor = try engine.find(ns, FindRequest(filter: ["v": 3]))
        let first = try cursor.next(maxCount: 7)
        #expect(first.count == 7)
        // Writes after the cursor opened are not visible to it.
        _ = try engine.insert(ns, [["_id": 5000, "v": 3]])
        _ = try engine.delete(ns, [DeleteStatement(filter: ["_id": 3], limitOne: true)])
        let rest = try cursor.all()
        #expect(first.count + rest.count == 100)
        #expect(cursor.isExhausted)
        #expect(try engine.count(ns, filter: ["v": 3]) == 100)
    }

    @Test(arguments: Backend.allCases)
    func sortSkipLimitProjection(backend: Backend) throws {
        let engine = try makeEngine(backend)
        defer { engine.close() }
        _ = try engine.insert(ns, [["_id": 1, "a": 3, "b": "x"], ["_id": 2, "a": [1, 9]], ["_id": 3], ["_id": 4, "a": 2, "b": "y"]])
        let got = try docs(engine.find(ns, FindRequest(sort: ["a": 1, "_id": -1], projection: ["b": 0], skip: 1, limit: 2)))
        #expect(got == [["_id": 2, "a": [1, 9]], ["_id": 4, "a": 2]])
        #expect(try engine.distinct(ns, key: "a") == [3, 1, 9, 2])
    }

    @Test func sortsBeyondTheMemoryLimitSpillOrFail() throws {
        let engine = try Engine.inMemory()
        defer { engine.close() }
        _ = try engine.insert(ns, (0..<3000).map { ["_id": .int32(Int32($0)), "k": .int32(Int32(($0 * 7919) % 3000)), "pad": .string(String(repeating: "p", count: 200))] })
        // The sort runs when the first batch is read (as the find command does).
        let error = failure { try engine.find(ns, FindRequest(sort: ["k": 1], allowDiskUse: false), sortMemoryLimitBytes: 64 * 1024).next() }
        #expect(error?.code == .queryExceededMemoryLimitNoDiskUseAllowed)
        let spilled = try docs(engine.find(ns, FindRequest(sort: ["k": -1], allowDiskUse: true), sortMemoryLimitBytes: 64 * 1024))
        #expect(spilled.count == 3000)
        #expect(spilled.map { $0["k"]!.exactInt64! } == (0..<3000).reversed().map { Int64($0) })
    }

    /// A sort with a limit keeps only skip + limit documents (top-k): within a memory limit
    /// the whole input would exceed, without spilling, ties in input order.
    @Test func aSortWithALimitKeepsOnlyTheBest() throws {
        let engine = try Engine.inMemory()
        defer { engine.close() }
        _ = try engine.insert(ns, (0..<3000).map { ["_id": .int32(Int32($0)), "k": .int32(Int32(($0 * 7919) % 300)), "pad": .string(String(repeating: "p", count: 200))] })
        let request = FindRequest(sort: ["k": 1], skip: 5, limit: 20, allowDiskUse: false)
        let got = try docs(engine.find(ns, request, sortMemoryLimitBytes: 64 * 1024))
        // k repeats every 300 ids: each k value has 10 documents, in _id order.
        let expected = (0..<3000).map { (id: $0, k: ($0 * 7919) % 300) }.sorted { ($0.k, $0.id) < ($1.k, $1.id) }.dropFirst(5).prefix(20)
        #expect(got.map { $0["_id"]!.exactInt64! } == expected.map { Int64($0.id) })
        // skip + limit saturates at Int.max (found by the chaos test: 2 × keep overflowed).
        #expect(try docs(engine.find(ns, FindRequest(sort: ["k": 1], skip: Int.max - 1, limit: 5))).isEmpty)
    }

    @Test func catalogSurvivesRestartAndRename() throws {
        let dir = tempDir()
        do {
            let engine = try Engine.open(directory: dir)
            _ = try engine.insert(ns, [["_id": 1]])
            try engine.createCollection(try Namespace(database: "app", collection: "empty"), options: ["capped": false])
            try engine.renameCollection(ns, to: try Namespace(database: "other", collection: "people"))
            engine.close()
        }
        let engine = try Engine.open(directory: dir)
        defer { engine.close() }
        #expect(engine.databaseNames() == ["app", "other"])
        #expect(engine.collections(in: "app").map(\.name) == ["empty"])
        // MongoDB stores `capped` only when true.
        #expect(engine.collections(in: "app").first?.options == [:])
        #expect(try docs(engine.find(try Namespace(database: "other", collection: "people"), FindRequest())) == [["_id": 1]])
        #expect(throws: FolioError.self) { try engine.createCollection(try Namespace(database: "app", collection: "empty"), options: ["x": 1]) }
        #expect(try engine.dropCollection(try Namespace(database: "app", collection: "empty")))
        #expect(try !engine.dropCollection(try Namespace(database: "app", collection: "empty")))
    }

    @Test func namespacesAreValidated() {
        #expect(throws: FolioError.self) { try Namespace(database: "a.b", collection: "c") }
        #expect(throws: FolioError.self) { try Namespace(database: "db", collection: "") }
        #expect(throws: FolioError.self) { try Namespace(database: "db", collection: "$x") }
        #expect(throws: FolioError.self) { try Namespace(database: String(repeating: "d", count: 70), collection: "c") }
    }

    @Test func secondProcessIsLockedOut() throws {
        let dir = tempDir()
        let engine = try Engine.open(directory: dir)
        defer { engine.close() }
        #expect(throws: FolioError.self) { try Engine.open(directory: dir) }
    }
}

@Suite struct EngineConcurrencyTests {
    /// Many threads write at once; group commit acknowledges every write and loses none.
    @Test(arguments: Backend.allCases)
    func concurrentWritersAreAllAcknowledgedAndPresent(backend: Backend) throws {
        let engine = try makeEngine(backend)
        defer { engine.close() }
        let threads = 8, perThread = 200
        DispatchQueue.concurrentPerform(iterations: threads) { t in
            for i in 0..<perThread {
                let r = try! engine.insert(ns, [["_id": .int32(Int32(t * perThread + i)), "t": .int32(Int32(t))]])
                precondition(r.insertedCount == 1)
                if i % 10 == 0 {
                    let u = try! engine.update(ns, [UpdateStatement(filter: ["_id": .int32(Int32(t * perThread + i))], update: ["$inc": ["n": 1]])])
                    precondition(u.matched == 1 && u.modified == 1, "update of \(t * perThread + i): matched \(u.matched) modified \(u.modified) errors \(u.writeErrors.map(\.error))")
                }
            }
        }
        #expect(try engine.count(ns) == threads * perThread)
        let updated = try engine.count(ns, filter: ["n": 1])
        let scanned = try engine.find(ns, FindRequest()).all().filter { $0.lookup("n") != nil }.count
        #expect(updated == threads * perThread / 10, "count \(updated), scan \(scanned)")
    }
}

@Suite struct EngineUpdateAfterInsertTests {
    @Test(arguments: Backend.allCases)
    func updateByIDAfterInsert(backend: Backend) throws {
        let engine = try makeEngine(backend)
        defer { engine.close() }
        for i in 0..<50 {
            _ = try engine.insert(ns, [["_id": .int32(Int32(i))]])
            let r = try engine.update(ns, [UpdateStatement(filter: ["_id": .int32(Int32(i))], update: ["$inc": ["n": 1]])])
            #expect(r.matched == 1 && r.modified == 1 && r.writeErrors.isEmpty, "i \(i): \(r.matched) \(r.modified) \(r.writeErrors.map(\.error))")
        }
        #expect(try engine.count(ns, filter: ["n": 1]) == 50)
    }
}

@Suite struct EngineTimeLimitTests {
    @Test func maxTimeMSStopsALongQueryWithError50() throws {
        let engine = try Engine.inMemory()
        defer { engine.close() }
        _ = try engine.insert(ns, (0..<20_000).map { ["_id": .int32(Int32($0)), "v": .int32(Int32($0 % 7))] })
        // A $where-free slow filter: $expr over every document, with a 1 ms budget.
        let slow: Document = ["$expr": ["$eq": [["$mod": ["$v", 100]], 99]]]
        #expect(throws: FolioError.self) {
            let cursor = try engine.find(ns, FindRequest(filter: slow, sort: ["v": 1], maxTimeMilliseconds: 1))
            _ = try cursor.all()
        }
        do {
            _ = try engine.find(ns, FindRequest(filter: slow, sort: ["v": 1], maxTimeMilliseconds: 1)).all()
        } catch {
            #expect(error.code == .maxTimeMSExpired)
        }
        // The limit is checked as the query works, so a cursor that finished its work within
        // the first batch keeps serving later batches.
        let quick = try engine.find(ns, FindRequest(filter: ["_id": 1], maxTimeMilliseconds: 60_000))
        #expect(try quick.all().count == 1)
    }

    /// MongoDB's leftover maxTimeMS: the limit counts the work of every batch together, and
    /// not the time between them.
    @Test func aCursorsTimeLimitCountsItsBatchesNotTheTimeBetween() throws {
        let engine = try Engine.inMemory()
        defer { engine.close() }
        _ = try engine.insert(ns, (0..<10).map { ["_id": .int32(Int32($0))] })
        let cursor = try engine.find(ns, FindRequest(filter: Document(), maxTimeMilliseconds: 1_000))
        #expect(try cursor.next(maxCount: 2).count == 2)
        cursor.suspendDeadline()
        Thread.sleep(forTimeInterval: 1.2)                // idle: not counted
        try cursor.resumeDeadline()
        #expect(try cursor.next(maxCount: 2).count == 2)
        Thread.sleep(forTimeInterval: 1.1)                // inside a batch: counted
        cursor.suspendDeadline()
        do {
            try cursor.resumeDeadline()
            Issue.record("a getMore began with no time left")
        } catch {
            #expect(error.code == .maxTimeMSExpired)
        }

        let unlimited = try engine.find(ns, FindRequest(filter: Document()))
        #expect(try unlimited.next(maxCount: 2).count == 2)
        unlimited.suspendDeadline()
        try unlimited.resumeDeadline()
        #expect(try unlimited.all().count == 8)
    }
}
