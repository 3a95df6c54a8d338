import FolioBSON
import FolioStorage
import Synchronization
import FolioLocks

// Exact document counts per collection, in memory, for estimatedDocumentCount and count
// without a filter (MongoDB answers both from collection metadata): counting the records
// grew with the collection (195 ms at 1,000,000 documents).
//
// Loaded once when the engine opens (one count per collection, so a restart after kill -9
// is exact too), then moved only by commits: the group committer's transaction is wrapped
// in a `CountingTransaction` that notes each record inserted or deleted (undone with the
// savepoint or transaction that undoes the write), and the notes are applied after the
// commit succeeds. Costs per write: one array append; per commit: one lock.

// Across a clean restart: counting every collection at open read all of its records (the
// whole data set from disk after a reboot), so a clean close leaves the counts in the meta
// store with the change log's newest key (`saveRecordCounts`). The next open takes them when
// that key is still the newest — every write since would have appended to the change log —
// and removes the row before any write, so after kill -9 there is no row and the open counts.

/// The number of records in each record store, as of the last commit.
final class RecordCounts: Sendable {
    let counts = Locked<[String: Int]>([:])

    func count(_ store: String) -> Int? { counts.withLock { $0[store] } }

    /// Every store's count.
    var all: [String: Int] { counts.withLock { $0 } }

    /// The meta store's key for the counts a clean close left.
    static let savedKey: [UInt8] = Array("recordCounts".utf8)

    /// The saved row: the change log's newest key then, and each store's count.
    static func encode(_ counts: [String: Int], changeLogNewest: [UInt8]?) -> [UInt8] {
        let stores = counts.sorted { $0.key < $1.key }.map { BSON.document(["s": .string($0.key), "n": .int64(Int64($0.value))]) }
        let doc: Document = ["changeLogNewest": changeLogNewest.map { .string(Hex.encode($0)) } ?? .null, "counts": .array(stores)]
        return doc.bsonBytes()
    }

    /// The counts of a saved row, if the change log's newest key is still the one it names
    /// (nil for a row that does not decode: the open counts).
    static func decode(_ bytes: [UInt8], changeLogNewest: [UInt8]?) -> [String: Int]? {
        guard let doc = try? Document(bsonBytes: bytes), case .array(let stores)? = doc["counts"] else { return nil }
        switch doc["changeLogNewest"] {
        case .null?: guard changeLogNewest == nil else { return nil }
        case .string(let hex)?: guard let newest = changeLogNewest, Hex.decode(hex) == newest else { return nil }
        default: return nil
        }
        var counts: [String: Int] = [:]
        for case .document(let d) in stores {
            guard case .string(let store)? = d["s"], case .int64(let n)? = d["n"], n >= 0 else { return nil }
            counts[store] = Int(n)
        }
        return counts.count == stores.count ? counts : nil
    }

    func load(_ store: String, _ count: Int) { counts.withLock { $0[store] = count } }

    /// Applies a committed transaction's changes, in order.
    func apply(_ changes: [CountingTransaction.Change]) {
        guard !changes.isEmpty else { return }
        counts.withLock { counts in
            for change in changes {
                switch change {
                case .records(let store, let delta): counts[store, default: 0] += delta
                case .created(let store): counts[store] = 0
                case .dropped(let store): counts[store] = nil
                case .renamed(let from, let to): counts[to] = counts.removeValue(forKey: from)
                }
            }
        }
    }

    /// Whether the named store holds a collection's records (index stores are not counted).
    static func counted(_ store: String) -> Bool { store.hasPrefix(CollectionEntry.recordStorePrefix) }
}

/// A write transaction that notes how its writes change the record counts.
final class CountingTransaction: StorageWriteTransaction, @unchecked Sendable {
    // @unchecked: used by the one thread that leads the group commit.
    enum Change {
        case records(String, Int)
        case created(String)
        case dropped(String)
        case renamed(String, String)
    }

    let base: any StorageWriteTransaction
    private(set) var changes: [Change] = []
    /// Write conflicts with multi-document transactions: each key written is checked against
    /// the keys they hold and noted for them (ConflictTracker rules 2, 3).
    let conflicts: ConflictTracker?
    /// The sequence this transaction's commit will have.
    let sequence: UInt64
    /// The transaction whose buffered writes the current request replays (0: none).
    var owner: UInt64 = 0
    /// Whether a key was written while no transaction was open (ConflictTracker rule 3).
    private(set) var unnoted = false
    /// What the commit appends to the change log (ChangeLog.swift), undone with the writes.
    var changeLog: [ChangeLogItem] = []
    /// The group committer's records of retry history not yet in the store (nil in a
    /// transaction's engine, whose records go straight into its store).
    var retryCache: RetryHistoryCache?
    /// Retry history records this transaction's writes made, oldest first (RetryableWrites.swift),
    /// undone with the writes.
    private(set) var retryRecords: [(session: [UInt8], record: [UInt8])] = []
    /// Set by a write that needs every retry history record in the store with this commit
    /// (the change log's trim).
    var flushRetryHistory = false

    func addRetryRecord(_ session: [UInt8], _ record: [UInt8]) { retryRecords.append((session, record)) }

    /// The newest record this transaction's writes made for `session`.
    func retryRecord(_ session: [UInt8]) -> [UInt8]? { retryRecords.last { $0.session == session }?.record }

    /// The newest record for each session, in the order the sessions first wrote.
    var newestRetryRecords: [(session: [UInt8], record: [UInt8])] {
        if retryRecords.count < 2 { return retryRecords }
        var at: [[UInt8]: Int] = [:], out: [(session: [UInt8], record: [UInt8])] = []
        for r in retryRecords {
            if let i = at[r.session] { out[i].record = r.record } else { at[r.session] = out.count; out.append(r) }
        }
        return out
    }

    /// Keeps vector indexes in step with record writes (VectorIndexes.swift); nil in a
    /// transaction's engine, whose buffered writes reach it when they are replayed.
    var vectorIndexes: VectorIndexRegistry?
    /// How to take back in-memory changes made with this transaction's writes (vector
    /// graphs), oldest first: run newest first when writes are undone, dropped at commit.
    private(set) var undoActions: [() -> Void] = []

    func addUndo(_ actions: [() -> Void]) { undoActions.append(contentsOf: actions) }
    var hasUndo: Bool { !undoActions.isEmpty }

    /// After a commit that failed where storage may or may not hold the writes: the graphs
    /// are dropped from memory, to be read back from what storage holds.
    func abandonMemory() {
        guard !undoActions.isEmpty else { return }
        undoActions.removeAll()
        vectorIndexes?.forgetAll()
    }

    private func undoMemory(to mark: Int) {
        while undoActions.count > mark { undoActions.removeLast()() }
    }

    /// The value a write to a vector-indexed collection's record replaces (nil otherwise).
    @inline(__always)
    private func previous(_ store: String, _ key: [UInt8]) throws(StorageError) -> (watched: Bool, value: [UInt8]?) {
        guard let vectorIndexes, vectorIndexes.watches(store) else { return (false, nil) }
        return (true, try base.get(store, key))
    }

    private func recordChanged(_ store: String, _ key: [UInt8], old: [UInt8]?, new: [UInt8]?) throws(StorageError) {
        guard let vectorIndexes else { return }
        do {
            addUndo(try vectorIndexes.recordChanged(store, key, old: old, new: new, base))
        } catch let e as StorageError {
            throw e
        } catch {
            throw StorageError.io("vector index maintenance: \(error)")
        }
    }

    init(_ base: any StorageWriteTransaction, conflicts: ConflictTracker? = nil) {
        self.base = base
        self.conflicts = conflicts
        self.sequence = conflicts?.nextSequence ?? 0
    }

    /// Checks and notes a write to `key` (nothing to do while no transaction is open).
    @inline(__always)
    private func written(_ store: String, _ key: [UInt8]) throws(StorageError) {
        guard let conflicts, owner == 0 else { return }
        if conflicts.isActive {
            try conflicts.write(ConflictTracker.Key(store, key), sequence: sequence)
        } else {
            unnoted = true
        }
    }

    private func note(_ change: @autoclosure () -> Change, store: String) {
        if RecordCounts.counted(store) { changes.append(change()) }
    }

    // Reads.
    func get(_ store: String, _ key: [UInt8]) throws(StorageError) -> [UInt8]? { try base.get(store, key) }
    func scan(_ store: String, _ range: KeyRange, reverse: Bool, limit: Int?) throws(StorageError) -> [(key: [UInt8], value: [UInt8])] {
        try base.scan(store, range, reverse: reverse, limit: limit)
    }
    func visit(_ store: String, _ range: KeyRange, limit: Int?,
               _ body: (UnsafeBufferPointer<UInt8>, UnsafeBufferPointer<UInt8>) -> Bool) throws(StorageError) -> [UInt8]? {
        try base.visit(store, range, limit: limit, body)
    }
    func storeNames() throws(StorageError) -> [String] { try base.storeNames() }
    func count(_ store: String) throws(StorageError) -> Int { try base.count(store) }
    func storageBytes(_ store: String) throws(StorageError) -> Int { try base.storageBytes(store) }
    func close() { base.close() }

    // Writes that change counts.
    func createStore(_ store: String) throws(StorageError) {
        try base.createStore(store)
        note(.created(store), store: store)
    }
    func dropStore(_ store: String) throws(StorageError) {
        try base.dropStore(store)
        note(.dropped(store), store: store)
    }
    func renameStore(_ store: String, to newName: String) throws(StorageError) {
        try base.renameStore(store, to: newName)
        note(.renamed(store, newName), store: store)
    }
    func insert(_ store: String, _ key: [UInt8], _ value: [UInt8]) throws(StorageError) -> Bool {
        try written(store, key)
        let inserted = try base.insert(store, key, value)
        if inserted {
            note(.records(store, 1), store: store)
            if let vectorIndexes, vectorIndexes.watches(store) { try recordChanged(store, key, old: nil, new: value) }
        }
        return inserted
    }
    func delete(_ store: String, _ key: [UInt8]) throws(StorageError) -> Bool {
        try written(store, key)
        let (watched, old) = try previous(store, key)
        let existed = try base.delete(store, key)
        if existed {
            note(.records(store, -1), store: store)
            if watched { try recordChanged(store, key, old: old, new: nil) }
        }
        return existed
    }

    /// Records are only ever replaced with `put` (new ones go through `insert`); a put that
    /// added a record would leave the count behind, so it is checked in debug builds.
    func put(_ store: String, _ key: [UInt8], _ value: [UInt8]) throws(StorageError) {
        assert(!RecordCounts.counted(store) || (try? base.get(store, key)) != nil, "put added a record to \(store)")
        try written(store, key)
        let (watched, old) = try previous(store, key)
        try base.put(store, key, value)
        if watched { try recordChanged(store, key, old: old, new: value) }
    }
    func putAll(_ store: String, count: Int,
                _ entry: (Int) -> (key: UnsafeRawBufferPointer, value: UnsafeRawBufferPointer)) throws(StorageError) {
        precondition(!RecordCounts.counted(store), "putAll into the record store \(store)")
        // Index builds: too many keys to note one by one; open transactions are doomed
        // instead (their index would miss them anyway).
        if conflicts != nil && owner == 0 { unnoted = true }
        try base.putAll(store, count: count, entry)
    }

    func atomically<R>(_ body: () throws -> R) throws -> R {
        let mark = changes.count, logged = changeLog.count, undone = undoActions.count, retried = retryRecords.count
        do {
            return try base.atomically(body)
        } catch {
            changes.removeSubrange(mark...)
            changeLog.removeSubrange(logged...)
            retryRecords.removeSubrange(retried...)
            undoMemory(to: undone)
            throw error
        }
    }
    func claim(_ store: String, _ key: [UInt8]) throws(StorageError) {
        try written(store, key)
        try base.claim(store, key)
    }
    func commit(durable: Bool) throws(StorageError) {
        do {
            try base.commit(durable: durable)
        } catch {
            abandonMemory()
            throw error
        }
        undoActions.removeAll()
    }
    func rollback() {
        changes.removeAll()
        changeLog.removeAll()
        retryRecords.removeAll()
        undoMemory(to: 0)
        base.rollback()
    }
}
