import Testing
import FolioBSON
@testable import FolioServer

/// The Stable API parameters (StableAPI.swift): checked before a command runs, as MongoDB 8.0.
@Suite struct StableAPITests {
    private func code(_ reply: Document) -> Int32? { reply["code"]?.int32Value }

    @Test func parametersAreParsedAndChecked() throws {
        let s = try TestServer()
        let cases: [(Document, Int32, String)] = [
            (["ping": 1, "apiStrict": true], 4886600, "Provided apiStrict and/or apiDeprecationErrors without passing apiVersion"),
            (["ping": 1, "apiDeprecationErrors": false], 4886600, "Provided apiStrict and/or apiDeprecationErrors without passing apiVersion"),
            (["ping": 1, "apiVersion": 1], 14, "BSON field 'apiVersion' is the wrong type 'int', expected type 'string'"),
            (["ping": 1, "apiVersion": "1", "apiStrict": "true"], 14, "BSON field 'apiStrict' is the wrong type 'string', expected type 'boolean'"),
            (["ping": 1, "apiVersion": "2"], 322, "Cannot accept API version 2"),
            (["ping": 1, "apiVersion": "server_will_never_support_this_api_version"], 322, "API version must be \"1\""),
        ]
        for (body, expectedCode, message) in cases {
            let reply = s.run(body)
            #expect(code(reply) == expectedCode && reply["errmsg"]?.stringValue == message, "\(body) → \(reply)")
        }
        for body: Document in [["ping": 1, "apiVersion": "1", "apiStrict": true, "apiDeprecationErrors": true],
                               ["ping": 1, "apiVersion": "1", "apiStrict": false, "apiDeprecationErrors": false],
                               ["buildInfo": 1, "apiVersion": "1"], ["buildinfo": 1, "apiVersion": "1", "apiDeprecationErrors": true]] {
            #expect(s.run(body)["ok"] == .double(1), "\(body)")
        }
    }

    /// Under `apiStrict: true` a command outside version 1 is refused before it runs.
    @Test func strictRefusesCommandsOutsideVersionOne() throws {
        let s = try FindTests.server()
        let strict: Document = ["apiVersion": "1", "apiStrict": true]
        func run(_ body: Document) -> Document { s.run(body.merging(strict)) }
        let distinct = run(["distinct": "t", "key": "_id"])
        #expect(code(distinct) == 323 && distinct["codeName"] == "APIStrictError")
        #expect(distinct["errmsg"]?.stringValue?.hasPrefix("Provided apiStrict:true, but the command distinct is not in API Version 1.") == true)
        // An alias is reported by the command's own name; isMaster is not in version 1, hello is.
        #expect(run(["ismaster": 1])["errmsg"]?.stringValue?.contains("the command isMaster is not") == true)
        #expect(run(["hello": 1])["ok"] == .double(1))
        #expect(run(["findandmodify": "t", "query": ["_id": 0], "update": ["$set": ["x": 1]]])["ok"] == .double(1))
        // bulkWrite is not in version 1: nothing of it is applied.
        let bulkWrite: Document = ["bulkWrite": 1, "ops": [["insert": 0, "document": ["_id": 99]]], "nsInfo": [["ns": "test.t"]]]
        let bulk = s.run(bulkWrite.merging(strict), db: "admin")
        #expect(code(bulk) == 323, "\(bulk)")
        #expect(s.run(["count": "t", "query": ["_id": 99]])["n"] == .int32(0))
        // The same request without strictness runs.
        let lenient = s.run(bulkWrite.merging(["apiVersion": "1"]), db: "admin")
        #expect(lenient["nInserted"] == .int32(1), "\(lenient)")
        #expect(s.run(["count": "t", "query": ["_id": 99]])["n"] == .int32(1))
    }

    @Test func strictRefusesStagesOutsideVersionOne() throws {
        let s = try FindTests.server()
        let strict: Document = ["apiVersion": "1", "apiStrict": true]
        let pipelines: [BSON] = [
            [["$collStats": ["count": [:]]]],
            [["$facet": ["a": [["$match": [:]]], "b": [["$indexStats": [:]]]]]],
            [["$lookup": ["from": "t", "as": "j", "pipeline": [["$currentOp": [:]]]]]],
            [["$unionWith": ["coll": "t", "pipeline": [["$planCacheStats": [:]]]]]],
        ]
        for pipeline in pipelines {
            let aggregate: Document = ["aggregate": "t", "pipeline": pipeline, "cursor": [:]]
            let reply = s.run(aggregate.merging(strict))
            #expect(code(reply) == 323, "\(pipeline) → \(reply)")
            #expect(reply["errmsg"]?.stringValue?.hasSuffix("is not allowed with 'apiStrict: true' in API Version 1") == true)
        }
        let explainBody: Document = ["explain": ["aggregate": "t", "pipeline": [["$collStats": [:]]], "cursor": [:]]]
        let explain = s.run(explainBody.merging(strict))
        #expect(code(explain) == 323, "\(explain)")
        // Without strictness the same stage runs.
        let lenient = s.run(["aggregate": "t", "pipeline": [["$collStats": ["count": [:]]]], "cursor": [:], "apiVersion": "1"])
        #expect(s.firstBatch(lenient)?.count == 1, "\(lenient)")
    }

    /// A getMore declares what the command that opened its cursor declared (347).
    /// Fields, expressions and options outside version 1 (api_version_unstable_fields.js,
    /// api_version_create.js): refused under `apiStrict: true` whatever their value, and
    /// accepted without it.
    @Test func strictRefusesFieldsExpressionsAndOptionsOutsideVersionOne() throws {
        let s = try TestServer()
        s.run(["insert": "c", "documents": [["_id": 1, "a": 1]]])
        let strict: Document = ["apiVersion": "1", "apiStrict": true]
        func run(_ body: Document, strict on: Bool = true) -> Document {
            var b = body
            if on { for (k, v) in strict { b.append(k, v) } } else { b.append("apiVersion", "1") }
            return s.run(b)
        }
        for field in ["min", "max", "returnKey", "showRecordId", "noCursorTimeout", "tailable", "awaitData"] {
            let value: BSON = field == "min" || field == "max" ? ["a": 1] : false
            let reply = run(["find": "c", .init(field): value])
            #expect(code(reply) == 323, "\(field): \(reply)")
            #expect(reply["errmsg"]?.stringValue == "BSON field 'find.\(field)' is not allowed with apiStrict:true.")
        }
        #expect(code(run(["aggregate": "c", "pipeline": [], "cursor": [:], "explain": false])) == 323)
        #expect(run(["find": "c", "returnKey": false], strict: false)["ok"] == .double(1))
        // $median and $percentile are never in version 1, wherever they appear.
        let median: Document = ["$group": ["_id": .null, "m": ["$median": ["input": "$a", "method": "approximate"]]]]
        let refused = run(["aggregate": "c", "pipeline": [.document(median)], "cursor": [:]])
        #expect(code(refused) == 323 && refused["errmsg"]?.stringValue == "$median is not allowed with 'apiStrict: true' in API Version 1")
        #expect(run(["aggregate": "c", "pipeline": [.document(median)], "cursor": [:]], strict: false)["ok"] == .double(1))
        #expect(code(run(["find": "c", "projection": ["p": ["$percentile": ["input": ["$a"], "p": [0.5], "method": "approximate"]]]])) == 323)
        // A view: its definition and the reads through it.
        #expect(code(run(["create": "v", "viewOn": "c", "pipeline": [.document(median)]])) == 323)
        #expect(run(["create": "v", "viewOn": "c", "pipeline": [.document(median)]], strict: false)["ok"] == .double(1))
        #expect(code(run(["aggregate": "v", "pipeline": [], "cursor": [:]])) == 323)
        // A capped collection is outside version 1; its options are checked first.
        #expect(code(run(["create": "capped", "capped": true, "size": 1000])) == 323)
        #expect(code(run(["create": "capped", "capped": true])) == 72)
        #expect(run(["create": "notCapped", "capped": false])["ok"] == .double(1))
    }

    @Test func getMoreMustMatchTheCursorsParameters() throws {
        let s = try FindTests.server()
        let opened = s.run(["find": "t", "batchSize": 1, "apiVersion": "1", "apiStrict": true])
        let id = try #require(opened["cursor"]?.documentValue?["id"])
        let same = s.run(["getMore": id, "collection": "t", "batchSize": 1, "apiVersion": "1", "apiStrict": true])
        #expect(same["ok"] == .double(1), "\(same)")
        let other = s.run(["getMore": id, "collection": "t", "batchSize": 1])
        #expect(code(other) == 347 && other["codeName"] == "APIMismatchError", "\(other)")
        #expect(other["errmsg"] == "API parameter mismatch: getMore used params {}, the cursor-creating command used { apiVersion: \"1\", apiStrict: true }")
    }
}

private extension Document {
    func merging(_ other: Document) -> Document {
        var out = self
        for (k, v) in other { out.append(k, v) }
        return out
    }
}
