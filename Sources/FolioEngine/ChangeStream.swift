import FolioBSON
import FolioQuery
import FolioStorage
import Synchronization
import DequeModule

// Change streams: events read from the change log (ChangeLog.swift), as MongoDB 8.0 builds
// them from its oplog.
//
// A stream is a source of events (ChangeStreamSource) under the stages the client added
// ($match, $project, ...), read by a cursor that stays open at the end of the log. Each read
// takes a new snapshot and goes on after the last log entry it read; an event's `_id` is
// its resume token, which names its place in the log.
//
// Resume tokens: `{_data: <hex>}` of 0x82, the cluster time (8 bytes), the log entry's part
// (4), the event's index in a transaction (4) and its kind (1: 0 for a high-water mark, 1 for
// an event, 2 for an invalidate). Hex of big-endian fields orders tokens as their events are
// ordered, as MongoDB's do. A stream resumes strictly after the token's place; a high-water
// mark's place is after every entry of its time.

/// Where a change stream is, as its resume tokens name it.
public struct ResumeToken: Sendable, Hashable, Comparable {
    public enum Kind: UInt8, Sendable { case highWaterMark = 0, event = 1, invalidate = 2 }
    public var time: Timestamp
    var part: UInt32
    var index: UInt32
    public var kind: Kind

    init(time: Timestamp, part: UInt32, index: UInt32, kind: Kind) {
        self.time = time
        self.part = part
        self.index = index
        self.kind = kind
    }

    /// The place after every entry of `time`.
    static func highWaterMark(_ time: Timestamp) -> ResumeToken {
        ResumeToken(time: time, part: .max, index: .max, kind: .highWaterMark)
    }

    public static func < (a: ResumeToken, b: ResumeToken) -> Bool {
        (a.time, a.part, a.index, a.kind.rawValue) < (b.time, b.part, b.index, b.kind.rawValue)
    }

    var bytes: [UInt8] {
        var out: [UInt8] = [0x82]
        let raw = UInt64(time.seconds) << 32 | UInt64(time.increment)
        withUnsafeBytes(of: raw.bigEndian) { out.append(contentsOf: $0) }
        withUnsafeBytes(of: part.bigEndian) { out.append(contentsOf: $0) }
        withUnsafeBytes(of: index.bigEndian) { out.append(contentsOf: $0) }
        out.append(kind.rawValue)
        return out
    }

    /// `{_data: <hex>}`, as events carry it.
    public var document: Document { ["_data": .string(Hex.encode(bytes, uppercase: true))] }

    /// Reads a token a client gives back (`resumeAfter`, `startAfter`).
    /// - Throws: 14 for a token that is not a document, 9 for one this server did not make.
    public init(parsing value: BSON, field: String) throws(FolioError) {
        guard case .document(let d) = value else {
            throw FolioError(.typeMismatch, "BSON field '$changeStream.\(field)' is the wrong type '\(value.type.alias)', expected type 'object'")
        }
        guard case .string(let hex)? = d["_data"] else {
            throw FolioError(.failedToParse, "Bad resume token: _data of missing or of wrong type. Expected string, got \(d)")
        }
        guard let bytes = Hex.decode(hex) else {
            throw FolioError(.failedToParse, "resume token string was not a valid hex string")
        }
        guard bytes.count == 18, bytes[0] == 0x82, let kind = Kind(rawValue: bytes[17]) else {
            throw FolioError(.failedToParse, "Bad resume token: not a resume token of this server: \(hex)")
        }
        func int(_ range: Range<Int>) -> UInt64 { bytes[range].reduce(0) { $0 << 8 | UInt64($1) } }
        self.init(time: Timestamp(rawValue: int(1..<9)), part: UInt32(int(9..<13)), index: UInt32(int(13..<17)), kind: kind)
    }
}

/// What a `$changeStream` stage asks for.
public struct ChangeStreamSpec: Sendable {
    public enum Scope: Sendable, Equatable {
        case collection(Namespace)
        case database(String)
        case cluster
    }

    public var scope: Scope
    /// `fullDocument`: default, updateLookup, whenAvailable or required.
    public var fullDocument = "default"
    /// `fullDocumentBeforeChange`: off, whenAvailable or required.
    public var fullDocumentBeforeChange = "off"
    public var resumeAfter: ResumeToken?
    public var startAfter: ResumeToken?
    public var startAtOperationTime: Timestamp?
    public var showExpandedEvents = false

    public init(scope: Scope) { self.scope = scope }

    /// Reads the `$changeStream` stage's document. `database` is the command's database;
    /// `collection` is nil for `aggregate: 1`.
    /// - Throws: 40415 for an unknown field, 14 for a wrong type, 2 for a bad option value,
    ///   40674 for both resumeAfter and startAfter, 73 for a namespace that has no stream.
    public init(parsing spec: Document, database: String, collection: String?) throws(FolioError) {
        var allChanges = false
        var scope: Scope
        for (k, v) in spec {
            switch k {
            case "allChangesForCluster":
                guard case .bool(let b) = v else { throw ChangeStreamSpec.wrongType(k, v, "bool") }
                allChanges = b
            default: continue
            }
        }
        if allChanges {
            guard database == "admin", collection == nil else {
                throw FolioError(.invalidNamespace, "$changeStream may only be run with 'allChangesForCluster: true' on the 'admin' database with {aggregate: 1}")
            }
            scope = .cluster
        } else if let collection {
            if collection.hasPrefix("system.") {
                throw FolioError(.invalidNamespace, "$changeStream may not be opened on the internal \(database).\(collection) collection")
            }
            scope = .collection(try Namespace(database: database, collection: collection))
        } else {
            scope = .database(database)
        }
        if case .cluster = scope {} else if ["admin", "config", "local"].contains(database) {
            throw FolioError(.invalidNamespace, "$changeStream may not be opened on the internal \(database) database")
        }
        self.init(scope: scope)
        for (k, v) in spec {
            switch k {
            case "allChangesForCluster": continue
            case "fullDocument":
                guard case .string(let s) = v else { throw ChangeStreamSpec.wrongType(k, v, "string") }
                guard ["default", "updateLookup", "whenAvailable", "required"].contains(s) else {
                    throw FolioError(.badValue, "'\(s)' is not a valid value for the fullDocument option")
                }
                fullDocument = s
            case "fullDocumentBeforeChange":
                guard case .string(let s) = v else { throw ChangeStreamSpec.wrongType(k, v, "string") }
                guard ["off", "whenAvailable", "required"].contains(s) else {
                    throw FolioError(.badValue, "'\(s)' is not a valid value for the fullDocumentBeforeChange option")
                }
                fullDocumentBeforeChange = s
            case "resumeAfter": resumeAfter = try ResumeToken(parsing: v, field: k)
            case "startAfter": startAfter = try ResumeToken(parsing: v, field: k)
            case "startAtOperationTime":
                guard case .timestamp(let t) = v else { throw ChangeStreamSpec.wrongType(k, v, "timestamp") }
                startAtOperationTime = t
            case "showExpandedEvents":
                guard case .bool(let b) = v else { throw ChangeStreamSpec.wrongType(k, v, "bool") }
                showExpandedEvents = b
            case "allowToRunOnConfigDB", "allowToRunOnSystemNS", "showSystemEvents", "showMigrationEvents", "showRawUpdateDescription":
                guard case .bool(false) = v else {
                    throw FolioError(.commandNotSupported, "$changeStream option '\(k)' is not supported by Folio")
                }
            default:
                throw FolioError(ErrorCode(rawValue: 40415), "BSON field '$changeStream.\(k)' is an unknown field.")
            }
        }
        if resumeAfter != nil && startAfter != nil {
            throw FolioError(ErrorCode(rawValue: 40674), "Only one type of resume option is allowed, but multiple were found.")
        }
        if startAtOperationTime != nil && (resumeAfter != nil || startAfter != nil) {
            throw FolioError(ErrorCode(rawValue: 40674), "Only one type of resume option is allowed, but multiple were found.")
        }
        if resumeAfter?.kind == .invalidate {
            throw FolioError(.invalidResumeToken, "Attempting to resume a change stream using 'resumeAfter' is not allowed from an invalidate notification.")
        }
    }

    static func wrongType(_ field: String, _ v: BSON, _ expected: String) -> FolioError {
        FolioError(.typeMismatch, "BSON field '$changeStream.\(field)' is the wrong type '\(v.type.alias)', expected type '\(expected)'")
    }

    /// The stages MongoDB allows after `$changeStream`.
    public static let allowedStages: Set<String> = ["$match", "$project", "$addFields", "$set", "$unset", "$replaceRoot",
                                                    "$replaceWith", "$redact", "$changeStreamSplitLargeEvent"]

    /// Whether an event of namespace `ns` (database, collection) belongs to the stream.
    func covers(database: String, collection: String?) -> Bool {
        if let collection, collection.hasPrefix("system.") { return false }
        switch scope {
        case .collection(let ns): return ns.database == database && (collection == nil || ns.collection == collection)
        case .database(let db): return db == database
        case .cluster: return !["admin", "config", "local"].contains(database)
        }
    }
}

/// The events of a change stream, read from the change log.
final class ChangeStreamSource: DocumentStream, @unchecked Sendable {
    // @unchecked: used under its cursor's lock only.
    let engine: Engine
    let spec: ChangeStreamSpec
    /// The last place consumed: events at or before it are not returned.
    var after: ResumeToken
    /// Events at or after this time only (startAtOperationTime).
    var notBefore: Timestamp?
    /// The next log key to read.
    var scanKey: [UInt8]
    /// Events read and not yet handed out (a deque: a read can bring thousands at once).
    var pending: Deque<(token: ResumeToken, event: Document)> = []
    /// The token of the last event handed out, or the high-water mark the log was read to.
    private(set) var latestToken: ResumeToken {
        didSet { latestTokenDocument = nil }
    }
    private var latestTokenDocument: Document?

    /// `latestToken` as events and replies carry it (made once per token).
    var latestTokenAsDocument: Document {
        if let d = latestTokenDocument { return d }
        let d = latestToken.document
        latestTokenDocument = d
        return d
    }
    /// After an invalidate: nothing more comes.
    private(set) var ended = false
    /// A transaction's events are returned from its entry one by one.
    static let entriesPerRead = 128
    /// A read stops after the row that brings its events to this many (rows of a whole
    /// insert_many hold thousands each).
    static let eventsPerRead = 4_096

    init(engine: Engine, spec: ChangeStreamSpec) throws(FolioError) {
        self.engine = engine
        self.spec = spec
        let latest = engine.clusterTime
        let oldest = try engine.oldestChangeTime()
        if let token = spec.resumeAfter ?? spec.startAfter {
            if token.time > latest {
                throw FolioError(.invalidResumeToken, "cannot resume a change stream from a token whose time \(token.time) is after the latest commit \(latest)")
            }
            if let oldest, token.time < oldest {
                throw FolioError(.changeStreamHistoryLost, "Resume of change stream was not possible, as the resume point may no longer be in the oplog.")
            }
            after = token
            scanKey = try engine.changeLogRow(containing: token.time)
        } else if let time = spec.startAtOperationTime {
            if let oldest, time < oldest {
                throw FolioError(.changeStreamHistoryLost, "Resume of change stream was not possible, as the resume point may no longer be in the oplog.")
            }
            notBefore = time
            after = ResumeToken(time: Timestamp(rawValue: 0), part: 0, index: 0, kind: .highWaterMark)
            scanKey = try engine.changeLogRow(containing: time)
        } else {
            after = .highWaterMark(latest)
            scanKey = ChangeLog.key(Timestamp(rawValue: latest.rawValue &+ 1))
        }
        // Until an event comes, the stream's place is where it started.
        latestToken = spec.startAtOperationTime.map { t in
            .highWaterMark(Timestamp(rawValue: max(1, t.rawValue) - 1))
        } ?? after
    }

    func next() throws(FolioError) -> Document? {
        if pending.isEmpty && !ended { try read() }
        guard !pending.isEmpty else { return nil }
        let (token, event) = pending.removeFirst()
        latestToken = token
        if case .document(let id)? = event["_id"] { latestTokenDocument = id }
        if token.kind == .invalidate { ended = true; pending.removeAll() }
        return event
    }

    /// Reads the next log entries into `pending`; at the end of the log the stream's place
    /// becomes the high-water mark of the latest commit.
    private func read() throws(FolioError) {
        while pending.isEmpty {
            try OperationInterrupt.check()
            // The newest entries come from the shared tail (decoded once for every stream);
            // older ones from a snapshot, whose commits are all those up to `latest`.
            var latest: Timestamp
            var entries: [(key: [UInt8], documents: () throws(FolioError) -> [Document])]
            var more = false
            if let (recent, time) = engine.committer.changeLogTail.read(from: scanKey, limit: ChangeStreamSource.entriesPerRead) {
                latest = time
                entries = recent.map { e in (e.key, { () throws(FolioError) in try e.documents() }) }
            } else {
                latest = engine.clusterTime
                let stored = try Folio_storage { () throws(StorageError) in
                    let snapshot = try engine.storage.snapshot()
                    defer { snapshot.close() }
                    return try ChangeLog.rows(snapshot, KeyRange(lower: scanKey), limit: ChangeStreamSource.entriesPerRead)
                }
                more = stored.more
                entries = stored.rows.map { e in (e.key, { () throws(FolioError) in try ChangeLog.entries(e.value) }) }
            }
            for (key, documents) in entries {
                scanKey = key + [0]
                guard let position = key.withUnsafeBufferPointer({ ChangeLog.position($0) }) else { continue }
                // A row may hold a run of writes: each has its own time, from the row's key on.
                for entry in try documents() {
                    try events(entry, time: ChangeLog.time(entry) ?? position.time, part: position.part)
                    if ended { break }
                }
                if ended { break }
                // The rest of the rows wait for the next read (from `scanKey`).
                if pending.count >= ChangeStreamSource.eventsPerRead { return }
            }
            if entries.count < ChangeStreamSource.entriesPerRead && !more {
                let mark = ResumeToken.highWaterMark(latest)
                if pending.isEmpty && mark > latestToken && mark > after && notBefore.map({ latest >= $0 }) ?? true {
                    latestToken = mark
                }
                return
            }
        }
    }

    /// Adds the events of one log entry that belong to the stream.
    private func events(_ entry: Document, time: Timestamp, part: UInt32) throws(FolioError) {
        if let notBefore, time < notBefore { return }
        let wall = entry["wall"] ?? .null
        let op = entry["op"]?.stringValue ?? ""
        if op == "c", case .document(let o)? = entry["o"], case .array(let ops)? = o["applyOps"] {
            for (i, item) in ops.enumerated() {
                guard case .document(let inner) = item else { continue }
                var extra = Document()
                if let lsid = entry["lsid"] { extra.append("lsid", lsid) }
                if let n = entry["txnNumber"] { extra.append("txnNumber", n) }
                try event(inner, time: time, wall: wall, token: ResumeToken(time: time, part: part, index: UInt32(i), kind: .event),
                          extra: extra)
            }
            return
        }
        try event(entry, time: time, wall: wall, token: ResumeToken(time: time, part: part, index: 0, kind: .event), extra: Document())
    }

    private func add(_ token: ResumeToken, _ event: Document) {
        if token > after { pending.append((token, event)) }
    }

    private func header(_ type: String, _ token: ResumeToken, wall: BSON, uuid: BSON?) -> Document {
        var d: Document = ["_id": .document(token.document), "operationType": .string(type), "clusterTime": .timestamp(token.time)]
        d.append("wallTime", wall)
        if spec.showExpandedEvents, let uuid { d.append("collectionUUID", uuid) }
        return d
    }

    private static func split(_ ns: String) -> (database: String, collection: String)? {
        guard let dot = ns.firstIndex(of: ".") else { return nil }
        return (String(ns[..<dot]), String(ns[ns.index(after: dot)...]))
    }

    private func event(_ entry: Document, time: Timestamp, wall: BSON, token: ResumeToken, extra: Document) throws(FolioError) {
        // An entry at or before the resume point (its invalidate may still be after it).
        var invalidating = token
        invalidating.kind = .invalidate
        guard invalidating > after else { return }
        guard let op = entry["op"]?.stringValue, let nsString = entry["ns"]?.stringValue,
              let (database, collection) = ChangeStreamSource.split(nsString) else { return }
        let uuid = entry["ui"]
        let o: Document = if case .document(let d)? = entry["o"] { d } else { Document() }
        let o2: Document? = if case .document(let d)? = entry["o2"] { d } else { nil }
        let images: Document? = if case .document(let d)? = entry[ChangeLog.imagesField] { d } else { nil }
        func ns(_ db: String, _ coll: String?) -> BSON {
            var d: Document = ["db": .string(db)]
            if let coll { d.append("coll", .string(coll)) }
            return .document(d)
        }
        switch op {
        case "i", "u", "d":
            guard spec.covers(database: database, collection: collection) else { return }
            let key: Document = o2 ?? (op == "d" ? o : ["_id": o["_id"] ?? .null])
            let replace = op == "u" && o["$v"] == nil
            var d = header(op == "i" ? "insert" : op == "d" ? "delete" : replace ? "replace" : "update", token, wall: wall, uuid: uuid)
            if op == "i" || replace { d.append("fullDocument", .document(o)) }
            d.append("ns", ns(database, collection))
            d.append("documentKey", .document(key))
            if op == "u" && !replace {
                guard case .document(let diff)? = o["diff"] else { return }
                d.append("updateDescription", .document(DocumentDiff.updateDescription(diff, disambiguate: spec.showExpandedEvents)))
                switch spec.fullDocument {
                case "updateLookup":
                    d.append("fullDocument", try lookup(database, collection, key: key, uuid: uuid).map(BSON.document) ?? .null)
                case "whenAvailable", "required":
                    d.append("fullDocument", try image(images?["postImage"], mode: spec.fullDocument, "post", token))
                default: break
                }
            }
            if op != "i" && spec.fullDocumentBeforeChange != "off" {
                d.append("fullDocumentBeforeChange", try image(images?["preImage"], mode: spec.fullDocumentBeforeChange, "pre", token))
            }
            for (k, v) in extra { d.append(k, v) }
            add(token, d)
        case "c":
            guard let name = o.fieldNames.first else { return }
            let target = o[name]?.stringValue
            switch name {
            case "drop":
                guard let target, spec.covers(database: database, collection: target) else { return }
                var d = header("drop", token, wall: wall, uuid: uuid)
                d.append("ns", ns(database, target))
                add(token, d)
                if case .collection = spec.scope { invalidate(token, wall: wall) }
            case "renameCollection":
                guard let from = target.flatMap(ChangeStreamSource.split), let to = o["to"]?.stringValue.flatMap(ChangeStreamSource.split),
                      spec.covers(database: from.database, collection: from.collection) else { return }
                var d = header("rename", token, wall: wall, uuid: uuid)
                d.append("ns", ns(from.database, from.collection))
                d.append("to", ns(to.database, to.collection))
                if spec.showExpandedEvents {
                    var description: Document = ["to": ns(to.database, to.collection)]
                    if case .binary(let b)? = o["dropTarget"] { description.append("dropTarget", .binary(b)) }
                    d.append("operationDescription", .document(description))
                }
                add(token, d)
                if case .collection = spec.scope { invalidate(token, wall: wall) }
            case "dropDatabase":
                guard spec.covers(database: database, collection: nil) else { return }
                if case .collection = spec.scope { return }
                var d = header("dropDatabase", token, wall: wall, uuid: nil)
                d.append("ns", ns(database, nil))
                add(token, d)
                if case .database = spec.scope { invalidate(token, wall: wall) }
            case "create", "createIndexes", "dropIndexes", "collMod":
                guard spec.showExpandedEvents, let target, spec.covers(database: database, collection: target) else { return }
                let type = ["create": "create", "createIndexes": "createIndexes", "dropIndexes": "dropIndexes", "collMod": "modify"][name]!
                var d = header(type, token, wall: wall, uuid: uuid)
                d.append("ns", ns(database, target))
                var description = Document()
                switch name {
                case "create":
                    for (k, v) in o where k != "create" { description.append(k, v) }
                case "createIndexes":
                    var spec = Document()
                    for (k, v) in o where k != "createIndexes" { spec.append(k, v) }
                    description.append("indexes", .array([.document(spec)]))
                case "dropIndexes":
                    description.append("indexes", .array([.document(o2 ?? ["name": o["index"] ?? .null])]))
                default:
                    for (k, v) in o where k != "collMod" { description.append(k, v) }
                }
                d.append("operationDescription", .document(description))
                add(token, d)
            default:
                return
            }
        default:
            return
        }
    }

    /// A pre- or post-image the entry kept, null when it has none (`whenAvailable`), or 47
    /// when one is `required`.
    private func image(_ kept: BSON?, mode: String, _ kind: String, _ token: ResumeToken) throws(FolioError) -> BSON {
        if case .document(let d)? = kept { return .document(d) }
        if mode == "required" {
            throw FolioError(ErrorCode(rawValue: 47), "Change stream was configured to require a \(kind)-image for all update, delete and replace events, but the \(kind)-image was not found for event: \(token.document)")
        }
        return .null
    }

    private func invalidate(_ token: ResumeToken, wall: BSON) {
        var t = token
        t.kind = .invalidate
        var d: Document = ["_id": .document(t.document), "operationType": "invalidate", "clusterTime": .timestamp(t.time)]
        d.append("wallTime", wall)
        add(t, d)
    }

    /// The current version of a document (fullDocument: updateLookup), nil when it is gone or
    /// its collection is not the one the event was in.
    private func lookup(_ database: String, _ collection: String, key: Document, uuid: BSON?) throws(FolioError) -> Document? {
        guard let ns = try? Namespace(database: database, collection: collection), let entry = engine.entry(ns),
              let id = key["_id"] else { return nil }
        if case .binary(let b)? = uuid, b.data != entry.uuid { return nil }
        return try Folio_storage { () throws(StorageError) -> [UInt8]? in
            let snapshot = try engine.storage.snapshot()
            defer { snapshot.close() }
            return try snapshot.get(entry.recordStore, KeyString.encode(id))
        }.map { RawDocument(trusted: $0).document() }
    }
}

extension Engine {
    /// The key of the stored row that holds the entry of `time`, or would: the greatest key at
    /// or before the time's own (a run of writes is stored under its first one's time).
    func changeLogRow(containing time: Timestamp) throws(FolioError) -> [UInt8] {
        let own = ChangeLog.key(time)
        return try Folio_storage { () throws(StorageError) -> [UInt8] in
            let snapshot = try storage.snapshot()
            defer { snapshot.close() }
            return try snapshot.scan(ChangeLog.store, KeyRange(lower: nil, upper: own, upperInclusive: true), reverse: true, limit: 1).first?.key ?? own
        }
    }

    /// The time of the oldest entry the change log still has (nil when it is empty).
    func oldestChangeTime() throws(FolioError) -> Timestamp? {
        try Folio_storage { () throws(StorageError) -> Timestamp? in
            let snapshot = try storage.snapshot()
            defer { snapshot.close() }
            guard let first = try snapshot.scan(ChangeLog.store, .all, reverse: false, limit: 1).first else { return nil }
            return first.key.withUnsafeBufferPointer { ChangeLog.position($0)?.time }
        }
    }

    /// Opens a change stream: `spec`'s events under `pipeline` (the stages after
    /// `$changeStream`, which must be among `ChangeStreamSpec.allowedStages`).
    /// - Throws: the spec's errors, 286 ChangeStreamHistoryLost for a resume point the log no
    ///   longer has, 260 for a token after the latest commit, stage errors.
    public func watch(_ spec: ChangeStreamSpec, pipeline: [BSON], constants: [String: BSON] = [:],
                      collation: Document? = nil) throws(FolioError) -> Cursor {
        let collator = try Engine.collator(collation)
        for case .document(let stage) in pipeline {
            guard let name = stage.fieldNames.first else { continue }
            if name == "$changeStream" {
                throw FolioError(ErrorCode(rawValue: 40602), "$changeStream is only valid as the first stage in a pipeline")
            }
        }
        let parsed = try AggregationPipeline(parsing: pipeline, constants: constants, collator: collator)
        if parsed.matchesText {
            // The events are not the collection: no text index answers them.
            throw FolioError(ErrorCode(rawValue: 17313), "$match with $text is only allowed as the first pipeline stage")
        }
        for case .document(let stage) in pipeline {
            guard let name = stage.fieldNames.first else { continue }
            if !ChangeStreamSpec.allowedStages.contains(name) {
                throw FolioError(.illegalOperation, "\(name) is not permitted in a $changeStream pipeline")
            }
        }
        let source = try ChangeStreamSource(engine: self, spec: spec)
        // The cursor's namespace: the collection, or `<db>._cmd.aggregate` as for `aggregate: 1`.
        let ns: Namespace
        switch spec.scope {
        case .collection(let n): ns = n
        case .database(let db): ns = try Namespace(database: db, collection: "_cmd.aggregate")
        case .cluster: ns = try Namespace(database: "admin", collection: "_cmd.aggregate")
        }
        let database = ns.database
        let environment = PipelineEnvironment(engine: self, database: database, now: Int64(ObjectID.currentSeconds()) * 1000,
                                              allowDiskUse: false, deadline: nil, bypassDocumentValidation: false,
                                              hostStages: nil, collator: collator)
        let stream = try build(parsed.stages[...], source: .stream(source), environment: environment)
        return Cursor(namespace: ns, stream: stream, deadline: nil, changes: source)
    }
}
