import CSQLite
import Dispatch
import Synchronization
import FolioLocks
#if canImport(Glibc)
import Glibc
#endif

// The embedded engine on SQLite.
//
// On-disk layout of a data directory:
//   folio.db, folio.db-wal, folio.db-shm   one SQLite database in WAL mode
//   folio.lock                              flock()ed by the owning process
// Each store is a table `"st:<name>" (k BLOB PRIMARY KEY, v BLOB NOT NULL) WITHOUT ROWID`;
// BLOB keys compare with memcmp, which is KeyString's order.
//
// Large values: a row whose key and value do not fit in one B-tree cell (`inlineBytes`,
// ~4 KB with 16 KiB pages) keeps its value in the store's side table
// `"sv:<name>" (id INTEGER PRIMARY KEY, v BLOB NOT NULL)` (created with the first such value),
// and `v` in the store's row is that id, an INTEGER. Why: a WITHOUT ROWID table is an index
// B-tree, where every cell a search compares with is read whole, and SQLite reads a cell that
// spilled to overflow pages by copying all of it into a fresh buffer: each insert into the
// change log compared with earlier megabyte-sized rows (a quarter of a 1,000-document
// insert_many's CPU, 40% of 64 KB documents' writes, measured). In the side table, a rowid
// table, searches compare integers and values sit in leaves only. Rows written before this
// layout keep their values inline and are read as before; a write moves them.
//
// Invariants:
//  1. Only the process holding the flock on folio.lock opens the database for writing.
//  2. One writer connection; write transactions are BEGIN IMMEDIATE ... COMMIT on it,
//     serialized by `writerGate`.
//  3. Commits use synchronous=NORMAL (durable against a process crash: the WAL is in the OS
//     cache before COMMIT returns); a `durable` commit then fsyncs the WAL file, which makes
//     it and every earlier commit survive power loss too.
//  4. A snapshot is a read transaction on a pooled reader connection; WAL gives it a stable
//     view until it ends, while the writer continues.
//  5. The writer never checkpoints (wal_autocheckpoint=0): a background connection runs a
//     PASSIVE checkpoint every 250 ms, so commits never pay for copying the WAL into the
//     database file and fsyncing it (measured here: 40K → 104K inserted 1 KB rows/s).
//     Passive checkpoints cannot finish while writes continue, so once the log holds more
//     than `walResetBytes` the checkpointer runs a few more passes while the writes go on
//     (each copies what arrived during the one before), then takes the writer gate for a
//     last PASSIVE pass over the small remainder; once every frame is in the database the
//     next write transaction starts the log again from its beginning (SQLite does so when
//     no reader still reads from the log). The log's contents stay bounded; its file keeps
//     the largest size it reached, until close() truncates it. (TRUNCATE checkpoints did
//     this before: they poll SQLite's busy handler for a gap between write transactions and
//     then hold writers back while copying and truncating — stalls of 0.1–9 s during a bulk
//     load, measured; the gated pass takes 0–200 ms there.)
//
//  6. Starting and ending a read transaction costs SQLite two shared-memory locks (fcntl
//     system calls) besides BEGIN/COMMIT, which made them most of a point read. So the last
//     snapshot closed is kept open ("pinned") while nothing is committed: the next snapshot
//     takes it over and sees exactly what a fresh one would. Every commit bumps
//     the version `PinnedSnapshot` keeps, after which a pinned transaction is stale: the next snapshot or the
//     checkpoint timer (within 250 ms, before it checkpoints) ends it, so it never holds the
//     WAL back for long.
//  7. Snapshots answer `get` from the record cache (RecordCache.swift) while their state is
//     the latest; the commit version is odd while a COMMIT is under way, and the writer
//     removes the keys it wrote from the cache before COMMIT.
//
// Costs per write transaction: one BEGIN/COMMIT, one cached INSERT per key, one cache
// removal per key; no fsync unless durable (then one fsync of the WAL). Per point read: a
// record-cache probe, and on a miss one cached SELECT on a B-tree.

/// The SQLite storage engine.
public final class SQLiteStorageEngine: StorageEngine {
    public let name = "sqlite"
    public let directory: String
    let databasePath: String
    let lockDescriptor: Int32
    let writer: SQLiteConnection
    let writerGate: DispatchSemaphore
    let readers = Locked<[SQLiteConnection]>([])
    let pinned: PinnedSnapshot
    let recordCache: RecordCache
    let isClosed = Atomic(false)
    let checkpointer: Checkpointer?
    let checkpointTimer: CheckpointTimer
    /// Log size past which the background checkpoint makes the log start over.
    public static let defaultWalResetBytes = 64 << 20
    /// Memory for values read by key (`RecordCache`), unless the engine is opened with another.
    public static let defaultRecordCacheBytes = 256 << 20
    /// The database page size (set when the file is created).
    static let pageBytes = 16384
    /// The most key and value bytes a row keeps in its B-tree cell; a row with more keeps
    /// its value in the side table ("large values" above). SQLite spills an index B-tree
    /// cell's payload past (usable page size - 12) * 64 / 255 - 23 bytes; 16 bytes stay for
    /// the record's header.
    let inlineBytes: Int
    /// Reader connections kept idle; more are opened under load and closed when returned.
    static let idleReaderLimit = 8
    /// Process-wide SQLite settings, applied once before the first connection: memory
    /// statistics off (they take a global mutex on every SQLite allocation). A no-op when
    /// SQLite was already initialized by someone else in the process.
    static let libraryConfigured: Void = { _ = folio_sqlite_disable_memstatus() }()

    /// Opens (creating if needed) the data directory. `walResetBytes`: the log size past
    /// which the background checkpoint makes the log start over (invariant 5).
    /// `recordCacheBytes`: memory for values read by key (`RecordCache`; 0 turns it off).
    /// - Throws: `.locked` when another process uses it, `.io` for file-system errors.
    public init(directory: String, walResetBytes: Int = SQLiteStorageEngine.defaultWalResetBytes,
                recordCacheBytes: Int = SQLiteStorageEngine.defaultRecordCacheBytes) throws(StorageError) {
        _ = SQLiteStorageEngine.libraryConfigured
        self.directory = directory
        if mkdir(directory, 0o755) != 0 && errno != EEXIST {
            throw .io("cannot create data directory \(directory): \(String(cString: strerror(errno)))")
        }
        let lockPath = directory + "/folio.lock"
        let fd = open(lockPath, O_RDWR | O_CREAT | O_CLOEXEC, 0o644)
        guard fd >= 0 else { throw .io("cannot open \(lockPath): \(String(cString: strerror(errno)))") }
        guard flock(fd, LOCK_EX | LOCK_NB) == 0 else {
            Glibc.close(fd)
            throw .locked("data directory \(directory) is in use by another Folio process (\(lockPath) is locked)")
        }
        lockDescriptor = fd
        databasePath = directory + "/folio.db"
        let writerGate = DispatchSemaphore(value: 1)
        self.writerGate = writerGate
        do throws(StorageError) {
            writer = try SQLiteConnection(path: databasePath, readOnly: false)
            // 16 KiB pages: in a WITHOUT ROWID B-tree a 4 KiB page keeps at most ~1 KB of a row
            // inline, so typical documents spilled to overflow pages (measured: 7x slower
            // inserts, 4.5x slower scans). Takes effect when the file is created.
            try writer.execute("PRAGMA page_size=\(SQLiteStorageEngine.pageBytes)")
            try writer.execute("PRAGMA journal_mode=WAL")
            try writer.execute("PRAGMA synchronous=NORMAL")
            try writer.execute("PRAGMA temp_store=MEMORY")
            try writer.execute("PRAGMA cache_size=-65536")
            try writer.execute("PRAGMA wal_autocheckpoint=0")
            // Debian builds SQLite with SECURE_DELETE: every page a delete frees (a dropped
            // collection's, a trimmed change-log row's overflow chain) was zeroed and written
            // to the WAL again. FAST still zeroes deleted content in the pages a write
            // rewrites anyway, and writes no page only for that. (Neither MongoDB nor
            // PostgreSQL zero freed space.)
            try writer.execute("PRAGMA secure_delete=FAST")
            inlineBytes = (try writer.integer("PRAGMA page_size") - 12) * 64 / 255 - 23 - 16
        } catch {
            flock(fd, LOCK_UN)
            Glibc.close(fd)
            throw error
        }
        let pinned = PinnedSnapshot()
        self.pinned = pinned
        recordCache = RecordCache(capacityBytes: recordCacheBytes, version: pinned)
        let queue = DispatchQueue(label: "folio.sqlite.checkpoint")
        let checkpointer = (try? SQLiteConnection(path: databasePath, readOnly: false))
            .map { Checkpointer(connection: $0, queue: queue, writerGate: writerGate, pinned: pinned, resetBytes: walResetBytes) }
        self.checkpointer = checkpointer
        let timer = DispatchSource.makeTimerSource(queue: queue)
        timer.schedule(deadline: .now() + .milliseconds(250), repeating: .milliseconds(250))
        timer.setEventHandler { checkpointer?.run() }
        timer.resume()
        checkpointTimer = CheckpointTimer(timer)
    }

    deinit { close() }

    public func close() {
        guard !isClosed.exchange(true, ordering: .acquiringAndReleasing) else { return }
        checkpointer?.stopped.store(true, ordering: .releasing)
        checkpointTimer.timer.cancel()
        writerGate.wait()
        pinned.endStale(all: true)
        readers.withLock { $0.removeAll() }
        recordCache.removeAll()
        try? writer.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        flock(lockDescriptor, LOCK_UN)
        Glibc.close(lockDescriptor)
        writerGate.signal()
    }

    /// Drops the record cache and the page caches of the writer and the pooled readers
    /// (they refill on demand).
    public func releaseMemory() {
        guard !isClosed.load(ordering: .acquiring) else { return }
        recordCache.removeAll()
        writerGate.wait()
        if !isClosed.load(ordering: .acquiring) { sqlite3_db_release_memory(writer.handle) }
        writerGate.signal()
        readers.withLock { pool in for c in pool { sqlite3_db_release_memory(c.handle) } }
    }

    func checkOpen() throws(StorageError) {
        if isClosed.load(ordering: .acquiring) { throw .closed }
    }

    func takeReader() throws(StorageError) -> SQLiteConnection {
        if let c = readers.withLock({ $0.popLast() }) { return c }
        let c = try SQLiteConnection(path: databasePath, readOnly: true)
        return c
    }

    func returnReader(_ c: SQLiteConnection) {
        readers.withLock { pool in
            if pool.count < SQLiteStorageEngine.idleReaderLimit { pool.append(c) }
        }
    }

    public func snapshot() throws(StorageError) -> any StorageSnapshot {
        try checkOpen()
        // Read before BEGIN: a commit landing in between only makes the snapshot newer
        // than its version says, which can only keep it from being pinned.
        let version = pinned.version
        let (current, stale) = pinned.take(version: version)
        if let current { return SQLiteSnapshot(engine: self, connection: current, version: version) }
        if let stale {
            try? stale.run("COMMIT")
            returnReader(stale)
        }
        let c = try takeReader()
        // The WAL snapshot is fixed by the transaction's first read: make one now, so the
        // snapshot is the state at this call (cached statements: no SQL parsing per call).
        do throws(StorageError) {
            try c.run("BEGIN")
            try c.run("SELECT 1 FROM sqlite_master LIMIT 1")
        } catch {
            try? c.run("ROLLBACK")
            throw error
        }
        return SQLiteSnapshot(engine: self, connection: c, version: version)
    }

    public func beginWrite() throws(StorageError) -> any StorageWriteTransaction {
        try checkOpen()
        writerGate.wait()
        do throws(StorageError) {
            try writer.run("BEGIN IMMEDIATE")
        } catch {
            writerGate.signal()
            throw error
        }
        return SQLiteWriteTransaction(engine: self, connection: writer)
    }

    /// Syncs the log and the database file from a descriptor of our own, outside the writer
    /// gate. (With ext4's ordered data, syncing the log also writes the database file's newly
    /// allocated pages, which checkpoints after a bulk load leave by the gigabyte.)
    public func flushUnsynced() {
        for path in [databasePath + "-wal", databasePath] {
            let fd = open(path, O_RDONLY | O_CLOEXEC)
            guard fd >= 0 else { continue }
            _ = fdatasync(fd)
            Glibc.close(fd)
        }
    }

    /// fsyncs the write-ahead log (called under the writer gate, after COMMIT).
    func syncLog() throws(StorageError) {
        let path = databasePath + "-wal"
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else {
            // No WAL file means nothing is pending outside the database file.
            if errno == ENOENT { return }
            throw .io("cannot open \(path) to sync: \(String(cString: strerror(errno)))")
        }
        defer { Glibc.close(fd) }
        guard fsync(fd) == 0 else { throw .io("fsync \(path) failed: \(String(cString: strerror(errno)))") }
    }

    /// Only a record-cache entry is sure to be memory: a miss descends SQLite's B-tree, whose
    /// pages may have to come from the file.
    public func holdsInMemory(_ store: String, _ key: [UInt8]) -> Bool {
        recordCache.holds(RecordCache.Key(store: store, key: key))
    }

    /// A record-cache entry, while no commit is under way (invariant 7: an entry then holds
    /// the key's latest committed value). A miss is not counted: the snapshot read that
    /// follows counts it.
    public func latestInMemory(_ store: String, _ key: [UInt8]) -> [UInt8]? {
        recordCache.value(RecordCache.Key(store: store, key: key), at: pinned.version, countsMiss: false)
    }

    public func statistics() -> StorageStatistics {
        var s = StorageStatistics()
        (s.cacheHits, s.cacheMisses, s.cacheBytes) = recordCache.counts
        s.checkpoints = checkpointer?.runs.load(ordering: .relaxed) ?? 0
        s.checkpointSeconds = Double(checkpointer?.nanoseconds.load(ordering: .relaxed) ?? 0) / 1e9
        s.logBytes = (checkpointer?.logFrames.load(ordering: .relaxed) ?? 0) * Checkpointer.frameBytes
        return s
    }

    public func sizeOnDiskBytes() -> Int64 {
        var total: Int64 = 0
        for suffix in ["", "-wal"] {
            var st = stat()
            if stat(databasePath + suffix, &st) == 0 { total += Int64(st.st_size) }
        }
        return total
    }
}

/// The cached statements' shapes below 16 (`rangeStatement` numbers its own from 16 up).
enum Shape {
    static let select: UInt16 = 1
    static let count: UInt16 = 2
    static let delete: UInt16 = 3
    static let replace: UInt16 = 4
    static let insertIgnore: UInt16 = 5
    static let sideSelect: UInt16 = 6
    static let sideInsert: UInt16 = 7
    static let sideUpdate: UInt16 = 8
    static let sideDelete: UInt16 = 9
    static let probe: UInt16 = 10
    static let deleteReturning: UInt16 = 11
}

/// Reads through one connection; shared by snapshots and the write transaction.
class SQLiteReader: @unchecked Sendable {
    // @unchecked: access to `connection` is serialized by `lock`.
    let engine: SQLiteStorageEngine
    let connection: SQLiteConnection
    let lock = Locked(false)

    init(engine: SQLiteStorageEngine, connection: SQLiteConnection) {
        self.engine = engine
        self.connection = connection
    }

    func withConnection<R>(_ body: (SQLiteConnection) throws(StorageError) -> R) throws(StorageError) -> R {
        try lock.withLock { (finished: inout Bool) throws(StorageError) -> R in
            if finished { throw .closed }
            return try body(connection)
        }
    }

    func storeExists(_ c: SQLiteConnection, _ store: String) throws(StorageError) -> Bool {
        try tableExists(c, storeTable(store))
    }

    func tableExists(_ c: SQLiteConnection, _ name: String) throws(StorageError) -> Bool {
        // The schema's in-memory table hash: sqlite_master has no index on `name`, and a scan of
        // it cost O(tables) on every store created (thousands of collections, measured).
        let s = try c.statement("SELECT 1 FROM pragma_table_info(?) LIMIT 1")
        _ = name.withCString { sqlite3_bind_text(s, 1, $0, -1, sqliteTransient) }
        defer { sqlite3_reset(s) }
        return try c.step(s)
    }

    func mapMissing(_ error: StorageError, _ c: SQLiteConnection, _ store: String) -> StorageError {
        if case .io = error, (try? storeExists(c, store)) == false { return .noSuchStore(store) }
        return error
    }

    func get(_ store: String, _ key: [UInt8]) throws(StorageError) -> [UInt8]? {
        try withConnection { (c) throws(StorageError) -> [UInt8]? in try select(c, store, key) }
    }

    /// `k`'s value from the record cache, or else from SQLite, then kept in the cache, for a
    /// reader whose state is the one the engine had at `version` (called with the connection held).
    func readThrough(_ c: SQLiteConnection, _ k: RecordCache.Key, at version: UInt64) throws(StorageError) -> [UInt8]? {
        if let cached = engine.recordCache.value(k, at: version) { return cached }
        let value = try select(c, k.store, k.key)
        if let value { engine.recordCache.store(k, value, at: version) }
        return value
    }

    /// The cached `SELECT v` for one key (called with the connection held).
    func select(_ c: SQLiteConnection, _ store: String, _ key: [UInt8]) throws(StorageError) -> [UInt8]? {
        do throws(StorageError) {
            let s = try c.statement(shape: Shape.select, store: store) { "SELECT v FROM \(tableName(store)) WHERE k = ?" }
            defer { sqlite3_reset(s) }
            c.bind(s, 1, key)
            guard try c.step(s) else { return nil }
            return try withValue(c, store, s, 0) { Array($0) }
        } catch {
            throw mapMissing(error, c, store)
        }
    }

    /// Calls `body` with the value of the row `s` is on, whose `v` is column `column`: its
    /// bytes, or for an id the side table's value (valid only during `body`).
    func withValue<R>(_ c: SQLiteConnection, _ store: String, _ s: OpaquePointer, _ column: Int32,
                      _ body: (UnsafeBufferPointer<UInt8>) -> R) throws(StorageError) -> R {
        guard sqlite3_column_type(s, column) == SQLITE_INTEGER else { return body(SQLiteReader.borrowed(s, column)) }
        let id = sqlite3_column_int64(s, column)
        let side = try c.statement(shape: Shape.sideSelect, store: store) { "SELECT v FROM \(sideTableName(store)) WHERE id = ?" }
        defer { sqlite3_reset(side) }
        sqlite3_bind_int64(side, 1, id)
        guard try c.step(side) else {
            throw .corruption("a row of store \(store) names value \(id) of its side table, which does not hold it")
        }
        return body(SQLiteReader.borrowed(side, 0))
    }

    func scan(_ store: String, _ range: KeyRange, reverse: Bool, limit: Int?) throws(StorageError) -> [(key: [UInt8], value: [UInt8])] {
        try withConnection { (c) throws(StorageError) -> [(key: [UInt8], value: [UInt8])] in
            do throws(StorageError) {
                let s = try rangeStatement(c, store, range, reverse: reverse, limit: limit)
                defer { sqlite3_reset(s) }
                var out: [(key: [UInt8], value: [UInt8])] = []
                while try c.step(s) { out.append((c.column(s, 0), try withValue(c, store, s, 1) { Array($0) })) }
                return out
            } catch {
                throw mapMissing(error, c, store)
            }
        }
    }

    func visit(_ store: String, _ range: KeyRange, limit: Int?,
               _ body: (UnsafeBufferPointer<UInt8>, UnsafeBufferPointer<UInt8>) -> Bool) throws(StorageError) -> [UInt8]? {
        try withConnection { (c) throws(StorageError) -> [UInt8]? in
            do throws(StorageError) {
                let s = try rangeStatement(c, store, range, reverse: false, limit: limit)
                defer { sqlite3_reset(s) }
                // Column memory is only valid until the next step: keep a copy of the last key
                // in one reused buffer.
                var last: [UInt8] = []
                var any = false
                while try c.step(s) {
                    let k = SQLiteReader.borrowed(s, 0)
                    last.removeAll(keepingCapacity: true)
                    last.append(contentsOf: k)
                    any = true
                    if !(try withValue(c, store, s, 1) { v in body(k, v) }) { break }
                }
                return any ? last : nil
            } catch {
                throw mapMissing(error, c, store)
            }
        }
    }

    /// The cached `SELECT k, v` for a key range, with its parameters bound.
    func rangeStatement(_ c: SQLiteConnection, _ store: String, _ range: KeyRange, reverse: Bool,
                        limit: Int?) throws(StorageError) -> OpaquePointer {
        // Shape bits: lower bound (and inclusive), upper bound (and inclusive), reverse, limit.
        var shape: UInt16 = 16
        if range.lower != nil { shape |= range.lowerInclusive ? 0x300 : 0x100 }
        if range.upper != nil { shape |= range.upperInclusive ? 0xC00 : 0x400 }
        if reverse { shape |= 0x1000 }
        if limit != nil { shape |= 0x2000 }
        let s = try c.statement(shape: shape, store: store) { // (shapes from 16 up: no clash with `Shape`)
            var conditions: [String] = []
            if range.lower != nil { conditions.append(range.lowerInclusive ? "k >= ?" : "k > ?") }
            if range.upper != nil { conditions.append(range.upperInclusive ? "k <= ?" : "k < ?") }
            var sql = "SELECT k, v FROM \(tableName(store))"
            if !conditions.isEmpty { sql += " WHERE " + conditions.joined(separator: " AND ") }
            sql += reverse ? " ORDER BY k DESC" : " ORDER BY k"
            if limit != nil { sql += " LIMIT ?" }
            return sql
        }
        var index: Int32 = 1
        if let lower = range.lower { c.bind(s, index, lower); index += 1 }
        if let upper = range.upper { c.bind(s, index, upper); index += 1 }
        if let limit { sqlite3_bind_int64(s, index, Int64(limit)) }
        return s
    }

    static func borrowed(_ s: OpaquePointer, _ column: Int32) -> UnsafeBufferPointer<UInt8> {
        let n = Int(sqlite3_column_bytes(s, column))
        guard n > 0, let p = sqlite3_column_blob(s, column) else { return UnsafeBufferPointer(start: nil, count: 0) }
        return UnsafeBufferPointer(start: p.assumingMemoryBound(to: UInt8.self), count: n)
    }

    func storeNames() throws(StorageError) -> [String] {
        try withConnection { (c) throws(StorageError) -> [String] in
            let s = try c.statement("SELECT name FROM sqlite_master WHERE type = 'table' AND name LIKE 'st:%' ORDER BY name")
            defer { sqlite3_reset(s) }
            var out: [String] = []
            while try c.step(s) {
                out.append(String(String(cString: sqlite3_column_text(s, 0)).dropFirst(3)))
            }
            return out
        }
    }

    /// The pages of the store's B-tree and of its side table's, from SQLite's dbstat table
    /// (one aggregate row each).
    func storageBytes(_ store: String) throws(StorageError) -> Int {
        try withConnection { (c) throws(StorageError) -> Int in
            guard try storeExists(c, store) else { throw .noSuchStore(store) }
            let s = try c.statement("SELECT sum(pgsize) FROM dbstat WHERE name = ? AND aggregate = TRUE")
            var total = 0
            for name in [storeTable(store), sideTable(store)] {
                _ = name.withCString { sqlite3_bind_text(s, 1, $0, -1, sqliteTransient) }
                defer { sqlite3_reset(s) }
                if try c.step(s) { total += Int(sqlite3_column_int64(s, 0)) }
            }
            return total
        }
    }

    /// Summed by SQL: `length()` of a blob reads only the record's header, not the value,
    /// so the side table's large values (whole insert_many batches in the change log) are
    /// not read (visiting a full change log read its 990 MB).
    func valueBytes(_ store: String) throws(StorageError) -> Int {
        try withConnection { (c) throws(StorageError) -> Int in
            guard try storeExists(c, store) else { throw .noSuchStore(store) }
            // In the store's table a side value's row holds its id, an INTEGER.
            var total = try sum(c, "SELECT sum(length(v)) FROM \(tableName(store)) WHERE typeof(v) = 'blob'")
            if try tableExists(c, sideTable(store)) {
                total += try sum(c, "SELECT sum(length(v)) FROM \(sideTableName(store))")
            }
            return total
        }
    }

    private func sum(_ c: SQLiteConnection, _ sql: String) throws(StorageError) -> Int {
        let s = try c.statement(sql)
        defer { sqlite3_reset(s) }
        _ = try c.step(s)
        return Int(sqlite3_column_int64(s, 0))
    }

    func count(_ store: String) throws(StorageError) -> Int {
        try withConnection { (c) throws(StorageError) -> Int in
            do throws(StorageError) {
                let s = try c.statement(shape: Shape.count, store: store) { "SELECT count(*) FROM \(tableName(store))" }
                defer { sqlite3_reset(s) }
                _ = try c.step(s)
                return Int(sqlite3_column_int64(s, 0))
            } catch {
                throw mapMissing(error, c, store)
            }
        }
    }
}

final class SQLiteSnapshot: SQLiteReader, StorageSnapshot, @unchecked Sendable {
    /// The engine's commit version when the snapshot was taken.
    let version: UInt64

    init(engine: SQLiteStorageEngine, connection: SQLiteConnection, version: UInt64) {
        self.version = version
        super.init(engine: engine, connection: connection)
    }

    deinit { close() }

    /// Answers from the record cache while this snapshot's state is the latest one.
    override func get(_ store: String, _ key: [UInt8]) throws(StorageError) -> [UInt8]? {
        let cache = engine.recordCache
        guard cache.enabled else { return try super.get(store, key) }
        let k = RecordCache.Key(store: store, key: key)
        return try withConnection { (c) throws(StorageError) -> [UInt8]? in try readThrough(c, k, at: version) }
    }

    func close() {
        let release = lock.withLock { finished -> Bool in
            if finished { return false }
            finished = true
            return true
        }
        guard release else { return }
        if engine.isClosed.load(ordering: .acquiring) || !engine.pinned.keep(connection, version: version) {
            try? connection.run("COMMIT")
            engine.returnReader(connection)
        }
    }
}

/// The commit version and the one idle read transaction kept open between snapshots
/// (note 6 above).
final class PinnedSnapshot: Sendable {
    /// Twice the write commits so far, plus one while a commit is under way; a snapshot
    /// taken at version v is current while it stays v.
    private let commits = Atomic<UInt64>(0)
    private let slot = Locked<(connection: SQLiteConnection, version: UInt64)?>(nil)

    var version: UInt64 { commits.load(ordering: .sequentiallyConsistent) }

    /// Called just before a write transaction's COMMIT (the version becomes odd)...
    func willCommit() { commits.add(1, ordering: .sequentiallyConsistent) }

    /// ...and after it, whether it succeeded or not, before the writer reports success.
    func committed() { commits.add(1, ordering: .sequentiallyConsistent) }

    /// Takes the pinned transaction: `current` when it was taken at `version`, otherwise
    /// `stale` (for the caller to end).
    func take(version: UInt64) -> (current: SQLiteConnection?, stale: SQLiteConnection?) {
        slot.withLock { s in
            guard let p = s else { return (nil, nil) }
            s = nil
            return p.version == version ? (p.connection, nil) : (nil, p.connection)
        }
    }

    /// Keeps `connection`'s open transaction, taken at `version`, when nothing has been
    /// committed since and the slot is free.
    func keep(_ connection: SQLiteConnection, version: UInt64) -> Bool {
        slot.withLock { s in
            guard s == nil, version == self.version else { return false }
            s = (connection, version)
            return true
        }
    }

    /// Ends the pinned transaction when it is stale (or always, with `all`); returns whether
    /// there was one to end.
    @discardableResult
    func endStale(all: Bool = false) -> Bool {
        let ended = slot.withLock { s -> SQLiteConnection? in
            guard let p = s, all || p.version != version else { return nil }
            s = nil
            return p.connection
        }
        try? ended?.run("COMMIT")
        return ended != nil
    }
}

final class SQLiteWriteTransaction: SQLiteReader, StorageWriteTransaction, @unchecked Sendable {
    // @unchecked: `written`, `values` and `rewroteStores` are only touched under `lock`
    // (withConnection), or by the one thread that runs the transaction.
    /// Keys written, for the record cache to forget at commit.
    private var written: [RecordCache.Key] = []
    /// The value each of `written` was given, nil for a delete, a row left as it was, or a
    /// write a savepoint rolled back: at commit, a key the cache held gets its last value.
    private var values: [[UInt8]?] = []
    /// Each key of `written` and its last position there: for `get`, which keys this
    /// transaction changed; for commit, which of `values` a key ends with.
    private var lastWrite: [RecordCache.Key: Int] = [:]
    /// A store was dropped, renamed or bulk-written: the record cache forgets everything.
    private var rewroteStores = false

    deinit { rollback() }

    /// Remembers a written key and its new value for the record cache (nothing to remember
    /// when it is off).
    private func noteWritten(_ store: String, _ key: [UInt8], _ value: [UInt8]?) {
        guard engine.recordCache.enabled else { return }
        let k = RecordCache.Key(store: store, key: key)
        lastWrite[k] = written.count
        written.append(k)
        values.append(value)
    }

    /// A key this transaction has not written reads as the latest commit has it, which is
    /// what the record cache holds: the writer gate keeps every other commit out until this
    /// transaction ends, so the engine's version stays the even one of that commit (RecordCache
    /// rule 2 holds for the writer as for a snapshot). A miss reads SQLite and fills the cache
    /// at that version, so the next command's read of the same key (an update's target, a
    /// session's retry history) is a hit; if this transaction then writes the key, commit
    /// forgets the entry and keeps the new value instead (rules 1 and 3). Keys this transaction
    /// wrote, and every key once it dropped, renamed or bulk-wrote a store, read SQLite.
    override func get(_ store: String, _ key: [UInt8]) throws(StorageError) -> [UInt8]? {
        guard engine.recordCache.enabled else { return try super.get(store, key) }
        return try withConnection { (c) throws(StorageError) -> [UInt8]? in
            let k = RecordCache.Key(store: store, key: key)
            guard !rewroteStores, lastWrite[k] == nil else { return try select(c, store, key) }
            return try readThrough(c, k, at: engine.pinned.version)
        }
    }

    func createStore(_ store: String) throws(StorageError) {
        try withConnection { (c) throws(StorageError) in
            if try storeExists(c, store) { throw .storeExists(store) }
            try c.execute("CREATE TABLE \(tableName(store)) (k BLOB PRIMARY KEY, v BLOB NOT NULL) WITHOUT ROWID")
        }
    }

    func dropStore(_ store: String) throws(StorageError) {
        try withConnection { (c) throws(StorageError) in
            guard try storeExists(c, store) else { throw .noSuchStore(store) }
            c.forgetStatements(mentioning: tableName(store))
            c.forgetStatements(mentioning: sideTableName(store))
            rewroteStores = true
            try c.execute("DROP TABLE \(tableName(store))")
            try c.execute("DROP TABLE IF EXISTS \(sideTableName(store))")
            c.sideTables[store] = false
        }
    }

    func renameStore(_ store: String, to newName: String) throws(StorageError) {
        try withConnection { (c) throws(StorageError) in
            guard try storeExists(c, store) else { throw .noSuchStore(store) }
            if try storeExists(c, newName) { throw .storeExists(newName) }
            c.forgetStatements(mentioning: tableName(store))
            c.forgetStatements(mentioning: sideTableName(store))
            rewroteStores = true
            try c.execute("ALTER TABLE \(tableName(store)) RENAME TO \(tableName(newName))")
            if try hasSideTable(c, store) {
                try c.execute("ALTER TABLE \(sideTableName(store)) RENAME TO \(sideTableName(newName))")
            }
            c.sideTables.removeValue(forKey: store)
            c.sideTables.removeValue(forKey: newName)
        }
    }

    func put(_ store: String, _ key: [UInt8], _ value: [UInt8]) throws(StorageError) {
        _ = try withConnection { (c) throws(StorageError) -> Bool in try write(c, replacing: true, store, key, value) }
    }

    func insert(_ store: String, _ key: [UInt8], _ value: [UInt8]) throws(StorageError) -> Bool {
        try withConnection { (c) throws(StorageError) -> Bool in try write(c, replacing: false, store, key, value) }
    }

    /// One prepared statement for every entry, the bytes bound in place (SQLITE_STATIC: they
    /// outlive each step). Large values, and every entry of a store with a side table (whose
    /// old value may be there), take `write`'s way.
    func putAll(_ store: String, count: Int,
                _ entry: (Int) -> (key: UnsafeRawBufferPointer, value: UnsafeRawBufferPointer)) throws(StorageError) {
        try withConnection { (c) throws(StorageError) in
            do throws(StorageError) {
                func replace() throws(StorageError) -> OpaquePointer {
                    try c.statement(shape: Shape.replace, store: store) { "INSERT OR REPLACE INTO \(tableName(store)) (k, v) VALUES (?, ?)" }
                }
                var s = try replace()
                defer { sqlite3_reset(s) }
                let nonNull = UnsafeRawPointer(bitPattern: 1)!
                rewroteStores = true
                var side = try hasSideTable(c, store)
                for i in 0..<count {
                    let (key, value) = entry(i)
                    if side || key.count + value.count > engine.inlineBytes {
                        _ = try write(c, replacing: true, store, Array(key), Array(value))
                        // (The write may have made the side table: later entries may replace it.
                        // Its statements may have pushed `s`, idle, out of the cache.)
                        side = try hasSideTable(c, store)
                        s = try replace()
                        continue
                    }
                    sqlite3_bind_blob(s, 1, key.baseAddress ?? nonNull, Int32(key.count), nil)
                    sqlite3_bind_blob(s, 2, value.baseAddress ?? nonNull, Int32(value.count), nil)
                    _ = try c.step(s)
                    sqlite3_reset(s)
                }
            } catch {
                throw mapMissing(error, c, store)
            }
        }
    }

    /// Writes `key`'s row: INSERT OR REPLACE, or with `replacing` false INSERT OR IGNORE
    /// (which leaves an existing row as it is). Returns whether a row changed. A large value
    /// goes to the side table: over the old side value in place (the store's row stays as it
    /// is), or as a new side row whose id the store's row takes. A value replacing a side
    /// value frees it. (Called with the connection held.)
    private func write(_ c: SQLiteConnection, replacing: Bool, _ store: String, _ key: [UInt8], _ value: [UInt8]) throws(StorageError) -> Bool {
        do throws(StorageError) {
            let large = key.count + value.count > engine.inlineBytes
            // Only a large value (to update its side row in place, or not to leave one behind
            // when the insert finds the key) and a replacement in a store with a side table (to
            // free the old side row) need to know the old row first; a small insert never
            // touches an existing row.
            var probes = large
            if !probes && replacing { probes = try hasSideTable(c, store) }
            let old: StoredRow? = probes ? try storedRow(c, store, key) : nil
            noteWritten(store, key, nil)
            if !replacing, let old, old != .absent { return false }
            var sideID: Int64?
            if large {
                if case .side(let id) = old {
                    let u = try c.statement(shape: Shape.sideUpdate, store: store) { "UPDATE \(sideTableName(store)) SET v = ? WHERE id = ?" }
                    defer { sqlite3_reset(u) }
                    c.bind(u, 1, value)
                    sqlite3_bind_int64(u, 2, id)
                    _ = try c.step(u)
                    if !values.isEmpty { values[values.count - 1] = value }
                    return true
                }
                sideID = try insertSide(c, store, value)
            } else if case .side(let id) = old {
                try deleteSide(c, store, id)
            }
            let s = try c.statement(shape: replacing ? Shape.replace : Shape.insertIgnore, store: store) {
                "\(replacing ? "INSERT OR REPLACE" : "INSERT OR IGNORE") INTO \(tableName(store)) (k, v) VALUES (?, ?)"
            }
            defer { sqlite3_reset(s) }
            c.bind(s, 1, key)
            if let sideID { sqlite3_bind_int64(s, 2, sideID) } else { c.bind(s, 2, value) }
            _ = try c.step(s)
            let changed = sqlite3_changes(c.handle) > 0
            // (INSERT OR IGNORE that found the key left its old value.)
            if changed, !values.isEmpty { values[values.count - 1] = value }
            return changed
        } catch {
            throw mapMissing(error, c, store)
        }
    }

    func delete(_ store: String, _ key: [UInt8]) throws(StorageError) -> Bool {
        try withConnection { (c) throws(StorageError) -> Bool in
            do throws(StorageError) {
                // In a store with a side table the DELETE returns what the row held (one
                // B-tree descent), and a side value goes with it.
                let side = try hasSideTable(c, store)
                let s = try c.statement(shape: side ? Shape.deleteReturning : Shape.delete, store: store) {
                    "DELETE FROM \(tableName(store)) WHERE k = ?" + (side ? " RETURNING CASE WHEN typeof(v) = 'integer' THEN v END" : "")
                }
                defer { sqlite3_reset(s) }
                c.bind(s, 1, key)
                noteWritten(store, key, nil)
                guard side else {
                    _ = try c.step(s)
                    return sqlite3_changes(c.handle) > 0
                }
                guard try c.step(s) else { return false }
                if sqlite3_column_type(s, 0) == SQLITE_INTEGER { try deleteSide(c, store, sqlite3_column_int64(s, 0)) }
                return true
            } catch {
                throw mapMissing(error, c, store)
            }
        }
    }

    /// What a store holds under a key: nothing, a value in the row, or a side table id.
    enum StoredRow: Equatable {
        case absent, inline, side(Int64)
    }

    /// The row `key` has in `store` now, without reading its value.
    private func storedRow(_ c: SQLiteConnection, _ store: String, _ key: [UInt8]) throws(StorageError) -> StoredRow {
        let s = try c.statement(shape: Shape.probe, store: store) {
            "SELECT CASE WHEN typeof(v) = 'integer' THEN v END FROM \(tableName(store)) WHERE k = ?"
        }
        defer { sqlite3_reset(s) }
        c.bind(s, 1, key)
        guard try c.step(s) else { return .absent }
        return sqlite3_column_type(s, 0) == SQLITE_INTEGER ? .side(sqlite3_column_int64(s, 0)) : .inline
    }

    /// Whether `store` has a side table, as the writer's connection remembers it.
    private func hasSideTable(_ c: SQLiteConnection, _ store: String) throws(StorageError) -> Bool {
        if let known = c.sideTables[store] { return known }
        let exists = try tableExists(c, sideTable(store))
        c.sideTables[store] = exists
        return exists
    }

    /// Stores a large value in the side table (created now if the store has none); its id.
    private func insertSide(_ c: SQLiteConnection, _ store: String, _ value: [UInt8]) throws(StorageError) -> Int64 {
        if try !hasSideTable(c, store) {
            try c.execute("CREATE TABLE \(sideTableName(store)) (id INTEGER PRIMARY KEY, v BLOB NOT NULL)")
            c.sideTables[store] = true
        }
        let s = try c.statement(shape: Shape.sideInsert, store: store) { "INSERT INTO \(sideTableName(store)) (v) VALUES (?)" }
        defer { sqlite3_reset(s) }
        c.bind(s, 1, value)
        _ = try c.step(s)
        return sqlite3_last_insert_rowid(c.handle)
    }

    private func deleteSide(_ c: SQLiteConnection, _ store: String, _ id: Int64) throws(StorageError) {
        let s = try c.statement(shape: Shape.sideDelete, store: store) { "DELETE FROM \(sideTableName(store)) WHERE id = ?" }
        defer { sqlite3_reset(s) }
        sqlite3_bind_int64(s, 1, id)
        _ = try c.step(s)
    }

    func atomically<R>(_ body: () throws -> R) throws -> R {
        let mark = try withConnection { (c) throws(StorageError) -> Int in
            try c.run("SAVEPOINT folio_statement")
            return values.count
        }
        do {
            let result = try body()
            try withConnection { (c) throws(StorageError) in try c.run("RELEASE folio_statement") }
            return result
        } catch {
            try? withConnection { (c) throws(StorageError) in
                // The keys stay to be forgotten; their values were never committed.
                for i in mark..<values.count { values[i] = nil }
                c.sideTables.removeAll()
                try c.run("ROLLBACK TO folio_statement")
                try c.run("RELEASE folio_statement")
            }
            throw error
        }
    }

    func commit(durable: Bool) throws(StorageError) {
        try lock.withLock { (finished: inout Bool) throws(StorageError) in
            precondition(!finished, "transaction already finished")
            finished = true
            defer { engine.writerGate.signal() }
            // The record cache forgets what this transaction wrote before anyone can read it
            // (RecordCache rule 1).
            engine.pinned.willCommit()
            var held: [Int] = []
            if rewroteStores { engine.recordCache.removeAll() } else { held = engine.recordCache.remove(written) }
            var failure: StorageError?
            do throws(StorageError) {
                try connection.run("COMMIT")
            } catch {
                try? connection.execute("ROLLBACK")
                connection.sideTables.removeAll()
                failure = error
            }
            engine.pinned.committed()
            if let failure { throw failure }
            // Keys the cache held (read often: an update's next read wants them) get their
            // committed values back, at the version this commit made; no other commit can
            // start before this transaction lets the writer go.
            if !held.isEmpty { keepCommitted(held, at: engine.pinned.version) }
            if durable { try engine.syncLog() }
        }
    }

    /// Stores each of the keys `written[i]` for `i` in `held` with the last value this
    /// transaction gave it, unless its last write was a delete or left no known value.
    private func keepCommitted(_ held: [Int], at version: UInt64) {
        for key in Set(held.map { written[$0] }) {
            if let i = lastWrite[key], let value = values[i] { engine.recordCache.store(key, value, at: version) }
        }
    }

    func rollback() {
        lock.withLock { finished in
            guard !finished else { return }
            finished = true
            try? connection.run("ROLLBACK")
            connection.sideTables.removeAll()
            engine.writerGate.signal()
        }
    }

    func close() { rollback() }
}

/// The background checkpoint (invariant 5), run by the checkpoint timer.
final class Checkpointer: Sendable {
    /// Used only on `queue`.
    let connection: SQLiteConnection
    let writerGate: DispatchSemaphore
    let pinned: PinnedSnapshot
    let resetBytes: Int
    /// Set by close(): a tick already waiting for the gate then does nothing.
    let stopped = Atomic(false)
    /// Checkpoints that found frames to copy, and the nanoseconds they took (metrics).
    let runs = Atomic<Int>(0)
    let nanoseconds = Atomic<Int>(0)
    /// Frames in the log at the last pass.
    let logFrames = Atomic<Int>(0)
    /// Bytes of one WAL frame (a page and its 24-byte header).
    static let frameBytes = SQLiteStorageEngine.pageBytes + 24
    /// At most this many more passes before the writer gate is taken...
    static let extraPasses = 4
    /// ...stopping early once a pass found fewer new frames than this (4 MiB).
    static let smallRemainderFrames = 256
    /// The serial queue every checkpoint runs on.
    let queue: DispatchQueue

    init(connection: SQLiteConnection, queue: DispatchQueue, writerGate: DispatchSemaphore, pinned: PinnedSnapshot, resetBytes: Int) {
        self.connection = connection
        self.queue = queue
        self.writerGate = writerGate
        self.pinned = pinned
        self.resetBytes = resetBytes
    }

    /// Runs a checkpoint now, on the checkpoint queue (tests).
    func runNow() { queue.sync { run() } }

    /// Called on `queue` only.
    func run() {
        guard !stopped.load(ordering: .acquiring) else { return }
        let started = ContinuousClock.now
        // A stale pinned read transaction would keep the checkpoint from the newer frames.
        pinned.endStale()
        guard let first = connection.checkpointPassive() else { return }
        logFrames.store(first.logFrames, ordering: .relaxed)
        // A pass over a log with frames in it counts, with all it took.
        defer {
            if first.logFrames > 0 {
                let elapsed = (ContinuousClock.now - started).components
                runs.add(1, ordering: .relaxed)
                nanoseconds.add(Int(elapsed.seconds) * 1_000_000_000 + Int(elapsed.attoseconds / 1_000_000_000), ordering: .relaxed)
            }
        }
        guard first.logFrames * Checkpointer.frameBytes > resetBytes else { return }
        // The log is large: finish the checkpoint between two write transactions, holding
        // writers back only for what was written since the last pass. Passes while writes go
        // on shrink that remainder (each copies what arrived during the one before).
        var seen = first.logFrames
        for _ in 0..<Checkpointer.extraPasses {
            guard let next = connection.checkpointPassive() else { break }
            if next.logFrames - seen < Checkpointer.smallRemainderFrames { break }
            seen = next.logFrames
        }
        writerGate.wait()
        defer { writerGate.signal() }
        guard !stopped.load(ordering: .acquiring) else { return }
        // The pinned transaction, even a current one, reads from the log and would keep it
        // from starting over.
        pinned.endStale(all: true)
        _ = connection.checkpointPassive()
    }
}

/// The background checkpoint timer.
// @unchecked Sendable: DispatchSource timers are thread-safe; the engine only cancels it.
final class CheckpointTimer: @unchecked Sendable {
    let timer: any DispatchSourceTimer
    init(_ timer: any DispatchSourceTimer) { self.timer = timer }
}
