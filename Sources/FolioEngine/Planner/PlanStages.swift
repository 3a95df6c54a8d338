import FolioBSON
import FolioQuery
import FolioStorage

// Query execution stages in MongoDB's work() model: each call does a bounded unit of work
// and either advances a row, needs more time, or reports the end. The model lets the planner
// run candidate plans side by side with one budget, and explain report true counts
// (works, advanced, keys and documents examined) per stage.

/// A row moving between stages: the record key and, once fetched, the document.
struct PlanRow {
    var recordKey: [UInt8]
    var document: RawDocument?
    /// The index entry's key (field part + record key), when the plan was asked to keep it
    /// (`returnKey`).
    var indexKey: [UInt8]? = nil
    /// A text index entry's score (the entry value's tail), for TEXT_OR to add up.
    var score: Double? = nil
}

enum WorkResult {
    case advanced(PlanRow)
    case needTime
    case eof
}

/// The base of every stage: counters and the explain form.
class PlanStage {
    final var works = 0
    final var advanced = 0
    final var needTime = 0
    final var isEOF = false
    var children: [PlanStage] { [] }
    var stageName: String { "" }
    var keysExamined: Int { 0 }
    var docsExamined: Int { 0 }
    /// Whether a blocking sort runs in this subtree.
    var hasSort: Bool { children.contains { $0.hasSort } }
    /// Whether the subtree answers from index entries alone (no FETCH).
    var isCovered: Bool { children.contains { $0.isCovered } }

    final func work() throws(FolioError) -> WorkResult {
        works += 1
        let r = try doWork()
        switch r {
        case .advanced: advanced += 1
        case .needTime: needTime += 1
        case .eof: isEOF = true
        }
        return r
    }

    func doWork() throws(FolioError) -> WorkResult { .eof }

    /// Stage-specific explain fields (after `stage`).
    func plannerFields() -> Document { Document() }
    func statsFields() -> Document { Document() }

    /// The queryPlanner form of the subtree.
    final func plan() -> Document {
        var d: Document = ["stage": .string(stageName)]
        for (k, v) in plannerFields() { d.append(k, v) }
        appendChildren(to: &d) { $0.plan() }
        return d
    }

    /// The executionStats form of the subtree.
    final func stats() -> Document {
        var d: Document = ["stage": .string(stageName)]
        for (k, v) in plannerFields() { d.append(k, v) }
        d.append("nReturned", .int32(Int32(clamping: advanced)))
        // Stages are not timed individually; explain's executionTimeMillis times the whole run.
        d.append("executionTimeMillisEstimate", .int32(0))
        d.append("works", .int32(Int32(clamping: works)))
        d.append("advanced", .int32(Int32(clamping: advanced)))
        d.append("needTime", .int32(Int32(clamping: needTime)))
        d.append("needYield", .int32(0))
        d.append("saveState", .int32(0))
        d.append("restoreState", .int32(0))
        d.append("isEOF", .int32(isEOF ? 1 : 0))
        for (k, v) in statsFields() { d.append(k, v) }
        appendChildren(to: &d) { $0.stats() }
        return d
    }

    private func appendChildren(to d: inout Document, _ form: (PlanStage) -> Document) {
        let c = children
        if c.count == 1 { d.append("inputStage", .document(form(c[0]))) }
        if c.count > 1 { d.append("inputStages", .array(c.map { .document(form($0)) })) }
    }

    /// The indexes the subtree scans.
    var indexNames: [String] { children.flatMap(\.indexNames) }

    /// The access stages of the subtree as a plan summary names them.
    var summaryParts: [String] { children.flatMap(\.summaryParts) }
    /// Whether the subtree scans a whole collection (COLLSCAN).
    var scansCollection: Bool { children.contains { $0.scansCollection } }

    /// Keys and documents examined by the whole subtree.
    final var totalKeysExamined: Int { keysExamined + children.reduce(0) { $0 + $1.totalKeysExamined } }
    final var totalDocsExamined: Int { docsExamined + children.reduce(0) { $0 + $1.totalDocsExamined } }
}

/// COLLSCAN: the record store in `_id` order, the filter tested on borrowed bytes; a capped
/// collection's records in insertion order (its order store's entries, Capped.swift).
final class CollectionScanStage: PlanStage {
    let snapshot: any StorageSnapshot
    let store: String
    let filter: Filter
    let forward: Bool
    /// The capped collection scanned in insertion order (nil: `_id` order).
    let order: CollectionEntry?
    private var chunks: RecordChunks
    /// Where a backward scan, or one in insertion order, resumes.
    private var lastKey: [UInt8]?
    private var buffer: [PlanRow] = []
    private var bufferIndex = 0
    private var scanned = 0
    private var done = false
    static let chunk = 1024

    init(snapshot: any StorageSnapshot, store: String, filter: Filter, forward: Bool = true, order: CollectionEntry? = nil) {
        self.snapshot = snapshot
        self.order = order
        self.store = store
        self.filter = filter
        self.forward = forward
        self.chunks = RecordChunks(store: store, limit: CollectionScanStage.chunk)
    }

    override var stageName: String { "COLLSCAN" }
    override var summaryParts: [String] { ["COLLSCAN"] }
    override var scansCollection: Bool { true }
    override var docsExamined: Int { scanned }
    override func plannerFields() -> Document {
        var d = Document()
        if !filter.expression.isTriviallyTrue { d.append("filter", .document(filter.expression.explainForm)) }
        d.append("direction", .string(forward ? "forward" : "backward"))
        return d
    }
    override func statsFields() -> Document { ["docsExamined": .int32(Int32(clamping: scanned))] }

    override func doWork() throws(FolioError) -> WorkResult {
        if bufferIndex < buffer.count {
            defer { bufferIndex += 1 }
            return .advanced(buffer[bufferIndex])
        }
        if done { return .eof }
        buffer.removeAll(keepingCapacity: true)
        bufferIndex = 0
        let filter = self.filter
        var seen = 0, read = 0
        var rows: [PlanRow] = []
        if let entry = order {
            let (position, forward) = (lastKey, self.forward)
            let chunk = try Folio_storage { () throws(StorageError) in
                try entry.orderChunk(snapshot, after: position, forward: forward, filter)
            }
            if let last = chunk.last { lastKey = last }
            (rows, seen, read) = (chunk.rows, chunk.examined, chunk.entries)
        } else if forward {
            seen = try Folio_storage { () throws(StorageError) in
                try chunks.visitNext(snapshot) { key, value in
                    let verdict = filter.quickVerdict(value)
                    if verdict == false { return true }
                    let raw = RawDocument(trusted: Array(value))
                    if verdict == true || filter.matches(raw) { rows.append(PlanRow(recordKey: Array(key), document: raw)) }
                    return true
                }
            }
        } else {
            let range = KeyRange(lower: nil, upper: lastKey, upperInclusive: false)
            let chunk = try Folio_storage { () throws(StorageError) in
                try snapshot.scan(store, range, reverse: true, limit: CollectionScanStage.chunk)
            }
            for (key, value) in chunk {
                seen += 1
                let raw = RawDocument(trusted: value)
                if filter.matches(raw) { rows.append(PlanRow(recordKey: key, document: raw)) }
            }
            if let last = chunk.last { lastKey = last.key }
        }
        scanned += seen
        if max(seen, read) < CollectionScanStage.chunk { done = true }
        buffer = rows
        // A chunk counts as the documents it examined, so trial budgets stay comparable.
        works += max(0, seen - 1)
        return .needTime
    }
}

/// IDHACK: one `_id` point lookup.
final class IDHackStage: PlanStage {
    let snapshot: any StorageSnapshot
    let store: String
    let id: BSON
    let filter: Filter
    private var looked = false
    private var found = 0

    init(snapshot: any StorageSnapshot, store: String, id: BSON, filter: Filter) {
        self.snapshot = snapshot
        self.store = store
        self.id = id
        self.filter = filter
    }

    override var stageName: String { "IDHACK" }
    override var summaryParts: [String] { ["IDHACK"] }
    override var keysExamined: Int { looked ? 1 : 0 }
    override var docsExamined: Int { found }
    override func statsFields() -> Document {
        ["keysExamined": .int32(looked ? 1 : 0), "docsExamined": .int32(Int32(found))]
    }

    override func doWork() throws(FolioError) -> WorkResult {
        if looked { return .eof }
        looked = true
        let key = KeyString.encode(id)
        guard let bytes = try Folio_storage({ () throws(StorageError) in try snapshot.get(store, key) }) else { return .eof }
        found = 1
        let raw = RawDocument(trusted: bytes)
        return filter.matches(raw) ? .advanced(PlanRow(recordKey: key, document: raw)) : .needTime
    }
}

/// IXSCAN: the entries of an index inside precomputed key ranges.
final class IndexScanStage: PlanStage {
    let snapshot: any StorageSnapshot
    let index: IndexDescriptor
    let ranges: [KeyRange]
    /// Explain's `indexBounds`, printed on demand.
    let printedBounds: () -> Document
    let forward: Bool
    /// Scans the record store as the `_id` index (min/max on `_id`): values are documents.
    let overRecords: Bool
    /// Whether rows carry their entry key (`returnKey`).
    let emitKeys: Bool
    /// A covered scan: rows carry documents of the indexed fields restored from the
    /// entries, tested by the filter (explain shows its residual part).
    let cover: (filter: Filter, residual: MatchExpression)?
    private var rangeIndex = 0
    private var resumeAfter: [UInt8]?
    private var buffer: [(key: [UInt8], value: [UInt8])] = []
    private var bufferIndex = 0
    private var examined = 0
    /// Entries read per storage call: few at first (a limit often stops the scan early, and
    /// over records each entry is a whole document), doubling up to `chunk`.
    private var chunkSize = 32
    static let chunk = 256

    init(snapshot: any StorageSnapshot, index: IndexDescriptor, ranges: [KeyRange], printedBounds: @escaping () -> Document, forward: Bool,
         overRecords: Bool = false, emitKeys: Bool = false, cover: (filter: Filter, residual: MatchExpression)? = nil) {
        self.overRecords = overRecords
        self.emitKeys = emitKeys
        self.cover = cover
        self.snapshot = snapshot
        self.index = index
        self.ranges = forward ? ranges : ranges.reversed()
        self.printedBounds = printedBounds
        self.forward = forward
    }

    override var stageName: String { "IXSCAN" }
    override var summaryParts: [String] { ["IXSCAN " + ShellFormat.value(.document(index.keyPattern))] }
    override var indexNames: [String] { [index.name] }
    override var isCovered: Bool { cover != nil }
    override var keysExamined: Int { examined }
    override func plannerFields() -> Document {
        var multikeyPaths = Document()
        if index.isWildcardExpansion {
            multikeyPaths.append(IndexDescriptor.wildcardPathField, .array([]))
            multikeyPaths.append(index.fields[1].path.dotted, .array(index.wildcardMultikeyPrefixes.map(BSON.string)))
        } else {
            for f in index.fields { multikeyPaths.append(f.path.dotted, .array(index.isMultikey ? [.string(f.path.dotted)] : [])) }
        }
        var d = Document()
        if let cover, !cover.residual.isTriviallyTrue { d.append("filter", .document(cover.residual.explainForm)) }
        let fields: Document = ["keyPattern": .document(index.keyPattern), "indexName": .string(index.name), "isMultiKey": .bool(index.isMultikey),
                "multiKeyPaths": .document(multikeyPaths), "isUnique": .bool(index.unique || index.name == "_id_"), "isSparse": .bool(index.sparse),
                "isPartial": .bool(index.partialFilter != nil), "indexVersion": .int32(2),
                "direction": .string(forward ? "forward" : "backward"), "indexBounds": .document(printedBounds())]
        for (k, v) in fields { d.append(k, v) }
        return d
    }
    override func statsFields() -> Document {
        ["keysExamined": .int32(Int32(clamping: examined)), "seeks": .int32(Int32(clamping: ranges.count)),
         "dupsTested": .int32(0), "dupsDropped": .int32(0)]
    }

    override func doWork() throws(FolioError) -> WorkResult {
        if bufferIndex < buffer.count {
            let entry = buffer[bufferIndex]
            bufferIndex += 1
            examined += 1
            if overRecords {
                return .advanced(PlanRow(recordKey: entry.key, document: RawDocument(trusted: entry.value), indexKey: emitKeys ? entry.key : nil))
            }
            let recordKey = index.recordKey(fromValue: entry.value)
            if let cover {
                let document = try covered(entry)
                return cover.filter.matches(document) ? .advanced(PlanRow(recordKey: recordKey, document: document)) : .needTime
            }
            return .advanced(PlanRow(recordKey: recordKey, document: nil, indexKey: emitKeys ? entry.key : nil,
                                     score: index.text != nil ? TextIndexEntry.score(entry.value) : nil))
        }
        guard rangeIndex < ranges.count else { return .eof }
        var range = ranges[rangeIndex]
        if let after = resumeAfter {
            if forward { range.lower = after; range.lowerInclusive = false } else { range.upper = after; range.upperInclusive = false }
        }
        let r = range
        buffer = try Folio_storage { () throws(StorageError) in
            try snapshot.scan(index.store, r, reverse: !forward, limit: chunkSize)
        }
        bufferIndex = 0
        if buffer.count < chunkSize {
            rangeIndex += 1
            resumeAfter = nil
        } else {
            resumeAfter = buffer.last!.key
            chunkSize = min(chunkSize * 2, IndexScanStage.chunk)
        }
        return .needTime
    }
}

extension IndexScanStage {
    /// The document of an entry's indexed fields, in key-pattern order (missing fields absent).
    func covered(_ entry: (key: [UInt8], value: [UInt8])) throws(FolioError) -> RawDocument {
        let values = entry.key.withUnsafeBytes { key in
            entry.value.withUnsafeBytes { value in IndexEntryValue.values(key: key, value: value, fields: index.fields) }
        }
        guard let values else { throw FolioError(.internalError, "index \(index.name) has an entry whose values cannot be read") }
        var d = Document()
        for (f, v) in zip(index.fields, values) { if let v { d.append(f.path.dotted, v) } }
        return RawDocument(trusted: d.bsonBytes())
    }
}

/// FETCH: the documents of index entries, filtered, each record once.
final class FetchStage: PlanStage {
    let child: PlanStage
    let snapshot: any StorageSnapshot
    let store: String
    let filter: Filter
    let deduplicate: Bool
    /// What explain shows as the stage's filter: the predicates the index bounds do not
    /// answer exactly (the whole filter still runs on every fetched document).
    let residual: MatchExpression
    private var seen = Set<[UInt8]>()
    private var fetched = 0

    init(child: PlanStage, snapshot: any StorageSnapshot, store: String, filter: Filter, deduplicate: Bool,
         residual: MatchExpression? = nil) {
        self.child = child
        self.snapshot = snapshot
        self.store = store
        self.filter = filter
        self.deduplicate = deduplicate
        self.residual = residual ?? filter.expression
    }

    override var children: [PlanStage] { [child] }
    override var stageName: String { "FETCH" }
    override var docsExamined: Int { fetched }
    override func plannerFields() -> Document {
        residual.isTriviallyTrue ? Document() : ["filter": .document(residual.explainForm)]
    }
    override func statsFields() -> Document { ["docsExamined": .int32(Int32(clamping: fetched))] }

    override func doWork() throws(FolioError) -> WorkResult {
        switch try child.work() {
        case .eof: return .eof
        case .needTime: return .needTime
        case .advanced(var row):
            if deduplicate && !seen.insert(row.recordKey).inserted { return .needTime }
            // A scan of the `_id` index brings the record along; it is examined all the same.
            if row.document == nil {
                let key = row.recordKey
                guard let bytes = try Folio_storage({ () throws(StorageError) in try snapshot.get(store, key) }) else { return .needTime }
                row.document = RawDocument(trusted: bytes)
            }
            fetched += 1
            return filter.matches(row.document!) ? .advanced(row) : .needTime
        }
    }
}

/// OR: the union of its branches, each record once.
final class OrStage: PlanStage {
    let branches: [PlanStage]
    private var current = 0
    private var seen = Set<[UInt8]>()
    private var dropped = 0

    init(branches: [PlanStage]) { self.branches = branches }

    override var children: [PlanStage] { branches }
    override var stageName: String { "OR" }
    override func statsFields() -> Document { ["dupsTested": .int32(Int32(clamping: advanced + dropped)), "dupsDropped": .int32(Int32(clamping: dropped))] }

    override func doWork() throws(FolioError) -> WorkResult {
        guard current < branches.count else { return .eof }
        switch try branches[current].work() {
        case .eof:
            current += 1
            return current < branches.count ? .needTime : .eof
        case .needTime: return .needTime
        case .advanced(let row):
            if !seen.insert(row.recordKey).inserted { dropped += 1; return .needTime }
            return .advanced(row)
        }
    }
}

/// SORT: blocking, within the memory budget (spilling when allowed).
final class SortStage: PlanStage {
    let child: PlanStage
    let spec: SortSpec
    let pattern: Document
    let limit: Int
    private var sorter: ExternalSorter?
    private var output: SortedOutput?
    private var emitted = 0
    private let memoryLimitBytes: Int

    init(child: PlanStage, spec: SortSpec, pattern: Document, limit: Int, memoryLimitBytes: Int, allowDiskUse: Bool) {
        self.memoryLimitBytes = memoryLimitBytes
        self.child = child
        self.spec = spec
        self.pattern = pattern
        self.limit = limit
        self.sorter = ExternalSorter(spec: spec, memoryLimitBytes: memoryLimitBytes, allowDiskUse: allowDiskUse, keep: limit)
    }

    override var children: [PlanStage] { [child] }
    override var stageName: String { "SORT" }
    override var hasSort: Bool { true }
    override func plannerFields() -> Document {
        var d: Document = ["sortPattern": .document(pattern), "memLimit": .int32(Int32(clamping: memoryLimitBytes))]
        if limit > 0 { d.append("limitAmount", .int32(Int32(clamping: limit))) }
        d.append("type", "simple")
        return d
    }
    override func statsFields() -> Document {
        ["totalDataSizeSorted": .int32(0), "usedDisk": .bool(sorter?.spilled ?? false), "spills": .int32(0)]
    }

    override func doWork() throws(FolioError) -> WorkResult {
        if let output {
            if limit > 0 && emitted >= limit { return .eof }
            guard let raw = output.next() else { return .eof }
            emitted += 1
            // The sorter keeps documents only; the record key is the encoded `_id`.
            return .advanced(PlanRow(recordKey: KeyString.encode(raw.lookup("_id")?.bson ?? .null), document: raw))
        }
        switch try child.work() {
        case .needTime: return .needTime
        case .advanced(let row):
            try sorter!.add(row.document!)
            return .needTime
        case .eof:
            output = try sorter!.finish()
            return .needTime
        }
    }
}
