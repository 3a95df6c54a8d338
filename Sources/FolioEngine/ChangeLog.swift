import FolioBSON
import FolioQuery
import FolioStorage
import Synchronization

// The change log: every committed write, in commit order, in the same storage commit as the
// write itself (so nothing acknowledged is missing from it and nothing rolled back is in it).
// Change streams read it, and `local.oplog.rs` shows it.
//
// Entries are MongoDB oplog entries (`op` i/u/d/c/n, `ns`, `ui`, `o`, `o2`, `ts`, `t`, `v`,
// `wall`, and `lsid`/`txnNumber` for a transaction), kept in one store under the key
// `ts (8 bytes, big-endian) + part (4 bytes)`. Each plain write gets its own cluster time, as
// in MongoDB (a group commit takes consecutive times, the last being the commit's); a
// multi-document transaction is one `applyOps` entry at its commit time (parts 1, 2, ... when
// it had to be split to keep each entry under 16 MB).
//
// Writers only append in memory (`CountingTransaction.changeLog`, undone with the statement
// that made them); the group committer gives the entries their times and stores them just
// before it commits. A transaction's statements collect theirs in its own engine's committer
// (`GroupCommitter.transactionLog`) until the transaction commits.

/// One write as the change log keeps it, before its commit gives it a time.
struct LoggedChange: Sendable {
    var op: String
    var ns: String
    var uuid: [UInt8]?
    /// `o`, as BSON bytes.
    var object: [UInt8]
    /// `o2`, as BSON bytes.
    var object2: [UInt8]?
    /// With `changeStreamPreAndPostImages`: `{preImage, postImage}` of an update, `{preImage}`
    /// of a delete (kept in the entry as `$images`, which `local.oplog.rs` does not show).
    var images: [UInt8]? = nil

    /// The fields of the entry that describe the write (those an `applyOps` entry repeats).
    func appendOperation(to out: inout [UInt8]) {
        BSON.string(op).appendElement(key: "op", to: &out)
        BSON.string(ns).appendElement(key: "ns", to: &out)
        if let uuid { BSON.binary(Binary(subtype: Binary.Subtype.uuid, data: uuid)).appendElement(key: "ui", to: &out) }
        ChangeLog.appendRaw(key: "o", object, to: &out)
        if let object2 { ChangeLog.appendRaw(key: "o2", object2, to: &out) }
        if let images { ChangeLog.appendRaw(key: ChangeLog.imagesField, images, to: &out) }
    }

    var encodedSize: Int { object.count + (object2?.count ?? 0) + (images?.count ?? 0) + ns.utf8.count + 48 }
}

/// What a commit appends to the change log: plain writes (one entry each) and committed
/// transactions (one entry for all their writes).
enum ChangeLogItem: Sendable {
    case write(LoggedChange)
    /// A transaction's writes; `lsid` and `txnNumber` when it ran in a session (the server's do).
    case transaction([LoggedChange], lsid: Document?, txnNumber: Int64?)
}

enum ChangeLog {
    static let store = "oplog"

    /// The key of the newest entry (nil for an empty log): what the saved record counts are
    /// checked against (RecordCounts.swift).
    static func newestKey(_ snapshot: any StorageSnapshot) throws(StorageError) -> [UInt8]? {
        try snapshot.scan(store, .all, reverse: true, limit: 1).first?.key
    }

    /// Bytes of rows a reader of the log takes at once, past its first row: a row can be a
    /// whole insert_many (up to 48 MB), and readers that took 128 or 256 rows at a time held
    /// hundreds of megabytes and hundreds of thousands of decoded entries (measured).
    static let readBytes = 4 << 20

    /// Rows from `range` on in key order: at most `limit`, and past the first no more than
    /// `readBytes`; `more` when the byte bound stopped the read before the rows ran out.
    static func rows(_ snapshot: any StorageSnapshot, _ range: KeyRange, limit: Int) throws(StorageError)
        -> (rows: [(key: [UInt8], value: [UInt8])], more: Bool) {
        var rows: [(key: [UInt8], value: [UInt8])] = [], bytes = 0, more = false
        try snapshot.visit(store, range, limit: limit) { key, value in
            rows.append((Array(key), Array(value)))
            bytes += value.count
            more = bytes >= readBytes
            return !more
        }
        return (rows, more && rows.count < limit)
    }

    /// The field of an entry that holds its pre- and post-images.
    static let imagesField = "$images"
    /// The field of a commit's last entry that holds the retry history records the commit
    /// made (RetryableWrites.swift).
    static let retryField = "$retry"
    /// `t`: the term of a one-member replica set that never had an election.
    static let term: Int64 = 1
    /// The most bytes of operations one `applyOps` entry holds.
    static let applyOpsBytes = 15 << 20

    static func key(_ time: Timestamp, part: UInt32 = 0) -> [UInt8] {
        var k = [UInt8]()
        k.reserveCapacity(12)
        let raw = UInt64(time.seconds) << 32 | UInt64(time.increment)
        withUnsafeBytes(of: raw.bigEndian) { k.append(contentsOf: $0) }
        withUnsafeBytes(of: part.bigEndian) { k.append(contentsOf: $0) }
        return k
    }

    /// The time and part of a key (nil for a key this log did not write).
    static func position(_ key: UnsafeBufferPointer<UInt8>) -> (time: Timestamp, part: UInt32)? {
        guard key.count == 12 else { return nil }
        let raw = key[0..<8].reduce(UInt64(0)) { $0 << 8 | UInt64($1) }
        let part = key[8..<12].reduce(UInt32(0)) { $0 << 8 | UInt32($1) }
        return (Timestamp(rawValue: raw), part)
    }

    /// Appends an element whose value is the BSON bytes of a document (or, `array`, an array).
    static func appendRaw(key: String, _ document: [UInt8], array: Bool = false, to out: inout [UInt8]) {
        out.append(array ? 0x04 : 0x03)
        out.append(contentsOf: key.utf8)
        out.append(0)
        out.append(contentsOf: document)
    }

    /// Ends the document that starts at `start` in `out` (its length goes first).
    static func finish(_ out: inout [UInt8], from start: Int = 0) {
        out.append(0)
        let n = Int32(out.count - start).littleEndian
        withUnsafeBytes(of: n) { b in for i in 0..<4 { out[start + i] = b[i] } }
    }

    static func appendTime(_ time: Timestamp, wall: Int64, to out: inout [UInt8]) {
        BSON.timestamp(time).appendElement(key: "ts", to: &out)
        BSON.int64(term).appendElement(key: "t", to: &out)
        BSON.int64(2).appendElement(key: "v", to: &out)
        BSON.datetime(wall).appendElement(key: "wall", to: &out)
    }

    /// Stores a commit's items: the `n`-th item at `first` plus `n` increments (the clock gave
    /// the commit that many consecutive times). Consecutive plain writes share one stored row
    /// (their entries one after another, keyed by the first one's time): an insert of 1,000
    /// documents adds one row to the log, not 1,000. A transaction's entry is a row of its own.
    /// `retry`, the commit's retry history records (`RetryHistoryCache.encode`), goes into the
    /// last entry. Returns the rows stored.
    @discardableResult
    static func append(_ items: [ChangeLogItem], first: Timestamp, wall: Int64, retry: [UInt8]? = nil,
                       to txn: any StorageWriteTransaction) throws -> [(key: [UInt8], value: [UInt8])] {
        var stored: [(key: [UInt8], value: [UInt8])] = []
        var run: [UInt8] = [], runKey: [UInt8] = []
        func flush() throws {
            guard !run.isEmpty else { return }
            try txn.put(store, runKey, run)
            stored.append((runKey, run))
            run = []
        }
        for (n, item) in items.enumerated() {
            let time = Timestamp(seconds: first.seconds, increment: first.increment &+ UInt32(n))
            switch item {
            case .write(let change):
                if run.isEmpty {
                    runKey = key(time)
                    // The whole run at once: growing a megabyte row by doubling copied it
                    // about twice and faulted in fresh pages each time (6% of an insert_many).
                    var bytes = 0
                    for next in items[n...] {
                        guard case .write(let w) = next else { break }
                        bytes += w.encodedSize + 64
                    }
                    run.reserveCapacity(bytes)
                }
                let start = run.count
                run.append(contentsOf: [0, 0, 0, 0])
                change.appendOperation(to: &run)
                appendTime(time, wall: wall, to: &run)
                if n == items.count - 1, let retry { appendRaw(key: retryField, retry, array: true, to: &run) }
                finish(&run, from: start)
            case .transaction(let changes, let lsid, let txnNumber):
                try flush()
                var part: UInt32 = 0
                var start = 0
                while start < changes.count || (start == 0 && changes.isEmpty) {
                    var end = start, bytes = 0
                    while end < changes.count, end == start || bytes + changes[end].encodedSize <= applyOpsBytes {
                        bytes += changes[end].encodedSize
                        end += 1
                    }
                    var ops: [UInt8] = [0, 0, 0, 0]
                    for (i, change) in changes[start..<end].enumerated() {
                        var op: [UInt8] = [0, 0, 0, 0]
                        change.appendOperation(to: &op)
                        finish(&op)
                        appendRaw(key: String(i), op, to: &ops)
                    }
                    finish(&ops)
                    var o: [UInt8] = [0, 0, 0, 0]
                    o.append(0x04)
                    o.append(contentsOf: "applyOps".utf8)
                    o.append(0)
                    o.append(contentsOf: ops)
                    if end < changes.count { BSON.bool(true).appendElement(key: "partialTxn", to: &o) }
                    finish(&o)
                    var out: [UInt8] = [0, 0, 0, 0]
                    if let lsid { BSON.document(lsid).appendElement(key: "lsid", to: &out) }
                    if let txnNumber { BSON.int64(txnNumber).appendElement(key: "txnNumber", to: &out) }
                    BSON.string("c").appendElement(key: "op", to: &out)
                    BSON.string("admin.$cmd").appendElement(key: "ns", to: &out)
                    appendRaw(key: "o", o, to: &out)
                    appendTime(time, wall: wall, to: &out)
                    if n == items.count - 1, end == changes.count, let retry { appendRaw(key: retryField, retry, array: true, to: &out) }
                    finish(&out)
                    let k = key(time, part: part)
                    try txn.put(store, k, out)
                    stored.append((k, out))
                    part += 1
                    start = end
                    if changes.isEmpty { break }
                }
            }
        }
        try flush()
        return stored
    }

    /// The entries of a stored row (one, or a run of consecutive plain writes).
    /// - Throws: InternalError for bytes that are not a sequence of BSON documents.
    static func entries(_ row: [UInt8]) throws(FolioError) -> [Document] {
        var out: [Document] = []
        try forEachEntry(row) { entry in out.append(entry.document()) }
        return out
    }

    /// Each entry of a stored row, validated, in order.
    /// - Throws: InternalError for bytes that are not a sequence of BSON documents.
    static func forEachEntry(_ row: [UInt8], _ body: (RawDocument) -> Void) throws(FolioError) {
        var offset = 0
        while offset < row.count {
            guard let length = entryLength(row, at: offset) else {
                throw FolioError(.internalError, "data corruption: a change log entry at \(offset) does not fit its row of \(row.count) bytes")
            }
            let entry: RawDocument
            do {
                entry = try RawDocument(validating: Array(row[offset..<offset + length]))
            } catch {
                throw FolioError(.internalError, "data corruption: stored document does not decode: \(error)")
            }
            body(entry)
            offset += length
        }
    }

    /// The length of the entry at `offset` of a row, nil when it cannot be one.
    static func entryLength<Row: RandomAccessCollection<UInt8>>(_ row: Row, at offset: Int) -> Int? where Row.Index == Int {
        guard row.count - offset >= 5 else { return nil }
        let at = row.startIndex + offset
        let length = Int(UInt32(row[at]) | UInt32(row[at + 1]) << 8 | UInt32(row[at + 2]) << 16 | UInt32(row[at + 3]) << 24)
        return length >= 5 && length <= row.count - offset ? length : nil
    }

    /// The `wall` time of a row's first entry (0 when it has none or is damaged); copies only
    /// that entry.
    static func firstWall<Row: RandomAccessCollection<UInt8>>(_ row: Row) -> Int64 where Row.Index == Int {
        guard let length = entryLength(row, at: 0),
              let first = try? RawDocument(validating: Array(row[row.startIndex..<row.startIndex + length])),
              case .datetime(let ms)? = first["wall"] else { return 0 }
        return ms
    }

    /// The time an entry was stored at (its `ts`).
    static func time(_ entry: Document) -> Timestamp? {
        if case .timestamp(let t)? = entry["ts"] { return t }
        return nil
    }

    /// `{_id: id}` as BSON bytes (each write's `o2`, a delete's `o`).
    static func idDocument(_ id: BSON) -> [UInt8] {
        var out: [UInt8] = [0, 0, 0, 0]
        id.appendElement(key: "_id", to: &out)
        finish(&out)
        return out
    }

    /// The current time in milliseconds since the epoch (an entry's `wall`).
    static func wallMilliseconds() -> Int64 {
        var ts = timespec()
        clock_gettime(CLOCK_REALTIME, &ts)
        return Int64(ts.tv_sec) * 1000 + Int64(ts.tv_nsec) / 1_000_000
    }
}

#if canImport(Glibc)
import Glibc
#endif

extension Engine {
    /// Appends a write to the change log of the commit running `txn` (a transaction's own
    /// engine collects it for the transaction's commit).
    func logChange(_ change: @autoclosure () -> LoggedChange, _ txn: any StorageWriteTransaction) {
        guard let counting = txn as? CountingTransaction else { return }
        counting.changeLog.append(.write(change()))
    }

    func logInsert(_ entry: CollectionEntry, _ bytes: [UInt8], id: BSON, _ txn: any StorageWriteTransaction) {
        logChange(LoggedChange(op: "i", ns: entry.namespace.description, uuid: entry.uuid, object: bytes,
                               object2: ChangeLog.idDocument(id)), txn)
        // A view's definition: MongoDB also logs the view's creation as a command.
        if entry.namespace.collection == Engine.viewsCollection, case .string(let name) = id,
           name.hasPrefix(entry.namespace.database + ".") {
            var command: Document = ["create": .string(String(name.dropFirst(entry.namespace.database.count + 1)))]
            for (k, v) in RawDocument(trusted: bytes).document() where k != "_id" { command.append(k, v) }
            logCommand(entry.namespace.database, uuid: nil, command, txn)
        }
    }

    /// An update: the new document for a replacement, else the diff from `before`.
    func logUpdate(_ entry: CollectionEntry, before: Document, after: Document, afterBytes: [UInt8], replacement: Bool,
                   _ txn: any StorageWriteTransaction) {
        guard txn is CountingTransaction, let id = after["_id"] else { return }
        let images: [UInt8]? = entry.keepsImages
            ? (["preImage": .document(before), "postImage": .document(after)] as Document).bsonBytes() : nil
        let object: [UInt8]
        if replacement {
            object = afterBytes
        } else {
            guard let diff = DocumentDiff.compute(before, after) else { return }
            object = (["$v": .int32(2), "diff": .document(diff)] as Document).bsonBytes()
        }
        logChange(LoggedChange(op: "u", ns: entry.namespace.description, uuid: entry.uuid, object: object,
                               object2: ChangeLog.idDocument(id), images: images), txn)
    }

    /// A delete; `before` is the deleted document (kept as its pre-image when the collection
    /// keeps images).
    func logDelete(_ entry: CollectionEntry, id: BSON, before: RawDocument? = nil, _ txn: any StorageWriteTransaction) {
        var images: [UInt8]?
        if entry.keepsImages, let before {
            var out: [UInt8] = [0, 0, 0, 0]
            ChangeLog.appendRaw(key: "preImage", before.bytes, to: &out)
            ChangeLog.finish(&out)
            images = out
        }
        logChange(LoggedChange(op: "d", ns: entry.namespace.description, uuid: entry.uuid,
                               object: ChangeLog.idDocument(id), images: images), txn)
    }

    /// A catalog change: a command entry in `database`'s `$cmd` namespace.
    func logCommand(_ database: String, uuid: [UInt8]?, _ command: Document, o2: Document? = nil, _ txn: any StorageWriteTransaction) {
        logChange(LoggedChange(op: "c", ns: "\(database).$cmd", uuid: uuid, object: command.bsonBytes(), object2: o2?.bsonBytes()), txn)
    }

    /// `changeStreamPreAndPostImages` must be `{enabled: <bool>}`, and not on a capped collection.
    static func checkImagesOption(_ options: Document) throws(FolioError) {
        guard let v = options["changeStreamPreAndPostImages"] else { return }
        guard case .document(let d) = v else {
            throw FolioError(.typeMismatch, "BSON field 'changeStreamPreAndPostImages' is the wrong type '\(v.type.alias)', expected type 'object'")
        }
        guard let enabled = d["enabled"] else {
            throw FolioError(ErrorCode(rawValue: 40414), "BSON field 'changeStreamPreAndPostImages.enabled' is missing but a required field")
        }
        guard case .bool(let on) = enabled else {
            throw FolioError(.typeMismatch, "BSON field 'changeStreamPreAndPostImages.enabled' is the wrong type '\(enabled.type.alias)', expected type 'bool'")
        }
        for k in d.fieldNames where k != "enabled" {
            throw FolioError(ErrorCode(rawValue: 40415), "BSON field 'changeStreamPreAndPostImages.\(k)' is an unknown field.")
        }
        if on, options["capped"]?.isTruthy == true {
            throw FolioError(.invalidOptions, "changeStreamPreAndPostImages is not supported for capped collections")
        }
    }
}

extension CollectionEntry {
    /// Whether change streams get this collection's pre- and post-images.
    var keepsImages: Bool {
        guard case .document(let d)? = options["changeStreamPreAndPostImages"], case .bool(true)? = d["enabled"] else { return false }
        return true
    }

}

/// How much history the change log keeps (MongoDB's `oplogSizeMB` and
/// `oplogMinRetentionHours`): the oldest entries go while the log holds more than `maxBytes`
/// of entries, unless they are younger than `minRetentionHours`. The newest entry always stays.
public struct ChangeLogRetention: Sendable, Equatable {
    public var maxBytes: Int
    public var minRetentionHours: Double

    /// MongoDB's smallest default oplog (990 MB) and no minimum age.
    public static let standard = ChangeLogRetention(maxBytes: 990 << 20, minRetentionHours: 0)

    public init(maxBytes: Int, minRetentionHours: Double) {
        self.maxBytes = maxBytes
        self.minRetentionHours = minRetentionHours
    }
}

extension Engine {
    /// The log's retention now (replSetResizeOplog changes it).
    public var changeLogRetention: ChangeLogRetention {
        get { committer.changeLogRetention.withLock { $0 } }
        set { committer.changeLogRetention.withLock { $0 = newValue } }
    }

    /// Bytes of entries the change log holds: summed once from the log, then moved by commits
    /// and trims.
    public func changeLogBytes() throws(FolioError) -> Int {
        if committer.changeLogBytesKnown.load(ordering: .acquiring) { return committer.changeLogBytes.load(ordering: .relaxed) }
        let total = try Folio_storage { () throws(StorageError) -> Int in
            let snapshot = try storage.snapshot()
            defer { snapshot.close() }
            return try snapshot.valueBytes(ChangeLog.store)
        }
        // Commits since the sum was taken are counted twice at most: an estimate, as MongoDB's.
        committer.changeLogBytes.store(total, ordering: .relaxed)
        committer.changeLogBytesKnown.store(true, ordering: .releasing)
        return total
    }

    /// Removes the oldest entries past the retention, in commits of at most 1,000 entries
    /// (writers go on between them). Returns the number removed.
    @discardableResult
    public func trimChangeLog(nowMilliseconds: Int64? = nil) throws(FolioError) -> Int {
        let now = nowMilliseconds ?? ChangeLog.wallMilliseconds()
        let retention = changeLogRetention
        let youngest = now - Int64(retention.minRetentionHours * 3_600_000)
        var removed = 0
        while try changeLogBytes() > retention.maxBytes {
            let excess = try changeLogBytes() - retention.maxBytes
            // Visit the oldest rows only until they cover the excess: a row can hold a whole
            // insert_many (megabytes), and reading a thousand of them each second to remove
            // one or two doubled the CPU of every write once the log was full (measured).
            var rows: [(key: [UInt8], bytes: Int)] = [], freed = 0, stopped = false
            try Folio_storage { () throws(StorageError) in
                let snapshot = try storage.snapshot()
                defer { snapshot.close() }
                try snapshot.visit(ChangeLog.store, .all, limit: 1_001) { key, value in
                    if freed >= excess || rows.count == 1_000 || ChangeLog.firstWall(value) > youngest {
                        stopped = true
                        return false
                    }
                    rows.append((Array(key), value.count))
                    freed += value.count
                    return true
                }
            }
            // The visit ran out of rows: its last is the newest, which always stays.
            if !stopped, let newest = rows.popLast() { freed -= newest.bytes }
            let keys = rows.map(\.key)
            if keys.isEmpty { break }
            try folio {
                try committer.write(durable: false) { txn in
                    // The retry history these rows may carry goes into its store first.
                    (txn as? CountingTransaction)?.flushRetryHistory = true
                    for key in keys { try txn.delete(ChangeLog.store, key) }
                }
            }
            committer.changeLogBytes.subtract(freed, ordering: .relaxed)
            removed += keys.count
        }
        return removed
    }
}

/// The newest change-log rows in memory, shared by every change stream: a stream at the end
/// of the log reads new entries here instead of taking a snapshot and scanning, and each entry
/// is decoded once for all of them. Entries join right after their commit (before waiting
/// getMores are woken); the ring holds every entry from its first one to the latest commit it
/// was given, so a reader at or after its first key misses nothing.
final class ChangeLogTail: Sendable {
    final class Entry: Sendable {
        let key: [UInt8]
        let value: [UInt8]
        private let decoded = ReadWriteLocked<[Document]?>(nil)

        init(key: [UInt8], value: [UInt8]) {
            self.key = key
            self.value = value
        }

        /// The row's entries (decoded by its first reader).
        func documents() throws(FolioError) -> [Document] {
            if let d = decoded.read({ $0 }) { return d }
            let d = try ChangeLog.entries(value)
            decoded.write { $0 = d }
            return d
        }
    }

    private struct State {
        var entries: [Entry] = []
        /// The first live position in `entries` (older ones are dropped in bulk).
        var start = 0
        /// Bytes of the live rows.
        var bytes = 0
        /// The latest commit whose entries are all here.
        var time = Timestamp(rawValue: 0)
    }

    /// At most this many rows, of at most this many bytes (a row can be a whole insert of
    /// 48 MB): readers further behind read the store.
    static let capacity = 4_096
    static let capacityBytes = 32 << 20
    /// What a dropped row's slot holds until the array is compacted.
    private static let dropped = Entry(key: [], value: [])
    private let state = ReadWriteLocked(State())

    /// Adds a commit's entries (in key order) and its time.
    func append(_ stored: [(key: [UInt8], value: [UInt8])], time: Timestamp) {
        state.write { s in
            for (key, value) in stored {
                s.entries.append(Entry(key: key, value: value))
                s.bytes += value.count
            }
            s.time = time
            while s.start < s.entries.count,
                  s.entries.count - s.start > ChangeLogTail.capacity || s.bytes > ChangeLogTail.capacityBytes {
                s.bytes -= s.entries[s.start].value.count
                // Its bytes go now, not when the array is next compacted: rows can be megabytes
                // and thousands of them waited there (1.1 GB of memory at 900,000 documents
                // inserted in batches of 1,000, measured).
                s.entries[s.start] = ChangeLogTail.dropped
                s.start += 1
            }
            if s.start > ChangeLogTail.capacity || s.start == s.entries.count {
                s.entries.removeFirst(s.start)
                s.start = 0
            }
        }
    }

    /// Up to `limit` entries from `key` on, and the commit time they cover; nil when the ring
    /// does not reach back to `key` (read the store instead).
    func read(from key: [UInt8], limit: Int) -> (entries: [Entry], time: Timestamp)? {
        state.read { s in
            guard s.start < s.entries.count, compareKeys(s.entries[s.start].key, key) <= 0 else { return nil }
            // Binary search for the first entry at or after `key`.
            var lo = s.start, hi = s.entries.count
            while lo < hi {
                let mid = (lo + hi) / 2
                if compareKeys(s.entries[mid].key, key) < 0 { lo = mid + 1 } else { hi = mid }
            }
            let end = min(s.entries.count, lo + limit)
            return (Array(s.entries[lo..<end]), s.time)
        }
    }
}
