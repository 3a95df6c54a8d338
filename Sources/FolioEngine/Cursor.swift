import FolioBSON
import FolioQuery
import FolioStorage
import Synchronization
import FolioLocks

/// A find request.
public struct FindRequest: Sendable {
    public var filter: Document
    public var sort: Document?
    public var projection: Document?
    public var skip: Int
    /// 0 = no limit.
    public var limit: Int
    public var allowDiskUse: Bool
    public var constants: [String: BSON]
    /// `maxTimeMS`: the query fails with 50 MaxTimeMSExpired once it has run this long.
    public var maxTimeMilliseconds: Int?
    /// `hint`: an index name, a key pattern or `{$natural: 1}`.
    public var hint: BSON?
    /// `min` (inclusive) and `max` (exclusive): bounds on the hinted index, in its key order.
    public var min: Document?
    public var max: Document?
    /// `returnKey`: each result is the index key it was found by (`{}` without an index).
    public var returnKey = false
    /// `showRecordId`: each result gains `$recordId` (the storage key, as binary data).
    public var showRecordId = false
    /// `collation`: how strings compare in the filter and the sort (nil: binary).
    public var collation: Document?
    /// `tailable`: on a capped collection, a cursor that stays open at the end and returns
    /// documents inserted later (Capped.swift).
    public var tailable = false

    public init(filter: Document = Document(), sort: Document? = nil, projection: Document? = nil, skip: Int = 0,
                limit: Int = 0, allowDiskUse: Bool = true, constants: [String: BSON] = [:], maxTimeMilliseconds: Int? = nil,
                hint: BSON? = nil, returnKey: Bool = false, showRecordId: Bool = false) {
        self.returnKey = returnKey
        self.showRecordId = showRecordId
        self.maxTimeMilliseconds = maxTimeMilliseconds
        self.hint = hint
        self.filter = filter
        self.sort = sort
        self.projection = projection
        self.skip = skip
        self.limit = limit
        self.allowDiskUse = allowDiskUse
        self.constants = constants
    }
}

/// What a query plan examined, and the plan as MongoDB summarizes it (`IXSCAN { a: 1 }`,
/// `COLLSCAN`, `IDHACK`).
public struct ExecutionSummary: Sendable {
    public var keysExamined: Int
    public var docsExamined: Int
    public var planSummary: String

    /// The work done since `earlier` (a getMore's own share).
    public func since(_ earlier: ExecutionSummary?) -> ExecutionSummary {
        ExecutionSummary(keysExamined: keysExamined - (earlier?.keysExamined ?? 0),
                         docsExamined: docsExamined - (earlier?.docsExamined ?? 0), planSummary: planSummary)
    }
}

/// A query result that streams from one storage snapshot and is read batch by batch.
///
/// It executes the planner's chosen plan lazily: scans read storage chunk by chunk as
/// batches are requested; a blocking sort runs when the first document is asked for (in
/// memory up to 100 MB, then on disk when allowed).
public final class Cursor: Sendable {
    public let namespace: Namespace

    struct State {
        var snapshot: (any StorageSnapshot)?
        var skipRemaining: Int
        var limitRemaining: Int?
        var exhausted = false
        /// Rows read ahead but not yet returned.
        var pending: [PlanRow] = []
        /// When the query must give up (maxTimeMS), on the monotonic clock.
        var deadline: ContinuousClock.Instant?
        /// What was left of the time limit when the last batch ended (`suspendDeadline`).
        var leftover: Duration?
        /// An aggregation pipeline's output (instead of a scan or a sort).
        var stream: StreamBox?
        /// The query plan being executed.
        var plan: PlanBox?
        /// A tailable cursor's position (instead of a plan).
        var tail: TailPosition?
        /// A change stream's events, which `stream` reads through the client's stages.
        var changes: ChangeStreamSource?
        /// The resume token of the last event returned (a change stream's).
        var lastReturnedToken: Document?
        /// A tailable cursor on `local.oplog.rs`: the log entries `stream` reads.
        var oplog: OplogSource?
    }

    let filter: Filter
    let projection: Projection?
    let keyView: KeyView?
    /// A `$text` query: results may carry the score's hidden field, taken off here (unless
    /// an aggregation's later stages read it as `{$meta: "textScore"}`).
    let hidesTextScore: Bool
    let state: Locked<State>
    /// Where the plan's work is counted when it ends (nil: not counted).
    let statistics: QueryStatistics?

    /// A cursor with no results (the collection does not exist).
    init(empty namespace: Namespace) {
        self.namespace = namespace
        self.filter = Filter(.and([]))
        self.projection = nil
        self.keyView = nil
        self.statistics = nil
        self.hidesTextScore = false
        var s = State(snapshot: nil, skipRemaining: 0, limitRemaining: nil)
        s.exhausted = true
        state = Locked(s)
    }

    /// A cursor executing a query plan (the snapshot stays open until it is exhausted).
    init(namespace: Namespace, snapshot: any StorageSnapshot, plan: PlannedQuery, filter: Filter, projection: Projection?,
         skip: Int, limit: Int, deadline: ContinuousClock.Instant?, keyView: KeyView? = nil, statistics: QueryStatistics? = nil,
         keepsTextScore: Bool = false) {
        self.namespace = namespace
        self.filter = filter
        self.hidesTextScore = filter.expression.containsText && !keepsTextScore
        self.projection = projection
        self.keyView = keyView
        self.statistics = statistics
        var s = State(snapshot: snapshot, skipRemaining: skip, limitRemaining: limit > 0 ? limit : nil)
        s.plan = PlanBox(plan)
        s.pending = plan.buffered.filter { $0.document != nil }
        s.deadline = deadline
        state = Locked(s)
    }

    /// A cursor over an aggregation pipeline's output. With `changes` it is a change stream's:
    /// it stays open at the end of the change log and ends only after an invalidate event;
    /// with `oplog`, a tailable cursor on `local.oplog.rs` that stays open at the log's end.
    init(namespace: Namespace, stream: any DocumentStream, deadline: ContinuousClock.Instant?,
         changes: ChangeStreamSource? = nil, oplog: OplogSource? = nil) {
        self.namespace = namespace
        self.filter = Filter(.and([]))
        self.projection = nil
        self.keyView = nil
        self.statistics = nil
        self.hidesTextScore = false
        var s = State(snapshot: nil, skipRemaining: 0, limitRemaining: nil)
        s.stream = StreamBox(stream)
        s.deadline = deadline
        s.changes = changes
        s.oplog = oplog
        state = Locked(s)
    }

    /// A tailable cursor over a capped collection: each read takes a new snapshot and goes on
    /// after the last document returned.
    init(tailing entry: CollectionEntry, storage: any StorageEngine, filter: Filter, projection: Projection?, skip: Int, limit: Int) {
        self.namespace = entry.namespace
        self.filter = filter
        self.projection = projection
        self.keyView = nil
        self.statistics = nil
        self.hidesTextScore = false
        var s = State(snapshot: nil, skipRemaining: skip, limitRemaining: limit > 0 ? limit : nil)
        s.tail = TailPosition(entry: entry, storage: storage)
        state = Locked(s)
    }

    /// Whether this cursor tails a capped collection, the oplog or a change stream (it is
    /// exhausted only by a limit or an invalidate).
    public var isTailable: Bool { state.withLock { $0.tail != nil || $0.changes != nil || $0.oplog != nil } }

    /// Whether this cursor reads a change stream.
    public var isChangeStream: Bool { state.withLock { $0.changes != nil } }

    /// A change stream's `postBatchResumeToken`: where the stream would resume after the
    /// documents returned so far (past events its stages filtered out, and up to the latest
    /// commit when it read the whole log).
    public var postBatchResumeToken: Document? {
        state.withLock { s in
            guard let changes = s.changes else { return nil }
            if !s.pending.isEmpty { return s.lastReturnedToken }
            return changes.latestTokenAsDocument
        }
    }

    deinit { close() }

    /// Stops the clock after a batch, keeping what is left of the time limit for the next
    /// (MongoDB's leftover maxTimeMS: a find's or aggregate's maxTimeMS bounds the work of the
    /// command and its getMores together, not the time a client takes between them).
    public func suspendDeadline() {
        state.withLock { s in
            if let deadline = s.deadline { s.leftover = max(.zero, deadline - ContinuousClock.now) }
            s.deadline = nil
        }
    }

    /// Starts the clock again for a getMore with what the last batch left of the time limit.
    /// - Throws: 50 MaxTimeMSExpired when nothing was left.
    public func resumeDeadline() throws(FolioError) {
        let leftover = state.withLock { s -> Duration? in
            s.deadline = s.leftover.map { ContinuousClock.now + $0 }
            return s.leftover
        }
        if let leftover, leftover <= .zero { throw FolioError(.maxTimeMSExpired, "operation exceeded time limit") }
    }

    /// Whether every result has been returned.
    public var isExhausted: Bool { state.withLock { $0.exhausted } }

    /// What the query plan examined so far, and its summary (the profiler's fields). Nil for
    /// an aggregation's cursor, whose stages are not plan stages.
    public var executionSummary: ExecutionSummary? {
        state.withLock { s in
            s.plan.map { box in
                let root = box.plan.root
                return ExecutionSummary(keysExamined: root.totalKeysExamined, docsExamined: root.totalDocsExamined,
                                        planSummary: root.summaryParts.joined(separator: ", "))
            }
        }
    }

    /// Returns up to `maxCount` documents totalling at most `maxBytes` (always at least one
    /// when any remain).
    public func next(maxCount: Int = .max, maxBytes: Int = Limits.maximumBatchSizeBytes) throws(FolioError) -> [RawDocument] {
        try state.withLock { (s: inout State) throws(FolioError) -> [RawDocument] in
            var out: [RawDocument] = []
            var bytes = 0
            while out.count < maxCount, !s.exhausted {
                if s.limitRemaining == 0 { finish(&s); break }
                guard let row = try nextMatch(&s), let raw = row.document else {
                    // A tailable cursor waits at the end for more, and a change stream until
                    // it is invalidated.
                    if s.tail == nil && s.oplog == nil && s.changes.map({ $0.ended }) ?? true { finish(&s) }
                    break
                }
                var rowToken: Document?
                if let changes = s.changes {
                    // The _id is the resume token: a stage that changed it made the stream
                    // impossible to resume.
                    let token = changes.latestTokenAsDocument
                    guard raw["_id"] == .document(token) else {
                        throw FolioError(.changeStreamFatalError, "Encountered an event whose _id field, which contains the resume token, was modified by the pipeline. Modifying the _id field of an event makes it impossible to resume the stream from that point. Only transformations that retain the unmodified _id field are allowed.")
                    }
                    rowToken = token
                }
                if s.skipRemaining > 0 { s.skipRemaining -= 1; continue }
                var result = raw
                if let keyView {
                    result = try keyView.result(row, raw, projection: projection, query: filter.expression)
                } else if let projection {
                    result = RawDocument(trusted: try projection.apply(to: raw.document(), query: filter.expression).bsonBytes())
                }
                if hidesTextScore { result = TextMatchStage.withoutScore(result) }
                if result.byteCount > Limits.maximumInternalDocumentSizeBytes {
                    throw FolioError(.bsonObjectTooLarge, "BSONObj size: \(result.byteCount) (0x\(String(result.byteCount, radix: 16, uppercase: true))) is invalid. Size must be between 0 and \(Limits.maximumInternalDocumentSizeBytes)(16MB)")
                }
                if !out.isEmpty && bytes + result.byteCount > maxBytes {
                    s.pending.insert(row, at: 0)
                    break
                }
                out.append(result)
                if let rowToken { s.lastReturnedToken = rowToken }
                bytes += result.byteCount
                if let l = s.limitRemaining { s.limitRemaining = l - 1 }
            }
            if !s.exhausted && s.limitRemaining == 0 { finish(&s) }
            return out
        }
    }

    /// Reads everything left.
    public func all() throws(FolioError) -> [RawDocument] {
        var out: [RawDocument] = []
        while !isExhausted { out += try next(maxCount: 1024) }
        return out
    }

    private func finish(_ s: inout State) {
        s.exhausted = true
        s.snapshot?.close()
        s.snapshot = nil
        s.stream = nil
        endPlan(s)
    }

    /// Marks the plan finished, counting its work the first time.
    private func endPlan(_ s: State) {
        guard let box = s.plan, !box.finished else { return }
        box.finished = true
        statistics?.record(box.plan.root, namespace)
    }

    private func nextMatch(_ s: inout State) throws(FolioError) -> PlanRow? {
        if !s.pending.isEmpty { return s.pending.removeFirst() }
        if let tail = s.tail {
            s.pending = try tail.read(filter)
            return s.pending.isEmpty ? nil : s.pending.removeFirst()
        }
        if let stream = s.stream {
            try Engine.checkDeadline(s.deadline)
            return try stream.stream.next().map { PlanRow(recordKey: [], document: RawDocument(trusted: $0.bsonBytes())) }
        }
        guard let plan = s.plan, !plan.finished else { return nil }
        var needTimes = 0
        while true {
            switch try plan.plan.root.work() {
            case .advanced(let row): return row
            // Stages return needTime after each storage chunk or rejected row: a cheap
            // place to honour maxTimeMS, and killOp every 64th (a task-local lookup).
            case .needTime:
                if let deadline = s.deadline, ContinuousClock.now >= deadline {
                    throw FolioError(.maxTimeMSExpired, "operation exceeded time limit")
                }
                needTimes &+= 1
                if needTimes & 63 == 0 { try OperationInterrupt.check() }
            case .eof: return nil
            }
        }
    }

    /// Releases the snapshot.
    public func close() {
        state.withLock { s in
            s.snapshot?.close()
            s.snapshot = nil
            s.stream = nil
            endPlan(s)
            s.exhausted = true
        }
    }

    /// The executed plan (for explain), when this cursor ran one.
    var executedPlan: PlannedQuery? { state.withLock { $0.plan?.plan } }
}

/// find's `returnKey` and `showRecordId`: what a result looks like when the client asks for
/// the index key it was found by, or for its storage key.
struct KeyView: Sendable {
    var returnKey: Bool
    var showRecordId: Bool
    /// The indexes the plan scans (their keys are what `returnKey` shows).
    var indexes: [IndexDescriptor]
    /// The plan reads `_id` directly (IDHACK, or min/max over the `_id` index).
    var byID: Bool

    init(returnKey: Bool, showRecordId: Bool, plan: PlanStage) {
        self.returnKey = returnKey
        self.showRecordId = showRecordId
        var indexes: [IndexDescriptor] = []
        var byID = false
        func walk(_ stage: PlanStage) {
            if let scan = stage as? IndexScanStage {
                if scan.overRecords { byID = true } else { indexes.append(scan.index) }
            }
            if stage is IDHackStage { byID = true }
            stage.children.forEach(walk)
        }
        walk(plan)
        self.indexes = indexes
        self.byID = byID
    }

    func result(_ row: PlanRow, _ raw: RawDocument, projection: Projection?, query: MatchExpression) throws(FolioError) -> RawDocument {
        var out: Document
        if returnKey {
            out = try key(row, raw.document())
        } else if let projection {
            out = try projection.apply(to: raw.document(), query: query)
        } else {
            out = raw.document()
        }
        if showRecordId { out.append("$recordId", .binary(Binary(subtype: 0, data: row.recordKey))) }
        return RawDocument(trusted: out.bsonBytes())
    }

    /// The index key of a row: the entry it came from when known, otherwise the document's
    /// only key for the plan's index; `{}` when no index was used.
    func key(_ row: PlanRow, _ document: Document) throws(FolioError) -> Document {
        if byID, indexes.isEmpty { return ["_id": document["_id"] ?? .null] }
        for index in indexes {
            let keys = try index.keys(for: document)
            var chosen = keys.values.indices.first
            if let entry = row.indexKey {
                chosen = keys.keys.indices.first { entry.count == keys.keys[$0].count + row.recordKey.count && entry.starts(with: keys.keys[$0]) }
                if chosen == nil { continue }
            }
            guard let j = chosen else { continue }
            var out = Document()
            for (f, v) in zip(index.fields, keys.values[j]) { out.append(f.path.dotted, v) }
            return out
        }
        return Document()
    }
}

/// @unchecked Sendable: plan stages live inside a Cursor's Mutex and are only touched under it.
final class PlanBox: @unchecked Sendable {
    let plan: PlannedQuery
    var finished = false
    init(_ plan: PlannedQuery) { self.plan = plan }
}

extension Engine {
    /// Runs a query; the cursor reads from one snapshot taken now.
    /// - Throws: parse errors of the filter, sort and projection; 292 when a sort exceeds
    ///   100 MB and `allowDiskUse` is false.
    public func find(_ ns: Namespace, _ request: FindRequest, sortMemoryLimitBytes: Int = Limits.blockingStageMemoryBytes) throws(FolioError) -> Cursor {
        if ns == oplogNamespace, snapshotCollections == nil { return try findOplog(request) }
        let collator = try Engine.collator(request.collation)
        let filter = try Filter(parsing: request.filter, constants: request.constants, collator: collator)
        let projection = try request.projection.flatMap { p throws(FolioError) -> Projection? in
            p.isEmpty ? nil : try Projection(parsing: p)
        }
        try Engine.checkSpecialPlans(filter.expression, sortPattern: request.sort, hint: request.hint, tailable: request.tailable)
        // `sort: {$natural: ±1}` asks for the natural order (a collection scan that way), as a
        // hint does; MongoDB plans it so.
        var sortPattern = request.sort, hint = request.hint
        if let s = sortPattern, s.count == 1, let natural = s["$natural"] {
            guard natural.isNumber, let n = natural.asDouble, n == 1 || n == -1 else {
                throw FolioError(.badValue, "$natural sort cannot be set to a value other than -1 or 1")
            }
            if hint == nil || hint?.documentValue?.isEmpty == true { hint = ["$natural": natural] }
            sortPattern = nil
        }
        if request.tailable { return try tail(ns, request, filter: filter, projection: projection, sortPattern: sortPattern) }
        let sort = try SortSpec.parsing(sortPattern, collator: collator)
        if !filter.expression.containsText && ((sort?.needsTextScore ?? false) || (projection?.needsTextScore ?? false)) {
            throw FolioError(ErrorCode(rawValue: 40218), "query requires text score metadata, but it is not available")
        }
        let deadline = request.maxTimeMilliseconds.flatMap { $0 > 0 ? ContinuousClock.now + .milliseconds($0) : nil }
        return try find(ns, filter: filter, projection: projection, sort: sort, sortPattern: sortPattern, skip: request.skip,
                        limit: request.limit, hint: hint, allowDiskUse: request.allowDiskUse, deadline: deadline,
                        sortMemoryLimitBytes: sortMemoryLimitBytes, min: request.min, max: request.max,
                        returnKey: request.returnKey, showRecordId: request.showRecordId)
    }

    /// A query over parsed parts (shared by find, count, distinct and aggregation sources):
    /// planned over one snapshot, executed lazily batch by batch.
    func find(_ ns: Namespace, filter: Filter, projection: Projection? = nil, sort: SortSpec? = nil, sortPattern: Document? = nil,
              skip: Int = 0, limit: Int = 0, hint: BSON? = nil, allowDiskUse: Bool = true, deadline: ContinuousClock.Instant?,
              sortMemoryLimitBytes: Int = Limits.blockingStageMemoryBytes, useCache: Bool = true,
              min: Document? = nil, max: Document? = nil, returnKey: Bool = false, showRecordId: Bool = false,
              textScore: Bool = false, geoDistance: Bool = false) throws(FolioError) -> Cursor {
        guard entry(ns) != nil else {
            // A missing collection has only the `_id` index: hint it, or `$natural`, or nothing.
            if let hint, !(hint.documentValue?.isEmpty ?? false) {
                _ = try PlanBuilder(entry: CollectionEntry(namespace: ns, uuid: [], options: [:]), snapshot: EmptySnapshot(),
                                    query: QueryRequest(filter: filter)).hinted(hint)
            }
            return Cursor(empty: ns)
        }
        let snapshot = try Folio_storage { () throws(StorageError) in try storage.snapshot() }
        // The entry is read after the snapshot: an index marked multikey by a write the
        // snapshot sees is marked in the entry too.
        guard let entry = entry(ns) else {
            snapshot.close()
            return Cursor(empty: ns)
        }
        let sortLimit = sort != nil && limit > 0 ? skip.addingSaturated(limit) : 0
        let request = QueryRequest(filter: filter, sort: sort, sortPattern: sortPattern, hint: hint, sortLimit: sortLimit,
                                   allowDiskUse: allowDiskUse, sortMemoryLimitBytes: sortMemoryLimitBytes, useCache: useCache,
                                   min: min, max: max, wantsIndexKeys: returnKey, wantsRecordIds: showRecordId, projection: projection,
                                   wantsTextScore: textScore, wantsGeoDistance: geoDistance)
        let planned: PlannedQuery
        do {
            planned = try plan(entry, snapshot, request)
        } catch {
            snapshot.close()
            throw error
        }
        let keyView = returnKey || showRecordId ? KeyView(returnKey: returnKey, showRecordId: showRecordId, plan: planned.root) : nil
        return Cursor(namespace: ns, snapshot: snapshot, plan: planned, filter: filter, projection: projection,
                      skip: skip, limit: limit, deadline: deadline, keyView: keyView, statistics: queryStatistics,
                      keepsTextScore: textScore)
    }

    /// Throws 50 MaxTimeMSExpired once `deadline` has passed, or what the running operation's
    /// interrupt throws (killOp, the command's own maxTimeMS).
    static func checkDeadline(_ deadline: ContinuousClock.Instant?) throws(FolioError) {
        if let deadline, ContinuousClock.now >= deadline {
            throw FolioError(.maxTimeMSExpired, "operation exceeded time limit")
        }
        try OperationInterrupt.check()
    }

    /// Counts matching documents (after skip, up to limit).
    public func count(_ ns: Namespace, filter: Document = Document(), skip: Int = 0, limit: Int = 0,
                      maxTimeMilliseconds: Int? = nil, hint: BSON? = nil, collation: Document? = nil) throws(FolioError) -> Int {
        if filter.isEmpty && skip == 0 && limit == 0 && hint == nil {
            _ = try Engine.collator(collation)
            return try estimatedCount(ns)
        }
        if Engine.mentionsNear(.document(filter)) {
            throw FolioError(ErrorCode(rawValue: 5626500), "$geoNear, $near, and $nearSphere are not allowed in this context, as these operators require sorting geospatial data. If you do not need sort, consider using $geoWithin instead.")
        }
        var request = FindRequest(filter: filter, skip: skip, limit: limit, maxTimeMilliseconds: maxTimeMilliseconds, hint: hint)
        request.collation = collation
        request.projection = Engine.countProjection(filter)
        let cursor = try find(ns, request)
        var n = 0
        while !cursor.isExhausted { n += try cursor.next(maxCount: 4096, maxBytes: .max).count }
        return n
    }

    /// A count needs no field of the documents, only the filter's: projecting onto the
    /// filter's top-level fields lets the planner answer it from an index's entries alone
    /// (PROJECTION_COVERED, no FETCH) when an index holds them all, as MongoDB's COUNT_SCAN
    /// does. Nil (fetch as any find) when the filter has a top-level operator or a dotted
    /// path, whose projection could collide or cover nothing.
    static func countProjection(_ filter: Document) -> Document? {
        var projection: Document = filter["_id"] == nil ? ["_id": 0] : [:]
        for key in filter.fieldNames {
            guard !key.hasPrefix("$"), !key.contains(".") else { return nil }
            projection.append(key, .int32(1))
        }
        return projection
    }

    /// Whether a filter uses `$near`/`$nearSphere` anywhere (count refuses them, as MongoDB does).
    static func mentionsNear(_ v: BSON) -> Bool {
        switch v {
        case .document(let d): return d.contains { $0.key == "$near" || $0.key == "$nearSphere" || mentionsNear($0.value) }
        case .array(let a): return a.contains(where: mentionsNear)
        default: return false
        }
    }

    /// Distinct values at a path among matching documents (arrays unwound), in first-seen
    /// order; under a collation, values equal under it count once (the first seen is kept).
    public func distinct(_ ns: Namespace, key: String, filter: Document = Document(),
                         maxTimeMilliseconds: Int? = nil, collation: Document? = nil, hint: BSON? = nil) throws(FolioError) -> [BSON] {
        let collator = try Engine.collator(collation)
        let deadline = maxTimeMilliseconds.flatMap { $0 > 0 ? ContinuousClock.now + .milliseconds($0) : nil }
        let cursor = try find(ns, filter: try Filter(parsing: filter, collator: collator), hint: hint, deadline: deadline)
        var out: [BSON] = []
        var seen = Set<[UInt8]>()
        let path = FieldPath(key)
        while !cursor.isExhausted {
            for raw in try cursor.next(maxCount: 1024, maxBytes: .max) {
                // KeyString equality is MongoDB's value equality (1 == 1.0 == 1L).
                for v in Engine.values(.document(raw.document()), path.components[...])
                where seen.insert(KeyString.encode(v.collated(collator))).inserted {
                    out.append(v)
                }
            }
        }
        return out
    }

    static func values(_ value: BSON, _ path: ArraySlice<String>) -> [BSON] {
        guard let first = path.first else {
            if case .array(let a) = value { return a }
            return [value]
        }
        switch value {
        case .document(let d): return d[first].map { values($0, path.dropFirst()) } ?? []
        case .array(let a): return a.flatMap { values($0, path) }
        default: return []
        }
    }
}

/// @unchecked Sendable: a pipeline's streams live inside a Cursor's Mutex and are only
/// touched under it.
final class StreamBox: @unchecked Sendable {
    let stream: any DocumentStream
    init(_ stream: any DocumentStream) { self.stream = stream }
}
