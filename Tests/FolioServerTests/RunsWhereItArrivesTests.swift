import Foundation
import FolioBSON
import Testing
@testable import FolioServer

/// Which commands the wire server runs on the event loop (RunsWhereItArrives.swift): only those
/// that can never wait; the rest go to the connection's queue.
@Suite struct RunsWhereItArrivesTests {
    func inline(_ s: TestServer, _ body: Document, db: String = "test") -> Bool {
        var b = body
        if b["$db"] == nil { b.append("$db", .string(db)) }
        return s.dispatcher.runsWhereItArrives(b)
    }

    @Test func pingAndAHandshakeHelloRunWhereTheyArrive() throws {
        let s = try TestServer()
        #expect(inline(s, ["ping": 1], db: "admin"))
        #expect(inline(s, ["hello": 1, "client": ["application": ["name": "app"]]], db: "admin"))
        #expect(inline(s, ["isMaster": 1], db: "admin"))
        // Authentication in the handshake reads users; an awaitable hello waits.
        #expect(!inline(s, ["hello": 1, "saslSupportedMechs": "admin.ada"], db: "admin"))
        #expect(!inline(s, ["hello": 1, "speculativeAuthenticate": ["saslStart": 1]], db: "admin"))
        #expect(!inline(s, ["hello": 1, "topologyVersion": ["counter": .int64(0)], "maxAwaitTimeMS": 10000], db: "admin"))
    }

    @Test func onlyAFindOfOneDocumentByExactIdInACollection() throws {
        let s = try TestServer()
        s.run(["insert": "c", "documents": [["_id": 1]]])
        s.run(["create": "v", "viewOn": "c", "pipeline": [["$group": ["_id": "$k"]]]])
        #expect(inline(s, ["find": "c", "filter": ["_id": 1]]))
        #expect(inline(s, ["find": "c", "filter": ["_id": "a"], "limit": 1, "singleBatch": true, "projection": ["x": 1],
                           "lsid": ["id": .binary(Binary(subtype: Binary.Subtype.uuid, data: [UInt8](repeating: 1, count: 16)))],
                           "readConcern": ["level": "local"]]))
        // No such collection, a view (its pipeline can be any work), a range, an operator or
        // a document as the _id, another field, no filter.
        #expect(!inline(s, ["find": "missing", "filter": ["_id": 1]]))
        #expect(!inline(s, ["find": "v", "filter": ["_id": 1]]))
        #expect(!inline(s, ["find": "c", "filter": ["_id": ["$gt": 1]]]))
        #expect(!inline(s, ["find": "c", "filter": ["_id": ["a": 1]]]))
        #expect(!inline(s, ["find": "c", "filter": ["_id": [1, 2]]]))
        #expect(!inline(s, ["find": "c", "filter": ["_id": 1, "k": 2]]))
        #expect(!inline(s, ["find": "c", "filter": ["k": 2]]))
        #expect(!inline(s, ["find": "c"]))
        // Options that change the work, transactions and snapshot reads.
        #expect(!inline(s, ["find": "c", "filter": ["_id": 1], "sort": ["k": 1]]))
        #expect(!inline(s, ["find": "c", "filter": ["_id": 1], "collation": ["locale": "fr"]]))
        #expect(!inline(s, ["find": "c", "filter": ["_id": 1], "tailable": true]))
        #expect(!inline(s, ["find": "c", "filter": ["_id": 1], "txnNumber": .int64(1), "autocommit": false]))
        #expect(!inline(s, ["find": "c", "filter": ["_id": 1], "readConcern": ["level": "snapshot"]]))
        #expect(!inline(s, ["find": "c", "filter": ["_id": 1], "readConcern": ["afterClusterTime": .timestamp(Timestamp(seconds: 1, increment: 1))]]))
        // Writes wait for their commit; other reads can scan.
        #expect(!inline(s, ["insert": "c", "documents": [["_id": 2]]]))
        #expect(!inline(s, ["count": "c", "query": ["_id": 1]]))
        #expect(!inline(s, ["aggregate": "c", "pipeline": [["$match": ["_id": 1]]], "cursor": [:]]))
    }

    @Test func nothingRunsOnTheLoopWhileAFailPointCouldBlockIt() throws {
        let s = try TestServer(enableTestCommands: true)
        s.run(["insert": "c", "documents": [["_id": 1]]])
        #expect(inline(s, ["find": "c", "filter": ["_id": 1]]))
        s.run(["configureFailPoint": "failCommand", "mode": "alwaysOn",
               "data": ["failCommands": ["find"], "blockConnection": true, "blockTimeMS": 10]], db: "admin")
        #expect(!inline(s, ["find": "c", "filter": ["_id": 1]]))
        #expect(!inline(s, ["ping": 1], db: "admin"))
        s.run(["configureFailPoint": "failCommand", "mode": "off"], db: "admin")
        #expect(inline(s, ["find": "c", "filter": ["_id": 1]]))
    }

    @Test func notWhileTheProfilerWrites() throws {
        let s = try TestServer()
        s.run(["insert": "c", "documents": [["_id": 1]]])
        s.run(["profile": 2])
        #expect(!inline(s, ["find": "c", "filter": ["_id": 1]]))
        s.run(["profile": 0])
        #expect(inline(s, ["find": "c", "filter": ["_id": 1]]))
    }
}

extension RunsWhereItArrivesTests {
    @Test func theFirstDocumentByAPlainlyIndexedField() throws {
        let s = try TestServer()
        s.run(["insert": "c", "documents": [["_id": 1, "sid": 5, "p": 1, "s": 1, "h": 1, "x": 1, "t": "a"]]])
        let created = s.run(["createIndexes": "c", "indexes": [
            ["key": ["sid": 1], "name": "sid_1"],
            ["key": ["p": 1], "name": "p_1", "partialFilterExpression": ["p": ["$gt": 0]]],
            ["key": ["s": -1], "name": "s_-1", "sparse": true],
            ["key": ["h": 1], "name": "h_1", "hidden": true],
            ["key": ["x": "hashed"], "name": "x_hashed"],
        ]])
        #expect(created["ok"] == .double(1), "\(created)")
        #expect(inline(s, ["find": "c", "filter": ["sid": 5], "limit": .int64(1), "singleBatch": true]))
        #expect(inline(s, ["find": "c", "filter": ["sid": 5], "limit": -1]))
        // Without a limit of one an equality can match any number of documents.
        #expect(!inline(s, ["find": "c", "filter": ["sid": 5]]))
        #expect(!inline(s, ["find": "c", "filter": ["sid": 5], "limit": 2]))
        // No index, or one the planner may not use for it: a collection scan.
        for field in ["nope", "p", "s", "h", "x"] {
            #expect(!inline(s, ["find": "c", "filter": [field: 1], "limit": 1]), "\(field)")
        }
        #expect(!inline(s, ["find": "c", "filter": ["sid": ["$in": [5, 6]]], "limit": 1]))
    }

    /// On SQLite a document that is not in the record cache is read from the file, which on a
    /// cold disk takes milliseconds: such a find goes to the queue, and once that read has
    /// cached the document, the next one runs where it arrives.
    @Test func aFindByIdRunsWhereItArrivesOnlyWhenTheDocumentIsInMemory() throws {
        let directory = NSTemporaryDirectory() + "folio-inline-\(UUID().uuidString)"
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let s = try TestServer(directory: directory)
        s.run(["insert": "c", "documents": [["_id": 1, "v": "a"], ["_id": 2, "v": "b"]]])
        // Written, not yet read: the write left nothing in the cache.
        #expect(!inline(s, ["find": "c", "filter": ["_id": 1]]))
        #expect(s.firstBatch(s.run(["find": "c", "filter": ["_id": 1]]))?.count == 1)
        #expect(inline(s, ["find": "c", "filter": ["_id": 1]]))
        // The same key in another numeric type is the same record.
        #expect(inline(s, ["find": "c", "filter": ["_id": 1.0]]))
        #expect(!inline(s, ["find": "c", "filter": ["_id": 2]]))
        // A document that does not exist is a B-tree descent too.
        #expect(!inline(s, ["find": "c", "filter": ["_id": 3]]))
        // An update keeps a document memory held there (its new version); a delete does not.
        s.run(["update": "c", "updates": [["q": ["_id": 1], "u": ["$set": ["v": "z"]]]]])
        #expect(inline(s, ["find": "c", "filter": ["_id": 1]]))
        s.run(["delete": "c", "deletes": [["q": ["_id": 1], "limit": 1]]])
        #expect(!inline(s, ["find": "c", "filter": ["_id": 1]]))
    }
}
