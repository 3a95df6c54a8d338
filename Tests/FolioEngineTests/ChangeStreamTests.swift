import Testing
import FolioBSON
import FolioQuery
@testable import FolioEngine

/// Change streams read from the change log (ChangeStream.swift): events and their order,
/// resuming, high-water marks, invalidation, stages after `$changeStream`, and the errors of
/// bad options and tokens.
@Suite struct ChangeStreamTests {
    func spec(_ options: Document = [:], collection: String? = "users") throws -> ChangeStreamSpec {
        try ChangeStreamSpec(parsing: options, database: "app", collection: collection)
    }

    func events(_ cursor: Cursor) throws -> [Document] { try cursor.next().map { $0.document() } }

    @Test(arguments: Backend.allCases)
    func crudEventsInCommitOrder(backend: Backend) throws {
        let engine = try makeEngine(backend)
        defer { engine.close() }
        let cursor = try engine.watch(try spec(["fullDocument": "updateLookup"]), pipeline: [])
        #expect(try events(cursor).isEmpty && !cursor.isExhausted)
        _ = try engine.insert(ns, [["_id": 1, "a": 1]])
        _ = try engine.insert(try Namespace(database: "app", collection: "other"), [["_id": 1]])
        _ = try engine.update(ns, [UpdateStatement(filter: ["_id": 1], update: ["$set": ["a": 2], "$unset": ["zz": 1]])])
        _ = try engine.update(ns, [UpdateStatement(filter: ["_id": 1], update: ["b": 1])])
        _ = try engine.delete(ns, [DeleteStatement(filter: ["_id": 1], limitOne: true)])
        let got = try events(cursor)
        #expect(got.map { $0["operationType"] } == ["insert", "update", "replace", "delete"])
        #expect(got[0].fieldNames == ["_id", "operationType", "clusterTime", "wallTime", "fullDocument", "ns", "documentKey"])
        #expect(got[0]["ns"] == ["db": "app", "coll": "users"] && got[0]["documentKey"] == ["_id": 1])
        #expect(got[1]["updateDescription"] == ["updatedFields": ["a": 2], "removedFields": [], "truncatedArrays": []])
        // updateLookup reads the document as it is now: deleted.
        #expect(got[1]["fullDocument"] == .null)
        #expect(got[2]["fullDocument"] == ["_id": 1, "b": 1])
        let tokens = got.compactMap { $0["_id"]?.documentValue?["_data"]?.stringValue }
        #expect(tokens == tokens.sorted() && Set(tokens).count == 4)
        // At the end of the log the batch's token is the high-water mark of the latest commit,
        // which is the last event's place or later.
        let mark = try #require(cursor.postBatchResumeToken?["_data"]?.stringValue)
        #expect(mark >= tokens.last!)
    }

    @Test(arguments: Backend.allCases)
    func resumingAfterATokenMissesNothingAndRepeatsNothing(backend: Backend) throws {
        let engine = try makeEngine(backend)
        defer { engine.close() }
        let cursor = try engine.watch(try spec(), pipeline: [])
        _ = try engine.insert(ns, (0..<5).map { ["_id": .int32($0)] })
        let first = try cursor.next(maxCount: 2).map { $0.document() }
        let token = try #require(first.last?["_id"])
        let resumed = try engine.watch(try spec(["resumeAfter": token]), pipeline: [])
        #expect(try events(resumed).map { $0["documentKey"] } == [["_id": 2], ["_id": 3], ["_id": 4]])
        // A transaction's events share its time and resume one by one.
        let txn = try engine.beginTransaction()
        _ = try txn.engine.insert(ns, [["_id": 10], ["_id": 11]])
        try txn.commit(durable: false)
        let inTxn = try events(resumed)
        #expect(inTxn.map { $0["documentKey"] } == [["_id": 10], ["_id": 11]])
        #expect(inTxn[0]["clusterTime"] == inTxn[1]["clusterTime"])
        let middle = try engine.watch(try spec(["resumeAfter": inTxn[0]["_id"]!]), pipeline: [])
        #expect(try events(middle).map { $0["documentKey"] } == [["_id": 11]])
    }

    @Test(arguments: Backend.allCases)
    func theHighWaterMarkPassesFilteredEvents(backend: Backend) throws {
        let engine = try makeEngine(backend)
        defer { engine.close() }
        let cursor = try engine.watch(try spec(), pipeline: [["$match": ["operationType": "delete"]]])
        let start = try #require(cursor.postBatchResumeToken)
        _ = try engine.insert(ns, [["_id": 1]])
        #expect(try events(cursor).isEmpty)
        let mark = try #require(cursor.postBatchResumeToken)
        #expect(mark["_data"]!.stringValue! > start["_data"]!.stringValue!)
        // Resuming from the mark skips the filtered insert.
        let resumed = try engine.watch(try spec(["resumeAfter": .document(mark)]), pipeline: [])
        _ = try engine.delete(ns, [DeleteStatement(filter: ["_id": 1], limitOne: true)])
        #expect(try events(resumed).map { $0["operationType"] } == ["delete"])
    }

    @Test(arguments: Backend.allCases)
    func dropInvalidatesACollectionStreamAndStartAfterGoesOn(backend: Backend) throws {
        let engine = try makeEngine(backend)
        defer { engine.close() }
        _ = try engine.insert(ns, [["_id": 1]])
        let cursor = try engine.watch(try spec(), pipeline: [])
        let database = try engine.watch(try spec(collection: nil), pipeline: [])
        try engine.dropCollection(ns)
        let got = try events(cursor)
        #expect(got.map { $0["operationType"] } == ["drop", "invalidate"])
        #expect(cursor.isExhausted)
        #expect(try events(database).map { $0["operationType"] } == ["drop"] && !database.isExhausted)
        let invalidate = got[1]["_id"]!
        #expect(throws: FolioError.self) { try spec(["resumeAfter": invalidate]) }
        let after = try engine.watch(try spec(["startAfter": invalidate]), pipeline: [])
        _ = try engine.insert(ns, [["_id": 2]])
        #expect(try events(after).map { $0["operationType"] } == ["insert"])
    }

    @Test(arguments: Backend.allCases)
    func stagesMayNotChangeTheResumeToken(backend: Backend) throws {
        let engine = try makeEngine(backend)
        defer { engine.close() }
        let projected = try engine.watch(try spec(), pipeline: [["$project": ["operationType": 1]]])
        let hidden = try engine.watch(try spec(), pipeline: [["$project": ["_id": 0]]])
        _ = try engine.insert(ns, [["_id": 1]])
        #expect(try events(projected).map(\.fieldNames) == [["_id", "operationType"]])
        let error = #expect(throws: FolioError.self) { try hidden.next() }
        #expect(error?.code == .changeStreamFatalError)
        let group = #expect(throws: FolioError.self) { try engine.watch(try spec(), pipeline: [["$group": ["_id": 1]]]) }
        #expect(group?.code == .illegalOperation)
    }

    @Test func badOptionsAndTokensAreRefused() throws {
        let engine = try Engine.inMemory()
        defer { engine.close() }
        let cases: [(Document, Int32)] = [
            (["fullDocument": "sometimes"], 2), (["fullDocument": 1], 14), (["bogus": 1], 40415),
            (["resumeAfter": ["_data": "zz"]], 9), (["resumeAfter": ["_data": "82"]], 9), (["resumeAfter": 1], 14),
            (["startAtOperationTime": .timestamp(Timestamp(seconds: 1, increment: 1)), "resumeAfter": ["_data": "00"]], 9),
        ]
        for (options, code) in cases {
            let error = #expect(throws: FolioError.self) { try spec(options) }
            #expect(error?.code.rawValue == code, "\(options)")
        }
        // Older than the log's first entry: history lost; after the latest commit: not a token of ours.
        let lost = #expect(throws: FolioError.self) {
            try engine.watch(try spec(["startAtOperationTime": .timestamp(Timestamp(seconds: 1, increment: 1))]), pipeline: [])
        }
        #expect(lost?.code == .changeStreamHistoryLost)
        let future = ResumeToken.highWaterMark(Timestamp(seconds: engine.clusterTime.seconds + 100, increment: 0)).document
        let error = #expect(throws: FolioError.self) { try engine.watch(try spec(["resumeAfter": .document(future)]), pipeline: []) }
        #expect(error?.code == .invalidResumeToken)
        #expect(throws: FolioError.self) { try ChangeStreamSpec(parsing: [:], database: "admin", collection: nil) }
        #expect(throws: FolioError.self) { try ChangeStreamSpec(parsing: [:], database: "app", collection: "system.views") }
    }

    @Test(arguments: Backend.allCases)
    func imagesComeWithTheCollectionOption(backend: Backend) throws {
        let engine = try makeEngine(backend)
        defer { engine.close() }
        try engine.createCollection(ns, options: ["changeStreamPreAndPostImages": ["enabled": true]])
        _ = try engine.insert(ns, [["_id": 1, "a": 1]])
        let cursor = try engine.watch(try spec(["fullDocument": "required", "fullDocumentBeforeChange": "required"]), pipeline: [])
        _ = try engine.update(ns, [UpdateStatement(filter: ["_id": 1], update: ["$inc": ["a": 1]])])
        _ = try engine.delete(ns, [DeleteStatement(filter: ["_id": 1], limitOne: true)])
        let got = try events(cursor)
        #expect(got[0]["fullDocument"] == ["_id": 1, "a": 2] && got[0]["fullDocumentBeforeChange"] == ["_id": 1, "a": 1])
        #expect(got[1]["fullDocumentBeforeChange"] == ["_id": 1, "a": 2])
        _ = try engine.modifyCollection(ns, ["changeStreamPreAndPostImages": ["enabled": false]])
        _ = try engine.insert(ns, [["_id": 2]])
        _ = try engine.update(ns, [UpdateStatement(filter: ["_id": 2], update: ["$set": ["b": 1]])])
        #expect(throws: FolioError.self) { try cursor.next() }
        #expect(throws: FolioError.self) {
            try engine.createCollection(try Namespace(database: "app", collection: "c"),
                                        options: ["capped": true, "size": 1000, "changeStreamPreAndPostImages": ["enabled": true]])
        }
    }

    /// After a restart the in-memory tail is empty, so streams and oplog readers read the
    /// store, a few megabytes of rows at a time (each insert_many below is one 5 MB row):
    /// every entry comes, in order, once; and a stream that sees none of a read's events does
    /// not move its mark past rows it has not read yet.
    @Test func largeRowsAreReadInPartsFromTheStore() throws {
        let directory = tempDir()
        var engine = try Engine.open(directory: directory)
        let start = engine.clusterTime
        let other = try Namespace(database: "app", collection: "other")
        let pad = String(repeating: "x", count: 1_000)
        for b in 0..<3 {
            _ = try engine.insert(other, (0..<5_000).map { ["_id": .int32(Int32(b * 5_000 + $0)), "pad": .string(pad)] })
        }
        _ = try engine.insert(ns, [["_id": 1]])
        engine.close()
        engine = try Engine.open(directory: directory)
        defer { engine.close() }
        func ids(_ documents: [Document], _ path: String) -> [Int32] {
            documents.compactMap { $0[path]?.documentValue?["_id"]?.int32Value }
        }
        // The `users` stream's first batch is its insert: the 15 MB of `other` before it are
        // read past, not taken for the end of the log.
        let users = try engine.watch(try spec(["startAtOperationTime": .timestamp(start)]), pipeline: [])
        #expect(ids(try events(users), "documentKey") == [1])
        let all = try engine.watch(try spec(["startAtOperationTime": .timestamp(start)], collection: "other"), pipeline: [])
        var streamed: [Int32] = []
        while case let batch = try events(all), !batch.isEmpty { streamed += ids(batch, "documentKey") }
        #expect(streamed == Array(0..<15_000))
        // The oplog forward, and backward to its latest entry.
        let forward = try engine.find(oplogNamespace, FindRequest(filter: ["op": "i", "ns": "app.other"]))
        #expect(ids(try docs(forward), "o") == Array(0..<15_000))
        let latest = try engine.find(oplogNamespace, FindRequest(sort: ["$natural": -1], limit: 1))
        #expect(try docs(latest).map { $0["ns"] } == ["app.users"])
    }
}
