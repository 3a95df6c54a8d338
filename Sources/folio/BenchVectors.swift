import ArgumentParser
import Dispatch
import Folio
import FolioBSON
import FolioEngine
import Foundation

/// `folio bench-vectors` (hidden): Folio's engine in-process on the vector benchmark's data
/// (Benchmarks/Wire/vector_bench.py makes it and runs this beside hnswlib and FAISS): loads
/// the vectors as documents (`{_id, tag: i % 10, embedding: BSON float32 vector}`), builds
/// a vectorSearch index, then runs `$vectorSearch` aggregations at 1 and 8 threads and
/// reports queries/s and recall@k against the exact neighbours the script computed.
/// Prints one JSON object.
struct BenchVectors: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "bench-vectors", shouldDisplay: false)

    @Option var dbpath: String
    @Option var vectors: String
    @Option var queries: String
    /// Exact neighbours: k int32 ids per query; a second file for the 10% filter (tag 3).
    @Option var truth: String
    @Option(name: .customLong("filtered-truth")) var filteredTruth: String
    @Option var dimensions = 384
    @Option var similarity = "dotProduct"
    /// The index's `quantization`: none, scalar (int8 codes) or binary (one bit per dimension).
    @Option var quantization = "none"
    @Option(name: .customLong("num-candidates")) var numCandidates = 100
    @Option var k = 10
    @Option var threads = [1, 8]

    func run() throws {
        let (dimensions, numCandidates, k) = (self.dimensions, self.numCandidates, self.k)
        let data = try Self.floats(vectors), qs = try Self.floats(queries)
        let n = data.count / dimensions, nq = qs.count / dimensions
        let exact = try Self.ids(truth), exactFiltered = try Self.ids(filteredTruth)
        try? FileManager.default.removeItem(atPath: dbpath)
        let engine = try Engine.open(directory: dbpath)
        defer { engine.close() }
        let ns = try Namespace(database: "bench", collection: "vectors")
        let rssBefore = Self.rssMB()
        var start = BenchScan.now()
        try BenchScan.load(engine, ns, 0..<n) { i in
            ["_id": .int32(Int32(i)), "tag": .int32(Int32(i % 10)), "embedding": Self.vector(data, i, dimensions)]
        }
        let loadSeconds = BenchScan.now() - start
        start = BenchScan.now()
        _ = try engine.createSearchIndexes(ns, [["name": "vec", "type": "vectorSearch", "definition": [
            "fields": [["type": "vector", "path": "embedding", "numDimensions": .int32(Int32(dimensions)), "similarity": .string(similarity),
                        "quantization": .string(quantization)],
                       ["type": "filter", "path": "tag"]]]]])
        let buildSeconds = BenchScan.now() - start
        let rssAfter = Self.rssMB()

        @Sendable func search(_ q: Int, filtered: Bool) throws -> [Int32] {
            var stage: Document = ["index": "vec", "path": "embedding", "queryVector": Self.vector(qs, q, dimensions),
                                   "numCandidates": .int32(Int32(numCandidates)), "limit": .int32(Int32(k))]
            if filtered { stage.append("filter", ["tag": 3]) }
            let cursor = try engine.aggregate(database: "bench", collection: "vectors",
                                              AggregateRequest(pipeline: [["$vectorSearch": .document(stage)], ["$project": ["_id": 1]]]))
            return try cursor.all().compactMap { if case .int32(let v)? = $0.document()["_id"] { v } else { nil } }
        }
        func recall(filtered: Bool) throws -> Double {
            let truth = filtered ? exactFiltered : exact
            var hits = 0
            for q in 0..<nq {
                let want = Set(truth[(q * k)..<((q + 1) * k)])
                hits += try search(q, filtered: filtered).filter(want.contains).count
            }
            return Double(hits) / Double(nq * k)
        }
        var out: [String: Any] = ["vectors": n, "queries": nq, "load_s": loadSeconds, "build_s": buildSeconds,
                                  "index_rss_mb": rssAfter - rssBefore, "recall": try recall(filtered: false),
                                  "recall_filtered": try recall(filtered: true)]
        for t in threads {
            for filtered in [false, true] {
                let rounds = t == 1 ? 2 : 4
                start = BenchScan.now()
                DispatchQueue.concurrentPerform(iterations: t) { worker in
                    for r in 0..<rounds {
                        for q in stride(from: worker, to: nq, by: t) { _ = try? search((q + r) % nq, filtered: filtered) }
                    }
                }
                out["qps_\(t)\(filtered ? "_filtered" : "")"] = Double(nq * rounds) / (BenchScan.now() - start)
            }
        }
        let json = try JSONSerialization.data(withJSONObject: out, options: [.sortedKeys])
        print(String(decoding: json, as: UTF8.self))
    }

    static func vector(_ data: [Float], _ i: Int, _ dims: Int) -> BSON {
        var bytes: [UInt8] = [0x27, 0]
        bytes.reserveCapacity(2 + dims * 4)
        for f in data[(i * dims)..<((i + 1) * dims)] { withUnsafeBytes(of: f.bitPattern.littleEndian) { bytes.append(contentsOf: $0) } }
        return .binary(Binary(subtype: Binary.Subtype.vector, data: bytes))
    }

    static func floats(_ path: String) throws -> [Float] {
        let d = try Data(contentsOf: URL(fileURLWithPath: path))
        return d.withUnsafeBytes { Array($0.bindMemory(to: Float.self)) }
    }

    static func ids(_ path: String) throws -> [Int32] {
        let d = try Data(contentsOf: URL(fileURLWithPath: path))
        return d.withUnsafeBytes { Array($0.bindMemory(to: Int32.self)) }
    }

    static func rssMB() -> Double {
        guard let s = try? String(contentsOfFile: "/proc/self/status", encoding: .utf8),
              let line = s.split(separator: "\n").first(where: { $0.hasPrefix("VmRSS:") }),
              let kb = Double(line.split(separator: " ").dropFirst().first ?? "") else { return 0 }
        return kb / 1024
    }
}
