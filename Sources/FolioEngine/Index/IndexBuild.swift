import FolioBSON
import FolioLocks
import FolioQuery
import FolioStorage
import Glibc

// Index builds on large collections, while writes go on.
//
// Why: a build in one commit holds every writer of the database until it ends — 2.5 s at
// 1,000,000 documents, ~25 s at 10 M (measured). MongoDB builds while writes go on.
//
// How (collections with more than `indexBuildInOneCommitRecords` records):
//  1. One commit adds the new indexes to the collection's entry, marked `building`, with
//     empty stores. From then on every writer keeps them up to date like any index, but no
//     query uses them and listIndexes does not show them.
//  2. The backfill reads the records in key order, `indexBuildChunkRecords` at a time, each
//     chunk from a fresh snapshot (a snapshot held across commits would hold the checkpoint
//     back), and makes their keys outside the writer. Each chunk is then one group commit
//     that puts those keys. A record a writer touched since the build began (noted in
//     `IndexBuilds` while the backfill has not passed it) is read again in that commit and
//     its current keys are put instead: the chunk's copy may be older than the writer's.
//     Every put is idempotent, and a record deleted meanwhile is not read back, so after a
//     chunk's commit its records have exactly their current keys; records the backfill
//     passed are the writers' to maintain.
//  3. A unique index does not refuse writes while it is built (as in MongoDB): a writer or
//     a chunk that finds a key another record has notes the key as a suspect. The last
//     commit checks each suspect again and fails the build with 11000 if two records still
//     share it; else it marks the indexes ready and logs createIndexes.
//  4. A build that fails (a duplicate, a document an index cannot take, killOp, dropIndexes
//     or a dropped collection, shutdown) removes its indexes. A restart drops the indexes a
//     crash left building (Engine.init): the client never got an answer for them.
//
// Costs: the keys are put in the collection's key order rather than sorted, and each chunk
// is a commit; the writers pay one locked set insert per write while a build runs.

/// What writers tell the index builds in progress, by index store. An engine and its
/// transactions' engines share one.
final class IndexBuilds: Sendable {
    struct Progress {
        /// The last record key the backfill has put keys for.
        var visited: [UInt8]?
        /// Records after `visited` that writers touched since the build began.
        var touched: Set<[UInt8]> = []
        /// Keys of a unique index that some other record may have too.
        var suspects: Set<[UInt8]> = []
    }

    private let builds = Locked([String: Progress]())

    func start(_ stores: [String]) { builds.withLock { b in for s in stores { b[s] = Progress() } } }
    func end(_ stores: [String]) { builds.withLock { b in for s in stores { b[s] = nil } } }

    /// A writer put or removed keys of `recordKey` in the building index `store`.
    func noteWrite(_ store: String, _ recordKey: [UInt8]) {
        builds.withLock { b in
            guard b[store] != nil else { return }
            if let visited = b[store]?.visited, compareKeys(recordKey, visited) <= 0 { return }
            b[store]?.touched.insert(recordKey)
        }
    }

    func noteSuspect(_ store: String, _ key: [UInt8]) { builds.withLock { b in _ = b[store]?.suspects.insert(key) } }

    /// The records up to `last` that writers touched; the backfill has passed them now.
    func advance(_ store: String, to last: [UInt8]) -> Set<[UInt8]> {
        builds.withLock { b in
            guard var p = b[store] else { return [] }
            b[store] = nil  // one owner of the sets while they change
            let passed = p.touched.filter { compareKeys($0, last) <= 0 }
            p.touched.subtract(passed)
            p.visited = last
            b[store] = p
            return passed
        }
    }

    func suspects(_ store: String) -> Set<[UInt8]> { builds.withLock { $0[store]?.suspects ?? [] } }
}

extension Engine {
    /// Collections with at most this many records build new indexes in one commit.
    static let buildInOneCommitRecords = 20_000
    /// Records per commit of a build's backfill.
    static let buildChunkRecords = 1_000

    /// Builds new indexes of a large collection while writes go on (see above).
    func createIndexesWhileWriting(_ ns: Namespace, _ specifications: [Document]) throws(FolioError) -> CreateIndexesResult {
        struct Started { var before: Int; var uuid: [UInt8]; var recordStore: String; var fresh: [IndexDescriptor] }
        let started = try folio {
            try committer.write(durable: false) { txn -> Started in
                var entry = try self.entryForWrite(ns, in: txn)
                let before = entry.indexes.count + 1
                var fresh = try self.newIndexes(specifications, &entry)
                if fresh.isEmpty { return Started(before: before, uuid: entry.uuid, recordStore: entry.recordStore, fresh: []) }
                for i in entry.indexes.indices where fresh.contains(where: { $0.name == entry.indexes[i].name }) {
                    entry.indexes[i].building = true
                }
                for i in fresh.indices { fresh[i].building = true }
                for index in fresh { try txn.createStore(index.store) }
                try self.saveEntry(entry, txn)
                self.indexBuilds.start(fresh.map(\.store))
                return Started(before: before, uuid: entry.uuid, recordStore: entry.recordStore, fresh: fresh)
            }
        }
        if started.fresh.isEmpty {
            return CreateIndexesResult(numIndexesBefore: started.before, numIndexesAfter: started.before,
                                       createdCollectionAutomatically: false, note: "all indexes already exist")
        }
        let stores = started.fresh.map(\.store)
        do throws(FolioError) {
            try backfill(started.uuid, started.recordStore, started.fresh)
            let after = try folio {
                try committer.write(durable: true) { txn -> Int in
                    var entry = try self.buildingEntry(started.uuid, started.fresh)
                    for index in started.fresh {
                        for key in self.indexBuilds.suspects(index.store) {
                            let holders = try txn.scan(index.store, .prefix(key), reverse: false, limit: 2).map { index.recordKey(fromValue: $0.value) }
                            if holders.count == 2 && holders[0] != holders[1] {
                                try self.duplicateDuringBuild(index, entry, key, holders[0], txn)
                            }
                        }
                    }
                    for i in entry.indexes.indices where stores.contains(entry.indexes[i].store) { entry.indexes[i].building = false }
                    try self.saveEntry(entry, txn)
                    for index in started.fresh {
                        var command: Document = ["createIndexes": .string(entry.namespace.collection)]
                        for (k, v) in index.specification { command.append(k, v) }
                        self.logCommand(entry.namespace.database, uuid: entry.uuid, command, txn)
                    }
                    self.planCache.invalidate(entry.namespace)
                    return entry.indexes.count + 1
                }
            }
            indexBuilds.end(stores)
            return CreateIndexesResult(numIndexesBefore: started.before, numIndexesAfter: after,
                                       createdCollectionAutomatically: false, note: nil)
        } catch {
            abandonBuild(started.uuid, stores)
            throw error
        }
    }

    /// Puts the keys of every record the collection had when the build began, chunk by chunk.
    func backfill(_ uuid: [UInt8], _ recordStore: String, _ fresh: [IndexDescriptor]) throws(FolioError) {
        let tops = fresh.map(Engine.topFields)
        var chunks = RecordChunks(store: recordStore, limit: indexBuildChunkRecords.withLock { $0 })
        while !chunks.done {
            try OperationInterrupt.check()
            // Keys are made outside the writer, from a snapshot closed before the commit.
            var rows: [(recordKey: [UInt8], keys: [Result<IndexKeys, FolioError>])] = []
            do throws(FolioError) {
                try Folio_storage { () throws(StorageError) in
                    let snapshot = try storage.snapshot()
                    defer { snapshot.close() }
                    try chunks.visitNext(snapshot) { key, value in
                        rows.append((Array(key), fresh.indices.map { i in
                            Result { () throws(FolioError) in try Engine.buildKeys(fresh[i], tops[i], value) }
                        }))
                        return true
                    }
                }
            } catch {
                _ = try buildingEntry(uuid, fresh)  // a dropped collection's store is gone: 276
                throw error
            }
            guard let last = chunks.lastKey, !rows.isEmpty else { break }
            if let hook = indexBuildBeforeChunkCommit.withLock({ $0 }) { try folio { try hook() } }
            let chunk = rows
            try folio {
                try committer.write(durable: false) { txn in
                    var entry = try self.buildingEntry(uuid, fresh)
                    var widened = false
                    for (j, built) in fresh.enumerated() {
                        let position = entry.indexes.firstIndex { $0.store == built.store }!
                        let index = entry.indexes[position]
                        let touched = self.indexBuilds.advance(index.store, to: last)
                        let suspect = { (key: [UInt8]) in self.indexBuilds.noteSuspect(index.store, key) }
                        func put(_ keys: IndexKeys, _ recordKey: [UInt8]) throws {
                            try Engine.putKeys(index, entry.namespace, keys, recordKey, txn, except: [], suspect: suspect)
                            guard Engine.widensMultikey(entry.indexes[position], keys) else { return }
                            if keys.isMultikey { entry.indexes[position].isMultikey = true }
                            entry.indexes[position].multikeyPaths.formUnion(keys.multikeyPaths)
                            widened = true
                        }
                        for row in chunk where !touched.contains(row.recordKey) { try put(try row.keys[j].get(), row.recordKey) }
                        for recordKey in touched.sorted(by: { compareKeys($0, $1) < 0 }) {
                            guard let bytes = try txn.get(entry.recordStore, recordKey) else { continue }
                            try put(try index.keys(for: RawDocument(trusted: bytes).document()), recordKey)
                        }
                    }
                    if widened { try self.saveEntry(entry, txn) }
                }
            }
        }
    }

    /// The entry of the collection `uuid` names, with the build's indexes still building.
    /// - Throws: 276 IndexBuildAborted when the collection or an index was dropped meanwhile.
    func buildingEntry(_ uuid: [UInt8], _ fresh: [IndexDescriptor]) throws(FolioError) -> CollectionEntry {
        guard let entry = catalog.withLock({ $0.collections.values.first { $0.uuid == uuid } }) else {
            throw FolioError(.indexBuildAborted, "Index build aborted: the collection was dropped")
        }
        for index in fresh where !entry.indexes.contains(where: { $0.store == index.store && $0.building }) {
            throw FolioError(.indexBuildAborted, "Index build aborted: index \(index.name) on \(entry.namespace) was dropped")
        }
        return entry
    }

    /// Removes a failed build's indexes (those still there) and forgets the build.
    func abandonBuild(_ uuid: [UInt8], _ stores: [String]) {
        _ = try? committer.write(durable: false) { txn in
            guard var entry = self.catalog.withLock({ $0.collections.values.first { $0.uuid == uuid } }) else { return }
            let left = entry.indexes.filter { stores.contains($0.store) && $0.building }
            if left.isEmpty { return }
            for index in left { try txn.dropStore(index.store) }
            entry.indexes.removeAll { stores.contains($0.store) && $0.building }
            try self.saveEntry(entry, txn)
            self.planCache.invalidate(entry.namespace)
        }
        indexBuilds.end(stores)
    }

    /// Waits while another createIndexes builds an index of the same name on `ns` (as
    /// MongoDB's second request waits for the first build), so it is answered after it.
    func waitForBuilds(_ ns: Namespace, _ specifications: [Document]) throws(FolioError) {
        let names = Set(specifications.compactMap { $0["name"]?.stringValue })
        while entry(ns)?.indexes.contains(where: { $0.building && names.contains($0.name) }) == true {
            try OperationInterrupt.check()
            usleep(10_000)
        }
    }

    /// Drops the indexes a crash left building, before the engine serves anything.
    static func dropUnfinishedBuilds(_ state: inout CatalogState, _ txn: any StorageWriteTransaction) throws(StorageError) {
        for var entry in state.collections.values where entry.indexes.contains(where: \.building) {
            for index in entry.indexes where index.building { try txn.dropStore(index.store) }
            entry.indexes.removeAll(where: \.building)
            try txn.put(Engine.catalogStore, CollectionEntry.key(entry.namespace), entry.document.bsonBytes())
            state.set(entry.namespace, entry)
        }
    }
}
