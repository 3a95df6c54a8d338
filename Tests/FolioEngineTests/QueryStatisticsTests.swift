import Testing
import FolioBSON
@testable import FolioEngine

/// What query plans examined and how long operations took per collection
/// (QueryStatistics.swift): a plan is counted once, when its cursor ends or a write has found
/// its targets; latency totals are kept by kind and forgotten with the collection.
@Suite struct QueryStatisticsTests {
    @Test func plansAreCountedOnceWhenTheyEnd() throws {
        let engine = try Engine.inMemory()
        defer { engine.close() }
        let q = engine.queryStatistics
        _ = try engine.insert(ns, (0..<10).map { ["_id": .int64($0), "a": .int64($0)] })
        _ = try engine.createIndexes(ns, [["key": ["a": 1], "name": "a_1"]])
        let cursor = try engine.find(ns, FindRequest(filter: ["a": ["$lt": 4]]))
        _ = try cursor.next(maxCount: 2)
        // Not yet: the cursor has not ended.
        #expect(q.keysExamined.load(ordering: .relaxed) == 0)
        _ = try cursor.all()
        cursor.close()  // a second end counts nothing more
        #expect(q.keysExamined.load(ordering: .relaxed) == 4 && q.documentsExamined.load(ordering: .relaxed) == 4)
        #expect(q.collectionScans.load(ordering: .relaxed) == 0)
        // A sorted collection scan, closed before its end, and a delete's targets.
        let scan = try engine.find(ns, FindRequest(filter: ["b": ["$exists": false]], sort: ["b": 1]))
        scan.close()
        _ = try engine.delete(ns, [DeleteStatement(filter: ["b": 1], limitOne: false)])
        #expect(q.collectionScans.load(ordering: .relaxed) == 2 && q.blockingSorts.load(ordering: .relaxed) == 1)
        #expect(q.collectionScans(ns) == (2, 2))
        try engine.dropCollection(ns)
        #expect(q.collectionScans(ns) == (0, 0))
    }

    @Test func latencyIsKeptByKindAndForgottenWithTheCollection() throws {
        let latency = LatencyStatistics()
        latency.record(ns, .reads, microseconds: 40)
        latency.record(ns, .reads, microseconds: 2)
        latency.record(ns, .writes, microseconds: 7)
        let d = latency.document(ns)
        #expect(d.fieldNames == ["reads", "writes", "commands", "transactions"])
        #expect(d["reads"] == ["latency": .int64(42), "ops": .int64(2)])
        #expect(d["writes"] == ["latency": .int64(7), "ops": .int64(1)])
        #expect(d["commands"] == ["latency": .int64(0), "ops": .int64(0)])
        latency.forget(ns)
        #expect(latency.document(ns)["reads"] == ["latency": .int64(0), "ops": .int64(0)])
    }
}
