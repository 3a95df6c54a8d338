import Synchronization
#if canImport(Glibc)
import Glibc
#endif
import FolioLocks

// Values read by key, kept in memory for the next read of the same key.
//
// Point reads (`_id` lookups, and the record fetches behind index scans) are one B-tree
// descent each in SQLite, and SQLite's own page cache cannot keep them hot: in WAL mode a
// reader connection drops its whole page cache at the next read transaction after any
// commit. This cache sits in front of `get` on snapshots and is kept exact per key instead.
//
// Cost per cached read: one seeded hash of (store, key), one uncontended lock of one of
// the shards (8 to 64, one per 4 MiB of budget: concurrent readers seldom meet on one), a
// probe of the shard's table and a reference-count increment (values are shared arrays, never copied).
// Per write transaction: at commit, one lock per shard and one removal per key the
// transaction wrote, and one store per removed key that has a committed value (rule 3).
// Scans (`visit`, `scan`) neither read nor fill it, so scanning a large collection does not
// grow memory.
//
// Consistency with snapshots, using the engine's commit version (`PinnedSnapshot`), which a
// writer makes odd just before COMMIT and even again after it:
//  1. The writer, with the version odd, removes every key it wrote (all entries after a
//     store was dropped or renamed) before COMMIT.
//  2. An entry is added, or read, only while the version is even and still the one the
//     snapshot noted before it began — so no commit started since, and the snapshot sees
//     exactly the latest committed state. The check is made under the shard's lock.
//  3. After COMMIT, with the version even again and before the writer lets the next
//     transaction in, a key that had an entry (so was read lately: an update's next read
//     wants it) is stored again with the last value the transaction committed for it, at
//     that version. Deleted keys, and writes a savepoint rolled back or that left the old row
//     in place, are not.
// Hence every entry holds the latest committed value of its key whenever the version is
// even, and a snapshot only uses it while that latest state is the snapshot's own.
//
// Memory: at most `capacityBytes` (keys, values and a fixed overhead per entry); CLOCK
// eviction per shard. Entries larger than an eighth of a shard are not kept.

/// A bounded, snapshot-exact cache of point-read values.
final class RecordCache: Sendable {
    /// Shards per cache: one per this much budget, between 8 and 64. With 8 shards, eight
    /// clients' aggregations met on the shard locks often enough for the futex to show in
    /// their profile; more shards make that rare, and the budget keeps each shard large
    /// enough for an eighth of it to hold a large document.
    static let bytesPerShard = 4 << 20
    static let shardCounts = 8...64
    /// Bytes counted per entry besides its key and value bytes: two array headers and their
    /// allocation rounding (~80), the slot (~64) and the table's buckets at 1/4 to 1/2 load (32–64).
    static let entryOverheadBytes = 192

    /// A store and a key, hashed once (seeded: keys come from clients) for both the shard
    /// and the dictionary.
    struct Key: Hashable, Sendable {
        let store: String
        let key: [UInt8]
        let hash: Int

        init(store: String, key: [UInt8]) {
            self.store = store
            self.key = key
            var h = Hasher()
            h.combine(store)
            key.withUnsafeBytes { h.combine(bytes: $0) }
            hash = h.finalize()
        }

        /// A key with a chosen hash (tests: keys whose hashes collide).
        init(store: String, key: [UInt8], hash: Int) {
            self.store = store
            self.key = key
            self.hash = hash
        }

        func hash(into hasher: inout Hasher) { hasher.combine(hash) }

        /// The keys' bytes compared with memcmp (Array's == compares element by element).
        static func == (a: Key, b: Key) -> Bool {
            guard a.hash == b.hash, a.key.count == b.key.count else { return false }
            let same = a.key.withUnsafeBytes { x in b.key.withUnsafeBytes { y in x.count == 0 || memcmp(x.baseAddress!, y.baseAddress!, x.count) == 0 } }
            return same && a.store == b.store
        }
    }

    struct Slot {
        var key: Key
        var value: [UInt8]
        var referenced: Bool
        var bytes: Int
    }

    /// One bucket of a shard's table: a key's hash and its slot + 1 (0: empty).
    struct Bucket {
        var hash: Int
        var slot: Int32
    }

    /// A shard's entries: slots, found through an open-addressing table of (hash, slot)
    /// buckets with linear probing, at most half full, emptied by backward shifting (no
    /// tombstones). Instead of a `[Key: Int]` dictionary: a lookup reads one bucket line and
    /// the slot instead of the dictionary's metadata, key and value lines, and its hash is the
    /// key's own (the dictionary hashed it again): the cache was a third of an aggregation's
    /// CPU (measured).
    struct Shard {
        var buckets = [Bucket](repeating: Bucket(hash: 0, slot: 0), count: 16)
        var slots: [Slot?] = []
        var free: [Int] = []
        var count = 0
        var hand = 0
        var bytes = 0
        /// Reads answered here, and reads that were not (counted under the shard's lock).
        var hits = 0
        var misses = 0

        var mask: Int { buckets.count - 1 }

        /// The slot holding `k`.
        func slot(of k: Key) -> Int? {
            var i = k.hash & mask
            while true {
                let b = buckets[i]
                if b.slot == 0 { return nil }
                if b.hash == k.hash, slots[Int(b.slot) - 1]!.key == k { return Int(b.slot) - 1 }
                i = (i + 1) & mask
            }
        }

        /// Adds an entry for a key that has none.
        mutating func insert(_ slot: Slot) {
            let i: Int
            if let f = free.popLast() {
                i = f
                slots[i] = slot
            } else {
                i = slots.count
                slots.append(slot)
            }
            if (count + 1) * 2 > buckets.count { grow() }
            place(Bucket(hash: slot.key.hash, slot: Int32(i + 1)))
            count += 1
            bytes += slot.bytes
        }

        private mutating func place(_ bucket: Bucket) {
            var i = bucket.hash & mask
            while buckets[i].slot != 0 { i = (i + 1) & mask }
            buckets[i] = bucket
        }

        private mutating func grow() {
            let old = buckets
            buckets = [Bucket](repeating: Bucket(hash: 0, slot: 0), count: old.count * 2)
            for b in old where b.slot != 0 { place(b) }
        }

        /// Removes slot `i`'s entry.
        mutating func remove(slot i: Int) {
            guard let slot = slots[i] else { return }
            var hole = slot.key.hash & mask
            while buckets[hole].slot != Int32(i + 1) { hole = (hole + 1) & mask }
            // Backward shift: each later bucket of the run moves into the hole unless the hole
            // lies before its home position (it would no longer be found).
            var j = hole
            while true {
                j = (j + 1) & mask
                let b = buckets[j]
                if b.slot == 0 { break }
                let home = b.hash & mask
                if (j - home) & mask >= (j - hole) & mask {
                    buckets[hole] = b
                    hole = j
                }
            }
            buckets[hole] = Bucket(hash: 0, slot: 0)
            count -= 1
            bytes -= slot.bytes
            slots[i] = nil
            free.append(i)
        }
    }

    final class ShardBox: Sendable {
        let state = Locked(Shard())
    }

    let capacityBytes: Int
    let shardCapacityBytes: Int
    let shardCount: Int
    let shards: [ShardBox]
    let version: PinnedSnapshot

    /// `capacityBytes` 0 disables the cache.
    init(capacityBytes: Int, version: PinnedSnapshot) {
        self.capacityBytes = max(0, capacityBytes)
        let count = min(max(self.capacityBytes / RecordCache.bytesPerShard, RecordCache.shardCounts.lowerBound), RecordCache.shardCounts.upperBound)
        shardCount = count
        shardCapacityBytes = self.capacityBytes / count
        shards = (0..<count).map { _ in ShardBox() }
        self.version = version
    }

    var enabled: Bool { shardCapacityBytes > 0 }

    private func shard(_ key: Key) -> ShardBox {
        shards[shardIndex(key)]
    }

    private func shardIndex(_ key: Key) -> Int {
        Int(UInt(bitPattern: key.hash) % UInt(shardCount))
    }

    /// Whether a snapshot taken at `snapshotVersion` may use the cache now (under a shard lock).
    private func usable(at snapshotVersion: UInt64) -> Bool {
        snapshotVersion & 1 == 0 && version.version == snapshotVersion
    }

    /// The cached value of `k` for a snapshot taken at `snapshotVersion`.
    func value(_ k: Key, at snapshotVersion: UInt64, countsMiss: Bool = true) -> [UInt8]? {
        guard enabled else { return nil }
        return shard(k).state.withLock { s -> [UInt8]? in
            guard usable(at: snapshotVersion), let i = s.slot(of: k) else {
                if countsMiss { s.misses &+= 1 }
                return nil
            }
            s.hits &+= 1
            // Written only when it changes: a slot line left clean is not pulled from the
            // other cores' caches when they read it next.
            if !s.slots[i]!.referenced { s.slots[i]!.referenced = true }
            return s.slots[i]!.value
        }
    }

    /// Whether `k` has an entry now, whatever the version (a hint for `holdsInMemory`; counts
    /// neither a hit nor a miss).
    func holds(_ k: Key) -> Bool {
        guard enabled else { return false }
        return shard(k).state.withLock { $0.slot(of: k) != nil }
    }

    /// Keeps `value`, read by a snapshot taken at `snapshotVersion`, unless a commit started since.
    func store(_ k: Key, _ value: [UInt8], at snapshotVersion: UInt64) {
        let bytes = k.key.count + value.count + RecordCache.entryOverheadBytes
        guard enabled, bytes <= shardCapacityBytes / 8 else { return }
        let capacity = shardCapacityBytes
        shard(k).state.withLock { s in
            guard usable(at: snapshotVersion), s.slot(of: k) == nil else { return }
            while s.bytes + bytes > capacity { RecordCache.evictOne(&s) }
            s.insert(Slot(key: k, value: value, referenced: false, bytes: bytes))
        }
    }

    /// CLOCK: the first entry not read since the hand last passed it.
    private static func evictOne(_ s: inout Shard) {
        while true {
            if s.hand >= s.slots.count { s.hand = 0 }
            let i = s.hand
            s.hand += 1
            guard let slot = s.slots[i] else { continue }
            if slot.referenced {
                s.slots[i]!.referenced = false
                continue
            }
            s.remove(slot: i)
            return
        }
    }

    /// Removes written keys (rule 1; called by the writer with the version odd). Returns the
    /// positions in `written` of the keys that had an entry.
    @discardableResult
    func remove(_ written: [Key]) -> [Int] {
        guard enabled, !written.isEmpty else { return [] }
        var byShard = [[Int]](repeating: [], count: shardCount)
        for (i, k) in written.enumerated() { byShard[shardIndex(k)].append(i) }
        var held: [Int] = []
        for (n, positions) in byShard.enumerated() where !positions.isEmpty {
            shards[n].state.withLock { s in
                guard s.count > 0 else { return }
                for i in positions {
                    if let slot = s.slot(of: written[i]) {
                        s.remove(slot: slot)
                        held.append(i)
                    }
                }
            }
        }
        return held
    }

    /// Empties the cache (stores dropped or renamed, idle memory given back); the counts of
    /// hits and misses stay.
    func removeAll() {
        for box in shards {
            box.state.withLock { s in
                let (hits, misses) = (s.hits, s.misses)
                s = Shard()
                (s.hits, s.misses) = (hits, misses)
            }
        }
    }

    /// Hits, misses and bytes held, summed over the shards.
    var counts: (hits: Int, misses: Int, bytes: Int) {
        shards.reduce((0, 0, 0)) { n, box in box.state.withLock { (n.0 + $0.hits, n.1 + $0.misses, n.2 + $0.bytes) } }
    }

    /// Bytes held now (tests, diagnostics).
    var sizeBytes: Int { shards.reduce(0) { n, box in n + box.state.withLock { $0.bytes } } }
}
