import FolioBSON
import FolioQuery
import FolioStorage
import Synchronization

/// What createIndexes reports.
public struct CreateIndexesResult: Sendable {
    public var numIndexesBefore: Int
    public var numIndexesAfter: Int
    public var createdCollectionAutomatically: Bool
    /// "all indexes already exist" when nothing was built.
    public var note: String?
}

extension Engine {
    /// MongoDB's limit on indexes per collection, `_id_` included.
    public static let maximumIndexesPerCollection = 64

    static let idIndexSpecification: Document = ["v": .int32(2), "key": ["_id": .int32(1)], "name": "_id_"]

    /// The index specifications of a collection, `_id_` first (listIndexes).
    /// - Throws: 26 NamespaceNotFound when the collection does not exist.
    public func indexSpecifications(_ ns: Namespace) throws(FolioError) -> [Document] {
        guard let e = entry(ns) else { throw FolioError(.namespaceNotFound, "ns does not exist: \(ns)") }
        return [Engine.idIndexSpecification] + e.indexes.filter { !$0.building }.map(\.specification)
    }

    /// The secondary indexes of a collection (not those still being built).
    public func indexes(_ ns: Namespace) -> [IndexDescriptor] { entry(ns)?.indexes.filter { !$0.building } ?? [] }

    /// Creates indexes, building each over the existing documents inside one storage
    /// transaction: if any build fails (a duplicate under a unique index, parallel arrays),
    /// none of the requested indexes is left behind. A collection of more than
    /// `indexBuildInOneCommitRecords` records builds while writes go on instead
    /// (IndexBuild.swift), with the same outcome.
    /// - Throws: 2 BadValue (no specifications), 67/197/9/14 (invalid specification),
    ///   85 IndexOptionsConflict, 86 IndexKeySpecsConflict, 11000 DuplicateKey, 171.
    public func createIndexes(_ ns: Namespace, _ specifications: [Document]) throws(FolioError) -> CreateIndexesResult {
        if specifications.isEmpty { throw FolioError(.badValue, "Must specify at least one index to create") }
        if snapshotCollections?.contains(ns) == true {
            throw FolioError(.operationNotSupportedInTransaction,
                             "Cannot create new indexes on existing collection \(ns) in a multi-document transaction.")
        }
        if snapshotCollections == nil {
            try waitForBuilds(ns, specifications)
            // A large collection builds while writes go on (IndexBuild.swift).
            if let e = entry(ns), (committer.recordCounts.count(e.recordStore) ?? 0) > indexBuildInOneCommitRecords.withLock({ $0 }) {
                return try createIndexesWhileWriting(ns, specifications)
            }
        }
        return try folio {
            try committer.catalogWrite { txn -> CreateIndexesResult in
                let created = self.entry(ns) == nil
                var entry = try self.entryForWrite(ns, in: txn)
                let before = entry.indexes.count + 1
                let fresh = try self.newIndexes(specifications, &entry)
                if fresh.isEmpty {
                    return CreateIndexesResult(numIndexesBefore: before, numIndexesAfter: before,
                                               createdCollectionAutomatically: created, note: "all indexes already exist")
                }
                for index in fresh { try txn.createStore(index.store) }
                try self.buildIndexes(&entry, fresh.map(\.name), txn)
                try self.saveEntry(entry, txn)
                for index in fresh {
                    var command: Document = ["createIndexes": .string(ns.collection)]
                    for (k, v) in index.specification { command.append(k, v) }
                    self.logCommand(ns.database, uuid: entry.uuid, command, txn)
                }
                self.planCache.invalidate(ns)
                return CreateIndexesResult(numIndexesBefore: before, numIndexesAfter: entry.indexes.count + 1,
                                           createdCollectionAutomatically: created, note: nil)
            }
        }
    }

    /// Validates the requested indexes and adds those that do not exist yet to `entry`;
    /// returns them.
    func newIndexes(_ specifications: [Document], _ entry: inout CollectionEntry) throws -> [IndexDescriptor] {
        var fresh: [IndexDescriptor] = []
        for spec in specifications {
            guard let index = try validateNewIndex(spec, entry: entry) else { continue }
            if fresh.contains(where: { $0.name == index.name }) {
                throw FolioError(.indexKeySpecsConflict, "Index with name: \(index.name) already exists with a different key spec")
            }
            if entry.indexes.count + 1 >= Engine.maximumIndexesPerCollection {
                throw FolioError(.cannotCreateIndex, "add index fails, too many indexes for \(entry.namespace) key:\(ShellFormat.value(.document(index.keyPattern)))")
            }
            entry.indexes.append(index)
            fresh.append(index)
        }
        return fresh
    }

    /// The descriptor a specification asks for, or nil when an identical index exists.
    func validateNewIndex(_ spec: Document, entry: CollectionEntry) throws -> IndexDescriptor? {
        var g = SystemRandomNumberGenerator()
        let store = "i." + CollectionEntry.hex(entry.uuid) + "." + String(UInt64.random(in: 0...UInt64.max, using: &g), radix: 16)
        let index = try IndexDescriptor(specification: spec, store: store)
        let shown = { (d: IndexDescriptor) in ShellFormat.value(.document(d.specification)) }
        if index.fields.count == 1 && index.fields[0].path.dotted == "_id" && index.fields[0].ascending || index.name == "_id_" {
            if index.name == "_id_" && index.fields.count == 1 && index.fields[0].path.dotted == "_id" { return nil }
            if index.name == "_id_" {
                throw FolioError(.indexKeySpecsConflict, "An existing index has the same name as the requested index. When index names are not specified, they are auto generated and can cause conflicts. Please refer to our documentation. Requested index: \(shown(index)), existing index: \(ShellFormat.value(.document(Engine.idIndexSpecification)))")
            }
            throw FolioError(.indexOptionsConflict, "Index already exists with a different name: _id_")
        }
        for existing in entry.indexes {
            if existing.name == index.name {
                if !existing.sameKey(as: index) {
                    throw FolioError(.indexKeySpecsConflict, "An existing index has the same name as the requested index. When index names are not specified, they are auto generated and can cause conflicts. Please refer to our documentation. Requested index: \(shown(index)), existing index: \(shown(existing))")
                }
                if !existing.sameOptions(as: index) {
                    throw FolioError(.indexOptionsConflict, "An equivalent index already exists with the same name but different options. Requested index: \(shown(index)), existing index: \(shown(existing))")
                }
                return nil
            }
            if existing.sameKey(as: index) && existing.partialFilter == index.partialFilter {
                if existing.sameOptions(as: index) {
                    throw FolioError(.indexOptionsConflict, "Index already exists with a different name: \(existing.name)")
                }
                throw FolioError(.indexOptionsConflict, "An existing index has the same key pattern as the requested index but different options. Requested index: \(shown(index)), existing index: \(shown(existing))")
            }
        }
        return index
    }

    /// Entries gathered per sorted run of an index build (with `buildRunBytes`, a run takes
    /// at most ~112 MB; MongoDB's builds default to 200 MB). A collection that fits in one
    /// run needs no cross-run uniqueness checks.
    static let buildRunEntries = 2_097_152

    /// Fills the named (empty) indexes from the collection's documents: keys are gathered in
    /// runs, sorted, and written in key order (sequential B-tree appends instead of random
    /// inserts). A unique index finds duplicates as neighbours within a run and checks the
    /// store for keys of earlier runs.
    func buildIndexes(_ entry: inout CollectionEntry, _ names: [String], _ txn: any StorageWriteTransaction) throws {
        for i in entry.indexes.indices where names.contains(entry.indexes[i].name) {
            try buildIndex(&entry.indexes[i], entry, txn)
        }
    }

    /// One gathered index entry: its bytes in the run's arena are the index key followed by
    /// the record key.
    struct BuildEntry {
        var start: Int
        var fieldLength: Int
        var recordLength: Int
        /// Typed indexes: the entry value's trailer after the record key.
        var trailerLength: Int
        /// The end of the entry key (field part + record key).
        var keyEnd: Int { start + fieldLength + recordLength }
        var end: Int { keyEnd + trailerLength }
    }

    /// Arena bytes after which a run is flushed even when it holds fewer entries (large keys).
    static let buildRunBytes = 64 << 20

    /// One sorted run of an index build. Its entries live in one byte arena: sorting and
    /// writing them copies and counts no per-key arrays.
    struct BuildRun {
        var arena: [UInt8] = []
        var entries: [BuildEntry] = []

        /// Adds a record's keys (each followed by the record key and, for typed indexes, the
        /// entry value's trailer).
        mutating func append(_ keys: IndexKeys, recordKey: UnsafeBufferPointer<UInt8>) {
            for (i, k) in keys.keys.enumerated() {
                let start = arena.count
                arena.append(contentsOf: k)
                arena.append(contentsOf: recordKey)
                if keys.typed {
                    if keys.trailers.isEmpty { arena.append(0) } else { arena.append(contentsOf: keys.trailers[i]) }
                }
                entries.append(BuildEntry(start: start, fieldLength: k.count, recordLength: recordKey.count,
                                          trailerLength: arena.count - start - k.count - recordKey.count))
            }
        }

        func isFull(_ limit: Int) -> Bool { entries.count >= limit || arena.count >= Engine.buildRunBytes }

        /// The entries in key order.
        func sorted() -> [BuildEntry] {
            arena.withUnsafeBufferPointer { bytes in
                entries.sorted { a, b in
                    compareByteBuffers(UnsafeBufferPointer(rebasing: bytes[a.start..<a.keyEnd]),
                                       UnsafeBufferPointer(rebasing: bytes[b.start..<b.keyEnd])) < 0
                }
            }
        }

        mutating func clear() {
            arena.removeAll(keepingCapacity: true)
            entries.removeAll(keepingCapacity: true)
        }
    }

    /// The top-level fields an index's key paths start with (with their UTF-8 names).
    static func topFields(_ index: IndexDescriptor) -> [(String, [UInt8])] {
        Array(Set(index.fields.map { $0.path.components[0] })).map { ($0, Array($0.utf8)) }
    }

    /// A stored record's keys in `index`. Only the top-level fields the key paths start with
    /// are decoded (the whole document when a partial filter, a wildcard pattern or a text
    /// index needs it, or for a geo key's error, which quotes the whole document).
    static func buildKeys(_ index: IndexDescriptor, _ tops: [(String, [UInt8])], _ valueBytes: UnsafeBufferPointer<UInt8>) throws(FolioError) -> IndexKeys {
        var document: Document
        if index.partialExpression != nil || index.wildcard != nil || index.text != nil {
            document = RawDocument(trusted: Array(valueBytes)).document()
        } else {
            // Only the indexed fields' bytes are copied out of the borrowed row.
            document = Document()
            for (name, utf8) in tops {
                if let v = utf8.withUnsafeBufferPointer({ rawTopLevelValue(valueBytes, key: $0) }) { document.append(name, v) }
            }
        }
        do {
            return try index.keys(for: document)
        } catch {
            guard index.geo != nil || index.planar != nil else { throw error }
            return try index.keys(for: RawDocument(trusted: Array(valueBytes)).document())
        }
    }

    func buildIndex(_ index: inout IndexDescriptor, _ entry: CollectionEntry, _ txn: any StorageWriteTransaction) throws {
        let tops = Engine.topFields(index)
        var current = BuildRun()
        var runs = 0
        var failure: (any Error)?
        var built = index
        let runLimit = indexBuildRunEntries.withLock { $0 }
        func flush() throws {
            let run = current.sorted(), arena = current.arena
            if built.unique {
                for (i, e) in run.enumerated() {
                    let field = arena[e.start..<(e.start + e.fieldLength)]
                    var recordKey: [UInt8] { Array(arena[(e.start + e.fieldLength)..<e.keyEnd]) }
                    if i > 0, run[i - 1].fieldLength == e.fieldLength,
                       arena[run[i - 1].start..<(run[i - 1].start + e.fieldLength)] == field {
                        try duplicateDuringBuild(built, entry, Array(field), recordKey, txn)
                    }
                    if runs > 0, try Engine.otherHolder(built, Array(field), recordKey, txn) {
                        try duplicateDuringBuild(built, entry, Array(field), recordKey, txn)
                    }
                }
            }
            try arena.withUnsafeBytes { bytes in
                try txn.putAll(built.store, count: run.count) { i in
                    let e = run[i]
                    return (UnsafeRawBufferPointer(rebasing: bytes[e.start..<e.keyEnd]),
                            UnsafeRawBufferPointer(rebasing: bytes[(e.start + e.fieldLength)..<e.end]))
                }
            }
            current.clear()
            runs += 1
        }
        // Records are visited in chunks with borrowed bytes (one copy per document).
        var chunks = RecordChunks(store: entry.recordStore, limit: 4096)
        while !chunks.done {
            try chunks.visitNext(txn) { keyBytes, valueBytes in
                do {
                    let keys = try Engine.buildKeys(built, tops, valueBytes)
                    if keys.isMultikey { built.isMultikey = true }
                    built.multikeyPaths.formUnion(keys.multikeyPaths)
                    current.append(keys, recordKey: keyBytes)
                } catch {
                    failure = error
                    return false
                }
                return true
            }
            // Writes wait until the chunk's read statement is finished.
            if failure == nil && current.isFull(runLimit) { try flush() }
        }
        if let failure { throw failure }
        if !current.entries.isEmpty { try flush() }
        index = built
    }

    /// The values behind an index key of one record (for the duplicate-key error).
    func valuesOf(_ index: IndexDescriptor, _ entry: CollectionEntry, _ field: [UInt8], _ recordKey: [UInt8],
                  _ txn: any StorageWriteTransaction) throws -> [BSON] {
        guard let bytes = try txn.get(entry.recordStore, recordKey) else { return [] }
        let keys = try index.keys(for: RawDocument(trusted: bytes).document())
        return keys.keys.firstIndex(of: field).map { keys.values[$0] } ?? []
    }

    func duplicateDuringBuild(_ index: IndexDescriptor, _ entry: CollectionEntry, _ field: [UInt8], _ recordKey: [UInt8],
                              _ txn: any StorageWriteTransaction) throws -> Never {
        var keyValue = Document()
        for (f, v) in zip(index.fields, try valuesOf(index, entry, field, recordKey, txn)) { keyValue.append(f.path.dotted, v) }
        throw Engine.duplicateKey(entry.namespace, index: index.name, keyPattern: index.keyPattern, keyValue: keyValue)
    }

    /// Writes a changed entry to the catalog store and its in-memory mirror.
    func saveEntry(_ entry: CollectionEntry, _ txn: any StorageWriteTransaction) throws {
        try txn.put(Engine.catalogStore, CollectionEntry.key(entry.namespace), entry.document.bsonBytes())
        updateCatalog { $0.set(entry.namespace, entry) }
    }

    /// Drops indexes: "*" (every index but `_id_`), a name, a key pattern, or a list of names.
    /// Returns the number of indexes before.
    /// - Throws: 26 NamespaceNotFound, 27 IndexNotFound, 72 InvalidOptions (the `_id_` index).
    public func dropIndexes(_ ns: Namespace, _ which: BSON) throws(FolioError) -> Int {
        try folio {
            try committer.catalogWrite { txn -> Int in
                guard var entry = self.entry(ns) else { throw FolioError(.namespaceNotFound, "ns not found \(ns)") }
                let before = entry.indexes.count + 1
                var names: [String] = []
                switch which {
                case .string("*"):
                    names = entry.indexes.map(\.name)
                case .string(let name):
                    names = [name]
                case .array(let list):
                    for v in list {
                        guard case .string(let n) = v else { throw FolioError(.typeMismatch, "dropIndexes 'index' must be a string, object or array of strings") }
                        if n == "*" { throw FolioError(.badValue, "'*' is not allowed in an array of index names") }
                        names.append(n)
                    }
                case .document(let pattern):
                    if pattern == ["_id": .int32(1)] || pattern.count == 1 && pattern["_id"]?.asDouble == 1 {
                        throw FolioError(.invalidOptions, "cannot drop _id index")
                    }
                    let matches = entry.indexes.filter { $0.keyPattern == pattern }
                    guard let first = matches.first else {
                        throw FolioError(.indexNotFound, "can't find index with key: \(ShellFormat.value(.document(pattern)))")
                    }
                    if matches.count > 1 {
                        throw FolioError(.ambiguousIndexKeyPattern, "\(matches.count) indexes found for key: \(ShellFormat.value(.document(pattern))), identify by name instead. Conflicting indexes: \(matches.map { ShellFormat.value(.document($0.specification)) }.joined(separator: ", "))")
                    }
                    names = [first.name]
                default:
                    throw FolioError(.typeMismatch, "dropIndexes 'index' must be a string, object or array of strings")
                }
                for name in names {
                    if name == "_id_" { throw FolioError(.invalidOptions, "cannot drop _id index") }
                    guard entry.indexes.contains(where: { $0.name == name }) else {
                        throw FolioError(.indexNotFound, "index not found with name [\(name)]")
                    }
                }
                for name in names {
                    let index = entry.indexes.first { $0.name == name }!
                    try txn.dropStore(index.store)
                    entry.indexes.removeAll { $0.name == name }
                    self.logCommand(ns.database, uuid: entry.uuid, ["dropIndexes": .string(ns.collection), "index": .string(name)],
                                    o2: index.specification, txn)
                }
                try self.saveEntry(entry, txn)
                self.planCache.invalidate(ns)
                return before
            }
        }
    }

    // MARK: Keeping indexes in step with writes

    /// Adds a document's keys to one index (all but `existing`, keys it already has),
    /// checking uniqueness.
    /// `suspect`: for an index being built, takes a key another record has instead of
    /// refusing it (IndexBuild.swift).
    static func putKeys(_ index: IndexDescriptor, _ ns: Namespace, _ keys: IndexKeys, _ recordKey: [UInt8],
                        _ txn: any StorageWriteTransaction, except existing: Set<[UInt8]>,
                        suspect: (([UInt8]) -> Void)? = nil) throws {
        for (i, key) in keys.keys.enumerated() where !existing.contains(key) {
            if index.unique {
                // The value itself is what concurrent writers conflict on, whichever record has it.
                try txn.claim(index.store, key)
                if let suspect {
                    if try otherHolder(index, key, recordKey, txn) { suspect(key) }
                } else {
                    try checkUnique(index, ns, key, keys.values[i], recordKey, txn)
                }
            }
            try txn.put(index.store, key + recordKey, keys.entryValue(i, recordKey))
        }
    }

    /// Whether `keys` make `index` multikey, or multikey on more paths, than it is.
    static func widensMultikey(_ index: IndexDescriptor, _ keys: IndexKeys) -> Bool {
        (keys.isMultikey && !index.isMultikey) || (!keys.multikeyPaths.isEmpty && !index.multikeyPaths.isSuperset(of: keys.multikeyPaths))
    }

    /// Puts each index's keys for one document (`keys[i]` for `entry.indexes[i]`, less
    /// `existing[i]`) and, when some index becomes multikey, saves the entry that says so.
    /// Returns the entry as it is afterwards. The entry is copied only then: a copy whose
    /// index list is modified copies the whole list, which every document paid for before.
    func putKeys(_ entry: CollectionEntry, _ keys: [IndexKeys], _ recordKey: [UInt8], _ txn: any StorageWriteTransaction,
                 except existing: [Set<[UInt8]>]? = nil) throws -> CollectionEntry {
        var updated: CollectionEntry?
        for (i, index) in entry.indexes.enumerated() {
            if index.building { indexBuilds.noteWrite(index.store, recordKey) }
            try Engine.putKeys(index, entry.namespace, keys[i], recordKey, txn, except: existing?[i] ?? [],
                               suspect: index.building ? { self.indexBuilds.noteSuspect(index.store, $0) } : nil)
            guard Engine.widensMultikey(index, keys[i]) else { continue }
            if updated == nil { updated = entry }
            if keys[i].isMultikey { updated!.indexes[i].isMultikey = true }
            updated!.indexes[i].multikeyPaths.formUnion(keys[i].multikeyPaths)
        }
        guard let updated else { return entry }
        try saveEntry(updated, txn)
        return updated
    }

    /// Whether a record other than `recordKey` has `key` in a unique index.
    static func otherHolder(_ index: IndexDescriptor, _ key: [UInt8], _ recordKey: [UInt8], _ txn: any StorageWriteTransaction) throws -> Bool {
        try txn.scan(index.store, .prefix(key), reverse: false, limit: 2).contains { index.recordKey(fromValue: $0.value) != recordKey }
    }

    static func checkUnique(_ index: IndexDescriptor, _ ns: Namespace, _ key: [UInt8], _ values: [BSON],
                            _ recordKey: [UInt8], _ txn: any StorageWriteTransaction) throws {
        if try otherHolder(index, key, recordKey, txn) {
            var keyValue = Document()
            for (f, v) in zip(index.fields, values) { keyValue.append(f.path.dotted, v) }
            throw duplicateKey(ns, index: index.name, keyPattern: index.keyPattern, keyValue: keyValue)
        }
    }

    /// Index maintenance for an inserted document.
    /// `keys`: the document's keys for each of `entry.indexes`, in order. Returns the entry as
    /// it is afterwards (an index may have become multikey).
    func indexInserted(_ entry: CollectionEntry, _ keys: [IndexKeys], _ recordKey: [UInt8], _ txn: any StorageWriteTransaction) throws -> CollectionEntry {
        if entry.indexes.isEmpty { return entry }
        let after = try putKeys(entry, keys, recordKey, txn)
        noteWrites(entry.namespace, 1)
        return after
    }

    /// Index maintenance for a removed document.
    func indexRemoved(_ entry: CollectionEntry, _ document: Document, _ recordKey: [UInt8], _ txn: any StorageWriteTransaction) throws {
        if entry.indexes.isEmpty { return }
        for index in entry.indexes {
            if index.building { indexBuilds.noteWrite(index.store, recordKey) }
            for key in try index.writerKeys(for: document).keys {
                if index.unique { try txn.claim(index.store, key) }
                try txn.delete(index.store, key + recordKey)
            }
        }
        noteWrites(entry.namespace, 1)
    }

    /// Index maintenance for a replaced document: only keys that changed are touched.
    func indexUpdated(_ entry: CollectionEntry, before: Document, after: Document, _ recordKey: [UInt8],
                      _ txn: any StorageWriteTransaction) throws {
        if entry.indexes.isEmpty { return }
        var newKeys: [IndexKeys] = []
        var kept: [Set<[UInt8]>] = []
        for index in entry.indexes {
            if index.building { indexBuilds.noteWrite(index.store, recordKey) }
            let old = try index.writerKeys(for: before)
            let new = try index.writerKeys(for: after)
            let unchanged = old.unchanged(in: new)
            for key in old.keys where !unchanged.contains(key) {
                if index.unique { try txn.claim(index.store, key) }
                try txn.delete(index.store, key + recordKey)
            }
            newKeys.append(new)
            kept.append(unchanged)
        }
        _ = try putKeys(entry, newKeys, recordKey, txn, except: kept)
        noteWrites(entry.namespace, 1)
    }
}

// MARK: TTL

extension Engine {
    /// Deletes the documents TTL indexes say have expired: a document expires when the indexed
    /// field holds a date (or an array with a date; the earliest counts) older than
    /// `expireAfterSeconds` before `now`. Documents without a date never expire. The TTL
    /// monitor calls this periodically. Returns the number of documents deleted.
    @discardableResult
    public func expireTTLDocuments(nowMilliseconds now: Int64 = Int64(ObjectID.currentSeconds()) * 1000) throws(FolioError) -> Int {
        let entries = catalog.withLock { Array($0.collections.values) }
        var deleted = 0
        for entry in entries {
            for index in entry.indexes where !index.building {
                guard let seconds = index.expireAfterSeconds?.asDouble, index.fields.count == 1 else { continue }
                let cutoff = now - Int64(seconds * 1000)
                deleted += try expire(entry.namespace, index.name, path: index.fields[0].path, cutoff: cutoff)
            }
        }
        ttlStatistics.passes.add(1, ordering: .relaxed)
        ttlStatistics.deletedDocuments.add(Int64(deleted), ordering: .relaxed)
        return deleted
    }

    /// One TTL pass over one index, in batches of 1,000 deletions per transaction.
    func expire(_ ns: Namespace, _ indexName: String, path: FieldPath, cutoff: Int64) throws(FolioError) -> Int {
        var total = 0
        while true {
            let n = try folio {
                try committer.write(durable: false) { txn -> Int in
                    guard let entry = self.entry(ns), let index = entry.indexes.first(where: { $0.name == indexName }) else { return 0 }
                    // Every date up to the cutoff, in either key direction.
                    let low = KeyString.encode(.datetime(.min)), high = KeyString.encode(.datetime(cutoff))
                    let ranges = IndexBounds.ranges(index.fields, [[FieldInterval(
                        lower: KeyBound(bytes: low, inclusive: true), upper: KeyBound(bytes: high, inclusive: true),
                        isPoint: false, includesNull: false, lowerText: "", upperText: "", upperPrintedInclusive: nil)]])
                    var victims: [[UInt8]] = []
                    var seen = Set<[UInt8]>()
                    for range in ranges {
                        for (_, value) in try txn.scan(index.store, range, reverse: false, limit: 1000) {
                            let recordKey = index.recordKey(fromValue: value)
                            if seen.insert(recordKey).inserted { victims.append(recordKey) }
                        }
                    }
                    var n = 0
                    for key in victims.prefix(1000) {
                        guard let bytes = try txn.get(entry.recordStore, key) else { continue }
                        let document = RawDocument(trusted: bytes).document()
                        var collector = KeyValueCollector()
                        collector.collect(.document(document), path.components, 0)
                        let dates = collector.values.compactMap { v -> Int64? in if case .datetime(let ms) = v { return ms }; return nil }
                        guard let earliest = dates.min(), earliest <= cutoff else { continue }
                        try self.removeRecord(self.entry(ns) ?? entry, key, RawDocument(trusted: bytes), txn)
                        n += 1
                    }
                    return n
                }
            }
            total += n
            if n < 1000 { return total }
        }
    }
}

/// What the TTL monitor has done since startup.
public final class TTLStatistics: Sendable {
    /// Completed passes over every TTL index.
    public let passes = Atomic<Int64>(0)
    /// Documents the passes deleted.
    public let deletedDocuments = Atomic<Int64>(0)
}
