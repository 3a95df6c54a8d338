// What makes a ring or a polygon invalid for MongoDB (S2's loop and polygon validity): a
// vertex repeated, two edges crossing, holes outside the shell or crossing each other.
//
// Crossings are found with a sweep over the edges' bounding boxes in 3-space (an arc bulges
// past its chord by 1 - cos(θ/2), so each box is padded by that), sorted by their low x: only
// boxes that overlap are tested, so a real-world ring of 100,000 vertices costs about
// n log n. The pair tests are budgeted (`GeoLimits.maximumEdgeComparisons`).

enum LoopValidation {
    struct Box {
        var lo: Point3, hi: Point3
        var index: Int
        init(_ a: Point3, _ b: Point3, _ index: Int) {
            let pad = 1 - (0.5 * (1 + max(-1, min(1, a.dot(b))))).squareRoot() + 1e-12
            lo = Point3(min(a.x, b.x) - pad, min(a.y, b.y) - pad, min(a.z, b.z) - pad)
            hi = Point3(max(a.x, b.x) + pad, max(a.y, b.y) + pad, max(a.z, b.z) + pad)
            self.index = index
        }
        func overlaps(_ o: Box) -> Bool {
            lo.y <= o.hi.y && o.lo.y <= hi.y && lo.z <= o.hi.z && o.lo.z <= hi.z
        }
    }

    /// The pairs of edges (as indexes into `edges`) whose boxes overlap, visited until `body`
    /// returns true; nil when the budget ran out.
    static func overlappingPairs(_ edges: [(Point3, Point3)], _ body: (Int, Int) -> Bool) -> Bool? {
        var boxes = edges.enumerated().map { Box($1.0, $1.1, $0) }
        boxes.sort { $0.lo.x < $1.lo.x }
        var active: [Box] = []
        var comparisons = 0
        for box in boxes {
            active.removeAll { $0.hi.x < box.lo.x }
            for other in active where other.overlaps(box) {
                comparisons += 1
                if comparisons > GeoLimits.maximumEdgeComparisons { return nil }
                if body(min(other.index, box.index), max(other.index, box.index)) { return true }
            }
            active.append(box)
        }
        return false
    }

    /// Why a ring is not a valid loop, or nil.
    static func problem(_ vertices: [Point3]) -> String? {
        var seen: [Point3: Int] = [:]
        for (i, v) in vertices.enumerated() {
            if let j = seen[v] { return "Duplicate vertices: \(j) and \(i)" }
            seen[v] = i
        }
        let n = vertices.count
        let edges = (0..<n).map { (vertices[$0], vertices[($0 + 1) % n]) }
        var found: (Int, Int)?
        let result = overlappingPairs(edges) { i, j in
            // Adjacent edges share a vertex; only a proper crossing of other pairs counts.
            if j == i + 1 || (i == 0 && j == n - 1) { return false }
            if Sphere.edgesCross(edges[i].0, edges[i].1, edges[j].0, edges[j].1) { found = (i, j); return true }
            return false
        }
        if result == nil { return "Loop is too complex to validate (more than \(GeoLimits.maximumEdgeComparisons) edge pairs overlap)" }
        if let (i, j) = found { return "Edges \(i) and \(j) cross" }
        return nil
    }

    /// Whether `inner` lies within `outer` (its vertices inside, no edges crossing).
    static func contains(_ outer: Loop, _ inner: Loop) -> Bool {
        if !inner.vertices.allSatisfy(outer.contains) { return false }
        return !loopsCross(outer, inner)
    }

    static func loopsCross(_ a: Loop, _ b: Loop) -> Bool {
        let edges = (0..<a.edgeCount).map(a.edge) + (0..<b.edgeCount).map(b.edge)
        let split = a.edgeCount
        let result = overlappingPairs(edges) { i, j in
            guard i < split && j >= split else { return false }
            return Sphere.edgesCross(edges[i].0, edges[i].1, edges[j].0, edges[j].1)
        }
        return result ?? true
    }

    /// Why a polygon's holes do not form a valid polygon (two crossing, one inside another).
    static func holesProblem(_ holes: [Loop]) -> String? {
        if holes.count < 2 { return nil }
        for i in 0..<holes.count {
            for j in (i + 1)..<holes.count {
                if loopsCross(holes[i], holes[j]) { return "Loop \(i + 1) crosses loop \(j + 1)" }
                if holes[j].vertices.allSatisfy(holes[i].contains) || holes[i].vertices.allSatisfy(holes[j].contains) {
                    return "Polygon interior loops cannot be nested"
                }
            }
            if i > 64 { break }
        }
        return nil
    }
}
