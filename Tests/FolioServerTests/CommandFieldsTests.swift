import Testing
import FolioBSON
import FolioQuery
@testable import FolioServer

/// CommandFields.swift: a field a command does not know answers 40415 naming it, as
/// MongoDB's IDL does; the fields drivers send (generic ones included) still run.
@Suite struct CommandFieldsTests {
    @Test(arguments: [
        (["find": "c", "srot": ["a": 1]], "find.srot"),
        (["aggregate": "c", "pipeline": [], "cursor": [:], "needsMerge": true], "aggregate.needsMerge"),
        (["insert": "c", "documents": [[:]], "let": ["x": 1]], "insert.let"),
        (["update": "c", "updates": [], "upsert": true], "update.upsert"),
        (["count": "c", "filter": ["a": 1]], "count.filter"),
        (["listIndexes": "c", "includeIndexBuildInfo": true], "listIndexes.includeIndexBuildInfo"),
    ] as [(Document, String)])
    func unknownFieldsAreRefused(body: Document, field: String) throws {
        let s = try TestServer()
        let reply = s.run(body)
        #expect(reply["code"] == .int32(40415), "\(reply)")
        #expect(reply["errmsg"]?.stringValue == "BSON field '\(field)' is an unknown field.")
    }

    @Test func whatDriversSendRuns() throws {
        let s = try TestServer()
        let lsid: BSON = ["id": .binary(Binary(subtype: Binary.Subtype.uuid, data: [UInt8](repeating: 9, count: 16)))]
        let generic: Document = ["$db": "test", "lsid": lsid, "$clusterTime": ["clusterTime": .timestamp(Timestamp(seconds: 1, increment: 1))],
                                 "$readPreference": ["mode": "primary"], "comment": "hi", "maxTimeMS": 1000,
                                 "apiVersion": "1", "txnNumber": .int64(1)]
        var insert: Document = ["insert": "c", "documents": [["_id": 1]], "ordered": true, "writeConcern": ["w": 1]]
        for (k, v) in generic { insert.append(k, v) }
        #expect(s.run(insert)["n"] == .int32(1), "\(s.run(insert))")
        var find: Document = ["find": "c", "filter": [:], "sort": ["_id": 1], "projection": ["_id": 1], "limit": 1, "batchSize": 1,
                              "singleBatch": true, "let": ["x": 1], "readConcern": ["level": "local"], "$db": "test"]
        find.append("lsid", lsid)
        #expect(s.firstBatch(s.run(find)) == [["_id": 1]])
        #expect(s.run(["distinct": "c", "key": "_id", "hint": ["_id": 1]])["values"] == [1])
        #expect(s.run(["distinct": "c", "key": "_id", "hint": "nope_1"])["code"] == .int32(2))
    }
}
