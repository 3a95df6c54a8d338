import Testing
import FolioBSON
import FolioQuery
@testable import FolioServer

/// Per-database quotas (Quotas.swift, Commands/SetDatabaseQuota.swift).
@Suite struct QuotasTests {
    @Test func settingShowingAndRemovingAQuota() throws {
        let s = try TestServer()
        #expect(s.run(["setDatabaseQuota": "t", "maxDocuments": 10, "maxStorageBytes": .int64(1 << 20)], db: "admin")["quota"]
                == ["maxStorageBytes": .int64(1 << 20), "maxDocuments": .int64(10)])
        let stats = s.run(["dbStats": 1], db: "t")["quota"]?.documentValue
        #expect(stats?["maxDocuments"] == .int64(10) && stats?["usage"]?.documentValue?["documents"] == .int64(0))
        #expect(s.run(["setDatabaseQuota": "t"], db: "admin")["quota"] == [:])
        #expect(s.run(["dbStats": 1], db: "t")["quota"] == nil)
        for bad: Document in [["setDatabaseQuota": "t", "maxDocuments": -1], ["setDatabaseQuota": "t", "maxDocuments": "x"],
                              ["setDatabaseQuota": 1], ["setDatabaseQuota": "t", "maxRows": 1]] {
            #expect(s.run(bad, db: "admin")["ok"] == .double(0), "\(bad)")
        }
        #expect(s.run(["setDatabaseQuota": "t", "maxDocuments": 1], db: "t")["code"] == .int32(13))
    }

    @Test func aDocumentQuotaRefusesGrowingWritesOnly() throws {
        let s = try TestServer()
        #expect(s.run(["setDatabaseQuota": "t", "maxDocuments": 3], db: "admin")["ok"] == .double(1))
        #expect(s.run(["insert": "c", "documents": [["_id": 1], ["_id": 2]]], db: "t")["n"] == .int32(2))
        let over = s.run(["insert": "c", "documents": [["_id": 3], ["_id": 4]]], db: "t")
        #expect(over["code"] == .int32(8000) && over["codeName"] == "Location8000")
        #expect(s.run(["insert": "c", "documents": [["_id": 3]]], db: "t")["n"] == .int32(1))
        #expect(s.run(["insert": "c", "documents": [["_id": 5]]], db: "t")["code"] == .int32(8000))
        // Reads, deletes and other databases go on; nothing stored is lost.
        #expect(s.firstBatch(s.run(["find": "c"], db: "t"))?.count == 3)
        #expect(s.run(["delete": "c", "deletes": [["q": ["_id": 1], "limit": 1]]], db: "t")["n"] == .int32(1))
        #expect(s.run(["insert": "c", "documents": [["_id": 6]]], db: "t")["n"] == .int32(1))
        #expect(s.run(["insert": "c", "documents": [["_id": 1]]], db: "other")["n"] == .int32(1))
    }

    @Test func aStorageQuotaCountsMeasuredAndInsertedBytes() throws {
        let s = try TestServer()
        let pad = String(repeating: "x", count: 1000)
        #expect(s.run(["insert": "c", "documents": .array((0..<5).map { .document(["i": .int32(Int32($0)), "pad": .string(pad)]) })], db: "t")["n"] == .int32(5))
        #expect(s.run(["setDatabaseQuota": "t", "maxStorageBytes": 8000], db: "admin")["ok"] == .double(1))
        #expect(s.dispatcher.context.quotas.storageBytes("t") > 5000)
        // Under the quota until inserts pass it, then refused.
        var refused = false
        for i in 0..<10 where !refused {
            let reply = s.run(["insert": "c", "documents": [["i": .int32(Int32(100 + i)), "pad": .string(pad)]]], db: "t")
            refused = reply["code"] == .int32(8000)
        }
        #expect(refused)
        #expect(s.run(["count": "c"], db: "t")["n"]?.exactInt64 ?? 0 <= 9)
        #expect(s.run(["update": "c", "updates": [["q": [:], "u": ["$set": ["y": 1]]]]], db: "t")["code"] == .int32(8000))
        #expect(s.run(["aggregate": "c", "pipeline": [["$out": "copy"]], "cursor": [:]], db: "t")["code"] == .int32(8000))
        #expect(s.run(["aggregate": "c", "pipeline": [["$count": "n"]], "cursor": [:]], db: "t")["ok"] == .double(1))
        // Deleting and measuring again makes room.
        #expect(s.run(["delete": "c", "deletes": [["q": [:], "limit": 0]]], db: "t")["ok"] == .double(1))
        s.dispatcher.context.quotas.measureAll()
        #expect(s.run(["insert": "c", "documents": [["i": 1]]], db: "t")["n"] == .int32(1))
    }

    @Test func theRateQuotaWaitsBrieflyThenRefusesRetryably() throws {
        let s = try TestServer()
        #expect(s.run(["setDatabaseQuota": "t", "maxOperationsPerSecond": 5], db: "admin")["ok"] == .double(1))
        var refusals: [Document] = []
        for _ in 0..<20 {
            let reply = s.run(["find": "c"], db: "t")
            if reply["ok"] == .double(0) { refusals.append(reply) }
        }
        #expect(refusals.count >= 10)
        #expect(refusals.first?["code"] == .int32(449) && refusals.first?["errorLabels"] == ["SystemOverloadedError", "RetryableError"])
        #expect(s.run(["find": "c"], db: "other")["ok"] == .double(1))
    }

    @Test func connectionsPerUserAreLimited() throws {
        let s = try TestServer(auth: true)
        #expect(s.run(["createUser": "root", "pwd": "pw", "roles": ["root"]], db: "admin")["ok"] == .double(1))
        try s.authenticate("root", "pw", db: "admin")
        #expect(s.run(["createUser": "app", "pwd": "pw", "roles": ["readWrite"]], db: "t")["ok"] == .double(1))
        #expect(s.run(["setDatabaseQuota": "t", "maxConnectionsPerUser": 1], db: "admin")["ok"] == .double(1))
        let a = ConnectionInfo(id: 31, remoteAddress: "10.0.0.1:1"), b = ConnectionInfo(id: 32, remoteAddress: "10.0.0.1:2")
        #expect(try s.authenticate("app", "pw", db: "t", connection: a)["done"] == true)
        #expect(try s.authenticate("app", "pw", db: "t", connection: b)["code"] == .int32(8000))
        #expect(s.run(["find": "c"], db: "t", connection: b)["code"] == .int32(13))
        s.dispatcher.context.connections.closed(a.id)
        #expect(try s.authenticate("app", "pw", db: "t", connection: b)["done"] == true)
    }
}
