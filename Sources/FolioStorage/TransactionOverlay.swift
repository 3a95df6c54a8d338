import FolioBSON

// A multi-document transaction over a one-writer storage engine: one snapshot for every read,
// the transaction's own writes buffered in memory on top of it, and write conflicts through a
// ConflictTracker. Nothing reaches storage until the engine replays `writes` in its writer at
// commit; abort is dropping the overlay.
//
// Invariants:
//  1. Reads see the snapshot with the buffered writes applied (a buffered nil is a deletion).
//  2. Every key written is held in the tracker first (and the owning collection's catalog key
//     intended), so at commit nobody else has written it since the snapshot.
//  3. `atomically` and statement transactions undo through a log of previous buffered values,
//     O(1) per write; keys they held stay held (harmless: the transaction keeps them).
//  4. One operation at a time (the session's): the overlay is not locked.
//
// Costs: a read of a store the transaction did not write is the snapshot's read; scans of a
// written store merge the snapshot's entries with the sorted buffered keys in range.

/// The buffered state of one transaction.
public final class TransactionOverlay: @unchecked Sendable {
    // @unchecked: used by one operation at a time (invariant 4).
    struct Store {
        /// Buffered values by key (nil: deleted).
        var entries: [[UInt8]: [UInt8]?] = [:]
        /// The buffered keys in order.
        var sorted: [[UInt8]] = []
    }

    enum Undo {
        /// The key's buffered value before (`.none`: it was not buffered).
        case entry(String, [UInt8], [UInt8]??)
        case created(String)
    }

    public let base: any StorageSnapshot
    let tracker: ConflictTracker
    /// The transaction's id in the tracker and the sequence of its snapshot.
    public let id: UInt64
    public let sequence: UInt64
    /// The catalog key (in `catalogStore`) of the collection a store belongs to, for intents.
    let owner: @Sendable (String) -> [UInt8]?
    let catalogStore: String

    var stores: [String: Store] = [:]
    /// Stores the transaction created, in order.
    private(set) var created: [String] = []
    var undo: [Undo] = []
    /// Keys held and intended, for release at the end.
    var held: Set<ConflictTracker.Key> = []
    var intended: Set<String> = []
    /// Bytes buffered (keys and values), for the transaction size limit.
    public private(set) var bufferedBytes = 0
    /// Buffered bytes one transaction may hold (its writes live in memory until commit):
    /// past it, a write fails with TransactionTooLargeForCache (334), as in MongoDB when a
    /// transaction outgrows the cache, and the transaction is aborted.
    public static let defaultLimitBytes = 512 << 20
    let limitBytes: Int
    /// A read at a point in time outside any transaction: every write fails (commands that
    /// write refuse such a read concern first; this is the backstop).
    let readOnly: Bool

    public init(base: any StorageSnapshot, tracker: ConflictTracker, id: UInt64, sequence: UInt64, catalogStore: String,
                limitBytes: Int = TransactionOverlay.defaultLimitBytes, readOnly: Bool = false,
                owner: @escaping @Sendable (String) -> [UInt8]?) {
        self.base = base
        self.limitBytes = limitBytes
        self.readOnly = readOnly
        self.tracker = tracker
        self.id = id
        self.sequence = sequence
        self.catalogStore = catalogStore
        self.owner = owner
    }

    /// Whether the transaction wrote anything.
    public var isEmpty: Bool { stores.isEmpty && created.isEmpty }

    /// The keys held, to release when the transaction ends.
    public var keys: [ConflictTracker.Key] { Array(held) }

    /// The buffered writes: created stores first, then each store's keys in order.
    public func writes() -> (created: [String], entries: [(store: String, key: [UInt8], value: [UInt8]?)]) {
        var out: [(store: String, key: [UInt8], value: [UInt8]?)] = []
        for name in stores.keys.sorted() {
            let s = stores[name]!
            for key in s.sorted { out.append((name, key, s.entries[key]!)) }
        }
        return (created, out)
    }

    // MARK: Reads (invariant 1)

    func isCreated(_ store: String) -> Bool { created.contains(store) }

    public func get(_ store: String, _ key: [UInt8]) throws(StorageError) -> [UInt8]? {
        if let s = stores[store], let value = s.entries[key] { return value }
        if isCreated(store) { return nil }
        return try base.get(store, key)
    }

    /// The buffered keys of `store` in `range`, in order.
    func bufferedKeys(_ s: Store, _ range: KeyRange) -> ArraySlice<[UInt8]> {
        let keys = s.sorted
        var lo = 0
        if let lower = range.lower {
            lo = TransactionOverlay.firstIndex(keys) { compareKeys($0, lower) >= (range.lowerInclusive ? 0 : 1) }
        }
        var hi = keys.count
        if let upper = range.upper {
            hi = TransactionOverlay.firstIndex(keys) { compareKeys($0, upper) >= (range.upperInclusive ? 1 : 0) }
        }
        return lo < hi ? keys[lo..<hi] : []
    }

    /// The first index whose key satisfies `atOrAfter` (monotone over sorted keys).
    static func firstIndex(_ keys: [[UInt8]], _ atOrAfter: ([UInt8]) -> Bool) -> Int {
        var lo = 0, hi = keys.count
        while lo < hi {
            let mid = (lo + hi) / 2
            if atOrAfter(keys[mid]) { hi = mid } else { lo = mid + 1 }
        }
        return lo
    }

    public func scan(_ store: String, _ range: KeyRange, reverse: Bool, limit: Int?) throws(StorageError) -> [(key: [UInt8], value: [UInt8])] {
        let created = isCreated(store)
        guard let s = stores[store], !s.sorted.isEmpty else {
            return created ? [] : try base.scan(store, range, reverse: reverse, limit: limit)
        }
        let buffered = bufferedKeys(s, range)
        let fromBase = created ? [] : try base.scan(store, range, reverse: reverse, limit: limit.map { $0 + buffered.count })
        let mine: [[UInt8]] = reverse ? buffered.reversed() : Array(buffered)
        var out: [(key: [UInt8], value: [UInt8])] = []
        var i = 0, j = 0
        let sign = reverse ? -1 : 1
        while i < fromBase.count || j < mine.count {
            if let limit, out.count >= limit { break }
            let c = i == fromBase.count ? 1 : j == mine.count ? -1 : compareKeys(fromBase[i].key, mine[j]) * sign
            if c < 0 {
                out.append(fromBase[i])
                i += 1
            } else {
                if c == 0 { i += 1 }
                if let value = s.entries[mine[j]]! { out.append((mine[j], value)) }
                j += 1
            }
        }
        return out
    }

    @discardableResult
    public func visit(_ store: String, _ range: KeyRange, limit: Int?,
                      _ body: (UnsafeBufferPointer<UInt8>, UnsafeBufferPointer<UInt8>) -> Bool) throws(StorageError) -> [UInt8]? {
        let created = isCreated(store)
        guard let s = stores[store], !s.sorted.isEmpty else {
            return created ? nil : try base.visit(store, range, limit: limit, body)
        }
        let mine = bufferedKeys(s, range)
        var j = mine.startIndex
        var visited = 0
        var stopped = false
        var last: [UInt8]?
        /// Visits one buffered entry; false once the visit must stop.
        func emitBuffered(_ key: [UInt8]) -> Bool {
            guard let value = s.entries[key]! else { return true }
            if let limit, visited >= limit { return false }
            visited += 1
            last = key
            let go = key.withUnsafeBufferPointer { k in value.withUnsafeBufferPointer { v in body(k, v) } }
            return go && (limit.map { visited < $0 } ?? true)
        }
        if !created {
            try base.visit(store, range, limit: nil) { k, v in
                while j < mine.endIndex {
                    let c = mine[j].withUnsafeBufferPointer { compareByteBuffers($0, k) }
                    if c > 0 { break }
                    let key = mine[j]
                    j += 1
                    if !emitBuffered(key) {
                        stopped = true
                        return false
                    }
                    if c == 0 { return true }
                }
                if let limit, visited >= limit {
                    stopped = true
                    return false
                }
                visited += 1
                last = Array(k)
                if !body(k, v) || (limit.map { visited >= $0 } ?? false) {
                    stopped = true
                    return false
                }
                return true
            }
        }
        while !stopped && j < mine.endIndex {
            let key = mine[j]
            j += 1
            if !emitBuffered(key) { break }
        }
        return last
    }

    public func storeNames() throws(StorageError) -> [String] { try base.storeNames() + created }

    public func count(_ store: String) throws(StorageError) -> Int {
        let created = isCreated(store)
        var n = created ? 0 : try base.count(store)
        guard let s = stores[store] else { return n }
        for (key, value) in s.entries {
            var inBase = false
            if !created { inBase = try base.get(store, key) != nil }
            if value != nil && !inBase { n += 1 }
            if value == nil && inBase { n -= 1 }
        }
        return n
    }

    public func storageBytes(_ store: String) throws(StorageError) -> Int { isCreated(store) ? 0 : try base.storageBytes(store) }

    // MARK: Writes (invariant 2)

    /// Holds `key` (and intends its collection) in the tracker.
    public func claim(_ store: String, _ key: [UInt8]) throws(StorageError) {
        if readOnly { throw TransactionOverlay.readOnlyWrite }
        if !intended.contains(store) {
            if let owner = owner(store) {
                let k = ConflictTracker.Key(catalogStore, owner)
                try tracker.intend(id, sequence: sequence, k)
                held.insert(k)
            }
            intended.insert(store)
        }
        let k = ConflictTracker.Key(store, key)
        guard !held.contains(k) || store == catalogStore else { return }
        try tracker.hold(id, sequence: sequence, k)
        held.insert(k)
    }

    func set(_ store: String, _ key: [UInt8], _ value: [UInt8]?) throws(StorageError) {
        if bufferedBytes + key.count + (value?.count ?? 0) > limitBytes {
            throw .transactionTooLarge("Transaction exceeds \(limitBytes) bytes of buffered writes; commit in smaller transactions")
        }
        var s = stores[store] ?? Store()
        let previous = s.entries.updateValue(value, forKey: key)
        if previous == nil {
            let at = TransactionOverlay.firstIndex(s.sorted) { compareKeys($0, key) >= 0 }
            s.sorted.insert(key, at: at)
        }
        stores[store] = s
        undo.append(.entry(store, key, previous))
        bufferedBytes += key.count + (value?.count ?? 0)
    }

    static let readOnlyWrite = StorageError.io("a read at a point in time cannot write")

    public func createStore(_ store: String) throws(StorageError) {
        if readOnly { throw TransactionOverlay.readOnlyWrite }
        if isCreated(store) { throw .storeExists(store) }
        if try base.storeNames().contains(store) { throw .storeExists(store) }
        created.append(store)
        undo.append(.created(store))
    }

    public func put(_ store: String, _ key: [UInt8], _ value: [UInt8]) throws(StorageError) {
        try claim(store, key)
        try set(store, key, value)
    }

    public func insert(_ store: String, _ key: [UInt8], _ value: [UInt8]) throws(StorageError) -> Bool {
        if try get(store, key) != nil { return false }
        try claim(store, key)
        try set(store, key, value)
        return true
    }

    @discardableResult
    public func delete(_ store: String, _ key: [UInt8]) throws(StorageError) -> Bool {
        if try get(store, key) == nil { return false }
        try claim(store, key)
        try set(store, key, nil)
        return true
    }

    /// The undo log's position, to roll back to.
    public var savepoint: Int { undo.count }

    /// Undoes every buffered write after `savepoint`.
    public func rollback(to savepoint: Int) {
        while undo.count > savepoint {
            switch undo.removeLast() {
            case .created(let store):
                created.removeAll { $0 == store }
                stores[store] = nil
            case .entry(let store, let key, let previous):
                guard var s = stores[store] else { continue }
                if let previous {
                    s.entries[key] = previous
                } else {
                    s.entries[key] = nil
                    let at = TransactionOverlay.firstIndex(s.sorted) { compareKeys($0, key) >= 0 }
                    if at < s.sorted.count && s.sorted[at] == key { s.sorted.remove(at: at) }
                }
                stores[store] = s.sorted.isEmpty ? nil : s
            }
        }
    }
}

/// A storage engine view of one transaction, so the engine's read and write paths run inside
/// it unchanged: snapshots read the overlay, and a "write transaction" is one statement of
/// the transaction (commit keeps its writes buffered, rollback undoes them).
public final class TransactionStorage: StorageEngine, @unchecked Sendable {
    public let name = "transaction"
    public let overlay: TransactionOverlay

    public init(overlay: TransactionOverlay) { self.overlay = overlay }

    public func snapshot() throws(StorageError) -> any StorageSnapshot { TransactionView(overlay, statement: nil) }
    public func beginWrite() throws(StorageError) -> any StorageWriteTransaction { TransactionView(overlay, statement: overlay.savepoint) }
    public func sizeOnDiskBytes() -> Int64 { 0 }
    public func close() {}
}

/// Reads (and, as a statement, writes) through a transaction's overlay.
final class TransactionView: StorageWriteTransaction, @unchecked Sendable {
    let overlay: TransactionOverlay
    /// Where this statement began in the undo log (nil: a read-only view).
    let statement: Int?

    init(_ overlay: TransactionOverlay, statement: Int?) {
        self.overlay = overlay
        self.statement = statement
    }

    func get(_ store: String, _ key: [UInt8]) throws(StorageError) -> [UInt8]? { try overlay.get(store, key) }
    func scan(_ store: String, _ range: KeyRange, reverse: Bool, limit: Int?) throws(StorageError) -> [(key: [UInt8], value: [UInt8])] {
        try overlay.scan(store, range, reverse: reverse, limit: limit)
    }
    @discardableResult
    func visit(_ store: String, _ range: KeyRange, limit: Int?,
               _ body: (UnsafeBufferPointer<UInt8>, UnsafeBufferPointer<UInt8>) -> Bool) throws(StorageError) -> [UInt8]? {
        try overlay.visit(store, range, limit: limit, body)
    }
    func storeNames() throws(StorageError) -> [String] { try overlay.storeNames() }
    func count(_ store: String) throws(StorageError) -> Int { try overlay.count(store) }
    func storageBytes(_ store: String) throws(StorageError) -> Int { try overlay.storageBytes(store) }
    /// The transaction's snapshot stays open until the transaction ends.
    func close() {}

    func createStore(_ store: String) throws(StorageError) { try overlay.createStore(store) }
    func dropStore(_ store: String) throws(StorageError) { throw .io("dropping \(store) inside a multi-document transaction") }
    func renameStore(_ store: String, to newName: String) throws(StorageError) {
        throw .io("renaming \(store) inside a multi-document transaction")
    }
    func put(_ store: String, _ key: [UInt8], _ value: [UInt8]) throws(StorageError) { try overlay.put(store, key, value) }
    func insert(_ store: String, _ key: [UInt8], _ value: [UInt8]) throws(StorageError) -> Bool { try overlay.insert(store, key, value) }
    @discardableResult
    func delete(_ store: String, _ key: [UInt8]) throws(StorageError) -> Bool { try overlay.delete(store, key) }
    func claim(_ store: String, _ key: [UInt8]) throws(StorageError) { try overlay.claim(store, key) }
    func atomically<R>(_ body: () throws -> R) throws -> R {
        let mark = overlay.savepoint
        do {
            return try body()
        } catch {
            overlay.rollback(to: mark)
            throw error
        }
    }
    func commit(durable: Bool) throws(StorageError) {}
    func rollback() {
        if let statement { overlay.rollback(to: statement) }
    }
}
