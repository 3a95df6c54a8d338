import FolioBSON
import FolioQuery

/// A trivially correct collection: an array of documents in insertion order, every operation
/// a full scan. Tests compare real engines against it and run spec vectors through the
/// query layer with it. Never used outside tests.
public final class ReferenceCollection {
    public private(set) var documents: [Document]
    /// Keep documents in `_id` order (the natural order of Folio's record stores) instead of
    /// insertion order, so "the first match" means the same document as in the engine.
    let orderedByID: Bool

    public init(_ documents: [Document] = [], orderedByID: Bool = false) {
        self.documents = documents
        self.orderedByID = orderedByID
    }

    public struct UpdateResult: Equatable {
        public var matched: Int
        public var modified: Int
        public var upsertedID: BSON?
    }

    func matching(_ filter: Document, constants: [String: BSON]) throws -> [Int] {
        let expression = try MatchExpression(parsing: filter, constants: constants)
        return documents.indices.filter { expression.matches(documents[$0]) }
    }

    /// Indexes of matching documents in sort order (stable: insertion order breaks ties).
    func ordered(_ indexes: [Int], sort: Document?) throws -> [Int] {
        guard let sort, !sort.isEmpty else { return indexes }
        let spec = try SortSpec(parsing: sort)
        let keyed = indexes.map { ($0, spec.sortKey(for: documents[$0])) }
        return keyed.enumerated().sorted { a, b in
            let c = spec.compare(a.element.1, b.element.1)
            return c != 0 ? c < 0 : a.offset < b.offset
        }.map(\.element.0)
    }

    public func find(_ filter: Document = [:], sort: Document? = nil, skip: Int = 0, limit: Int = 0,
                     projection: Document? = nil, constants: [String: BSON] = [:]) throws -> [Document] {
        let filterExpression = try MatchExpression(parsing: filter, constants: constants)
        var indexes = try ordered(try matching(filter, constants: constants), sort: sort)
        indexes = Array(indexes.dropFirst(skip))
        if limit != 0 { indexes = Array(indexes.prefix(abs(limit))) }
        let p = try projection.map { try Projection(parsing: $0) }
        return try indexes.map { i in try p?.apply(to: documents[i], query: filterExpression) ?? documents[i] }
    }

    /// Inserts, adding an ObjectId `_id` first when absent. Duplicate `_id` throws 11000.
    @discardableResult
    public func insert(_ document: Document) throws -> BSON {
        var d = document
        if d["_id"] == nil { d.insert("_id", .objectID(ObjectID()), at: 0) }
        try InsertValidation.validate(d)
        let id = d["_id"]!
        if documents.contains(where: { BSON.compare($0["_id"]!, id) == 0 }) {
            throw FolioError(.duplicateKey, "E11000 duplicate key error collection: test index: _id_ dup key: { _id: \(id) }")
        }
        if orderedByID {
            let key = KeyString.encode(id)
            let position = documents.firstIndex { KeyString.encode($0["_id"]!).lexicographicallyPrecedes(key) == false } ?? documents.count
            documents.insert(d, at: position)
        } else {
            documents.append(d)
        }
        return id
    }

    public func update(_ filter: Document, _ update: BSON, multi: Bool, upsert: Bool = false,
                       arrayFilters: [BSON]? = nil, sort: Document? = nil, constants: [String: BSON] = [:]) throws -> UpdateResult {
        let spec = try UpdateSpec(parsing: update, constants: constants)
        if multi && spec.isReplacement { throw FolioError(.failedToParse, "multi update is not supported for replacement-style update") }
        let query = try MatchExpression(parsing: filter, constants: constants)
        let filters = try ArrayFilters(parsing: arrayFilters ?? [])
        var targets = try ordered(try matching(filter, constants: constants), sort: sort)
        if !multi { targets = Array(targets.prefix(1)) }
        var result = UpdateResult(matched: targets.count, modified: 0, upsertedID: nil)
        for i in targets {
            var d = documents[i]
            if try spec.apply(to: &d, context: UpdateContext(query: query, arrayFilters: filters, constants: constants)) {
                result.modified += 1
                documents[i] = d
            }
        }
        if targets.isEmpty && upsert {
            var seed = try UpsertSeed.document(from: filter)
            if spec.isReplacement { seed = Document(seed.filter { $0.key == "_id" }.map { ($0.key, $0.value) }) }
            try spec.apply(to: &seed, context: UpdateContext(isUpsertInsert: true, query: query, arrayFilters: filters, constants: constants))
            result.upsertedID = try insert(seed)
        }
        return result
    }

    public func delete(_ filter: Document, multi: Bool, constants: [String: BSON] = [:]) throws -> Int {
        var targets = try matching(filter, constants: constants)
        if !multi { targets = Array(targets.prefix(1)) }
        for i in targets.reversed() { documents.remove(at: i) }
        return targets.count
    }

    public func count(_ filter: Document = [:], skip: Int = 0, limit: Int = 0) throws -> Int {
        var n = max(0, try matching(filter, constants: [:]).count - skip)
        if limit > 0 { n = min(n, limit) }
        return n
    }

    /// Distinct values at a path, arrays unwound, first-seen order.
    public func distinct(_ key: String, _ filter: Document = [:]) throws -> [BSON] {
        var out: [BSON] = []
        let path = FieldPath(key)
        for i in try matching(filter, constants: [:]) {
            for v in Self.values(.document(documents[i]), path.components[...]) where !out.contains(where: { BSON.compare($0, v) == 0 }) {
                out.append(v)
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

    public enum FindAndModifyKind { case update(BSON), remove }

    /// findOneAndUpdate/Replace/Delete: returns the document before or after.
    public func findAndModify(_ filter: Document, _ kind: FindAndModifyKind, sort: Document? = nil, returnNew: Bool = false,
                              upsert: Bool = false, projection: Document? = nil, arrayFilters: [BSON]? = nil,
                              constants: [String: BSON] = [:]) throws -> Document? {
        let query = try MatchExpression(parsing: filter, constants: constants)
        let p = try projection.map { try Projection(parsing: $0) }
        let targets = try ordered(try matching(filter, constants: constants), sort: sort)
        switch kind {
        case .remove:
            guard let i = targets.first else { return nil }
            let d = documents.remove(at: i)
            return try p?.apply(to: d) ?? d
        case .update(let update):
            let spec = try UpdateSpec(parsing: update, constants: constants)
            let filters = try ArrayFilters(parsing: arrayFilters ?? [])
            if let i = targets.first {
                let before = documents[i]
                var after = before
                try spec.apply(to: &after, context: UpdateContext(query: query, arrayFilters: filters, constants: constants))
                documents[i] = after
                let out = returnNew ? after : before
                return try p?.apply(to: out, query: query) ?? out
            }
            guard upsert else { return nil }
            var seed = try UpsertSeed.document(from: filter)
            if spec.isReplacement { seed = Document(seed.filter { $0.key == "_id" }.map { ($0.key, $0.value) }) }
            try spec.apply(to: &seed, context: UpdateContext(isUpsertInsert: true, query: query, arrayFilters: filters, constants: constants))
            let id = try insert(seed)
            guard returnNew else { return nil }
            let inserted = documents.first { BSON.compare($0["_id"]!, id) == 0 }!
            return try p?.apply(to: inserted) ?? inserted
        }
    }
}
