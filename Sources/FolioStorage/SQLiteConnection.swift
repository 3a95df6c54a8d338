import CSQLite

// One SQLite connection with a prepared-statement cache. Used by one thread at a time (the
// engine hands connections out under locks); SQLite runs in multi-thread mode (NOMUTEX).

let sqliteTransient = unsafeBitCast(-1, to: sqlite3_destructor_type.self)

final class SQLiteConnection: @unchecked Sendable {
    // @unchecked: each connection is owned by exactly one user at a time (the writer lock or
    // a snapshot), which the engine enforces; SQLite itself is opened NOMUTEX.
    let handle: OpaquePointer
    private var statements: [String: OpaquePointer] = [:]
    /// The same statements by (shape, store), so the hot path builds no SQL text; at most
    /// `storeStatementLimit` of them, the least recently used going first (each statement
    /// holds a few KB, and a server with a collection per tenant has tens of thousands of
    /// stores: unbounded, each pooled connection grew with every store it ever read).
    private var byShape: [ShapeKey: (statement: OpaquePointer, sql: String, used: UInt64)] = [:]
    private var uses: UInt64 = 0
    let storeStatementLimit: Int
    /// On the writer's connection: which stores are known to have a side table (or known
    /// not to). Forgotten whenever a transaction or savepoint rolls back, which may undo a
    /// side table's creation.
    var sideTables: [String: Bool] = [:]

    struct ShapeKey: Hashable {
        let shape: UInt16
        let store: String
    }

    init(path: String, readOnly: Bool, storeStatementLimit: Int = 4_096) throws(StorageError) {
        self.storeStatementLimit = max(2, storeStatementLimit)
        var db: OpaquePointer?
        let flags = (readOnly ? SQLITE_OPEN_READONLY : (SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE)) | SQLITE_OPEN_NOMUTEX
        let rc = sqlite3_open_v2(path, &db, flags, nil)
        guard rc == SQLITE_OK, let db else {
            let message = db.map { String(cString: sqlite3_errmsg($0)) } ?? "out of memory"
            if let db { sqlite3_close_v2(db) }
            throw .io("cannot open \(path): \(message)")
        }
        handle = db
        sqlite3_busy_timeout(db, 10_000)
    }

    deinit {
        for (_, s) in statements { sqlite3_finalize(s) }
        for (_, cached) in byShape { sqlite3_finalize(cached.statement) }
        sqlite3_close_v2(handle)
    }

    var lastError: String { String(cString: sqlite3_errmsg(handle)) }

    /// Runs a short statement through the statement cache (BEGIN, COMMIT, SAVEPOINT...), so
    /// it is parsed once per connection instead of on every call.
    func run(_ sql: String) throws(StorageError) {
        let s = try statement(sql)
        defer { sqlite3_reset(s) }
        let rc = sqlite3_step(s)
        guard rc == SQLITE_DONE || rc == SQLITE_ROW else { throw .io("\(lastError) (\(sql))") }
    }

    /// A PASSIVE checkpoint: copies into the database file the WAL frames no reader still
    /// needs, without waiting for the writer or for readers. Returns the frames in the log
    /// and how many of them the database now holds, or nil when SQLite reports an error.
    func checkpointPassive() -> (logFrames: Int, checkpointedFrames: Int)? {
        // The PRAGMA rather than sqlite3_wal_checkpoint_v2: a statement first opens the
        // connection's view of the database, without which the C call reports "not WAL".
        guard let s = try? statement("PRAGMA wal_checkpoint(PASSIVE)") else { return nil }
        defer { sqlite3_reset(s) }
        guard sqlite3_step(s) == SQLITE_ROW else { return nil }
        return (Int(sqlite3_column_int64(s, 1)), Int(sqlite3_column_int64(s, 2)))
    }

    /// The integer the first column of `sql`'s first row holds (a PRAGMA's value).
    func integer(_ sql: String) throws(StorageError) -> Int {
        let s = try statement(sql)
        defer { sqlite3_reset(s) }
        guard try step(s) else { throw .io("no result (\(sql))") }
        return Int(sqlite3_column_int64(s, 0))
    }

    /// Runs SQL without results (DDL, PRAGMA, BEGIN/COMMIT).
    func execute(_ sql: String) throws(StorageError) {
        var message: UnsafeMutablePointer<CChar>?
        let rc = sqlite3_exec(handle, sql, nil, nil, &message)
        if rc != SQLITE_OK {
            let text = message.map { String(cString: $0) } ?? lastError
            sqlite3_free(message)
            throw .io("\(text) (\(sql))")
        }
    }

    /// A cached prepared statement, reset and with bindings cleared.
    func statement(_ sql: String) throws(StorageError) -> OpaquePointer {
        if let s = statements[sql] {
            sqlite3_reset(s)
            sqlite3_clear_bindings(s)
            return s
        }
        let s = try prepare(sql)
        statements[sql] = s
        return s
    }

    private func prepare(_ sql: String) throws(StorageError) -> OpaquePointer {
        var s: OpaquePointer?
        let rc = sqlite3_prepare_v3(handle, sql, -1, UInt32(SQLITE_PREPARE_PERSISTENT), &s, nil)
        guard rc == SQLITE_OK, let s else { throw .io("prepare failed: \(lastError) (\(sql))") }
        return s
    }

    /// A cached prepared statement found by its shape (a small number naming the SQL form)
    /// and store; `sql` is only built the first time. A later call may finalize it unless it
    /// is stepping: callers that take other statements between steps of this one (after a
    /// reset) take it again.
    func statement(shape: UInt16, store: String, _ sql: () -> String) throws(StorageError) -> OpaquePointer {
        let key = ShapeKey(shape: shape, store: store)
        uses &+= 1
        if let cached = byShape[key] {
            byShape[key]!.used = uses
            sqlite3_reset(cached.statement)
            sqlite3_clear_bindings(cached.statement)
            return cached.statement
        }
        if byShape.count >= storeStatementLimit { forgetLeastUsedHalf() }
        // Its own statement, not shared with `statements`, so forgetting it frees nothing else.
        let text = sql()
        let s = try prepare(text)
        byShape[key] = (s, text, uses)
        return s
    }

    /// The number of cached statements by shape (tests).
    var storeStatementCount: Int { byShape.count }

    /// Finalizes the least recently used half of the statements by shape, except any still
    /// stepping (a scan in progress further up the stack may hold one).
    private func forgetLeastUsedHalf() {
        let oldest = byShape.sorted { $0.value.used < $1.value.used }.prefix(byShape.count / 2)
        for (key, cached) in oldest where sqlite3_stmt_busy(cached.statement) == 0 {
            sqlite3_finalize(cached.statement)
            byShape.removeValue(forKey: key)
        }
    }

    /// Drops cached statements that mention a table (after DROP/ALTER).
    func forgetStatements(mentioning table: String) {
        for (sql, s) in statements where sql.contains(table) {
            sqlite3_finalize(s)
            statements.removeValue(forKey: sql)
        }
        for (key, cached) in byShape where cached.sql.contains(table) {
            sqlite3_finalize(cached.statement)
            byShape.removeValue(forKey: key)
        }
    }

    func bind(_ s: OpaquePointer, _ index: Int32, _ bytes: [UInt8]) {
        bytes.withUnsafeBytes { buf in
            // A zero-length blob still needs a non-null pointer to bind as a blob, not NULL.
            _ = sqlite3_bind_blob(s, index, buf.baseAddress ?? UnsafeRawPointer(bitPattern: 1), Int32(buf.count), sqliteTransient)
        }
    }

    func column(_ s: OpaquePointer, _ index: Int32) -> [UInt8] {
        let n = Int(sqlite3_column_bytes(s, index))
        guard n > 0, let p = sqlite3_column_blob(s, index) else { return [] }
        return Array(UnsafeRawBufferPointer(start: p, count: n))
    }

    /// Steps once; true when a row is available.
    func step(_ s: OpaquePointer) throws(StorageError) -> Bool {
        let rc = sqlite3_step(s)
        switch rc {
        case SQLITE_ROW: return true
        case SQLITE_DONE: return false
        case SQLITE_CORRUPT, SQLITE_NOTADB: throw .corruption(lastError)
        default: throw .io("step failed (\(rc)): \(lastError)")
        }
    }
}

/// A store's table as `sqlite_master` names it.
func storeTable(_ store: String) -> String { "st:" + store }

/// A store's side table as `sqlite_master` names it: the store's values too large for a
/// B-tree cell (SQLiteStorageEngine, "large values").
func sideTable(_ store: String) -> String { "sv:" + store }

/// A store's table quoted as an SQL identifier.
func tableName(_ store: String) -> String { quotedIdentifier(storeTable(store)) }

/// A store's side table quoted as an SQL identifier.
func sideTableName(_ store: String) -> String { quotedIdentifier(sideTable(store)) }

private func quotedIdentifier(_ name: String) -> String {
    if !name.utf8.contains(UInt8(ascii: "\"")) { return "\"" + name + "\"" }
    return "\"" + name.replacingAll("\"", with: "\"\"") + "\""
}

extension String {
    func replacingAll(_ target: Character, with replacement: String) -> String {
        var out = ""
        for c in self { if c == target { out += replacement } else { out.append(c) } }
        return out
    }
}
