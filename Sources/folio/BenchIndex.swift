import ArgumentParser
import Folio
import FolioEngine
import FolioStorage

/// `folio bench-index` (hidden): on N user documents (~150 bytes), measures an index build
/// (keys/s), equality lookups through a single-field index against the same lookups by
/// collection scan, an indexed range with a sort the index provides, and what explain says
/// each examined. scripts/bench-index runs it with 1,000,000 documents.
struct BenchIndex: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "bench-index", shouldDisplay: false)

    @Option var dbpath: String
    @Option var documents: Int = 1_000_000
    @Option var lookups: Int = 2000
    @Option(name: .customLong("record-cache-mb")) var recordCacheMB = SQLiteStorageEngine.defaultRecordCacheBytes >> 20

    func run() throws {
        let engine = try Engine.open(directory: dbpath, recordCacheBytes: recordCacheMB << 20)
        defer { engine.close() }
        let ns = try Namespace(database: "bench", collection: "users")
        let existing = try engine.estimatedCount(ns)
        if existing < documents {
            let start = BenchScan.now()
            try BenchScan.load(engine, ns, existing..<documents) { n in
                ["_id": .int64(Int64(n)), "email": .string("user\(n)@example.com"), "age": .int32(Int32(18 + n % 70)),
                 "city": .string(["Oslo", "Lima", "Pune", "Kyiv", "Accra"][n % 5]), "score": .double(Double(n % 1000) / 10)]
            }
            print("loaded \(documents - existing) documents in \(BenchIndex.round(BenchScan.now() - start)) s")
        }
        for name in ["email_1", "age_1"] where engine.indexes(ns).contains(where: { $0.name == name }) {
            _ = try engine.dropIndexes(ns, .string(name))
        }
        var start = BenchScan.now()
        _ = try engine.createIndexes(ns, [["key": ["email": 1], "name": "email_1", "unique": true]])
        var elapsed = BenchScan.now() - start
        print("index build email_1 (unique): \(documents) keys in \(BenchIndex.round(elapsed)) s = \(Int(Double(documents) / elapsed)) keys/s")
        start = BenchScan.now()
        _ = try engine.createIndexes(ns, [["key": ["age": 1], "name": "age_1"]])
        elapsed = BenchScan.now() - start
        print("index build age_1: \(documents) keys in \(BenchIndex.round(elapsed)) s = \(Int(Double(documents) / elapsed)) keys/s")

        var g = SystemRandomNumberGenerator()
        start = BenchScan.now()
        var found = 0
        for _ in 0..<lookups {
            let n = Int.random(in: 0..<documents, using: &g)
            found += try engine.find(ns, FindRequest(filter: ["email": .string("user\(n)@example.com")])).all().count
        }
        let indexed = (BenchScan.now() - start) / Double(lookups)
        // Twice over the same keys: first read (from SQLite), then again (from the record
        // cache while it holds them). A stride through the keys, not a random draw: the
        // system generator is a system call, which cost a third of the read being measured.
        let points = 100 * lookups
        for pass in ["first read", "read again"] {
            start = BenchScan.now()
            var n = 0
            for _ in 0..<points {
                n = (n &+ 7919) % documents
                found += try engine.find(ns, FindRequest(filter: ["_id": .int64(Int64(n))])).next().count
            }
            let point = (BenchScan.now() - start) / Double(points)
            print("point read by _id, \(pass): \(BenchIndex.round(point * 1e6)) µs/query (\(Int(1 / point)) queries/s, one thread)")
        }
        let scans = 3
        start = BenchScan.now()
        for _ in 0..<scans {
            let n = Int.random(in: 0..<documents, using: &g)
            found += try engine.find(ns, FindRequest(filter: ["email": .string("user\(n)@example.com")], hint: ["$natural": 1])).all().count
        }
        let scanned = (BenchScan.now() - start) / Double(scans)
        print("equality on email: index \(BenchIndex.round(indexed * 1e6)) µs/query (\(Int(1 / indexed)) queries/s), collection scan \(BenchIndex.round(scanned * 1000)) ms/query: \(Int(scanned / indexed))x faster (\(found) found)")

        let eq = try engine.explainFind(ns, FindRequest(filter: ["email": "user4242@example.com"]), verbosity: .executionStats)
        let eqStats = eq["executionStats"]!.documentValue!
        print("explain equality: nReturned \(eqStats["nReturned"]!), keysExamined \(eqStats["totalKeysExamined"]!), docsExamined \(eqStats["totalDocsExamined"]!)")

        /// Runs a query `times` times: its plan's stage names, ms per query and explain's stats.
        func measure(_ request: FindRequest, times: Int) throws -> (plan: String, ms: Double, stats: Document) {
            let explain = try engine.explainFind(ns, request, verbosity: .executionStats)
            var plan: Document? = explain["queryPlanner"]!.documentValue!["winningPlan"]!.documentValue!
            var names: [String] = []
            while let p = plan { names.append(p["stage"]!.stringValue!); plan = p["inputStage"]?.documentValue }
            let start = BenchScan.now()
            for _ in 0..<times { _ = try engine.find(ns, request).all() }
            return (names.joined(separator: " > "), BenchIndex.round((BenchScan.now() - start) * 1000 / Double(times)),
                    explain["executionStats"]!.documentValue!)
        }
        let range = try measure(FindRequest(filter: ["age": ["$gte": 30, "$lt": 32]], sort: ["age": -1], limit: 100), times: 100)
        print("range age in [30, 32) sorted by age desc, limit 100: plan \(range.plan), \(range.ms) ms/query, keysExamined \(range.stats["totalKeysExamined"]!)")
        // The same range, every match, projected to age: with _id (FETCH) and without (covered).
        for projection: Document in [["age": 1], ["age": 1, "_id": 0]] {
            let r = try measure(FindRequest(filter: ["age": ["$gte": 30, "$lt": 32]], projection: projection), times: 5)
            print("range age in [30, 32) projected to \(projection): plan \(r.plan), \(r.ms) ms/query, \(r.stats["nReturned"]!) returned, docsExamined \(r.stats["totalDocsExamined"]!)")
        }
    }

    static func round(_ x: Double) -> Double { (x * 100).rounded() / 100 }
}
