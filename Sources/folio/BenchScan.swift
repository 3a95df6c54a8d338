import ArgumentParser
import Folio
import FolioEngine

#if canImport(Glibc)
import Glibc
#endif

/// `folio bench-scan` (hidden): loads N ~1 KB documents, then scans them with a filter that
/// matches nothing, reporting documents per second and the process's peak resident memory.
/// scripts/bench runs it with 1,000,000 documents (about 1 GB of BSON).
struct BenchScan: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "bench-scan", shouldDisplay: false)

    @Option var dbpath: String
    @Option var documents: Int = 1_000_000

    func run() throws {
        let engine = try Engine.open(directory: dbpath)
        defer { engine.close() }
        let ns = try Namespace(database: "bench", collection: "scan")
        let existing = try engine.estimatedCount(ns)
        // Built once: `String(repeating:count:)` appends character by character and, built per
        // document, took more time than the insert it was measuring.
        let payload = BSON.string(String(repeating: "x", count: 980))
        let loadStart = BenchScan.now()
        try BenchScan.load(engine, ns, existing..<max(existing, documents)) { n in
            ["_id": .int64(Int64(n)), "status": "active", "n": .int32(Int32(n % 1000)), "payload": payload]
        }
        let loaded = BenchScan.now() - loadStart
        if documents > existing {
            print("loaded \(documents - existing) documents in \((loaded * 10).rounded() / 10) s (\(Int(Double(documents - existing) / loaded)) docs/s)")
        }
        let rssBefore = BenchScan.peakRSSMegabytes()
        let start = BenchScan.now()
        let cursor = try engine.find(ns, FindRequest(filter: ["status": "nobody"]))
        let found = try cursor.all().count
        let elapsed = BenchScan.now() - start
        print("scanned \(documents) documents (\(engine.sizeOnDiskBytes / 1_000_000) MB on disk) in \((elapsed * 100).rounded() / 100) s: \(Int(Double(documents) / elapsed)) docs/s, \(found) matched; peak RSS \(BenchScan.peakRSSMegabytes()) MB (before scan \(rssBefore) MB)")
    }

    /// Inserts the documents numbered `range` in batches of 1,000.
    static func load(_ engine: Engine, _ ns: Namespace, _ range: Range<Int>, _ make: (Int) -> Document) throws {
        var i = range.lowerBound
        while i < range.upperBound {
            let batch = (i..<min(range.upperBound, i + 1000)).map(make)
            _ = try engine.insert(ns, batch)
            i += batch.count
        }
    }

    static func now() -> Double {
        var ts = timespec()
        clock_gettime(CLOCK_MONOTONIC, &ts)
        return Double(ts.tv_sec) + Double(ts.tv_nsec) / 1e9
    }

    static func peakRSSMegabytes() -> Int {
        var usage = rusage()
        getrusage(RUSAGE_SELF.rawValue, &usage)
        return usage.ru_maxrss / 1024
    }
}
