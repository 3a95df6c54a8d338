import Benchmark
import CSQLiteBench
import Foundation
import FolioBSON
import FolioEngine

// In-process engine benchmarks on the SQLite engine with ~1 KB documents, next to the same
// operations done directly in SQLite (one table, BLOB key and value): the floor this design
// can reach.

/// Built once: `String(repeating:count:)` appends character by character, and built per
/// document it cost more than the inserts it was part of (both Folio's and the raw floor's).
let bio = BSON.string(String(repeating: "b", count: 900))

func document(_ i: Int) -> Document {
    ["_id": .int64(Int64(i)), "name": .string("user-\(i)"), "status": .string(i % 2 == 0 ? "active" : "idle"),
     "age": .int32(Int32(i % 90)), "bio": bio, "score": .double(Double(i) * 0.5)]
}

func tempDirectory() -> String {
    let path = NSTemporaryDirectory() + "folio-bench-\(UUID().uuidString)"
    try? FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    return path
}

let preloaded = 100_000

/// Raw SQLite with the same schema the engine uses.
final class RawSQLite: @unchecked Sendable {
    var db: OpaquePointer?
    var insert: OpaquePointer?
    var select: OpaquePointer?
    var scan: OpaquePointer?

    init(path: String) {
        sqlite3_open(path, &db)
        sqlite3_exec(db, "PRAGMA page_size=16384; PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; CREATE TABLE t (k BLOB PRIMARY KEY, v BLOB NOT NULL) WITHOUT ROWID", nil, nil, nil)
        sqlite3_prepare_v2(db, "INSERT INTO t (k, v) VALUES (?, ?)", -1, &insert, nil)
        sqlite3_prepare_v2(db, "SELECT v FROM t WHERE k = ?", -1, &select, nil)
        sqlite3_prepare_v2(db, "SELECT k, v FROM t", -1, &scan, nil)
    }

    func insertBatch(_ rows: [([UInt8], [UInt8])]) {
        sqlite3_exec(db, "BEGIN", nil, nil, nil)
        for (k, v) in rows {
            sqlite3_reset(insert)
            k.withUnsafeBytes { _ = sqlite3_bind_blob(insert, 1, $0.baseAddress, Int32($0.count), nil) }
            v.withUnsafeBytes { _ = sqlite3_bind_blob(insert, 2, $0.baseAddress, Int32($0.count), nil) }
            sqlite3_step(insert)
        }
        sqlite3_exec(db, "COMMIT", nil, nil, nil)
    }

    func get(_ k: [UInt8]) -> Int {
        sqlite3_reset(select)
        k.withUnsafeBytes { _ = sqlite3_bind_blob(select, 1, $0.baseAddress, Int32($0.count), nil) }
        guard sqlite3_step(select) == SQLITE_ROW else { return 0 }
        return Int(sqlite3_column_bytes(select, 0))
    }

    func scanAll() -> Int {
        sqlite3_reset(scan)
        var n = 0
        while sqlite3_step(scan) == SQLITE_ROW {
            n &+= Int(sqlite3_column_bytes(scan, 1))
            _ = sqlite3_column_blob(scan, 1)
        }
        return n
    }
}

let benchmarks: @Sendable () -> Void = {
    Benchmark.defaultConfiguration = .init(metrics: [.throughput, .wallClock, .peakMemoryResident],
                                           maxDuration: .seconds(3), maxIterations: 1_000_000)
    let ns = try! Namespace(database: "bench", collection: "docs")
    let engine = try! Engine.open(directory: tempDirectory())
    for start in stride(from: 0, to: preloaded, by: 1000) {
        _ = try! engine.insert(ns, (start..<start + 1000).map(document))
    }
    let raw = RawSQLite(path: tempDirectory() + "/raw.db")
    for start in stride(from: 0, to: preloaded, by: 1000) {
        raw.insertBatch((start..<start + 1000).map { (KeyString.encode(.int64(Int64($0))), document($0).bsonBytes()) })
    }
    let nextID = ManagedCounter(preloaded)

    Benchmark("engine insertMany 1000 x 1KB (per batch)", configuration: .init(maxDuration: .seconds(4))) { b in
        for _ in b.scaledIterations {
            let start = nextID.take(1000)
            blackHole(try engine.insert(ns, (start..<start + 1000).map(document)))
        }
    }
    let rawNext = ManagedCounter(preloaded)
    Benchmark("raw SQLite insert 1000 x 1KB (per batch)", configuration: .init(maxDuration: .seconds(4))) { b in
        for _ in b.scaledIterations {
            let start = rawNext.take(1000)
            raw.insertBatch((start..<start + 1000).map { (KeyString.encode(.int64(Int64($0))), document($0).bsonBytes()) })
        }
    }
    Benchmark("engine find by _id", configuration: .init(scalingFactor: .kilo)) { b in
        var i = 0
        for _ in b.scaledIterations {
            i = (i &+ 7919) % preloaded
            blackHole(try engine.find(ns, FindRequest(filter: ["_id": .int64(Int64(i))])).next())
        }
    }
    Benchmark("raw SQLite point read", configuration: .init(scalingFactor: .kilo)) { b in
        var i = 0
        for _ in b.scaledIterations {
            i = (i &+ 7919) % preloaded
            blackHole(raw.get(KeyString.encode(.int64(Int64(i)))))
        }
    }
    // Single writes, each its own transaction and commit (what a driver's insert_one and
    // update_one cost the engine): the per-write part of the wire bench's single ops.
    Benchmark("engine insertOne 1KB (own commit)", configuration: .init(scalingFactor: .kilo)) { b in
        for _ in b.scaledIterations {
            blackHole(try engine.insert(ns, [document(nextID.take(1))]))
        }
    }
    Benchmark("engine updateOne by _id, $inc (own commit)", configuration: .init(scalingFactor: .kilo)) { b in
        var i = 0
        for _ in b.scaledIterations {
            i = (i &+ 7919) % preloaded
            blackHole(try engine.update(ns, [UpdateStatement(filter: ["_id": .int64(Int64(i))], update: ["$inc": ["age": 1]])]))
        }
    }
    Benchmark("raw SQLite insert 1 x 1KB (own commit)", configuration: .init(scalingFactor: .kilo)) { b in
        for _ in b.scaledIterations {
            let i = rawNext.take(1)
            raw.insertBatch([(KeyString.encode(.int64(Int64(i))), document(i).bsonBytes())])
        }
    }
    Benchmark("engine full scan, non-matching filter (per 100K+ docs)") { b in
        for _ in b.scaledIterations {
            blackHole(try engine.find(ns, FindRequest(filter: ["status": "nobody"])).all().count)
        }
    }
    Benchmark("raw SQLite full scan (per 100K+ rows)") { b in
        for _ in b.scaledIterations {
            blackHole(raw.scanAll())
        }
    }
}

/// A counter shared by benchmark closures.
final class ManagedCounter: @unchecked Sendable {
    var value: Int
    init(_ v: Int) { value = v }
    func take(_ n: Int) -> Int { defer { value += n }; return value }
}
