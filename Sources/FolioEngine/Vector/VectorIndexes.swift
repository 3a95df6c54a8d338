import FolioBSON
import FolioQuery
import FolioStorage
import FolioVector
import Synchronization
import FolioLocks
#if canImport(Glibc)
import Glibc
#endif

// Vector search indexes: an HNSW graph per index, persisted in a store of its own and
// changed in the same storage transaction as the documents it indexes.
//
// The store (keys, byte-ordered):
//   [0]                     entry node (UInt32 BE, 0xFFFFFFFF: none), top level (UInt8)
//   [1] node (UInt32 BE)    level, removed flag, the vector (float32 LE, full fidelity even
//                           when the graph keeps quantized codes), then attributes:
//                           record key length (UInt32 LE), record key, filter values (BSON)
//   [2] node level          the node's links at that level (UInt32 LE each)
//   [3] record key          the live node of that record (UInt32 BE)
// so a restart reads the graph back (one scan per key kind) instead of rebuilding it.
//
// In memory (VectorIndexState): the graph (float32 or quantized codes; a quantized index's
// searches rescore the walk's candidates with the node records' vectors), the record → node
// map, and a read-write lock:
// searches share it, the writer takes it per change. Changes made by a write that does not
// commit are taken back from the transaction's undo list (CountingTransaction.undoActions),
// so the graph always matches its store. Searches may walk nodes of a commit still in
// progress; their documents are read from the reader's snapshot, so results never show
// uncommitted data (a document the snapshot lacks is skipped).
//
// Invariants:
//  1. Every change to a collection's records passes the observer (CountingTransaction),
//     whichever path made it: statements, replayed transactions, TTL, capped deletions.
//  2. A graph in memory was read from its store, or built in the transaction that created
//     the store, and since then changed only together with it.

/// The in-memory side of one vector index.
final class VectorIndexState: @unchecked Sendable {
    // @unchecked: `graph` and `nodes` are touched only under `lock`.
    let descriptor: SearchIndexDescriptor
    let graph: HNSWGraph
    /// Live node of each record key.
    private(set) var nodes: [[UInt8]: UInt32] = [:]
    private let lock = UnsafeMutablePointer<pthread_rwlock_t>.allocate(capacity: 1)
    let pathComponents: [String]
    /// Projects a document to the values of the filter fields (nil: no filter fields).
    let filterProjection: Projection?

    init(_ descriptor: SearchIndexDescriptor) throws(FolioError) {
        self.descriptor = descriptor
        let d = descriptor.parsed
        graph = HNSWGraph(dimensions: d.dimensions, similarity: d.similarity, quantization: d.quantization)
        pathComponents = d.path.split(separator: ".").map(String.init)
        if d.filterPaths.isEmpty {
            filterProjection = nil
        } else {
            var spec = Document()
            for p in d.filterPaths { spec.append(p, .int32(1)) }
            if !d.filterPaths.contains("_id") { spec.append("_id", .int32(0)) }
            filterProjection = try Projection(parsing: spec, findOperators: false)
        }
        pthread_rwlock_init(lock, nil)
    }

    deinit {
        pthread_rwlock_destroy(lock)
        lock.deallocate()
    }

    func read<R>(_ body: () throws -> R) rethrows -> R {
        pthread_rwlock_rdlock(lock)
        defer { pthread_rwlock_unlock(lock) }
        return try body()
    }

    func write<R>(_ body: () throws -> R) rethrows -> R {
        pthread_rwlock_wrlock(lock)
        defer { pthread_rwlock_unlock(lock) }
        return try body()
    }

    /// What a document contributes: its vector (normalized for cosine) and its attributes
    /// (filter values); nil when it holds no usable vector of the index's dimensions, which
    /// Atlas leaves out of the index without an error.
    func entry(of document: Document, recordKey: [UInt8]) -> (vector: [Float], attributes: [UInt8])? {
        guard let value = VectorValues.value(at: pathComponents, in: document),
              case .success(var v) = VectorValues.parse(value), v.count == graph.dimensions else { return nil }
        if graph.similarity.normalizes, !normalize(&v) { return nil }
        var attributes: [UInt8] = []
        attributes.reserveCapacity(recordKey.count + 16)
        withUnsafeBytes(of: UInt32(recordKey.count).littleEndian) { attributes.append(contentsOf: $0) }
        attributes.append(contentsOf: recordKey)
        if let filterProjection, let projected = try? filterProjection.apply(to: document) {
            attributes.append(contentsOf: projected.bsonBytes())
        }
        return (v, attributes)
    }

    /// The record key inside a node's attributes.
    static func recordKey(_ attributes: [UInt8]) -> [UInt8] {
        let n = Int(UInt32(attributes[0]) | UInt32(attributes[1]) << 8 | UInt32(attributes[2]) << 16 | UInt32(attributes[3]) << 24)
        return Array(attributes[4..<(4 + n)])
    }

    /// The filter values inside a node's attributes (nil when the index has no filter fields).
    static func filterValues(_ attributes: [UInt8]) -> RawDocument? {
        let n = Int(UInt32(attributes[0]) | UInt32(attributes[1]) << 8 | UInt32(attributes[2]) << 16 | UInt32(attributes[3]) << 24)
        guard attributes.count > 4 + n else { return nil }
        return RawDocument(trusted: attributes, at: 4 + n)
    }

    // MARK: Changes (the writer, under the lock)

    /// Applies a record's change to the graph and its store; returns how to take it back.
    func recordChanged(_ key: [UInt8], old: Document?, new: Document?, _ txn: any StorageWriteTransaction) throws -> (() -> Void)? {
        let before = old.flatMap { entry(of: $0, recordKey: key) }
        let after = new.flatMap { entry(of: $0, recordKey: key) }
        if before == nil && after == nil { return nil }
        if let before, let after, before.vector == after.vector, before.attributes == after.attributes { return nil }
        var journal = HNSWGraph.Journal()
        var mapUndo: [([UInt8], UInt32?)] = []
        try write { () throws in
            let existing = nodes[key]
            if let existing, let after, let before, before.vector == after.vector {
                // Only the filter values changed: the node stays where it is.
                graph.setAttributes(existing, after.attributes, journal: &journal)
                try rewriteNode(existing, txn)
                return
            }
            if let existing {
                graph.remove(existing, journal: &journal)
                mapUndo.append((key, existing))
                nodes[key] = nil
                try rewriteNode(existing, txn)
                try txn.delete(descriptor.store, VectorStoreKeys.record(key))
            }
            if let after {
                let node = after.vector.withUnsafeBufferPointer { graph.add($0, attributes: after.attributes, journal: &journal) }
                mapUndo.append((key, nodes[key]))
                nodes[key] = node
                try txn.put(descriptor.store, VectorStoreKeys.node(node), nodeValue(node, vector: after.vector))
                try txn.put(descriptor.store, VectorStoreKeys.record(key), VectorStoreKeys.id(node))
                try persist(journal, txn)
            }
        }
        let undo = journal.undo
        return { [self] in
            write {
                graph.undo(undo[...])
                for (k, n) in mapUndo.reversed() { nodes[k] = n }
            }
        }
    }

    /// Writes the links and the entry point a journal says changed.
    private func persist(_ journal: HNSWGraph.Journal, _ txn: any StorageWriteTransaction) throws {
        var seen = Set<UInt64>()
        for (node, level) in journal.links where seen.insert(UInt64(node) << 8 | UInt64(level)).inserted {
            try txn.put(descriptor.store, VectorStoreKeys.links(node, level), VectorStoreKeys.linkBytes(graph.links(node, level: level)))
        }
        if journal.undo.contains(where: { if case .entry = $0 { return true } else { return false } }) {
            try txn.put(descriptor.store, VectorStoreKeys.meta, metaValue())
        }
    }

    /// A node's record: level, removed flag, its full vector, attributes.
    func nodeValue(_ node: UInt32, vector: [Float]) -> [UInt8] {
        nodeRecord(node) { out in
            for f in vector { withUnsafeBytes(of: f.bitPattern.littleEndian) { out.append(contentsOf: $0) } }
        }
    }

    /// Rewrites a node's record after its removed flag or attributes changed, keeping the
    /// full vector it holds (a quantized graph cannot give it back).
    private func rewriteNode(_ node: UInt32, _ txn: any StorageWriteTransaction) throws {
        let vectorBytes = graph.dimensions * 4
        guard let old = try txn.get(descriptor.store, VectorStoreKeys.node(node)), old.count >= 2 + vectorBytes else {
            throw FolioError(.internalError, "data corruption: vector index \(descriptor.name) has no record of node \(node)")
        }
        try txn.put(descriptor.store, VectorStoreKeys.node(node), nodeRecord(node) { $0.append(contentsOf: old[2..<(2 + vectorBytes)]) })
    }

    /// Level, removed flag, the vector's bytes as `appendVector` writes them, attributes.
    private func nodeRecord(_ node: UInt32, appendVector: (inout [UInt8]) -> Void) -> [UInt8] {
        let attributes = graph.attributes(node)
        var out: [UInt8] = [UInt8(graph.level(node)), graph.isRemoved(node) ? 1 : 0]
        out.reserveCapacity(2 + graph.dimensions * 4 + attributes.count)
        appendVector(&out)
        out.append(contentsOf: attributes)
        return out
    }

    func metaValue() -> [UInt8] {
        VectorStoreKeys.id(graph.entryPoint ?? UInt32.max) + [UInt8(graph.maxLevel)]
    }

    // MARK: Building and loading

    /// Builds the graph over a collection's records and writes the whole store (creation).
    func build(from recordStore: String, _ txn: any StorageWriteTransaction) throws {
        var journal = HNSWGraph.Journal()
        var nodeValues: [([UInt8], [UInt8])] = []
        _ = try Engine.forEachRecord(txn, recordStore) { key, raw in
            guard let e = entry(of: raw.document(), recordKey: key) else { return true }
            let node = e.vector.withUnsafeBufferPointer { graph.add($0, attributes: e.attributes, journal: &journal) }
            nodes[key] = node
            // Written as added: nothing is removed during a build, and a quantized graph keeps
            // only codes, so the full vector is at hand only now.
            nodeValues.append((VectorStoreKeys.node(node), nodeValue(node, vector: e.vector)))
            journal = HNSWGraph.Journal()
            return true
        }
        let n = graph.count
        try putAll(nodeValues, txn)
        nodeValues = []
        var links: [([UInt8], [UInt8])] = []
        for i in 0..<n {
            for l in 0...graph.level(UInt32(i)) {
                links.append((VectorStoreKeys.links(UInt32(i), l), VectorStoreKeys.linkBytes(graph.links(UInt32(i), level: l))))
            }
        }
        try putAll(links, txn)
        try putAll(nodes.sorted { compareKeys($0.key, $1.key) < 0 }.map { (VectorStoreKeys.record($0.key), VectorStoreKeys.id($0.value)) }, txn)
        try txn.put(descriptor.store, VectorStoreKeys.meta, metaValue())
    }

    private func putAll(_ entries: [([UInt8], [UInt8])], _ txn: any StorageWriteTransaction) throws {
        try Folio_storage { () throws(StorageError) in
            try txn.putAll(descriptor.store, count: entries.count) { i in
                let (k, v) = entries[i]
                return (k.withUnsafeBytes { UnsafeRawBufferPointer($0) }, v.withUnsafeBytes { UnsafeRawBufferPointer($0) })
            }
        }
    }

    /// Reads the graph back from its store.
    func load(from snapshot: any StorageSnapshot) throws {
        let dims = graph.dimensions
        var expected: UInt32 = 0
        var failure: FolioError?
        _ = try Folio_storage { () throws(StorageError) in
            try snapshot.visit(descriptor.store, .prefix([1]), limit: nil) { key, value in
                guard key.count == 5, value.count >= 2 + dims * 4, VectorStoreKeys.decodeID(key, at: 1) == expected else {
                    failure = FolioError(.internalError, "data corruption: vector index \(descriptor.name) node \(Array(key))")
                    return false
                }
                let vector = VectorStoreKeys.vector(value, dimensions: dims)
                vector.withUnsafeBufferPointer { graph.restore(vector: $0, level: Int(value[0]), removed: value[1] != 0,
                                                               attributes: Array(value[(2 + dims * 4)...])) }
                expected += 1
                return true
            }
        }
        if let failure { throw failure }
        try Folio_storage { () throws(StorageError) in
            try snapshot.visit(descriptor.store, .prefix([2]), limit: nil) { key, value in
                guard key.count == 6 else { return true }
                var ids: [UInt32] = []
                ids.reserveCapacity(value.count / 4)
                var o = 0
                while o + 4 <= value.count {
                    ids.append(UInt32(value[o]) | UInt32(value[o + 1]) << 8 | UInt32(value[o + 2]) << 16 | UInt32(value[o + 3]) << 24)
                    o += 4
                }
                graph.restoreLinks(VectorStoreKeys.decodeID(key, at: 1), level: Int(key[5]), ids)
                return true
            }
            try snapshot.visit(descriptor.store, .prefix([3]), limit: nil) { key, value in
                guard value.count == 4 else { return true }
                nodes[Array(key.dropFirst())] = VectorStoreKeys.decodeID(value, at: 0)
                return true
            }
            if let meta = try snapshot.get(descriptor.store, VectorStoreKeys.meta), meta.count == 5 {
                let id = meta.withUnsafeBufferPointer { VectorStoreKeys.decodeID($0, at: 0) }
                graph.restoreEntry(id == UInt32.max ? nil : id, maxLevel: Int(meta[4]))
            }
        }
    }
}

/// Keys and values of a vector index's store (see the top of this file).
enum VectorStoreKeys {
    static let meta: [UInt8] = [0]

    static func id(_ n: UInt32) -> [UInt8] { [UInt8(n >> 24), UInt8(n >> 16 & 0xFF), UInt8(n >> 8 & 0xFF), UInt8(n & 0xFF)] }
    static func node(_ n: UInt32) -> [UInt8] { [1] + id(n) }
    static func links(_ n: UInt32, _ level: Int) -> [UInt8] { [2] + id(n) + [UInt8(level)] }
    static func record(_ key: [UInt8]) -> [UInt8] { [3] + key }

    static func decodeID(_ b: UnsafeBufferPointer<UInt8>, at o: Int) -> UInt32 {
        UInt32(b[o]) << 24 | UInt32(b[o + 1]) << 16 | UInt32(b[o + 2]) << 8 | UInt32(b[o + 3])
    }

    /// The full vector in a node record (its caller checked the record's length).
    static func vector(_ value: UnsafeBufferPointer<UInt8>, dimensions: Int) -> [Float] {
        [Float](unsafeUninitializedCapacity: dimensions) { out, n in
            copyVector(value, into: out)
            n = dimensions
        }
    }

    /// Copies a node record's full vector into `out` (`out.count` floats; the caller checked
    /// the record's length).
    static func copyVector(_ value: UnsafeBufferPointer<UInt8>, into out: UnsafeMutableBufferPointer<Float>) {
        UnsafeMutableRawBufferPointer(out).copyMemory(from: UnsafeRawBufferPointer(UnsafeBufferPointer(rebasing: value[2..<(2 + out.count * 4)])))
        #if _endian(big)
        for i in 0..<out.count { out[i] = Float(bitPattern: UInt32(littleEndian: out[i].bitPattern)) }
        #endif
    }

    static func linkBytes(_ ids: [UInt32]) -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(ids.count * 4)
        for n in ids { withUnsafeBytes(of: n.littleEndian) { out.append(contentsOf: $0) } }
        return out
    }
}

/// The engine's vector indexes: their in-memory states, loaded on first use.
final class VectorIndexRegistry: Sendable {
    private let states = Locked<[String: VectorIndexState]>([:])
    /// Record stores that have (or had) vector indexes: a superset, checked on every write.
    private let watched = Locked<Set<String>>([])
    /// Loads run one at a time, so a graph is read once.
    private let loading = Locked<Void>(())
    let catalog: CatalogBox

    init(catalog: CatalogBox, collections: some Sequence<CollectionEntry>) {
        self.catalog = catalog
        watched.withLock { w in for e in collections where !e.searchIndexes.isEmpty { w.insert(e.recordStore) } }
    }

    func watch(_ recordStore: String) { _ = watched.withLock { $0.insert(recordStore) } }
    func watches(_ store: String) -> Bool { watched.withLock { $0.contains(store) } }

    func install(_ state: VectorIndexState) { states.withLock { $0[state.descriptor.store] = state } }
    func forget(_ store: String) { _ = states.withLock { $0.removeValue(forKey: store) } }
    func forgetAll() { states.withLock { $0.removeAll() } }

    /// The state of an index, read from `source` the first time.
    func state(_ descriptor: SearchIndexDescriptor, source: () throws -> any StorageSnapshot) throws -> VectorIndexState {
        if let s = states.withLock({ $0[descriptor.store] }), s.descriptor == descriptor { return s }
        return try loading.withLock { _ in
            if let s = states.withLock({ $0[descriptor.store] }), s.descriptor == descriptor { return s }
            let state = try VectorIndexState(descriptor)
            try state.load(from: try source())
            install(state)
            return state
        }
    }

    /// A record changed (CountingTransaction calls this for watched stores): each vector
    /// index of its collection follows. Returns how to take the changes back.
    func recordChanged(_ store: String, _ key: [UInt8], old: [UInt8]?, new: [UInt8]?,
                       _ txn: any StorageWriteTransaction) throws -> [() -> Void] {
        guard let entry = catalog.withLock({ $0.collections.values.first { $0.recordStore == store } }),
              !entry.searchIndexes.isEmpty else { return [] }
        let oldDocument = try old.map { bytes throws(FolioError) in try Folio_document(bytes) }
        let newDocument = try new.map { bytes throws(FolioError) in try Folio_document(bytes) }
        var undo: [() -> Void] = []
        for descriptor in entry.searchIndexes {
            let state = try state(descriptor) { WriterView(txn) }
            if let u = try state.recordChanged(key, old: oldDocument, new: newDocument, txn) { undo.append(u) }
        }
        return undo
    }
}

/// The writer's transaction as a snapshot to load a graph from (it sees its own writes).
private final class WriterView: StorageSnapshot, @unchecked Sendable {
    let txn: any StorageWriteTransaction
    init(_ txn: any StorageWriteTransaction) { self.txn = txn }
    func get(_ store: String, _ key: [UInt8]) throws(StorageError) -> [UInt8]? { try txn.get(store, key) }
    func scan(_ store: String, _ range: KeyRange, reverse: Bool, limit: Int?) throws(StorageError) -> [(key: [UInt8], value: [UInt8])] {
        try txn.scan(store, range, reverse: reverse, limit: limit)
    }
    func visit(_ store: String, _ range: KeyRange, limit: Int?,
               _ body: (UnsafeBufferPointer<UInt8>, UnsafeBufferPointer<UInt8>) -> Bool) throws(StorageError) -> [UInt8]? {
        try txn.visit(store, range, limit: limit, body)
    }
    func storeNames() throws(StorageError) -> [String] { try txn.storeNames() }
    func count(_ store: String) throws(StorageError) -> Int { try txn.count(store) }
    func storageBytes(_ store: String) throws(StorageError) -> Int { try txn.storageBytes(store) }
    func close() {}
}
