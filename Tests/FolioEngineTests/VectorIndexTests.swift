import Foundation
import Testing
import FolioBSON
import FolioQuery
@testable import FolioEngine
import FolioTestSupport

/// Vector search indexes in the engine (Vector/*.swift): the graph follows every write path
/// and takes back writes that do not commit; the store reads back after a reopen; vectors
/// from documents and queries (arrays, BSON binary vectors) parse or are refused cleanly.
@Suite struct VectorIndexTests {
    let vns = try! Namespace(database: "app", collection: "messages")

    func index(_ engine: Engine, similarity: String = "euclidean", filters: [String] = ["tenant"]) throws {
        var fields: [BSON] = [["type": "vector", "path": "v", "numDimensions": 3, "similarity": .string(similarity)]]
        for f in filters { fields.append(["type": "filter", "path": .string(f)]) }
        _ = try engine.createSearchIndexes(vns, [["name": "vec", "type": "vectorSearch", "definition": ["fields": .array(fields)]]])
    }

    func nearest(_ engine: Engine, _ q: [Double], limit: Int = 3, exact: Bool = false, filter: Document? = nil) throws -> [BSON] {
        var stage: Document = ["index": "vec", "path": "v", "queryVector": .array(q.map(BSON.double)), "limit": .int32(Int32(limit))]
        if exact { stage.append("exact", true) } else { stage.append("numCandidates", 50) }
        if let filter { stage.append("filter", .document(filter)) }
        return try docs(engine.aggregate(database: "app", collection: "messages",
                                         AggregateRequest(pipeline: [["$vectorSearch": .document(stage)]]))).map { $0["_id"]! }
    }

    @Test(arguments: Backend.allCases)
    func writesOfEveryKindAreFollowed(backend: Backend) throws {
        let engine = try makeEngine(backend)
        _ = try engine.insert(vns, (0..<50).map { ["_id": .int32(Int32($0)), "tenant": .int32(Int32($0 % 2)), "v": [.double(Double($0)), 0, 0]] })
        try index(engine)
        #expect(try nearest(engine, [10.2, 0, 0]) == [10, 11, 9])
        _ = try engine.update(vns, [UpdateStatement(filter: ["_id": 10], update: ["$set": ["v": [100, 0, 0]]])])
        #expect(try nearest(engine, [10.2, 0, 0]) == [11, 9, 12])
        _ = try engine.delete(vns, [DeleteStatement(filter: ["_id": 11], limitOne: true)])
        #expect(try nearest(engine, [10.2, 0, 0], limit: 2) == [9, 12])
        #expect(try nearest(engine, [10.2, 0, 0], limit: 2, filter: ["tenant": 1]) == [9, 13])
        _ = try engine.update(vns, [UpdateStatement(filter: ["_id": 12], update: ["$set": ["tenant": 1]])])
        #expect(try nearest(engine, [10.2, 0, 0], limit: 2, filter: ["tenant": 1]) == [9, 12])
        // A transaction's writes reach the graph when it commits.
        let txn = try engine.beginTransaction()
        _ = try txn.engine.insert(vns, [["_id": "t", "tenant": 0, "v": [10.2, 0, 0]]])
        #expect(try nearest(engine, [10.2, 0, 0], limit: 1) == [9])
        try txn.commit(durable: false)
        #expect(try nearest(engine, [10.2, 0, 0], limit: 1) == ["t"])
    }

    @Test(arguments: Backend.allCases)
    func aStatementThatFailsTakesItsGraphChangesBack(backend: Backend) throws {
        let engine = try makeEngine(backend)
        _ = try engine.insert(vns, [["_id": 1, "u": 1, "v": [1, 0, 0]]])
        _ = try engine.createIndexes(vns, [["key": ["u": 1], "name": "u_1", "unique": true]])
        try index(engine, filters: [])
        // The second document reaches the graph before the unique index refuses it.
        let r = try engine.insert(vns, [["_id": 2, "u": 2, "v": [5, 0, 0]], ["_id": 3, "u": 1, "v": [6, 0, 0]]],
                                  options: WriteOptions(ordered: false))
        #expect(r.insertedCount == 1 && r.writeErrors.count == 1)
        #expect(try nearest(engine, [6, 0, 0], limit: 5, exact: true) == [2, 1])
        #expect(try nearest(engine, [6, 0, 0], limit: 5) == [2, 1])
        let state = try #require(engine.vectorIndexes?.state(engine.entry(vns)!.searchIndexes[0]) { fatalError("loaded") })
        #expect(state.graph.count == 2 && state.nodes.count == 2)
    }

    @Test func theGraphReadsBackAfterAReopen() throws {
        let dir = tempDir()
        var engine: Engine? = try Engine.open(directory: dir)
        var documents: [Document] = []
        for i in 0..<300 {
            let v: [BSON] = [.double(Double(i % 17)), .double(Double(i / 17)), .double(Double(i % 5))]
            documents.append(["_id": .int32(Int32(i)), "tenant": .int32(Int32(i % 3)), "v": .array(v)])
        }
        _ = try engine!.insert(vns, documents)
        try index(engine!)
        _ = try engine!.delete(vns, [DeleteStatement(filter: ["_id": 7], limitOne: true)])
        _ = try engine!.update(vns, [UpdateStatement(filter: ["_id": 8], update: ["$set": ["v": [50, 50, 50]]])])
        let queries: [[Double]] = [[3, 4, 1], [16, 17, 4], [50, 50, 49], [7, 0, 2]]
        let before = try queries.map { try nearest(engine!, $0, limit: 5, filter: ["tenant": ["$ne": 1]]) }
        let nodes = try engine!.vectorIndexes!.state(engine!.entry(vns)!.searchIndexes[0]) { fatalError() }.graph.count
        engine!.close()
        engine = nil
        let reopened = try Engine.open(directory: dir)
        defer { reopened.close() }
        #expect(try queries.map { try nearest(reopened, $0, limit: 5, filter: ["tenant": ["$ne": 1]]) } == before)
        let state = try reopened.vectorIndexes!.state(reopened.entry(vns)!.searchIndexes[0]) { fatalError("loaded by the query") }
        #expect(state.graph.count == nodes && state.graph.liveCount == 299)
    }

    @Test func documentVectorsParseOrAreLeftOut() throws {
        func parse(_ v: BSON) -> [Float]? { if case .success(let f) = VectorValues.parse(v) { f } else { nil } }
        #expect(parse([1, .int64(2), 2.5]) == [1, 2, 2.5])
        #expect(parse([1, "x"]) == nil)
        #expect(parse([.double(.infinity)]) == nil)
        #expect(parse([.double(1e300)]) == nil)
        #expect(parse(.binary(Binary(subtype: 9, data: [0x03, 0, 0xFF, 2]))) == [-1, 2])
        #expect(parse(.binary(Binary(subtype: 9, data: [0x27, 0] + withUnsafeBytes(of: Float(1.5).bitPattern.littleEndian, Array.init)))) == [1.5])
        #expect(parse(.binary(Binary(subtype: 9, data: [0x10, 3, 0b1010_0000]))) == [1, 0, 1, 0, 0])
        // Malformed binary vectors: short, unknown dtype, bad padding, a partial float.
        for bytes: [UInt8] in [[], [0x27], [0x42, 0], [0x03, 1, 5], [0x27, 0, 1, 2, 3], [0x10, 8, 1], [0x10, 1]] {
            #expect(parse(.binary(Binary(subtype: 9, data: bytes))) == nil, "\(bytes)")
        }
        #expect(parse(.binary(Binary(subtype: 0, data: [0x27, 0]))) == nil)
        // Random bytes never trap.
        var g = SystemRandomNumberGenerator()
        for _ in 0..<2000 {
            let bytes = (0..<Int.random(in: 0..<12, using: &g)).map { _ in UInt8.random(in: 0...255, using: &g) }
            _ = parse(.binary(Binary(subtype: 9, data: bytes)))
        }
    }

    @Test func definitionsAreCheckedAsAtlasChecksThem() throws {
        func code(_ d: Document) -> ErrorCode? {
            do { _ = try VectorIndexDefinition(parsing: d); return nil } catch { return error.code }
        }
        let good: Document = ["fields": [["type": "vector", "path": "a.b", "numDimensions": 8, "similarity": "cosine", "quantization": "none"],
                                         ["type": "filter", "path": "t"]]]
        #expect(code(good) == nil)
        let parsed = try VectorIndexDefinition(parsing: good)
        #expect(parsed.path == "a.b" && parsed.dimensions == 8 && parsed.similarity == .cosine && parsed.filterPaths == ["t"])
        #expect(code(["fields": [["type": "vector", "path": "a", "numDimensions": 8.5, "similarity": "cosine"]]]) == .badValue)
        #expect(code(["fields": [["type": "vector", "path": "a", "numDimensions": .double(.nan), "similarity": "cosine"]]]) == .badValue)
        #expect(code(["fields": [["type": "vector", "path": "$a", "numDimensions": 8, "similarity": "cosine"]]]) == .badValue)
        #expect(code(["fields": [["type": "vector", "path": "a", "numDimensions": 8, "similarity": "cosine"],
                                 ["type": "vector", "path": "b", "numDimensions": 8, "similarity": "cosine"]]]) == .badValue)
        #expect(code(["fields": [["type": "vector", "path": "a", "numDimensions": 8, "similarity": "cosine"], ["type": "filter", "path": "a"]]]) == .badValue)
        #expect(code(["fields": [["type": "vector", "path": "a", "numDimensions": 8, "similarity": "cosine", "hnswOptions": [:]]]]) == .commandNotSupported)
        #expect(code(["fields": [["type": "vector", "path": "a", "numDimensions": 8, "similarity": "cosine", "quantization": "binary"]]]) == .commandNotSupported)
        #expect(code(["fields": [["type": "vector", "path": "a", "numDimensions": 8, "similarity": "cosine", "quantization": "pq"]]]) == .badValue)
    }

    @Test func theScoreEndsWithItsOwnPipeline() throws {
        let engine = try Engine.inMemory()
        _ = try engine.insert(vns, [["_id": 1, "v": [1, 0, 0]], ["_id": 2, "v": [2, 0, 0]]])
        try index(engine, filters: [])
        let stage: BSON = ["$vectorSearch": ["index": "vec", "path": "v", "queryVector": [1, 0, 0], "numCandidates": 10, "limit": 1]]
        let union = try docs(engine.aggregate(database: "app", collection: "messages", AggregateRequest(pipeline: [
            ["$match": ["_id": 2]], ["$unionWith": ["coll": "messages", "pipeline": [stage]]]])))
        #expect(union.map { $0["_id"] } == [2, 1])
        #expect(union.allSatisfy { $0[VectorSearchSpec.scoreField] == nil })
        let explained = try engine.explainAggregate(database: "app", collection: "messages", AggregateRequest(pipeline: [stage]),
                                                    verbosity: .executionStats)
        let shown = explained["stages"]?.arrayValue?.first?.documentValue?["$vectorSearch"]?.documentValue?["explain"]?.documentValue
        #expect(shown?["plan"] == "HNSW" && shown?["liveVectors"] == .int64(2) && shown?["nReturned"] == .int64(1))
    }

    @Test func searchIndexesAreRefusedInsideTransactions() throws {
        let engine = try Engine.inMemory()
        _ = try engine.insert(vns, [["_id": 1, "v": [1, 2, 3]]])
        try index(engine)
        let txn = try engine.beginTransaction()
        defer { txn.abort() }
        #expect(failure { _ = try nearest(txn.engine, [1, 2, 3]) }?.code == .operationNotSupportedInTransaction)
        #expect(failure { _ = try txn.engine.createSearchIndexes(vns, [["name": "x", "type": "vectorSearch", "definition": [:]]]) }?.code
                == .operationNotSupportedInTransaction)
    }
}
