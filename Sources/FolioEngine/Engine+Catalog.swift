import FolioBSON
import FolioQuery
import FolioStorage

/// Information `listCollections` reports.
public struct CollectionInfo: Sendable {
    public var name: String
    public var uuid: [UInt8]
    public var options: Document
}

extension Engine {
    /// Databases that hold at least one collection, with their sizes.
    public func databaseNames() -> [String] {
        catalog.withLock { Set($0.collections.keys.map(\.database)).sorted() }
    }

    /// The collections of a database.
    public func collections(in database: String) -> [CollectionInfo] {
        catalog.withLock { state in
            state.collections.values.filter { $0.namespace.database == database }
                .sorted { $0.namespace.collection < $1.namespace.collection }
                .map { CollectionInfo(name: $0.namespace.collection, uuid: $0.uuid, options: $0.options) }
        }
    }

    /// Whether the collection exists.
    public func collectionExists(_ ns: Namespace) -> Bool { entry(ns) != nil }

    /// Creates a collection explicitly.
    /// - Throws: 48 NamespaceExists when it exists with different options.
    public func createCollection(_ ns: Namespace, options: Document = Document()) throws(FolioError) {
        try folio {
            try committer.write(durable: true) { txn in
                if let existing = self.entry(ns) {
                    if existing.options == options { return }
                    throw FolioError(.namespaceExists, "Collection \(ns) already exists.")
                }
                try self.create(ns, options: options, in: txn)
            }
        }
    }

    /// Creates the collection inside a write transaction (also used implicitly by writes).
    func create(_ ns: Namespace, options: Document, in txn: any StorageWriteTransaction) throws {
        let entry = CollectionEntry(namespace: ns, uuid: CollectionEntry.newUUID(), options: options)
        try txn.createStore(entry.recordStore)
        try txn.put(Engine.catalogStore, CollectionEntry.key(ns), entry.document.bsonBytes())
        // The in-memory catalog follows the transaction: if it rolls back, it is reloaded.
        catalog.withLock { $0.collections[ns] = entry }
    }

    /// The entry for `ns`, creating the collection when `create` is set.
    func entryForWrite(_ ns: Namespace, in txn: any StorageWriteTransaction) throws -> CollectionEntry {
        if let e = entry(ns) { return e }
        try create(ns, options: Document(), in: txn)
        return entry(ns)!
    }

    /// Drops a collection. Returns false when it did not exist.
    @discardableResult
    public func dropCollection(_ ns: Namespace) throws(FolioError) -> Bool {
        try folio {
            try committer.write(durable: true) { txn -> Bool in
                guard let e = self.entry(ns) else { return false }
                try txn.dropStore(e.recordStore)
                for index in e.indexes { try txn.dropStore(index.store) }
                self.planCache.invalidate(ns)
                try txn.delete(Engine.catalogStore, CollectionEntry.key(ns))
                self.catalog.withLock { _ = $0.collections.removeValue(forKey: ns) }
                return true
            }
        }
    }

    /// Drops every collection of a database.
    public func dropDatabase(_ database: String) throws(FolioError) {
        let names = collections(in: database).map(\.name)
        for n in names { try dropCollection(try Namespace(database: database, collection: n)) }
    }

    /// Renames a collection (keeping its data and UUID).
    /// - Throws: 26 NamespaceNotFound (source missing), 48 NamespaceExists (target exists and
    ///   `dropTarget` is false).
    public func renameCollection(_ from: Namespace, to: Namespace, dropTarget: Bool = false) throws(FolioError) {
        try folio {
            try committer.write(durable: true) { txn in
                guard var e = self.entry(from) else { throw FolioError(.namespaceNotFound, "Source collection \(from) does not exist") }
                if from == to { throw FolioError(.illegalOperation, "Can't rename a collection to itself") }
                if let target = self.entry(to) {
                    guard dropTarget else { throw FolioError(.namespaceExists, "Target namespace exists") }
                    try txn.dropStore(target.recordStore)
                    for index in target.indexes { try txn.dropStore(index.store) }
                    try txn.delete(Engine.catalogStore, CollectionEntry.key(to))
                }
                try txn.delete(Engine.catalogStore, CollectionEntry.key(from))
                e.namespace = to
                try txn.put(Engine.catalogStore, CollectionEntry.key(to), e.document.bsonBytes())
                self.planCache.invalidate(from)
                self.planCache.invalidate(to)
                self.catalog.withLock { state in
                    state.collections.removeValue(forKey: from)
                    state.collections[to] = e
                }
            }
        }
    }

    /// Number of documents (the catalog-free fast count of estimatedDocumentCount).
    public func estimatedCount(_ ns: Namespace) throws(FolioError) -> Int {
        guard let e = entry(ns) else { return 0 }
        return try Folio_storage { () throws(StorageError) -> Int in
            let s = try storage.snapshot()
            defer { s.close() }
            return try s.count(e.recordStore)
        }
    }
}
