internal import FolioEngine
internal import FolioQuery
internal import FolioServer

/// A collection of documents decoded as `T` (`Document` for raw access). Every call runs the
/// same engine code path as the server's commands.
public struct FolioCollection<T: Codable & Sendable>: Sendable {
    let database: FolioDatabase
    /// The collection's name (within its database).
    public let name: String

    var engine: Engine { database.folio.engine }

    func namespace() throws(FolioError) -> Namespace { try Namespace(database: database.name, collection: name) }

    /// Runs `body` on an engine thread with the engine and this collection's namespace.
    func onEngine<R: Sendable>(_ body: @escaping @Sendable (Engine, Namespace) throws(FolioError) -> R) async throws(FolioError) -> R {
        let ns = try namespace()
        let engine = self.engine
        return try await database.folio.run { () throws(FolioError) in try body(engine, ns) }
    }

    /// `onEngine` for what needs a collection: on a view, 166 CommandNotSupportedOnView.
    func onCollection<R: Sendable>(_ body: @escaping @Sendable (Engine, Namespace) throws(FolioError) -> R) async throws(FolioError) -> R {
        try await onEngine { (engine, ns) throws(FolioError) in
            try Views.requireCollection(ns, engine)
            return try body(engine, ns)
        }
    }

    func encode(_ value: T) throws(FolioError) -> Document {
        if let d = value as? Document { return d }
        do { return try BSONEncoder().encode(value) } catch {
            throw FolioError(.badValue, "cannot encode \(T.self) as a document: \(error)")
        }
    }

    static func decode(_ raw: RawDocument) throws(FolioError) -> T {
        if T.self == Document.self { return raw.document() as! T }
        do { return try BSONDecoder().decode(T.self, from: raw) } catch {
            throw FolioError(.typeMismatch, "cannot decode \(T.self) from \(raw.document()): \(error)")
        }
    }

    /// Inserts one document; returns its `_id` (generated when absent).
    /// - Throws: 11000 DuplicateKey, 53/2/52 for bad `_id`s, 10334 for oversized documents.
    /// - Complexity: O(log n) per index.
    @discardableResult
    public func insertOne(_ value: T) async throws(FolioError) -> BSON {
        let document = try encode(value)
        let result = try await onCollection { (engine, ns) throws(FolioError) in try engine.insert(ns, [document]) }
        if let first = result.writeErrors.first { throw first.error }
        guard let id = result.insertedIDs[0] else { throw FolioError(.internalError, "insert returned no _id") }
        return id
    }

    /// Documents matching `filter`, as an async sequence read in batches from one snapshot.
    /// On a view, its pipeline runs first (under the view's collation).
    public func find(_ filter: Document = [:], sort: Document? = nil, skip: Int = 0, limit: Int = 0,
                     projection: Document? = nil) -> FindSequence<T> {
        let request = FindRequest(filter: filter, sort: sort, projection: projection, skip: skip, limit: limit)
        let collection = self
        return CursorSequence(folio: database.folio) { () throws(FolioError) in try collection.openFind(request) }
    }

    /// Opens a find's cursor (on an engine thread): a view's runs its pipeline first.
    func openFind(_ request: FindRequest) throws(FolioError) -> Cursor { try Views.find(try namespace(), request, engine) }

    /// Runs an aggregation pipeline over the collection (or view); results arrive as documents.
    ///
    /// ```swift
    /// let totals = try await orders.aggregate([
    ///     ["$match": ["status": "paid"]],
    ///     ["$group": ["_id": "$customer", "total": ["$sum": "$amount"]]],
    ///     ["$sort": ["total": -1]], ["$limit": 10],
    /// ]).toArray()
    /// ```
    /// A pipeline ending in `$out` or `$merge` runs when iterated and yields nothing.
    public func aggregate(_ pipeline: [Document], allowDiskUse: Bool = true, `let` variables: Document? = nil) -> CursorSequence<Document> {
        let engine = self.engine, database = self.database.name, name = self.name
        return CursorSequence(folio: self.database.folio) { () throws(FolioError) in
            try Views.aggregate(database: database, collection: name,
                                AggregateRequest(pipeline: pipeline.map(BSON.document), allowDiskUse: allowDiskUse,
                                                 constants: try Expression.evaluateLet(variables)), engine)
        }
    }

    /// The first document matching `filter` (in `sort` order when given).
    public func findOne(_ filter: Document = [:], sort: Document? = nil) async throws(FolioError) -> T? {
        let raw = try await onEngine { (engine, ns) throws(FolioError) -> [RawDocument] in
            try Views.find(ns, FindRequest(filter: filter, sort: sort, limit: 1), engine).all()
        }
        return try raw.first.map { r throws(FolioError) in try Self.decode(r) }
    }

    /// Result of an update: matched, modified, and the upserted `_id`.
    public struct UpdateOutcome: Sendable {
        /// Documents the filter matched.
        public var matchedCount: Int
        /// Documents changed (an update that changes nothing matches but does not modify).
        public var modifiedCount: Int
        /// The `_id` of the document an upsert inserted.
        public var upsertedID: BSON?
    }

    func update(_ statement: UpdateStatement) async throws(FolioError) -> UpdateOutcome {
        let r = try await onCollection { (engine, ns) throws(FolioError) in try engine.update(ns, [statement]) }
        if let e = r.writeErrors.first { throw e.error }
        return UpdateOutcome(matchedCount: r.matched, modifiedCount: r.modified, upsertedID: r.upserted.first?.id)
    }

    /// Updates the first matching document with update operators or a pipeline.
    @discardableResult
    public func updateOne(_ filter: Document, _ update: BSON, upsert: Bool = false, arrayFilters: [BSON]? = nil) async throws(FolioError) -> UpdateOutcome {
        try Self.requireOperators(update)
        return try await self.update(UpdateStatement(filter: filter, update: update, upsert: upsert, arrayFilters: arrayFilters))
    }

    /// Updates every matching document, 1,000 per commit as MongoDB writes them one by one:
    /// not atomic outside a transaction (other writers go on between; a document that fails
    /// leaves those before it updated). Inside a transaction, all or nothing with it.
    @discardableResult
    public func updateMany(_ filter: Document, _ update: BSON, upsert: Bool = false, arrayFilters: [BSON]? = nil) async throws(FolioError) -> UpdateOutcome {
        try Self.requireOperators(update)
        return try await self.update(UpdateStatement(filter: filter, update: update, upsert: upsert, multi: true, arrayFilters: arrayFilters))
    }

    /// Replaces the first matching document (keeping its `_id`).
    @discardableResult
    public func replaceOne(_ filter: Document, _ replacement: T, upsert: Bool = false) async throws(FolioError) -> UpdateOutcome {
        try await self.update(UpdateStatement(filter: filter, update: .document(try replacementDocument(replacement)), upsert: upsert))
    }

    func replacementDocument(_ replacement: T) throws(FolioError) -> Document {
        let d = try encode(replacement)
        if d.fieldNames.contains(where: { $0.hasPrefix("$") }) {
            throw FolioError(.badValue, "replacement document must not contain update operators")
        }
        return d
    }

    static func requireOperators(_ update: BSON) throws(FolioError) {
        if case .document(let d) = update, let first = d.fieldNames.first, !first.hasPrefix("$") {
            throw FolioError(.failedToParse, "update document requires atomic operators")
        }
    }

    /// Deletes the first matching document; returns how many were deleted (0 or 1).
    @discardableResult
    public func deleteOne(_ filter: Document) async throws(FolioError) -> Int { try await delete(filter, one: true) }

    /// Deletes every matching document, 1,000 per commit (not atomic outside a transaction,
    /// as in MongoDB; see `updateMany`).
    @discardableResult
    public func deleteMany(_ filter: Document) async throws(FolioError) -> Int { try await delete(filter, one: false) }

    func delete(_ filter: Document, one: Bool) async throws(FolioError) -> Int {
        let r = try await onCollection { (engine, ns) throws(FolioError) in try engine.delete(ns, [DeleteStatement(filter: filter, limitOne: one)]) }
        if let e = r.writeErrors.first { throw e.error }
        return r.deleted
    }

    func findAndModify(_ request: FindAndModifyRequest) async throws(FolioError) -> T? {
        let r = try await onCollection { (engine, ns) throws(FolioError) in try engine.findAndModify(ns, request) }
        return try r.value.map { d throws(FolioError) in try Self.decode(RawDocument(trusted: d.bsonBytes())) }
    }

    /// Updates one document atomically and returns it before (default) or after the update.
    public func findOneAndUpdate(_ filter: Document, _ update: BSON, sort: Document? = nil, returnNew: Bool = false,
                                 upsert: Bool = false) async throws(FolioError) -> T? {
        try Self.requireOperators(update)
        return try await findAndModify(FindAndModifyRequest(filter: filter, sort: sort, update: update, returnNew: returnNew, upsert: upsert))
    }

    /// Replaces one document atomically and returns it before (default) or after.
    public func findOneAndReplace(_ filter: Document, _ replacement: T, sort: Document? = nil, returnNew: Bool = false,
                                  upsert: Bool = false) async throws(FolioError) -> T? {
        try await findAndModify(FindAndModifyRequest(filter: filter, sort: sort, update: .document(try replacementDocument(replacement)),
                                                     returnNew: returnNew, upsert: upsert))
    }

    /// Deletes one document atomically and returns it.
    public func findOneAndDelete(_ filter: Document, sort: Document? = nil) async throws(FolioError) -> T? {
        try await findAndModify(FindAndModifyRequest(filter: filter, sort: sort, remove: true))
    }

    /// Counts matching documents.
    public func countDocuments(_ filter: Document = [:], skip: Int = 0, limit: Int = 0) async throws(FolioError) -> Int {
        try await onEngine { (engine, ns) throws(FolioError) in try Views.count(ns, filter: filter, skip: skip, limit: limit, engine) }
    }

    /// The number of documents, from collection metadata (a view's are counted).
    public func estimatedDocumentCount() async throws(FolioError) -> Int {
        try await onEngine { (engine, ns) throws(FolioError) in try Views.estimatedCount(ns, engine) }
    }

    /// Distinct values of `key` among matching documents (arrays unwound).
    public func distinct(_ key: String, filter: Document = [:]) async throws(FolioError) -> [BSON] {
        try await onEngine { (engine, ns) throws(FolioError) in try Views.distinct(ns, key: key, filter: filter, engine) }
    }

    /// Drops the collection (or view: its definition; the collection it reads stays).
    public func drop() async throws(FolioError) {
        try await onEngine { (engine, ns) throws(FolioError) in
            if try Views.drop(ns, durable: true, engine) { return }
            _ = try engine.dropCollection(ns)
        }
    }
}
