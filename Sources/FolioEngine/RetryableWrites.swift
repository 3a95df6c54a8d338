import FolioBSON
import FolioQuery
import FolioStorage
import Synchronization
import FolioLocks

// Retryable writes: a write that carries a session and a transaction number is applied at
// most once. What each statement did is kept in the same storage commit as the statement
// (MongoDB keeps it in config.transactions and the oplog), so a retry after a lost reply, a
// closed connection or a restart answers with the first result instead of applying again.
//
// One record per session, under the session's key in the `retry-history` store:
//   { t: txnNumber (long), w: last write (date), e: [first, last, first, last, ...] executed
//     statement ids as sorted ranges, r: { "<stmtId>": result } for statements whose reply
//     needs more than "it ran" (updates, deletes, findAndModify) }
// or, after a committed multi-document transaction, { t: txnNumber, w: commit (date), c: true }.
// A newer txnNumber replaces the record; records of sessions idle past the session timeout
// (30 minutes) are removed by `expireRetryHistory`.
//
// Where a record goes: a put into the store for every write cost a page of the write-ahead
// log per commit (one of ~6 for a 1 KB insert, measured). So a commit that appends to the
// change log carries its new records in its last entry instead (`$retry`, which
// `local.oplog.rs` does not show; MongoDB's oplog entries carry lsid/txnNumber/stmtId for
// the same reason), and keeps them in memory (`RetryHistoryCache`) until a later commit
// puts them all into the store: the first commit once they are a second old or 1,000
// sessions, one with no change-log entry to carry them, the change log's trim, and a clean
// close.
// That commit also stores the change log's newest key (`RetryHistoryCache.flushedKey`); the
// next open reads the `$retry` of every row after it back into the store, so after kill -9
// the history is what the last commit left.

/// The identity of a retryable write: the session, its transaction number and the statement
/// ids of the command's statements.
public struct RetryableWrite: Sendable {
    /// The statement ids of a command: MongoDB's `stmtIds` array, or consecutive ids from
    /// `stmtId` (0 when absent).
    public enum StatementIDs: Sendable, Equatable {
        case from(Int32)
        case list([Int32])
    }

    /// The session's key (the lsid's `id` bytes, and its `uid` once users exist).
    public var session: [UInt8]
    /// What follows the session's id when MongoDB prints a session (` - <uid> - `).
    public var sessionSuffix: String
    public var txnNumber: Int64
    public var statementIDs: StatementIDs
    /// Runs before a statement (or an insert command's batch) that is about to be applied for
    /// the first time is committed; throwing fails it and undoes it. The server's
    /// `onPrimaryTransactionalWrite` fail point lives here.
    public var beforeCommit: (@Sendable () throws(FolioError) -> Void)?

    public init(session: [UInt8], sessionSuffix: String = "", txnNumber: Int64, statementIDs: StatementIDs = .from(0),
                beforeCommit: (@Sendable () throws(FolioError) -> Void)? = nil) {
        self.session = session
        self.sessionSuffix = sessionSuffix
        self.txnNumber = txnNumber
        self.statementIDs = statementIDs
        self.beforeCommit = beforeCommit
    }

    /// The session as MongoDB prints it in messages (built only for an error).
    var sessionDescription: String { Array(session.prefix(16)).uuidString + sessionSuffix }

    /// The statement id of the statement at `index` in the command.
    public func statementID(at index: Int) -> Int32 {
        switch statementIDs {
        case .from(let first): return first &+ Int32(truncatingIfNeeded: index)
        case .list(let ids): return index < ids.count ? ids[index] : Int32(truncatingIfNeeded: index)
        }
    }

    /// This write for one statement of a larger command (bulkWrite runs its operations one by one).
    public func statement(_ index: Int) -> RetryableWrite {
        var one = self
        one.statementIDs = .list([statementID(at: index)])
        return one
    }
}

/// serverStatus `transactions`: retries answered from the history, and history writes.
public final class RetryStatistics: Sendable {
    public let retriedCommands = Atomic<Int64>(0)
    public let retriedStatements = Atomic<Int64>(0)
    public let historyWrites = Atomic<Int64>(0)
}

/// Retry history records committed but not yet in the store (see the top of this file),
/// shared by the group committer and readers.
final class RetryHistoryCache: Sendable {
    private struct State {
        var records: [[UInt8]: [UInt8]] = [:]
        var since: ContinuousClock.Instant?
    }
    private let state = Locked(State())
    /// How long and for how many sessions records stay only in the change log.
    static let maxAge: Duration = .seconds(1)
    static let maxSessions = 1_000

    /// The meta store's key for the change log key the store's records are current with.
    static let flushedKey: [UInt8] = Array("retryHistoryFlushed".utf8)

    func record(_ session: [UInt8]) -> [UInt8]? { state.withLock { $0.records[session] } }

    var isEmpty: Bool { state.withLock { $0.records.isEmpty } }

    /// Every record, to be put into the store.
    var all: [[UInt8]: [UInt8]] { state.withLock { $0.records } }

    /// Whether the next commit should put the records into the store.
    var due: Bool {
        state.withLock { s in
            guard let since = s.since else { return false }
            return s.records.count >= RetryHistoryCache.maxSessions || since.duration(to: .now) >= RetryHistoryCache.maxAge
        }
    }

    /// After a commit that carried `records` in its change log entry.
    func committed(_ records: [[UInt8]: [UInt8]]) {
        guard !records.isEmpty else { return }
        state.withLock { s in
            s.records.merge(records) { $1 }
            if s.since == nil { s.since = .now }
        }
    }

    /// After a commit that put every record into the store.
    func flushed() { state.withLock { $0 = State() } }

    /// The `$retry` field of a change log entry: `[{k: session, r: record}, ...]`, as the
    /// bytes of a BSON array.
    static func encode(_ records: [(session: [UInt8], record: [UInt8])]) -> [UInt8] {
        var out: [UInt8] = [0, 0, 0, 0]
        for (i, r) in records.enumerated() {
            var item: [UInt8] = [0, 0, 0, 0]
            BSON.binary(Binary(subtype: Binary.Subtype.generic, data: r.session)).appendElement(key: "k", to: &item)
            ChangeLog.appendRaw(key: "r", r.record, to: &item)
            ChangeLog.finish(&item)
            ChangeLog.appendRaw(key: String(i), item, to: &out)
        }
        ChangeLog.finish(&out)
        return out
    }

    /// Puts `records` into the store, with `newest` (the change log's newest key; nil for an
    /// empty log) as the key the store is current with.
    static func store(_ records: [[UInt8]: [UInt8]], currentWith newest: [UInt8]?, _ txn: any StorageWriteTransaction) throws(StorageError) {
        for (session, record) in records { try txn.put(Engine.retryHistoryStore, session, record) }
        try txn.put(Engine.metaStore, flushedKey, newest ?? [])
    }

    /// The records of change log rows after the one the store is current with, oldest first
    /// (later ones replace earlier ones), and the newest row's key.
    static func unflushed(_ txn: any StorageWriteTransaction) throws -> (records: [[UInt8]: [UInt8]], newest: [UInt8]?) {
        let flushed = try txn.get(Engine.metaStore, flushedKey)
        var records: [[UInt8]: [UInt8]] = [:]
        var newest: [UInt8]?
        let range = KeyRange(lower: flushed.flatMap { $0.isEmpty ? nil : $0 }, lowerInclusive: false)
        var failure: FolioError?
        _ = try txn.visit(ChangeLog.store, range, limit: nil) { key, value in
            newest = Array(key)
            do throws(FolioError) {
                try ChangeLog.forEachEntry(Array(value)) { entry in
                    guard case .array(let items)? = entry[ChangeLog.retryField] else { return }
                    for case .document(let item) in items {
                        guard case .binary(let k)? = item["k"], case .document(let r)? = item["r"] else { continue }
                        records[k.data] = r.bsonBytes()
                    }
                }
            } catch {
                failure = error
                return false
            }
            return true
        }
        if let failure { throw failure }
        return (records, newest)
    }
}

/// One session's retry history inside a write transaction: loaded at the start of a command,
/// consulted and extended per statement, saved before the command's work is committed.
final class RetryHistory {
    let write: RetryableWrite
    private var executed: [ClosedRange<Int32>]
    private var results: [Int32: Document]
    private var changed = false
    private(set) var retriedStatements = 0

    /// Loads the session's history for `write`: a newer transaction number starts an empty
    /// one; an older one than the history's is refused (225 TransactionTooOld).
    init(_ write: RetryableWrite, _ txn: any StorageWriteTransaction) throws {
        self.write = write
        executed = []
        results = [:]
        guard let bytes = try RetryHistory.record(write.session, txn) else { changed = true; return }
        // Most writes start a new transaction number: only `t` is read then.
        let raw: RawDocument
        do { raw = try RawDocument(validating: bytes) } catch {
            throw FolioError(.internalError, "data corruption: a retry history record does not decode: \(error)")
        }
        let stored = raw["t"]?.exactInt64 ?? -1
        if stored > write.txnNumber {
            throw FolioError(.transactionTooOld,
                             "Retryable write with txnNumber \(write.txnNumber) is prohibited on session \(write.sessionDescription) "
                             + "because a newer retryable write with txnNumber \(stored) has already started on this session.")
        }
        guard stored == write.txnNumber else { changed = true; return }
        let record = raw.document()
        let bounds = record["e"]?.arrayValue?.compactMap { $0.exactInt64.flatMap { Int32(exactly: $0) } } ?? []
        for i in stride(from: 0, to: bounds.count - 1, by: 2) where bounds[i] <= bounds[i + 1] {
            executed.append(bounds[i]...bounds[i + 1])
        }
        if case .document(let r)? = record["r"] {
            for (key, value) in r {
                if let id = Int32(key), case .document(let d) = value { results[id] = d }
            }
        }
    }

    /// The session's record as of this transaction's writes so far: one it wrote, else one
    /// committed but still in memory, else the store's.
    static func record(_ session: [UInt8], _ txn: any StorageWriteTransaction) throws(StorageError) -> [UInt8]? {
        if let counting = txn as? CountingTransaction, let cache = counting.retryCache {
            if let pending = counting.retryRecord(session) { return pending }
            if let cached = cache.record(session) { return cached }
        }
        return try txn.get(Engine.retryHistoryStore, session)
    }

    /// Stores a record with the transaction's commit (in memory and the change log when the
    /// transaction is the group committer's, else in the store).
    static func store(_ session: [UInt8], _ record: [UInt8], _ txn: any StorageWriteTransaction) throws(StorageError) {
        if let counting = txn as? CountingTransaction, counting.retryCache != nil {
            counting.addRetryRecord(session, record)
        } else {
            try txn.put(Engine.retryHistoryStore, session, record)
        }
    }

    /// Whether the statement at `index` already ran under this transaction number.
    func wasExecuted(_ index: Int) -> Bool {
        let id = write.statementID(at: index)
        let at = position(id)
        let hit = at < executed.count && executed[at].contains(id)
        if hit { retriedStatements += 1 }
        return hit
    }

    /// What the statement at `index` answered the first time (nil when it did not run or
    /// keeps no result).
    func result(_ index: Int) -> Document? {
        wasExecuted(index) ? results[write.statementID(at: index)] ?? Document() : nil
    }

    /// Runs the fail point hook for work about to be committed.
    func beforeCommit() throws(FolioError) { try write.beforeCommit?() }

    /// Records that the statement at `index` ran, with what it answered.
    func record(_ index: Int, result: Document? = nil) {
        let id = write.statementID(at: index)
        changed = true
        if let result { results[id] = result }
        // Statements arrive in increasing order almost always: start or extend the last range.
        guard let last = executed.last else {
            executed = [id...id]
            return
        }
        if last.upperBound < Int32.max, last.upperBound + 1 == id {
            executed[executed.count - 1] = last.lowerBound...id
            return
        }
        if last.upperBound < id {
            executed.append(id...id)
            return
        }
        // Out of order (explicit stmtIds): insert in place, merging with the neighbours.
        let at = position(id)
        if at < executed.count && executed[at].contains(id) { return }
        executed.insert(id...id, at: at)
        if at + 1 < executed.count, executed[at + 1].lowerBound == id + 1 {
            executed[at] = id...executed[at + 1].upperBound
            executed.remove(at: at + 1)
        }
        if at > 0, executed[at - 1].upperBound == id - 1 {
            executed[at - 1] = executed[at - 1].lowerBound...executed[at].upperBound
            executed.remove(at: at)
        }
    }

    /// The index of the first range that does not end before `id`.
    private func position(_ id: Int32) -> Int {
        var lo = 0, hi = executed.count
        while lo < hi {
            let mid = (lo + hi) / 2
            if executed[mid].upperBound < id { lo = mid + 1 } else { hi = mid }
        }
        return lo
    }

    /// Records, in the commit of a multi-document transaction, that the session committed
    /// transaction `txnNumber`.
    static func saveCommitted(_ txnNumber: Int64, session: [UInt8], _ txn: any StorageWriteTransaction,
                              nowMilliseconds: Int64 = Int64(ObjectID.currentSeconds()) * 1000) throws {
        let record: Document = ["t": .int64(txnNumber), "w": .datetime(nowMilliseconds), "c": true]
        try store(session, record.bsonBytes(), txn)
    }

    /// Stores the history in the command's transaction (when anything changed).
    func save(_ txn: any StorageWriteTransaction, nowMilliseconds: Int64 = Int64(ObjectID.currentSeconds()) * 1000,
              statistics: RetryStatistics) throws {
        guard changed else { return }
        var r = Document()
        for (id, result) in results.sorted(by: { $0.key < $1.key }) { r.append(String(id), .document(result)) }
        let record: Document = ["t": .int64(write.txnNumber), "w": .datetime(nowMilliseconds),
                                "e": .array(executed.flatMap { [BSON.int32($0.lowerBound), .int32($0.upperBound)] }),
                                "r": .document(r)]
        try RetryHistory.store(write.session, record.bsonBytes(), txn)
        statistics.historyWrites.add(1, ordering: .relaxed)
        changed = false
    }
}

extension Engine {
    static let retryHistoryStore = "retry-history"

    /// The latest transaction number the session used in a committed transaction or a
    /// retryable write, and whether that number was a committed transaction (nil: none kept).
    public func lastTransaction(session: [UInt8]) throws(FolioError) -> (txnNumber: Int64, committed: Bool)? {
        // The cache before the snapshot: a record the cache gives up is in the store by then.
        var bytes = committer.retryCache.record(session)
        if bytes == nil {
            bytes = try Folio_storage { () throws(StorageError) -> [UInt8]? in
                let snapshot = try storage.snapshot()
                defer { snapshot.close() }
                return try snapshot.get(Engine.retryHistoryStore, session)
            }
        }
        guard let bytes, let record = try? RawDocument(validating: bytes), let t = record["t"]?.exactInt64 else { return nil }
        return (t, record["c"] == .bool(true))
    }

    /// Loads the retry history of `write` (nil for writes that are not retryable).
    func retryHistory(_ write: RetryableWrite?, _ txn: any StorageWriteTransaction) throws -> RetryHistory? {
        try write.map { try RetryHistory($0, txn) }
    }

    /// Saves `history` and counts what it answered from earlier attempts.
    func finish(_ history: RetryHistory?, _ txn: any StorageWriteTransaction) throws {
        guard let history else { return }
        try history.save(txn, statistics: retryStatistics)
        if history.retriedStatements > 0 {
            retryStatistics.retriedCommands.add(1, ordering: .relaxed)
            retryStatistics.retriedStatements.add(Int64(history.retriedStatements), ordering: .relaxed)
        }
    }

    /// Puts the retry history records only the change log holds into their store, in a commit
    /// of its own. (Commits do it themselves once records are a second old, so the change log
    /// rows the next open reads back are at most a second's writes and one more.)
    func storeRetryHistory() throws(FolioError) {
        guard !committer.retryCache.isEmpty else { return }
        try folio { try committer.write(durable: false) { txn in (txn as? CountingTransaction)?.flushRetryHistory = true } }
    }

    /// Removes the retry history of sessions whose last retryable write is older than
    /// `idleMilliseconds` (MongoDB forgets a session's transactions when the session expires).
    /// Returns how many sessions it removed.
    @discardableResult
    public func expireRetryHistory(idleMilliseconds: Int64 = 30 * 60 * 1000,
                                   nowMilliseconds: Int64 = Int64(ObjectID.currentSeconds()) * 1000) throws(FolioError) -> Int {
        let cutoff = nowMilliseconds - idleMilliseconds
        // The store first gets the records only the change log holds.
        try storeRetryHistory()
        var stale: [[UInt8]] = []
        try Folio_storage { () throws(StorageError) in
            let snapshot = try storage.snapshot()
            defer { snapshot.close() }
            try snapshot.visit(Engine.retryHistoryStore, .all, limit: nil) { key, value in
                // A record that does not decode is stale too: nothing can use it.
                let record = try? RawDocument(validating: Array(value))
                if let w = record.map({ $0["w"] }), case .datetime(let ms)? = w, ms >= cutoff { return true }
                stale.append(Array(key))
                return true
            }
        }
        guard !stale.isEmpty else { return 0 }
        return try folio {
            try committer.write(durable: false) { txn in
                var removed = 0
                for key in stale {
                    // Re-checked in the writer: the session may have written since the scan.
                    guard let bytes = try RetryHistory.record(key, txn) else { continue }
                    if let record = try? RawDocument(validating: bytes), case .datetime(let w)? = record["w"], w >= cutoff { continue }
                    try txn.delete(Engine.retryHistoryStore, key)
                    removed += 1
                }
                return removed
            }
        }
    }
}

extension UpdateResult {
    /// One update statement's outcome as the retry history keeps it.
    static func historyEntry(matched: Int, modified: Int, upserted: BSON?) -> Document {
        var d: Document = ["n": .int64(Int64(matched)), "m": .int64(Int64(modified))]
        if let upserted { d.append("u", upserted) }
        return d
    }

    /// Adds what statement `index` answered the first time (its `historyEntry`).
    mutating func addRetried(_ entry: Document, at index: Int) {
        matched += Int(entry["n"]?.exactInt64 ?? 0)
        modified += Int(entry["m"]?.exactInt64 ?? 0)
        if let id = entry["u"] { upserted.append((index, id)) }
    }
}

extension DeleteResult {
    /// One delete statement's outcome as the retry history keeps it.
    static func historyEntry(deleted: Int) -> Document { ["n": .int64(Int64(deleted))] }

    /// Adds what a statement answered the first time (its `historyEntry`).
    mutating func addRetried(_ entry: Document) { deleted += Int(entry["n"]?.exactInt64 ?? 0) }
}

extension FindAndModifyResult {
    /// The result as the retry history keeps it.
    var historyEntry: Document {
        var d: Document = ["n": .int64(Int64(matched)), "x": .bool(updatedExisting), "v": value.map(BSON.document) ?? .null]
        if let upsertedID { d.append("u", upsertedID) }
        return d
    }

    init(history d: Document) {
        self.init(matched: Int(d["n"]?.exactInt64 ?? 0), updatedExisting: d["x"]?.isTruthy ?? false,
                  upsertedID: d["u"], value: d["v"]?.documentValue)
    }
}
