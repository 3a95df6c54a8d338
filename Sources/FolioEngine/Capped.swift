import FolioBSON
import FolioQuery
import FolioStorage

// Capped collections: a size (bytes of BSON) and optionally a number of documents that the
// collection never exceeds after an insert, by deleting its oldest documents, and a natural
// order that is insertion order (MongoDB 8.0 semantics: sizes kept as given, updates may
// change a document's size, deletes allowed, no writes in multi-document transactions).
//
// Records stay keyed by `_id` like every collection's, so point lookups, indexes and the
// planner work unchanged. Insertion order lives in a second store of the collection, the
// order store, in the same storage transaction as the records, with three kinds of keys:
//   [0]                -> document count, data bytes, next sequence (3 x UInt64 big-endian)
//   [1] + sequence     -> record key        (insertion order, oldest first)
//   [2] + record key   -> sequence          (so a delete finds its order entry)
// The totals are transactional like the records, so a savepoint, a rollback or kill -9
// cannot make them drift, and eviction never has to count the collection.

/// A capped collection's limits, from its options.
public struct CappedLimits: Sendable, Equatable {
    /// The most bytes of BSON the collection keeps.
    public let size: Int64
    /// The most documents it keeps (nil: no limit but the size).
    public let max: Int64?

    /// The limits of `options` (nil when the collection is not capped).
    public init?(options: Document) {
        guard options["capped"]?.isTruthy == true, let size = options["size"]?.safeInt64 else { return nil }
        self.size = size
        self.max = options["max"]?.safeInt64
    }
}

/// The order store's running totals.
struct CappedTotals {
    var count: UInt64 = 0
    var bytes: UInt64 = 0
    var nextSequence: UInt64 = 0

    static let key: [UInt8] = [0]

    init() {}

    init(_ bytes: [UInt8]) throws(FolioError) {
        guard bytes.count == 24 else { throw FolioError(.internalError, "data corruption: capped collection totals of \(bytes.count) bytes") }
        count = CappedTotals.read(bytes, 0)
        self.bytes = CappedTotals.read(bytes, 8)
        nextSequence = CappedTotals.read(bytes, 16)
    }

    var encoded: [UInt8] { CappedTotals.bigEndian(count) + CappedTotals.bigEndian(bytes) + CappedTotals.bigEndian(nextSequence) }

    static func bigEndian(_ v: UInt64) -> [UInt8] { (0..<8).map { UInt8(truncatingIfNeeded: v >> (56 - 8 * $0)) } }

    static func read(_ b: [UInt8], _ at: Int) -> UInt64 { (0..<8).reduce(0) { $0 << 8 | UInt64(b[at + $1]) } }
}

extension CollectionEntry {
    /// What every order store's name starts with (`n.` and the collection's UUID).
    static let orderStorePrefix = "n."

    /// The key of the order entry of sequence `s`.
    static func orderKey(_ s: UInt64) -> [UInt8] { [1] + CappedTotals.bigEndian(s) }
    /// Every order entry, oldest first.
    static let orderRange = KeyRange(lower: [1], lowerInclusive: true, upper: [2], upperInclusive: false)

    /// One chunk of a capped collection in insertion order, from just after `position` (just
    /// before it, backward; nil: from the start or end): the records the filter matches, the
    /// last order key read (nil: none) and how many records were examined. A record deleted
    /// since its order entry was read is skipped.
    func orderChunk(_ snapshot: any StorageSnapshot, after position: [UInt8]?, forward: Bool = true,
                    _ filter: Filter) throws(StorageError) -> (rows: [PlanRow], last: [UInt8]?, entries: Int, examined: Int) {
        let all = CollectionEntry.orderRange
        let range = forward
            ? KeyRange(lower: position ?? all.lower, lowerInclusive: position == nil, upper: all.upper, upperInclusive: false)
            : KeyRange(lower: all.lower, lowerInclusive: true, upper: position ?? all.upper, upperInclusive: false)
        let chunk = try snapshot.scan(orderStore, range, reverse: !forward, limit: CollectionScanStage.chunk)
        var rows: [PlanRow] = []
        var examined = 0
        for (_, recordKey) in chunk {
            guard let value = try snapshot.get(recordStore, recordKey) else { continue }
            examined += 1
            let raw = RawDocument(trusted: value)
            if filter.matches(raw) { rows.append(PlanRow(recordKey: recordKey, document: raw)) }
        }
        return (rows, chunk.last?.key, chunk.count, examined)
    }
}

extension Engine {
    /// Options of `create` for a capped collection, checked and normalized as MongoDB stores
    /// them (`capped: true`, `size`, then `max` when given; sizes as given since 6.2; a `max`
    /// of 0 or less means 2^31 - 1). Options of other collections pass unchanged.
    /// - Throws: 72 when `size` is missing or given without `capped`; 51024/51023/51022 (the
    ///   IDL bounds) for a `size` outside 1...1 PB or a `max` of 2^31 or more.
    public static func cappedOptions(_ options: Document) throws(FolioError) -> Document {
        func number(_ field: String) throws(FolioError) -> Int64? {
            guard let v = options[field], v.type != .null else { return nil }
            guard v.isNumber, let n = v.safeInt64 else {
                throw FolioError(.typeMismatch, "BSON field 'create.\(field)' is the wrong type '\(v.type.alias)', expected types '[long, int, decimal, double]'")
            }
            return n
        }
        // The IDL's bounds come first, then the rules between the fields.
        let size = try number("size"), max = try number("max")
        if let size, size < 1 { throw FolioError(ErrorCode(rawValue: 51024), "BSON field 'size' value must be >= 1, actual value '\(size)'") }
        if let size, size > 1 << 50 { throw FolioError(ErrorCode(rawValue: 51023), "BSON field 'size' value must be <= \(1 << 50), actual value '\(size)'") }
        if let max, max >= 1 << 31 { throw FolioError(ErrorCode(rawValue: 51022), "BSON field 'max' value must be < \(1 << 31), actual value '\(max)'") }
        guard options["capped"]?.isTruthy == true else {
            if size != nil || max != nil {
                throw FolioError(.invalidOptions, "the 'capped' field needs to be true when either the 'size' or 'max' fields are present")
            }
            // MongoDB stores `capped` only when true.
            var out = Document()
            for (k, v) in options where k != "capped" { out.append(k, v) }
            return out
        }
        guard let size else { throw FolioError(.invalidOptions, "the 'size' field is required when 'capped' is true") }
        // appendNumber: int32 when it fits, int64 beyond.
        func shown(_ n: Int64) -> BSON { Int32(exactly: n).map(BSON.int32) ?? .int64(n) }
        var out: Document = ["capped": true, "size": shown(size)]
        if let max { out.append("max", shown(max <= 0 ? Int64(Int32.max) : max)) }
        for (k, v) in options where !["capped", "size", "max"].contains(k) { out.append(k, v) }
        return out
    }

    /// 263 for a write to a capped collection inside a multi-document transaction.
    func refuseCappedWriteInTransaction(_ entry: CollectionEntry) throws(FolioError) {
        guard entry.capped != nil, snapshotCollections != nil else { return }
        throw FolioError(.operationNotSupportedInTransaction,
                         "Collection '\(entry.namespace)' is a capped collection. Writes in transactions are not allowed on capped collections.")
    }

    func cappedTotals(_ entry: CollectionEntry, _ snapshot: any StorageSnapshot) throws -> CappedTotals {
        guard let bytes = try snapshot.get(entry.orderStore, CappedTotals.key) else { return CappedTotals() }
        return try CappedTotals(bytes)
    }

    /// Refuses a document larger than the collection (before anything is written for it).
    static func checkFitsCapped(_ entry: CollectionEntry, _ bytes: Int) throws(FolioError) {
        if let limits = entry.capped, Int64(bytes) > limits.size {
            throw FolioError(.badValue, "object to insert exceeds cappedMaxSize")
        }
    }

    /// Notes an inserted record at the end of the insertion order, then deletes the oldest
    /// records until the collection is within its limits again. The totals are read and
    /// written once per insert however many records go.
    func cappedInserted(_ entry: CollectionEntry, _ recordKey: [UInt8], bytes: Int, _ txn: any StorageWriteTransaction) throws {
        guard let limits = entry.capped else { return }
        var totals = try cappedTotals(entry, txn)
        let sequence = totals.nextSequence
        try txn.put(entry.orderStore, CollectionEntry.orderKey(sequence), recordKey)
        try txn.put(entry.orderStore, [2] + recordKey, CappedTotals.bigEndian(sequence))
        totals.nextSequence += 1
        totals.count += 1
        totals.bytes += UInt64(bytes)
        var current = entry
        while totals.bytes > UInt64(clamping: limits.size) || limits.max.map({ totals.count > UInt64(clamping: $0) }) ?? false {
            // The new record always fits (checkFitsCapped), so the oldest is another one.
            guard let (orderKey, oldest) = try txn.scan(entry.orderStore, CollectionEntry.orderRange, reverse: false, limit: 1).first,
                  oldest != recordKey, let value = try txn.get(entry.recordStore, oldest) else { break }
            try txn.delete(entry.recordStore, oldest)
            // Replicated as a delete, as MongoDB does since 5.0.
            if let id = RawDocument(trusted: value)["_id"] { logDelete(entry, id: id, txn) }
            if !current.indexes.isEmpty {
                current = self.entry(entry.namespace) ?? current
                try indexRemoved(current, RawDocument(trusted: value).document(), oldest, txn)
            }
            try txn.delete(entry.orderStore, orderKey)
            try txn.delete(entry.orderStore, [2] + oldest)
            totals.count -= min(totals.count, 1)
            totals.bytes -= min(totals.bytes, UInt64(value.count))
        }
        try txn.put(entry.orderStore, CappedTotals.key, totals.encoded)
    }

    /// Deletes one record with its index entries and, in a capped collection, its place in the
    /// insertion order.
    func removeRecord(_ entry: CollectionEntry, _ recordKey: [UInt8], _ raw: RawDocument, _ txn: any StorageWriteTransaction) throws {
        try txn.delete(entry.recordStore, recordKey)
        if !entry.indexes.isEmpty { try indexRemoved(entry, raw.document(), recordKey, txn) }
        if let id = raw["_id"] { logDelete(entry, id: id, before: raw, txn) }
        if entry.capped != nil { try cappedRemoved(entry, recordKey, bytes: raw.byteCount, txn) }
    }

    /// Notes a deleted record (of `bytes` bytes) of a capped collection.
    func cappedRemoved(_ entry: CollectionEntry, _ recordKey: [UInt8], bytes: Int, _ txn: any StorageWriteTransaction) throws {
        guard entry.capped != nil else { return }
        var totals = try cappedTotals(entry, txn)
        if let sequence = try txn.get(entry.orderStore, [2] + recordKey), sequence.count == 8 {
            try txn.delete(entry.orderStore, [1] + sequence)
            try txn.delete(entry.orderStore, [2] + recordKey)
        }
        totals.count -= min(totals.count, 1)
        totals.bytes -= min(totals.bytes, UInt64(bytes))
        try txn.put(entry.orderStore, CappedTotals.key, totals.encoded)
    }

    /// Notes a record of a capped collection that changed size. The collection may exceed
    /// its size until the next insert, as in MongoDB (only inserts delete).
    func cappedResized(_ entry: CollectionEntry, from old: Int, to new: Int, _ txn: any StorageWriteTransaction) throws {
        guard entry.capped != nil, old != new else { return }
        var totals = try cappedTotals(entry, txn)
        totals.bytes = UInt64(max(0, Int64(totals.bytes) + Int64(new) - Int64(old)))
        try txn.put(entry.orderStore, CappedTotals.key, totals.encoded)
    }
}

extension Engine {
    /// cloneCollectionAsCapped: copies `from` into a new capped collection `to` of `size`
    /// bytes, in `from`'s natural order, the oldest documents deleted as the copy goes (so
    /// the newest that fit remain); indexes other than `_id` are not copied. One storage
    /// transaction: writes to `from` wait for it, and a failure leaves nothing behind.
    /// - Throws: 26 when `from` does not exist, 48 when `to` does, the capped options' errors.
    public func cloneAsCapped(_ from: Namespace, to: Namespace, size: Int64) throws(FolioError) {
        try folio {
            try committer.catalogWrite { txn in try self.copyAsCapped(from, to: to, size: size, txn) }
        }
    }

    /// convertToCapped: replaces `ns` by a capped copy of `size` bytes (cloneAsCapped into a
    /// temporary collection renamed over it), in one storage transaction.
    public func convertToCapped(_ ns: Namespace, size: Int64) throws(FolioError) {
        let temp = try Namespace(database: ns.database, collection: "tmp.convertToCapped.\(ns.collection)")
        try folio {
            try committer.catalogWrite { txn in
                try self.copyAsCapped(ns, to: temp, size: size, txn)
                try self.rename(temp, to: ns, dropTarget: true, in: txn)
            }
        }
    }

    private func copyAsCapped(_ from: Namespace, to: Namespace, size: Int64, _ txn: any StorageWriteTransaction) throws {
        guard let source = entry(from) else { throw FolioError(.namespaceNotFound, "source collection \(from) does not exist") }
        if entry(to) != nil { throw FolioError(.namespaceExists, "Collection \(to) already exists.") }
        try create(to, options: try Engine.cappedOptions(["capped": true, "size": .int64(size)]), in: txn)
        let target = entry(to)!
        func copy(_ raw: RawDocument) throws {
            try Engine.checkFitsCapped(target, raw.byteCount)
            try storeNew(target, raw.document(), raw.bytes, txn)
        }
        if source.capped != nil {
            var position: [UInt8]?
            while true {
                let chunk = try source.orderChunk(txn, after: position, Filter(.and([])))
                for row in chunk.rows { if let raw = row.document { try copy(raw) } }
                guard let last = chunk.last, chunk.entries == CollectionScanStage.chunk else { break }
                position = last
            }
        } else {
            try Engine.forEachRecord(txn, source.recordStore) { _, raw in
                try copy(raw)
                return true
            }
        }
    }

    /// What validate finds wrong with a capped collection's insertion order: every record in
    /// it once, each order entry with its reverse entry, and totals that are the records'.
    func cappedOrderErrors(_ entry: CollectionEntry, _ snapshot: any StorageSnapshot) throws -> [String] {
        var errors: [String] = []
        let totals = try cappedTotals(entry, snapshot)
        var count: UInt64 = 0, bytes: UInt64 = 0
        var seen = Set<[UInt8]>()
        for (orderKey, recordKey) in try snapshot.scan(entry.orderStore, CollectionEntry.orderRange, reverse: false, limit: nil) {
            count += 1
            guard let value = try snapshot.get(entry.recordStore, recordKey) else {
                errors.append("insertion order names a record that does not exist")
                continue
            }
            bytes += UInt64(value.count)
            if !seen.insert(recordKey).inserted { errors.append("a record is twice in the insertion order") }
            if try snapshot.get(entry.orderStore, [2] + recordKey).map({ [1] + $0 }) != orderKey {
                errors.append("an insertion order entry has no matching reverse entry")
            }
            if orderKey.count != 9 || CappedTotals.read(orderKey, 1) >= totals.nextSequence {
                errors.append("an insertion order entry is past the next sequence")
            }
        }
        let records = try snapshot.count(entry.recordStore)
        if count != UInt64(records) { errors.append("insertion order has \(count) entries for \(records) records") }
        if totals.count != count || totals.bytes != bytes {
            errors.append("capped totals say \(totals.count) documents of \(totals.bytes) bytes; the order holds \(count) of \(bytes)")
        }
        let reverse = try snapshot.scan(entry.orderStore, KeyRange(lower: [2], lowerInclusive: true, upper: [3], upperInclusive: false),
                                        reverse: false, limit: nil).count
        if reverse != Int(count) { errors.append("insertion order has \(reverse) reverse entries for \(count) entries") }
        return errors
    }
}

// MARK: Tailable cursors

extension Engine {
    /// A tailable find (`tailable: true`): on a capped collection, in insertion order, a
    /// cursor that stays open at the end. A missing collection gives an empty cursor.
    /// - Throws: 2 BadValue on a collection that is not capped, or with a sort other than
    ///   `{$natural: 1}`.
    func tail(_ ns: Namespace, _ request: FindRequest, filter: Filter, projection: Projection?, sortPattern: Document?) throws(FolioError) -> Cursor {
        if filter.expression.containsText {
            // A tailable cursor reads in natural order; only the text index answers `$text`.
            throw FolioError(.badValue, "error processing query: cannot use tailable option with $text")
        }
        if let sort = sortPattern, !sort.isEmpty {
            throw FolioError(.badValue, "error processing query: cannot use tailable option with a sort other than {$natural: 1}")
        }
        if let natural = request.hint?.documentValue?["$natural"], natural.asDouble ?? 1 < 0 {
            throw FolioError(.badValue, "error processing query: cannot use tailable option with a sort other than {$natural: 1}")
        }
        guard let entry = entry(ns) else { return Cursor(empty: ns) }
        guard entry.capped != nil else {
            throw FolioError(.badValue, "error processing query: \(ns) tailable cursor requested on non capped collection")
        }
        queryStatistics.collectionScan(ns, tailable: true)
        return Cursor(tailing: entry, storage: storage, filter: filter, projection: projection, skip: request.skip, limit: request.limit)
    }
}

/// Where a tailable cursor is in its capped collection's insertion order.
/// @unchecked Sendable: used under its Cursor's Mutex only.
final class TailPosition: @unchecked Sendable {
    let entry: CollectionEntry
    let storage: any StorageEngine
    /// The order key of the last document read (nil: none yet).
    private var lastOrderKey: [UInt8]?

    init(entry: CollectionEntry, storage: any StorageEngine) {
        self.entry = entry
        self.storage = storage
    }

    /// The matching documents inserted after the last one read, from a new snapshot (at most
    /// one chunk). 136 CappedPositionLost when the last one read has been deleted meanwhile
    /// (the cursor fell behind the oldest), 175 QueryPlanKilled when the collection is gone.
    func read(_ filter: Filter) throws(FolioError) -> [PlanRow] {
        let entry = self.entry
        let last = lastOrderKey
        do {
            let snapshot = try storage.snapshot()
            defer { snapshot.close() }
            if let last, try snapshot.get(entry.orderStore, last) == nil {
                throw FolioError(.cappedPositionLost, "CollectionScan died due to position in capped collection being deleted. Last seen record id: RecordId(\(CappedTotals.read(last, 1)))")
            }
            let chunk = try entry.orderChunk(snapshot, after: last, filter)
            if let key = chunk.last { lastOrderKey = key }
            return chunk.rows
        } catch let error as FolioError {
            throw error
        } catch StorageError.noSuchStore {
            throw FolioError(.queryPlanKilled, "collection dropped: \(entry.namespace)")
        } catch {
            throw Engine.clientError(error)
        }
    }
}
