import Testing
import FolioBSON
@testable import FolioServer

@Suite struct AggregateTests {
    /// A hint chooses the index that reads the source collection (a sparse index leaves out
    /// the documents without the field, as in MongoDB); an unknown index or field is refused.
    @Test func hintsAndUnknownFields() throws {
        let s = try TestServer()
        s.run(["insert": "h", "documents": [["_id": 1, "a": 1], ["_id": 2], ["_id": 3, "a": 3]]])
        s.run(["createIndexes": "h", "indexes": [["key": ["a": 1], "name": "a_1", "sparse": true]]])
        let all = s.run(["aggregate": "h", "pipeline": [["$sort": ["_id": 1]]], "cursor": [:]])
        #expect(s.firstBatch(all)?.count == 3)
        let hinted = s.run(["aggregate": "h", "pipeline": [["$sort": ["_id": 1]]], "cursor": [:], "hint": "a_1"])
        #expect(s.firstBatch(hinted) == [["_id": 1, "a": 1], ["_id": 3, "a": 3]], "\(hinted)")
        let byPattern = s.run(["aggregate": "h", "pipeline": [["$group": ["_id": .null, "n": ["$sum": 1]]]], "cursor": [:], "hint": ["a": 1]])
        #expect(s.firstBatch(byPattern) == [["_id": .null, "n": 2]], "\(byPattern)")
        #expect(s.run(["aggregate": "h", "pipeline": [], "cursor": [:], "hint": "nope_1"])["code"] == .int32(2))
        #expect(s.run(["aggregate": "h", "pipeline": [], "cursor": [:], "bogus": 1])["code"] == .int32(40415))
        #expect(s.run(["aggregate": "h", "pipeline": [], "cursor": [:], "hint": [:]])["ok"] == .double(1))
    }

    @Test(arguments: [(BSON.double(.nan), 0), (.double(1e300), 5), (.double(.infinity), 5), (.decimal128(.nan), 0), (.double(1.5), 1)])
    func cursorBatchSizeTakesAnyNumber(_ value: BSON, _ firstBatch: Int) throws {
        let s = try FindTests.server()
        let reply = s.run(["aggregate": "t", "pipeline": [], "cursor": ["batchSize": value]])
        #expect(reply["ok"] == .double(1), "\(reply)")
        #expect(s.firstBatch(reply)?.count == firstBatch)
    }

    @Test(arguments: [(BSON.double(.nan), 0), (.double(1e300), 5), (.decimal128(.infinity), 5), (.double(2.7), 2)])
    func sampleSizeTakesAnyNumber(_ size: BSON, _ count: Int) throws {
        let s = try FindTests.server()
        let reply = s.run(["aggregate": "t", "pipeline": [["$sample": ["size": size]]], "cursor": [:]])
        #expect(s.firstBatch(reply)?.count == count, "\(reply)")
    }

    @Test func sampleErrors() throws {
        let s = try FindTests.server()
        let cases: [(BSON, Int32)] = [(1, 28745), ([:], 28749), (["size": "x"], 28746), (["size": -1], 28747), (["size": 1, "n": 1], 28748)]
        for (spec, code) in cases {
            let reply = s.run(["aggregate": "t", "pipeline": [["$sample": spec]], "cursor": [:]])
            #expect(reply["code"] == .int32(code), "\(spec) → \(reply)")
        }
    }

    /// $range's own bound (MongoDB's): refused before anything is built. The general bound on
    /// what evaluation builds is tested in OperationInterruptTests.
    @Test func unboundedExpressionsEndWithAnError() throws {
        let s = try FindTests.server()
        let range: Document = ["$range": [0, .int32(.max)]]
        let tooBig = s.run(["aggregate": "t", "pipeline": [["$project": ["r": .document(range)]]], "cursor": [:]])
        #expect(tooBig["code"] == .int32(146) && tooBig["codeName"] == "ExceededMemoryLimit", "\(tooBig)")
        #expect(tooBig["errmsg"] == "$range would use too much memory (34359738392 bytes) and cannot spill to disk. Memory limit: 104857600 bytes")
        // The server still answers afterwards, and the bound is per document.
        let fine = s.run(["aggregate": "t", "pipeline": [["$project": ["r": ["$range": [0, 100_000]]]]], "cursor": [:]])
        #expect(fine["ok"] == .double(1))
    }
}

/// Requests that would allocate without bound end with MongoDB's error (issue 27).
@Suite struct AggregateResourceTests {
    @Test func densifyOverAHugeSpanStopsAtMongoDBsLimit() throws {
        let s = try FindTests.server()
        let reply = s.run(["aggregate": "t", "cursor": [:], "pipeline": [
            ["$densify": ["field": "_id", "range": ["step": 1, "bounds": [0, .double(1e15)]]]]]])
        #expect(reply["code"] == .int32(5897900), "\(reply)")
    }

    @Test func groupKeysOfEighteenMegabytes() throws {
        let s = try FindTests.server()
        let big = String(repeating: "k", count: 9 * 1024 * 1024)
        // Each key is 18 MB: the group holds them (spilling past 100 MB), and an output
        // document over 16 MiB + 16 KiB is refused as MongoDB refuses it.
        let reply = s.run(["aggregate": "t", "cursor": [:], "pipeline": [
            ["$group": ["_id": ["$concat": [.string(big), .string(big), ["$toString": "$_id"]]], "n": ["$sum": 1]]]]])
        #expect(reply["code"] == .int32(10334) && reply["codeName"] == "BSONObjectTooLarge", "\(reply["errmsg"] ?? .null)")
        #expect(s.run(["ping": 1])["ok"] == .double(1))
    }

    @Test func aHundredThousandClauseOr() throws {
        let s = try FindTests.server()
        let clauses: [BSON] = (0..<100_000).map { ["_id": .int32(Int32($0))] }
        let reply = s.run(["find": "t", "filter": ["$or": .array(clauses)]])
        #expect(s.firstBatch(reply)?.count == 5, "\(reply["errmsg"] ?? "")")
    }
}

extension AggregateResourceTests {
    @Test func windowsAndShiftsAtTheEndsOfTheRange() throws {
        let s = try FindTests.server()
        let window: Document = ["$setWindowFields": ["sortBy": ["_id": 1], "output": [
            "w": ["$sum": 1, "window": ["documents": [.int64(.min), .int64(.max)]]],
            "v": ["$shift": ["output": "$_id", "by": .int64(.max), "default": -1]]]]]
        let reply = s.run(["aggregate": "t", "cursor": [:], "pipeline": [.document(window)]])
        let batch = try #require(s.firstBatch(reply), "\(reply)")
        #expect(batch.first?.documentValue?["w"] == .int32(5))
        #expect(batch.first?.documentValue?["v"] == .int32(-1))
        let densify: Document = ["$densify": ["field": "d", "range": ["step": .int64(.max), "unit": "month", "bounds": [.datetime(0), .datetime(.max)]]]]
        let dates = s.run(["aggregate": "t", "cursor": [:], "pipeline": [["$set": ["d": .datetime(0)]], .document(densify)]])
        #expect(dates["code"] == .int32(15), "\(dates)")
    }
}

extension AggregateResourceTests {
    /// A `$lookup` may join up to MongoDB's 100 MB per input document (more than one BSON
    /// document holds, for a following `$unwind`), and past it answers MongoDB's 4568.
    @Test func lookupJoinsUpToAHundredMegabytes() throws {
        let s = try FindTests.server()
        let megabyte = BSON.string(String(repeating: "m", count: 1024 * 1024))
        func lookup(megabytesPerForeignDocument n: Int) -> Document {
            ["$lookup": ["from": "t", "as": "j", "pipeline": [
                ["$project": ["s": ["$concat": .array(Array(repeating: megabyte, count: n))]]]]]]
        }
        // Five joined documents of 8 MB each: 40 MB, past a single document's size.
        let unwound = s.run(["aggregate": "t", "cursor": [:], "pipeline": [
            ["$limit": 1], .document(lookup(megabytesPerForeignDocument: 8)), ["$unwind": "$j"],
            ["$project": ["n": ["$strLenBytes": "$j.s"]]]]])
        let batch = try #require(s.firstBatch(unwound), "\(unwound["errmsg"] ?? .null)")
        #expect(batch.count == 5 && batch.allSatisfy { $0.documentValue?["n"] == .int32(8 * 1024 * 1024) })
        // Five of 21 MB each: 105 MB.
        let tooMuch = s.run(["aggregate": "t", "cursor": [:], "pipeline": [
            ["$limit": 1], .document(lookup(megabytesPerForeignDocument: 21))]])
        #expect(tooMuch["code"] == .int32(4568), "\(tooMuch)")
        #expect(tooMuch["errmsg"] == "Total size of documents in t matching pipeline's $lookup stage exceeds 104857600 bytes")
    }
}
