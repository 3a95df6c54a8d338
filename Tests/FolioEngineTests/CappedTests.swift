import Testing
import FolioBSON
import FolioQuery
@testable import FolioEngine

/// Capped collections (Capped.swift): insertion order, deletion of the oldest documents by
/// size and by count, totals kept through deletes, updates, savepoints and restarts, the
/// options MongoDB stores, and what transactions may not do.
@Suite struct CappedTests {
    let log = try! Namespace(database: "app", collection: "log")

    func values(_ engine: Engine, _ request: FindRequest = FindRequest()) throws -> [Int64] {
        try docs(engine.find(log, request)).compactMap { $0["v"]?.exactInt64 }
    }

    @Test(arguments: Backend.allCases)
    func naturalOrderIsInsertionOrderAndTheOldestGoFirst(backend: Backend) throws {
        let engine = try makeEngine(backend)
        defer { engine.close() }
        try engine.createCollection(log, options: ["capped": true, "size": 100_000, "max": 4])
        // `_id`s descend, so `_id` order and insertion order differ.
        for v in 0..<7 { _ = try engine.insert(log, [["_id": .int64(100 - Int64(v)), "v": .int64(Int64(v))]]) }
        #expect(try values(engine) == [3, 4, 5, 6])
        #expect(try values(engine, FindRequest(sort: ["$natural": -1])) == [6, 5, 4, 3])
        #expect(try values(engine, FindRequest(hint: ["$natural": -1])) == [6, 5, 4, 3])
        #expect(try values(engine, FindRequest(sort: ["_id": 1])) == [6, 5, 4, 3])
        #expect(try values(engine, FindRequest(filter: ["v": ["$gte": 5]])) == [5, 6])
        #expect(try engine.estimatedCount(log) == 4)
        #expect(try engine.validate(log).errors.isEmpty)
        // A batch larger than the cap keeps its own newest documents.
        _ = try engine.insert(log, (10..<20).map { ["v": .int64($0)] })
        #expect(try values(engine) == [16, 17, 18, 19])
        #expect(try engine.validate(log).errors.isEmpty)
    }

    @Test(arguments: Backend.allCases)
    func theSizeLimitCountsBSONBytes(backend: Backend) throws {
        let engine = try makeEngine(backend)
        defer { engine.close() }
        try engine.createCollection(log, options: ["capped": true, "size": 1000])
        let doc: Document = ["_id": 0, "v": .int64(0), "pad": .string(String(repeating: "x", count: 200))]
        let size = doc.bsonBytes().count
        for v in 0..<20 {
            var d = doc
            d["_id"] = .int64(Int64(v))
            d["v"] = .int64(Int64(v))
            _ = try engine.insert(log, [d])
        }
        let kept = 1000 / size
        #expect(try values(engine) == Array(Int64(20 - kept)..<20))
        #expect(try engine.statistics(log).dataBytes <= 1000)
        // A document larger than the collection is refused and nothing is deleted for it.
        let big = try engine.insert(log, [["pad": .string(String(repeating: "y", count: 1000))]])
        #expect(big.writeErrors.first?.error.code == .badValue)
        #expect(big.writeErrors.first?.error.message == "object to insert exceeds cappedMaxSize")
        #expect(try values(engine).count == kept)
        #expect(try engine.validate(log).errors.isEmpty)
    }

    @Test(arguments: Backend.allCases)
    func deletesUpdatesAndFailedStatementsKeepTheTotals(backend: Backend) throws {
        let engine = try makeEngine(backend)
        defer { engine.close() }
        try engine.createCollection(log, options: ["capped": true, "size": 100_000, "max": 5])
        _ = try engine.createIndexes(log, [["key": ["v": 1], "name": "v_1", "unique": true]])
        _ = try engine.insert(log, (0..<5).map { ["_id": .int64($0), "v": .int64($0)] })
        // Deletes are allowed (MongoDB 5.0+) and leave room: the next insert deletes nothing.
        #expect(try engine.delete(log, [DeleteStatement(filter: ["v": 1], limitOne: true)]).deleted == 1)
        _ = try engine.insert(log, [["_id": 10, "v": 10]])
        #expect(try values(engine) == [0, 2, 3, 4, 10])
        // An update may change a document's size (MongoDB 5.3+); its place stays.
        _ = try engine.update(log, [UpdateStatement(filter: ["v": 0], update: ["$set": ["pad": .string(String(repeating: "z", count: 300))]])])
        #expect(try values(engine) == [0, 2, 3, 4, 10])
        #expect(try engine.validate(log).errors.isEmpty)
        // A statement refused by the unique index leaves no order entry behind.
        let dup = try engine.insert(log, [["_id": 11, "v": 2]])
        #expect(dup.writeErrors.first?.error.code == .duplicateKey)
        #expect(try engine.validate(log).errors.isEmpty)
        _ = try engine.insert(log, [["_id": 12, "v": 12]])
        #expect(try values(engine) == [2, 3, 4, 10, 12])
        #expect(try docs(engine.find(log, FindRequest(filter: ["v": 0]))).isEmpty)
        #expect(try engine.validate(log).errors.isEmpty)
    }

    @Test func theOrderAndLimitsSurviveARestart() throws {
        let dir = tempDir()
        do {
            let engine = try Engine.open(directory: dir)
            try engine.createCollection(log, options: ["capped": true, "size": 100_000, "max": 3])
            for v in 0..<5 { _ = try engine.insert(log, [["_id": .int64(-Int64(v)), "v": .int64(Int64(v))]]) }
            engine.close()
        }
        let engine = try Engine.open(directory: dir)
        defer { engine.close() }
        _ = try engine.insert(log, [["_id": -9, "v": 9]])
        #expect(try values(engine) == [3, 4, 9])
        #expect(try engine.validate(log).errors.isEmpty)
    }

    @Test func optionsAreCheckedAndStoredAsMongoDBStoresThem() throws {
        #expect(try Engine.cappedOptions(["capped": true, "size": 1000.7, "max": 0]) == ["capped": true, "size": 1000, "max": .int32(Int32.max)])
        #expect(try Engine.cappedOptions(["validator": ["a": 1], "max": 5, "size": .int64(1 << 40), "capped": 1])
            == ["capped": true, "size": .int64(1 << 40), "max": 5, "validator": ["a": 1]])
        #expect(try Engine.cappedOptions(["capped": false, "validator": ["a": 1]]) == ["validator": ["a": 1]])
        func code(_ options: Document) -> Int32? {
            do { _ = try Engine.cappedOptions(options); return nil } catch { return error.code.rawValue }
        }
        #expect(code(["capped": true]) == 72)
        #expect(code(["size": 100]) == 72)
        #expect(code(["capped": false, "max": 5]) == 72)
        #expect(code(["capped": true, "size": 0]) == 51024)
        #expect(code(["size": 0]) == 51024)  // the bound before the rule
        #expect(code(["capped": true, "size": .int64(1 << 51)]) == 51023)
        #expect(code(["capped": true, "size": 10, "max": .int64(1 << 31)]) == 51022)
        #expect(code(["capped": true, "size": "big"]) == 14)
    }

    @Test(arguments: Backend.allCases)
    func collModChangesTheLimitsForTheNextInsert(backend: Backend) throws {
        let engine = try makeEngine(backend)
        defer { engine.close() }
        try engine.createCollection(log, options: ["capped": true, "size": 100_000, "max": 5])
        _ = try engine.insert(log, (0..<5).map { ["v": .int64($0)] })
        _ = try engine.modifyCollection(log, ["cappedMax": 2])
        #expect(engine.collections(in: "app").first?.options == ["capped": true, "size": 100_000, "max": 2])
        _ = try engine.insert(log, [["v": 5]])
        #expect(try values(engine) == [4, 5])
        let plain = try Namespace(database: "app", collection: "plain")
        try engine.createCollection(plain)
        #expect(throws: FolioError.self) { try engine.modifyCollection(plain, ["cappedSize": 5000]) }
        #expect(try engine.validate(log).errors.isEmpty)
    }

    @Test(arguments: Backend.allCases)
    func transactionsReadButDoNotWriteCappedCollections(backend: Backend) throws {
        let engine = try makeEngine(backend)
        defer { engine.close() }
        try engine.createCollection(log, options: ["capped": true, "size": 100_000])
        _ = try engine.insert(log, [["_id": 1, "v": 1]])
        let txn = try engine.beginTransaction()
        defer { txn.abort() }
        #expect(try values(txn.engine) == [1])
        let insert = try txn.engine.insert(log, [["v": 2]])
        #expect(insert.writeErrors.first?.error.code == .operationNotSupportedInTransaction)
        let update = try txn.engine.update(log, [UpdateStatement(filter: ["_id": 1], update: ["$set": ["v": 3]])])
        #expect(update.writeErrors.first?.error.code == .operationNotSupportedInTransaction)
        let delete = try txn.engine.delete(log, [DeleteStatement(filter: ["_id": 1], limitOne: true)])
        #expect(delete.writeErrors.first?.error.code == .illegalOperation)
        #expect(throws: FolioError.self) {
            try txn.engine.createCollection(try Namespace(database: "app", collection: "c2"), options: ["capped": true, "size": 10])
        }
    }

    @Test(arguments: Backend.allCases)
    func outCannotReplaceACappedCollection(backend: Backend) throws {
        let engine = try makeEngine(backend)
        defer { engine.close() }
        try engine.createCollection(log, options: ["capped": true, "size": 100_000])
        _ = try engine.insert(ns, [["v": 1]])
        do {
            _ = try engine.aggregate(database: "app", collection: "users", AggregateRequest(pipeline: [["$out": "log"]])).all()
            Issue.record("$out into a capped collection succeeded")
        } catch {
            #expect(error.code.rawValue == 17152)
        }
    }

    @Test(arguments: Backend.allCases)
    func aTailableCursorReturnsLaterInsertsAndNoticesALostPosition(backend: Backend) throws {
        let engine = try makeEngine(backend)
        defer { engine.close() }
        try engine.createCollection(log, options: ["capped": true, "size": 100_000, "max": 4])
        _ = try engine.insert(log, [["v": 1], ["v": 2]])
        var request = FindRequest(filter: ["v": ["$ne": 3]])
        request.tailable = true
        let cursor = try engine.find(log, request)
        #expect(cursor.isTailable)
        #expect(try cursor.next().compactMap { $0.document()["v"]?.exactInt64 } == [1, 2])
        // At the end it stays open, and later inserts (that match) come next.
        #expect(try cursor.next().isEmpty && !cursor.isExhausted)
        _ = try engine.insert(log, [["v": 3], ["v": 4]])
        #expect(try cursor.next().compactMap { $0.document()["v"]?.exactInt64 } == [4])
        // Four more inserts delete the document the cursor stands on: 136.
        _ = try engine.insert(log, (5..<9).map { ["v": .int64($0)] })
        do {
            _ = try cursor.next()
            Issue.record("the cursor did not notice its position was deleted")
        } catch {
            #expect(error.code == .cappedPositionLost)
        }
        // Not capped: 2; a sort other than natural: 2.
        var plain = FindRequest()
        plain.tailable = true
        _ = try engine.insert(ns, [["v": 1]])
        #expect(throws: FolioError.self) { try engine.find(ns, plain) }
        request.sort = ["v": 1]
        #expect(throws: FolioError.self) { try engine.find(log, request) }
    }

    @Test(arguments: Backend.allCases)
    func aCollectionBecomesCappedOrIsClonedAsCapped(backend: Backend) throws {
        let engine = try makeEngine(backend)
        defer { engine.close() }
        _ = try engine.insert(ns, (0..<20).map { ["_id": .int64($0), "v": .int64($0), "pad": .string(String(repeating: "x", count: 100))] })
        _ = try engine.createIndexes(ns, [["key": ["v": 1], "name": "v_1"]])
        let size = 5 * (try docs(engine.find(ns, FindRequest(filter: ["_id": 0])))[0].bsonBytes().count)
        let clone = try Namespace(database: "app", collection: "recent")
        try engine.cloneAsCapped(ns, to: clone, size: Int64(size))
        // The newest five that fit, in the source's natural order; no secondary index.
        #expect(try docs(engine.find(clone, FindRequest())).compactMap { $0["v"]?.exactInt64 } == [15, 16, 17, 18, 19])
        #expect(engine.indexes(clone).isEmpty && engine.collections(in: "app").first { $0.name == "recent" }?.options == ["capped": true, "size": .int32(Int32(size))])
        #expect(throws: FolioError.self) { try engine.cloneAsCapped(ns, to: clone, size: 1000) }  // 48: it exists
        try engine.convertToCapped(ns, size: Int64(size))
        #expect(try docs(engine.find(ns, FindRequest())).compactMap { $0["v"]?.exactInt64 } == [15, 16, 17, 18, 19])
        #expect(engine.indexes(ns).isEmpty)
        _ = try engine.insert(ns, [["_id": 100, "v": 100]])
        #expect(try docs(engine.find(ns, FindRequest())).first?["v"] == .int64(16))
        #expect(try engine.validate(ns).errors.isEmpty && engine.validate(clone).errors.isEmpty)
        // A capped source is copied in its insertion order.
        try engine.cloneAsCapped(ns, to: try Namespace(database: "app", collection: "again"), size: 100_000)
        #expect(try docs(engine.find(try Namespace(database: "app", collection: "again"), FindRequest())).compactMap { $0["v"]?.exactInt64 }
            == [16, 17, 18, 19, 100])
        do {
            try engine.convertToCapped(try Namespace(database: "app", collection: "missing"), size: 100)
            Issue.record("converted a missing collection")
        } catch {
            #expect(error.code == .namespaceNotFound)
        }
    }
}
