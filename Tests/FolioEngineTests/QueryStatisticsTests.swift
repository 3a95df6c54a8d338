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

    /// MongoDB's 51 histogram buckets: powers of two up to 1024 µs, half steps from 2048 µs
    /// to 2^21, powers of two to 2^40; a latency counts in the bucket of the largest lower
    /// bound not above it.
    @Test func histogramsUseMongoDBsBuckets() {
        let bounds = LatencyStatistics.lowerBounds
        #expect(bounds.count == 51)
        #expect(Array(bounds.prefix(14)) == [0, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024, 2048, 3072, 4096])
        #expect(bounds[30] == 1_572_864 && bounds[31] == 2_097_152 && bounds.last == 1 << 40)
        for value: Int64 in [0, 1, 2, 3, 1023, 2048, 3071, 3072, 4095, 49_151, 49_152, 2_097_151, 2_097_152, 5_000_000, 1 << 50] {
            let b = LatencyStatistics.bucket(value)
            #expect(bounds[b] <= value || value == 0, "\(value) in bucket \(b)")
            #expect(b == bounds.count - 1 || value < bounds[b + 1], "\(value) in bucket \(b)")
        }
        let latency = LatencyStatistics()
        for us: Int64 in [1, 1, 3000, 3100] { latency.record(ns, .writes, microseconds: us) }
        #expect(latency.document(ns, histograms: true)["writes"] == [
            "histogram": [["micros": .int64(0), "count": .int64(2)], ["micros": .int64(2048), "count": .int64(1)],
                          ["micros": .int64(3072), "count": .int64(1)]],
            "latency": .int64(6102), "ops": .int64(4)])
    }
}
