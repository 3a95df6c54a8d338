import Synchronization
import FolioLocks

// Write conflicts between multi-document transactions and everything else, for storage
// engines with one writer (SQLite, memory). An engine with its own MVCC would report
// conflicts itself; this is the part such an engine replaces.
//
// A transaction reads one snapshot (taken at commit sequence `s`) and buffers its writes
// (TransactionOverlay); they reach storage only at its commit. So that what it buffered is
// still right when it lands, every key it writes is *held* by it from the first write to its
// end, and may not have been written by anyone since `s`:
//  1. A transaction writing a key another transaction holds, or one written (committed or
//     being committed) after its snapshot, gets `writeConflict` at once (MongoDB's
//     WriteConflict, first writer wins).
//  2. A write outside transactions to a held key gets `keyHeld`: the group committer undoes
//     that request and runs it again once the holder has ended (MongoDB's plain writes wait
//     for a transaction in the same way, and never see WriteConflict).
//  3. While any transaction is open, writes outside transactions note the sequence of the
//     commit they belong to under each key they write (`written`), before that commit, so a
//     transaction that tries the key afterwards sees it (rule 1). A commit whose writes began
//     before a transaction opened, and were therefore not noted, dooms the transactions whose
//     snapshot it is newer than (`floor`): they conflict on their next write or at commit.
//  4. Snapshots are taken, and commits published, under one gate, so a transaction's snapshot
//     sequence is exactly the commits it sees.
//  5. A transaction that writes into a collection takes an *intent* on the collection's
//     catalog key: it conflicts if the collection's definition changed after its snapshot
//     (`catalogChanged`, MongoDB's SnapshotUnavailable), and a catalog change outside
//     transactions (an index build, a drop) waits for it like rule 2.
//
// Memory: `written` is emptied when the last transaction ends and trimmed to what open
// transactions can still conflict with; past `writtenLimit` keys the oldest snapshots are
// doomed instead (rule 3's floor), so it stays bounded.

/// Conflict bookkeeping shared by a storage engine's transactions and its writer.
public final class ConflictTracker: Sendable {
    /// A key of a store.
    public struct Key: Hashable, Sendable {
        public var store: String
        public var key: [UInt8]
        public init(_ store: String, _ key: [UInt8]) {
            self.store = store
            self.key = key
        }
    }

    struct Holder {
        /// The transaction writing the key (0: none).
        var owner: UInt64 = 0
        /// Transactions writing into the collection this catalog key describes.
        var intents: [UInt64] = []
    }

    struct State {
        var held: [Key: Holder] = [:]
        var written: [Key: UInt64] = [:]
        /// Open transactions: id → snapshot sequence.
        var open: [UInt64: UInt64] = [:]
        var nextID: UInt64 = 1
        /// Transactions whose snapshot is older than this conflict on their next write.
        var floor: UInt64 = 0
        /// `written.count` at which the next trim runs.
        var trimAt = ConflictTracker.trimStep
    }

    let state = Locked(State())
    /// Open transactions (read without the lock by writers, rule 3).
    let openCount = Atomic<Int>(0)
    /// Keys held (read without the lock by writers, rule 2).
    let heldCount = Atomic<Int>(0)
    /// Commits published.
    let published = Atomic<UInt64>(0)
    /// Rule 4's gate.
    let gate = Locked(())

    static let trimStep = 65_536
    /// Keys noted at most (rule 3): beyond, open transactions are doomed instead.
    public static let writtenLimit = 1_000_000

    public init() {}

    /// Whether writers outside transactions need to look here at all.
    public var isActive: Bool { openCount.load(ordering: .acquiring) > 0 || heldCount.load(ordering: .acquiring) > 0 }

    /// The number of open transactions.
    public var openTransactions: Int { openCount.load(ordering: .acquiring) }

    // MARK: Transactions

    /// Opens a transaction: `snapshot` runs under the gate with the sequence of the commits it
    /// will see. Returns the transaction's id and that sequence.
    public func begin<S>(_ snapshot: (UInt64) throws -> S) rethrows -> (id: UInt64, sequence: UInt64, snapshot: S) {
        try gate.withLock { _ in
            let sequence = published.load(ordering: .acquiring)
            let id = state.withLock { s -> UInt64 in
                let id = s.nextID
                s.nextID += 1
                s.open[id] = sequence
                return id
            }
            openCount.add(1, ordering: .sequentiallyConsistent)
            do {
                return (id, sequence, try snapshot(sequence))
            } catch {
                end(id, committedAt: nil, keys: [])
                throw error
            }
        }
    }

    /// Runs `body` under the gate with the sequence of the latest published commit, without
    /// opening a transaction (reads at a point in time take their snapshot this way).
    public func atLatest<S>(_ body: (UInt64) throws -> S) rethrows -> S {
        try gate.withLock { _ in try body(published.load(ordering: .acquiring)) }
    }

    /// Takes `key` for transaction `id` (rule 1).
    public func hold(_ id: UInt64, sequence: UInt64, _ key: Key) throws(StorageError) {
        try state.withLock { (s) throws(StorageError) in
            if sequence < s.floor { throw .writeConflict("the transaction's snapshot is too old to write") }
            var h = s.held[key] ?? Holder()
            if h.owner == id { return }
            if h.owner != 0 || h.intents.contains(where: { $0 != id }) {
                throw .writeConflict("another transaction is writing this document")
            }
            if let w = s.written[key], w > sequence {
                throw .writeConflict("this document was written after the transaction's snapshot")
            }
            let new = s.held[key] == nil
            h.owner = id
            s.held[key] = h
            if new { heldCount.add(1, ordering: .sequentiallyConsistent) }
        }
    }

    /// Takes an intent on a collection's catalog key for transaction `id` (rule 5).
    public func intend(_ id: UInt64, sequence: UInt64, _ key: Key) throws(StorageError) {
        try state.withLock { (s) throws(StorageError) in
            if sequence < s.floor { throw .writeConflict("the transaction's snapshot is too old to write") }
            var h = s.held[key] ?? Holder()
            if h.owner == id || h.intents.contains(id) { return }
            if h.owner != 0 { throw .writeConflict("another transaction is changing this collection") }
            if let w = s.written[key], w > sequence { throw .catalogChanged("the collection changed after the transaction's snapshot") }
            let new = s.held[key] == nil
            h.intents.append(id)
            s.held[key] = h
            if new { heldCount.add(1, ordering: .sequentiallyConsistent) }
        }
    }

    /// Checks, at commit, that nothing doomed the transaction since its last write (rule 3).
    public func validate(_ id: UInt64, sequence: UInt64) throws(StorageError) {
        try state.withLock { (s) throws(StorageError) in
            if sequence < s.floor { throw .writeConflict("a concurrent write made the transaction's snapshot too old to commit") }
        }
    }

    /// Ends transaction `id`, releasing `keys` (the keys and intents it took); a commit notes
    /// them as written at `committedAt`.
    public func end(_ id: UInt64, committedAt: UInt64?, keys: [Key]) {
        state.withLock { s in
            var released = 0
            for key in keys {
                guard var h = s.held[key] else { continue }
                if h.owner == id {
                    h.owner = 0
                    if let at = committedAt, !s.open.isEmpty { s.written[key] = max(s.written[key] ?? 0, at) }
                }
                h.intents.removeAll { $0 == id }
                if h.owner == 0 && h.intents.isEmpty {
                    s.held[key] = nil
                    released += 1
                } else {
                    s.held[key] = h
                }
            }
            if released > 0 { heldCount.subtract(released, ordering: .sequentiallyConsistent) }
            if s.open.removeValue(forKey: id) != nil { openCount.subtract(1, ordering: .sequentiallyConsistent) }
            if s.open.isEmpty {
                s.written.removeAll()
                s.trimAt = ConflictTracker.trimStep
            } else if let at = committedAt, s.written.count >= s.trimAt {
                trim(&s, newest: at)
            }
        }
    }

    // MARK: The writer outside transactions

    /// A write outside transactions to `key` by the commit with sequence `sequence` (rules 2, 3).
    public func write(_ key: Key, sequence: UInt64) throws(StorageError) {
        try state.withLock { (s) throws(StorageError) in
            if let h = s.held[key], h.owner != 0 || !h.intents.isEmpty { throw .keyHeld }
            if !s.open.isEmpty {
                s.written[key] = sequence
                if s.written.count >= s.trimAt { trim(&s, newest: sequence) }
            }
        }
    }

    /// The sequence the writer's next commit will have.
    public var nextSequence: UInt64 { published.load(ordering: .acquiring) + 1 }

    /// Publishes a commit: `commit` runs under the gate; `unnoted` says whether the commit
    /// wrote keys without noting them (rule 3).
    public func publish<R>(unnoted: Bool, _ commit: () throws -> R) rethrows -> R {
        try gate.withLock { _ in
            let sequence = published.load(ordering: .acquiring) + 1
            if unnoted && openCount.load(ordering: .acquiring) > 0 {
                state.withLock { s in s.floor = max(s.floor, sequence) }
            }
            let result = try commit()
            published.store(sequence, ordering: .releasing)
            return result
        }
    }

    /// Drops noted keys no open transaction can conflict with; when too many remain, dooms the
    /// open transactions instead (rule 3).
    private func trim(_ s: inout State, newest: UInt64) {
        let oldest = s.open.values.min() ?? newest
        s.written = s.written.filter { $0.value > oldest }
        if s.written.count >= ConflictTracker.writtenLimit {
            s.floor = max(s.floor, newest + 1)
            s.written.removeAll()
        }
        s.trimAt = max(ConflictTracker.trimStep, s.written.count * 2)
    }
}
