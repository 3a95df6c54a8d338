import FolioBSON
import FolioQuery
import FolioStorage

// Record access shared by the read and write paths: chunked scans of a record store,
// `_id` point lookups, and the duplicate-key error in MongoDB's exact shape.

extension Engine {
    /// Records are scanned in chunks so a large collection is never loaded at once.
    static let scanChunk = 256

    /// Visits records of `store` in `_id` order from `snapshot`, starting after `after`.
    /// Return false from `visit` to stop. Returns the last key visited.
    @discardableResult
    static func forEachRecord(_ snapshot: any StorageSnapshot, _ store: String, after: [UInt8]? = nil,
                              _ visit: ([UInt8], RawDocument) throws -> Bool) throws -> [UInt8]? {
        var last = after
        while true {
            let range = KeyRange(lower: last, lowerInclusive: last == nil, upper: nil)
            let chunk = try snapshot.scan(store, range, reverse: false, limit: scanChunk)
            for (key, value) in chunk {
                last = key
                if try !visit(key, RawDocument(trusted: value)) { return last }
            }
            if chunk.count < scanChunk { return last }
        }
    }

    /// The `_id` value the filter pins with an equality, if any (then a point lookup suffices).
    static func pinnedID(_ expression: MatchExpression) -> BSON? {
        for (path, predicates) in expression.indexablePredicates where path.dotted == "_id" {
            for case .equality(let v) in predicates {
                switch v.type {
                case .array, .regex, .null, .undefined, .minKey, .maxKey: continue
                default: return v
                }
            }
        }
        return nil
    }

    /// Record keys and documents matching `filter` (at most `limit`, in `sort` order when
    /// given), found through the planner like a find: the targets of update, delete and
    /// findAndModify.
    func matchingRecords(_ snapshot: any StorageSnapshot, _ entry: CollectionEntry, _ filter: Filter, sort: SortSpec? = nil,
                         sortPattern: Document? = nil, limit: Int? = nil, hint: BSON? = nil) throws -> [([UInt8], RawDocument)] {
        let planned = try plan(entry, snapshot, QueryRequest(filter: filter, sort: sort, sortPattern: sortPattern, hint: hint,
                                                             sortLimit: sort == nil ? 0 : (limit ?? 0)))
        var out: [([UInt8], RawDocument)] = []
        defer { queryStatistics.record(planned.root, entry.namespace) }
        let text = filter.expression.containsText
        func add(_ row: PlanRow) -> Bool {
            guard let raw = row.document else { return true }
            // A text plan sorting by score carries it in a hidden field, never written back.
            out.append((row.recordKey, text ? TextMatchStage.withoutScore(raw) : raw))
            return limit.map { out.count < $0 } ?? true
        }
        for row in planned.buffered where !add(row) { return out }
        while true {
            switch try planned.root.work() {
            case .advanced(let row): if !add(row) { return out }
            case .needTime: continue
            case .eof: return out
            }
        }
    }

    /// MongoDB's duplicate-key error: message, keyPattern and keyValue.
    static func duplicateKey(_ ns: Namespace, index: String, keyPattern: Document, keyValue: Document) -> FolioError {
        let shown = keyValue.map { "\($0.key): \(ShellFormat.value($0.value))" }.joined(separator: ", ")
        return FolioError(.duplicateKey, "E11000 duplicate key error collection: \(ns) index: \(index) dup key: { \(shown) }",
                          extraFields: ["keyPattern": .document(keyPattern), "keyValue": .document(keyValue)])
    }
}

extension String {
    func replacingSuffix(_ suffix: String) -> String {
        hasSuffix(suffix) ? String(dropLast(suffix.count)) : self
    }
}

/// A forward walk over a record store in chunks of borrowed rows, resumable between chunks
/// (so the caller can return a batch, or write, between two storage reads).
struct RecordChunks {
    let store: String
    let limit: Int
    private(set) var lastKey: [UInt8]?
    private(set) var done = false

    init(store: String, limit: Int) {
        self.store = store
        self.limit = limit
    }

    /// Visits the next chunk (return false from `body` to stop the walk); returns the number
    /// of rows visited.
    @discardableResult
    mutating func visitNext(_ snapshot: any StorageSnapshot,
                            _ body: (UnsafeBufferPointer<UInt8>, UnsafeBufferPointer<UInt8>) -> Bool) throws(StorageError) -> Int {
        var seen = 0
        var stopped = false
        let range = KeyRange(lower: lastKey, lowerInclusive: lastKey == nil, upper: nil)
        let last = try snapshot.visit(store, range, limit: limit) { key, value in
            seen += 1
            if body(key, value) { return true }
            stopped = true
            return false
        }
        if let last { lastKey = last }
        if stopped || seen < limit { done = true }
        return seen
    }
}
