import Testing
@testable import FolioVector

/// Random vectors from a fixed seed, so failures repeat.
private func randomVectors(_ n: Int, _ dims: Int, seed: UInt64) -> [[Float]] {
    var g = SplitMix64(seed: seed)
    return (0..<n).map { _ in (0..<dims).map { _ in Float(Double(g.next() >> 11) * 0x1.0p-53) * 2 - 1 } }
}

private func build(_ vectors: [[Float]], _ similarity: VectorSimilarity, _ quantization: VectorQuantization = .none) -> HNSWGraph {
    let g = HNSWGraph(dimensions: vectors[0].count, similarity: similarity, quantization: quantization)
    var journal = HNSWGraph.Journal()
    for var v in vectors {
        if similarity.normalizes { normalize(&v) }
        v.withUnsafeBufferPointer { _ = g.add($0, attributes: [], journal: &journal) }
    }
    return g
}

private func recall(_ g: HNSWGraph, _ queries: [[Float]], k: Int, ef: Int, accept: ((UInt32) -> Bool)? = nil) -> Double {
    var hits = 0, total = 0
    for var q in queries {
        if g.similarity.normalizes { normalize(&q) }
        let exact = Set(q.withUnsafeBufferPointer { g.exactSearch($0, k: k, accept: accept) }.map(\.node))
        let found = q.withUnsafeBufferPointer { g.search($0, k: k, ef: ef, accept: accept) }.map(\.node)
        hits += found.filter(exact.contains).count
        total += exact.count
    }
    return Double(hits) / Double(max(total, 1))
}

/// Recall@k of a quantized graph's walk (`ef` candidates) rescored with the full vectors, as
/// the engine does, against exact search over the full vectors.
private func rescoredRecall(_ g: HNSWGraph, _ vectors: [[Float]], _ queries: [[Float]], k: Int, ef: Int) -> Double {
    let full = vectors.map { v -> [Float] in var v = v; if g.similarity.normalizes { normalize(&v) }; return v }
    func distance(_ q: [Float], _ v: [Float]) -> Float {
        q.withUnsafeBufferPointer { a in v.withUnsafeBufferPointer { b in g.similarity.distance(a.baseAddress!, b.baseAddress!, a.count) } }
    }
    var hits = 0
    for var q in queries {
        if g.similarity.normalizes { normalize(&q) }
        let exact = Set(full.indices.sorted { distance(q, full[$0]) < distance(q, full[$1]) }.prefix(k))
        let candidates = q.withUnsafeBufferPointer { g.search($0, k: ef, ef: ef) }.map { Int($0.node) }
        let rescored = candidates.sorted { distance(q, full[$0]) < distance(q, full[$1]) }.prefix(k)
        hits += rescored.filter(exact.contains).count
    }
    return Double(hits) / Double(queries.count * k)
}

@Suite struct HNSWGraphTests {
    @Test(arguments: VectorSimilarity.allCases)
    func scalarQuantizedWalkRescoredKeepsRecall(_ similarity: VectorSimilarity) {
        let vectors = randomVectors(2000, 32, seed: 21)
        let g = build(vectors, similarity, .scalar)
        #expect(g.bytesPerVector == 48)  // 12 header bytes + 32 codes, against 128 as float32
        let r = rescoredRecall(g, vectors, randomVectors(30, 32, seed: 22), k: 10, ef: 100)
        #expect(r >= 0.95, "recall@10 \(r)")
    }

    @Test(arguments: [VectorSimilarity.cosine, .dotProduct])
    func binaryQuantizedWalkRescoredFindsMostNeighbours(_ similarity: VectorSimilarity) {
        let vectors = randomVectors(2000, 128, seed: 23)
        let g = build(vectors, similarity, .binary)
        #expect(g.bytesPerVector == 16)
        let r = rescoredRecall(g, vectors, randomVectors(30, 128, seed: 24), k: 10, ef: 200)
        #expect(r >= 0.8, "recall@10 \(r)")
    }

    @Test func scalarCodesStayWithinHalfAStep() {
        let codec = VectorCodec(.scalar, dimensions: 37, similarity: .euclidean)
        let code = UnsafeMutableRawPointer.allocate(byteCount: codec.stride, alignment: 8)
        defer { code.deallocate() }
        for v in randomVectors(20, 37, seed: 25) + [[Float](repeating: 0.5, count: 37)] {
            v.withUnsafeBufferPointer { codec.encode($0.baseAddress!, into: code) }
            let step = code.load(fromByteOffset: 4, as: Float.self)
            var back = [Float](repeating: 0, count: 37)
            back.withUnsafeMutableBufferPointer { codec.decode(code, into: $0.baseAddress!) }
            for i in 0..<37 { #expect(abs(back[i] - v[i]) <= step / 2 + 1e-6) }
            // The walk's distance to a code is the exact distance to the decoded vector.
            let q = randomVectors(1, 37, seed: 26)[0]
            let exact = zip(q, back).reduce(Float(0)) { $0 + ($1.0 - $1.1) * ($1.0 - $1.1) }
            let walk = q.withUnsafeBufferPointer { p in codec.withQuery(p.baseAddress!) { codec.distance($0, code) } }
            #expect(abs(walk - exact) <= 1e-3 * max(exact, 1))
        }
    }

    @Test func binaryCodesCountDifferingSigns() {
        let codec = VectorCodec(.binary, dimensions: 70, similarity: .cosine)
        let code = UnsafeMutableRawPointer.allocate(byteCount: codec.stride, alignment: 8)
        defer { code.deallocate() }
        let (a, b) = (randomVectors(1, 70, seed: 27)[0], randomVectors(1, 70, seed: 28)[0])
        a.withUnsafeBufferPointer { codec.encode($0.baseAddress!, into: code) }
        let differing = zip(a, b).filter { ($0.0 > 0) != ($0.1 > 0) }.count
        let walk = b.withUnsafeBufferPointer { p in codec.withQuery(p.baseAddress!) { codec.distance($0, code) } }
        #expect(walk == Float(differing))
        var back = [Float](repeating: 0, count: 70)
        back.withUnsafeMutableBufferPointer { codec.decode(code, into: $0.baseAddress!) }
        #expect(back == a.map { $0 > 0 ? 1 : -1 })
    }

    @Test(arguments: VectorSimilarity.allCases)
    func recallAgainstExactSearch(_ similarity: VectorSimilarity) {
        let g = build(randomVectors(3000, 24, seed: 1), similarity)
        let r = recall(g, randomVectors(50, 24, seed: 2), k: 10, ef: 100)
        #expect(r >= 0.95, "recall@10 \(r)")
    }

    @Test func exactSearchRanksByDistance() {
        let vectors: [[Float]] = [[0, 0], [1, 0], [3, 0], [0, 2]]
        let g = build(vectors, .euclidean)
        let out = [Float(0.9), 0].withUnsafeBufferPointer { g.exactSearch($0, k: 3) }
        #expect(out.map(\.node) == [1, 0, 2])
        #expect(abs(out[0].distance - 0.01) < 1e-6)
        #expect(VectorSimilarity.euclidean.score(distance: out[0].distance) == 1 / (1 + out[0].distance))
    }

    @Test func aSelectiveFilterStillFillsTheResults() {
        let g = build(randomVectors(3000, 16, seed: 3), .euclidean)
        // One node in a hundred passes.
        let accept: (UInt32) -> Bool = { $0 % 100 == 7 }
        let q = randomVectors(1, 16, seed: 4)[0]
        let found = q.withUnsafeBufferPointer { g.search($0, k: 10, ef: 100, accept: accept) }
        #expect(found.count == 10)
        #expect(found.allSatisfy { accept($0.node) })
        #expect(recall(g, randomVectors(20, 16, seed: 5), k: 10, ef: 100, accept: accept) >= 0.95)
    }

    @Test func tombstonesRouteButAreNeverResults() {
        let vectors = randomVectors(500, 8, seed: 6)
        let g = build(vectors, .euclidean)
        var journal = HNSWGraph.Journal()
        for n in stride(from: 0, to: 500, by: 2) { g.remove(UInt32(n), journal: &journal) }
        #expect(g.liveCount == 250)
        for q in randomVectors(10, 8, seed: 7) {
            let found = q.withUnsafeBufferPointer { g.search($0, k: 10, ef: 50) }
            #expect(found.count == 10)
            #expect(found.allSatisfy { $0.node % 2 == 1 })
        }
    }

    @Test func undoTakesBackAddsLinksAndRemovals() {
        let vectors = randomVectors(300, 8, seed: 8)
        let g = build(Array(vectors.prefix(200)), .dotProduct)
        let before = (0..<200).map { n in (0...g.level(UInt32(n))).map { g.links(UInt32(n), level: $0) } }
        let entry = g.entryPoint, maxLevel = g.maxLevel
        var journal = HNSWGraph.Journal()
        for v in vectors.suffix(100) { v.withUnsafeBufferPointer { _ = g.add($0, attributes: [1], journal: &journal) } }
        g.remove(3, journal: &journal)
        g.setAttributes(4, [9], journal: &journal)
        #expect(g.count == 300)
        #expect(!journal.links.isEmpty)
        g.undo(journal.undo[...])
        #expect(g.count == 200 && g.liveCount == 200)
        #expect(g.entryPoint == entry && g.maxLevel == maxLevel)
        #expect(g.attributes(4) == [])
        let after = (0..<200).map { n in (0...g.level(UInt32(n))).map { g.links(UInt32(n), level: $0) } }
        #expect(after == before)
    }

    @Test func restoredGraphAnswersAsTheOriginal() {
        let g = build(randomVectors(800, 12, seed: 9), .cosine)
        let copy = HNSWGraph(dimensions: 12, similarity: .cosine)
        for n in 0..<g.count {
            g.decodedVector(UInt32(n)).withUnsafeBufferPointer {
                copy.restore(vector: $0, level: g.level(UInt32(n)), removed: false, attributes: [])
            }
        }
        for n in 0..<g.count {
            for l in 0...g.level(UInt32(n)) { copy.restoreLinks(UInt32(n), level: l, g.links(UInt32(n), level: l)) }
        }
        copy.restoreEntry(g.entryPoint, maxLevel: g.maxLevel)
        for var q in randomVectors(10, 12, seed: 10) {
            normalize(&q)
            let a = q.withUnsafeBufferPointer { g.search($0, k: 5, ef: 40) }.map(\.node)
            let b = q.withUnsafeBufferPointer { copy.search($0, k: 5, ef: 40) }.map(\.node)
            #expect(a == b)
        }
    }

    @Test func kernelsMatchScalarArithmetic() {
        for n in [1, 7, 8, 15, 16, 17, 33, 384] {
            let a = randomVectors(1, n, seed: UInt64(n))[0], b = randomVectors(1, n, seed: UInt64(n) + 100)[0]
            var dot: Double = 0, l2: Double = 0
            for i in 0..<n {
                dot += Double(a[i]) * Double(b[i])
                l2 += Double(a[i] - b[i]) * Double(a[i] - b[i])
            }
            let fd = a.withUnsafeBufferPointer { x in b.withUnsafeBufferPointer { y in dotProduct(x.baseAddress!, y.baseAddress!, n) } }
            let fl = a.withUnsafeBufferPointer { x in b.withUnsafeBufferPointer { y in squaredEuclidean(x.baseAddress!, y.baseAddress!, n) } }
            #expect(abs(Double(fd) - dot) < 1e-4 * Double(n))
            #expect(abs(Double(fl) - l2) < 1e-4 * Double(n))
        }
    }

    @Test func normalizeRefusesZeroAndNonFiniteVectors() {
        var zero: [Float] = [0, 0, 0]
        #expect(!normalize(&zero))
        var inf: [Float] = [.infinity, 1]
        #expect(!normalize(&inf))
        var v: [Float] = [3, 4]
        #expect(normalize(&v) && abs(v[0] - 0.6) < 1e-6 && abs(v[1] - 0.8) < 1e-6)
    }
}
