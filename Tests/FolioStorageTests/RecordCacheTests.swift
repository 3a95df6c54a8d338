import Foundation
import Synchronization
import Testing
@testable import FolioStorage

/// The record cache in front of SQLite snapshots: it answers repeated reads, and no snapshot
/// ever gets a value other than the one its own state holds.
@Suite struct RecordCacheTests {
    /// The engine's statistics count the cache's hits and misses (kept when the cache is
    /// emptied) and the checkpoints that found frames.
    @Test func statisticsCountHitsMissesAndCheckpoints() throws {
        let engine = try Self.engine()
        defer { engine.close() }
        try Self.write(engine) { w in
            try w.createStore("r")
            try w.put("r", k(1), k(10))
        }
        let before = engine.statistics()
        _ = try Self.read(engine, "r", k(1))
        _ = try Self.read(engine, "r", k(1))
        _ = try Self.read(engine, "r", k(2))
        let after = engine.statistics()
        #expect(after.cacheHits - before.cacheHits == 1)
        #expect(after.cacheMisses - before.cacheMisses == 2)
        #expect(after.cacheBytes > 0)
        engine.recordCache.removeAll()
        #expect(engine.statistics().cacheHits == after.cacheHits)
        #expect(engine.statistics().cacheBytes == 0)
        engine.checkpointer?.runNow()
        #expect(engine.statistics().checkpoints >= 1)
        #expect(engine.statistics().checkpointSeconds > 0)
    }

    static func engine(cacheBytes: Int = 1 << 20) throws -> SQLiteStorageEngine {
        try SQLiteStorageEngine(directory: temporaryDirectory(), recordCacheBytes: cacheBytes)
    }

    static func write(_ engine: any StorageEngine, _ body: (any StorageWriteTransaction) throws -> Void) throws {
        let w = try engine.beginWrite()
        try body(w)
        try w.commit(durable: false)
    }

    static func read(_ engine: SQLiteStorageEngine, _ store: String, _ key: [UInt8]) throws -> [UInt8]? {
        let s = try engine.snapshot()
        defer { s.close() }
        return try s.get(store, key)
    }

    /// An engine whose store "r" holds 1 → 10, read once (so cached).
    static func cachedOneKey() throws -> SQLiteStorageEngine {
        let engine = try Self.engine()
        try Self.write(engine) { w in
            try w.createStore("r")
            try w.put("r", k(1), k(10))
        }
        #expect(try Self.read(engine, "r", k(1)) == k(10))
        return engine
    }

    /// A shard's open-addressing table against a dictionary, over random inserts and
    /// removals of keys whose hashes collide in full or only in their bucket, and of runs
    /// that wrap past the table's end: every key is found in its own slot, or not at all.
    @Test(arguments: [1, 2, 3])
    func aShardFindsExactlyTheKeysItHolds(seed: UInt64) {
        var state = seed
        func next() -> UInt64 {  // xorshift64: the same seed replays the same steps
            state ^= state << 13; state ^= state >> 7; state ^= state << 17
            return state
        }
        var shard = RecordCache.Shard()
        var model: [RecordCache.Key: [UInt8]] = [:]
        // 64 keys over 8 hashes: equal hashes, hashes equal in their low bits, and high
        // hashes (the last buckets, whose runs wrap to the first).
        let hashes = [0, 1, 16, 17, 1 << 40, -1, -2, Int.max]
        let keys = (0..<64).map { i in
            RecordCache.Key(store: i % 3 == 0 ? "a" : "b", key: [UInt8(i)], hash: hashes[i % hashes.count])
        }
        for step in 0..<4_000 {
            let k = keys[Int(next() % UInt64(keys.count))]
            if let i = shard.slot(of: k) {
                #expect(shard.slots[i]?.key == k)
                shard.remove(slot: i)
                model[k] = nil
            } else {
                let value = [UInt8(step & 0xFF)]
                shard.insert(RecordCache.Slot(key: k, value: value, referenced: false, bytes: 10))
                model[k] = value
            }
            #expect(shard.count == model.count && shard.bytes == model.count * 10)
            for key in keys {
                let found = shard.slot(of: key).flatMap { shard.slots[$0] }
                #expect(found?.key == model[key].map { _ in key } && found?.value == model[key], "step \(step)")
            }
        }
    }

    /// Keys that differ only in their last byte, by a trailing zero, by length, or only by
    /// store are told apart, and each is answered from the cache.
    @Test func keysOfEveryLengthAreToldApart() throws {
        let engine = try Self.engine()
        defer { engine.close() }
        var keys: [[UInt8]] = []
        for n in [0, 1, 7, 8, 31, 32, 33, 64, 200] {
            let base = [UInt8](repeating: 0xAB, count: n)
            keys.append(base)
            if n > 0 { keys.append(base.dropLast() + [0xAC]) }
            keys.append(base + [0])
        }
        try Self.write(engine) { w in
            for store in ["r", "s"] {
                try w.createStore(store)
                for (i, key) in keys.enumerated() { try w.put(store, key, Array(store.utf8) + Self.counter(UInt64(i))) }
            }
        }
        for _ in 0..<2 {  // the first round fills the cache, the second reads from it
            for store in ["r", "s"] {
                for (i, key) in keys.enumerated() { #expect(try Self.read(engine, store, key) == Array(store.utf8) + Self.counter(UInt64(i))) }
            }
        }
        #expect(engine.statistics().cacheHits >= Int64(2 * keys.count))
        // Distinct keys and stores make distinct cache keys; equal ones are equal.
        let cacheKeys = keys.flatMap { k in ["r", "s"].map { RecordCache.Key(store: $0, key: k) } }
        #expect(Set(cacheKeys).count == cacheKeys.count)
        #expect(RecordCache.Key(store: "r", key: keys[5]) == RecordCache.Key(store: "r", key: keys[5]))
    }

    @Test func aCachedValueNeverOutlivesItsCommit() throws {
        let engine = try Self.cachedOneKey()
        defer { engine.close() }
        #expect(engine.recordCache.sizeBytes > 0)
        let before = try engine.snapshot()
        let w = try engine.beginWrite()
        try w.put("r", k(1), k(11))
        // Read (and cached) while the write is open: the committed value.
        #expect(try Self.read(engine, "r", k(1)) == k(10))
        try w.commit(durable: false)
        #expect(try Self.read(engine, "r", k(1)) == k(11))
        #expect(try Self.read(engine, "r", k(1)) == k(11))
        // A snapshot from before the commit keeps its own state.
        #expect(try before.get("r", k(1)) == k(10))
        before.close()
        try Self.write(engine) { w in _ = try w.delete("r", k(1)) }
        #expect(try Self.read(engine, "r", k(1)) == nil)
    }

    /// A key the cache holds keeps its entry through a commit that writes it, with the value
    /// committed last; a delete, a write a savepoint rolled back, or an insert that found the
    /// key leaves no new value there, and keys it did not hold are not added.
    @Test func aCommitKeepsTheNewValuesOfKeysItHeld() throws {
        struct Failed: Error {}
        let engine = try Self.engine()
        defer { engine.close() }
        try Self.write(engine) { w in
            try w.createStore("r")
            for i: UInt8 in 1...6 { try w.put("r", k(i), k(i, 0)) }
        }
        for i: UInt8 in 1...5 { _ = try Self.read(engine, "r", k(i)) }  // 6 is not read, so not held
        try Self.write(engine) { w in
            try w.put("r", k(1), k(1, 1))
            try w.put("r", k(1), k(1, 2))                     // the last value counts
            try w.put("r", k(2), k(2, 1))
            _ = try w.delete("r", k(2))                       // deleted after its write
            try w.put("r", k(3), k(3, 1))
            _ = try? w.atomically { try w.put("r", k(3), k(3, 9)); throw Failed() }  // rolled back
            #expect(try w.insert("r", k(4), k(4, 9)) == false)  // found: left as it was
            try w.put("r", k(6), k(6, 1))
        }
        let before = engine.statistics()
        #expect(try Self.read(engine, "r", k(1)) == k(1, 2))
        #expect(try Self.read(engine, "r", k(5)) == k(5, 0))
        let hits = engine.statistics()
        #expect(hits.cacheHits - before.cacheHits == 2 && hits.cacheMisses == before.cacheMisses)
        // The rest are read from storage, each with its committed state.
        #expect(try Self.read(engine, "r", k(2)) == nil)
        #expect(try Self.read(engine, "r", k(3)) == k(3, 1))
        #expect(try Self.read(engine, "r", k(4)) == k(4, 0))
        #expect(try Self.read(engine, "r", k(6)) == k(6, 1))
        let after = engine.statistics()
        #expect(after.cacheHits == hits.cacheHits && after.cacheMisses - hits.cacheMisses == 4)
    }

    /// A write transaction reads keys it has not written from the cache (and fills it on a
    /// miss, so the next transaction's read of the key is a hit), but its own writes, writes a
    /// savepoint undid, and every key of a store it dropped, renamed or bulk-wrote from SQLite.
    @Test func aWriterReadsWhatItHasNotWrittenFromTheCache() throws {
        struct Failed: Error {}
        let engine = try Self.engine()
        defer { engine.close() }
        try Self.write(engine) { w in
            try w.createStore("r")
            for i: UInt8 in 1...4 { try w.put("r", k(i), k(i, 0)) }
        }
        let start = engine.statistics()
        try Self.write(engine) { w in
            #expect(try w.get("r", k(1)) == k(1, 0))              // a miss, which fills the cache
            #expect(try w.get("r", k(1)) == k(1, 0))              // a hit
            try w.put("r", k(1), k(1, 1))
            #expect(try w.get("r", k(1)) == k(1, 1))              // its own write, not the entry
            #expect(try w.get("r", k(2)) == k(2, 0))
            _ = try w.delete("r", k(2))
            #expect(try w.get("r", k(2)) == nil)
            #expect(try w.get("r", k(3)) == k(3, 0))
            _ = try? w.atomically { try w.put("r", k(3), k(3, 9)); throw Failed() }
            #expect(try w.get("r", k(3)) == k(3, 0))              // the savepoint undid it
        }
        let first = engine.statistics()
        #expect(first.cacheHits - start.cacheHits == 1 && first.cacheMisses - start.cacheMisses == 3)
        // The next transaction finds what the first committed: 1's new value in the cache
        // (held, so kept), 3 read again (its entry went with the write the savepoint undid),
        // and no 2.
        let next = try engine.beginWrite()
        #expect(try next.get("r", k(1)) == k(1, 1))
        #expect(try next.get("r", k(3)) == k(3, 0))
        #expect(try next.get("r", k(2)) == nil)
        try next.commit(durable: false)
        let second = engine.statistics()
        #expect(second.cacheHits - first.cacheHits == 1 && second.cacheMisses - first.cacheMisses == 2)
        // A store replaced in the transaction hides every entry of the old one.
        #expect(try Self.read(engine, "r", k(4)) == k(4, 0))
        let w = try engine.beginWrite()
        try w.dropStore("r")
        try w.createStore("r")
        #expect(try w.get("r", k(4)) == nil)
        #expect(try w.get("r", k(1)) == nil)
        w.rollback()
        #expect(try Self.read(engine, "r", k(4)) == k(4, 0))
        try Self.write(engine) { w in
            let (key, value) = (k(4), k(4, 5))  // bulk writes are not noted key by key
            try key.withUnsafeBytes { kb in try value.withUnsafeBytes { vb in try w.putAll("r", count: 1) { _ in (kb, vb) } } }
            #expect(try w.get("r", k(4)) == k(4, 5))
        }
    }

    @Test func aRolledBackWriteChangesNothing() throws {
        let engine = try Self.cachedOneKey()
        defer { engine.close() }
        let w = try engine.beginWrite()
        try w.put("r", k(1), k(11))
        w.rollback()
        #expect(try Self.read(engine, "r", k(1)) == k(10))
    }

    @Test func droppedAndRenamedStoresLeaveNothingBehind() throws {
        let engine = try Self.engine()
        defer { engine.close() }
        try Self.write(engine) { w in
            try w.createStore("a")
            try w.createStore("b")
            try w.put("a", k(1), k(1))
            try w.put("b", k(1), k(2))
        }
        #expect(try Self.read(engine, "a", k(1)) == k(1))
        #expect(try Self.read(engine, "b", k(1)) == k(2))
        try Self.write(engine) { w in
            try w.dropStore("a")
            try w.renameStore("b", to: "a")
            try w.createStore("b")
        }
        #expect(try Self.read(engine, "a", k(1)) == k(2))
        #expect(try Self.read(engine, "b", k(1)) == nil)
    }

    @Test func staysWithinItsBudgetAndGivesMemoryBack() throws {
        let budget = 64 << 10
        let engine = try Self.engine(cacheBytes: budget)
        defer { engine.close() }
        try Self.write(engine) { w in
            try w.createStore("r")
            for i in 0..<1000 { try w.put("r", k(UInt8(i >> 8), UInt8(i & 0xFF)), [UInt8](repeating: UInt8(i & 0xFF), count: 500)) }
        }
        for _ in 0..<2 {
            for i in 0..<1000 {
                #expect(try Self.read(engine, "r", k(UInt8(i >> 8), UInt8(i & 0xFF))) == [UInt8](repeating: UInt8(i & 0xFF), count: 500))
            }
        }
        #expect(engine.recordCache.sizeBytes > budget / 2 && engine.recordCache.sizeBytes <= budget)
        engine.releaseMemory()
        #expect(engine.recordCache.sizeBytes == 0)
    }

    /// Shards grow with the budget (one per 4 MiB, 8 to 64), and with many shards every key
    /// still reads its latest value, through rewrites and removals.
    @Test func shardsGrowWithTheBudgetAndStayExact() throws {
        for (budget, shards) in [(1 << 20, 8), (128 << 20, 32)] {
            let small = try Self.engine(cacheBytes: budget)
            #expect(small.recordCache.shardCount == shards)
            small.close()
        }
        let engine = try Self.engine(cacheBytes: 256 << 20)
        defer { engine.close() }
        #expect(engine.recordCache.shardCount == 64)
        try Self.write(engine) { w in
            try w.createStore("r")
            for i in 0..<500 { try w.put("r", k(UInt8(i >> 8), UInt8(i & 0xFF)), k(UInt8(i & 0xFF))) }
        }
        for i in 0..<500 { _ = try Self.read(engine, "r", k(UInt8(i >> 8), UInt8(i & 0xFF))) }
        #expect(engine.recordCache.sizeBytes > 0)
        try Self.write(engine) { w in
            for i in stride(from: 0, to: 500, by: 2) { try w.put("r", k(UInt8(i >> 8), UInt8(i & 0xFF)), k(7, 7)) }
            for i in stride(from: 1, to: 500, by: 4) { _ = try w.delete("r", k(UInt8(i >> 8), UInt8(i & 0xFF))) }
        }
        for i in 0..<500 {
            let expected: [UInt8]? = i % 2 == 0 ? k(7, 7) : (i % 4 == 1 ? nil : k(UInt8(i & 0xFF)))
            #expect(try Self.read(engine, "r", k(UInt8(i >> 8), UInt8(i & 0xFF))) == expected)
        }
    }

    @Test func noCacheWhenTheBudgetIsZero() throws {
        let engine = try Self.engine(cacheBytes: 0)
        defer { engine.close() }
        try Self.write(engine) { w in
            try w.createStore("r")
            try w.put("r", k(1), k(10))
        }
        #expect(try Self.read(engine, "r", k(1)) == k(10))
        #expect(engine.recordCache.sizeBytes == 0)
    }

    /// A writer keeps bumping counters while readers check that every snapshot sees at least
    /// what was committed before it began, and the same value on a second read. A cached
    /// value surviving its key's commit (or kept from a read that raced one) shows as a
    /// counter going back.
    @Test func concurrentReadersSeeEveryCommitMadeBeforeThem() throws {
        let engine = try Self.engine()
        defer { engine.close() }
        let keys = 8
        try Self.write(engine) { w in
            try w.createStore("c")
            for key in 0..<keys { try w.put("c", k(UInt8(key)), Self.counter(0)) }
        }
        let committed = Mutex([UInt64](repeating: 0, count: keys))
        let failures = Mutex<[String]>([])
        let done = Atomic(false)
        let group = DispatchGroup()
        for reader in 0..<2 {
            DispatchQueue.global().async(group: group) {
                var rounds = 0
                while !done.load(ordering: .acquiring) || rounds < 100 {
                    rounds += 1
                    let floor = committed.withLock { $0 }
                    do {
                        let s = try engine.snapshot()
                        for key in 0..<keys {
                            let first = try s.get("c", k(UInt8(key))).map(Self.value) ?? 0
                            let again = try s.get("c", k(UInt8(key))).map(Self.value) ?? 0
                            if first < floor[key] || again != first {
                                failures.withLock { $0.append("reader \(reader) key \(key): floor \(floor[key]), read \(first) then \(again)") }
                            }
                        }
                        s.close()
                    } catch {
                        failures.withLock { $0.append("reader \(reader): \(error)") }
                    }
                }
            }
        }
        for n in 1...2000 {
            let key = n % keys
            try Self.write(engine) { w in try w.put("c", k(UInt8(key)), Self.counter(UInt64(n))) }
            committed.withLock { $0[key] = UInt64(n) }
        }
        done.store(true, ordering: .releasing)
        group.wait()
        let found = failures.withLock { $0 }
        let failed = found.count
        #expect(failed == 0, "first failures: \(found.prefix(5))")
    }

    static func counter(_ n: UInt64) -> [UInt8] { withUnsafeBytes(of: n.bigEndian) { Array($0) } }
    static func value(_ bytes: [UInt8]) -> UInt64 { bytes.reduce(0) { $0 << 8 | UInt64($1) } }
}
