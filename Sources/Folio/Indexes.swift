internal import FolioEngine
internal import FolioQuery

/// An index to create: its key pattern and options, as `createIndexes` takes them.
///
/// ```swift
/// try await messages.createIndex(["conversation": 1, "at": -1])
/// try await users.createIndex(["email": 1], options: IndexOptions(unique: true))
/// try await sessions.createIndex(["seen": 1], options: IndexOptions(expireAfterSeconds: 3600))
/// try await posts.createIndex(["title": "text", "body": "text"], options: IndexOptions(other: ["weights": ["title": 5]]))
/// ```
public struct IndexModel: Sendable {
    /// Fields and their kind: 1 / -1, "text", "2dsphere", "2d", "hashed", or `"$**": 1`.
    public var keys: Document
    /// Its name, uniqueness, TTL and other options.
    public var options: IndexOptions

    /// An index on `keys` with `options`.
    public init(keys: Document, options: IndexOptions = IndexOptions()) {
        self.keys = keys
        self.options = options
    }
}

/// Options of an index (MongoDB's names). Options not listed here (`weights`,
/// `default_language`, `wildcardProjection`, `2dsphereIndexVersion`, `bits`, ...) go in
/// `other`; an option the engine does not know is refused, never ignored.
public struct IndexOptions: Sendable {
    /// The index's name; by default the drivers' (`a_1_b_-1`).
    public var name: String?
    /// No two documents may have the same key (11000 DuplicateKey).
    public var unique: Bool?
    /// Documents missing the indexed fields are left out of the index.
    public var sparse: Bool?
    /// Only documents matching this filter are indexed.
    public var partialFilterExpression: Document?
    /// A TTL index: documents expire this many seconds after the date in the field.
    public var expireAfterSeconds: Int?
    /// A hidden index is maintained but not used by queries.
    public var hidden: Bool?
    /// How strings compare in the index (`["locale": "en", "strength": 2]`).
    public var collation: Document?
    /// Further options by MongoDB's names, passed as they are.
    public var other: Document

    /// Options for `createIndex`; every one is optional.
    public init(name: String? = nil, unique: Bool? = nil, sparse: Bool? = nil, partialFilterExpression: Document? = nil,
                expireAfterSeconds: Int? = nil, hidden: Bool? = nil, collation: Document? = nil, other: Document = [:]) {
        self.name = name
        self.unique = unique
        self.sparse = sparse
        self.partialFilterExpression = partialFilterExpression
        self.expireAfterSeconds = expireAfterSeconds
        self.hidden = hidden
        self.collation = collation
        self.other = other
    }
}

extension IndexModel {
    /// The drivers' default name: each field and its value joined by underscores.
    static func defaultName(_ keys: Document) -> String {
        keys.map { field, value in
            let kind: String
            switch value {
            case .int32(let v): kind = String(v)
            case .int64(let v): kind = String(v)
            case .double(let v) where v == v.rounded(): kind = Int64.checked(v).map { String($0) } ?? "\(value)"
            case .string(let s): kind = s
            default: kind = "\(value)"
            }
            return "\(field)_\(kind)"
        }.joined(separator: "_")
    }

    /// The `createIndexes` specification.
    var specification: Document {
        var d: Document = ["key": .document(keys), "name": .string(options.name ?? Self.defaultName(keys))]
        if let v = options.unique { d.append("unique", .bool(v)) }
        if let v = options.sparse { d.append("sparse", .bool(v)) }
        if let v = options.partialFilterExpression { d.append("partialFilterExpression", .document(v)) }
        if let v = options.expireAfterSeconds { d.append("expireAfterSeconds", .int64(Int64(exactly: v) ?? .max)) }
        if let v = options.hidden { d.append("hidden", .bool(v)) }
        if let v = options.collation { d.append("collation", .document(v)) }
        for (k, v) in options.other { d.append(k, v) }
        return d
    }
}

extension FolioCollection {
    /// Creates an index (and the collection when it does not exist); returns its name.
    /// Creating an index that exists with the same options does nothing.
    /// - Throws: 85 IndexOptionsConflict, 86 IndexKeySpecsConflict, 67 CannotCreateIndex,
    ///   11000 DuplicateKey when a unique index meets duplicates, 197 for bad options.
    @discardableResult
    public func createIndex(_ keys: Document, options: IndexOptions = IndexOptions()) async throws(FolioError) -> String {
        try await createIndexes([IndexModel(keys: keys, options: options)])[0]
    }

    /// Creates indexes together: when one fails, none is left behind. Returns their names.
    ///
    /// On a collection of more than 20,000 documents the indexes are built while other
    /// writes go on (as MongoDB does): no query uses them and `listIndexes` does not show
    /// them until this returns. A unique index fails only on a duplicate still there when
    /// the build ends. A crash or a close during the build does not lose it: the next open
    /// builds the indexes again in the background (as MongoDB resumes index builds).
    @discardableResult
    public func createIndexes(_ models: [IndexModel]) async throws(FolioError) -> [String] {
        let specs = models.map(\.specification)
        _ = try await onCollection { (engine, ns) throws(FolioError) in try engine.createIndexes(ns, specs) }
        return specs.compactMap { $0["name"]?.stringValue }
    }

    /// The index specifications, `_id_` first, as `listIndexes` returns them.
    /// - Throws: 26 NamespaceNotFound when the collection does not exist.
    public func listIndexes() async throws(FolioError) -> [Document] {
        return try await onCollection { (engine, ns) throws(FolioError) in try engine.indexSpecifications(ns) }
    }

    /// Drops the index named `name`.
    /// - Throws: 27 IndexNotFound, 72 InvalidOptions for `_id_`, 26 NamespaceNotFound.
    public func dropIndex(_ name: String) async throws(FolioError) {
        try await dropIndexes(.string(name))
    }

    /// Drops the index with this key pattern.
    public func dropIndex(keys: Document) async throws(FolioError) {
        try await dropIndexes(.document(keys))
    }

    /// Drops every index but `_id_`.
    public func dropIndexes() async throws(FolioError) {
        try await dropIndexes(.string("*"))
    }

    func dropIndexes(_ which: BSON) async throws(FolioError) {
        _ = try await onCollection { (engine, ns) throws(FolioError) in try engine.dropIndexes(ns, which) }
    }

    /// Hides an index from the planner (it is still maintained), or shows it again.
    /// - Throws: 27 IndexNotFound, 26 NamespaceNotFound.
    public func setIndexHidden(_ name: String, _ hidden: Bool) async throws(FolioError) {
        _ = try await onCollection { (engine, ns) throws(FolioError) in
            try engine.modifyCollection(ns, ["index": ["name": .string(name), "hidden": .bool(hidden)]])
        }
    }

    /// Creates a search index (`type: "vectorSearch"`, Atlas's definition) and returns its
    /// name; query it with a `$vectorSearch` stage in `aggregate`.
    ///
    /// ```swift
    /// try await messages.createSearchIndex(name: "by_meaning", type: "vectorSearch", definition: ["fields": [
    ///     ["type": "vector", "path": "embedding", "numDimensions": 384, "similarity": "cosine"],
    ///     ["type": "filter", "path": "conversation"],
    /// ]])
    /// ```
    @discardableResult
    public func createSearchIndex(name: String = "default", type: String = "vectorSearch", definition: Document) async throws(FolioError) -> String {
        let spec: Document = ["name": .string(name), "type": .string(type), "definition": .document(definition)]
        return try await onEngine { (engine, ns) throws(FolioError) in try engine.createSearchIndexes(ns, [spec]) }.first?.name ?? name
    }

    /// The search indexes with their status fields, as `$listSearchIndexes` returns them.
    public func listSearchIndexes(name: String? = nil) async throws(FolioError) -> [Document] {
        return try await onEngine { (engine, ns) throws(FolioError) in engine.listSearchIndexes(ns, name: name) }
    }

    /// Replaces a search index's definition (the index is rebuilt).
    public func updateSearchIndex(name: String, definition: Document) async throws(FolioError) {
        try await onEngine { (engine, ns) throws(FolioError) in try engine.updateSearchIndex(ns, id: nil, name: name, definition: definition) }
    }

    /// Drops a search index.
    public func dropSearchIndex(name: String) async throws(FolioError) {
        try await onEngine { (engine, ns) throws(FolioError) in try engine.dropSearchIndex(ns, id: nil, name: name) }
    }
}
