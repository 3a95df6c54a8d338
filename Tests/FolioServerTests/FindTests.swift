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
