import Dispatch
import Synchronization
import FolioLocks

// An in-memory engine: each store is a sorted array of entries; the whole state is an
// immutable value that snapshots share, and a commit publishes a new one. Copying on write
// costs O(size of each store touched) per transaction, which is fine for tests and throwaway
// servers (`--storage memory`), not for large data.

/// A sorted key-value array with binary search.
struct SortedStore: Sendable {
    var keys: [[UInt8]] = []
    var values: [[UInt8]] = []

    /// Index of the first key >= `key`.
    func lowerBound(_ key: [UInt8]) -> Int {
        var lo = 0, hi = keys.count
        while lo < hi {
            let mid = (lo + hi) / 2
            if compareKeys(keys[mid], key) < 0 { lo = mid + 1 } else { hi = mid }
        }
        return lo
    }

    func get(_ key: [UInt8]) -> [UInt8]? {
        let i = lowerBound(key)
        return i < keys.count && keys[i] == key ? values[i] : nil
    }

    mutating func put(_ key: [UInt8], _ value: [UInt8]) {
        let i = lowerBound(key)
        if i < keys.count && keys[i] == key {
            values[i] = value
        } else {
            keys.insert(key, at: i)
            values.insert(value, at: i)
        }
    }

    mutating func delete(_ key: [UInt8]) -> Bool {
        let i = lowerBound(key)
        guard i < keys.count && keys[i] == key else { return false }
        keys.remove(at: i)
        values.remove(at: i)
        return true
    }

    func visit(_ range: KeyRange, limit: Int?, _ body: (UnsafeBufferPointer<UInt8>, UnsafeBufferPointer<UInt8>) -> Bool) -> [UInt8]? {
        var last: [UInt8]?
        for (k, v) in scan(range, reverse: false, limit: limit) {
            last = k
            let more = k.withUnsafeBufferPointer { kb in v.withUnsafeBufferPointer { vb in body(kb, vb) } }
            if !more { break }
        }
        return last
    }

    func scan(_ range: KeyRange, reverse: Bool, limit: Int?) -> [(key: [UInt8], value: [UInt8])] {
        var start = range.lower.map(lowerBound) ?? 0
        if let lower = range.lower, !range.lowerInclusive, start < keys.count, keys[start] == lower { start += 1 }
        var end = range.upper.map(lowerBound) ?? keys.count
        if let upper = range.upper, range.upperInclusive, end < keys.count, keys[end] == upper { end += 1 }
        guard start < end else { return [] }
        let max = limit ?? Int.max
        var out: [(key: [UInt8], value: [UInt8])] = []
        if reverse {
            var i = end - 1
            while i >= start && out.count < max { out.append((keys[i], values[i])); i -= 1 }
        } else {
            var i = start
            while i < end && out.count < max { out.append((keys[i], values[i])); i += 1 }
        }
        return out
    }
}

/// The in-memory engine.
public final class MemoryStorageEngine: StorageEngine {
    struct State: Sendable { var stores: [String: SortedStore] = [:] }

    private let state = Locked(State())
    /// Held for the lifetime of a write transaction (invariant 3).
    let writer = DispatchSemaphore(value: 1)
    private let isClosed = Atomic(false)

    public let name = "memory"

    /// Every read is a memory read.
    public func holdsInMemory(_ store: String, _ key: [UInt8]) -> Bool { true }

    /// The published state is the latest committed one.
    public func latestInMemory(_ store: String, _ key: [UInt8]) -> [UInt8]? {
        state.withLock { $0.stores[store]?.get(key) }
    }

    public init() {}

    public func snapshot() throws(StorageError) -> any StorageSnapshot {
        if isClosed.load(ordering: .acquiring) { throw .closed }
        return MemorySnapshot(state.withLock { $0 })
    }

    public func beginWrite() throws(StorageError) -> any StorageWriteTransaction {
        if isClosed.load(ordering: .acquiring) { throw .closed }
        writer.wait()
        return MemoryWriteTransaction(engine: self, base: state.withLock { $0 })
    }

    func publish(_ newState: State) { state.withLock { $0 = newState } }

    func releaseWriter() { writer.signal() }

    public func sizeOnDiskBytes() -> Int64 { 0 }

    public func close() { isClosed.store(true, ordering: .releasing) }
}

/// The read side shared by memory snapshots and the memory write transaction.
protocol MemoryStoreReader: StorageSnapshot {
    var stores: [String: SortedStore] { get }
}

extension MemoryStoreReader {
    func store(_ name: String) throws(StorageError) -> SortedStore {
        guard let s = stores[name] else { throw .noSuchStore(name) }
        return s
    }

    func get(_ store: String, _ key: [UInt8]) throws(StorageError) -> [UInt8]? { try self.store(store).get(key) }

    func scan(_ store: String, _ range: KeyRange, reverse: Bool, limit: Int?) throws(StorageError) -> [(key: [UInt8], value: [UInt8])] {
        try self.store(store).scan(range, reverse: reverse, limit: limit)
    }

    func visit(_ store: String, _ range: KeyRange, limit: Int?,
               _ body: (UnsafeBufferPointer<UInt8>, UnsafeBufferPointer<UInt8>) -> Bool) throws(StorageError) -> [UInt8]? {
        try self.store(store).visit(range, limit: limit, body)
    }

    func storeNames() throws(StorageError) -> [String] { stores.keys.sorted() }

    func count(_ store: String) throws(StorageError) -> Int { try self.store(store).keys.count }

    func storageBytes(_ store: String) throws(StorageError) -> Int {
        var bytes = 0
        _ = try visit(store, .all, limit: nil) { key, value in bytes += key.count + value.count; return true }
        return bytes
    }
}

final class MemorySnapshot: MemoryStoreReader, @unchecked Sendable {
    // @unchecked: the state is an immutable value captured at creation.
    let state: MemoryStorageEngine.State

    init(_ state: MemoryStorageEngine.State) { self.state = state }

    var stores: [String: SortedStore] { state.stores }

    func close() {}
}

final class MemoryWriteTransaction: MemoryStoreReader, StorageWriteTransaction, @unchecked Sendable {
    // @unchecked: used by one thread at a time (the single writer); `finished` guards reuse.
    let engine: MemoryStorageEngine
    var working: MemoryStorageEngine.State
    var finished = false

    init(engine: MemoryStorageEngine, base: MemoryStorageEngine.State) {
        self.engine = engine
        self.working = base
    }

    deinit { if !finished { engine.releaseWriter() } }

    var stores: [String: SortedStore] { working.stores }

    func createStore(_ store: String) throws(StorageError) {
        guard working.stores[store] == nil else { throw .storeExists(store) }
        rememberStores()
        working.stores[store] = SortedStore()
    }

    func dropStore(_ store: String) throws(StorageError) {
        rememberStores()
        guard working.stores.removeValue(forKey: store) != nil else { throw .noSuchStore(store) }
    }

    func renameStore(_ store: String, to newName: String) throws(StorageError) {
        guard working.stores[newName] == nil else { throw .storeExists(newName) }
        rememberStores()
        guard let s = working.stores.removeValue(forKey: store) else { throw .noSuchStore(store) }
        working.stores[newName] = s
    }

    func put(_ store: String, _ key: [UInt8], _ value: [UInt8]) throws(StorageError) {
        guard working.stores[store] != nil else { throw .noSuchStore(store) }
        rememberValue(store, key)
        working.stores[store]!.put(key, value)
    }

    func insert(_ store: String, _ key: [UInt8], _ value: [UInt8]) throws(StorageError) -> Bool {
        // No local copy of the store may live across the put: it would share the key and
        // value arrays, and the put would copy them whole (quadratic inserts).
        guard working.stores[store] != nil else { throw .noSuchStore(store) }
        if working.stores[store]!.get(key) != nil { return false }
        if depth > 0 { undoLog.append(.value(store: store, key: key, old: nil)) }
        working.stores[store]!.put(key, value)
        return true
    }

    func delete(_ store: String, _ key: [UInt8]) throws(StorageError) -> Bool {
        guard working.stores[store] != nil else { throw .noSuchStore(store) }
        rememberValue(store, key)
        return working.stores[store]!.delete(key)
    }

    /// Runs `body`; if it throws, its changes are undone from the undo log. (Saving a copy of
    /// `working` instead would share every store's arrays, so the next put would copy a
    /// whole store: quadratic time for a batch of inserts, each atomic on its own.)
    func atomically<R>(_ body: () throws -> R) throws -> R {
        let mark = undoLog.count
        depth += 1
        defer {
            depth -= 1
            if depth == 0 { undoLog.removeAll(keepingCapacity: true) }
        }
        do {
            return try body()
        } catch {
            while undoLog.count > mark {
                switch undoLog.removeLast() {
                case .value(let store, let key, let old?): working.stores[store]?.put(key, old)
                case .value(let store, let key, nil): _ = working.stores[store]?.delete(key)
                case .stores(let stores): working.stores = stores
                }
            }
            throw error
        }
    }

    /// What undoes one change made inside `atomically`.
    enum Undo {
        case value(store: String, key: [UInt8], old: [UInt8]?)
        case stores([String: SortedStore])
    }

    private var undoLog: [Undo] = []
    private var depth = 0

    private func rememberValue(_ store: String, _ key: [UInt8]) {
        if depth > 0 { undoLog.append(.value(store: store, key: key, old: working.stores[store]?.get(key))) }
    }

    private func rememberStores() {
        if depth > 0 { undoLog.append(.stores(working.stores)) }
    }

    func commit(durable: Bool) throws(StorageError) {
        precondition(!finished, "transaction already finished")
        finished = true
        engine.publish(working)
        engine.releaseWriter()
    }

    func rollback() {
        guard !finished else { return }
        finished = true
        engine.releaseWriter()
    }

    func close() { rollback() }
}
