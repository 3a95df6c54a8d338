internal import FolioEngine
internal import FolioQuery

/// What `insertMany` wrote.
public struct InsertManyResult: Sendable, Equatable {
    /// Documents inserted.
    public var insertedCount: Int
    /// The `_id` of each inserted document, by its position in the call (generated ids
    /// included); positions that failed are absent.
    public var insertedIDs: [Int: BSON]
}

/// One write of a `bulkWrite`, as the drivers' write models name them.
public enum WriteModel<T: Codable & Sendable>: Sendable {
    /// Inserts a document (its `_id` is generated when absent).
    case insertOne(T)
    /// Updates the first matching document. `update` holds update operators or is a pipeline (an array of stages).
    case updateOne(filter: Document, update: BSON, upsert: Bool = false, arrayFilters: [BSON]? = nil)
    /// Updates every matching document (operators or a pipeline).
    case updateMany(filter: Document, update: BSON, upsert: Bool = false, arrayFilters: [BSON]? = nil)
    /// Replaces the first matching document, keeping its `_id`.
    case replaceOne(filter: Document, replacement: T, upsert: Bool = false)
    /// Deletes the first matching document.
    case deleteOne(filter: Document)
    /// Deletes every matching document.
    case deleteMany(filter: Document)
}

/// What a `bulkWrite` wrote, in total.
public struct BulkWriteResult: Sendable, Equatable {
    /// Documents inserted by `insertOne` models.
    public var insertedCount = 0
    /// Documents the update and replace models' filters matched.
    public var matchedCount = 0
    /// Documents the update and replace models changed (a no-op update matches, not modifies).
    public var modifiedCount = 0
    /// Documents deleted.
    public var deletedCount = 0
    /// Documents inserted by upserts.
    public var upsertedCount: Int { upsertedIDs.count }
    /// The `_id` of each inserted document, by the position of its write model.
    public var insertedIDs: [Int: BSON] = [:]
    /// The `_id` of each upserted document, by the position of its write model.
    public var upsertedIDs: [Int: BSON] = [:]

    /// An empty result (nothing written).
    public init() {}
}

/// Thrown by `insertMany` and `bulkWrite` when writes failed: each failure with the position
/// of its document or write model, and what was written nonetheless (everything before the
/// first failure when ordered; everything else when not).
public struct BulkWriteError: Error, Sendable, CustomStringConvertible {
    /// One write that failed.
    public struct Failure: Sendable {
        /// Position of the document or write model in the call.
        public var index: Int
        /// Why it failed: MongoDB's code and message (11000 DuplicateKey, 121 DocumentValidationFailure, ...).
        public var error: FolioError
    }

    /// The writes that failed, in position order.
    public var writeErrors: [Failure]
    /// What was written.
    public var result: BulkWriteResult

    /// A one-line summary naming the first failure.
    public var description: String {
        "BulkWriteError: \(writeErrors.count) write(s) failed; first at \(writeErrors.first.map { "\($0.index): \($0.error)" } ?? "-")"
    }
}

extension FolioCollection {
    /// Inserts documents: in order, stopping at the first failure (`ordered`), or all of them
    /// whatever fails (`ordered: false`).
    /// - Returns: the `_id` of each document by position (generated when absent).
    /// - Throws: `BulkWriteError` when documents fail (its result holds the ids of those
    ///   inserted); `FolioError` when the call as a whole fails (a value that cannot be encoded,
    ///   an invalid collection name).
    @discardableResult
    public func insertMany(_ values: [T], ordered: Bool = true) async throws -> InsertManyResult {
        let r = try await bulkWrite(values.map { .insertOne($0) }, ordered: ordered)
        return InsertManyResult(insertedCount: r.insertedCount, insertedIDs: r.insertedIDs)
    }

    /// Runs inserts, updates, replacements and deletes, in order stopping at the first failure
    /// (`ordered`), or all of them (`ordered: false`). Consecutive writes of one kind run as
    /// one engine call, as a driver sends them as one command; each is atomic on its own
    /// document, not with the others (use `withTransaction` for that).
    /// - Throws: `BulkWriteError` with each failure's position and what was written;
    ///   `FolioError` when the call fails before writing (a replacement with operators, an
    ///   update without them, a value that cannot be encoded).
    @discardableResult
    public func bulkWrite(_ models: [WriteModel<T>], ordered: Bool = true) async throws -> BulkWriteResult {
        _ = try namespace()  // an invalid name fails before anything is encoded
        let groups = try Self.group(models.map { m throws(FolioError) in try statement(m) })
        let options = WriteOptions(ordered: ordered)
        var result = BulkWriteResult()
        var failures: [BulkWriteError.Failure] = []
        for (offset, group) in groups {
            let errors: [WriteError]
            switch group {
            case .insert(let documents):
                let r = try await onCollection { (engine, ns) throws(FolioError) in try engine.insert(ns, documents, options: options) }
                result.insertedCount += r.insertedCount
                for (i, id) in r.insertedIDs { result.insertedIDs[offset + i] = id }
                errors = r.writeErrors
            case .update(let statements):
                let r = try await onCollection { (engine, ns) throws(FolioError) in try engine.update(ns, statements, options: options) }
                result.matchedCount += r.matched
                result.modifiedCount += r.modified
                for u in r.upserted { result.upsertedIDs[offset + u.index] = u.id }
                errors = r.writeErrors
            case .delete(let statements):
                let r = try await onCollection { (engine, ns) throws(FolioError) in try engine.delete(ns, statements, options: options) }
                result.deletedCount += r.deleted
                errors = r.writeErrors
            }
            failures += errors.map { BulkWriteError.Failure(index: offset + $0.index, error: $0.error) }
            if ordered && !errors.isEmpty { break }
        }
        if !failures.isEmpty { throw BulkWriteError(writeErrors: failures, result: result) }
        return result
    }

    enum Statement {
        case insert(Document)
        case update(UpdateStatement)
        case delete(DeleteStatement)
    }

    enum Group {
        case insert([Document])
        case update([UpdateStatement])
        case delete([DeleteStatement])
    }

    func statement(_ model: WriteModel<T>) throws(FolioError) -> Statement {
        switch model {
        case .insertOne(let v):
            return .insert(try encode(v))
        case .updateOne(let filter, let update, let upsert, let arrayFilters):
            try Self.requireOperators(update)
            return .update(UpdateStatement(filter: filter, update: update, upsert: upsert, arrayFilters: arrayFilters))
        case .updateMany(let filter, let update, let upsert, let arrayFilters):
            try Self.requireOperators(update)
            return .update(UpdateStatement(filter: filter, update: update, upsert: upsert, multi: true, arrayFilters: arrayFilters))
        case .replaceOne(let filter, let replacement, let upsert):
            return .update(UpdateStatement(filter: filter, update: .document(try replacementDocument(replacement)), upsert: upsert))
        case .deleteOne(let filter):
            return .delete(DeleteStatement(filter: filter, limitOne: true))
        case .deleteMany(let filter):
            return .delete(DeleteStatement(filter: filter, limitOne: false))
        }
    }

    /// Runs of consecutive statements of one kind, each with the position of its first.
    static func group(_ statements: [Statement]) -> [(offset: Int, group: Group)] {
        var out: [(offset: Int, group: Group)] = []
        var i = 0
        while i < statements.count {
            let start = i
            switch statements[i] {
            case .insert:
                var list: [Document] = []
                while i < statements.count, case .insert(let d) = statements[i] { list.append(d); i += 1 }
                out.append((start, .insert(list)))
            case .update:
                var list: [UpdateStatement] = []
                while i < statements.count, case .update(let u) = statements[i] { list.append(u); i += 1 }
                out.append((start, .update(list)))
            case .delete:
                var list: [DeleteStatement] = []
                while i < statements.count, case .delete(let d) = statements[i] { list.append(d); i += 1 }
                out.append((start, .delete(list)))
            }
        }
        return out
    }
}
