import Testing
import FolioBSON
@testable import FolioServer

/// serverStatus's counters (ServerMetrics.swift, Commands/Admin.swift): counted as MongoDB
/// counts them, with MongoDB's types.
@Suite struct ServerMetricsTests {
    private func status(_ s: TestServer, _ extra: Document = [:]) throws -> Document {
        var body: Document = ["serverStatus": 1]
        for (k, v) in extra { body.append(k, v) }
        let reply = s.run(body, db: "admin")
        #expect(reply["ok"] == .double(1), "\(reply)")
        return reply
    }

    private func section(_ d: Document, _ path: String) -> Document? {
        var current: BSON = .document(d)
        for part in path.split(separator: ".") {
            guard case .document(let inner) = current, let next = inner[String(part)] else { return nil }
            current = next
        }
        return current.documentValue
    }

    /// How much an int64 counter at `path.key` moved between two serverStatus replies.
    private func delta(_ before: Document, _ after: Document, _ path: String, _ key: String) -> Int64? {
        guard case .int64(let a)? = section(after, path)?[key], case .int64(let b)? = section(before, path)?[key] else { return nil }
        return a - b
    }

    @Test func opcountersAndDocumentMetrics() throws {
        let s = try TestServer()
        let before = try status(s)
        s.run(["insert": "m", "documents": [["_id": 1], ["_id": 2], ["_id": 3]]])
        s.run(["insert": "m", "documents": [["_id": 1]]])  // a duplicate: counted as attempted, not inserted
        s.run(["update": "m", "updates": [["q": ["_id": 1], "u": ["$set": ["x": 1]]], ["q": ["_id": 9], "u": ["$set": ["x": 1]]]]])
        s.run(["delete": "m", "deletes": [["q": ["_id": 3], "limit": 1]]])
        let find = s.run(["find": "m", "batchSize": 1])
        let id = try #require(find["cursor"]?.documentValue?["id"])
        s.run(["getMore": id, "collection": "m"])
        s.run(["noSuchCommand": 1])
        let after = try status(s)
        func delta(_ path: String, _ key: String) -> Int64? { self.delta(before, after, path, key) }
        #expect(delta("opcounters", "insert") == 4)
        #expect(delta("opcounters", "update") == 2)
        #expect(delta("opcounters", "delete") == 1)
        #expect(delta("opcounters", "query") == 1)
        #expect(delta("opcounters", "getmore") == 1)
        // insert ×2, update, delete, find and getMore are not commands; the unknown command
        // and the first serverStatus are.
        #expect(delta("opcounters", "command") == 2)
        #expect(delta("metrics.document", "inserted") == 3)
        #expect(delta("metrics.document", "updated") == 1)
        #expect(delta("metrics.document", "deleted") == 1)
        #expect(delta("metrics.document", "returned") == 2)
        #expect(delta("metrics.commands.insert", "total") == 2)
        #expect(delta("metrics.commands", "<UNKNOWN>") == 1)
        #expect(section(after, "metrics.commands.insert")?["failed"] == .int64(0), "a write error is not a failed command")
        #expect(section(after, "asserts")?["user"] == .int32(1))
        #expect(section(after, "metrics.cursor")?["totalOpened"] == .int64(1))
        #expect(section(after, "catalogStats")?["collections"] == .int32(1))
        // Aliases share their command's counter.
        #expect(section(after, "metrics.commands.findAndModify") != nil && section(after, "metrics.commands.findandmodify") == nil)
    }

    /// metrics.queryExecutor and metrics.operation count what plans examined; globalLock has
    /// the queue and active clients mongostat reads; catalogStats counts views and internal
    /// collections; $collStats has latencyStats and queryExecStats.
    @Test func queryExecutorGlobalLockCatalogAndCollectionStats() throws {
        let s = try TestServer()
        s.run(["insert": "q", "documents": .array((0..<10).map { .document(["_id": .int32(Int32($0)), "a": .int32(Int32($0))]) })])
        s.run(["createIndexes": "q", "indexes": [["key": ["a": 1], "name": "a_1"]]])
        let before = try status(s)
        s.run(["find": "q", "filter": ["a": ["$gte": 7]]])              // 3 keys, 3 documents
        s.run(["find": "q", "filter": ["b": 1], "sort": ["b": 1]])      // a collection scan of 10, sorted
        s.run(["update": "q", "updates": [["q": ["_id": 2], "u": ["$set": ["c": 1]]]]])  // IDHACK: 1 key, 1 document
        let after = try status(s)
        func delta(_ path: String, _ key: String) -> Int64? { self.delta(before, after, path, key) }
        #expect(delta("metrics.queryExecutor", "scanned") == 4)
        #expect(delta("metrics.queryExecutor", "scannedObjects") == 14)
        #expect(delta("metrics.queryExecutor.collectionScans", "total") == 1)
        #expect(delta("metrics.queryExecutor.collectionScans", "nonTailable") == 1)
        #expect(delta("metrics.operation", "scanAndOrder") == 1)
        let lock = try #require(after["globalLock"]?.documentValue)
        #expect(lock["totalTime"]?.type == .int64)
        // The serverStatus running now is the one active client, a reader.
        #expect(section(after, "globalLock.activeClients") == ["total": .int32(1), "readers": .int32(1), "writers": .int32(0)])
        #expect(section(after, "globalLock.currentQueue") == ["total": .int32(0), "readers": .int32(0), "writers": .int32(0)])
        s.run(["create": "qv", "viewOn": "q", "pipeline": []])
        s.run(["create": "system.profile", "capped": true, "size": 4096])
        let catalog = section(try status(s), "catalogStats")
        #expect(catalog?["collections"] == .int32(1) && catalog?["views"] == .int32(1) && catalog?["internalCollections"] == .int32(2))
        #expect(catalog?["capped"] == .int32(0))
        let stats = s.run(["aggregate": "q", "pipeline": [["$collStats": ["latencyStats": [:], "queryExecStats": [:]]]], "cursor": [:]])
        let first = try #require(s.firstBatch(stats)?.first?.documentValue, "\(stats)")
        #expect(section(first, "queryExecStats.collectionScans") == ["total": .int64(1), "nonTailable": .int64(1)])
        #expect(section(first, "latencyStats.reads")?["ops"] == .int64(2))
        #expect(section(first, "latencyStats.writes")?["ops"] == .int64(2))  // the first insert and the update
        #expect(section(first, "latencyStats.commands")?["ops"] == .int64(1))  // createIndexes
        let histograms = s.run(["aggregate": "q", "pipeline": [["$collStats": ["latencyStats": ["histograms": true]]]], "cursor": [:]])
        let reads = section(try #require(s.firstBatch(histograms)?.first?.documentValue), "latencyStats.reads")
        #expect(reads?.fieldNames == ["histogram", "latency", "ops"])
        let counts = reads?["histogram"]?.arrayValue?.compactMap { $0.documentValue?["count"]?.exactInt64 } ?? []
        #expect(counts.reduce(0, +) == 3)  // two finds and the $collStats aggregate before this one
    }

    @Test func sectionsCanBeLeftOut() throws {
        let s = try TestServer()
        let all = try status(s)
        for name in ["asserts", "connections", "mem", "network", "opcounters", "opcountersRepl", "metrics", "storageEngine", "catalogStats"] {
            #expect(all[name]?.documentValue != nil, "\(name) missing")
        }
        #expect(all["pid"]?.type == .int64 && all["uptimeMillis"]?.type == .int64 && all["uptime"]?.type == .double)
        let some = try status(s, ["metrics": 0, "opcounters": false, "mem": 1])
        #expect(some["metrics"] == nil && some["opcounters"] == nil && some["mem"] != nil && some["host"] != nil)
    }

    @Test func currentOpStageListsRunningOperations() throws {
        let s = try TestServer()
        let reply = s.run(["aggregate": 1, "pipeline": [["$currentOp": ["allUsers": true]]], "cursor": [:]], db: "admin")
        let ops = try #require(s.firstBatch(reply), "\(reply)")
        #expect(ops.count == 1 && ops.first?.documentValue?["command"]?.documentValue?["aggregate"] == .int32(1))
        let bad = s.run(["aggregate": 1, "pipeline": [["$currentOp": ["nope": true]]], "cursor": [:]], db: "admin")
        #expect(bad["code"] == .int32(40415))
    }
}
