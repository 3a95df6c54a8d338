import FolioBSON
import FolioEngine
import FolioQuery
#if canImport(Glibc)
import Glibc
#endif

/// find, getMore, killCursors: 101 documents in the first batch by default, 16 MiB per
/// batch, cursor id 0 when exhausted, CursorNotFound (43) for unknown ids.
enum FindCommand {
    /// A cursor command's reply; a change stream's carries its `postBatchResumeToken`.
    static func cursorReply(id: Int64, namespace: String, batch: [BSON], first: Bool, postBatchResumeToken: Document? = nil) -> Document {
        var cursor: Document = ["id": .int64(id), "ns": .string(namespace), first ? "firstBatch" : "nextBatch": .array(batch)]
        if let postBatchResumeToken { cursor.append("postBatchResumeToken", .document(postBatchResumeToken)) }
        return ["cursor": .document(cursor)]
    }

    /// A complete result as a first batch with id 0 (listCollections, listIndexes).
    static func firstBatch(_ batch: [BSON], namespace: String) -> Document {
        cursorReply(id: 0, namespace: namespace, batch: batch, first: true)
    }

    /// The next batch: decoded into the reply, or left as bytes in the request's slot (the
    /// reply then holds an empty array in its place).
    static func batch(_ cursor: Cursor, size: Int?, _ r: CommandRequest) throws(FolioError) -> [BSON] {
        // A getMore is profiled with the work of its own batch.
        let before = r.profile != nil && r.name == "getMore" ? cursor.executionSummary : nil
        let raw = try cursor.next(maxCount: size ?? .max, maxBytes: Limits.maximumBatchSizeBytes)
        r.profile?.note(cursor, since: before)
        if let slot = r.rawBatch {
            slot.batch = raw
            return []
        }
        return raw.map { .document($0.document()) }
    }

    @Sendable static func run(_ r: CommandRequest) throws(FolioError) -> Document {
        let ns = try r.namespace()
        try r.api.check(expressions: .document(r.body))
        if let view = try Views.resolve(ns, r.engine) { return try Views.find(view, ns, r) }
        let batchSize = try self.batchSize(r)
        let request = try self.request(r)
        let cursor = try r.engine.find(ns, request, sortMemoryLimitBytes: r.sortMemoryBytes)
        // A tailable cursor stays open unless the collection it tails has no documents.
        var tailingNothing = false
        if request.tailable && ns != oplogNamespace { tailingNothing = try r.engine.estimatedCount(ns) == 0 }
        return try open(cursor, namespace: ns.description, batchSize: batchSize,
                        singleBatch: r.bool("singleBatch") == true || tailingNothing, r)
    }

    /// find's `batchSize` (≥ 0).
    static func batchSize(_ r: CommandRequest) throws(FolioError) -> Int? {
        let batchSize = try r.int("batchSize")
        if let b = batchSize, b < 0 { throw FolioError(.badValue, "BSON field 'batchSize' value must be >= 0, actual value '\(b)'") }
        return batchSize
    }

    /// The find request of a find command (shared with explain).
    static func request(_ r: CommandRequest) throws(FolioError) -> FindRequest {
        if let limit = try r.int("limit"), limit < 0 { throw FolioError(.badValue, "BSON field 'limit' value must be >= 0, actual value '\(limit)'") }
        if let skip = try r.int("skip"), skip < 0 { throw FolioError(.badValue, "BSON field 'skip' value must be >= 0, actual value '\(skip)'") }
        var request = FindRequest(filter: try r.document("filter") ?? Document(), sort: try r.document("sort"),
                                  projection: try r.document("projection"), skip: try r.int("skip") ?? 0,
                                  limit: try r.int("limit") ?? 0, allowDiskUse: r.bool("allowDiskUse") ?? true,
                                  constants: try r.letVariables(), maxTimeMilliseconds: try r.maxTime(), hint: WriteReply.hint(r.body["hint"]))
        request.min = try r.document("min")
        request.max = try r.document("max")
        request.returnKey = r.bool("returnKey") ?? false
        request.showRecordId = r.bool("showRecordId") ?? false
        request.collation = try r.document("collation")
        request.tailable = r.bool("tailable") == true
        if r.bool("awaitData") == true && !request.tailable {
            throw FolioError(.failedToParse, "Cannot set 'awaitData' without also setting 'tailable'")
        }
        if request.tailable && r.bool("singleBatch") == true {
            throw FolioError(.badValue, "cannot use tailable option with the 'singleBatch' option")
        }
        return request
    }

    /// The first batch of a new cursor; the cursor is registered when results remain.
    static func open(_ cursor: Cursor, namespace: String, batchSize: Int?, singleBatch: Bool, _ r: CommandRequest) throws(FolioError) -> Document {
        let first = try batch(cursor, size: batchSize ?? Limits.defaultFirstBatchCount, r)
        cursor.suspendDeadline()
        var id: Int64 = 0
        if !cursor.isExhausted && !singleBatch {
            id = r.context.cursors.register(cursor, namespace: namespace, session: r.session, api: r.api,
                                            noTimeout: r.bool("noCursorTimeout") == true, snapshotRead: r.snapshotRead,
                                            awaitData: cursor.isChangeStream || cursor.isTailable && r.bool("awaitData") == true)
        } else {
            cursor.close()
        }
        var reply = cursorReply(id: id, namespace: namespace, batch: first, first: true, postBatchResumeToken: cursor.postBatchResumeToken)
        if let read = r.snapshotRead, case .document(var c)? = reply["cursor"] {
            // The time a snapshot session's later reads name (drivers take it from here).
            c.append("atClusterTime", .timestamp(read.atClusterTime))
            reply["cursor"] = .document(c)
        }
        return reply
    }

    @Sendable static func getMore(_ r: CommandRequest) throws(FolioError) -> Document {
        guard case .int64(let id) = r.argument else {
            throw FolioError(.typeMismatch, "BSON field 'getMore.getMore' is the wrong type '\(r.argument.type.alias)', expected type 'long'")
        }
        guard case .string(let collection)? = r.body["collection"] else {
            throw FolioError(ErrorCode(rawValue: 40414), "BSON field 'getMore.collection' is missing but a required field")
        }
        guard let entry = r.context.cursors.take(id) else {
            throw FolioError(.cursorNotFound, "cursor id \(id) not found")
        }
        switch (entry.session, r.session) {
        case (let owner?, nil):
            throw FolioError(ErrorCode(rawValue: 50737), "Cannot run getMore on cursor \(id), which was created in session \(owner.uuidString), without an lsid")
        case (let owner?, let current?) where owner != current:
            throw FolioError(ErrorCode(rawValue: 50738), "Cannot run getMore on cursor \(id), which was created in session \(owner.uuidString), in session \(current.uuidString)")
        case (nil, let current?):
            throw FolioError(ErrorCode(rawValue: 50736), "Cannot run getMore on cursor \(id), which was not created in a session, in session \(current.uuidString)")
        default: break
        }
        guard entry.namespace == "\(r.database).\(collection)" else {
            throw FolioError(.unauthorized, "Requested getMore on namespace '\(r.database).\(collection)', but cursor belongs to a different namespace \(entry.namespace)")
        }
        try r.api.checkGetMore(cursorOpenedWith: entry.api)
        let size = try r.int("batchSize").flatMap { $0 > 0 ? $0 : nil }
        var next: [BSON]
        do throws(FolioError) {
            if r.context.parameters.enableTestCommands, let error = r.context.failPoints.getMoreError() { throw error }
            if entry.awaitData {
                // maxTimeMS is how long to wait for new documents (1 s by default), not a limit.
                if let slot = r.rawBatch {
                    // On the wire: read once; with nothing new, ask the connection to answer again
                    // after the next commit (or when the wait ends) instead of holding a thread.
                    let wait = try r.maxTime() ?? 1000
                    let deadline = slot.awaitDeadline ?? ContinuousClock.now + .milliseconds(wait)
                    let seen = r.context.engine.clusterTime
                    next = try batch(entry.cursor, size: size, r)
                    if slot.batch?.isEmpty ?? next.isEmpty, !entry.cursor.isExhausted, ContinuousClock.now < deadline {
                        slot.wait = (seen, deadline)
                    }
                } else {
                    next = try awaitBatch(entry.cursor, size: size, waitMilliseconds: try r.maxTime() ?? 1000, r)
                }
            } else {
                // As MongoDB: maxTimeMS on a getMore is only an awaitData cursor's wait.
                if let limit = try r.maxTime(), limit > 0 {
                    throw FolioError(.badValue, "cannot set maxTimeMS on getMore command for a non-awaitData cursor")
                }
                // The find's or aggregate's maxTimeMS goes on counting (MongoDB's leftover time).
                try entry.cursor.resumeDeadline()
                defer { entry.cursor.suspendDeadline() }
                next = try batch(entry.cursor, size: size, r)
            }
        } catch {
            // A tailable cursor that lost its place (or its collection) is gone.
            // So is one whose time limit ran out (MongoDB kills a cursor whose getMore fails).
            if error.code == .cappedPositionLost || error.code == .queryPlanKilled || error.code == .maxTimeMSExpired {
                r.context.cursors.remove(id)
            }
            if entry.cursor.isChangeStream { throw ChangeStreamErrors.labelled(error) }
            throw error
        }
        var replyID = id
        if entry.cursor.isExhausted {
            r.context.cursors.remove(id)
            replyID = 0
        }
        return cursorReply(id: replyID, namespace: entry.namespace, batch: next, first: false,
                           postBatchResumeToken: entry.cursor.postBatchResumeToken)
    }

    /// A tailable awaitData cursor's next batch: at the end of the collection, waits until a
    /// commit brings documents the cursor returns or `waitMilliseconds` pass (then the batch is
    /// empty and the cursor stays open). The wait polls the commit clock, a read of one atomic,
    /// every 2 ms and reads again only after a commit; killOp and shutdown interrupt it.
    static func awaitBatch(_ cursor: Cursor, size: Int?, waitMilliseconds: Int, _ r: CommandRequest) throws(FolioError) -> [BSON] {
        var seen = r.context.engine.clusterTime
        var next = try batch(cursor, size: size, r)
        let deadline = ContinuousClock.now + .milliseconds(max(0, waitMilliseconds))
        func isEmpty() -> Bool { r.rawBatch?.batch.map { $0.isEmpty } ?? next.isEmpty }
        while isEmpty(), ContinuousClock.now < deadline, !cursor.isExhausted {
            try OperationInterrupt.check()
            usleep(2000)
            let now = r.context.engine.clusterTime
            if now == seen { continue }
            seen = now
            next = try batch(cursor, size: size, r)
        }
        return next
    }

    @Sendable static func killCursors(_ r: CommandRequest) throws(FolioError) -> Document {
        guard case .array(let ids)? = r.body["cursors"] else {
            throw FolioError(ErrorCode(rawValue: 40414), "BSON field 'killCursors.cursors' is missing but a required field")
        }
        var killed: [BSON] = [], notFound: [BSON] = []
        for case .int64(let id) in ids {
            if r.context.cursors.remove(id) { killed.append(.int64(id)) } else { notFound.append(.int64(id)) }
        }
        return ["cursorsKilled": .array(killed), "cursorsNotFound": .array(notFound), "cursorsAlive": [], "cursorsUnknown": []]
    }
}

/// count and distinct.
enum CountCommand {
    @Sendable static func count(_ r: CommandRequest) throws(FolioError) -> Document {
        let ns = try r.namespace()
        if let view = try Views.resolve(ns, r.engine) { return try Views.count(view, r) }
        let (skip, limit) = try skipAndLimit(r)
        let n = try r.engine.count(ns, filter: try r.document("query") ?? Document(), skip: skip, limit: limit,
                                           maxTimeMilliseconds: try r.maxTime(), hint: WriteReply.hint(r.body["hint"]),
                                           collation: try r.document("collation"))
        return ["n": .int32(Int32(clamping: n))]
    }

    /// count's skip (≥ 0) and limit (a negative limit counts like its magnitude; 0 is none).
    static func skipAndLimit(_ r: CommandRequest) throws(FolioError) -> (skip: Int, limit: Int) {
        let skip = try r.int("skip") ?? 0
        guard skip >= 0 else { throw FolioError(.badValue, "BSON field 'skip' value must be >= 0, actual value '\(skip)'") }
        let limit = try r.int("limit") ?? 0
        return (skip, limit == .min ? .max : abs(limit))
    }

    @Sendable static func distinct(_ r: CommandRequest) throws(FolioError) -> Document {
        let ns = try r.namespace()
        guard case .string(let key)? = r.body["key"] else {
            throw FolioError(ErrorCode(rawValue: 40414), "BSON field 'distinct.key' is missing but a required field")
        }
        if let view = try Views.resolve(ns, r.engine) { return try Views.distinct(view, key: key, r) }
        var reply: Document = ["values": .array(try r.engine.distinct(ns, key: key, filter: try r.document("query") ?? Document(),
                                                                      maxTimeMilliseconds: try r.maxTime(),
                                                                      collation: try r.document("collation"),
                                                                      hint: WriteReply.hint(r.body["hint"])))]
        if let read = r.snapshotRead { reply.append("atClusterTime", .timestamp(read.atClusterTime)) }
        return reply
    }
}
