import FolioBSON
import FolioLocks
import FolioQuery
import FolioStorage
import Dispatch
import Synchronization
import Glibc

// Index builds on large collections, while writes go on.
//
// Why: a build in one commit holds every writer of the database until it ends — 2.5 s at
// 1,000,000 documents, ~25 s at 10 M (measured). MongoDB builds while writes go on.
//
// How (collections with more than `indexBuildInOneCommitRecords` records):
//  1. One commit adds the new indexes to the collection's entry, marked `building`, with
//     empty stores. From then on every writer keeps them up to date like any index and
//     notes the record it touched (`IndexBuilds`); no query uses them and listIndexes does
//     not show them.
//  2. The backfill reads the records in chunks, each from a fresh snapshot (a snapshot held
//     across commits would hold the checkpoint back), makes their keys outside the writer,
//     and gathers them in sorted runs as the one-commit build does. Each run is written in
//     key order, `indexBuildCommitEntries` entries per group commit (in key order a commit
//     dirties few pages; in record order a random-valued index took 13× longer), less the
//     entries of records writers touched: those may be older than the writers' keys.
//  3. Catch-up commits read the touched records again and put their current keys (a
//     bounded number of them, so writers that touch records as fast as they are taken
//     cannot keep the build going); the last commit takes the rest. Every put is
//     idempotent, writers delete the keys they replace, and a record deleted meanwhile is
//     not read back, so then the indexes hold exactly their documents' keys.
//  4. A unique index does not refuse writes while it is built (as in MongoDB): a writer or
//     a backfill entry that finds a key another record has notes the key as a suspect. The
//     last commit checks each suspect again and fails the build with 11000 if two records
//     still share it; else it marks the indexes ready and logs createIndexes. Likewise a
//     writer's document the index cannot take (parallel arrays, a bad geometry) is stored
//     without keys there (`writerKeys`): its record is touched, and the build fails only
//     if the document is still so when read again.
//  5. A build that fails (a duplicate, a document an index cannot take, killOp, dropIndexes
//     or a dropped collection) removes its indexes. One that a shutdown or a crash cut short
//     keeps them building: the next open empties their stores and builds them again on a
//     thread of its own (`ResumedBuilds`), as MongoDB resumes index builds at startup.
//
// Costs: 1.7–2× the one-commit build's CPU (a commit per 2,000 entries, one `put` each:
// `putAll` would doom every open transaction and empty the record cache); writers pay one
// locked set insert per write while a build runs, and the records they touched are read
// once more.

/// What an index build that writes while writes go on is doing, as currentOp shows it
/// (MongoDB's `msg` and `progress`).
public struct IndexBuildProgress: Sendable, Equatable {
    public static let scanning = "Index Build: scanning collection"
    public static let inserting = "Index Build: inserting keys from external sorter into index"
    public static let draining = "Index Build: draining writes received during build"
    public var phase: String
    public var done: Int
    public var total: Int

    /// currentOp's `msg`: "<phase> <phase>: done/total percent%", as MongoDB writes it.
    public var message: String {
        "\(phase) \(phase): \(done)/\(total) \(total > 0 ? done * 100 / total : 0)%"
    }
}

/// What writers tell the index builds in progress, by index store. An engine and its
/// transactions' engines share one.
final class IndexBuilds: Sendable {
    struct Progress {
        /// Records writers touched since the build began, not read again yet.
        var touched: Set<[UInt8]> = []
        /// Keys of a unique index that some other record may have too.
        var suspects: Set<[UInt8]> = []
        /// What the build is doing (currentOp), kept with its first index's store.
        var phase: IndexBuildProgress?
    }

    private let builds = Locked([String: Progress]())

    /// Sets what the build whose first index store is `build` is doing (it goes with `end`).
    func setPhase(_ build: String, _ phase: IndexBuildProgress) { builds.withLock { $0[build]?.phase = phase } }
    func advance(_ build: String, by n: Int) {
        builds.withLock { b in
            guard var phase = b[build]?.phase else { return }
            phase.done += n
            phase.total = max(phase.total, phase.done)  // writers may touch more meanwhile
            b[build]?.phase = phase
        }
    }
    func phase(_ build: String) -> IndexBuildProgress? { builds.withLock { $0[build]?.phase } }

    func start(_ stores: [String]) { builds.withLock { b in for s in stores { b[s] = Progress() } } }
    func end(_ stores: [String]) { builds.withLock { b in for s in stores { b[s] = nil } } }

    /// A writer put or removed keys of `recordKey` in the building index `store`.
    func noteWrite(_ store: String, _ recordKey: [UInt8]) { builds.withLock { b in _ = b[store]?.touched.insert(recordKey) } }

    func noteSuspect(_ store: String, _ key: [UInt8]) { builds.withLock { b in _ = b[store]?.suspects.insert(key) } }

    /// Runs `body` with the records touched so far (writers that note more wait meanwhile).
    func withTouched<R>(_ store: String, _ body: (Set<[UInt8]>) throws -> R) rethrows -> R {
        try builds.withLock { b in try body(b[store]?.touched ?? []) }
    }

    /// Takes up to `limit` touched records (all with nil) to be read again.
    func takeTouched(_ store: String, limit: Int?) -> [[UInt8]] {
        builds.withLock { b in
            guard var p = b[store] else { return [] }
            b[store] = nil  // one owner of the set while it changes
            var taken: [[UInt8]] = []
            if limit == nil || p.touched.count <= limit! {
                taken = Array(p.touched)
                p.touched.removeAll()
            } else {
                for _ in 0..<limit! { taken.append(p.touched.removeFirst()) }
            }
            b[store] = p
            return taken
        }
    }

    func isRunning(_ store: String) -> Bool { builds.withLock { $0[store] != nil } }

    func touchedCount(_ store: String) -> Int { builds.withLock { $0[store]?.touched.count ?? 0 } }

    func suspects(_ store: String) -> Set<[UInt8]> { builds.withLock { $0[store]?.suspects ?? [] } }
}

extension Engine {
    /// Collections with at most this many records build new indexes in one commit.
    static let buildInOneCommitRecords = 20_000
    /// Sorted entries per commit of a build's backfill, and touched records per commit of its
    /// catch-up.
    static let buildCommitEntries = 2_000

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
        let after = try runBuild(started.uuid, started.recordStore, started.fresh)
        return CreateIndexesResult(numIndexesBefore: started.before, numIndexesAfter: after,
                                   createdCollectionAutomatically: false, note: nil)
    }

    /// Backfills, catches up and finishes a build whose indexes the catalog has as building
    /// and `indexBuilds` has running; returns the collection's number of indexes after it.
    /// A build that fails is removed, unless the engine is shutting down: then its indexes
    /// stay building, and the next open builds them again.
    func runBuild(_ uuid: [UInt8], _ recordStore: String, _ fresh: [IndexDescriptor]) throws(FolioError) -> Int {
        let stores = fresh.map(\.store)
        do throws(FolioError) {
            var shapes = try backfill(uuid, recordStore, fresh)
            // Catch up with the records writers touched, in commits, until few are left (or
            // as many commits as there were at the start, plus two: writers that touch
            // records as fast as commits take them would keep this going)...
            let limit = indexBuildCommitEntries.withLock { $0 }
            let touched = stores.map(indexBuilds.touchedCount).max()!
            indexBuilds.setPhase(stores[0], IndexBuildProgress(phase: IndexBuildProgress.draining, done: 0, total: touched))
            var commits = touched / limit + 2
            while commits > 0, try catchUp(uuid, fresh, &shapes, limit: limit) { commits -= 1 }
            // ...then the last of them, the suspects, and the indexes made ready, in one commit.
            let after = try folio {
                try committer.catalogWrite { txn -> Int in
                    var entry = try self.buildingEntry(uuid, fresh)
                    try self.putTouched(&entry, fresh, &shapes, limit: nil, txn)
                    for index in fresh {
                        for key in self.indexBuilds.suspects(index.store) {
                            let holders = try txn.scan(index.store, .prefix(key), reverse: false, limit: 2).map { index.recordKey(fromValue: $0.value) }
                            if holders.count == 2 && holders[0] != holders[1] {
                                try self.duplicateDuringBuild(index, entry, key, holders[0], txn)
                            }
                        }
                    }
                    for i in entry.indexes.indices {
                        guard let j = stores.firstIndex(of: entry.indexes[i].store) else { continue }
                        entry.indexes[i].building = false
                        if shapes[j].isMultikey { entry.indexes[i].isMultikey = true }
                        entry.indexes[i].multikeyPaths.formUnion(shapes[j].multikeyPaths)
                    }
                    try self.saveEntry(entry, txn)
                    for index in fresh {
                        var command: Document = ["createIndexes": .string(entry.namespace.collection)]
                        for (k, v) in index.specification { command.append(k, v) }
                        self.logCommand(entry.namespace.database, uuid: entry.uuid, command, txn)
                    }
                    self.planCache.invalidate(entry.namespace)
                    return entry.indexes.count + 1
                }
            }
            indexBuilds.end(stores)
            return after
        } catch {
            if error.code == .interruptedAtShutdown || error.code == .shutdownInProgress {
                indexBuilds.end(stores)
            } else {
                abandonBuild(uuid, stores)
            }
            throw error
        }
    }

    /// Whether an index's keys made it multikey, and on which paths (wildcard indexes).
    struct KeyShape {
        var isMultikey = false
        var multikeyPaths: Set<String> = []
        mutating func add(_ keys: IndexKeys) {
            if keys.isMultikey { isMultikey = true }
            multikeyPaths.formUnion(keys.multikeyPaths)
        }
    }

    /// Puts the keys of every record the collection had when the build began: read in chunks,
    /// each from a fresh snapshot, gathered in sorted runs (as `buildIndex` does), and written
    /// in key order, `indexBuildCommitEntries` per commit, less the records writers touched
    /// (`catchUp` reads those again). A record whose keys cannot be made counts as touched:
    /// if it is still so when read again, the build fails.
    func backfill(_ uuid: [UInt8], _ recordStore: String, _ fresh: [IndexDescriptor]) throws(FolioError) -> [KeyShape] {
        let tops = fresh.map(Engine.topFields)
        let runLimit = indexBuildRunEntries.withLock { $0 }
        let perCommit = indexBuildCommitEntries.withLock { $0 }
        var shapes = fresh.map { _ in KeyShape() }
        var runs = fresh.map { _ in BuildRun() }
        let build = fresh[0].store
        var scanning = IndexBuildProgress(phase: IndexBuildProgress.scanning, done: 0, total: committer.recordCounts.count(recordStore) ?? 0)
        indexBuilds.setPhase(build, scanning)
        func flush(_ j: Int) throws(FolioError) {
            let run = runs[j].sorted(), arena = runs[j].arena
            indexBuilds.setPhase(build, IndexBuildProgress(phase: IndexBuildProgress.inserting, done: 0, total: run.count))
            defer { indexBuilds.setPhase(build, scanning) }
            var from = 0
            while from < run.count {
                try OperationInterrupt.check()
                let slice = run[from..<min(from + perCommit, run.count)]
                from = slice.endIndex
                if let hook = indexBuildBeforeChunkCommit.withLock({ $0 }) { try folio { try hook() } }
                try folio {
                    try committer.write(durable: false) { txn in
                        let entry = try self.buildingEntry(uuid, fresh)
                        let index = entry.indexes.first { $0.store == fresh[j].store }!
                        var suspects: [[UInt8]] = []
                        // Entries go one by one (putAll would doom every open transaction).
                        try self.indexBuilds.withTouched(index.store) { touched in
                            try arena.withUnsafeBytes { bytes in
                                for e in slice {
                                    let recordKey = Array(bytes[(e.start + e.fieldLength)..<e.keyEnd])
                                    if !touched.isEmpty && touched.contains(recordKey) { continue }
                                    if index.unique {
                                        let field = Array(bytes[e.start..<(e.start + e.fieldLength)])
                                        try txn.claim(index.store, field)
                                        if try Engine.otherHolder(index, field, recordKey, txn) { suspects.append(field) }
                                    }
                                    try txn.put(index.store, Array(bytes[e.start..<e.keyEnd]), Array(bytes[(e.start + e.fieldLength)..<e.end]))
                                }
                            }
                        }
                        for key in suspects { self.indexBuilds.noteSuspect(index.store, key) }
                    }
                }
                indexBuilds.advance(build, by: slice.count)
            }
            runs[j].clear()
        }
        var chunks = RecordChunks(store: recordStore, limit: indexBuildChunkRecords.withLock { $0 })
        while !chunks.done {
            try OperationInterrupt.check()
            var unindexable: [(Int, [UInt8])] = []
            do throws(FolioError) {
                try Folio_storage { () throws(StorageError) in
                    let snapshot = try storage.snapshot()
                    defer { snapshot.close() }
                    try chunks.visitNext(snapshot) { key, value in
                        scanning.done += 1
                        for j in fresh.indices {
                            guard let keys = try? Engine.buildKeys(fresh[j], tops[j], value) else {
                                unindexable.append((j, Array(key)))
                                continue
                            }
                            shapes[j].add(keys)
                            runs[j].append(keys, recordKey: key)
                        }
                        return true
                    }
                }
            } catch {
                _ = try buildingEntry(uuid, fresh)  // a dropped collection's store is gone: 276
                throw error
            }
            for (j, recordKey) in unindexable { indexBuilds.noteWrite(fresh[j].store, recordKey) }
            scanning.total = max(scanning.total, scanning.done)
            indexBuilds.setPhase(build, scanning)
            for j in fresh.indices where runs[j].isFull(runLimit) { try flush(j) }
        }
        for j in fresh.indices where !runs[j].entries.isEmpty { try flush(j) }
        return shapes
    }

    /// One commit that reads again up to `limit` records writers touched and puts their
    /// current keys; whether there may be more.
    func catchUp(_ uuid: [UInt8], _ fresh: [IndexDescriptor], _ shapes: inout [KeyShape], limit: Int) throws(FolioError) -> Bool {
        try OperationInterrupt.check()
        if let hook = indexBuildBeforeChunkCommit.withLock({ $0 }) { try folio { try hook() } }
        var found = shapes
        let more = try folio {
            try committer.write(durable: false) { txn -> Bool in
                var entry = try self.buildingEntry(uuid, fresh)
                return try self.putTouched(&entry, fresh, &found, limit: limit, txn)
            }
        }
        shapes = found
        return more
    }

    /// Reads again up to `limit` (nil: all) touched records of each index and puts their
    /// current keys. Returns whether some index had `limit` of them.
    @discardableResult
    func putTouched(_ entry: inout CollectionEntry, _ fresh: [IndexDescriptor], _ shapes: inout [KeyShape], limit: Int?,
                    _ txn: any StorageWriteTransaction) throws -> Bool {
        var more = false
        for (j, built) in fresh.enumerated() {
            let index = entry.indexes.first { $0.store == built.store }!
            let taken = indexBuilds.takeTouched(index.store, limit: limit)
            if j == 0 { indexBuilds.advance(fresh[0].store, by: taken.count) }
            if let limit, taken.count == limit { more = true }
            for recordKey in taken.sorted(by: { compareKeys($0, $1) < 0 }) {
                guard let bytes = try txn.get(entry.recordStore, recordKey) else { continue }
                let keys = try index.keys(for: RawDocument(trusted: bytes).document())
                shapes[j].add(keys)
                try Engine.putKeys(index, entry.namespace, keys, recordKey, txn, except: [],
                                   suspect: { self.indexBuilds.noteSuspect(index.store, $0) })
            }
        }
        return more
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
        while entry(ns)?.indexes.contains(where: { $0.building && names.contains($0.name) && indexBuilds.isRunning($0.store) }) == true {
            try OperationInterrupt.check()
            usleep(10_000)
        }
    }

    /// Empties the stores of the indexes a crash or a shutdown left building, before the
    /// engine serves anything: their builds start over once it is open (`ResumedBuilds`).
    /// (What the stores held is exact for the records it covers, but which keys were suspect
    /// was known only to the build that ended.)
    static func restartUnfinishedBuilds(_ state: CatalogState, _ txn: any StorageWriteTransaction) throws(StorageError) -> [UnfinishedBuild] {
        var builds: [UnfinishedBuild] = []
        for entry in state.collections.values.sorted(by: { "\($0.namespace)" < "\($1.namespace)" }) {
            let building = entry.indexes.filter(\.building)
            if building.isEmpty { continue }
            for index in building {
                try txn.dropStore(index.store)
                try txn.createStore(index.store)
            }
            builds.append(UnfinishedBuild(uuid: entry.uuid, namespace: entry.namespace, recordStore: entry.recordStore, indexes: building))
        }
        return builds
    }
}

/// A build an open found unfinished.
struct UnfinishedBuild: Sendable {
    let uuid: [UInt8]
    let namespace: Namespace
    let recordStore: String
    let indexes: [IndexDescriptor]
}

/// How a build the engine started again at its open ended (the server logs them).
public struct ResumedIndexBuild: Sendable {
    public let namespace: Namespace
    public let indexNames: [String]
    /// Nil when the indexes are ready.
    public let error: FolioError?
}

/// A build the open started again that has not ended: the server lists it in currentOp as
/// an operation of its own, whose `interrupt` killOp trips (the build then fails and its
/// indexes go, as when killOp stops a client's build) and shutdown trips (it runs again at
/// the next open).
public struct ResumingIndexBuild: Sendable {
    public let namespace: Namespace
    public let specifications: [Document]
    public let interrupt: OperationInterrupt
}

/// The builds an open found unfinished, run again one after another on a thread of their
/// own while the engine serves. Writers keep their indexes up to date from the open on
/// (`IndexBuilds.start` runs before the engine returns); `stop` interrupts them at close,
/// and they start over at the next open.
final class ResumedBuilds: Sendable {
    let builds: [UnfinishedBuild]
    /// One per build, bound to the build's thread while it runs.
    let interrupts: [OperationInterrupt]
    private let stopping = Atomic(false)
    private let running = DispatchGroup()
    private let outcomes = Locked<[ResumedIndexBuild]>([])
    /// How many builds ended.
    private let ended = Locked(0)

    init(_ builds: [UnfinishedBuild]) {
        self.builds = builds
        interrupts = builds.map { _ in OperationInterrupt() }
    }

    func start(_ engine: Engine) {
        guard !builds.isEmpty else { return }
        DispatchQueue(label: "folio.index-builds").async(group: running) { [self] in
            for (build, interrupt) in zip(builds, interrupts) {
                var failure: FolioError?
                if stopping.load(ordering: .relaxed) {
                    failure = FolioError(.interruptedAtShutdown, "interrupted at shutdown")
                } else {
                    OperationInterrupt.$current.withValue(interrupt) {
                        do throws(FolioError) {
                            _ = try engine.runBuild(build.uuid, build.recordStore, build.indexes)
                        } catch {
                            failure = error
                        }
                    }
                }
                ended.withLock { $0 += 1 }
                outcomes.withLock { $0.append(ResumedIndexBuild(namespace: build.namespace, indexNames: build.indexes.map(\.name), error: failure)) }
            }
        }
    }

    /// The builds that have not ended, with what stops each.
    var unfinished: [ResumingIndexBuild] {
        let done = ended.withLock { $0 }
        return zip(builds, interrupts).dropFirst(done).map { build, interrupt in
            ResumingIndexBuild(namespace: build.namespace, specifications: build.indexes.map(\.specification), interrupt: interrupt)
        }
    }

    /// The builds that ended since the last call.
    func takeOutcomes() -> [ResumedIndexBuild] { outcomes.withLock { o in defer { o.removeAll() }; return o } }

    /// Waits for the builds to end (tests).
    func wait() { running.wait() }

    /// Interrupts the builds and waits until they stopped.
    func stop() {
        stopping.store(true, ordering: .relaxed)
        for interrupt in interrupts { interrupt.kill(.interruptedAtShutdown) }
        running.wait()
    }
}
