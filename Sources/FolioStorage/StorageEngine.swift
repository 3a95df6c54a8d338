import FolioBSON

// The storage-engine protocol: ordered byte-key stores, consistent snapshots, one writer.
//
// Kept small on purpose so a PostgreSQL engine can implement it later: a store is a named,
// ordered map from byte keys (compared with memcmp) to byte values. Record stores map an
// encoded `_id` to BSON; index stores map KeyString keys (index fields + record key) to
// nothing or type bits. The catalog lives in a store of its own.
//
// Invariants every engine keeps:
//  1. A snapshot sees exactly the transactions committed before it was taken, until closed.
//  2. A write transaction sees its own writes; nothing of it is visible before commit, and
//     after a crash it is either wholly present or wholly absent.
//  3. At most one write transaction is open at a time (callers serialize; engines may block).
//  4. `commit(durable: true)` returns only after the data is on stable storage.

/// Errors of the storage layer: a small closed set, translated to MongoDB codes by the engine.
public enum StorageError: Error, Sendable, Equatable {
    /// The data directory is used by another process.
    case locked(String)
    /// The named store does not exist.
    case noSuchStore(String)
    /// The named store already exists.
    case storeExists(String)
    /// On-disk data is not what this engine wrote.
    case corruption(String)
    /// The operating system or the library failed.
    case io(String)
    /// The engine was closed.
    case closed
    /// A multi-document transaction wrote a key another transaction holds or that was written
    /// after its snapshot (ConflictTracker rule 1).
    case writeConflict(String)
    /// A transaction wrote into a collection whose definition changed after its snapshot.
    case catalogChanged(String)
    /// A transaction's buffered writes passed the limit on what one transaction may hold.
    case transactionTooLarge(String)
    /// A write outside transactions met a key a transaction holds: undo it and run it again
    /// once the transaction has ended (ConflictTracker rule 2).
    case keyHeld
}

/// A key range for scans: `lower`/`upper` nil mean unbounded.
public struct KeyRange: Sendable, Equatable {
    public var lower: [UInt8]?
    public var lowerInclusive: Bool
    public var upper: [UInt8]?
    public var upperInclusive: Bool

    public init(lower: [UInt8]? = nil, lowerInclusive: Bool = true, upper: [UInt8]? = nil, upperInclusive: Bool = false) {
        self.lower = lower
        self.lowerInclusive = lowerInclusive
        self.upper = upper
        self.upperInclusive = upperInclusive
    }

    /// Every key.
    public static let all = KeyRange()

    /// Every key starting with `prefix`.
    public static func prefix(_ prefix: [UInt8]) -> KeyRange {
        KeyRange(lower: prefix, lowerInclusive: true, upper: KeyRange.successor(ofPrefix: prefix), upperInclusive: false)
    }

    /// The smallest key greater than every key with this prefix (nil if none: all 0xFF).
    public static func successor(ofPrefix prefix: [UInt8]) -> [UInt8]? {
        var p = prefix
        while let last = p.last {
            if last < 0xFF {
                p[p.count - 1] = last + 1
                return p
            }
            p.removeLast()
        }
        return nil
    }

    /// Whether `key` lies in the range.
    public func contains(_ key: [UInt8]) -> Bool {
        if let lower {
            let c = compareKeys(key, lower)
            if c < 0 || (c == 0 && !lowerInclusive) { return false }
        }
        if let upper {
            let c = compareKeys(key, upper)
            if c > 0 || (c == 0 && !upperInclusive) { return false }
        }
        return true
    }
}

/// memcmp order of byte keys.
@inlinable
public func compareKeys(_ a: [UInt8], _ b: [UInt8]) -> Int {
    a.withUnsafeBufferPointer { x in b.withUnsafeBufferPointer { y in compareByteBuffers(x, y) } }
}

/// A consistent read view.
public protocol StorageSnapshot: AnyObject, Sendable {
    /// The value stored under `key`.
    func get(_ store: String, _ key: [UInt8]) throws(StorageError) -> [UInt8]?
    /// Entries of `range` in key order (or reverse), at most `limit` when given, resumable by
    /// calling again with a range that starts after the last key seen.
    func scan(_ store: String, _ range: KeyRange, reverse: Bool, limit: Int?) throws(StorageError) -> [(key: [UInt8], value: [UInt8])]
    /// Visits entries of `range` in key order with borrowed bytes (valid only during the call),
    /// so scans copy nothing they do not keep. Return false from `body` to stop. Visits at
    /// most `limit` entries when given; returns the last key visited.
    @discardableResult
    func visit(_ store: String, _ range: KeyRange, limit: Int?,
               _ body: (UnsafeBufferPointer<UInt8>, UnsafeBufferPointer<UInt8>) -> Bool) throws(StorageError) -> [UInt8]?
    /// Names of all stores.
    func storeNames() throws(StorageError) -> [String]
    /// Number of entries in a store.
    func count(_ store: String) throws(StorageError) -> Int
    /// Bytes the store occupies in storage: its pages on disk, or its keys and values in memory
    /// (collStats' storageSize and indexSizes).
    func storageBytes(_ store: String) throws(StorageError) -> Int
    /// The sum of the lengths of the store's values (what `visit` would hand out, without
    /// reading them where the engine knows their lengths).
    func valueBytes(_ store: String) throws(StorageError) -> Int
    /// Ends the snapshot (idempotent; also on deinit).
    func close()
}

extension StorageSnapshot {
    public func valueBytes(_ store: String) throws(StorageError) -> Int {
        var sum = 0
        try visit(store, .all, limit: nil) { _, value in
            sum += value.count
            return true
        }
        return sum
    }
}

/// The writer's side. One at a time; commit or roll back exactly once.
public protocol StorageWriteTransaction: StorageSnapshot {
    func createStore(_ store: String) throws(StorageError)
    func dropStore(_ store: String) throws(StorageError)
    /// Renames a store (collections renamed keep their data).
    func renameStore(_ store: String, to newName: String) throws(StorageError)
    func put(_ store: String, _ key: [UInt8], _ value: [UInt8]) throws(StorageError)
    /// Puts `count` entries given as borrowed bytes (valid only during the call), without
    /// copying them first; fastest when the keys come in ascending order (index builds).
    func putAll(_ store: String, count: Int,
                _ entry: (Int) -> (key: UnsafeRawBufferPointer, value: UnsafeRawBufferPointer)) throws(StorageError)
    /// Stores the entry unless the key exists; returns false (and changes nothing) if it does.
    func insert(_ store: String, _ key: [UInt8], _ value: [UInt8]) throws(StorageError) -> Bool
    /// Removes a key; returns whether it existed.
    @discardableResult
    func delete(_ store: String, _ key: [UInt8]) throws(StorageError) -> Bool
    /// Declares that the write depends on `key` staying as it is without writing it (a unique
    /// index's value, a collection's definition): engines that detect write conflicts treat
    /// it as written.
    func claim(_ store: String, _ key: [UInt8]) throws(StorageError)
    /// Runs `body` so that its writes are kept if it returns and undone if it throws, while
    /// the transaction stays open (one statement of a group commit).
    func atomically<R>(_ body: () throws -> R) throws -> R
    /// Makes the writes visible and, when `durable`, synced to stable storage.
    func commit(durable: Bool) throws(StorageError)
    func rollback()
}

/// A storage engine: snapshots for readers, one write transaction at a time.
public protocol StorageEngine: AnyObject, Sendable {
    /// A short name for diagnostics (`"sqlite"`, `"memory"`).
    var name: String { get }
    func snapshot() throws(StorageError) -> any StorageSnapshot
    /// Begins the write transaction, waiting for the previous one to finish.
    func beginWrite() throws(StorageError) -> any StorageWriteTransaction
    /// Bytes used on disk (0 for memory).
    func sizeOnDiskBytes() -> Int64
    /// Gives back cache memory that idle connections hold (called when the server is idle).
    func releaseMemory()
    /// Writes what earlier commits left in the operating system's cache to the disk, without
    /// holding writers back, so that a durable commit right after has little left to sync
    /// while it holds them (best effort: the durable commit's own sync reports errors).
    func flushUnsynced()
    /// Cache and checkpoint counts since the engine opened.
    func statistics() -> StorageStatistics
    /// Whether reading `key` of `store` now would be answered from memory, never from a file
    /// (a hint: the answer may change right after). The wire server reads on an event loop
    /// only what this says is in memory.
    func holdsInMemory(_ store: String, _ key: [UInt8]) -> Bool
    /// The latest committed value of `key` in `store` when memory has it now, without a
    /// snapshot and without touching a file; nil when memory cannot say (the caller then
    /// reads through a snapshot, which answers for absent keys too).
    func latestInMemory(_ store: String, _ key: [UInt8]) -> [UInt8]?
    func close()
}

/// What an engine's caches and background work did since it opened (metrics).
public struct StorageStatistics: Sendable, Equatable {
    /// Reads answered from the record cache, and reads that missed it.
    public var cacheHits = 0
    public var cacheMisses = 0
    /// Bytes the record cache holds now.
    public var cacheBytes = 0
    /// Background checkpoints that found work, and the time they took.
    public var checkpoints = 0
    public var checkpointSeconds = 0.0
    /// Bytes in the write-ahead log at the last checkpoint (what readers of old snapshots
    /// keep from starting over).
    public var logBytes = 0

    public init() {}
}

extension StorageEngine {
    public func releaseMemory() {}
    public func flushUnsynced() {}
    /// Nothing to report unless the engine says otherwise.
    public func statistics() -> StorageStatistics { StorageStatistics() }
    /// An engine that says nothing may read any key from a file.
    public func holdsInMemory(_ store: String, _ key: [UInt8]) -> Bool { false }
    /// An engine that says nothing answers every read through a snapshot.
    public func latestInMemory(_ store: String, _ key: [UInt8]) -> [UInt8]? { nil }
}

extension StorageWriteTransaction {
    public func claim(_ store: String, _ key: [UInt8]) throws(StorageError) {}

    public func putAll(_ store: String, count: Int,
                       _ entry: (Int) -> (key: UnsafeRawBufferPointer, value: UnsafeRawBufferPointer)) throws(StorageError) {
        for i in 0..<count {
            let (key, value) = entry(i)
            try put(store, Array(key), Array(value))
        }
    }
}
