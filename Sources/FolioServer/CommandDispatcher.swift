import FolioBSON
import FolioEngine
import FolioQuery
#if canImport(Glibc)
import Glibc
#endif

/// One command invocation: the body (with document sequences merged in), its database, and
/// the connection it came from.
public struct CommandRequest: Sendable {
    public let name: String
    public let body: Document
    public let database: String
    public let connection: ConnectionInfo
    let context: ServerContext
    /// Where a cursor command leaves its batch as stored bytes, for the wire reply to carry
    /// them as they are; nil when the caller wants the batch decoded into the reply.
    var rawBatch: RawBatchSlot? = nil
    /// Where a profiled command notes what its cursor examined (nil: not profiled).
    var profile: ProfileSlot? = nil
    /// The Stable API parameters the command declared (checked before it runs).
    var api = APIParameters()
    /// The command's session fields (checked before it runs).
    var sessionInfo = OperationSessionInfo()
    /// The command's write concern (checked before it runs, answered after).
    var writeConcern = WriteConcern()
    /// The multi-document transaction the command runs in (see TransactionRegistry).
    var transaction: ActiveTransaction?

    /// The documents of the message's document sequences as they arrived (see OpMsg.sequences).
    var sequences: [String: [RawDocument]] = [:]

    /// The read at a point in time the command runs (readConcern snapshot outside a transaction).
    var snapshotRead: SnapshotRead?

    /// The privileges the command runs with (nil when access control is off).
    var authorization: Authorization?

    /// The engine the command reads and writes: its transaction's, its snapshot read's, or the server's.
    var engine: Engine { transaction?.transaction.engine ?? snapshotRead?.engine ?? context.engine }

    /// A required array of documents (`createIndexes.indexes`, `createSearchIndexes.indexes`),
    /// refused with 40414 when missing and 14 when not an array of documents.
    func documents(_ key: String) throws(FolioError) -> [Document] {
        guard let value = body[key] else {
            throw FolioError(ErrorCode(rawValue: 40414), "BSON field '\(name).\(key)' is missing but a required field")
        }
        guard case .array(let list) = value else {
            throw FolioError(.typeMismatch, "BSON field '\(name).\(key)' is the wrong type '\(value.type.alias)', expected type 'array'")
        }
        var out: [Document] = []
        for v in list {
            guard case .document(let d) = v else {
                throw FolioError(.typeMismatch, "BSON field '\(name).\(key)' is the wrong type '\(v.type.alias)', expected type 'object'")
            }
            out.append(d)
        }
        return out
    }

    /// The command's first value (`{find: "users"}` → "users").
    var argument: BSON { body.element(at: 0).value }

    /// Fields any command may carry (sessions, gossip, API version, write concern, and the
    /// routing, replication and auditing fields drivers and routers attach), which are not
    /// the command's own options.
    static let genericFields: Set<String> = ["$db", "lsid", "$clusterTime", "writeConcern", "comment", "$readPreference",
                                             "txnNumber", "autocommit", "startTransaction", "apiVersion", "apiStrict",
                                             "apiDeprecationErrors", "maxTimeMS", "readConcern",
                                             "txnRetryCounter", "recoveryToken", "$client", "$audit", "$configServerState", "$gleStats",
                                             "$oplogQueryData", "$queryOptions", "$replData", "allowImplicitCollectionCreation",
                                             "clientOperationKey", "databaseVersion", "shardVersion", "tracking_info", "coordinator",
                                             "maxTimeMSOpOnly", "$configTime", "$topologyTime", "usesDefaultMaxTimeMS",
                                             "mayBypassWriteBlocking", "expectPrefix", "versionContext", "$traceCtx"]

    func namespace(_ collection: BSON? = nil) throws(FolioError) -> Namespace {
        guard case .string(let name) = collection ?? argument else {
            throw FolioError(.invalidNamespace, "collection name has invalid type \((collection ?? argument).type.alias)")
        }
        return try Namespace(database: database, collection: name)
    }

    func document(_ key: String) throws(FolioError) -> Document? {
        try CommandRequest.document(body[key], field: "\(name).\(key)")
    }

    /// An optional object field (nil when absent or null); 14 TypeMismatch otherwise.
    static func document(_ value: BSON?, field: String) throws(FolioError) -> Document? {
        guard let value, value.type != .null else { return nil }
        guard case .document(let d) = value else {
            throw FolioError(.typeMismatch, "BSON field '\(field)' is the wrong type '\(value.type.alias)', expected type 'object'")
        }
        return d
    }

    /// An optional IDL `safeInt64` field (skip, limit, batchSize): any number, with MongoDB's
    /// `safeNumberLong` rules (NaN is 0, fractions dropped, out-of-range values clamped).
    func int(_ key: String) throws(FolioError) -> Int? {
        try CommandRequest.safeInt(body[key], field: "\(name).\(key)")
    }

    /// `value` as an IDL `safeInt64` (nil when absent or null); 14 TypeMismatch for non-numbers.
    static func safeInt(_ value: BSON?, field: String) throws(FolioError) -> Int? {
        guard let value, value.type != .null else { return nil }
        guard let i = value.safeInt64 else {
            throw FolioError(.typeMismatch, "BSON field '\(field)' is the wrong type '\(value.type.alias)', expected types '[long, int, decimal, double]'")
        }
        return Int(i)
    }

    func bool(_ key: String) -> Bool? { body[key].map(\.isTruthy) }

    /// The logical session of the command (`lsid.id`), if any.
    var session: [UInt8]? { SessionRegistry.key(body["lsid"]) }

    /// `maxTimeMS`, validated as MongoDB does (a non-negative 32-bit integer; 0 = none).
    func maxTime() throws(FolioError) -> Int? {
        guard let v = body["maxTimeMS"], v.type != .null else { return nil }
        guard v.isNumber, let n = v.exactInt64, n >= 0, n <= Int64(Int32.max) else {
            throw FolioError(.badValue, "\(v) value for maxTimeMS is out of range [0, \(Int32.max)]")
        }
        return n == 0 ? nil : Int(n)
    }

    /// `$sort`'s and find's sort budget (the internalQueryMaxBlockingSortMemoryUsageBytes parameter).
    var sortMemoryBytes: Int { Int(context.parameters.current.internalQueryMaxBlockingSortMemoryUsageBytes) }

    /// The command's `let` variables, evaluated.
    func letVariables() throws(FolioError) -> [String: BSON] { try Expression.evaluateLet(try document("let")) }

    /// Whether the write concern asks for the journal (`j: true`, `fsync: true`, or `w: "majority"`).
    func durable() throws(FolioError) -> Bool { writeConcern.durable }
}

/// The connection a command arrived on.
public struct ConnectionInfo: Sendable {
    public let id: Int32
    public let remoteAddress: String

    public init(id: Int32, remoteAddress: String) {
        self.id = id
        self.remoteAddress = remoteAddress
    }
}

/// A command implementation. Returns the reply fields (without `ok`).
typealias CommandHandler = @Sendable (CommandRequest) throws(FolioError) -> Document

/// Looks up and runs commands, shaping replies as MongoDB does.
public struct CommandDispatcher: Sendable {
    package let context: ServerContext

    public init(context: ServerContext) { self.context = context }

    /// The handlers by name and alias (the command table, CommandTable.swift).
    static let table: [String: CommandHandler] = CommandTable.byName.mapValues(\.handler)

    /// Alternative spellings the table accepts, by the name MongoDB reports (in errors, logs and
    /// metrics.commands).
    static let canonicalNames: [String: String] = Dictionary(
        uniqueKeysWithValues: CommandTable.all.flatMap { spec in spec.aliases.map { ($0, spec.name) } })

    static func canonicalName(_ name: String) -> String { canonicalNames[name] ?? name }

    /// The commands the server knows, each by its own name.
    static let commandNames = Set(CommandTable.all.map(\.name))

    /// Runs a command body and returns the full reply document.
    public func run(_ body: Document, connection: ConnectionInfo) -> Document {
        run(body, connection: connection, rawBatch: nil)
    }

    /// Runs a command body for a wire reply: a cursor's batch comes back as the documents'
    /// bytes, with an empty batch array in its place in the reply
    /// (`WireCodec.messageReply(...batch:)` writes them there).
    public func runForWire(_ body: Document, connection: ConnectionInfo) -> (reply: Document, batch: [RawDocument]?) {
        let answer = answer(body, connection: connection)
        return (answer.reply, answer.batch)
    }

    /// What the wire server sends for one command: the reply, a cursor batch as stored bytes,
    /// or nothing at all when a fail point closes the connection instead.
    /// `awaitDeadline`: when an awaitData getMore that is being answered again after a wait
    /// must answer at the latest. The answer's `wait` asks the caller to answer the same
    /// command again after the next commit later than `wait.since`, or at `wait.until`.
    /// `sequences`: the message's document sequences as they arrived (OpMsg.sequences).
    package func answer(_ body: Document, connection: ConnectionInfo, awaitDeadline: ContinuousClock.Instant? = nil,
                        sequences: [String: [RawDocument]] = [:])
        -> (reply: Document, batch: [RawDocument]?, closeConnection: Bool, wait: (since: Timestamp, until: ContinuousClock.Instant)?) {
        let slot = RawBatchSlot()
        slot.awaitDeadline = awaitDeadline
        let reply = run(body, connection: connection, rawBatch: slot, sequences: sequences)
        let ok = reply["ok"] == .double(1)
        return (reply, ok ? slot.batch : nil, slot.closeConnection, ok ? slot.wait : nil)
    }

    func run(_ body: Document, connection: ConnectionInfo, rawBatch: RawBatchSlot?, sequences: [String: [RawDocument]] = [:]) -> Document {
        guard let name = body.fieldNames.first else {
            return reply(error: FolioError(.failedToParse, "Empty command object"))
        }
        guard case .string(let database)? = body["$db"] else {
            return reply(error: FolioError(ErrorCode(rawValue: 40571), "OP_MSG requests require a $db argument"))
        }
        guard let handler = CommandDispatcher.table[name] else {
            let answer = reply(error: FolioError(.commandNotFound, "no such command: '\(name)'"))
            context.metrics.record(nil, body: body, reply: answer, returned: 0)
            context.telemetry.record(nil, ok: false, duration: .zero)
            return answer
        }
        var request = CommandRequest(name: name, body: body, database: database, connection: connection, context: context,
                                     rawBatch: rawBatch, sequences: sequences)
        if context.profiler.isActive && context.profiler.settings(database).level > 0 { request.profile = ProfileSlot() }
        context.sessions.touch(body["lsid"])
        let canonical = CommandDispatcher.canonicalName(name)
        guard let operation = context.operations.begin(body, name: name, database: database, connection: connection) else {
            let quiesce = FolioError(.shutdownInProgress, "The server is in quiesce mode and will shut down")
            return reply(error: CommandDispatcher.labelled(quiesce, body: body, command: canonical))
        }
        defer { context.operations.end(operation) }
        let started = ContinuousClock.now
        let answer: Document
        do throws(FolioError) {
            if let auth = try context.access.authorization(connection: connection) {
                do throws(FolioError) {
                    try CommandAccess.check(request, canonical: canonical, auth)
                } catch {
                    context.audit?.record("authCheck", connection: connection, authorization: auth,
                                          param: ["command": .string(canonical), "ns": .string(request.argument.stringValue.map { "\(database).\($0)" } ?? database),
                                                  "args": .document(body)], result: error.code.rawValue)
                    throw error
                }
                request.authorization = auth
                if let session = request.session { try context.sessions.claim(session, by: auth) }
            }
            try context.quotas.check(request, canonical: canonical)
            request.api = try APIParameters(parsing: body)
            try request.api.check(command: canonical)
            try request.api.check(command: canonical, body: body)
            request.sessionInfo = try OperationSessionInfo(parsing: body)
            try request.sessionInfo.check(command: canonical)
            try CommandFields.check(body, command: canonical)
            let readConcern = try ReadConcern(parsing: body["readConcern"])
            try readConcern.check(command: canonical, transaction: request.sessionInfo)
            if let after = readConcern.afterClusterTime { try context.engine.checkNotFuture(after, field: "afterClusterTime") }
            if readConcern.level == .snapshot && request.sessionInfo.autocommit == nil && ReadConcern.snapshotCommands.contains(canonical) {
                request.snapshotRead = try context.engine.snapshotRead(atClusterTime: readConcern.atClusterTime)
            }
            request.writeConcern = try WriteConcern(parsing: body["writeConcern"])
            try Collation.check(body, command: name)
            // A fail point answers before the command reaches its transaction, as in MongoDB:
            // its error leaves the transaction as it was.
            answer = try failPointAnswer(request, canonicalName: canonical, rawBatch: rawBatch) { () throws(FolioError) -> Document in
            try context.transactions.run(request, command: canonical) { (request) throws(FolioError) -> Document in
                // The command's own errors get the retryable-write label here; a fail point's
                // carry exactly the labels it was configured with (none, if it says so).
                var fields: Document
                do throws(FolioError) {
                    try Views.refuse(request, command: canonical)
                    fields = try CommandDispatcher.run(handler, request, interruptedBy: operation.interrupt)
                } catch {
                    throw CommandDispatcher.labelled(error, body: body, command: canonical)
                }
                if let (code, message) = request.writeConcern.unsatisfied, WriteConcern.writeCommands.contains(canonical) {
                    fields.append("writeConcernError", ["code": .int32(code.rawValue), "codeName": .string(code.name),
                                                        "errmsg": .string(message),
                                                        "errInfo": ["writeConcern": body["writeConcern"] ?? .document([:])]])
                }
                fields.append("ok", .double(1))
                return withClusterTime(fields)
            }
            }
        } catch {
            answer = reply(error: error)
        }
        if CommandDispatcher.writesSecurityCollections(canonical, body, database: database) { context.access.users.changed() }
        if let audit = context.audit {
            let result = answer["ok"] == .double(1) ? 0 : Int32(clamping: answer["code"]?.exactInt64 ?? 8)
            for (atype, param) in AuditLog.events(canonical, request) {
                audit.record(atype, connection: connection, authorization: request.authorization, param: param, result: result)
            }
        }
        if canonical == "insert", answer["ok"] == .double(1), context.quotas.quota(database)?.maxStorageBytes != nil {
            let bytes = body["documents"]?.arrayValue?.reduce(Int64(0)) { $0 + Int64($1.documentValue?.bsonBytes().count ?? 0) } ?? 0
            context.quotas.inserted(database, bytes: bytes)
        }
        let returned = rawBatch?.batch?.count ?? CommandDispatcher.batchCount(answer)
        let duration = ContinuousClock.now - started
        context.metrics.record(canonical, body: body, reply: answer, returned: returned)
        context.telemetry.record(canonical, ok: answer["ok"] == .double(1), duration: duration)
        let milliseconds = duration.wholeMilliseconds
        let slow = context.log.isSlow(milliseconds: milliseconds)
        if slow {
            context.log.slowOperation(body, name: name, database: database, reply: answer, returned: returned,
                                      milliseconds: milliseconds, connection: connection, appName: context.applicationName(of: connection.id))
        }
        if let profile = request.profile {
            self.profile(request, canonical, answer, returned: returned, milliseconds: milliseconds, slow: slow, profile)
        }
        recordLatency(canonical, body, database: database, duration: duration)
        return answer
    }

    /// Whether a command may have written `admin.system.users` or `admin.system.roles` as
    /// collections (root may); the user store then re-reads who exists and connections their
    /// privileges.
    static func writesSecurityCollections(_ canonical: String, _ body: Document, database: String) -> Bool {
        let names: Set<String> = ["admin.system.users", "admin.system.roles"]
        switch canonical {
        case "insert", "update", "delete", "findAndModify", "drop":
            return database == "admin" && names.contains("admin.\(body.element(at: 0).value.stringValue ?? "")")
        case "dropDatabase": return database == "admin"
        case "renameCollection":
            return [body.element(at: 0).value.stringValue, body["to"]?.stringValue].contains { $0.map(names.contains) ?? false }
        case "bulkWrite":
            return body["nsInfo"]?.arrayValue?.contains { $0.documentValue?["ns"]?.stringValue.map(names.contains) ?? false } ?? false
        default: return false
        }
    }

    /// The kind of operation a command is in a collection's latencyStats (MongoDB's Top).
    static func latencyKind(_ canonical: String) -> LatencyStatistics.Kind {
        switch canonical {
        case "find", "getMore", "aggregate", "count", "distinct": return .reads
        case "insert", "update", "delete", "findAndModify": return .writes
        default: return .commands
        }
    }

    /// Adds a command's time to its collection's latencyStats (commands without one are not kept).
    func recordLatency(_ canonical: String, _ body: Document, database: String, duration: Duration) {
        guard !body.isEmpty, case .string(let collection)? = canonical == "getMore" ? body["collection"] : body.element(at: 0).value,
              let ns = try? Namespace(database: database, collection: collection) else { return }
        context.engine.latencyStatistics.record(ns, CommandDispatcher.latencyKind(canonical), microseconds: duration.wholeMicroseconds)
    }

    /// Hands a finished command to the profiler (its database profiles); `slow` is the slow
    /// query log's decision for it.
    func profile(_ r: CommandRequest, _ name: String, _ answer: Document, returned: Int, milliseconds: Int64, slow: Bool,
                 _ slot: ProfileSlot) {
        let op = Profiler.Operation(name: name, body: r.body, database: r.database, reply: answer, returned: returned,
                                    replyBytes: { answer.bsonBytes().count + (r.rawBatch?.batch?.reduce(0) { $0 + $1.byteCount } ?? 0) },
                                    milliseconds: milliseconds, connection: r.connection,
                                    appName: context.applicationName(of: r.connection.id),
                                    execution: slot.execution, cursorExhausted: slot.cursorExhausted)
        context.profiler.record(op, engine: context.engine, slow: slow)
    }

    /// Runs `command` under the `failCommand` fail point (test servers only): it may wait
    /// first, close the connection, fail with the configured error, or add a write concern
    /// error to the reply.
    func failPointAnswer(_ r: CommandRequest, canonicalName: String, rawBatch: RawBatchSlot?,
                         _ command: () throws(FolioError) -> Document) throws(FolioError) -> Document {
        guard context.parameters.enableTestCommands else { return try command() }
        let names: Set<String> = [r.name, canonicalName]
        let namespace = r.argument.stringValue.map { "\(r.database).\($0)" }
        let appName = context.applicationName(of: r.connection.id)
        if let fail = context.failPoints.activation(names: names, namespace: namespace, appName: appName, afterRunning: false) {
            if let ms = fail.blockMilliseconds, ms > 0 { usleep(FailPoints.microseconds(blockTimeMS: ms)) }
            if fail.closeConnection {
                rawBatch?.closeConnection = true
                throw FolioError(ErrorCode(rawValue: 50985), "Failing command via 'failCommand' failpoint")
            }
            if var error = fail.error {
                error.labels = fail.errorLabels ?? FailPoints.retryableWriteLabels(error.code, body: r.body)
                throw error
            }
        }
        var reply = try command()
        if reply["ok"] == .double(1),
           let fail = context.failPoints.activation(names: names, namespace: namespace, appName: appName, afterRunning: true),
           let wce = fail.writeConcernError {
            reply["writeConcernError"] = .document(wce)
            let code = ErrorCode(rawValue: Int32(clamping: wce["code"]?.exactInt64 ?? 0))
            // A write concern error is never transient, and inside a transaction it is only the
            // commit's or abort's to label.
            let inside = r.body["autocommit"] != nil && !TransactionRegistry.ends(canonicalName)
            let labels = fail.errorLabels ?? (inside ? [] : FailPoints.retryableWriteLabels(code, body: r.body).filter { $0 != "TransientTransactionError" })
            if !labels.isEmpty { reply["errorLabels"] = .array(labels.map(BSON.string)) }
            appendTopologyVersion(to: &reply, codes: [code])
        }
        return reply
    }

    /// A retryable write that failed in a way a retry can fix says so (shutdown,
    /// interruption), as MongoDB labels it: drivers retry only labelled errors.
    static func labelled(_ error: FolioError, body: Document, command: String) -> FolioError {
        guard error.labels.isEmpty, OperationSessionInfo.retryableWriteCommands.contains(command), body["autocommit"] == nil else {
            return error
        }
        var labelled = error
        labelled.labels = FailPoints.retryableWriteLabels(error.code, body: body)
        return labelled
    }

    /// The documents a decoded cursor reply carries (0 for other replies).
    static func batchCount(_ reply: Document) -> Int {
        guard case .document(let cursor)? = reply["cursor"] else { return 0 }
        return (cursor["firstBatch"] ?? cursor["nextBatch"])?.arrayValue?.count ?? 0
    }

    /// Runs a handler with its operation's interrupt bound to the running thread (killOp,
    /// maxTimeMS and the evaluation memory bound reach the engine through it).
    static func run(_ handler: CommandHandler, _ request: CommandRequest, interruptedBy interrupt: OperationInterrupt) throws(FolioError) -> Document {
        let result: Result<Document, FolioError> = OperationInterrupt.$current.withValue(interrupt) {
            Authorization.$current.withValue(request.authorization) {
                do throws(FolioError) { return .success(try handler(request)) } catch { return .failure(error) }
            }
        }
        return try result.get()
    }

    func reply(error: FolioError) -> Document {
        var fields = error.replyFields
        appendTopologyVersion(to: &fields, codes: [error.code])
        return withClusterTime(fields)
    }

    /// A state-change error (NotPrimaryError or ShutdownError, as the command's error or its
    /// write concern error) carries the server's topologyVersion, as MongoDB's do: a driver
    /// compares it with the version it knows, and since Folio's topology never changes it
    /// treats the error as stale instead of marking the server unknown and waiting for a
    /// heartbeat.
    func appendTopologyVersion(to fields: inout Document, codes: [ErrorCode]) {
        let stateChange = codes.contains { $0.categories.contains("NotPrimaryError") || $0.categories.contains("ShutdownError") }
        guard stateChange, fields["topologyVersion"] == nil else { return }
        fields.append("topologyVersion", ["processId": .objectID(context.processID), "counter": .int64(0)])
    }

    /// Replica-set members add `$clusterTime` and `operationTime` to every reply.
    func withClusterTime(_ d: Document) -> Document {
        CommandDispatcher.withClusterTime(d, context.clusterTime())
    }

    /// The signature of every reply's `$clusterTime`: all zeros (no keys to sign with).
    static let clusterTimeSignature: Document = ["hash": .binary(Binary(data: [UInt8](repeating: 0, count: 20))), "keyId": .int64(0)]

    /// `d` followed by `$clusterTime` (with an all-zero signature) and `operationTime` at `t`.
    package static func withClusterTime(_ d: Document, _ t: Timestamp) -> Document {
        var out = d
        out.append("$clusterTime", ["clusterTime": .timestamp(t), "signature": .document(clusterTimeSignature)])
        out.append("operationTime", .timestamp(t))
        return out
    }
}

/// What a profiled command's cursor examined, noted by the command for the profiler.
final class ProfileSlot: @unchecked Sendable {
    // @unchecked: written and read by the one thread running the command.
    var execution: ExecutionSummary?
    var cursorExhausted = false

    /// Notes the cursor's work, less what it had done at `before`.
    func note(_ cursor: Cursor, since before: ExecutionSummary?) {
        execution = cursor.executionSummary?.since(before)
        cursorExhausted = cursor.isExhausted
    }
}

/// A cursor batch left as the documents' stored bytes (see `CommandRequest.rawBatch`):
/// decoding each document only to encode it again cost ~1.2 µs per 300-byte document.
final class RawBatchSlot: @unchecked Sendable {
    // @unchecked: written and read by the one thread running the command.
    var batch: [RawDocument]?
    /// Set when the connection closes instead of answering (the `failCommand` fail point, `shutdown`).
    var closeConnection = false
    /// An awaitData getMore answered again after waiting: its wait ends at this time.
    var awaitDeadline: ContinuousClock.Instant?
    /// Set by an awaitData getMore that found nothing yet: answer again after the next commit
    /// later than `since`, or at `until` (the connection's thread is free meanwhile).
    var wait: (since: Timestamp, until: ContinuousClock.Instant)?
}
