import FolioBSON
import FolioQuery
import FolioStorage
import Synchronization

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
// Costs per retryable write command: one get and one put of this record in the command's
// storage transaction (no extra commit, no extra fsync). A newer txnNumber replaces the
// record; records of sessions idle past the session timeout (30 minutes) are removed by
// `expireRetryHistory`.

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
        guard let bytes = try txn.get(Engine.retryHistoryStore, write.session) else { changed = true; return }
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
        try txn.put(Engine.retryHistoryStore, session, record.bsonBytes())
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
        try txn.put(Engine.retryHistoryStore, write.session, record.bsonBytes())
        statistics.historyWrites.add(1, ordering: .relaxed)
        changed = false
    }
}

extension Engine {
    static let retryHistoryStore = "retry-history"

    /// The latest transaction number the session used in a committed transaction or a
    /// retryable write, and whether that number was a committed transaction (nil: none kept).
    public func lastTransaction(session: [UInt8]) throws(FolioError) -> (txnNumber: Int64, committed: Bool)? {
        let bytes = try Folio_storage { () throws(StorageError) -> [UInt8]? in
            let snapshot = try storage.snapshot()
            defer { snapshot.close() }
            return try snapshot.get(Engine.retryHistoryStore, session)
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

    /// Removes the retry history of sessions whose last retryable write is older than
    /// `idleMilliseconds` (MongoDB forgets a session's transactions when the session expires).
    /// Returns how many sessions it removed.
    @discardableResult
    public func expireRetryHistory(idleMilliseconds: Int64 = 30 * 60 * 1000,
                                   nowMilliseconds: Int64 = Int64(ObjectID.currentSeconds()) * 1000) throws(FolioError) -> Int {
        let cutoff = nowMilliseconds - idleMilliseconds
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
                    guard let bytes = try txn.get(Engine.retryHistoryStore, key) else { continue }
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
