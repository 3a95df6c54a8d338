import ArgumentParser
import Folio
import FolioEngine

/// `folio bench-writes` (hidden): single-document inserts and `$inc` updates by `_id`, each
/// its own commit as at one client, plain and as retryable writes (a session and a new
/// txnNumber per write, as drivers send them), in interleaved rounds on one SQLite engine:
/// what the retry history costs a write, without the network's noise.
struct BenchWrites: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "bench-writes", shouldDisplay: false)

    @Option var dbpath: String
    @Option var writes: Int = 20_000
    @Option var rounds: Int = 3
    @Option(help: "plain, retryable, both, or transfers (two $inc updates outside and inside a transaction)") var mode = "both"

    func run() throws {
        let engine = try Engine.open(directory: dbpath)
        defer { engine.close() }
        let ns = try Namespace(database: "bench", collection: "writes")
        let session = [UInt8](repeating: 9, count: 16)
        var txnNumber: Int64 = 0
        var next = 0
        let payload = BSON.string(String(repeating: "y", count: 100))
        if mode == "transfers" { return try transfers(engine) }
        for round in 1...rounds {
            for retryable in [false, true] where mode == "both" || mode == (retryable ? "retryable" : "plain") {
                func options() -> WriteOptions {
                    txnNumber += 1
                    return WriteOptions(retryable: retryable ? RetryableWrite(session: session, txnNumber: txnNumber) : nil)
                }
                let first = next
                var start = BenchScan.now()
                for _ in 0..<writes {
                    _ = try engine.insert(ns, [["_id": .int64(Int64(next)), "x": payload, "n": 0]], options: options())
                    next += 1
                }
                let insert = (BenchScan.now() - start) / Double(writes) * 1e6
                start = BenchScan.now()
                for i in 0..<writes {
                    _ = try engine.update(ns, [UpdateStatement(filter: ["_id": .int64(Int64(first + i))], update: ["$inc": ["n": 1]])],
                                          options: options())
                }
                let update = (BenchScan.now() - start) / Double(writes) * 1e6
                print("round \(round) \(retryable ? "retryable" : "plain    "): insert \(BenchIndex.round(insert)) µs, update \(BenchIndex.round(update)) µs")
            }
        }
    }

    /// A transfer (two `$inc` updates by `_id`) as two plain writes and as one transaction,
    /// in interleaved rounds: what a transaction adds to the same work in the engine.
    func transfers(_ engine: Engine) throws {
        let ns = try Namespace(database: "bench", collection: "accounts")
        _ = try engine.insert(ns, (Int64(0)..<100).map { ["_id": .int64($0), "balance": .int64(1_000_000)] })
        var rng = SystemRandomNumberGenerator()
        func pair() -> (BSON, BSON) {
            let a = Int64.random(in: 0..<100, using: &rng)
            return (.int64(a), .int64((a + Int64.random(in: 1..<100, using: &rng)) % 100))
        }
        for round in 1...rounds {
            var start = BenchScan.now()
            for _ in 0..<writes {
                let (a, b) = pair()
                _ = try engine.update(ns, [UpdateStatement(filter: ["_id": a], update: ["$inc": ["balance": -1]])])
                _ = try engine.update(ns, [UpdateStatement(filter: ["_id": b], update: ["$inc": ["balance": 1]])])
            }
            let plain = (BenchScan.now() - start) / Double(writes) * 1e6
            start = BenchScan.now()
            for _ in 0..<writes {
                let (a, b) = pair()
                let txn = try engine.beginTransaction()
                _ = try txn.engine.update(ns, [UpdateStatement(filter: ["_id": a], update: ["$inc": ["balance": -1]])])
                _ = try txn.engine.update(ns, [UpdateStatement(filter: ["_id": b], update: ["$inc": ["balance": 1]])])
                try txn.commit(durable: false)
            }
            let inTransaction = (BenchScan.now() - start) / Double(writes) * 1e6
            print("round \(round): transfer as two writes \(BenchIndex.round(plain)) µs, in a transaction \(BenchIndex.round(inTransaction)) µs")
        }
    }
}
