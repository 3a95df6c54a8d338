import FolioBSON
import FolioQuery
import FolioStorage
import Synchronization
import FolioLocks
#if canImport(Glibc)
import Glibc
#endif

/// The database engine shared by the server and the embedded API: catalog, write path,
/// read path. Synchronous: callers run it off their event loops.
///
/// Readers work on storage snapshots and never wait for writers; writers are combined into
/// few storage transactions by group commit, and acknowledged only after their commit.
public final class Engine: Sendable {
    let storage: any StorageEngine
    let committer: GroupCommitter
    let catalog: CatalogBox
    /// Winning plans by query shape (see Planner).
    let planCache = PlanCache()
    /// Index use since startup ($indexStats).
    let indexAccesses = IndexAccessCounter()
    /// TTL monitor passes and the documents they deleted since startup (serverStatus metrics.ttl).
    public let ttlStatistics = TTLStatistics()
    /// Retryable writes answered from their history since startup (serverStatus transactions).
    public let retryStatistics = RetryStatistics()
    /// `host:port` as `$indexStats`/`$collStats` report it (the server sets its address).
    let hostLabel = Locked("localhost:27017")
    /// Snapshots shared by transactions that begin between the same two commits.
    let transactionSnapshots = TransactionSnapshots()
    /// Snapshots kept for reads that name their time (SnapshotReads.swift).
    let snapshotHistory = SnapshotHistory()
    /// Multi-document transactions started, committed and aborted since startup.
    public let transactionStatistics = TransactionStatistics()
    /// What query plans examined since startup (shared with transactions' engines).
    public let queryStatistics: QueryStatistics
    /// Operation latency per collection, as the server reports it (`$collStats` latencyStats).
    public let latencyStatistics: LatencyStatistics
    /// In a transaction's engine: the collections its snapshot had (they may not get new
    /// indexes there, as in MongoDB: writes outside would miss them). Nil otherwise.
    let snapshotCollections: Set<Namespace>?
    /// Vector search indexes' graphs (nil in a transaction's engine: `$vectorSearch` reads
    /// the shared graphs, which follow commits, not a transaction's snapshot).
    let vectorIndexes: VectorIndexRegistry?

    /// Entries per sorted run of index builds (tests lower it to exercise several runs).
    let indexBuildRunEntries = Locked(Engine.buildRunEntries)
    /// Collections with more records build new indexes while writes go on, and records per
    /// commit of those builds (tests lower both).
    package let indexBuildInOneCommitRecords = Locked(Engine.buildInOneCommitRecords)
    package let indexBuildCommitEntries = Locked(Engine.buildCommitEntries)
    /// Records such a build reads per snapshot (tests lower it to make several sorted runs).
    let indexBuildChunkRecords = Locked(4_096)
    /// Runs before each commit of such a build's backfill and catch-up (tests write there;
    /// the server's `hangIndexBuildDuringCollectionScanPhaseBeforeInsertion` fail point waits there).
    package let indexBuildBeforeChunkCommit = Locked<(@Sendable () throws -> Void)?>(nil)
    /// The index builds in progress, as writers tell them (shared with transactions' engines).
    let indexBuilds: IndexBuilds
    /// The builds the open found unfinished, running again (nil in a transaction's engine).
    let resumedBuilds: ResumedBuilds?

    /// How the index builds this engine started again at its open ended, since the last call
    /// (the server logs them).
    public func takeResumedIndexBuilds() -> [ResumedIndexBuild] { resumedBuilds?.takeOutcomes() ?? [] }

    /// The index builds this engine started again at its open that have not ended.
    public var resumingIndexBuilds: [ResumingIndexBuild] { resumedBuilds?.unfinished ?? [] }

    /// What an index build on `ns` that writes while writes go on is doing now (nil when
    /// none is), as currentOp shows it.
    public func indexBuildProgress(_ ns: Namespace) -> IndexBuildProgress? {
        entry(ns)?.indexes.lazy.filter(\.building).compactMap { self.indexBuilds.phase($0.store) }.first
    }

    /// Waits until the index builds this engine started again at its open have ended, and
    /// takes how they ended.
    public func waitForResumedIndexBuilds() -> [ResumedIndexBuild] {
        resumedBuilds?.wait()
        return takeResumedIndexBuilds()
    }

    /// Sets the `host` that `$indexStats` and `$collStats` report.
    public func setHostLabel(_ label: String) { hostLabel.withLock { $0 = label } }
    static let catalogStore = "catalog"
    /// The engine's own small values (the cluster clock's reservation).
    static let metaStore = "meta"

    /// The cluster time of the latest commit: commands report it as their operation time, so a
    /// client that waits for it (afterClusterTime) sees every write acknowledged before.
    public var clusterTime: Timestamp { committer.clock.latest }

    /// Writes waiting for their group commit now (readers never wait: they read snapshots).
    public var queuedWrites: Int { committer.queuedWrites }

    /// Opens an engine over a storage engine, loading (or creating) the catalog. Index builds
    /// a shutdown or a crash cut short start again on a thread of their own.
    public convenience init(storage: any StorageEngine) throws(FolioError) {
        try self.init(storage: storage, resumeIndexBuilds: true)
    }

    /// Tests that pass `resumeIndexBuilds: false` start the builds with `resumedBuilds.start`.
    init(storage: any StorageEngine, resumeIndexBuilds: Bool) throws(FolioError) {
        self.storage = storage
        var state = CatalogState()
        let snapshot = try Folio_storage { () throws(StorageError) in try storage.snapshot() }
        defer { snapshot.close() }
        let stores = try Folio_storage { () throws(StorageError) in try snapshot.storeNames() }
        if stores.contains(Engine.catalogStore) {
            state = CatalogState(collections: try CatalogState.load(from: snapshot))
        }
        // The counts a clean close saved, if nothing was written since; else each collection's
        // records are counted (RecordCounts.swift).
        let savedCounts = stores.contains(Engine.metaStore) && stores.contains(ChangeLog.store)
            ? try Folio_storage { () throws(StorageError) in try snapshot.get(Engine.metaStore, RecordCounts.savedKey) }
            : nil
        var saved: [String: Int]?
        if let savedCounts {
            let newest = try Folio_storage { () throws(StorageError) in try ChangeLog.newestKey(snapshot) }
            saved = RecordCounts.decode(savedCounts, changeLogNewest: newest)
        }
        let counts = RecordCounts()
        for entry in state.collections.values {
            if let n = saved?[entry.recordStore] {
                counts.load(entry.recordStore, n)
            } else {
                counts.load(entry.recordStore, try Folio_storage { () throws(StorageError) in try snapshot.count(entry.recordStore) })
            }
        }
        // The engine's own stores: a new directory gets all of them, an older one those it
        // lacks. The saved counts go before any write can make them wrong. Indexes a crash or
        // a shutdown left building are emptied, to be built again (IndexBuild.swift).
        let missing = [Engine.catalogStore, Engine.retryHistoryStore, Engine.metaStore, ChangeLog.store].filter { !stores.contains($0) }
        let unfinished = state.collections.values.contains { $0.indexes.contains(where: \.building) }
        // Retry history that commits since the last flush left in the change log only goes
        // into the store (RetryableWrites.swift).
        let retryFlushed = stores.contains(Engine.metaStore)
            ? try Folio_storage { () throws(StorageError) in try snapshot.get(Engine.metaStore, RetryHistoryCache.flushedKey) }
            : nil
        let retryReplay = try retryFlushed.map { flushed throws(FolioError) in
            try Folio_storage { () throws(StorageError) in
                try !snapshot.scan(ChangeLog.store, KeyRange(lower: flushed.isEmpty ? nil : flushed, lowerInclusive: false),
                                   reverse: false, limit: 1).isEmpty
            }
        } ?? true
        var restarted: [UnfinishedBuild] = []
        if !missing.isEmpty || savedCounts != nil || unfinished || retryReplay {
            let txn = try Folio_storage { () throws(StorageError) in try storage.beginWrite() }
            try folio {
                for store in missing { try txn.createStore(store) }
                if savedCounts != nil { _ = try txn.delete(Engine.metaStore, RecordCounts.savedKey) }
                if unfinished { restarted = try Engine.restartUnfinishedBuilds(state, txn) }
                if retryReplay {
                    // Without the key (a directory older than it) no entry carries records.
                    let unflushed = retryFlushed == nil ? (records: [:], newest: nil) : try RetryHistoryCache.unflushed(txn)
                    try RetryHistoryCache.store(unflushed.records, currentWith: try unflushed.newest ?? ChangeLog.newestKey(txn), txn)
                }
                try txn.commit(durable: true)
            }
        }
        catalog = CatalogBox(state)
        indexBuilds = IndexBuilds()
        // Writers keep the restarted builds' indexes, and note what they touch, from the first write.
        indexBuilds.start(restarted.flatMap { $0.indexes.map(\.store) })
        resumedBuilds = ResumedBuilds(restarted)
        vectorIndexes = VectorIndexRegistry(catalog: catalog, collections: state.collections.values)
        snapshotCollections = nil
        queryStatistics = QueryStatistics()
        latencyStatistics = LatencyStatistics()
        let reservation = stores.contains(Engine.metaStore)
            ? ClusterClock.decode(try Folio_storage { () throws(StorageError) in try snapshot.get(Engine.metaStore, ClusterClock.key) })
            : 0
        committer = GroupCommitter(storage: storage, recordCounts: counts, clock: ClusterClock(reserved: reservation))
        committer.catalog = CatalogMirror(engine: self)
        committer.vectorIndexes = vectorIndexes
        if !stores.contains(ChangeLog.store) {
            // A new change log starts with a no-op, as a replica set's oplog does: changes
            // before it are history the log never had (ChangeStreamHistoryLost).
            try folio {
                try committer.write(durable: true) { txn in
                    self.logChange(LoggedChange(op: "n", ns: "", uuid: nil, object: (["msg": "initiating set"] as Document).bsonBytes()), txn)
                }
            }
        }
        if resumeIndexBuilds { resumedBuilds?.start(self) }
    }

    /// The engine a multi-document transaction runs in: the transaction's storage view, the
    /// catalog of its snapshot, and statements that buffer instead of committing.
    init(transactionOf parent: Engine, storage: TransactionStorage, collections: [Namespace: CollectionEntry]) {
        self.storage = storage
        committer = GroupCommitter(storage: storage, timed: false)
        catalog = CatalogBox(CatalogState(collections: collections))
        indexBuilds = parent.indexBuilds
        resumedBuilds = nil
        vectorIndexes = nil
        snapshotCollections = Set(collections.keys)
        queryStatistics = parent.queryStatistics
        latencyStatistics = parent.latencyStatistics
        hostLabel.withLock { $0 = parent.hostLabel.withLock { $0 } }
        committer.catalog = CatalogMirror(engine: self)
    }

    /// Opens the SQLite engine in a data directory. `walResetBytes`: the write-ahead log size
    /// past which the background checkpoint makes the log start over (crash tests lower it);
    /// `recordCacheBytes`: memory for documents read by key (0 turns the cache off).
    public static func open(directory: String,
                            walResetBytes: Int = SQLiteStorageEngine.defaultWalResetBytes,
                            recordCacheBytes: Int = SQLiteStorageEngine.defaultRecordCacheBytes) throws(FolioError) -> Engine {
        try open(directory: directory, walResetBytes: walResetBytes, recordCacheBytes: recordCacheBytes, resumeIndexBuilds: true)
    }

    static func open(directory: String, walResetBytes: Int = SQLiteStorageEngine.defaultWalResetBytes,
                     recordCacheBytes: Int = SQLiteStorageEngine.defaultRecordCacheBytes, resumeIndexBuilds: Bool) throws(FolioError) -> Engine {
        try Engine(storage: Folio_storage { () throws(StorageError) in
            try SQLiteStorageEngine(directory: directory, walResetBytes: walResetBytes, recordCacheBytes: recordCacheBytes)
        }, resumeIndexBuilds: resumeIndexBuilds)
    }

    /// An engine that keeps everything in memory (tests, throwaway servers).
    public static func inMemory() throws(FolioError) -> Engine {
        try Engine(storage: MemoryStorageEngine())
    }

    /// Closes storage; later calls fail with ShutdownInProgress. Index builds the open started
    /// again stop first (the next open starts them over); kept snapshots go next (a read
    /// transaction left open would hold up the final checkpoint).
    public func close() {
        resumedBuilds?.stop()
        snapshotHistory.expire(olderThan: 0)
        if committer.timed { saveRecordCounts() }
        storage.close()
    }

    /// Refuses writes from now on and leaves the record counts for the next open, with the
    /// change log's newest key (RecordCounts.swift). Without the row the next open counts.
    /// The retry history's records go into their store too.
    func saveRecordCounts() {
        committer.closeWrites()
        let counts = committer.recordCounts.all
        guard let txn = try? storage.beginWrite() else { return }
        do throws(StorageError) {
            let newest = try ChangeLog.newestKey(txn)
            try txn.put(Engine.metaStore, RecordCounts.savedKey, RecordCounts.encode(counts, changeLogNewest: newest))
            // The retry history the change log alone holds, so the next open reads none back.
            try RetryHistoryCache.store(committer.retryCache.all, currentWith: newest, txn)
            try txn.commit(durable: true)
        } catch {
            txn.rollback()
        }
    }

    /// Gives back memory caches hold while nothing is running (storage page caches, then
    /// the allocator's free pages).
    public func releaseIdleMemory() {
        storage.releaseMemory()
        #if os(Linux)
        _ = glibcMallocTrim(0)
        #endif
    }

    /// Fixes glibc's allocator settings for a process that runs only this engine (the
    /// server; embedding applications keep their own), so memory freed after a workload
    /// leaves the process. Left alone when the environment already tunes malloc.
    ///
    /// Why: glibc raises its mmap threshold each time a large block is freed (up to 32 MiB)
    /// and its trim threshold with it (twice that); a thread arena gives back the free space
    /// at its top only when that exceeds the trim threshold, and `malloc_trim` never trims a
    /// thread arena's top. After a burst of large replies each arena kept megabytes it did
    /// not use. Fixed thresholds end the raising; one arena per core (glibc allows eight)
    /// bounds how many tops and fragments there are.
    public static func tuneProcessAllocator() {
        #if os(Linux)
        let variables = ["GLIBC_TUNABLES", "MALLOC_ARENA_MAX", "MALLOC_MMAP_THRESHOLD_", "MALLOC_TRIM_THRESHOLD_"]
        guard variables.allSatisfy({ getenv($0) == nil }) else { return }
        _ = glibcMallopt(glibcMallocMmapThreshold, Int32(Allocator.mmapThresholdBytes))
        _ = glibcMallopt(glibcMallocTrimThreshold, Int32(Allocator.trimThresholdBytes))
        _ = glibcMallopt(glibcMallocArenaMax, Int32(max(2, sysconf(Int32(_SC_NPROCESSORS_ONLN)))))
        #endif
    }

    /// Bytes the data uses on disk.
    public var sizeOnDiskBytes: Int64 { storage.sizeOnDiskBytes() }

    /// The storage engine's cache and checkpoint counts (metrics).
    public var storageStatistics: StorageStatistics { storage.statistics() }

    func entry(_ ns: Namespace) -> CollectionEntry? { catalog.withLock { $0.collections[ns] } }

    /// Changes the in-memory catalog (inside a write transaction, after writing the catalog
    /// store): the change reaches readers with the commit (CatalogBox).
    func updateCatalog(_ change: (inout CatalogState) -> Void) {
        catalog.withLock { state in
            change(&state)
            state.generation &+= 1
        }
    }
}

/// What the group committer needs of the in-memory catalog: the engine's CatalogBox, and
/// the plans to forget when a commit changes a collection's entry.
struct CatalogMirror: Sendable {
    unowned let engine: Engine

    var box: CatalogBox { engine.catalog }

    /// Publishes the batch's catalog (right after its storage commit) and forgets the plans
    /// of the collections it changed.
    func publish() {
        for ns in engine.catalog.publish() { engine.planCache.invalidate(ns) }
    }
}

/// Storage calls with errors translated at the engine boundary.
func Folio_storage<R>(_ body: () throws(StorageError) -> R) throws(FolioError) -> R {
    try storage(body)
}

/// Decodes bytes the engine stored itself (validated: a damaged file is an error, not a crash).
func Folio_document(_ bytes: [UInt8]) throws(FolioError) -> Document {
    do {
        return try RawDocument(validating: bytes).document()
    } catch {
        throw FolioError(.internalError, "data corruption: stored document does not decode: \(error)")
    }
}

/// Runs engine work that may throw anything, narrowing to FolioError.
func folio<R>(_ body: () throws -> R) throws(FolioError) -> R {
    do {
        return try body()
    } catch let e as FolioError {
        throw e
    } catch let e as StorageError {
        throw e.folioError
    } catch {
        throw FolioError(.internalError, "\(error)")
    }
}

/// The allocator settings `Engine.tuneProcessAllocator` applies.
enum Allocator {
    /// Blocks from this size up get their own mapping, returned to the system when freed
    /// (cursor batches up to 16 MiB, large replies).
    static let mmapThresholdBytes = 1 << 20
    /// Free space above this at an arena's top is returned when a block is freed.
    static let trimThresholdBytes = 4 << 20
}

#if os(Linux)
// glibc's malloc.h, which the Glibc module does not export.
@_silgen_name("malloc_trim")
private func glibcMallocTrim(_ pad: Int) -> Int32
@_silgen_name("mallopt")
private func glibcMallopt(_ parameter: Int32, _ value: Int32) -> Int32
private let glibcMallocTrimThreshold: Int32 = -1
private let glibcMallocMmapThreshold: Int32 = -3
private let glibcMallocArenaMax: Int32 = -8
#endif
