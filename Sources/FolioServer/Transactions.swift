import FolioBSON
import FolioEngine
import FolioQuery
import Synchronization
import FolioLocks

// Multi-document transactions as MongoDB's sessions run them: a state machine per `lsid`
// (MongoDB's TransactionParticipant), over the engine's EngineTransaction.
//
// Rules, as MongoDB 8.0 applies them:
//  1. A command with `autocommit: false` belongs to transaction `txnNumber` of its session;
//     `startTransaction: true` begins it (aborting an older one still open), a lower number
//     than the session's latest is TransactionTooOld (225), a number that was never started
//     is NoSuchTransaction (251). A number belongs to retryable writes or to one transaction:
//     starting a transaction at a retryable write's number is ConflictingOperationInProgress
//     (117), a retryable write at a transaction's number IncompleteTransactionHistory (217).
//  2. Only the commands of `allowed` run in a transaction; `count` and every other command
//     answer OperationNotSupportedInTransaction (263). `writeConcern` belongs to
//     commitTransaction/abortTransaction only, `readConcern` to the first command (72).
//  3. A command that fails, or a write that reports a write error, aborts the transaction;
//     later commands get NoSuchTransaction. Committing again is idempotent; anything else
//     after a commit is TransactionCommitted (256).
//  4. Commands of one session run one at a time (the session's lock), so a transaction's
//     overlay sees one operation at a time; the lifetime reaper aborts only idle ones.
//  5. Transactions open longer than transactionLifetimeLimitSeconds are aborted, and at most
//     `limit` are open at once (the oldest idle one is aborted to make room), so abandoned
//     transactions cannot hold snapshots and keys for ever.

/// The transactions of every session.
package final class TransactionRegistry: Sendable {
    enum Phase {
        case none
        /// The session's number belongs to retryable writes (no transaction may use it).
        case retryableWrite
        case inProgress(EngineTransaction)
        case committed
        case aborted
    }

    final class Session: @unchecked Sendable {
        // @unchecked: the fields are read and written with `lock` held.
        let lock = Mutex(())
        /// The highest txnNumber seen (transactions and retryable writes).
        var txnNumber: Int64 = -1
        var phase: Phase = .none
        var startedAt = ContinuousClock.now
        /// Whether a command runs on the session now.
        let busy = Atomic<Bool>(false)
    }

    let sessions = Locked<[[UInt8]: Session]>([:])
    /// Open transactions at most (rule 5).
    static let limit = 1_000

    /// The commands a transaction may run (rule 2; the command table says which).
    static let allowed = CommandTable.names(with: .inTransaction)

    /// Transactions running a command now.
    var active: Int { sessions.withLock { map in map.values.filter { $0.busy.load(ordering: .relaxed) }.count } }

    /// The session's state; a session not seen since the server started begins from the
    /// last transaction number storage kept for it (a commit retried after a restart is
    /// answered as done, an older number is too old).
    func session(_ key: [UInt8], engine: Engine) -> Session {
        if let s = sessions.withLock({ $0[key] }) { return s }
        let s = Session()
        if let last = try? engine.lastTransaction(session: key) {
            s.txnNumber = last.txnNumber
            s.phase = last.committed ? .committed : .retryableWrite
        }
        return sessions.withLock { map in
            if let existing = map[key] { return existing }
            map[key] = s
            return s
        }
    }

    /// Runs `body` for a command, inside its transaction when it has one (rules 1–4).
    func run(_ request: CommandRequest, command: String, _ body: (CommandRequest) throws(FolioError) -> Document) throws(FolioError) -> Document {
        let info = request.sessionInfo
        let isEnd = TransactionRegistry.ends(command)
        guard let key = info.session else {
            if isEnd { throw FolioError(.invalidOptions, "\(command) must be run within a transaction") }
            return try body(request)
        }
        guard info.autocommit != nil else {
            if isEnd { throw FolioError(.invalidOptions, "\(command) must be run within a transaction") }
            guard let n = info.txnNumber else { return try body(request) }
            // A retryable write: it ends any older transaction of the session, and may not
            // reuse a transaction's number, as in MongoDB.
            let s = session(key, engine: request.context.engine)
            return try s.lock.withLock { (_: inout Void) throws(FolioError) -> Document in
                try advance(s, to: n, session: key)
                switch s.phase {
                case .none: s.phase = .retryableWrite
                case .retryableWrite: break
                case .inProgress, .committed, .aborted:
                    throw FolioError(.incompleteTransactionHistory, "Cannot retry a retryable write that has been converted into a transaction")
                }
                return try body(request)
            }
        }
        let s = session(key, engine: request.context.engine)
        return try s.lock.withLock { (_: inout Void) throws(FolioError) -> Document in
            s.busy.store(true, ordering: .releasing)
            defer { s.busy.store(false, ordering: .releasing) }
            return try runInTransaction(request, command: command, session: s, key: key, body)
        }
    }

    /// Moves the session to txnNumber `n` (aborting an open transaction of a lower number).
    private func advance(_ s: Session, to n: Int64, session key: [UInt8]) throws(FolioError) {
        if n < s.txnNumber {
            throw FolioError(.transactionTooOld, "Cannot start transaction \(n) on session \(TransactionRegistry.describe(key)) "
                             + "because a newer transaction \(s.txnNumber) has already started.")
        }
        if n > s.txnNumber {
            if case .inProgress(let txn) = s.phase { txn.abort() }
            s.phase = .none
            s.txnNumber = n
        }
    }

    private func runInTransaction(_ request: CommandRequest, command: String, session s: Session, key: [UInt8],
                                  _ body: (CommandRequest) throws(FolioError) -> Document) throws(FolioError) -> Document {
        let info = request.sessionInfo
        guard let n = info.txnNumber else {
            throw FolioError(.invalidOptions, "'autocommit' field requires a transaction number to also be specified")
        }
        guard TransactionRegistry.allowed.contains(command) else {
            throw FolioError(.operationNotSupportedInTransaction, "Cannot run '\(command)' in a multi-document transaction.")
        }
        if TransactionRegistry.ends(command) && request.database != "admin" {
            throw FolioError(.unauthorized, "\(command) may only be run against the admin database.")
        }
        if info.startTransaction == true {
            if n == s.txnNumber, case .retryableWrite = s.phase {
                throw FolioError(.conflictingOperationInProgress,
                                 "Only servers in a sharded cluster can start a new transaction at the active transaction number")
            }
            if n == s.txnNumber, !(s.phase.isNone) {
                throw FolioError(.conflictingOperationInProgress,
                                 "Cannot start a transaction at given transaction number \(n) a transaction with the same number is in state \(s.phase.name)")
            }
            if TransactionRegistry.ends(command) || command == "getMore" {
                throw FolioError(.operationNotSupportedInTransaction, "Cannot start a transaction with \(command)")
            }
            try advance(s, to: n, session: key)
            try makeRoom(for: request.context)
            let readConcern = try ReadConcern(parsing: request.body["readConcern"])
            s.phase = .inProgress(try request.context.engine.beginTransaction(atClusterTime: readConcern.atClusterTime))
            s.startedAt = .now
        } else {
            if n < s.txnNumber { try advance(s, to: n, session: key) }
            if n > s.txnNumber || s.phase.isNone || s.phase.isRetryableWrite {
                throw FolioError(.noSuchTransaction, "Given transaction number \(n) does not match any in-progress transactions. "
                                 + "The active transaction number is \(s.txnNumber)", labels: ["TransientTransactionError"])
            }
        }
        switch s.phase {
        case .none, .retryableWrite, .aborted:
            if command == "abortTransaction", case .aborted = s.phase {
                throw FolioError(.noSuchTransaction, "Transaction \(n) has been aborted.", labels: ["TransientTransactionError"])
            }
            throw FolioError(.noSuchTransaction, "Transaction with { txnNumber: \(n) } has been aborted.", labels: ["TransientTransactionError"])
        case .committed:
            if command == "commitTransaction" { return try body(request) }
            throw FolioError(.transactionCommitted, "Transaction with { txnNumber: \(n) } has been committed.")
        case .inProgress(let txn):
            var inside = request
            inside.transaction = ActiveTransaction(transaction: txn)
            let reply: Document
            do throws(FolioError) {
                if !TransactionRegistry.ends(command) && request.body["writeConcern"] != nil {
                    throw FolioError(.invalidOptions, "Cannot set write concern after starting a transaction.")
                }
                reply = try body(inside)
            } catch {
                txn.abort()
                s.phase = .aborted
                throw TransactionRegistry.labelled(error, command: command)
            }
            switch inside.transaction!.outcome {
            case .committed: s.phase = .committed
            case .aborted: s.phase = .aborted
            case .open:
                if reply["writeErrors"] != nil || reply["ok"] != .double(1) {
                    txn.abort()
                    s.phase = .aborted
                }
            }
            return reply
        }
    }

    /// Whether a retry of the whole transaction can fix an error of `command` (MongoDB's
    /// isTransientTransactionError): conflicts, lock timeouts and a snapshot that is gone, and,
    /// for the statements but not the commit, a primary that stepped down or shut down.
    static func transient(_ code: ErrorCode, command: String) -> Bool {
        let always: Set<Int32> = [112, 24, 267, 251, 246, 239]
        if always.contains(code.rawValue) { return true }
        if ends(command) { return false }
        let categories = code.categories
        return categories.contains("NotPrimaryError") || categories.contains("ShutdownError") || categories.contains("NetworkError")
    }

    /// Write concern failures after which a commit may have happened (UnknownTransactionCommitResult);
    /// an unsatisfiable or unknown write concern is not one of them.
    static let writeConcernCodes: Set<Int32> = [64]

    /// Whether `command` ends a transaction (a retryable write of its own).
    static func ends(_ command: String) -> Bool { command == "commitTransaction" || command == "abortTransaction" }

    /// The labels MongoDB gives an error of `command` in a transaction: commitTransaction and
    /// abortTransaction are retryable writes, and a commit whose outcome is unknown says so;
    /// an error a retry of the whole transaction can fix is transient.
    static func labels(_ code: ErrorCode, command: String) -> [String] {
        var labels: [String] = []
        if ends(command) {
            if code.isRetryableWriteError { labels.append("RetryableWriteError") }
            if command == "commitTransaction" && (code.isRetryableWriteError || code == .maxTimeMSExpired || writeConcernCodes.contains(code.rawValue)) {
                labels.append("UnknownTransactionCommitResult")
            }
        }
        if transient(code, command: command) { labels.append("TransientTransactionError") }
        return labels
    }

    /// `error` with the labels MongoDB gives it in a transaction.
    static func labelled(_ error: FolioError, command: String) -> FolioError {
        var e = error
        for label in labels(error.code, command: command) where !e.labels.contains(label) { e.labels.append(label) }
        return e
    }

    /// Aborts the oldest idle transactions while too many are open (rule 5).
    private func makeRoom(for context: ServerContext) throws(FolioError) {
        guard context.engine.openTransactions.transactions >= TransactionRegistry.limit else { return }
        let candidates = sessions.withLock { map in map.values.filter { $0.phase.isOpen && !$0.busy.load(ordering: .acquiring) } }
        for s in candidates.sorted(by: { $0.startedAt < $1.startedAt }).prefix(max(1, TransactionRegistry.limit / 10)) {
            s.lock.withLockIfAvailable { _ in
                if case .inProgress(let txn) = s.phase {
                    txn.abort()
                    s.phase = .aborted
                }
            }
        }
    }

    /// Aborts transactions open longer than the lifetime limit (rule 5); returns how many.
    @discardableResult
    package func expire(lifetimeSeconds: Int) -> Int {
        let cutoff = ContinuousClock.now - .seconds(lifetimeSeconds)
        let all = sessions.withLock { Array($0.values) }
        var aborted = 0
        for s in all where s.phase.isOpen {
            s.lock.withLockIfAvailable { _ in
                if case .inProgress(let txn) = s.phase, s.startedAt < cutoff {
                    txn.abort()
                    s.phase = .aborted
                    aborted += 1
                }
            }
        }
        return aborted
    }

    /// Ends the sessions' transactions and forgets the sessions (endSessions, expiry).
    package func end(_ keys: Set<[UInt8]>?) {
        let ended = sessions.withLock { map -> [Session] in
            guard let keys else {
                defer { map.removeAll() }
                return Array(map.values)
            }
            return keys.compactMap { map.removeValue(forKey: $0) }
        }
        for s in ended {
            s.lock.withLock { _ in
                if case .inProgress(let txn) = s.phase { txn.abort() }
                s.phase = .aborted
            }
        }
    }

    static func describe(_ key: [UInt8]) -> String {
        "{ id: UUID(\"\(key.uuidString)\")\(OperationSessionInfo.sessionSuffix)}"
    }
}

extension TransactionRegistry.Phase {
    var isNone: Bool { if case .none = self { true } else { false } }
    var isRetryableWrite: Bool { if case .retryableWrite = self { true } else { false } }
    var isOpen: Bool { if case .inProgress = self { true } else { false } }
    var name: String {
        switch self {
        case .none, .retryableWrite: "None"
        case .inProgress: "TxnInProgress"
        case .committed: "TxnCommitted"
        case .aborted: "TxnAborted"
        }
    }
}

/// The transaction a command runs in, and what commitTransaction/abortTransaction did to it.
final class ActiveTransaction: @unchecked Sendable {
    // @unchecked: used by the one thread running the session's command.
    enum Outcome { case open, committed, aborted }
    let transaction: EngineTransaction
    var outcome = Outcome.open

    init(transaction: EngineTransaction) { self.transaction = transaction }
}

/// commitTransaction and abortTransaction (run inside TransactionRegistry.run).
enum TransactionCommands {
    @Sendable static func commit(_ r: CommandRequest) throws(FolioError) -> Document {
        guard let active = r.transaction else { return [:] }  // already committed: idempotent
        do throws(FolioError) {
            let session = r.sessionInfo.session.flatMap { key in r.sessionInfo.txnNumber.map { (key: key, txnNumber: $0) } }
            let lsid: Document? = session.map { ["id": .binary(Binary(subtype: Binary.Subtype.uuid, data: $0.key)),
                                                 "uid": .binary(Binary(data: SessionRegistry.anonymousUID))] }
            try active.transaction.commit(durable: try r.durable(), session: session, lsid: lsid)
        } catch {
            active.outcome = .aborted
            throw error
        }
        active.outcome = .committed
        return [:]
    }

    @Sendable static func abort(_ r: CommandRequest) throws(FolioError) -> Document {
        guard let active = r.transaction else { return [:] }
        active.transaction.abort()
        active.outcome = .aborted
        return [:]
    }
}
