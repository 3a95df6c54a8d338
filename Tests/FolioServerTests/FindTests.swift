import Foundation
import Testing
import FolioBSON
@testable import FolioServer

/// find's numeric arguments follow MongoDB's `safeInt64` rules instead of trapping: NaN is 0,
/// huge and infinite values clamp, fractions are dropped (these requests used to kill the
/// server process).
@Suite struct FindTests {
    static func server() throws -> TestServer {
        let s = try TestServer()
        let docs: [BSON] = (0..<5).map { ["_id": .int32(Int32($0)), "arr": [1, 2, 3]] }
        #expect(s.run(["insert": "t", "documents": .array(docs)])["ok"] == .double(1))
        return s
    }

    @Test(arguments: [BSON.double(1e300), .double(.infinity), .double(.nan), .decimal128(.infinity), .int64(.max), .double(2.9)])
    func limitSkipAndBatchSizeTakeAnyNumber(_ value: BSON) throws {
        let s = try Self.server()
        for field in ["limit", "skip", "batchSize"] {
            let reply = s.run(["find": "t", field: value])
            #expect(reply["ok"] == .double(1), "\(field): \(value) → \(reply)")
            let n = s.firstBatch(reply)?.count
            switch (field, value) {
            case ("skip", .double(let d)) where d.isNaN: #expect(n == 5)           // NaN skips nothing
            case ("skip", .double(2.9)): #expect(n == 3)                           // 2.9 skips 2
            case ("skip", _): #expect(n == 0)                                      // huge skips all
            case ("limit", .double(let d)) where d.isNaN: #expect(n == 5)          // NaN is 0: no limit
            case ("limit", .double(2.9)): #expect(n == 2)
            case ("batchSize", .double(let d)) where d.isNaN: #expect(n == 0)      // an empty first batch
            case ("batchSize", .double(2.9)): #expect(n == 2)
            default: #expect(n == 5)
            }
        }
    }

    /// maxTimeMS on a getMore is an awaitData cursor's wait; on any other cursor MongoDB
    /// refuses it (BadValue), and the cursor goes on.
    @Test func getMoreMaxTimeIsRefusedOnCursorsThatDoNotAwait() throws {
        let s = try Self.server()
        let first = s.run(["find": "t", "batchSize": 2])
        let id = try #require(first["cursor"]?.documentValue?["id"])
        let refused = s.run(["getMore": id, "collection": "t", "maxTimeMS": 1000])
        #expect(refused["code"] == .int32(2) && refused["errmsg"] == "cannot set maxTimeMS on getMore command for a non-awaitData cursor")
        let more = s.run(["getMore": id, "collection": "t", "maxTimeMS": 0])
        #expect(more["cursor"]?.documentValue?["nextBatch"]?.arrayValue?.count == 3, "\(more)")
    }

    /// A find's maxTimeMS bounds its getMores' work too (MongoDB's leftover time), not the
    /// time between them; a getMore that runs out of it fails with MaxTimeMSExpired and its
    /// cursor is gone.
    @Test func findsMaxTimeGoesOnCountingInItsGetMores() throws {
        let s = try Self.server()
        let first = s.run(["find": "t", "batchSize": 1, "maxTimeMS": 1_000])
        let id = try #require(first["cursor"]?.documentValue?["id"]?.exactInt64)
        Thread.sleep(forTimeInterval: 1.2)
        let more = s.run(["getMore": .int64(id), "collection": "t", "batchSize": 1])
        #expect(more["cursor"]?.documentValue?["nextBatch"]?.arrayValue?.count == 1, "\(more)")
        // Spend what is left inside a batch, as a slow getMore would.
        let cursor = try #require(s.dispatcher.context.cursors.take(id)?.cursor)
        try cursor.resumeDeadline()
        Thread.sleep(forTimeInterval: 1.1)
        cursor.suspendDeadline()
        let expired = s.run(["getMore": .int64(id), "collection": "t"])
        #expect(expired["code"] == .int32(50) && expired["codeName"] == "MaxTimeMSExpired", "\(expired)")
        let gone = s.run(["getMore": .int64(id), "collection": "t"])
        #expect(gone["code"] == .int32(43), "\(gone)")
    }

    @Test func negativeAndNonNumericArgumentsAreRefused() throws {
        let s = try Self.server()
        let negative = s.run(["find": "t", "limit": .double(-1e300)])
        #expect(negative["code"] == .int32(2))
        #expect(negative["errmsg"] == .string("BSON field 'limit' value must be >= 0, actual value '-9223372036854775808'"))
        let text = s.run(["find": "t", "skip": "3"])
        #expect(text["code"] == .int32(14) && text["codeName"] == "TypeMismatch")
    }

    @Test(arguments: [(BSON.double(.nan), 0), (.double(1e300), 3), (.double(-.infinity), 3), (.decimal128(.nan), 0), (.double(-1.9), 1)])
    func projectionSliceTakesAnyNumber(_ value: BSON, _ count: Int) throws {
        let s = try Self.server()
        let reply = s.run(["find": "t", "filter": ["_id": 0], "projection": ["arr": ["$slice": value]]])
        guard case .document(let doc)? = s.firstBatch(reply)?.first, case .array(let arr)? = doc["arr"] else {
            Issue.record("no document: \(reply)"); return
        }
        #expect(arr.count == count)
    }

    @Test func projectionSliceArrayFormErrors() throws {
        let s = try Self.server()
        let cases: [(BSON, Int32)] = [([1], 31272), (["a", 1], 31257), ([1, "b"], 31258), ([1, .double(.nan)], 31259), ([1, 0], 31259)]
        for (arg, code) in cases {
            let reply = s.run(["find": "t", "projection": ["arr": ["$slice": arg]]])
            #expect(reply["code"] == .int32(code), "\(arg) → \(reply)")
        }
        let huge = s.run(["find": "t", "filter": ["_id": 0], "projection": ["arr": ["$slice": [.double(-1e300), .double(1e300)]]]])
        #expect(s.firstBatch(huge)?.count == 1)
    }

    @Test func countLimitAndSkipExtremes() throws {
        let s = try Self.server()
        #expect(s.run(["count": "t", "limit": .int64(.min)])["n"] == .int32(5))
        #expect(s.run(["count": "t", "limit": .double(-2)])["n"] == .int32(2))
        #expect(s.run(["count": "t", "skip": .double(1e300)])["n"] == .int32(0))
        #expect(s.run(["count": "t", "skip": .int32(-1)])["code"] == .int32(2))
    }
}

/// `count` and drivers' countDocuments pipeline read only index entries where an index
/// answers the filter, and count exactly what a find of the same filter returns.
@Suite struct CountFromIndexTests {
    @Test func countsAgreeWithFindAndReadNoDocumentsWhenCovered() throws {
        let s = try TestServer()
        var docs: [BSON] = (0..<40).map { i in .document(["_id": .int32(Int32(i)), "sid": .int32(Int32(i % 10)), "k": .int32(Int32(i % 3))]) }
        docs += [["_id": 100], ["_id": 101, "sid": .null], ["_id": 102, "sid": "text"], ["_id": 103, "sid": 2.5]]
        s.run(["insert": "c", "documents": .array(docs)])
        s.run(["createIndexes": "c", "indexes": [["key": ["sid": 1], "name": "sid_1"]]])
        let filters: [Document] = [
            ["sid": ["$gte": 2, "$lt": 5]], ["sid": .null], ["sid": ["$exists": false]], ["sid": ["$exists": true]],
            ["sid": 3, "k": 1], ["sid": ["$in": [1, 3]]], ["_id": ["$gt": 30]], ["sid": ["$type": "string"]],
            ["$or": [["sid": 1], ["k": 2]]], ["sid": ["$not": ["$gt": 4]]], ["sid": ["$gt": 2], "_id": ["$lt": 20]],
        ]
        for filter in filters {
            let found = s.firstBatch(s.run(["find": "c", "filter": .document(filter), "batchSize": 1000]))?.count ?? -1
            let counted = s.run(["count": "c", "query": .document(filter)])["n"]
            #expect(counted == .int32(Int32(found)), "\(filter)")
            let pipeline: BSON = [["$match": .document(filter)], ["$group": ["_id": 1, "n": ["$sum": 1]]]]
            let grouped = s.firstBatch(s.run(["aggregate": "c", "pipeline": pipeline, "cursor": [:]]))
            #expect(grouped == (found == 0 ? [] : [["_id": 1, "n": .int32(Int32(found))]]), "\(filter)")
        }
        let explained = s.run(["explain": ["count": "c", "query": ["sid": ["$gte": 2, "$lt": 5]]], "verbosity": "executionStats"])
        let stats = explained["executionStats"]?.documentValue
        #expect(stats?["totalDocsExamined"] == .int32(0), "\(explained)")
        #expect(stats?["executionStages"]?.documentValue?["nCounted"] == .int32(13), "\(explained)")
        // A multikey index cannot restore values from its entries: documents are read.
        s.run(["insert": "c", "documents": [["_id": 200, "sid": [3, 4]]]])
        #expect(s.run(["count": "c", "query": ["sid": ["$gte": 2, "$lt": 5]]])["n"] == .int32(14))
    }
}
