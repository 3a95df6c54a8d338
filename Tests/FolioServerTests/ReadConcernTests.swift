import Testing
import FolioBSON
import FolioQuery
@testable import FolioServer

/// readConcern (ReadConcern.swift): every level a single member honours runs; reads at a point
/// in time run where MongoDB runs them and answer its errors elsewhere; malformed values get
/// MongoDB's IDL errors.
@Suite struct ReadConcernTests {
    @Test(arguments: [
        (["find": "c", "readConcern": ["level": "local"]], nil),
        (["find": "c", "readConcern": ["level": "majority"]], nil),
        (["find": "c", "readConcern": ["level": "available"]], nil),
        (["count": "c", "readConcern": ["level": "linearizable"]], nil),
        (["find": "c", "readConcern": ["afterClusterTime": .timestamp(Timestamp(seconds: 1, increment: 1))]], nil),
        (["find": "c", "readConcern": ["afterClusterTime": .timestamp(Timestamp(seconds: .max, increment: 1))]], 72),
        (["insert": "c", "documents": [[:]], "readConcern": ["level": "local"]], nil),
        (["find": "c", "readConcern": [:]], nil),
        (["find": "c", "readConcern": ["level": "snapshot"]], nil),
        (["aggregate": "c", "pipeline": [], "cursor": [:], "readConcern": ["level": "snapshot"]], nil),
        (["distinct": "c", "key": "a", "readConcern": ["level": "snapshot"]], nil),
        (["find": "c", "readConcern": ["level": "snapshot", "atClusterTime": .timestamp(Timestamp(seconds: 1, increment: 1))]], 239),
        (["find": "c", "readConcern": ["level": "snapshot", "atClusterTime": .timestamp(Timestamp(seconds: .max, increment: 1))]], 72),
        (["count": "c", "readConcern": ["level": "snapshot"]], 72),
        (["getMore": .int64(1), "collection": "c", "readConcern": ["level": "snapshot"]], 43),
        (["listCollections": 1, "readConcern": ["level": "snapshot"]], 72),
        (["aggregate": "c", "pipeline": [["$out": "d"]], "cursor": [:], "readConcern": ["level": "snapshot"]], 72),
        (["find": "c", "readConcern": ["atClusterTime": .timestamp(Timestamp(seconds: 1, increment: 1))]], 72),
        (["insert": "c", "documents": [[:]], "readConcern": ["level": "snapshot"]], 72),
        (["update": "c", "updates": [["q": [:], "u": ["$set": ["a": 1]]]], "readConcern": ["level": "majority"]], 72),
        (["find": "c", "readConcern": "majority"], 14),
        (["find": "c", "readConcern": ["level": 1]], 14),
        (["find": "c", "readConcern": ["level": "strong"]], 2),
        (["find": "c", "readConcern": ["afterClusterTime": 5]], 14),
        (["find": "c", "readConcern": ["level": "local", "wait": true]], 40415),
    ] as [(Document, Int32?)])
    func readConcerns(body: Document, expected: Int32?) throws {
        let s = try TestServer()
        let reply = s.run(body)
        if let expected {
            #expect(reply["code"] == .int32(expected), "\(reply)")
        } else {
            #expect(reply["ok"] == .double(1), "\(reply)")
        }
    }

    /// A snapshot read answers with its time (in the cursor for find and aggregate, beside the
    /// values for distinct); its cursor keeps reading that snapshot through getMore, and a
    /// read naming the time sees the same state after later writes.
    @Test func snapshotReadsReportTheirTimeAndKeepIt() throws {
        let s = try TestServer()
        s.run(["insert": "c", "documents": .array((0..<5).map { .document(["_id": .int32(Int32($0)), "a": .int32(Int32($0 % 2))]) })])
        let find = s.run(["find": "c", "batchSize": 2, "readConcern": ["level": "snapshot"]])
        guard case .document(let cursor)? = find["cursor"], case .timestamp(let time)? = cursor["atClusterTime"],
              case .int64(let id)? = cursor["id"] else {
            Issue.record("no atClusterTime or cursor in \(find)")
            return
        }
        #expect(id != 0)
        #expect(cursor.fieldNames == ["id", "ns", "firstBatch", "atClusterTime"])
        s.run(["insert": "c", "documents": [["_id": 10, "a": 5]]])
        s.run(["delete": "c", "deletes": [["q": ["_id": 4], "limit": 1]]])
        let more = s.run(["getMore": .int64(id), "collection": "c"])
        guard case .document(let next)? = more["cursor"], case .array(let rest)? = next["nextBatch"] else {
            Issue.record("\(more)")
            return
        }
        #expect(rest.compactMap { $0.documentValue?["_id"]?.exactInt64 } == [2, 3, 4])
        let at: Document = ["level": "snapshot", "atClusterTime": .timestamp(time)]
        let distinct = s.run(["distinct": "c", "key": "a", "readConcern": .document(at)])
        #expect(distinct["values"] == [0, 1])
        #expect(distinct["atClusterTime"] == .timestamp(time))
        let aggregate = s.run(["aggregate": "c", "pipeline": [["$count": "n"]], "cursor": [:], "readConcern": .document(at)])
        #expect(s.firstBatch(aggregate) == [["n": 5]])
        #expect(s.firstBatch(s.run(["find": "c"]))?.count == 5)
        #expect(s.run(["count": "c"])["n"] == .int32(5))
        #expect(s.run(["distinct": "c", "key": "a"])["values"] == [0, 1, 5])
        // A transaction may start at the latest commit's time, not before.
        let latest = s.run(["find": "c", "readConcern": ["level": "snapshot"]])
        guard case .document(let c2)? = latest["cursor"], case .timestamp(let now)? = c2["atClusterTime"] else {
            Issue.record("\(latest)")
            return
        }
        #expect(now > time)
        let lsid: Document = ["id": .binary(Binary(subtype: Binary.Subtype.uuid, data: [UInt8](repeating: 7, count: 16)))]
        let old = s.run(["find": "c", "lsid": .document(lsid), "txnNumber": .int64(1), "startTransaction": true, "autocommit": false,
                         "readConcern": .document(at)])
        #expect(old["code"] == .int32(239), "\(old)")
        let current = s.run(["find": "c", "lsid": .document(lsid), "txnNumber": .int64(2), "startTransaction": true,
                             "autocommit": false, "readConcern": ["level": "snapshot", "atClusterTime": .timestamp(now)]])
        #expect(current["ok"] == .double(1), "\(current)")
    }
}
