import Dispatch
import FolioQuery
import FolioStorage
import Synchronization
import FolioLocks
#if canImport(Glibc)
import Glibc
#endif

// Group commit: concurrent writers hand their work to whoever is committing. The first
// writer to find no committer becomes the leader: it takes every pending request, runs each
// inside one storage transaction (each atomically, so a failing statement undoes only
// itself), commits once (durably if any request asked for it), and wakes the followers.
// Then it hands the lead to the oldest request that queued meanwhile, so no thread leads more
// than one group and every reply waits for its own group only.
//
// Costs: one BEGIN/COMMIT (and at most one fsync) per group instead of per write; followers
// block on a semaphore, never on storage. Unbounded queueing is avoided by the natural
// back-pressure of callers waiting for their acknowledgement.

final class GroupCommitter: Sendable {
    final class Request: @unchecked Sendable {
        // @unchecked: `result` is written by the leader before `done` is signalled and read by
        // the owner after waiting on it; the semaphore orders the two.
        /// Runs the request; `isolated` asks for a savepoint (other requests share the transaction).
        let work: (any StorageWriteTransaction, _ isolated: Bool) throws -> Void
        let durable: Bool
        /// The multi-document transaction whose writes this request replays (0: none): its
        /// keys are held by it, so they are written without conflict checks.
        let owner: UInt64
        let done = DispatchSemaphore(value: 0)
        /// Set (before `done` is signalled) when the previous leader hands this waiting
        /// request the lead instead of finishing it.
        var leads = false
        var failure: (any Error)?
        /// The commit's sequence in the conflict tracker (set when it committed).
        var sequence: UInt64 = 0

        init(durable: Bool, owner: UInt64, work: @escaping (any StorageWriteTransaction, Bool) throws -> Void) {
            self.durable = durable
            self.owner = owner
            self.work = work
        }
    }

    struct State {
        var pending: [Request] = []
        var leaderActive = false
        /// Set by `closeWrites`: every later write fails.
        var closed = false
    }

    let storage: any StorageEngine
    let state = Locked(State())
    /// Record counts, moved by each commit (see RecordCounts).
    let recordCounts: RecordCounts
    /// Cluster times for commits (see ClusterClock).
    let clock: ClusterClock
    /// Set once by the engine right after it is made (it needs the engine itself).
    nonisolated(unsafe) var catalog: CatalogMirror?
    /// The engine's vector indexes, which follow every record write (nil in a transaction's engine).
    nonisolated(unsafe) var vectorIndexes: VectorIndexRegistry?
    /// Write conflicts with multi-document transactions (see ConflictTracker).
    let conflicts = ConflictTracker()
    /// Whether commits get cluster times (false for a transaction's statements, which are
    /// buffered, not committed).
    let timed: Bool
    /// In a transaction's engine (not timed): the change-log entries of its statements so far,
    /// in statement order, which its commit logs as one transaction.
    let transactionLog = Locked<[LoggedChange]>([])
    /// Bytes of change-log entries (see Engine.changeLogBytes) and whether they were summed yet.
    let changeLogBytes = Atomic<Int>(0)
    let changeLogBytesKnown = Atomic<Bool>(false)
    /// What the change log keeps (see ChangeLogRetention).
    let changeLogRetention = Locked(ChangeLogRetention.standard)
    /// Who waits for the next commit (tailable awaitData getMores).
    let notifier = CommitNotifier()
    /// The newest change-log entries, for change streams (see ChangeLogTail).
    let changeLogTail = ChangeLogTail()
    /// Retry history records committed in change log entries, not yet in the store.
    let retryCache = RetryHistoryCache()

    init(storage: any StorageEngine, recordCounts: RecordCounts = RecordCounts(), clock: ClusterClock = ClusterClock(reserved: 0),
         timed: Bool = true) {
        self.storage = storage
        self.recordCounts = recordCounts
        self.clock = clock
        self.timed = timed
    }

    /// Runs `body` in a write transaction shared with concurrent writers and returns after
    /// the commit. `body`'s writes are atomic; if it throws, only its own writes are undone.
    /// A request that met a key a multi-document transaction holds is undone and run again
    /// once the key is free (ConflictTracker rule 2), backing off from 0.1 ms to 10 ms.
    /// Writes waiting for the next group commit (serverStatus globalLock.currentQueue.writers).
    var queuedWrites: Int { state.withLock { $0.pending.count } }

    /// A durable commit that changes the catalog (DDL). What earlier commits left unsynced is
    /// flushed first, outside the writer, so the commit's own sync, which holds every other
    /// writer back, has little left: right after `$out` loaded 1,000,000 documents that sync
    /// alone held writers for 1.17 s (measured). Not for j: true writes: group commit shares
    /// their syncs, and a flush for each would multiply them.
    func catalogWrite<R>(_ body: @escaping (any StorageWriteTransaction) throws -> R) throws -> R {
        storage.flushUnsynced()
        return try write(durable: true, body)
    }

    func write<R>(durable: Bool, owner: UInt64 = 0, _ body: @escaping (any StorageWriteTransaction) throws -> R) throws -> R {
        var pause: UInt32 = 100
        while true {
            let (result, request) = try writeOnce(durable: durable, owner: owner, body)
            if let result { return result }
            guard case StorageError.keyHeld? = request.failure as? StorageError else { throw request.failure! }
            try OperationInterrupt.check()
            usleep(pause)
            pause = min(pause * 2, 10_000)
        }
    }

    /// Runs `body` once: its result and its request (whose `sequence` is the commit's), or no
    /// result when it met a key a transaction holds and was undone.
    func writeOnce<R>(durable: Bool, owner: UInt64, _ body: @escaping (any StorageWriteTransaction) throws -> R) throws -> (R?, Request) {
        var result: R?
        let request = Request(durable: durable, owner: owner) { txn, isolated in
            result = isolated ? try txn.atomically { try body(txn) } : try body(txn)
        }
        let lead = state.withLock { s -> Bool? in
            if s.closed { return nil }
            s.pending.append(request)
            if s.leaderActive { return false }
            s.leaderActive = true
            return true
        }
        guard let lead else { throw StorageError.closed }
        if lead {
            runAsLeader()
        } else {
            request.done.wait()
            if request.leads { runAsLeader() }
        }
        if let failure = request.failure {
            if case StorageError.keyHeld? = failure as? StorageError { return (nil, request) }
            throw failure
        }
        return (result!, request)
    }

    /// Refuses writes from now on and returns once those accepted before have committed
    /// (the engine's close: what it saves then is what storage holds).
    func closeWrites() {
        state.withLock { $0.closed = true }
        while state.withLock({ $0.leaderActive || !$0.pending.isEmpty }) { usleep(1_000) }
    }

    /// Commits every pending request as one group, then hands the lead to the oldest
    /// request that arrived meanwhile (or gives it up): a thread leads at most one group, so
    /// its own reply never waits behind later writers' groups.
    private func runAsLeader() {
        let batch = state.withLock { s -> [Request] in
            let b = s.pending
            s.pending.removeAll()
            return b
        }
        commitBatch(batch)
        let next = state.withLock { s -> Request? in
            guard let first = s.pending.first else {
                s.leaderActive = false
                return nil
            }
            first.leads = true
            return first
        }
        next?.done.signal()
    }

    private func commitBatch(_ batch: [Request]) {
        // The batch works on its own copy of the in-memory catalog, which readers get with
        // the storage commit (CatalogBox); a request that fails has its catalog changes
        // undone with its writes.
        if let box = catalog?.box { box.batch { commitStorage(batch) } } else { commitStorage(batch) }
        for r in batch { r.done.signal() }
    }

    private func commitStorage(_ batch: [Request]) {
        let box = catalog?.box
        var current: CountingTransaction?
        do {
            let txn = CountingTransaction(try storage.beginWrite(), conflicts: conflicts)
            current = txn
            txn.vectorIndexes = vectorIndexes
            if timed { txn.retryCache = retryCache }
            // A request alone in the transaction needs no savepoint: its failure rolls the
            // whole transaction back instead.
            let alone = batch.count == 1
            for r in batch {
                let mark = box?.mark()
                txn.owner = r.owner
                do { try r.work(txn, !alone) } catch {
                    r.failure = error
                    box?.restore(mark)
                }
            }
            if alone && batch[0].failure != nil {
                txn.rollback()
            } else if timed {
                // The commit's cluster time; a time past the stored reservation stores a new
                // one in this same transaction.
                let (time, reserve, first) = clock.tick(count: txn.changeLog.count)
                txn.owner = 0
                if let reserve { try txn.put(Engine.metaStore, ClusterClock.key, ClusterClock.encode(reserve)) }
                // Retry history records ride in the change log, unless this commit puts them
                // all into the store (RetryableWrites.swift).
                let retry = txn.newestRetryRecords
                let flush = txn.flushRetryHistory || retryCache.due || (!retry.isEmpty && txn.changeLog.isEmpty)
                var logged: [(key: [UInt8], value: [UInt8])] = []
                if !txn.changeLog.isEmpty {
                    logged = try ChangeLog.append(txn.changeLog, first: first, wall: ChangeLog.wallMilliseconds(),
                                                  retry: flush || retry.isEmpty ? nil : RetryHistoryCache.encode(retry), to: txn.base)
                }
                if flush {
                    // Every record committed so far and this commit's, current with the log's
                    // newest key after this commit's rows.
                    var records = retryCache.all
                    for r in retry { records[r.session] = r.record }
                    try RetryHistoryCache.store(records, currentWith: try logged.last?.key ?? ChangeLog.newestKey(txn.base), txn.base)
                }
                // The clock and the catalog note the commit under the tracker's gate, so a
                // snapshot taken there knows its cluster time (Engine.latestSnapshot).
                // The change log's in-memory tail too: a reader that sees this commit's time
                // finds its entries there (ChangeLogTail).
                try conflicts.publish(unnoted: txn.unnoted) {
                    try txn.commit(durable: batch.contains { $0.durable })
                    if flush {
                        retryCache.flushed()
                    } else if !retry.isEmpty {
                        retryCache.committed(Dictionary(retry.map { ($0.session, $0.record) }) { $1 })
                    }
                    clock.committed(time, reserved: reserve)
                    changeLogTail.append(logged, time: time)
                    catalog?.publish()
                }
                recordCounts.apply(txn.changes)
                if !logged.isEmpty { changeLogBytes.add(logged.reduce(0) { $0 + $1.value.count }, ordering: .relaxed) }
                for r in batch { r.sequence = txn.sequence }
                notifier.committed()
            } else {
                try txn.commit(durable: false)
                catalog?.publish()
                let logged = txn.changeLog.flatMap { item -> [LoggedChange] in
                    if case .write(let change) = item { return [change] }
                    return []
                }
                if !logged.isEmpty { transactionLog.withLock { $0.append(contentsOf: logged) } }
            }
        } catch {
            // A commit that failed before reaching storage: its in-memory changes go too.
            current?.abandonMemory()
            let failure: any Error = (error as? StorageError)?.folioError ?? error
            for r in batch where r.failure == nil { r.failure = failure }
        }
    }
}
