import ArgumentParser
import Dispatch
import Foundation
import Folio
import FolioEngine
import FolioStorage

#if canImport(Glibc)
import Glibc
#endif

// The crash test's two halves (hidden commands; scripts/crash-soak drives them):
// `crash-writer` writes forever from several threads, appending a line to an acknowledgement
// log after each acknowledged write; `crash-verify` reopens the data after a SIGKILL and
// checks that every acknowledged write is there, that no write is half-applied, and that
// every record agrees with its key and every secondary index with the records.
//
// Document invariant: {_id: n, a: n, b: 2n, updates: k, words: "item w<n % 50> u<k>"}. Each
// update sets a, b and words again and increments `updates`, so a torn write shows as a != _id,
// b != 2a or words that do not name k. `words` has a text index: validate checks its keys
// against the records, and a $text search for "item" must find exactly the documents present.
// `loc` (a GeoJSON point that moves on every update) has a 2dsphere index: validate checks its
// keys, and a $geoWithin of the whole sphere through the index must find every document.
// `pad`, in every fourth document only, is 5–20 KB that every update rewrites: too large for a
// B-tree cell, so inserts and updates of it write the store's side table (SQLiteStorageEngine,
// "large values"); a torn write shows as a pad that does not name k.
// `v` (a 4-number vector that moves on every update) has a vectorSearch index: for a sample
// of the documents present, an exact $vectorSearch for each one's vector must find it (its
// graph node survived the crash), and the approximate search must find at least 95% of them.
//
// Retryable writes: two more threads each increment a counter of their own in crash.counters
// with retryable writes (a session per thread and round, txnNumber 1, 2, ...), logging
// "T <round> <thread> <txnNumber>" before each write. crash-verify retries the last logged
// write of every thread, as a driver does when the reply was lost, and then the counter must
// equal that txnNumber exactly: every write applied once, whether or not it was acknowledged.
//
// Transactions: two more threads move random amounts between the round's 10 accounts in
// crash.bank, each transfer a multi-document transaction of two updates and a ledger insert
// in crash.ledger (retried on WriteConflict, as withTransaction does), logging
// "X <round> <thread> <k>" after each acknowledged commit. crash-verify checks that every
// acknowledged transfer's ledger entry is there and that every account's balance is exactly
// 1,000 plus what the ledger entries present moved into it minus what they moved out: a
// transaction half applied, or applied without its ledger entry, shows as a difference.
//
// Capped collections: one more thread inserts {_id: "<round>-<n>", round, n, pad} with n = 1,
// 2, ... into crash.log, capped at 100 documents and 24 KB (so both limits delete), logging
// "C <round> <n>" after each acknowledged insert. crash-verify checks the insertion order
// (validate), that what is left is the newest inserts in insertion order with no hole, within
// the limits, and that the last acknowledged insert is there.
//
// Multi-document updates (Engine+WriteMany.swift, which commits them in chunks): one more
// thread keeps 2,500 documents {_id: "<round>-<i, five digits>", round, i, gen} in crash.bulk
// (inserted durably before its first statement) and sets gen = k on all of them with one
// update_many per k = 1, 2, ..., logging "M <round> <k>" after each acknowledged statement.
// crash-verify checks that every document is there and, in `_id` order (the order the chunks
// commit in), holds gen K + 1 for a prefix and K after it, K the last acknowledged k: an
// acknowledged statement is whole, the one in flight is whole chunks from the start.
//
// Index builds while writes go on (IndexBuild.swift, used past 1,000 records here): one more
// thread builds {i: 1, gen: 1} on crash.bulk, which the update_many thread rewrites all the
// while, and drops it again, logging "B <round> <k>" after each acknowledged build and
// "D <round> <k>" after each drop. crash-verify waits for the build the kill cut short, which
// the open starts again, validates crash.bulk (every index, that one too, holds exactly its
// documents' keys) and checks that the index is there when the last round's last
// acknowledged step was a build (unless the change log shows that the drop in flight
// committed: its acknowledgement may not have been logged before the kill).
//
// The change log (read as local.oplog.rs): its times strictly increase, every document of
// crash.docs has its insert entry and every insert entry its document (nothing acknowledged
// missing, nothing rolled back present), and the same for the ledger entries that
// transactions insert (inside their applyOps entries).

struct CrashWriter: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "crash-writer", shouldDisplay: false)

    @Option var dbpath: String
    @Option(name: .customLong("ack-log")) var ackLog: String
    @Option var threads: Int = 4
    @Option(name: .customLong("start-id")) var startID: Int = 0
    /// A small value makes the checkpoint restart the log many times per round, so kills
    /// land during those restarts too.
    @Option(name: .customLong("wal-reset-bytes")) var walResetBytes = SQLiteStorageEngine.defaultWalResetBytes

    func run() throws {
        let engine = try Engine.open(directory: dbpath, walResetBytes: walResetBytes)
        let ns = try Namespace(database: "crash", collection: "docs")
        // Secondary indexes ride along: `a` unique (fixed per document) and `updates` (its key
        // moves on every update), so validate in crash-verify checks they agree with the data.
        _ = try engine.createIndexes(ns, [["key": ["a": 1], "name": "a_1", "unique": true],
                                          ["key": ["updates": 1, "b": -1], "name": "updates_1_b_-1"],
                                          ["key": ["words": "text"], "name": "words_text"],
                                          ["key": ["loc": "2dsphere"], "name": "loc_2dsphere"]])
        // Two graphs over the same vectors: one of float32 vectors, one of int8 codes whose
        // candidates are rescored from the stored vectors (and whose exact search reads them).
        for (name, quantization) in [(CrashWriter.vectorIndex, "none"), (CrashWriter.scalarVectorIndex, "scalar")]
        where engine.listSearchIndexes(ns, name: name).isEmpty {
            _ = try engine.createSearchIndexes(ns, [["name": .string(name), "type": "vectorSearch", "definition": [
                "fields": [["type": "vector", "path": "v", "numDimensions": 4, "similarity": "euclidean", "quantization": .string(quantization)]]]]])
        }
        let fd = open(ackLog, O_WRONLY | O_APPEND | O_CREAT, 0o644)
        guard fd >= 0 else { throw ValidationError("cannot open \(ackLog)") }
        let threadCount = threads, base = startID
        // One thread each (concurrentPerform would run only as many at once as there are
        // cores, and these never end).
        try CrashWriter.openAccounts(engine, round: base)
        if !engine.collectionExists(CrashWriter.log) {
            try engine.createCollection(CrashWriter.log, options: ["capped": true, "size": .int32(CrashWriter.logBytes),
                                                                   "max": .int32(CrashWriter.logDocuments)])
        }
        _ = try engine.createIndexes(CrashWriter.log, [["key": ["n": 1], "name": "n_1"]])
        Thread { CrashWriter.appendForever(engine, round: base, log: fd) }.start()
        try CrashWriter.fillBulk(engine, round: base)
        Thread { CrashWriter.updateManyForever(engine, round: base, log: fd) }.start()
        engine.indexBuildInOneCommitRecords.withLock { $0 = 1_000 }
        engine.indexBuildCommitEntries.withLock { $0 = 500 }
        Thread { CrashWriter.buildIndexForever(engine, round: base, log: fd) }.start()
        for t in 0..<(threadCount + CrashWriter.retryingThreads + CrashWriter.transferThreads) {
            let thread = Thread {
                if t >= threadCount + CrashWriter.retryingThreads { CrashWriter.transferForever(engine, round: base, thread: t, log: fd) }
                if t >= threadCount { CrashWriter.incrementForever(engine, round: base, thread: t, log: fd) }
                CrashWriter.writeForever(engine, ns, round: base, thread: t, log: fd)
            }
            thread.start()
        }
        while true { sleep(60) }
    }

    static func writeForever(_ engine: Engine, _ ns: Namespace, round base: Int, thread t: Int, log fd: Int32) -> Never {
        var rng = SystemRandomNumberGenerator()
        var mine: [Int: Int] = [:]
        var i = 0
        while true {
            i += 1
            let durable = Int.random(in: 0..<4, using: &rng) == 0
            if i % 3 != 0 || mine.isEmpty {
                let id = base + t * 1_000_000_000_000 + i
                let r = try! engine.insert(ns, [["_id": .int64(Int64(id)), "a": .int64(Int64(id)), "b": .int64(Int64(2 * id)), "updates": 0,
                                                 "words": .string(words(Int64(id), 0)), "loc": location(Int64(id), 0),
                                                 "v": vector(Int64(id), 0), "pad": pad(Int64(id), 0)]],
                                           options: WriteOptions(durable: durable))
                precondition(r.insertedCount == 1, "insert failed: \(r.writeErrors)")
                mine[id] = 0
                log(fd, "I \(id)\n")
            } else {
                let id = mine.keys.randomElement(using: &rng)!
                let text = BSON.string(words(Int64(id), Int64(mine[id]! + 1)))
                let r = try! engine.update(ns, [UpdateStatement(filter: ["_id": .int64(Int64(id))],
                                                                update: ["$inc": ["updates": 1], "$set": ["a": .int64(Int64(id)), "b": .int64(Int64(2 * id)),
                                                                                                          "words": text, "loc": location(Int64(id), Int64(mine[id]! + 1)),
                                                                                                          "v": vector(Int64(id), Int64(mine[id]! + 1)),
                                                                                                          "pad": pad(Int64(id), Int64(mine[id]! + 1))]])],
                                           options: WriteOptions(durable: durable))
                precondition(r.modified == 1, "update failed")
                mine[id]! += 1
                log(fd, "U \(id) \(mine[id]!)\n")
            }
        }
    }

    /// The text a document holds after `updates` updates.
    static func words(_ id: Int64, _ updates: Int64) -> String { "item w\(id % 50) u\(updates)" }

    /// The `pad` a document holds after `updates` updates: 5–20 KB in every fourth document,
    /// a short string in the others.
    static func pad(_ id: Int64, _ updates: Int64) -> BSON {
        guard id % 4 == 0 else { return .string("u\(updates)") }
        return .string(String(repeating: "u\(updates) ", count: 1700 + Int((id / 4) % 4) * 1700))
    }

    /// The point a document holds after `updates` updates.
    static func location(_ id: Int64, _ updates: Int64) -> BSON {
        ["type": "Point", "coordinates": [.double(Double(id % 360) - 180 + Double(updates % 1000) / 1000), .double(Double(id % 170) - 85)]]
    }

    /// The vector a document holds after `updates` updates.
    static func vector(_ id: Int64, _ updates: Int64) -> BSON {
        [.double(Double(id % 4096)), .double(Double((id >> 12) % 4096)), .double(Double(updates % 4096)),
         .double(Double((id / 1_000_000_000_000) % 64))]
    }

    static let vectorIndex = "v_vector"
    static let scalarVectorIndex = "v_scalar"

    /// The `_id`s a `$vectorSearch` of `index` for `vector` returns (exact, or approximate with
    /// 1,000 candidates). The soak's vectors are degenerate for a graph: each writer thread's
    /// documents lie on a line (consecutive ids), far from the other lines, and most dimensions
    /// mix values up to 4095 with values under 64. With 100 candidates a walk can stay inside a
    /// neighbouring line and miss a whole one (seen for ~8% of documents in one soak, on the
    /// float32 graph too), and int8 codes tie hundreds of neighbours. Durability is what this
    /// checks, so it gives the walk room; recall on real embeddings is measured in the benchmarks.
    static func nearest(_ engine: Engine, index: String, _ vector: BSON, exact: Bool) throws -> [Int64] {
        var stage: Document = ["index": .string(index), "path": "v", "queryVector": vector, "limit": 10]
        if exact { stage.append("exact", true) } else { stage.append("numCandidates", 1000) }
        let cursor = try engine.aggregate(database: "crash", collection: "docs", AggregateRequest(pipeline: [["$vectorSearch": .document(stage)]]))
        return try cursor.all().compactMap { $0.document()["_id"]?.int64Value }
    }

    static let retryingThreads = 2
    static let counters = try! Namespace(database: "crash", collection: "counters")

    /// The retryable increment a thread makes with `txnNumber` (crash-verify makes it again).
    static func increment(_ engine: Engine, round: Int, thread: Int, txnNumber: Int64) throws -> UpdateResult {
        var session = [UInt8](repeating: 0, count: 16)
        withUnsafeBytes(of: Int64(round).bigEndian) { session.replaceSubrange(0..<8, with: $0) }
        withUnsafeBytes(of: Int64(thread).bigEndian) { session.replaceSubrange(8..<16, with: $0) }
        let write = RetryableWrite(session: session, txnNumber: txnNumber)
        return try engine.update(counters, [UpdateStatement(filter: ["_id": .string("c-\(round)-\(thread)")], update: ["$inc": ["n": 1]],
                                                            upsert: true)], options: WriteOptions(retryable: write))
    }

    static func incrementForever(_ engine: Engine, round: Int, thread: Int, log fd: Int32) -> Never {
        var txnNumber: Int64 = 0
        while true {
            txnNumber += 1
            log(fd, "T \(round) \(thread) \(txnNumber)\n")
            let r = try! increment(engine, round: round, thread: thread, txnNumber: txnNumber)
            precondition(r.writeErrors.isEmpty && r.matched + r.upserted.count == 1, "increment failed: \(r.writeErrors)")
        }
    }

    static let transferThreads = 2
    static let bank = try! Namespace(database: "crash", collection: "bank")
    static let ledger = try! Namespace(database: "crash", collection: "ledger")
    static let accounts = 10

    static func account(_ round: Int, _ i: Int) -> BSON { .string("\(round)-\(i)") }

    /// The round's accounts, 1,000 each, created together (durably) before any transfer.
    static func openAccounts(_ engine: Engine, round: Int) throws {
        let r = try engine.insert(bank, (0..<accounts).map { ["_id": account(round, $0), "balance": .int64(1000)] },
                                  options: WriteOptions(durable: true))
        guard r.writeErrors.isEmpty else { throw ValidationError("accounts of round \(round): \(r.writeErrors)") }
    }

    static func transferForever(_ engine: Engine, round: Int, thread: Int, log fd: Int32) -> Never {
        var rng = SystemRandomNumberGenerator()
        var k = 0
        while true {
            k += 1
            let from = Int.random(in: 0..<accounts, using: &rng)
            let to = (from + Int.random(in: 1..<accounts, using: &rng)) % accounts
            let amount = Int64.random(in: 1...100, using: &rng)
            let durable = Bool.random(using: &rng)
            while true {
                let txn = try! engine.beginTransaction()
                do {
                    let out = try txn.engine.update(bank, [UpdateStatement(filter: ["_id": account(round, from)], update: ["$inc": ["balance": .int64(-amount)]])])
                    let into = try txn.engine.update(bank, [UpdateStatement(filter: ["_id": account(round, to)], update: ["$inc": ["balance": .int64(amount)]])])
                    let entry = try txn.engine.insert(ledger, [["_id": .string("\(round)-\(thread)-\(k)"), "from": .int32(Int32(from)),
                                                               "to": .int32(Int32(to)), "amount": .int64(amount)]])
                    precondition(out.modified == 1 && into.modified == 1 && entry.insertedCount == 1, "transfer failed")
                    try txn.commit(durable: durable)
                    break
                } catch let e where e.labels.contains("TransientTransactionError") {
                    txn.abort()
                } catch {
                    preconditionFailure("transfer failed: \(error)")
                }
            }
            log(fd, "X \(round) \(thread) \(k)\n")
        }
    }

    static let log = try! Namespace(database: "crash", collection: "log")
    static let logDocuments: Int32 = 100
    static let logBytes: Int32 = 24_000

    static func appendForever(_ engine: Engine, round: Int, log fd: Int32) -> Never {
        var rng = SystemRandomNumberGenerator()
        var n: Int64 = 0
        while true {
            n += 1
            // Sizes vary, so sometimes the bytes and sometimes the count limit deletes.
            let pad = String(repeating: "x", count: Int.random(in: 0..<400, using: &rng))
            let r = try! engine.insert(CrashWriter.log, [["_id": .string("\(round)-\(n)"), "round": .int64(Int64(round)), "n": .int64(n),
                                                          "pad": .string(pad)]],
                                       options: WriteOptions(durable: Int.random(in: 0..<4, using: &rng) == 0))
            precondition(r.insertedCount == 1, "capped insert failed: \(r.writeErrors)")
            CrashWriter.log(fd, "C \(round) \(n)\n")
        }
    }

    static let bulk = try! Namespace(database: "crash", collection: "bulk")
    static let bulkDocuments = 2_500

    static func bulkID(_ round: Int, _ i: Int) -> String {
        let digits = String(i)
        return "\(round)-" + String(repeating: "0", count: max(0, 5 - digits.count)) + digits
    }

    /// The round's bulk documents, durably, before its first update_many.
    static func fillBulk(_ engine: Engine, round: Int) throws {
        _ = try engine.createIndexes(bulk, [["key": ["gen": 1], "name": "gen_1"]])
        let r = try engine.insert(bulk, (0..<bulkDocuments).map { ["_id": .string(bulkID(round, $0)), "round": .int64(Int64(round)),
                                                                   "i": .int64(Int64($0)), "gen": .int64(0)] },
                                  options: WriteOptions(durable: true))
        guard r.writeErrors.isEmpty else { throw ValidationError("bulk documents of round \(round): \(r.writeErrors)") }
    }

    static func updateManyForever(_ engine: Engine, round: Int, log fd: Int32) -> Never {
        var rng = SystemRandomNumberGenerator()
        var k: Int64 = 0
        while true {
            k += 1
            let r = try! engine.update(bulk, [UpdateStatement(filter: ["round": .int64(Int64(round))], update: ["$set": ["gen": .int64(k)]], multi: true)],
                                       options: WriteOptions(durable: Int.random(in: 0..<4, using: &rng) == 0))
            precondition(r.writeErrors.isEmpty && r.modified == bulkDocuments, "update_many failed: \(r.modified) modified, \(r.writeErrors)")
            log(fd, "M \(round) \(k)\n")
        }
    }

    static let builtIndex = "i_1_gen_1"

    /// Builds and drops an index of crash.bulk while update_many rewrites its documents.
    static func buildIndexForever(_ engine: Engine, round: Int, log fd: Int32) -> Never {
        var k = 0
        while true {
            k += 1
            _ = try! engine.createIndexes(bulk, [["key": ["i": 1, "gen": 1], "name": .string(builtIndex)]])
            log(fd, "B \(round) \(k)\n")
            _ = try! engine.dropIndexes(bulk, .string(builtIndex))
            log(fd, "D \(round) \(k)\n")
        }
    }

    static func log(_ fd: Int32, _ line: String) {
        var bytes = Array(line.utf8)
        _ = bytes.withUnsafeMutableBytes { write(fd, $0.baseAddress, $0.count) }
    }
}

struct CrashVerify: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "crash-verify", shouldDisplay: false)

    @Option var dbpath: String
    @Option(name: .customLong("ack-log")) var ackLog: String

    func run() throws {
        var acknowledgedInserts = Set<Int64>()
        var acknowledgedUpdates: [Int64: Int64] = [:]
        var lastIncrement: [[Int]: Int64] = [:]
        var acknowledgedTransfers: [String] = []
        var lastAppended: [Int64]?
        var lastUpdateMany: [Int64: Int64] = [:]
        /// The last round's last acknowledged index build step: (round, k, built).
        var lastBuildStep: (round: Int64, k: Int64, built: Bool)?
        let fd = open(ackLog, O_RDONLY)
        var text: [UInt8] = []
        if fd >= 0 {
            var buffer = [UInt8](repeating: 0, count: 1 << 16)
            while true {
                let n = buffer.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
                if n <= 0 { break }
                text += buffer[0..<n]
            }
            close(fd)
        }
        for line in String(decoding: text, as: UTF8.self).split(separator: "\n") {
            let parts = line.split(separator: " ")
            // A line cut by the kill is incomplete and carries no claim.
            guard let id = parts.count > 1 ? Int64(parts[1]) : nil else { continue }
            if parts[0] == "I" { acknowledgedInserts.insert(id) }
            if parts[0] == "U", parts.count == 3, let k = Int64(parts[2]) { acknowledgedUpdates[id] = max(acknowledgedUpdates[id] ?? 0, k) }
            if parts[0] == "C", parts.count == 3, let n = Int64(parts[2]), lastAppended.map({ [id, n].lexicographicallyPrecedes($0) }) != true {
                lastAppended = [id, n]
            }
            if parts[0] == "M", parts.count == 3, let k = Int64(parts[2]) { lastUpdateMany[id] = max(lastUpdateMany[id] ?? 0, k) }
            if parts[0] == "B" || parts[0] == "D", parts.count == 3, let k = Int64(parts[2]) { lastBuildStep = (id, k, parts[0] == "B") }
            if parts[0] == "X", parts.count == 4 { acknowledgedTransfers.append("\(parts[1])-\(parts[2])-\(parts[3])") }
            if parts[0] == "T", parts.count == 4, let thread = Int(parts[2]), let k = Int64(parts[3]) {
                lastIncrement[[Int(id), thread]] = max(lastIncrement[[Int(id), thread]] ?? 0, k)
            }
        }
        let engine = try Engine.open(directory: dbpath)
        defer { engine.close() }
        let ns = try Namespace(database: "crash", collection: "docs")
        var problems: [String] = []
        var present: [Int64: Int64] = [:]
        if engine.collectionExists(ns) {
            let report = try engine.validate(ns)
            problems += report.errors
            for raw in try engine.find(ns, FindRequest()).all() {
                let d = raw.document()
                guard let id = d["_id"]?.int64Value, let a = d["a"]?.int64Value, let b = d["b"]?.int64Value,
                      let updates = d["updates"]?.exactInt64 else {
                    problems.append("malformed document \(d)")
                    continue
                }
                if a != id || b != 2 * id || d["words"] != .string(CrashWriter.words(id, updates)) || d["loc"] != CrashWriter.location(id, updates)
                    || d["v"] != CrashWriter.vector(id, updates) || d["pad"] != CrashWriter.pad(id, updates) {
                    problems.append("half-applied document \(d)")
                }
                present[id] = updates
            }
            // The text index answers for exactly the documents present.
            let found = try engine.find(ns, FindRequest(filter: ["$text": ["$search": "item"]])).all()
            let ids = Set(found.compactMap { $0.document()["_id"]?.int64Value })
            if ids != Set(present.keys) {
                problems.append("$text finds \(ids.count) documents of \(present.count) (\(ids.symmetricDifference(present.keys).prefix(5)) differ)")
            }
            // So does the 2dsphere index, for a region holding the whole sphere.
            let within = try engine.find(ns, FindRequest(filter: ["loc": ["$geoWithin": ["$centerSphere": [[0, 0], 3.2]]]])).all()
            let located = Set(within.compactMap { $0.document()["_id"]?.int64Value })
            if located != Set(present.keys) {
                problems.append("$geoWithin finds \(located.count) documents of \(present.count) (\(located.symmetricDifference(present.keys).prefix(5)) differ)")
            }
            // The vector indexes: every sampled document is found by its own vector.
            let sample = present.shuffled().prefix(500)
            for index in [CrashWriter.vectorIndex, CrashWriter.scalarVectorIndex] {
                var approximate = 0
                for (id, updates) in sample {
                    let v = CrashWriter.vector(id, updates)
                    if try !CrashWriter.nearest(engine, index: index, v, exact: true).contains(id) {
                        problems.append("exact $vectorSearch of \(index) misses document \(id)")
                    }
                    if try CrashWriter.nearest(engine, index: index, v, exact: false).contains(id) { approximate += 1 }
                }
                if !sample.isEmpty && Double(approximate) < 0.95 * Double(sample.count) {
                    problems.append("approximate $vectorSearch of \(index) finds \(approximate) of \(sample.count) sampled documents by their own vectors")
                }
            }
        }
        // The last retryable increment of each thread, retried: then each counter holds
        // exactly as many increments as were made.
        for (key, k) in lastIncrement.sorted(by: { $0.key.lexicographicallyPrecedes($1.key) }) {
            _ = try CrashWriter.increment(engine, round: key[0], thread: key[1], txnNumber: k)
            let counter = try engine.find(CrashWriter.counters, FindRequest(filter: ["_id": .string("c-\(key[0])-\(key[1])")])).all()
            let n = counter.first?.document()["n"]?.exactInt64 ?? 0
            if n != k { problems.append("counter c-\(key[0])-\(key[1]) is \(n) after \(k) retryable increments") }
        }
        var lost = 0
        // The capped log: the newest inserts, in insertion order, within its limits.
        var logged = 0
        if engine.collectionExists(CrashWriter.log) {
            problems += try engine.validate(CrashWriter.log).errors.map { "crash.log: \($0)" }
            let rows = try engine.find(CrashWriter.log, FindRequest()).all().map { raw -> [Int64] in
                let d = raw.document()
                return [d["round"]?.exactInt64 ?? -1, d["n"]?.exactInt64 ?? -1]
            }
            logged = rows.count
            if rows.count > Int(CrashWriter.logDocuments) { problems.append("crash.log holds \(rows.count) documents, more than its max") }
            let bytes = try engine.statistics(CrashWriter.log).dataBytes
            if bytes > Int(CrashWriter.logBytes) { problems.append("crash.log holds \(bytes) bytes, more than its size") }
            for (a, b) in zip(rows, rows.dropFirst()) where !((b[0] == a[0] && b[1] == a[1] + 1) || (b[0] > a[0] && b[1] == 1)) {
                problems.append("crash.log: \(b) follows \(a) in insertion order")
            }
            if let last = lastAppended, !rows.contains(last) {
                lost += 1
                problems.append("acknowledged capped insert \(last) is missing")
            }
        }
        // update_many: each round's documents all there, gen K + 1 on a prefix and K after.
        // A build the kill cut short runs again at the open: it must succeed and leave the
        // index exact.
        let resumed = engine.waitForResumedIndexBuilds()
        for build in resumed {
            if let error = build.error { problems.append("\(build.namespace): index build started again failed: \(error.message)") }
        }
        if engine.collectionExists(CrashWriter.bulk) {
            problems += try engine.validate(CrashWriter.bulk).errors.map { "crash.bulk: \($0)" }
            if let step = lastBuildStep, step.built, !engine.indexes(CrashWriter.bulk).contains(where: { $0.name == CrashWriter.builtIndex }),
               try !CrashVerify.lastBuildStepLoggedIsADrop(engine) {
                lost += 1
                problems.append("crash.bulk: index \(CrashWriter.builtIndex) acknowledged built (round \(step.round), build \(step.k)) is missing")
            }
            var rounds: [Int64: [(id: String, gen: Int64)]] = [:]
            for raw in try engine.find(CrashWriter.bulk, FindRequest(sort: ["_id": 1])).all() {
                let d = raw.document()
                guard let id = d["_id"]?.stringValue, let round = d["round"]?.exactInt64, let gen = d["gen"]?.exactInt64 else {
                    problems.append("malformed bulk document \(d)")
                    continue
                }
                rounds[round, default: []].append((id, gen))
            }
            for (round, documents) in rounds {
                let k = lastUpdateMany[round] ?? 0
                if documents.count != CrashWriter.bulkDocuments { problems.append("crash.bulk round \(round) holds \(documents.count) documents") }
                let gens = documents.map(\.gen)
                if gens.contains(where: { $0 != k && $0 != k + 1 }) || zip(gens, gens.dropFirst()).contains(where: { $0 < $1 }) {
                    let shown = gens.enumerated().filter { $0.offset == 0 || gens[$0.offset - 1] != $0.element }.prefix(6).map { "\($0.element) from \($0.offset)" }
                    problems.append("crash.bulk round \(round): after \(k) acknowledged update_many, gens \(shown)")
                }
                if gens.contains(where: { $0 < k }) { lost += 1 }
            }
        }
        // Transfers: each acknowledged one is present, and the balances are what the ledger
        // entries present say, round by round.
        var balances: [String: Int64] = [:]
        if engine.collectionExists(CrashWriter.bank) {
            for raw in try engine.find(CrashWriter.bank, FindRequest()).all() {
                let d = raw.document()
                if let id = d["_id"]?.stringValue, let b = d["balance"]?.exactInt64 { balances[id] = b }
            }
        }
        var expected = balances.mapValues { _ in Int64(1000) }
        var entries = Set<String>()
        if engine.collectionExists(CrashWriter.ledger) {
            for raw in try engine.find(CrashWriter.ledger, FindRequest()).all() {
                let d = raw.document()
                guard let id = d["_id"]?.stringValue, let round = id.split(separator: "-").first,
                      let from = d["from"]?.exactInt64, let to = d["to"]?.exactInt64, let amount = d["amount"]?.exactInt64 else {
                    problems.append("malformed ledger entry \(d)")
                    continue
                }
                entries.insert(id)
                expected["\(round)-\(from)", default: 1000] -= amount
                expected["\(round)-\(to)", default: 1000] += amount
            }
        }
        for (account, balance) in expected where balances[account] != balance {
            problems.append("account \(account) holds \(balances[account].map(String.init) ?? "nothing"), its ledger says \(balance)")
        }
        for id in acknowledgedTransfers where !entries.contains(id) {
            lost += 1
            problems.append("acknowledged transfer \(id) is missing")
        }
        for id in acknowledgedInserts where present[id] == nil {
            lost += 1
            problems.append("acknowledged insert \(id) is missing")
        }
        problems += try CrashVerify.checkChangeLog(engine, documents: Set(present.keys), ledger: entries)
        for (id, k) in acknowledgedUpdates {
            guard let updates = present[id] else { continue }
            // At most one unacknowledged update per document can have landed.
            if updates < k { lost += 1; problems.append("document \(id) has \(updates) updates, \(k) were acknowledged") }
            if updates > k + 1 { problems.append("document \(id) has \(updates) updates, only \(k) (+1 in flight) possible") }
        }
        print("crash-verify: \(present.count) documents, \(acknowledgedInserts.count) acknowledged inserts, \(acknowledgedUpdates.values.reduce(0, +)) acknowledged updates, "
              + "\(lastIncrement.values.reduce(0, +)) retryable increments, \(acknowledgedTransfers.count) acknowledged transfers "
              + "(\(entries.count) present), \(lastUpdateMany.values.reduce(0, +)) acknowledged update_many, index builds to \(lastBuildStep.map { "\($0.k)\($0.built ? "" : " dropped")" } ?? "-") (\(resumed.count) started again), capped log at \(lastAppended.map { "\($0)" } ?? "-") with \(logged) kept, lost \(lost), problems \(problems.count)")
        for p in problems.prefix(20) { print("  \(p)") }
        if !problems.isEmpty { throw ExitCode(1) }
    }
}

extension CrashVerify {
    /// Whether the change log's last createIndexes or dropIndexes of the built index is the
    /// drop: a drop the kill cut off before its acknowledgement was logged may still have
    /// committed (its change log entry commits with it), and then the index is rightly gone.
    static func lastBuildStepLoggedIsADrop(_ engine: Engine) throws -> Bool {
        let filter: Document = ["op": "c", "ns": "crash.$cmd", "$or": [
            ["o.createIndexes": "bulk", "o.name": .string(CrashWriter.builtIndex)],
            ["o.dropIndexes": "bulk", "o.index": .string(CrashWriter.builtIndex)]]]
        let steps = try engine.find(oplogNamespace, FindRequest(filter: filter)).all()
        return steps.last?.document()["o"]?.documentValue?["dropIndexes"] != nil
    }

    /// What the change log must agree with after a crash (see the top of this file).
    static func checkChangeLog(_ engine: Engine, documents: Set<Int64>, ledger: Set<String>) throws -> [String] {
        var problems: [String] = []
        var loggedDocuments = Set<Int64>(), loggedLedger = Set<String>()
        var last: Timestamp?
        for raw in try engine.find(oplogNamespace, FindRequest()).all() {
            let entry = raw.document()
            guard case .timestamp(let ts)? = entry["ts"] else {
                problems.append("change log entry without ts: \(entry)")
                continue
            }
            if let last, ts <= last { problems.append("change log time \(ts) follows \(last)") }
            last = ts
            var operations: [Document] = [entry]
            if case .document(let o)? = entry["o"], case .array(let ops)? = o["applyOps"] { operations = ops.compactMap(\.documentValue) }
            for op in operations where op["op"] == "i" {
                guard case .document(let o)? = op["o"] else { continue }
                if op["ns"] == "crash.docs", let id = o["_id"]?.int64Value { loggedDocuments.insert(id) }
                if op["ns"] == "crash.ledger", let id = o["_id"]?.stringValue { loggedLedger.insert(id) }
            }
        }
        for id in documents.subtracting(loggedDocuments).sorted().prefix(5) { problems.append("document \(id) is not in the change log") }
        for id in loggedDocuments.subtracting(documents).sorted().prefix(5) { problems.append("the change log inserts \(id), which is not there") }
        for id in ledger.subtracting(loggedLedger).sorted().prefix(5) { problems.append("ledger entry \(id) is not in the change log") }
        for id in loggedLedger.subtracting(ledger).sorted().prefix(5) { problems.append("the change log inserts ledger entry \(id), which is not there") }
        return problems
    }
}
