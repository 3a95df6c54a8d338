import FolioBSON
import FolioQuery
import FolioStorage
import Synchronization
import FolioLocks

// The catalog: one entry per collection, persisted in the store "catalog" (key: KeyString of
// the namespace string, value: the entry as BSON) and mirrored in memory. Catalog changes are
// written in the same storage transaction as the data they describe, so a crash never leaves
// a collection without its entry or an entry without its store; the in-memory mirror
// (CatalogBox) shows readers a change only once that transaction has committed.

/// What the catalog knows about a collection.
///
/// Its fields live in one shared object, copied on write: the catalog is a dictionary of
/// entries that every catalog change copies, and with the fields inline that copy retained
/// every string and array of every collection (with thousands of collections, creating one
/// cost tens of milliseconds, measured); now it retains one reference per entry, and an
/// unchanged entry compares equal by identity.
public struct CollectionEntry: Sendable, Equatable {
    // @unchecked: changed only through `fields(_:)`, which first makes the object this
    // entry's own.
    private final class Fields: @unchecked Sendable {
        var namespace: Namespace
        let uuid: [UInt8]
        var options: Document
        var validator: DocumentValidator?
        var capped: CappedLimits?
        var indexes: [IndexDescriptor]
        var searchIndexes: [SearchIndexDescriptor]
        let recordStore: String
        let orderStore: String
        let idIndex: IndexDescriptor

        init(namespace: Namespace, uuid: [UInt8], options: Document, validator: DocumentValidator?, capped: CappedLimits?,
             indexes: [IndexDescriptor], searchIndexes: [SearchIndexDescriptor], recordStore: String, orderStore: String,
             idIndex: IndexDescriptor) {
            self.namespace = namespace
            self.uuid = uuid
            self.options = options
            self.validator = validator
            self.capped = capped
            self.indexes = indexes
            self.searchIndexes = searchIndexes
            self.recordStore = recordStore
            self.orderStore = orderStore
            self.idIndex = idIndex
        }

        func copy() -> Fields {
            Fields(namespace: namespace, uuid: uuid, options: options, validator: validator, capped: capped, indexes: indexes,
                   searchIndexes: searchIndexes, recordStore: recordStore, orderStore: orderStore, idIndex: idIndex)
        }
    }

    private var storage: Fields

    /// Changes the fields, copying them first when another entry shares them.
    private mutating func fields<R>(_ change: (Fields) -> R) -> R {
        if !isKnownUniquelyReferenced(&storage) { storage = storage.copy() }
        return change(storage)
    }

    public var namespace: Namespace {
        get { storage.namespace }
        set { fields { $0.namespace = newValue } }
    }
    /// The collection's UUID (16 bytes), as listCollections reports it.
    public var uuid: [UInt8] { storage.uuid }
    /// The options given to `create` (capped, validator, ...), as MongoDB echoes them.
    /// Set through `setOptions` so the compiled validator follows.
    public var options: Document { storage.options }
    /// The compiled `validator` of the options (nil: writes are not validated).
    public var validator: DocumentValidator? { storage.validator }
    /// A capped collection's limits, from the options (nil: not capped).
    public var capped: CappedLimits? { storage.capped }
    /// Secondary indexes (the `_id_` index is the record store itself).
    public var indexes: [IndexDescriptor] {
        get { storage.indexes }
        set { fields { $0.indexes = newValue } }
    }
    /// Search indexes (vectorSearch), kept apart from `indexes` as MongoDB keeps them apart
    /// from listIndexes (Vector/VectorIndexes.swift).
    public var searchIndexes: [SearchIndexDescriptor] {
        get { storage.searchIndexes }
        set { fields { $0.searchIndexes = newValue } }
    }

    /// The storage store holding the documents (named after the UUID).
    public var recordStore: String { storage.recordStore }
    /// The store holding a capped collection's insertion order (Capped.swift), also named
    /// after the UUID; made with the entry, as names are needed on every write.
    var orderStore: String { storage.orderStore }
    /// The `_id` index as a descriptor over the record store (the planner scans the records
    /// in `_id` order through it); made once with the entry.
    var idIndex: IndexDescriptor { storage.idIndex }

    /// What every record store's name starts with (`c.` and the collection's UUID).
    static let recordStorePrefix = "c."

    static func hex(_ bytes: [UInt8]) -> String {
        let digits = Array("0123456789abcdef")
        return String(bytes.flatMap { [digits[Int($0 >> 4)], digits[Int($0 & 0xF)]] })
    }

    static func newUUID() -> [UInt8] {
        var g = SystemRandomNumberGenerator()
        var bytes = (0..<16).map { _ in UInt8.random(in: 0...255, using: &g) }
        bytes[6] = (bytes[6] & 0x0F) | 0x40
        bytes[8] = (bytes[8] & 0x3F) | 0x80
        return bytes
    }

    var document: Document {
        var d: Document = ["ns": .string(namespace.description), "uuid": .binary(Binary(subtype: Binary.Subtype.uuid, data: uuid)),
                           "options": .document(options), "indexes": .array(indexes.map { .document($0.catalogDocument) })]
        if !searchIndexes.isEmpty { d.append("searchIndexes", .array(searchIndexes.map { .document($0.catalogDocument) })) }
        return d
    }

    init(namespace: Namespace, uuid: [UInt8], options: Document, indexes: [IndexDescriptor] = []) throws(FolioError) {
        let hex = CollectionEntry.hex(uuid)
        let recordStore = CollectionEntry.recordStorePrefix + hex
        storage = Fields(namespace: namespace, uuid: uuid, options: options, validator: try DocumentValidator(options: options),
                         capped: CappedLimits(options: options), indexes: indexes, searchIndexes: [], recordStore: recordStore,
                         orderStore: CollectionEntry.orderStorePrefix + hex,
                         idIndex: try IndexDescriptor(specification: Engine.idIndexSpecification, store: recordStore))
    }

    /// Replaces the options, compiling their validator.
    mutating func setOptions(_ options: Document, command: String) throws(FolioError) {
        let validator = try DocumentValidator(options: options, command: command)
        fields { f in
            f.validator = validator
            f.options = options
            f.capped = CappedLimits(options: options)
        }
    }

    public static func == (a: CollectionEntry, b: CollectionEntry) -> Bool {
        if a.storage === b.storage { return true }
        return a.namespace == b.namespace && a.uuid == b.uuid && a.options == b.options && a.indexes == b.indexes
            && a.searchIndexes == b.searchIndexes
    }

    init(document d: Document) throws(FolioError) {
        guard case .string(let ns)? = d["ns"], case .binary(let uuid)? = d["uuid"], case .document(let options)? = d["options"] else {
            throw FolioError(.internalError, "corrupt catalog entry \(d)")
        }
        try self.init(namespace: Namespace(parsing: ns), uuid: uuid.data, options: options,
                      indexes: (d["indexes"]?.arrayValue ?? []).map { v throws(FolioError) in
                          guard case .document(let spec) = v else { throw FolioError(.internalError, "corrupt catalog entry \(d)") }
                          return try IndexDescriptor(catalogDocument: spec)
                      })
        searchIndexes = try (d["searchIndexes"]?.arrayValue ?? []).map { v throws(FolioError) in
            guard case .document(let spec) = v else { throw FolioError(.internalError, "corrupt catalog entry \(d)") }
            return try SearchIndexDescriptor(catalogDocument: spec)
        }
    }

    static func key(_ ns: Namespace) -> [UInt8] { KeyString.encode(.string(ns.description)) }
}

/// The in-memory mirror of the catalog.
struct CatalogState: Sendable {
    private(set) var collections: [Namespace: CollectionEntry] = [:]
    /// Moves with every change, so a commit can tell whether it changed the catalog.
    var generation = 0
    /// The namespaces set or removed since the batch began (`CatalogBox.publish` reports
    /// those that differ): diffing the whole catalog instead cost O(collections) per change.
    private(set) var changed: Set<Namespace> = []

    init(collections: [Namespace: CollectionEntry] = [:]) { self.collections = collections }

    /// Sets (or with nil removes) a collection's entry.
    mutating func set(_ ns: Namespace, _ entry: CollectionEntry?) {
        collections[ns] = entry
        changed.insert(ns)
    }

    /// Starts a batch's record of changes.
    mutating func forgetChanges() { changed = [] }

    /// The entries stored in a snapshot's catalog store.
    static func load(from snapshot: any StorageSnapshot) throws(FolioError) -> [Namespace: CollectionEntry] {
        var collections: [Namespace: CollectionEntry] = [:]
        let entries = try Folio_storage { () throws(StorageError) in try snapshot.scan(Engine.catalogStore, .all, reverse: false, limit: nil) }
        for (_, value) in entries {
            let entry = try CollectionEntry(document: try Folio_document(value))
            collections[entry.namespace] = entry
        }
        return collections
    }
}

extension StorageError {
    /// The client-visible form of a storage failure.
    var folioError: FolioError {
        switch self {
        case .locked(let m): return FolioError(.illegalOperation, m)
        case .noSuchStore(let s): return FolioError(.namespaceNotFound, "storage for \(s) does not exist")
        case .storeExists(let s): return FolioError(.namespaceExists, "storage for \(s) already exists")
        case .corruption(let m): return FolioError(.internalError, "data corruption: \(m)")
        case .io(let m): return FolioError(.internalError, "storage I/O error: \(m)")
        case .closed: return FolioError(.shutdownInProgress, "The server is shutting down")
        case .writeConflict(let m):
            return FolioError(.writeConflict, "Write conflict during plan execution and yielding is disabled. :: Please retry your operation or multi-document transaction. (\(m))",
                              labels: ["TransientTransactionError"])
        case .catalogChanged(let m):
            return FolioError(.snapshotUnavailable, "Unable to write to collection due to catalog changes; please retry the operation (\(m))",
                              labels: ["TransientTransactionError"])
        case .transactionTooLarge(let m): return FolioError(.transactionTooLargeForCache, m)
        case .keyHeld: return FolioError(.internalError, "a write waited for a transaction and was not run again")
        }
    }
}

/// Runs storage code, translating storage errors to client errors at this one boundary.
func storage<R>(_ body: () throws(StorageError) -> R) throws(FolioError) -> R {
    do {
        return try body()
    } catch {
        throw error.folioError
    }
}

/// The in-memory catalog, changed only by commits: readers see the last committed state; the
/// group committer's batch works on a copy that only the batch's own thread sees, which
/// readers get when the batch's storage commit succeeds (`publish`), and which is dropped if
/// it fails. A request of the batch that fails gets its changes undone (`mark`/`restore`).
///
/// Invariants:
///  1. `published` is the catalog of the latest storage commit (of this engine's committer).
///  2. `pending` exists only while a batch runs, and only the thread running it (marked by
///     `CatalogBox.batch`) reads or changes it.
final class CatalogBox: Sendable {
    private struct State {
        var published: CatalogState
        var pending: CatalogState?
    }

    private let state: Locked<State>
    /// The box whose batch the current thread runs (invariant 2).
    @TaskLocal static var batch: ObjectIdentifier?

    init(_ state: CatalogState) { self.state = Locked(State(published: state)) }

    /// Reads or changes the catalog this thread sees.
    func withLock<R>(_ body: (inout CatalogState) throws -> R) rethrows -> R {
        try state.withLock { s in
            if s.pending != nil && CatalogBox.batch == ObjectIdentifier(self) { return try body(&s.pending!) }
            return try body(&s.published)
        }
    }

    /// Runs a batch's requests: the catalog they see and change is the batch's copy.
    func batch<R>(_ body: () throws -> R) rethrows -> R {
        state.withLock { s in
            s.pending = s.published
            s.pending!.forgetChanges()
        }
        defer { state.withLock { $0.pending = nil } }
        return try CatalogBox.$batch.withValue(ObjectIdentifier(self)) { try body() }
    }

    /// The batch's copy now, to restore if the next request fails.
    func mark() -> CatalogState? { state.withLock { $0.pending } }

    func restore(_ mark: CatalogState?) { state.withLock { $0.pending = mark } }

    /// Makes the batch's copy the readers' (call right after the storage commit); returns the
    /// namespaces whose entries changed.
    func publish() -> [Namespace] {
        state.withLock { s in
            guard let pending = s.pending, pending.generation != s.published.generation else { return [] }
            let old = s.published.collections
            s.published = pending
            return pending.changed.filter { old[$0] != pending.collections[$0] }
        }
    }
}
