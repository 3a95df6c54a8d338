import CVectorKernels
#if canImport(Glibc)
import Glibc
#endif
import Synchronization
import FolioLocks

// A hierarchical navigable small-world graph (Malkov & Yashunin, 2016) over float32 vectors,
// kept in memory as float32 or quantized codes (VectorCodec).
//
// Layout, for a walk that touches little memory: codes live in one contiguous buffer
// (node i at i·stride), level-0 links in another (node i's count then up to `m0` ids at
// i·(m0+1)), upper-level links, which few nodes have, in per-node arrays. Nodes are dense
// integers in insertion order; a removed node stays as a tombstone that still routes walks
// but is never a result (as hnswlib's markDelete), so removal never needs the graph rebuilt.
//
// Every change can be journaled (`journal`): the undo records a caller needs to take back
// a write that did not commit (a failed statement, a rolled-back storage transaction), and
// the (node, level) pairs whose links changed, which the caller persists. The graph is not
// locked: one writer at a time, and readers that exclude it (the engine's read-write lock).

public final class HNSWGraph: @unchecked Sendable {
    // @unchecked: callers serialize writers against readers (see above).

    /// One change, as its undo needs it.
    public enum Undo: Sendable {
        case appended
        case links(node: UInt32, level: Int, old: [UInt32])
        case entry(node: UInt32?, maxLevel: Int)
        case removed(node: UInt32)
        case attributes(node: UInt32, old: [UInt8])
    }

    /// What a change touched, for the caller to persist and to undo.
    public struct Journal {
        public var undo: [Undo] = []
        /// (node, level) pairs whose link lists changed.
        public var links: [(node: UInt32, level: Int)] = []
        public init() {}
    }

    public let dimensions: Int
    public let similarity: VectorSimilarity
    public var quantization: VectorQuantization { codec.quantization }
    let codec: VectorCodec
    /// Links per node above level 0, and at level 0.
    public let m: Int
    public let m0: Int
    /// Candidates kept while linking a new node.
    public let efConstruction: Int
    private let levelFactor: Double

    private var codes: UnsafeMutableRawPointer
    private var level0: UnsafeMutablePointer<UInt32>
    private var capacity: Int
    /// Links above level 0: `upper[node][level - 1]`.
    private var upper: [[[UInt32]]] = []
    private var levels: [UInt8] = []
    /// 1 for a tombstone (grown with `codes`; read in the walk without exclusivity checks).
    private var removedFlags: UnsafeMutablePointer<UInt8>
    /// Per-node bytes the caller attaches (the engine: its record key and filter values).
    private var attributeBytes: [[UInt8]] = []
    public private(set) var count = 0
    public private(set) var removedCount = 0
    public private(set) var entryPoint: UInt32?
    public private(set) var maxLevel = 0
    private var random = SplitMix64(seed: 0x9E37_79B9_7F4A_7C15)
    private let visitedPool = Locked<[VisitedSet]>([])

    public init(dimensions: Int, similarity: VectorSimilarity, quantization: VectorQuantization = .none,
                m: Int = 16, efConstruction: Int = 100) {
        precondition(dimensions > 0 && m >= 2)
        self.dimensions = dimensions
        self.similarity = similarity
        self.codec = VectorCodec(quantization, dimensions: dimensions, similarity: similarity)
        self.m = m
        self.m0 = 2 * m
        self.efConstruction = efConstruction
        self.levelFactor = 1 / log(Double(m))
        capacity = 16
        codes = Self.allocateLarge(bytes: capacity * codec.stride)
        level0 = Self.allocateLarge(bytes: capacity * (2 * m + 1) * 4).bindMemory(to: UInt32.self, capacity: capacity * (2 * m + 1))
        removedFlags = .allocate(capacity: capacity)
    }

    deinit {
        folio_large_free(codes)
        folio_large_free(UnsafeMutableRawPointer(level0))
        removedFlags.deallocate()
    }

    /// Memory the walk reads at random: huge pages from 2 MiB up (see folio_large_alloc).
    static func allocateLarge(bytes: Int) -> UnsafeMutableRawPointer {
        guard let p = folio_large_alloc(bytes) else { fatalError("out of memory for a vector index of \(bytes) bytes") }
        return p
    }

    /// Nodes that are not tombstones.
    public var liveCount: Int { count - removedCount }

    public func isRemoved(_ node: UInt32) -> Bool { removedFlags[Int(node)] != 0 }
    public func attributes(_ node: UInt32) -> [UInt8] { attributeBytes[Int(node)] }
    public func level(_ node: UInt32) -> Int { Int(levels[Int(node)]) }

    /// The vector a node's code stands for (normalized for cosine): the vector as added when
    /// not quantized, an approximation otherwise.
    public func decodedVector(_ node: UInt32) -> [Float] {
        [Float](unsafeUninitializedCapacity: dimensions) { buffer, n in
            codec.decode(code(node), into: buffer.baseAddress!)
            n = dimensions
        }
    }

    /// Bytes of vector data the graph holds in memory per node.
    public var bytesPerVector: Int { codec.stride }

    /// The links of a node at a level.
    public func links(_ node: UInt32, level: Int) -> [UInt32] {
        if level == 0 {
            let p = level0 + Int(node) * (m0 + 1)
            return Array(UnsafeBufferPointer(start: p + 1, count: Int(p[0])))
        }
        return upper[Int(node)][level - 1]
    }

    // MARK: Reading persisted nodes

    /// Appends a node as it was persisted (loading; no linking, no journal).
    public func restore(vector: UnsafeBufferPointer<Float>, level: Int, removed: Bool, attributes: [UInt8]) {
        precondition(vector.count == dimensions)
        let node = appendStorage(vector, level: level, attributes: attributes)
        if removed {
            removedFlags[Int(node)] = 1
            removedCount += 1
        }
    }

    /// Sets a node's links as persisted (loading).
    public func restoreLinks(_ node: UInt32, level: Int, _ ids: [UInt32]) {
        guard Int(node) < count, level <= self.level(node) else { return }
        setLinks(node, level, ids.filter { Int($0) < count && $0 != node })
    }

    public func restoreEntry(_ node: UInt32?, maxLevel: Int) {
        if let node, Int(node) < count {
            entryPoint = node
            self.maxLevel = min(maxLevel, level(node))
        } else {
            entryPoint = nil
            self.maxLevel = 0
        }
    }

    // MARK: Writing

    /// Adds a vector (already normalized for cosine) and links it; returns its node.
    @discardableResult
    public func add(_ vector: UnsafeBufferPointer<Float>, attributes: [UInt8], journal: inout Journal) -> UInt32 {
        precondition(vector.count == dimensions)
        let level = randomLevel()
        let node = appendStorage(vector, level: level, attributes: attributes)
        journal.undo.append(.appended)
        for l in 0...level { journal.links.append((node, l)) }
        guard let entry = entryPoint else {
            journal.undo.append(.entry(node: nil, maxLevel: maxLevel))
            entryPoint = node
            maxLevel = level
            return node
        }
        // The walk compares the full vector with the codes (asymmetric, for quantized graphs).
        codec.withQuery(vector.baseAddress!) { q in
            var current = entry
            var currentDistance = codec.distance(q, code(current))
            if maxLevel > level {
                for l in stride(from: maxLevel, to: level, by: -1) {
                    (current, currentDistance) = greedy(q, from: current, distance: currentDistance, level: l)
                }
            }
            let visited = takeVisited()
            defer { giveBack(visited) }
            for l in stride(from: min(level, maxLevel), through: 0, by: -1) {
                var found = searchLevel(q, entries: [(currentDistance, current)], ef: efConstruction, level: l, visited: visited,
                                        accept: nil, skipRemoved: false)
                found.sort { $0.0 < $1.0 }
                // A new node takes `m` links at every level (the paper's M; level 0 holds up to
                // 2M because its neighbors' links back to it fill it up), as hnswlib does.
                let chosen = selectNeighbors(found, max: m)
                setLinks(node, l, chosen)
                for n in chosen { connect(n, to: node, level: l, journal: &journal) }
                (currentDistance, current) = found[0]
            }
        }
        if level > maxLevel {
            journal.undo.append(.entry(node: entryPoint, maxLevel: maxLevel))
            entryPoint = node
            maxLevel = level
        }
        return node
    }

    /// Makes a node a tombstone: it still routes walks but is never a result.
    public func remove(_ node: UInt32, journal: inout Journal) {
        guard removedFlags[Int(node)] == 0 else { return }
        removedFlags[Int(node)] = 1
        removedCount += 1
        journal.undo.append(.removed(node: node))
    }

    /// Replaces a node's attributes.
    public func setAttributes(_ node: UInt32, _ bytes: [UInt8], journal: inout Journal) {
        journal.undo.append(.attributes(node: node, old: attributeBytes[Int(node)]))
        attributeBytes[Int(node)] = bytes
    }

    /// Takes back journaled changes, newest first.
    public func undo(_ records: ArraySlice<Undo>) {
        for record in records.reversed() {
            switch record {
            case .appended:
                count -= 1
                upper.removeLast()
                levels.removeLast()
                if removedFlags[count] != 0 { removedCount -= 1 }
                attributeBytes.removeLast()
            case .links(let node, let level, let old):
                setLinks(node, level, old)
            case .entry(let node, let maxLevel):
                entryPoint = node
                self.maxLevel = maxLevel
            case .removed(let node):
                removedFlags[Int(node)] = 0
                removedCount -= 1
            case .attributes(let node, let old):
                attributeBytes[Int(node)] = old
            }
        }
    }

    // MARK: Searching

    /// The `k` nearest live nodes the walk finds, nearest first, keeping `ef` candidates at
    /// level 0. `accept` (a filter) is asked during the walk: rejected nodes still route,
    /// so a selective filter still yields `k` results when that many match. Distances are
    /// the walk's (approximate for a quantized graph: Hamming distances for binary).
    public func search(_ query: UnsafeBufferPointer<Float>, k: Int, ef: Int,
                       accept: ((UInt32) -> Bool)? = nil) -> [(node: UInt32, distance: Float)] {
        precondition(query.count == dimensions)
        guard let entry = entryPoint, k > 0 else { return [] }
        return codec.withQuery(query.baseAddress!) { q in
            var current = entry
            var currentDistance = codec.distance(q, code(current))
            if maxLevel > 0 {
                for l in stride(from: maxLevel, to: 0, by: -1) {
                    (current, currentDistance) = greedy(q, from: current, distance: currentDistance, level: l)
                }
            }
            let visited = takeVisited()
            defer { giveBack(visited) }
            var found = searchLevel(q, entries: [(currentDistance, current)], ef: max(ef, k), level: 0, visited: visited,
                                    accept: accept, skipRemoved: removedCount > 0)
            found.sort { $0.0 < $1.0 }
            return found.prefix(k).map { ($0.1, $0.0) }
        }
    }

    /// Every live node's distance to `query`, the `k` nearest first (one pass over the
    /// contiguous codes: exact search when the graph is not quantized).
    public func exactSearch(_ query: UnsafeBufferPointer<Float>, k: Int,
                            accept: ((UInt32) -> Bool)? = nil) -> [(node: UInt32, distance: Float)] {
        precondition(query.count == dimensions)
        guard k > 0 else { return [] }
        return codec.withQuery(query.baseAddress!) { q in
            var heap = MaxHeap(capacity: k)
            for i in 0..<count where removedFlags[i] == 0 {
                let node = UInt32(i)
                let d = codec.distance(q, codes + i &* codec.stride)
                if heap.count == k, d >= heap.top.0 { continue }
                if let accept, !accept(node) { continue }
                heap.push((d, node))
                if heap.count > k { heap.pop() }
            }
            return heap.sortedAscending().map { ($0.1, $0.0) }
        }
    }

    // MARK: Internals

    @inline(__always)
    private func code(_ node: UInt32) -> UnsafeMutableRawPointer { codes + Int(node) &* codec.stride }

    private func appendStorage(_ vector: UnsafeBufferPointer<Float>, level: Int, attributes: [UInt8]) -> UInt32 {
        if count == capacity { grow() }
        let node = UInt32(count)
        codec.encode(vector.baseAddress!, into: code(node))
        level0[count * (m0 + 1)] = 0
        upper.append(Array(repeating: [], count: level))
        levels.append(UInt8(level))
        removedFlags[count] = 0
        attributeBytes.append(attributes)
        count += 1
        return node
    }

    private func grow() {
        let newCapacity = capacity * 2
        let c = Self.allocateLarge(bytes: newCapacity * codec.stride)
        c.copyMemory(from: codes, byteCount: count * codec.stride)
        folio_large_free(codes)
        codes = c
        let l = Self.allocateLarge(bytes: newCapacity * (m0 + 1) * 4).bindMemory(to: UInt32.self, capacity: newCapacity * (m0 + 1))
        l.moveInitialize(from: level0, count: count * (m0 + 1))
        folio_large_free(UnsafeMutableRawPointer(level0))
        level0 = l
        let r = UnsafeMutablePointer<UInt8>.allocate(capacity: newCapacity)
        r.moveInitialize(from: removedFlags, count: count)
        removedFlags.deallocate()
        removedFlags = r
        capacity = newCapacity
    }

    private func randomLevel() -> Int {
        let u = Double(random.next() >> 11) * 0x1.0p-53
        let level = Int(-log(max(u, 1e-300)) * levelFactor)
        return min(level, 16)
    }

    private func setLinks(_ node: UInt32, _ level: Int, _ ids: [UInt32]) {
        if level == 0 {
            let p = level0 + Int(node) * (m0 + 1)
            let n = min(ids.count, m0)
            p[0] = UInt32(n)
            for i in 0..<n { p[1 + i] = ids[i] }
        } else {
            upper[Int(node)][level - 1] = ids
        }
    }

    /// Adds `node` to `n`'s links at `level`, pruning them with the heuristic when full.
    private func connect(_ n: UInt32, to node: UInt32, level: Int, journal: inout Journal) {
        let old = links(n, level: level)
        let limit = level == 0 ? m0 : m
        journal.undo.append(.links(node: n, level: level, old: old))
        journal.links.append((n, level))
        if old.count < limit {
            setLinks(n, level, old + [node])
            return
        }
        var candidates = codec.withQuery(code: code(n)) { q in (old + [node]).map { (codec.distance(q, code($0)), $0) } }
        candidates.sort { $0.0 < $1.0 }
        setLinks(n, level, selectNeighbors(candidates, max: limit))
    }

    /// The neighbor-selection heuristic (the paper's algorithm 4): a candidate is kept when it
    /// is nearer to the base than to every neighbor kept so far, so links spread in all
    /// directions. `candidates` are sorted nearest first.
    private func selectNeighbors(_ candidates: [(Float, UInt32)], max limit: Int) -> [UInt32] {
        if candidates.count <= limit { return candidates.map(\.1) }
        var kept: [(Float, UInt32)] = []
        kept.reserveCapacity(limit)
        for c in candidates {
            if kept.count >= limit { break }
            let good = codec.withQuery(code: code(c.1)) { q in !kept.contains { codec.distance(q, code($0.1)) < c.0 } }
            if good { kept.append(c) }
        }
        return kept.map(\.1)
    }

    /// Greedy descent at one upper level.
    private func greedy(_ q: VectorCodec.Query, from start: UInt32, distance d0: Float, level: Int) -> (UInt32, Float) {
        var current = start, best = d0
        var changed = true
        while changed {
            changed = false
            for n in upper[Int(current)][level - 1] {
                let d = codec.distance(q, code(n))
                if d < best {
                    best = d
                    current = n
                    changed = true
                }
            }
        }
        return (current, best)
    }

    /// Best-first search of one level keeping `ef` results. Nodes `accept` refuses, and
    /// tombstones when `skipRemoved`, are walked through but not kept.
    private func searchLevel(_ q: VectorCodec.Query, entries: [(Float, UInt32)], ef: Int, level: Int, visited: VisitedSet,
                             accept: ((UInt32) -> Bool)?, skipRemoved: Bool) -> [(Float, UInt32)] {
        visited.reset(count: count)
        let marks = visited.marks, generation = visited.generation
        let codes = self.codes, codec = self.codec, stride = codec.stride, level0 = self.level0, stride0 = m0 + 1
        let removed = removedFlags
        var candidates = MinHeap(capacity: ef * 2)
        var results = MaxHeap(capacity: ef + 1)
        for (d, n) in entries {
            marks[Int(n)] = generation
            candidates.push((d, n))
            if !(skipRemoved && removed[Int(n)] != 0) && (accept?(n) ?? true) { results.push((d, n)) }
        }
        var bound = results.count > 0 ? results.top.0 : Float.infinity

        func consider(_ n: UInt32) {
            let i = Int(n)
            if marks[i] == generation { return }
            marks[i] = generation
            let d = codec.distance(q, codes + i &* stride)
            guard results.count < ef || d < bound else { return }
            candidates.push((d, n))
            if skipRemoved && removed[i] != 0 { return }
            if let accept, !accept(n) { return }
            results.push((d, n))
            if results.count > ef { results.pop() }
            bound = results.top.0
        }

        while candidates.count > 0 {
            let (dc, c) = candidates.pop()
            if dc > bound && results.count >= ef { break }
            if level == 0 {
                let p = level0 + Int(c) &* stride0
                let n = Int(p[0])
                if n > 0 { folio_prefetch(codes + Int(p[1]) &* stride) }
                var j = 1
                while j <= n {
                    if j < n { folio_prefetch(codes + Int(p[j &+ 1]) &* stride) }
                    consider(p[j])
                    j &+= 1
                }
            } else {
                for n in upper[Int(c)][level - 1] { consider(n) }
            }
        }
        if results.count == 0, !skipRemoved, accept == nil, let first = entries.first { return [first] }
        return results.items
    }

    private func takeVisited() -> VisitedSet {
        visitedPool.withLock { $0.popLast() } ?? VisitedSet()
    }

    private func giveBack(_ v: VisitedSet) {
        visitedPool.withLock { if $0.count < 64 { $0.append(v) } }
    }
}

/// Marks of the nodes a walk has seen, reset in O(1) by moving to the next generation.
final class VisitedSet: @unchecked Sendable {
    // @unchecked: used by one walk at a time (taken from and given back to a pool).
    private(set) var marks = UnsafeMutablePointer<UInt16>.allocate(capacity: 1024)
    private var capacity = 1024
    private(set) var generation: UInt16 = 0

    init() { marks.initialize(repeating: 0, count: capacity) }
    deinit { marks.deallocate() }

    func reset(count: Int) {
        if capacity < count {
            marks.deallocate()
            capacity = count * 2
            marks = .allocate(capacity: capacity)
            marks.initialize(repeating: 0, count: capacity)
            generation = 0
        }
        generation &+= 1
        if generation == 0 {
            marks.update(repeating: 0, count: capacity)
            generation = 1
        }
    }
}

/// Which of two distances a heap keeps nearer its top (a type, so each heap is specialized at
/// compile time and the walk's inner loop has no branch on the direction).
protocol HeapOrder {
    static func above(_ a: Float, _ b: Float) -> Bool
}

/// Smallest distance on top: the walk's candidates.
enum NearestFirst: HeapOrder {
    @inline(__always) static func above(_ a: Float, _ b: Float) -> Bool { a < b }
}

/// Largest distance on top: the results, whose worst is evicted first.
enum FarthestFirst: HeapOrder {
    @inline(__always) static func above(_ a: Float, _ b: Float) -> Bool { a > b }
}

/// A binary heap of (distance, node).
struct DistanceHeap<Order: HeapOrder> {
    private(set) var items: [(Float, UInt32)] = []
    init(capacity: Int) { items.reserveCapacity(capacity) }
    var count: Int { items.count }
    var top: (Float, UInt32) { items[0] }

    mutating func push(_ e: (Float, UInt32)) {
        items.append(e)
        var i = items.count - 1
        while i > 0 {
            let p = (i - 1) / 2
            if !Order.above(items[i].0, items[p].0) { break }
            items.swapAt(p, i)
            i = p
        }
    }

    @discardableResult
    mutating func pop() -> (Float, UInt32) {
        let top = items[0]
        let last = items.removeLast()
        if !items.isEmpty {
            items[0] = last
            var i = 0
            let n = items.count
            while true {
                let l = 2 * i + 1, r = l + 1
                var s = i
                if l < n && Order.above(items[l].0, items[s].0) { s = l }
                if r < n && Order.above(items[r].0, items[s].0) { s = r }
                if s == i { break }
                items.swapAt(s, i)
                i = s
            }
        }
        return top
    }

    func sortedAscending() -> [(Float, UInt32)] { items.sorted { $0.0 < $1.0 || ($0.0 == $1.0 && $0.1 < $1.1) } }
}

typealias MinHeap = DistanceHeap<NearestFirst>
typealias MaxHeap = DistanceHeap<FarthestFirst>

/// A small, fast, seedable generator for node levels (levels need not be unpredictable).
struct SplitMix64 {
    private var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE5_E9B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

/// The `k` smallest distances offered, for callers ranking outside a graph (the engine's
/// exact search over stored vectors and its rescoring of a quantized graph's candidates).
public struct NearestK<Item> {
    private var heap: MaxHeap
    private var items: [Item] = []
    public let k: Int

    public init(_ k: Int) {
        self.k = k
        heap = MaxHeap(capacity: k + 1)
    }

    /// Whether a distance would be kept (ask before building an expensive item).
    public func admits(_ distance: Float) -> Bool { k > 0 && (heap.count < k || distance < heap.top.0) }

    public mutating func offer(_ distance: Float, _ item: Item) {
        guard admits(distance) else { return }
        items.append(item)
        heap.push((distance, UInt32(items.count - 1)))
        if heap.count > k { heap.pop() }
    }

    /// The kept items, nearest first (ties in the order they were offered).
    public func sorted() -> [(distance: Float, item: Item)] {
        heap.sortedAscending().map { ($0.0, items[Int($0.1)]) }
    }
}
