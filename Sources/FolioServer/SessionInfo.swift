import FolioBSON
import FolioEngine
import FolioQuery

/// A command's session fields (MongoDB's OperationSessionInfoFromClient: `lsid`, `txnNumber`,
/// `autocommit`, `startTransaction`), checked as MongoDB checks them before a command runs.
struct OperationSessionInfo: Sendable, Equatable {
    /// The session's key (`lsid.id`'s bytes; with users, the uid will join it).
    var session: [UInt8]?
    var txnNumber: Int64?
    var autocommit: Bool?
    var startTransaction: Bool?

    /// Commands that may carry a `txnNumber` outside a transaction: the retryable writes.
    static let retryableWriteCommands: Set<String> = ["insert", "update", "delete", "findAndModify", "bulkWrite"]

    init() {}

    /// Parses and checks the fields: the types of their IDL definitions (14 TypeMismatch,
    /// 40414 for a session without `id`), then MongoDB's rules (72 InvalidOptions).
    init(parsing body: Document) throws(FolioError) {
        if let lsid = body["lsid"] {
            guard case .document(let d) = lsid else {
                throw FolioError(.typeMismatch, "BSON field 'OperationSessionInfo.lsid' is the wrong type '\(lsid.type.alias)', expected type 'object'")
            }
            guard let id = d["id"] else {
                throw FolioError(ErrorCode(rawValue: 40414), "BSON field 'LogicalSessionId.id' is missing but a required field")
            }
            guard case .binary(let b) = id, b.subtype == Binary.Subtype.uuid, b.data.count == 16 else {
                throw FolioError(.typeMismatch, "BSON field 'LogicalSessionId.id' is the wrong type '\(id.type.alias)', expected a UUID")
            }
            session = b.data
        }
        if let t = body["txnNumber"] {
            guard case .int64(let n) = t else {
                throw FolioError(.typeMismatch, "BSON field 'OperationSessionInfo.txnNumber' is the wrong type '\(t.type.alias)', expected type 'long'")
            }
            txnNumber = n
        }
        autocommit = try OperationSessionInfo.bool(body["autocommit"], "autocommit")
        startTransaction = try OperationSessionInfo.bool(body["startTransaction"], "startTransaction")
        if session == nil, txnNumber != nil {
            throw FolioError(.invalidOptions, "Transaction number requires a session ID to also be specified")
        }
        if let n = txnNumber, n < 0 { throw FolioError(.invalidOptions, "Transaction number cannot be negative") }
        if txnNumber == nil, autocommit != nil {
            throw FolioError(.invalidOptions, "'autocommit' field requires a transaction number to also be specified")
        }
        if autocommit == true { throw FolioError(.invalidOptions, "Specifying autocommit=true is not allowed.") }
        if autocommit == nil, startTransaction != nil {
            throw FolioError(.invalidOptions, "'startTransaction' field requires 'autocommit' field to also be specified")
        }
        if startTransaction == false { throw FolioError(.invalidOptions, "Specifying startTransaction=false is not allowed.") }
    }

    static func bool(_ value: BSON?, _ field: String) throws(FolioError) -> Bool? {
        guard let value else { return nil }
        guard case .bool(let b) = value else {
            throw FolioError(.typeMismatch, "BSON field 'OperationSessionInfo.\(field)' is the wrong type '\(value.type.alias)', expected type 'bool'")
        }
        return b
    }

    /// Whether `command` may run with these fields: a `txnNumber` outside a transaction is
    /// for retryable writes only (50768), as in MongoDB; a transaction needs a session.
    func check(command: String) throws(FolioError) {
        if autocommit != nil { return }
        if txnNumber != nil, !OperationSessionInfo.retryableWriteCommands.contains(command) {
            throw FolioError(ErrorCode(rawValue: 50768),
                             "txnNumber may only be provided for multi-document transactions and retryable write commands. "
                             + "autocommit:false was not provided, and \(command) is not a retryable write command.")
        }
    }

    /// What follows a session's id when MongoDB prints it (` - <uid> - `): without users,
    /// every session's uid is the hash of the empty user name.
    static let sessionSuffix = " - \(Base64.encode(SessionRegistry.anonymousUID)) - "
}

extension CommandRequest {
    /// The retryable write this command is (nil without a `txnNumber`): its statement ids
    /// from `stmtIds` or `stmtId` (`statementIDs` overrides them, as bulkWrite's per-operation
    /// ids), and the `onPrimaryTransactionalWrite` fail point on servers with test commands.
    func retryableWrite(statements: Int) throws(FolioError) -> RetryableWrite? {
        guard let txnNumber = sessionInfo.txnNumber, sessionInfo.autocommit == nil, let session = sessionInfo.session else { return nil }
        var ids = RetryableWrite.StatementIDs.from(0)
        if let list = body["stmtIds"] {
            guard case .array(let values) = list else {
                throw FolioError(.typeMismatch, "BSON field '\(name).stmtIds' is the wrong type '\(list.type.alias)', expected type 'array'")
            }
            ids = .list(try values.map { v throws(FolioError) -> Int32 in
                guard case .int32(let i) = v else {
                    throw FolioError(.typeMismatch, "BSON field '\(name).stmtIds' must hold ints, found '\(v.type.alias)'")
                }
                return i
            })
            guard values.count == statements else {
                throw FolioError(.invalidLength, "Number of statement ids must match the number of batch entries")
            }
        } else if let first = body["stmtId"] {
            guard case .int32(let i) = first else {
                throw FolioError(.typeMismatch, "BSON field '\(name).stmtId' is the wrong type '\(first.type.alias)', expected type 'int'")
            }
            ids = .from(i)
        }
        var write = RetryableWrite(session: session, sessionSuffix: OperationSessionInfo.sessionSuffix, txnNumber: txnNumber,
                                   statementIDs: ids)
        if context.parameters.enableTestCommands {
            let failPoints = context.failPoints, slot = rawBatch
            write.beforeCommit = { () throws(FolioError) in
                guard let fail = failPoints.transactionalWriteActivation() else { return }
                if fail.closeConnection { slot?.closeConnection = true }
                if let error = fail.error { throw error }
            }
        }
        return write
    }
}
