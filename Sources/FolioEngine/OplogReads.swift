import FolioBSON
import FolioQuery
import FolioStorage
import DequeModule

// `local.oplog.rs`: the change log read as MongoDB's oplog, for the tools that tail it
// (Meteor-style apps, replication and CDC tools). find with a filter, a projection, skip,
// limit, `$natural` order either way, and `tailable`/`awaitData` cursors that go on after
// the last entry read. A filter on `ts` from below (`$gt`/`$gte`) starts the scan there
// instead of at the log's beginning.

/// Where the oplog lives, as MongoDB names it.
public let oplogNamespace = try! Namespace(database: "local", collection: "oplog.rs")

/// Entries of the change log in key order (or reverse), each read with a new snapshot.
final class OplogSource: DocumentStream, @unchecked Sendable {
    // @unchecked: used under its cursor's lock only.
    let engine: Engine
    let filter: Filter
    let reverse: Bool
    let tailable: Bool
    /// The last key read (nil: none yet).
    var lastKey: [UInt8]?
    /// Where the first read starts (a `ts` lower bound).
    var startKey: [UInt8]?
    /// Entries read and not yet returned (a deque: a row can hold thousands).
    var buffer: Deque<Document> = []
    /// Rows a reverse read takes at once: from 1, doubling while rows are small.
    var reverseRows = 1
    private(set) var ended = false

    init(engine: Engine, filter: Filter, reverse: Bool, tailable: Bool, startKey: [UInt8]?) {
        self.engine = engine
        self.filter = filter
        self.reverse = reverse
        self.tailable = tailable
        self.startKey = startKey
    }

    func next() throws(FolioError) -> Document? {
        while buffer.isEmpty {
            guard !ended, try read() else { return nil }
        }
        return buffer.removeFirst()
    }

    /// Reads the next chunk; false when there is nothing more now.
    private func read() throws(FolioError) -> Bool {
        let range: KeyRange
        if reverse {
            range = KeyRange(lower: nil, upper: lastKey, upperInclusive: false)
        } else if let lastKey {
            range = KeyRange(lower: lastKey, lowerInclusive: false)
        } else {
            range = KeyRange(lower: startKey)
        }
        let (entries, oldest) = try Folio_storage { () throws(StorageError) in
            let snapshot = try engine.storage.snapshot()
            defer { snapshot.close() }
            // Forward, as many rows as `ChangeLog.readBytes` allows; backward (`$natural: -1`,
            // often to find the latest entry) a few, then more while they are small.
            let entries: (rows: [(key: [UInt8], value: [UInt8])], more: Bool)
            if reverse {
                entries = (try snapshot.scan(ChangeLog.store, range, reverse: true, limit: reverseRows), false)
            } else {
                entries = try ChangeLog.rows(snapshot, range, limit: 256)
            }
            let oldest = tailable && lastKey != nil ? try snapshot.scan(ChangeLog.store, .all, reverse: false, limit: 1).first?.key : nil
            return (entries, oldest)
        }
        let limit = reverse ? reverseRows : 256
        if reverse, entries.rows.reduce(0, { $0 + $1.value.count }) < ChangeLog.readBytes / 2 { reverseRows = min(256, reverseRows * 2) }
        if tailable, let lastKey, let oldest, compareKeys(oldest, lastKey) > 0 {
            throw FolioError(.cappedPositionLost, "CollectionScan died due to position in capped collection being deleted. Last seen record id: \(lastKey)")
        }
        for (key, value) in entries.rows {
            lastKey = key
            let row = try ChangeLog.entries(value)
            for var d in reverse ? row.reversed() : row {
                d.removeValue(forKey: ChangeLog.imagesField)
                d.removeValue(forKey: ChangeLog.retryField)
                if filter.matches(d) { buffer.append(d) }
            }
        }
        if entries.rows.count < limit && !entries.more && !tailable { ended = true }
        return !entries.rows.isEmpty
    }
}

extension Engine {
    /// find on `local.oplog.rs`.
    /// - Throws: parse errors of the filter, sort and projection; 2 for a sort other than
    ///   `$natural` on a tailable cursor.
    func findOplog(_ request: FindRequest) throws(FolioError) -> Cursor {
        let collator = try Engine.collator(request.collation)
        let filter = try Filter(parsing: request.filter, constants: request.constants, collator: collator)
        var reverse = false
        var sort: Document?
        if let s = request.sort, !s.isEmpty {
            if s.count == 1, let natural = s["$natural"], let direction = natural.asDouble {
                reverse = direction < 0
            } else {
                sort = s
            }
        }
        if case .document(let hint)? = request.hint, let natural = hint["$natural"]?.asDouble { reverse = reverse || natural < 0 }
        if request.tailable && (sort != nil || reverse) {
            throw FolioError(.badValue, "error processing query: tailable cursor requested on non capped collection")
        }
        let start = reverse ? nil : try Engine.oplogStart(request.filter).map { t throws(FolioError) in try changeLogRow(containing: t) }
        let source = OplogSource(engine: self, filter: filter, reverse: reverse, tailable: request.tailable, startKey: start)
        var pipeline: [BSON] = []
        if let sort { pipeline.append(["$sort": .document(sort)]) }
        if request.skip > 0 { pipeline.append(["$skip": .int64(Int64(request.skip))]) }
        if request.limit > 0 { pipeline.append(["$limit": .int64(Int64(request.limit))]) }
        if let projection = request.projection, !projection.isEmpty { pipeline.append(["$project": .document(projection)]) }
        let parsedPipeline = try AggregationPipeline(parsing: pipeline, constants: request.constants, collator: collator)
        if parsedPipeline.matchesText { throw FolioError(.indexNotFound, "text index required for $text query") }
        let stages = parsedPipeline.stages
        let environment = PipelineEnvironment(engine: self, database: "local", now: Int64(ObjectID.currentSeconds()) * 1000,
                                              allowDiskUse: request.allowDiskUse, deadline: nil, bypassDocumentValidation: false,
                                              hostStages: nil, collator: collator)
        let stream = try build(stages[...], source: .stream(source), environment: environment)
        return Cursor(namespace: oplogNamespace, stream: stream, deadline: nil, oplog: request.tailable ? source : nil)
    }

    /// The time a filter's lower bound on `ts` allows starting at (`{ts: {$gt: T}}`,
    /// `{ts: {$gte: T}}`, or either inside a top-level `$and`).
    static func oplogStart(_ filter: Document) -> Timestamp? {
        var best: Timestamp?
        func consider(_ d: Document) {
            guard case .document(let condition)? = d["ts"] else {
                if case .timestamp(let t)? = d["ts"] { best = max(best ?? t, t) }
                return
            }
            for op in ["$gt", "$gte"] {
                if case .timestamp(let t)? = condition[op] { best = max(best ?? t, t) }
            }
        }
        consider(filter)
        if case .array(let clauses)? = filter["$and"] {
            for case .document(let c) in clauses { consider(c) }
        }
        return best
    }
}
