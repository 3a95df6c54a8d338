import FolioBSON
import FolioQuery
import FolioStorage
import Synchronization
import FolioLocks

// Multi-document transactions in the engine.
//
// A transaction is an engine of its own (`EngineTransaction.engine`) over a TransactionStorage:
// the same find, aggregate, insert, update, delete and findAndModify code runs in it, reading
// one snapshot plus the transaction's buffered writes, with the catalog of that snapshot.
// Its statements buffer their writes (TransactionOverlay); commit replays them in one commit
// of the real engine's group committer, so they become visible together, with one cluster
// time, and survive a crash together. Conflicts follow ConflictTracker's rules.
//
// Invariants:
//  1. The snapshot and the catalog a transaction reads are the same commit's (the catalog is
//     loaded from the snapshot's catalog store), taken under the tracker's gate.
//  2. Transactions beginning between the same two commits share one snapshot (one SQLite read
//     transaction), closed when the last of them ends (not when the last reference goes: a
//     finished transaction's reads fail instead of holding the log back).
//  3. At commit, catalog entries the transaction wrote (a collection it created, an index
//     that became multikey) replace the shared catalog's inside the replaying commit.
//  4. A transaction ends exactly once: commit, abort, or an error of its commit (which aborts).

/// One commit's snapshot and catalog, shared by the transactions that began after it.
final class TransactionSnapshot: @unchecked Sendable {
    // @unchecked: immutable after init; the storage snapshot serializes its own reads.
    let sequence: UInt64
    /// The cluster time of commit `sequence` (the snapshot holds every commit up to it).
    let time: Timestamp
    let storage: any StorageSnapshot
    let collections: [Namespace: CollectionEntry]
    /// Store name → the catalog key of the collection it belongs to.
    let owners: [String: [UInt8]]
    let counter: TransactionSnapshots
    /// Transactions using the snapshot; at 0 it is closed for good.
    private let users = Locked(1)

    init(sequence: UInt64, time: Timestamp, storage: any StorageSnapshot, collections: [Namespace: CollectionEntry],
         counter: TransactionSnapshots) {
        self.sequence = sequence
        self.time = time
        self.storage = storage
        self.collections = collections
        var owners: [String: [UInt8]] = [:]
        for (ns, entry) in collections {
            let key = CollectionEntry.key(ns)
            owners[entry.recordStore] = key
            for index in entry.indexes { owners[index.store] = key }
        }
        self.owners = owners
        self.counter = counter
        counter.live.add(1, ordering: .relaxed)
    }

    /// Adds a transaction; false once the snapshot is closed.
    func retain() -> Bool {
        users.withLock { n in
            guard n > 0 else { return false }
            n += 1
            return true
        }
    }

    /// Removes a transaction, closing the snapshot after the last one.
    func release() {
        let last = users.withLock { n -> Bool in
            n -= 1
            return n == 0
        }
        guard last else { return }
        storage.close()
        counter.live.subtract(1, ordering: .relaxed)
    }
}

/// The latest transaction snapshot (held weakly: it closes when its last transaction ends).
final class TransactionSnapshots: Sendable {
    private struct Weak: @unchecked Sendable { weak var snapshot: TransactionSnapshot? }
    private let latest = Locked(Weak())
    /// Distinct snapshots transactions hold now.
    let live = Atomic<Int>(0)

    /// The snapshot at `sequence`: the latest one when it is that commit's, else `make()`'s.
    func at(_ sequence: UInt64, _ make: () throws -> TransactionSnapshot) rethrows -> TransactionSnapshot {
        try latest.withLock { w in
            if let s = w.snapshot, s.sequence == sequence, s.retain() { return s }
            let s = try make()
            w.snapshot = s
            return s
        }
    }
}

/// What serverStatus reports about transactions.
public final class TransactionStatistics: Sendable {
    public let started = Atomic<Int64>(0)
    public let committed = Atomic<Int64>(0)
    public let aborted = Atomic<Int64>(0)
}

/// A multi-document transaction: run operations on `engine`, then `commit` or `abort`.
public final class EngineTransaction: @unchecked Sendable {
    // @unchecked: driven by one operation at a time (the session's); `finished` is locked.
    /// Runs the transaction's reads and writes.
    public let engine: Engine
    let parent: Engine
    let overlay: TransactionOverlay
    let snapshot: TransactionSnapshot
    private let finished = Locked(false)

    init(parent: Engine, overlay: TransactionOverlay, snapshot: TransactionSnapshot) {
        self.parent = parent
        self.overlay = overlay
        self.snapshot = snapshot
        self.engine = Engine(transactionOf: parent, storage: TransactionStorage(overlay: overlay), collections: snapshot.collections)
    }

    deinit { abort() }

    /// Makes the transaction's writes visible, all at once (durably with `durable`). An error
    /// aborts the transaction: WriteConflict when a write outside it made its snapshot stale.
    /// With `session`, the commit also records the session's transaction number as committed,
    /// in the same storage commit, so a commit retried after a restart is answered as done
    /// (`Engine.lastTransaction`), as MongoDB's config.transactions does.
    /// `lsid` is the session as the change log records it with the transaction's writes.
    public func commit(durable: Bool, session: (key: [UInt8], txnNumber: Int64)? = nil, lsid: Document? = nil) throws(FolioError) {
        guard finished.withLock({ f in defer { f = true }; return !f }) else { return }
        defer { snapshot.release() }
        let tracker = parent.committer.conflicts
        let statistics = parent.transactionStatistics
        if overlay.isEmpty {  // read-only: nothing to replay or to record
            tracker.end(overlay.id, committedAt: nil, keys: overlay.keys)
            statistics.committed.add(1, ordering: .relaxed)
            return
        }
        do throws(FolioError) {
            try storage { () throws(StorageError) in try tracker.validate(overlay.id, sequence: overlay.sequence) }
            let (created, entries) = overlay.writes()
            let catalogKeys = Set(entries.filter { $0.store == Engine.catalogStore }.map(\.key))
            let child = engine, parent = parent
            let logged = child.committer.transactionLog.withLock { $0 }
            let logItem = ChangeLogItem.transaction(logged, lsid: lsid ?? session.map { ["id": .binary(Binary(subtype: Binary.Subtype.uuid, data: $0.key))] },
                                                    txnNumber: session?.txnNumber)
            let sequence = try folio {
                let (_, request) = try parent.committer.writeOnce(durable: durable, owner: overlay.id) { txn -> Bool in
                    if let session { try RetryHistory.saveCommitted(session.txnNumber, session: session.key, txn) }
                    if !logged.isEmpty, let counting = txn as? CountingTransaction { counting.changeLog.append(logItem) }
                    for store in created { try txn.createStore(store) }
                    for e in entries {
                        if let value = e.value {
                            // Records are counted by insert; a record the snapshot had is replaced.
                            var inserted = false
                            if RecordCounts.counted(e.store) { inserted = try txn.insert(e.store, e.key, value) }
                            if !inserted { try txn.put(e.store, e.key, value) }
                        } else {
                            try txn.delete(e.store, e.key)
                        }
                    }
                    if !catalogKeys.isEmpty {
                        let final = child.catalog.withLock { $0.collections }
                        let changed = final.keys.filter { catalogKeys.contains(CollectionEntry.key($0)) }
                        parent.updateCatalog { state in
                            for ns in changed {
                                state.set(ns, final[ns])
                                parent.planCache.invalidate(ns)
                            }
                        }
                    }
                    return true
                }
                return request.sequence
            }
            tracker.end(overlay.id, committedAt: sequence, keys: overlay.keys)
            statistics.committed.add(1, ordering: .relaxed)
        } catch {
            tracker.end(overlay.id, committedAt: nil, keys: overlay.keys)
            statistics.aborted.add(1, ordering: .relaxed)
            throw error
        }
    }

    /// Drops the transaction's writes and releases what it holds (idempotent).
    public func abort() {
        guard finished.withLock({ f in defer { f = true }; return !f }) else { return }
        defer { snapshot.release() }
        parent.committer.conflicts.end(overlay.id, committedAt: nil, keys: overlay.keys)
        parent.transactionStatistics.aborted.add(1, ordering: .relaxed)
    }
}

extension Engine {
    /// Begins a multi-document transaction reading the latest commit. With `atClusterTime`
    /// (readConcern snapshot), that time must not be older than the latest commit: a
    /// transaction's conflicts are only tracked from the latest snapshot on, so an older one
    /// answers SnapshotTooOld (239), and a time after the latest commit InvalidOptions (72).
    public func beginTransaction(atClusterTime: Timestamp? = nil) throws(FolioError) -> EngineTransaction {
        if let atClusterTime { try checkNotFuture(atClusterTime) }
        let tracker = committer.conflicts
        let (id, sequence, shared) = try folio {
            try tracker.begin { sequence in
                let shared = try latestSnapshot(sequence)
                if let atClusterTime, shared.time > atClusterTime {
                    shared.release()
                    throw Engine.snapshotTooOld(atClusterTime)
                }
                return shared
            }
        }
        let owners = shared.owners
        let overlay = TransactionOverlay(base: shared.storage, tracker: tracker, id: id, sequence: sequence,
                                         catalogStore: Engine.catalogStore, owner: { owners[$0] })
        transactionStatistics.started.add(1, ordering: .relaxed)
        return EngineTransaction(parent: self, overlay: overlay, snapshot: shared)
    }

    /// The snapshot of commit `sequence`, the latest one (call under the tracker's gate).
    func latestSnapshot(_ sequence: UInt64) throws -> TransactionSnapshot {
        try transactionSnapshots.at(sequence) {
            let s = try Folio_storage { () throws(StorageError) in try storage.snapshot() }
            let collections: [Namespace: CollectionEntry]
            do { collections = try CatalogState.load(from: s) } catch {
                s.close()
                throw error
            }
            return TransactionSnapshot(sequence: sequence, time: committer.clock.latest, storage: s, collections: collections,
                                       counter: transactionSnapshots)
        }
    }

    /// Transactions open now, and the distinct snapshots they read.
    public var openTransactions: (transactions: Int, snapshots: Int) {
        (committer.conflicts.openTransactions, transactionSnapshots.live.load(ordering: .relaxed))
    }

    /// Whether an error ends the whole request it happened in instead of one statement: a
    /// transaction's write conflict, or a plain write that must wait for a transaction.
    static func endsRequest(_ error: any Error) -> Bool {
        guard let e = error as? StorageError else { return false }
        switch e {
        case .writeConflict, .catalogChanged, .keyHeld, .transactionTooLarge: return true
        default: return false
        }
    }
}
