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
// dictionary probe and a reference-count increment (values are shared arrays, never copied).
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
    /// allocation rounding (~80), the slot (~64) and the dictionary bucket at 3/4 load (~53).
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

    struct Shard {
        var index: [Key: Int] = [:]
        var slots: [Slot?] = []
        var free: [Int] = []
        var hand = 0
        var bytes = 0
        /// Reads answered here, and reads that were not (counted under the shard's lock).
        var hits = 0
        var misses = 0
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
            guard usable(at: snapshotVersion), let i = s.index[k] else {
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
        return shard(k).state.withLock { $0.index[k] != nil }
    }

    /// Keeps `value`, read by a snapshot taken at `snapshotVersion`, unless a commit started since.
    func store(_ k: Key, _ value: [UInt8], at snapshotVersion: UInt64) {
        let bytes = k.key.count + value.count + RecordCache.entryOverheadBytes
        guard enabled, bytes <= shardCapacityBytes / 8 else { return }
        let capacity = shardCapacityBytes
        shard(k).state.withLock { s in
            guard usable(at: snapshotVersion), s.index[k] == nil else { return }
            while s.bytes + bytes > capacity { RecordCache.evictOne(&s) }
            let slot = Slot(key: k, value: value, referenced: false, bytes: bytes)
            let i: Int
            if let f = s.free.popLast() {
                i = f
                s.slots[i] = slot
            } else {
                i = s.slots.count
                s.slots.append(slot)
            }
            s.index[k] = i
            s.bytes += bytes
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
            remove(at: i, &s)
            return
        }
    }

    private static func remove(at i: Int, _ s: inout Shard) {
        guard let slot = s.slots[i] else { return }
        s.index[slot.key] = nil
        s.bytes -= slot.bytes
        s.slots[i] = nil
        s.free.append(i)
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
                guard !s.index.isEmpty else { return }
                for i in positions {
                    if let slot = s.index[written[i]] {
                        RecordCache.remove(at: slot, &s)
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
