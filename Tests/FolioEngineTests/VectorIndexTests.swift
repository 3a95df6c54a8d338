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

    func index(_ engine: Engine, similarity: String = "euclidean", filters: [String] = ["tenant"], quantization: String = "none",
               dimensions: Int = 3) throws {
        var fields: [BSON] = [["type": "vector", "path": "v", "numDimensions": .int32(Int32(dimensions)), "similarity": .string(similarity),
                               "quantization": .string(quantization)]]
        for f in filters { fields.append(["type": "filter", "path": .string(f)]) }
        _ = try engine.createSearchIndexes(vns, [["name": "vec", "type": "vectorSearch", "definition": ["fields": .array(fields)]]])
    }

    func nearest(_ engine: Engine, _ q: [Double], limit: Int = 3, exact: Bool = false, filter: Document? = nil) throws -> [BSON] {
        try scored(engine, q, limit: limit, exact: exact, filter: filter).map(\.id)
    }

    func scored(_ engine: Engine, _ q: [Double], limit: Int, exact: Bool = false, numCandidates: Int = 50,
                filter: Document? = nil) throws -> [(id: BSON, score: Double)] {
        var stage: Document = ["index": "vec", "path": "v", "queryVector": .array(q.map(BSON.double)), "limit": .int32(Int32(limit))]
        if exact { stage.append("exact", true) } else { stage.append("numCandidates", .int32(Int32(numCandidates))) }
        if let filter { stage.append("filter", .document(filter)) }
        let pipeline: [BSON] = [["$vectorSearch": .document(stage)], ["$project": ["s": ["$meta": "vectorSearchScore"]]]]
        return try docs(engine.aggregate(database: "app", collection: "messages", AggregateRequest(pipeline: pipeline))).map {
            guard case .double(let s)? = $0["s"] else { throw FolioError(.internalError, "no score in \($0)") }
            return ($0["_id"]!, s)
        }
    }

    // Binary quantization of these three-dimensional vectors leaves one bit: every code ties,
    // and a walk among ties cannot find everything (quantizedIndexesScoreWithFullVectors
    // follows binary indexes through writes instead).
    @Test(arguments: Backend.allCases, ["none", "scalar"])
    func writesOfEveryKindAreFollowed(backend: Backend, quantization: String) throws {
        let engine = try makeEngine(backend)
        _ = try engine.insert(vns, (0..<50).map { ["_id": .int32(Int32($0)), "tenant": .int32(Int32($0 % 2)), "v": [.double(Double($0)), 0, 0]] })
        try index(engine, quantization: quantization)
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

    @Test(arguments: ["none", "scalar", "binary"])
    func theGraphReadsBackAfterAReopen(quantization: String) throws {
        let dir = tempDir()
        var engine: Engine? = try Engine.open(directory: dir)
        var documents: [Document] = []
        for i in 0..<300 {
            let v: [BSON] = [.double(Double(i % 17)), .double(Double(i / 17)), .double(Double(i % 5))]
            documents.append(["_id": .int32(Int32(i)), "tenant": .int32(Int32(i % 3)), "v": .array(v)])
        }
        _ = try engine!.insert(vns, documents)
        try index(engine!, quantization: quantization)
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

    /// A quantized graph only ranks candidates: scores, and `exact` searches, come from the full
    /// vectors in the index's store, so they equal float32 arithmetic on the documents' vectors.
    @Test(arguments: ["scalar", "binary"], ["euclidean", "cosine", "dotProduct"])
    func quantizedIndexesScoreWithFullVectors(quantization: String, similarity: String) throws {
        let engine = try makeEngine(.sqlite)
        var g = SystemRandomNumberGenerator()
        func random() -> [Float] { (0..<16).map { _ in Float.random(in: -1...1, using: &g) } }
        func stored(_ v: [Float]) -> BSON { .array(v.map { .double(Double($0)) }) }
        // The model: id → (vector, tenant).
        var model: [Int32: ([Float], Int32)] = [:]
        for i in Int32(0)..<300 { model[i] = (random(), i % 4) }
        _ = try engine.insert(vns, model.sorted { $0.key < $1.key }.map { ["_id": .int32($0.key), "tenant": .int32($0.value.1), "v": stored($0.value.0)] })
        try index(engine, similarity: similarity, quantization: quantization, dimensions: 16)
        func expected(_ q: [Float], tenant: Int32?) -> [(Int32, Double)] {
            func unit(_ v: [Float]) -> [Float] { let n = v.reduce(0) { $0 + $1 * $1 }.squareRoot(); return v.map { $0 / n } }
            let scores = model.filter { tenant == nil || $0.value.1 == tenant }.map { id, entry -> (Int32, Double) in
                let v = entry.0, score: Float
                switch similarity {
                case "euclidean": score = 1 / (1 + zip(q, v).reduce(0) { $0 + ($1.0 - $1.1) * ($1.0 - $1.1) })
                case "cosine": score = (1 + zip(unit(q), unit(v)).reduce(0) { $0 + $1.0 * $1.1 }) / 2
                default: score = max((1 + zip(q, v).reduce(0) { $0 + $1.0 * $1.1 }) / 2, 0)
                }
                return (id, Double(score))
            }
            return Array(scores.sorted { $0.1 > $1.1 || ($0.1 == $1.1 && $0.0 < $1.0) }.prefix(5))
        }
        func check() throws {
            for _ in 0..<5 {
                let q = random()
                for tenant: Int32? in [nil, 2] {
                    let filter: Document? = tenant.map { ["tenant": .int32($0)] }
                    let want = expected(q, tenant: tenant)
                    let exact = try scored(engine, q.map(Double.init), limit: 5, exact: true, filter: filter)
                    #expect(exact.map(\.id) == want.map { .int32($0.0) })
                    for (got, w) in zip(exact, want) { #expect(abs(got.score - w.1) < 1e-5) }
                    // With every document a candidate, the rescored walk finds the same five.
                    let approximate = try scored(engine, q.map(Double.init), limit: 5, numCandidates: 400, filter: filter)
                    #expect(approximate.map(\.id) == exact.map(\.id))
                    for (a, e) in zip(approximate, exact) { #expect(abs(a.score - e.score) < 1e-6) }
                }
            }
        }
        try check()
        // Moved vectors, deleted documents and changed filter values reach the stored records.
        for i in Int32(0)..<30 {
            model[i]!.0 = random()
            _ = try engine.update(vns, [UpdateStatement(filter: ["_id": .int32(i)], update: ["$set": ["v": stored(model[i]!.0)]])])
        }
        for i in Int32(30)..<40 {
            model[i] = nil
            _ = try engine.delete(vns, [DeleteStatement(filter: ["_id": .int32(i)], limitOne: true)])
        }
        for i in Int32(40)..<60 {
            model[i]!.1 = 2
            _ = try engine.update(vns, [UpdateStatement(filter: ["_id": .int32(i)], update: ["$set": ["tenant": 2]])])
        }
        try check()
        let state = try #require(engine.vectorIndexes?.state(engine.entry(vns)!.searchIndexes[0]) { fatalError("loaded") })
        #expect(state.graph.bytesPerVector == (quantization == "scalar" ? 32 : 8))
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
        #expect(try VectorIndexDefinition(parsing: ["fields": [["type": "vector", "path": "a", "numDimensions": 8, "similarity": "cosine",
                                                                  "quantization": "binary"]]]).quantization == .binary)
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
