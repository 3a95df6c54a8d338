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

    /// Whether the document with `_id` `id` of an existing collection would be read from
    /// memory now (StorageEngine.holdsInMemory), by the key IDHACK reads it with.
    public func holdsDocumentInMemory(_ ns: Namespace, id: BSON) -> Bool {
        guard let entry = entry(ns) else { return false }
        return storage.holdsInMemory(entry.recordStore, KeyString.encode(id))
    }

    /// The document with `_id` `id` of an existing collection, when memory holds its latest
    /// committed version now (StorageEngine.latestInMemory): IDHACK's read without a snapshot,
    /// plan or cursor, for point reads answered on an event loop. Counted in
    /// `metrics.queryExecutor` as IDHACK counts it. nil when memory cannot say (the caller
    /// then runs the query), for `_id` types whose match is not exactly their key's equality
    /// (only ints, longs, finite doubles, strings and ObjectIds are answered), and on the
    /// engine of a transaction or snapshot read.
    public func documentInMemory(_ ns: Namespace, id: BSON) -> RawDocument? {
        guard let entry = pointReadEntry(ns, id: id),
              let bytes = storage.latestInMemory(entry.recordStore, KeyString.encode(id)) else { return nil }
        queryStatistics.keysExamined.add(1, ordering: .relaxed)
        queryStatistics.documentsExamined.add(1, ordering: .relaxed)
        return RawDocument(trusted: bytes)
    }

    /// The document with `_id` `id` of an existing collection read through a snapshot (from
    /// memory or the file; the read fills the record cache): `.some(nil)` when there is none.
    /// IDHACK's read without a plan or cursor, counted as IDHACK counts it (one key examined,
    /// and one document when found). nil in the cases `documentInMemory` leaves to a query.
    public func document(_ ns: Namespace, id: BSON) -> RawDocument?? {
        guard let entry = pointReadEntry(ns, id: id) else { return nil }
        let bytes: [UInt8]?
        do throws(StorageError) {
            let snapshot = try storage.snapshot()
            defer { snapshot.close() }
            bytes = try snapshot.get(entry.recordStore, KeyString.encode(id))
        } catch {
            return nil
        }
        queryStatistics.keysExamined.add(1, ordering: .relaxed)
        guard let bytes else { return .some(nil) }
        queryStatistics.documentsExamined.add(1, ordering: .relaxed)
        return RawDocument(trusted: bytes)
    }

    /// The collection a point read by `id` reads without a query, when it may.
    private func pointReadEntry(_ ns: Namespace, id: BSON) -> CollectionEntry? {
        switch id {
        case .int32, .int64, .string, .objectID: break
        case .double(let d) where d.isFinite: break
        default: return nil
        }
        guard snapshotCollections == nil, ns != oplogNamespace else { return nil }
        return entry(ns)
    }

    /// Creates a collection explicitly.
    /// - Throws: 48 NamespaceExists when it exists with different options; capped options'
    ///   errors (`cappedOptions`).
    public func createCollection(_ ns: Namespace, options: Document = Document()) throws(FolioError) {
        let options = try Engine.cappedOptions(options)
        try Engine.checkImagesOption(options)
        if CappedLimits(options: options) != nil, snapshotCollections != nil {
            throw FolioError(.operationNotSupportedInTransaction, "Cannot create a capped collection in a multi-document transaction: \(ns)")
        }
        try folio {
            try committer.catalogWrite { txn in
                if let existing = self.entry(ns) {
                    if existing.options == options { return }
                    throw FolioError(.namespaceExists, "Collection \(ns) already exists.")
                }
                try self.create(ns, options: options, in: txn)
            }
        }
    }

    /// Creates the collection inside a write transaction (also used implicitly by writes).
    /// A name a view holds (a definition in the database's `system.views`, where the server
    /// keeps views) is refused with 166, whichever write would create it (insert, upsert,
    /// `$out`, `$merge`, createIndexes).
    func create(_ ns: Namespace, options: Document, in txn: any StorageWriteTransaction) throws {
        try refuseViewName(ns, in: txn)
        let entry = try CollectionEntry(namespace: ns, uuid: CollectionEntry.newUUID(), options: options)
        try txn.createStore(entry.recordStore)
        if entry.capped != nil { try txn.createStore(entry.orderStore) }
        try txn.put(Engine.catalogStore, CollectionEntry.key(ns), entry.document.bsonBytes())
        var command: Document = ["create": .string(ns.collection)]
        for (k, v) in options { command.append(k, v) }
        command.append("idIndex", ["v": .int32(2), "key": ["_id": .int32(1)], "name": "_id_"])
        logCommand(ns.database, uuid: entry.uuid, command, txn)
        // The in-memory catalog follows the transaction: readers see the entry once it
        // commits, and a rollback undoes it (CatalogBox).
        updateCatalog { $0.set(ns, entry) }
    }

    /// Where each database's view definitions live (MongoDB's `system.views`).
    public static let viewsCollection = "system.views"

    /// 166 when a view holds the name `ns` (a collection may not take it).
    func refuseViewName(_ ns: Namespace, in txn: any StorageWriteTransaction) throws {
        if let views = entry(try Namespace(database: ns.database, collection: Engine.viewsCollection)),
           try txn.get(views.recordStore, KeyString.encode(.string(ns.description))) != nil {
            throw FolioError(.commandNotSupportedOnView, "Namespace \(ns) is a view, not a collection")
        }
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
            try committer.catalogWrite { txn -> Bool in
                guard let e = self.entry(ns) else { return false }
                let records = self.committer.recordCounts.count(e.recordStore) ?? 0
                try Engine.dropStores(of: e, txn)
                // The graphs go from memory too (read back from storage if the drop does not commit).
                for index in e.searchIndexes { self.vectorIndexes?.forget(index.store) }
                self.logCommand(ns.database, uuid: e.uuid, ["drop": .string(ns.collection)],
                                o2: ["numRecords": .int64(Int64(records))], txn)
                self.planCache.invalidate(ns)
                try txn.delete(Engine.catalogStore, CollectionEntry.key(ns))
                self.updateCatalog { $0.set(ns, nil) }
                self.queryStatistics.forget(ns)
                self.latencyStatistics.forget(ns)
                return true
            }
        }
    }

    /// Drops the stores that hold a collection: records, indexes, a capped collection's order.
    static func dropStores(of e: CollectionEntry, _ txn: any StorageWriteTransaction) throws {
        try txn.dropStore(e.recordStore)
        for index in e.indexes { try txn.dropStore(index.store) }
        for index in e.searchIndexes { try txn.dropStore(index.store) }
        if e.capped != nil { try txn.dropStore(e.orderStore) }
    }

    /// Drops every collection of a database.
    public func dropDatabase(_ database: String) throws(FolioError) {
        let names = collections(in: database).map(\.name)
        for n in names { try dropCollection(try Namespace(database: database, collection: n)) }
        // The change log notes the database's end after its collections' (change streams on
        // the database end with it).
        guard !names.isEmpty else { return }
        try folio {
            try committer.catalogWrite { txn in self.logCommand(database, uuid: nil, ["dropDatabase": .int32(1)], txn) }
        }
    }

    /// Renames a collection (keeping its data and UUID).
    /// - Throws: 26 NamespaceNotFound (source missing), 48 NamespaceExists (target exists and
    ///   `dropTarget` is false).
    public func renameCollection(_ from: Namespace, to: Namespace, dropTarget: Bool = false) throws(FolioError) {
        try folio {
            try committer.catalogWrite { txn in try self.rename(from, to: to, dropTarget: dropTarget, in: txn) }
        }
    }

    /// Renames a collection inside a write transaction (see `renameCollection`).
    func rename(_ from: Namespace, to: Namespace, dropTarget: Bool, in txn: any StorageWriteTransaction) throws {
        guard var e = entry(from) else { throw FolioError(.namespaceNotFound, "Source collection \(from) does not exist") }
        if from == to { throw FolioError(.illegalOperation, "Can't rename a collection to itself") }
        try refuseViewName(to, in: txn)
        var droppedTarget: BSON = .bool(false)
        if let target = entry(to) {
            guard dropTarget else { throw FolioError(.namespaceExists, "Target namespace exists") }
            try Engine.dropStores(of: target, txn)
            for index in target.searchIndexes { vectorIndexes?.forget(index.store) }
            try txn.delete(Engine.catalogStore, CollectionEntry.key(to))
            droppedTarget = .binary(Binary(subtype: Binary.Subtype.uuid, data: target.uuid))
        }
        logCommand(from.database, uuid: e.uuid, ["renameCollection": .string(from.description), "to": .string(to.description),
                                                  "stayTemp": .bool(false), "dropTarget": droppedTarget], txn)
        try txn.delete(Engine.catalogStore, CollectionEntry.key(from))
        e.namespace = to
        try txn.put(Engine.catalogStore, CollectionEntry.key(to), e.document.bsonBytes())
        planCache.invalidate(from)
        planCache.invalidate(to)
        updateCatalog { state in
            state.set(from, nil)
            state.set(to, e)
        }
    }

    /// Number of documents (the catalog-free fast count of estimatedDocumentCount).
    public func estimatedCount(_ ns: Namespace) throws(FolioError) -> Int {
        guard let e = entry(ns) else { return 0 }
        // Kept by the commits (RecordCounts); counted only if missing.
        if let n = committer.recordCounts.count(e.recordStore) { return n }
        return try Folio_storage { () throws(StorageError) -> Int in
            let s = try storage.snapshot()
            defer { s.close() }
            return try s.count(e.recordStore)
        }
    }
}

extension Engine {
    /// collMod: changes the collection's validation options (`validator`, `validationLevel`,
    /// `validationAction`) and an index's `hidden` / `expireAfterSeconds` (`index: {name or
    /// keyPattern, ...}`). Returns the reply fields (`hidden_old`/`hidden_new`,
    /// `expireAfterSeconds_old`/`_new` when an index changed).
    /// - Throws: 26 NamespaceNotFound, 27 IndexNotFound, 72 InvalidOptions, 14/2 for bad values,
    ///   and the validator's parse errors.
    public func modifyCollection(_ ns: Namespace, _ changes: Document) throws(FolioError) -> Document {
        try folio {
            try committer.catalogWrite { txn -> Document in
                guard var entry = self.entry(ns) else { throw FolioError(.namespaceNotFound, "ns does not exist") }
                var reply = Document()
                var options = entry.options
                for key in ["validator", "validationLevel", "validationAction", "changeStreamPreAndPostImages"] {
                    if let v = changes[key] { options[key] = v }
                }
                try Engine.checkImagesOption(options)
                try Engine.modifyCappedLimits(&options, changes)
                if options != entry.options { try entry.setOptions(options, command: "collMod") }
                if let spec = changes["index"] {
                    guard case .document(let spec) = spec else {
                        throw FolioError(.typeMismatch, "BSON field 'collMod.index' is the wrong type '\(spec.type.alias)', expected type 'object'")
                    }
                    reply = try Engine.modifyIndex(&entry, spec)
                    self.planCache.invalidate(ns)
                }
                try self.saveEntry(entry, txn)
                var command: Document = ["collMod": .string(ns.collection)]
                for (k, v) in changes { command.append(k, v) }
                self.logCommand(ns.database, uuid: entry.uuid, command, txn)
                return reply
            }
        }
    }

    /// collMod's `cappedSize` and `cappedMax` (MongoDB 6.0): new limits of a capped collection,
    /// applied from its next insert. Bounds are checked before whether it is capped.
    static func modifyCappedLimits(_ options: inout Document, _ changes: Document) throws(FolioError) {
        var given: [(field: String, option: String, value: Int64)] = []
        for (field, option) in [("cappedSize", "size"), ("cappedMax", "max")] {
            guard let v = changes[field], v.type != .null else { continue }
            guard v.isNumber, let n = v.safeInt64 else {
                throw FolioError(.typeMismatch, "BSON field 'collMod.\(field)' is the wrong type '\(v.type.alias)', expected types '[double, int, long, decimal]'")
            }
            if field == "cappedSize" {
                if n < 1 { throw FolioError(ErrorCode(rawValue: 51024), "BSON field 'cappedSize' value must be >= 1, actual value '\(n)'") }
                if n > 1 << 50 { throw FolioError(ErrorCode(rawValue: 51023), "BSON field 'cappedSize' value must be <= \(1 << 50), actual value '\(n)'") }
            } else if n >= 1 << 31 {
                throw FolioError(ErrorCode(rawValue: 51022), "BSON field 'cappedMax' value must be < \(1 << 31), actual value '\(n)'")
            }
            given.append((field, option, n))
        }
        guard !given.isEmpty else { return }
        guard CappedLimits(options: options) != nil else { throw FolioError(.invalidOptions, "Collection must be capped.") }
        var normalized = options
        for (_, option, n) in given { normalized[option] = option == "max" && n <= 0 ? .int64(Int64(Int32.max)) : .int64(n) }
        options = try Engine.cappedOptions(normalized)
    }

    static func modifyIndex(_ entry: inout CollectionEntry, _ spec: Document) throws(FolioError) -> Document {
        let found: Int?
        switch (spec["name"], spec["keyPattern"]) {
        case (.string(let name)?, nil):
            found = entry.indexes.firstIndex { $0.name == name && !$0.building }
            if found == nil { throw FolioError(.indexNotFound, "cannot find index \(name) for ns \(entry.namespace)") }
        case (nil, .document(let pattern)?):
            found = entry.indexes.firstIndex { $0.keyPattern == pattern && !$0.building }
            if found == nil { throw FolioError(.indexNotFound, "cannot find index \(ShellFormat.value(.document(pattern))) for ns \(entry.namespace)") }
        default:
            throw FolioError(.invalidOptions, "must specify either index name or key pattern")
        }
        let position = found!
        var index = entry.indexes[position]
        var reply = Document()
        let changes = spec.filter { $0.key != "name" && $0.key != "keyPattern" }
        if changes.isEmpty { throw FolioError(.invalidOptions, "no expireAfterSeconds or hidden field") }
        for (k, v) in changes {
            switch k {
            case "hidden":
                guard v.type == .bool else { throw FolioError(.typeMismatch, "BSON field 'collMod.index.hidden' is the wrong type '\(v.type.alias)', expected type 'bool'") }
                if v.isTruthy != index.hidden {
                    reply.append("hidden_old", .bool(index.hidden))
                    reply.append("hidden_new", v)
                    index.hidden = v.isTruthy
                    if index.hidden { index.options["hidden"] = true } else { index.options.removeValue(forKey: "hidden") }
                }
            case "expireAfterSeconds":
                guard let old = index.expireAfterSeconds else {
                    throw FolioError(.invalidOptions, "no expireAfterSeconds field to update")
                }
                guard let seconds = v.exactInt64, seconds >= 0 else {
                    throw FolioError(.invalidOptions, "TTL index 'expireAfterSeconds' option must be a non-negative whole number")
                }
                // The bound createIndexes applies: an entry past it would not load again.
                guard seconds <= Int64(Int32.max) else {
                    throw FolioError(.invalidOptions, "TTL index 'expireAfterSeconds' option must be within an acceptable range, try a lower number")
                }
                if BSON.compare(old, v) != 0 {
                    reply.append("expireAfterSeconds_old", old)
                    reply.append("expireAfterSeconds_new", v)
                    index.expireAfterSeconds = v
                    index.options["expireAfterSeconds"] = v
                }
            default:
                throw FolioError(ErrorCode(rawValue: 40415), "BSON field 'collMod.index.\(k)' is an unknown field.")
            }
        }
        entry.indexes[position] = index
        return reply
    }
}
