internal import FolioEngine

/// A type whose stored fields the typed query builder can name from key paths.
///
/// Swift cannot read a property's coding key from a key path, so a type states its fields
/// once, next to its `CodingKeys`; a filter, sort or update on a key path not listed throws
/// 2 BadValue instead of querying a field the documents do not have.
///
/// ```swift
/// struct Message: Codable, Sendable, FolioFields {
///     var _id: ObjectID
///     var room: String
///     var sentAt: Date
///     var likes: Int
///     static let fields: FieldNames<Message> = [\._id: "_id", \.room: "room", \.sentAt: "sentAt", \.likes: "likes"]
/// }
///
/// let recent = messages.find(\.room == "general" && \.sentAt > cutoff, sort: [.descending(\.sentAt)], limit: 20)
/// try await messages.updateOne(\._id == id, .inc(\.likes, 1))
/// ```
public protocol FolioFields {
    /// Each queryable key path and the field it is stored under (its coding key). A nested
    /// field is listed by its whole path: `[\.author.name: "author.name"]`.
    static var fields: FieldNames<Self> { get }
}

/// Key paths of `Root` and the names of the fields they are stored under, written as a
/// dictionary literal: `[\.room: "room", \.sentAt: "sent_at"]`.
public struct FieldNames<Root>: @unchecked Sendable, ExpressibleByDictionaryLiteral {
    // @unchecked: immutable once made; key paths are immutable values (not Sendable only
    // because a subscript key path may capture arguments, which are only hashed and compared).
    let names: [PartialKeyPath<Root>: String]

    public init(dictionaryLiteral elements: (PartialKeyPath<Root>, String)...) {
        names = Dictionary(elements, uniquingKeysWith: { _, last in last })
    }
}

extension FolioFields {
    static func name(_ keyPath: PartialKeyPath<Self>) throws(FolioError) -> String {
        guard let name = fields.names[keyPath] else {
            throw FolioError(.badValue, "\(keyPath) is not among \(Self.self).fields: list it with the field name it is stored under")
        }
        return name
    }
}

/// The stored form of a value, as inserting it would store it (dates, UUIDs, enums, nested
/// types encoded as the collection's documents are).
private func storedValue<V: Encodable>(_ value: V) throws(FolioError) -> BSON {
    if let bson = value as? BSON { return bson }
    do { return try BSONEncoder().encodeValue(value) } catch {
        throw FolioError(.badValue, "cannot encode \(V.self) for a query: \(error)")
    }
}

/// A filter on `Root`'s fields, built from key paths: `\.room == "general" && \.likes >= 10`.
/// Convert to a filter document with `document()`; the collection's methods take it as is.
public struct Filter<Root: FolioFields>: Sendable {
    /// Built when the filter is made (key paths are not Sendable); a failure is thrown on use.
    let built: Result<Document, FolioError>

    init(_ build: () throws(FolioError) -> Document) { built = Result { () throws(FolioError) in try build() } }

    /// The filter document (`{room: "general", likes: {$gte: 10}}`).
    /// - Throws: 2 BadValue for a key path not in `Root.fields` or a value that cannot be encoded.
    public func document() throws(FolioError) -> Document { try built.get() }

    static func field<V: Encodable & Sendable>(_ keyPath: KeyPath<Root, V>, _ op: String?, _ value: V) -> Filter {
        Filter { () throws(FolioError) in
            let stored = try storedValue(value)
            return [try Root.name(keyPath): op.map { [$0: stored] } ?? stored]
        }
    }

    /// Documents whose field at `keyPath` is one of `values` (`$in`).
    public static func field<V: Encodable & Sendable>(_ keyPath: KeyPath<Root, V>, in values: [V]) -> Filter {
        Filter { () throws(FolioError) in
            var list: [BSON] = []
            for v in values { list.append(try storedValue(v)) }
            return [try Root.name(keyPath): ["$in": .array(list)]]
        }
    }

    /// Documents that have (or lack) the field at `keyPath` (`$exists`).
    public static func field<V>(_ keyPath: KeyPath<Root, V>, exists: Bool) -> Filter {
        Filter { () throws(FolioError) in [try Root.name(keyPath): ["$exists": .bool(exists)]] }
    }

    /// Every document.
    public static var all: Filter { Filter { [:] } }

    static func combine(_ op: String, _ lhs: Filter, _ rhs: Filter) -> Filter {
        Filter { () throws(FolioError) in [op: [.document(try lhs.document()), .document(try rhs.document())]] }
    }
}

/// Documents whose field at `lhs` equals `rhs` (an array field: one that holds it).
public func == <Root, V: Encodable & Sendable>(lhs: KeyPath<Root, V>, rhs: V) -> Filter<Root> { .field(lhs, nil, rhs) }
/// Documents whose field at `lhs` does not equal `rhs` (`$ne`; documents without the field too).
public func != <Root, V: Encodable & Sendable>(lhs: KeyPath<Root, V>, rhs: V) -> Filter<Root> { .field(lhs, "$ne", rhs) }
/// Documents whose field at `lhs` is less than `rhs` (`$lt`, values of the same type).
public func < <Root, V: Encodable & Sendable & Comparable>(lhs: KeyPath<Root, V>, rhs: V) -> Filter<Root> { .field(lhs, "$lt", rhs) }
/// Documents whose field at `lhs` is at most `rhs` (`$lte`).
public func <= <Root, V: Encodable & Sendable & Comparable>(lhs: KeyPath<Root, V>, rhs: V) -> Filter<Root> { .field(lhs, "$lte", rhs) }
/// Documents whose field at `lhs` is greater than `rhs` (`$gt`).
public func > <Root, V: Encodable & Sendable & Comparable>(lhs: KeyPath<Root, V>, rhs: V) -> Filter<Root> { .field(lhs, "$gt", rhs) }
/// Documents whose field at `lhs` is at least `rhs` (`$gte`).
public func >= <Root, V: Encodable & Sendable & Comparable>(lhs: KeyPath<Root, V>, rhs: V) -> Filter<Root> { .field(lhs, "$gte", rhs) }
/// Both filters (`$and`).
public func && <Root>(lhs: Filter<Root>, rhs: Filter<Root>) -> Filter<Root> { .combine("$and", lhs, rhs) }
/// Either filter (`$or`).
public func || <Root>(lhs: Filter<Root>, rhs: Filter<Root>) -> Filter<Root> { .combine("$or", lhs, rhs) }

/// One key of a sort on `Root`'s fields.
public struct SortKey<Root: FolioFields>: Sendable {
    let field: Result<String, FolioError>
    let direction: Int32

    init(_ keyPath: PartialKeyPath<Root>, _ direction: Int32) {
        field = Result { () throws(FolioError) in try Root.name(keyPath) }
        self.direction = direction
    }

    /// Smallest first.
    public static func ascending<V>(_ keyPath: KeyPath<Root, V>) -> SortKey { SortKey(keyPath, 1) }
    /// Largest first.
    public static func descending<V>(_ keyPath: KeyPath<Root, V>) -> SortKey { SortKey(keyPath, -1) }

    static func document(_ keys: [SortKey]) throws(FolioError) -> Document? {
        guard !keys.isEmpty else { return nil }
        var d = Document()
        for k in keys { d.append(try k.field.get(), .int32(k.direction)) }
        return d
    }
}

/// An update of `Root`'s fields: `.set(\.text, "edited")`, `.inc(\.likes, 1)`, combined with `+`.
public struct Update<Root: FolioFields>: Sendable {
    /// Each operation, resolved when the update is made; a failure is thrown on use.
    let operations: [Result<Operation, FolioError>]

    struct Operation: Sendable {
        let op: String
        let field: String
        let value: BSON
    }

    static func make(_ op: String, _ keyPath: PartialKeyPath<Root>, _ value: () throws(FolioError) -> BSON) -> Update {
        Update(operations: [Result { () throws(FolioError) in Operation(op: op, field: try Root.name(keyPath), value: try value()) }])
    }

    /// Sets the field at `keyPath` to `value` (`$set`).
    public static func set<V: Encodable & Sendable>(_ keyPath: KeyPath<Root, V>, _ value: V) -> Update {
        make("$set", keyPath) { () throws(FolioError) in try storedValue(value) }
    }

    /// Adds `amount` to the number at `keyPath` (`$inc`).
    public static func inc<V: Numeric & Encodable & Sendable>(_ keyPath: KeyPath<Root, V>, _ amount: V) -> Update {
        make("$inc", keyPath) { () throws(FolioError) in try storedValue(amount) }
    }

    /// Removes the field at `keyPath` (`$unset`; an optional property reads as nil after).
    public static func unset<V>(_ keyPath: KeyPath<Root, V?>) -> Update {
        make("$unset", keyPath) { .string("") }
    }

    /// Appends `element` to the array at `keyPath` (`$push`).
    public static func push<E: Encodable & Sendable>(_ keyPath: KeyPath<Root, [E]>, _ element: E) -> Update {
        make("$push", keyPath) { () throws(FolioError) in try storedValue(element) }
    }

    /// Both updates, in order.
    public static func + (lhs: Update, rhs: Update) -> Update { Update(operations: lhs.operations + rhs.operations) }

    /// The update document (`{$set: {...}, $inc: {...}}`).
    /// - Throws: 2 BadValue for a key path not in `Root.fields` or a value that cannot be encoded.
    public func document() throws(FolioError) -> Document {
        var byOperator: [(String, Document)] = []
        for operation in operations {
            let o = try operation.get()
            if let i = byOperator.firstIndex(where: { $0.0 == o.op }) {
                byOperator[i].1.append(o.field, o.value)
            } else {
                byOperator.append((o.op, [o.field: o.value]))
            }
        }
        var d = Document()
        for (op, fields) in byOperator { d.append(op, .document(fields)) }
        return d
    }
}

extension FolioCollection where T: FolioFields {
    /// Documents matching a typed filter, in `sort` order.
    public func find(_ filter: Filter<T>, sort: [SortKey<T>] = [], skip: Int = 0, limit: Int = 0) -> FindSequence<T> {
        let collection = self
        return CursorSequence(folio: database.folio) { () throws(FolioError) in
            let request = FindRequest(filter: try filter.document(), sort: try SortKey.document(sort), skip: skip, limit: limit)
            return try collection.openFind(request)
        }
    }

    /// The first document matching a typed filter (in `sort` order).
    public func findOne(_ filter: Filter<T>, sort: [SortKey<T>] = []) async throws(FolioError) -> T? {
        try await findOne(try filter.document(), sort: try SortKey.document(sort))
    }

    /// Counts documents matching a typed filter.
    public func countDocuments(_ filter: Filter<T>) async throws(FolioError) -> Int {
        try await countDocuments(try filter.document())
    }

    /// Updates the first document matching a typed filter.
    @discardableResult
    public func updateOne(_ filter: Filter<T>, _ update: Update<T>, upsert: Bool = false) async throws(FolioError) -> UpdateOutcome {
        try await updateOne(try filter.document(), .document(try update.document()), upsert: upsert)
    }

    /// Updates every document matching a typed filter.
    @discardableResult
    public func updateMany(_ filter: Filter<T>, _ update: Update<T>, upsert: Bool = false) async throws(FolioError) -> UpdateOutcome {
        try await updateMany(try filter.document(), .document(try update.document()), upsert: upsert)
    }

    /// Deletes every document matching a typed filter; returns how many.
    @discardableResult
    public func deleteMany(_ filter: Filter<T>) async throws(FolioError) -> Int {
        try await deleteMany(try filter.document())
    }
}
