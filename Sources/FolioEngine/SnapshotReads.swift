import FolioBSON
import FolioQuery
import FolioStorage
import Synchronization
import FolioLocks

// Reads at a point in time outside transactions (readConcern snapshot, atClusterTime).
//
// A snapshot read runs on an engine of its own over one commit's snapshot (the one shared
// with transactions, TransactionSnapshot), read-only. Without a time it reads the latest
// commit and reports that commit's cluster time; with `atClusterTime` it reads the snapshot
// whose state that time names.
//
// Invariants:
//  1. A snapshot read at time T sees exactly the commits with cluster times up to T: the
//     latest snapshot serves every T from its commit's time on (no later commit exists), an
//     older snapshot only its own commit's time (the next commit's time is not kept).
//  2. Every snapshot a read at the latest commit took stays in the history for
//     `windowSeconds` after it was taken (MongoDB's minSnapshotHistoryWindowInSeconds), so
//     the reads of a snapshot session that name its time find it; at most `limit` are kept,
//     the oldest given up first, and all are given up while the write-ahead log holds more
//     than `logLimitBytes` (they keep it from starting over: under steady writes it would
//     grow for the whole window). A time the history does not hold is SnapshotTooOld (239).
//  3. A snapshot is released when the history and the last read (and cursor) using it let go.
//
// Costs: each snapshot held is one SQLite read transaction, which keeps the write-ahead log
// from starting over while it lasts (see SQLiteStorageEngine, invariant 5).

/// One read at a point in time: run reads on `engine`; what it holds is released when the
/// last reference goes (a cursor keeps it for its getMores).
public final class SnapshotRead: Sendable {
    /// Reads the snapshot (writes fail).
    public let engine: Engine
    /// The cluster time the read is at (what replies report as `atClusterTime`).
    public let atClusterTime: Timestamp
    let snapshot: TransactionSnapshot

    init(parent: Engine, snapshot: TransactionSnapshot, at time: Timestamp) {
        self.snapshot = snapshot
        atClusterTime = time
        let owners = snapshot.owners
        let overlay = TransactionOverlay(base: snapshot.storage, tracker: parent.committer.conflicts, id: 0, sequence: snapshot.sequence,
                                         catalogStore: Engine.catalogStore, readOnly: true, owner: { owners[$0] })
        engine = Engine(transactionOf: parent, storage: TransactionStorage(overlay: overlay), collections: snapshot.collections)
    }

    deinit { snapshot.release() }
}

/// Snapshots kept for reads that name their time (invariant 2).
final class SnapshotHistory: Sendable {
    struct Entry {
        let snapshot: TransactionSnapshot
        let taken: ContinuousClock.Instant
    }

    static let limit = 64
    private let entries = Locked<[Timestamp: Entry]>([:])

    /// Keeps `snapshot` (one more retain) unless its time is kept already.
    func keep(_ snapshot: TransactionSnapshot) {
        let evicted = entries.withLock { map -> TransactionSnapshot? in
            guard map[snapshot.time] == nil, snapshot.retain() else { return nil }
            map[snapshot.time] = Entry(snapshot: snapshot, taken: .now)
            guard map.count > SnapshotHistory.limit, let oldest = map.min(by: { $0.value.taken < $1.value.taken }) else { return nil }
            map.removeValue(forKey: oldest.key)
            return oldest.value.snapshot
        }
        evicted?.release()
    }

    /// The kept snapshot of commit time `time`, retained for the caller.
    func snapshot(at time: Timestamp) -> TransactionSnapshot? {
        entries.withLock { map in
            guard let s = map[time]?.snapshot, s.retain() else { return nil }
            return s
        }
    }

    /// Gives up the snapshots taken more than `seconds` ago.
    func expire(olderThan seconds: Int) {
        let cutoff = ContinuousClock.now - .seconds(seconds)
        let old = entries.withLock { map -> [TransactionSnapshot] in
            let expired = map.filter { $0.value.taken <= cutoff }
            for k in expired.keys { map.removeValue(forKey: k) }
            return expired.values.map(\.snapshot)
        }
        for s in old { s.release() }
    }

    var count: Int { entries.withLock { $0.count } }
}

extension Engine {
    /// Starts a read at a point in time: the latest commit, or `atClusterTime` (invariant 1).
    /// Errors: InvalidOptions (72) for a time after the latest commit, SnapshotTooOld (239)
    /// for a time whose snapshot is no longer kept.
    public func snapshotRead(atClusterTime time: Timestamp? = nil) throws(FolioError) -> SnapshotRead {
        if let time { try checkNotFuture(time) }
        let latest = try folio { try committer.conflicts.atLatest { sequence in try latestSnapshot(sequence) } }
        guard let time, latest.time > time else {
            snapshotHistory.keep(latest)
            return SnapshotRead(parent: self, snapshot: latest, at: time ?? latest.time)
        }
        latest.release()
        guard let kept = snapshotHistory.snapshot(at: time) else { throw Engine.snapshotTooOld(time) }
        return SnapshotRead(parent: self, snapshot: kept, at: time)
    }

    /// Gives up kept snapshots older than `windowSeconds`, or all of them while the log is
    /// past `logLimitBytes` (invariant 2; the server's sweeper calls this every few seconds).
    public func expireSnapshotHistory(windowSeconds: Int, logLimitBytes: Int = 1 << 30) {
        let tooLarge = storage.statistics().logBytes > logLimitBytes
        snapshotHistory.expire(olderThan: tooLarge ? 0 : windowSeconds)
    }

    /// Snapshots kept for reads at a point in time.
    public var keptSnapshots: Int { snapshotHistory.count }

    /// MongoDB's answer to a read at or after a time later than the latest commit
    /// (`field`: atClusterTime or afterClusterTime). Every time Folio hands out is a commit's,
    /// so such a time was never handed out.
    public func checkNotFuture(_ time: Timestamp, field: String = "atClusterTime") throws(FolioError) {
        let current = clusterTime
        if time > current {
            throw FolioError(.invalidOptions, "readConcern \(field) value must not be greater than the current clusterTime. "
                             + "Requested clusterTime: \(time); current clusterTime: \(current)")
        }
    }

    static func snapshotTooOld(_ time: Timestamp) -> FolioError {
        FolioError(.snapshotTooOld, "Read timestamp \(time) is older than the oldest available timestamp.")
    }
}
