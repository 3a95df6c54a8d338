import FolioBSON
import FolioEngine
import FolioQuery

// Which commands the wire server runs on the event loop that read them, instead of handing
// them to the connection's queue.
//
// Each hand-off is a thread wake-up: the loop wakes a queue worker, the worker wakes the loop
// to write the reply. At one client on two cores the two wake-ups were half of a point read's
// server CPU (the kernel's scheduler, in `perf`). A command qualifies only when it can never
// wait: no storage write and so no group commit, no transaction or session lock, no fail
// point (blockConnection sleeps), no profiler or audit write, no view (a view's pipeline
// can be any size of work). What remains is a fixed, small amount of memory work:
// - `ping`, and a handshake `hello` without authentication in it;
// - a `find` of one document by an exact `_id` in an existing collection whose document is in
//   memory now (one record-cache probe, never a scan or a file read), or of the first document
//   with an exact value of an indexed field (one index seek), with only the options below.
// Everything else, and every message above `inlineMaximumBytes`, goes to the queue as before.
// Such finds in their plainest form (what drivers send for find_one) do not even reach these
// rules: RawPointRead.swift reads them from the message's bytes and `answer(_:RawPointRead...)`
// below answers them with the reply's bytes; these rules take the finds with more options.

extension CommandDispatcher {
    /// Messages larger than this are parsed on the connection's queue, not the loop.
    package static let inlineMaximumBytes = 16 * 1024

    /// The fields an inline `find` may have; any other (sort, hint, collation, a
    /// transaction's fields, tailable, ...) sends it to the queue.
    static let inlineFindFields: Set<String> = [
        "find", "filter", "limit", "singleBatch", "batchSize", "projection", "$db", "lsid", "$clusterTime",
        "$readPreference", "readConcern", "maxTimeMS", "comment", "apiVersion", "apiStrict", "apiDeprecationErrors",
    ]

    /// Whether `body` may run where it arrived (on the event loop), by the rules above.
    package func runsWhereItArrives(_ body: Document) -> Bool {
        guard let name = body.fieldNames.first else { return false }
        guard name == "ping" || name == "find" || HelloCommand.names.contains(name) else { return false }
        if context.audit != nil || context.profiler.isActive { return false }
        if context.parameters.enableTestCommands && !context.failPoints.allOff { return false }
        switch name {
        case "ping":
            return true
        case "find":
            return isPointRead(body)
        default:
            // An awaitable hello (topologyVersion, maxAwaitTimeMS) waits; authentication reads users.
            return body["speculativeAuthenticate"] == nil && body["saslSupportedMechs"] == nil
                && body["topologyVersion"] == nil && body["maxAwaitTimeMS"] == nil
        }
    }

    /// `find` of one existing collection's document by an exact, non-document `_id`; or of
    /// the first document (`limit: 1`) by an exact value of a field that a plain index leads
    /// with (one index seek: not partial, sparse, hidden or with its own collation, any of
    /// which could turn the plan into a collection scan).
    func isPointRead(_ body: Document) -> Bool {
        guard body.fieldNames.allSatisfy(CommandDispatcher.inlineFindFields.contains),
              case .string(let collection) = body.element(at: 0).value, case .string(let database)? = body["$db"],
              case .document(let filter)? = body["filter"], filter.count == 1 else { return false }
        let (field, value) = filter.element(at: 0)
        switch value {
        case .document, .array, .regex, .javascript, .javascriptWithScope: return false
        default: break
        }
        if let concern = body["readConcern"] {
            guard case .document(let c) = concern,
                  c.fieldNames.allSatisfy({ $0 == "level" }),
                  ["local", "majority", "available", nil].contains(c["level"]?.stringValue) else { return false }
        }
        guard let ns = try? Namespace(database: database, collection: collection) else { return false }
        if field == "_id" {
            // A view is no collection in the catalog: only real collections pass. A document
            // not in memory (SQLite's record cache) would be read from the file, which can
            // take milliseconds on a cold disk: it goes to the queue, whose read caches it.
            return context.engine.holdsDocumentInMemory(ns, id: value)
        }
        guard !field.hasPrefix("$"), let limit = body["limit"]?.exactInt64, limit == 1 || limit == -1 else { return false }
        return hasPlainIndex(leadingWith: field, ns)
    }

    /// Whether a plain index of `ns` leads with `field` (not partial, sparse, hidden or with
    /// its own collation, any of which could turn the plan into a collection scan).
    func hasPlainIndex(leadingWith field: String, _ ns: Namespace) -> Bool {
        context.engine.indexes(ns).contains { $0.isPlain(leadingWith: field) }
    }
}

extension CommandDispatcher {
    /// The whole reply message (OP_MSG) to `read`, with id `replyID`, or nil when the general
    /// path must answer it (RawPointRead.swift). `reserve` is called once the answer is certain
    /// and before anything but the query's own statistics is recorded; it returns false when
    /// the reply can no longer be made here (the connection closed, or is not idle: callers
    /// check that first, so an indexed query is not counted twice), and nil is returned.
    ///
    /// `readsStorage`: whether a document by `_id` that memory does not hold may be read from
    /// storage (on the connection's queue, never on an event loop).
    package func answer(_ read: RawPointRead, replyID: Int32, connection: ConnectionInfo, readsStorage: Bool = false,
                        reserve: () -> Bool) -> [UInt8]? {
        guard context.audit == nil, !context.profiler.isActive, !context.access.enabled,
              !(context.parameters.enableTestCommands && !context.failPoints.allOff),
              !context.log.logsEveryOperation, !context.operations.isShuttingDown,
              context.quotas.quota(read.database) == nil,
              let ns = try? Namespace(database: read.database, collection: read.collection) else { return nil }
        let started = ContinuousClock.now
        let document: RawDocument?
        if read.field == "_id" {
            if let found = context.engine.documentInMemory(ns, id: read.value) {
                document = found
            } else {
                guard readsStorage, let found = context.engine.document(ns, id: read.value) else { return nil }
                document = found
            }
        } else {
            guard let found = firstDocument(read, ns) else { return nil }
            document = found
        }
        guard reserve() else { return nil }
        context.sessions.touch(read.lsid)
        // The general path's reply encoder, with the document's stored bytes as the batch.
        var fields = FindCommand.firstBatch([], namespace: ns.description)
        fields.append("ok", .double(1))
        let body = CommandDispatcher.withClusterTime(fields, context.clusterTime())
        let reply = WireCodec.messageReply(requestID: replyID, responseTo: read.requestID, body: body,
                                           batch: document.map { [$0] } ?? [])
        let duration = ContinuousClock.now - started
        context.metrics.recordFind(returned: document == nil ? 0 : 1)
        context.telemetry.record("find", ok: true, duration: duration)
        context.telemetry.pointReadsFromBytes.increment()
        context.engine.latencyStatistics.record(ns, .reads, microseconds: duration.wholeMicroseconds)
        return reply
    }

    /// The first document the general path's `find` with `limit: 1` returns for `read`, as
    /// `.some(nil)` when none matches; nil when no plain index leads with the field, or the
    /// engine refuses the query (the general path then answers). When that index is the only
    /// one the planner could use, the engine seeks it without planning
    /// (`Engine.firstDocument(_:field:equalTo:)`); otherwise this is the engine's own query,
    /// with its plan, plan cache, index statistics and examined counts.
    func firstDocument(_ read: RawPointRead, _ ns: Namespace) -> RawDocument?? {
        if let found = context.engine.firstDocument(ns, field: read.field, equalTo: read.value) { return found }
        guard hasPlainIndex(leadingWith: read.field, ns) else { return nil }
        var filter = Document()
        filter.append(read.field, read.value)
        do throws(FolioError) {
            let cursor = try context.engine.find(ns, FindRequest(filter: filter, limit: 1),
                                                 sortMemoryLimitBytes: Int(context.parameters.current.internalQueryMaxBlockingSortMemoryUsageBytes))
            defer { cursor.close() }
            let batch = try cursor.next(maxCount: Limits.defaultFirstBatchCount, maxBytes: Limits.maximumBatchSizeBytes)
            return .some(batch.first)
        } catch {
            return nil
        }
    }
}
