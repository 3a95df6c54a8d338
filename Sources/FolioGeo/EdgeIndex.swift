// An index of a large loop's edges on a longitude × latitude grid, so that containment and
// crossing tests against a polygon of many vertices (a country's border, a hostile ring of a
// million) cost the edges near the question, not all of them (MongoDB answers these with
// S2ShapeIndex).
//
// Along a minor arc that does not pass a pole, longitude changes monotonically, so an edge
// covers the longitudes between its endpoints' (the short way round); its latitudes stay
// within half its length of an endpoint's. Each edge is listed in the grid cells of that box;
// edges whose box is large (or near a pole) go to a list every question reads. Containment
// counts crossings of the meridian arc from the point up to the north pole — only edges listed
// in the cells of the point's column, from its row up, can cross it — starting from whether the
// pole is inside, found once with the loop's full test.

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

final class EdgeIndex: Sendable {
    /// Loops with at least this many edges get an index.
    static let minimumEdges = 64
    /// An edge whose box covers more cells than this is read by every question instead.
    static let maximumCellsPerEdge = 64
    static let north = Point3(0, 0, 1)

    let lngLow: Double, latLow: Double
    let cellWidth: Double, cellHeight: Double
    let cols: Int, rows: Int
    /// Cell c's edges are `edges[starts[c]..<starts[c + 1]]` (c = row × cols + col), each with
    /// two flags: `notFirstRow` when the edge is also listed in the row below, `notFirstColumn`
    /// when also in the column to the left — so a visit of a block of cells sees each edge once,
    /// in the block's lowest row and leftmost column it is listed in, without a set.
    let starts: [Int32]
    let edges: [Int32]
    static let notFirstRow: Int32 = 1 << 30
    static let notFirstColumn: Int32 = 1 << 29
    static let edgeMask: Int32 = (1 << 29) - 1
    let long: [Int32]
    let northInside: Bool
    /// Whether each cell's center is inside, found column by column from the north pole down
    /// (each step crosses only the edges of two cells).
    let centerInside: [Bool]

    struct Box { var lng0: Double, lng1: Double, lat0: Double, lat1: Double }

    /// An edge's box(es): a second when it crosses the antimeridian; nil near a pole.
    static func boxes(_ a: Point3, _ b: Point3) -> (Box, Box?)? {
        let (la, pa) = a.lngLat, (lb, pb) = b.lngLat
        return boxes(a, la, pa, b, lb, pb)
    }

    static func boxes(_ a: Point3, _ la: Double, _ pa: Double, _ b: Point3, _ lb: Double, _ pb: Double) -> (Box, Box?)? {
        if abs(pa) > 89.9 || abs(pb) > 89.9 { return nil }
        // Half the arc's length (in degrees) bounds how far its latitude strays from an endpoint's.
        let d = a - b
        let pad = asin(min(1, d.dot(d).squareRoot() / 2)) * 180 / .pi + 1e-9
        let lat0 = max(-90, min(pa, pb) - pad), lat1 = min(90, max(pa, pb) + pad)
        if abs(la - lb) > 180 {
            return (Box(lng0: max(la, lb), lng1: 180, lat0: lat0, lat1: lat1), Box(lng0: -180, lng1: min(la, lb), lat0: lat0, lat1: lat1))
        }
        return (Box(lng0: min(la, lb), lng1: max(la, lb), lat0: lat0, lat1: lat1), nil)
    }

    private init(_ loop: Loop) {
        let n = loop.edgeCount
        var boxes: [(Box, Int32)] = []
        var long: [Int32] = []
        boxes.reserveCapacity(n)
        let coordinates = loop.vertices.map(\.lngLat)
        for i in 0..<n {
            let j = i + 1 == n ? 0 : i + 1
            let (a, b) = (loop.vertices[i], loop.vertices[j])
            if let (first, second) = EdgeIndex.boxes(a, coordinates[i].lng, coordinates[i].lat, b, coordinates[j].lng, coordinates[j].lat) {
                boxes.append((first, Int32(i)))
                if let second { boxes.append((second, Int32(i))) }
            } else {
                long.append(Int32(i))
            }
        }
        let lng0 = boxes.map(\.0.lng0).min() ?? -180, lng1 = boxes.map(\.0.lng1).max() ?? 180
        let lat0 = boxes.map(\.0.lat0).min() ?? -90, lat1 = boxes.map(\.0.lat1).max() ?? 90
        let side = max(1, min(1024, Int(Double(n / 4).squareRoot())))
        cols = side
        rows = side
        lngLow = lng0
        latLow = lat0
        cellWidth = max((lng1 - lng0) / Double(side), 1e-12)
        cellHeight = max((lat1 - lat0) / Double(side), 1e-12)
        var counts = [Int32](repeating: 0, count: side * side + 1)
        var placed: [(Box, Int32)] = []
        placed.reserveCapacity(boxes.count)
        for (box, i) in boxes {
            let (c0, c1, r0, r1) = EdgeIndex.range(box, lngLow: lng0, latLow: lat0, width: cellWidth, height: cellHeight, cols: side, rows: side)
            if (c1 - c0 + 1) * (r1 - r0 + 1) > EdgeIndex.maximumCellsPerEdge { long.append(i); continue }
            placed.append((box, i))
            for r in r0...r1 { for c in c0...c1 { counts[r * side + c + 1] += 1 } }
        }
        for k in 0..<(side * side) { counts[k + 1] += counts[k] }
        var fill = counts
        var list = [Int32](repeating: 0, count: Int(counts[side * side]))
        for (box, i) in placed {
            let (c0, c1, r0, r1) = EdgeIndex.range(box, lngLow: lng0, latLow: lat0, width: cellWidth, height: cellHeight, cols: side, rows: side)
            for r in r0...r1 {
                for c in c0...c1 {
                    list[Int(fill[r * side + c])] = i | (r > r0 ? EdgeIndex.notFirstRow : 0) | (c > c0 ? EdgeIndex.notFirstColumn : 0)
                    fill[r * side + c] += 1
                }
            }
        }
        starts = counts
        edges = list
        self.long = Array(Set(long)).sorted()
        northInside = loop.containsByFullScan(EdgeIndex.north)
        centerInside = []
    }

    /// The same grid with its cells' centers' containment.
    private init(_ grid: EdgeIndex, centerInside: [Bool]) {
        lngLow = grid.lngLow; latLow = grid.latLow
        cellWidth = grid.cellWidth; cellHeight = grid.cellHeight
        cols = grid.cols; rows = grid.rows
        starts = grid.starts; edges = grid.edges; long = grid.long
        northInside = grid.northInside
        self.centerInside = centerInside
    }

    static func make(_ loop: Loop) -> EdgeIndex {
        let grid = EdgeIndex(loop)
        return EdgeIndex(grid, centerInside: grid.centers(loop, north: grid.northInside))
    }

    func center(_ col: Int, _ row: Int) -> Point3 {
        Point3(lng: lngLow + (Double(col) + 0.5) * cellWidth, lat: latLow + (Double(row) + 0.5) * cellHeight)
    }

    /// Each cell center's containment: the pole's, then the crossings of the meridian arc from
    /// one center to the next one down, whose edges are listed in those two cells.
    func centers(_ loop: Loop, north: Bool) -> [Bool] {
        var out = [Bool](repeating: false, count: cols * rows)
        for c in 0..<cols {
            var inside = north
            var previous = EdgeIndex.north
            var previousLat = 90.0
            for r in stride(from: rows - 1, through: 0, by: -1) {
                let here = center(c, r)
                let lat = latLow + (Double(r) + 0.5) * cellHeight
                let lng = lngLow + (Double(c) + 0.5) * cellWidth
                _ = visit(Box(lng0: lng, lng1: lng, lat0: lat, lat1: previousLat), includeLong: true) { i in
                    let (x, y) = loop.edge(i)
                    if Loop.crosses(previous, here, x, y) { inside.toggle() }
                    return false
                }
                out[r * cols + c] = inside
                previous = here
                previousLat = lat
            }
        }
        return out
    }

    /// The columns and rows a box covers, clamped to the grid.
    static func range(_ box: Box, lngLow: Double, latLow: Double, width: Double, height: Double, cols: Int, rows: Int) -> (Int, Int, Int, Int) {
        func clamp(_ v: Double, _ count: Int) -> Int { v.isFinite ? max(0, min(count - 1, Int(max(-1, min(Double(count), v.rounded(.down)))))) : 0 }
        return (clamp((box.lng0 - lngLow) / width, cols), clamp((box.lng1 - lngLow) / width, cols),
                clamp((box.lat0 - latLow) / height, rows), clamp((box.lat1 - latLow) / height, rows))
    }

    /// Visits each edge listed in the cells of `box` (and every long edge) once, until `body`
    /// returns true.
    func visit(_ box: Box, includeLong: Bool = true, _ body: (Int) -> Bool) -> Bool {
        if includeLong { for i in long where body(Int(i)) { return true } }
        let (c0, c1, r0, r1) = EdgeIndex.range(box, lngLow: lngLow, latLow: latLow, width: cellWidth, height: cellHeight, cols: cols, rows: rows)
        for r in r0...r1 {
            for c in c0...c1 {
                let cell = r * cols + c
                for k in Int(starts[cell])..<Int(starts[cell + 1]) {
                    let e = edges[k]
                    // Seen already in a lower row or a column to the left of this block.
                    if r > r0 && e & EdgeIndex.notFirstRow != 0 { continue }
                    if c > c0 && e & EdgeIndex.notFirstColumn != 0 { continue }
                    if body(Int(e & EdgeIndex.edgeMask)) { return true }
                }
            }
        }
        return false
    }

    /// Containment: the containment of the center of the cell holding `p`, then the crossings
    /// of the arc from that center to `p` with the cell's edges (and the long ones). Outside the
    /// grid no edge is near: the pole's containment, through the column above (nil near the south
    /// pole, where arcs to the north pole are ill-defined: the caller scans).
    func contains(_ p: Point3, in loop: Loop) -> Bool? {
        let (lng, lat) = p.lngLat
        if lat < -89.9 { return nil }
        let col = ((lng - lngLow) / cellWidth).rounded(.down), row = ((lat - latLow) / cellHeight).rounded(.down)
        guard col >= 0, col < Double(cols), row >= 0, row < Double(rows) else {
            var inside = northInside
            _ = visit(Box(lng0: lng, lng1: lng, lat0: lat, lat1: 90)) { i in
                let (x, y) = loop.edge(i)
                if Loop.crosses(EdgeIndex.north, p, x, y) { inside.toggle() }
                return false
            }
            return inside
        }
        let (c, r) = (Int(col), Int(row))
        var inside = centerInside[r * cols + c]
        let from = center(c, r)
        // The arc from the center is a great circle, not a parallel: it may leave a large cell,
        // so the edges looked at are those of every cell its box touches (each once per box).
        guard let (first, second) = EdgeIndex.boxes(from, p) else { return nil }
        var crossed = Set<Int>()
        for box in [first, second] {
            guard let box else { continue }
            _ = visit(box, includeLong: second == nil || box.lng0 == first.lng0) { i in
                let (x, y) = loop.edge(i)
                if Loop.crosses(from, p, x, y) {
                    if second == nil { inside.toggle() } else { crossed.insert(i) }
                }
                return false
            }
        }
        if crossed.count % 2 == 1 { inside.toggle() }
        return inside
    }
}

extension Loop {
    /// Visits the edges that may meet the arc ab (every edge of a small loop), until `body`
    /// returns true. An edge may be visited more than once.
    func visitEdges(near a: Point3, _ b: Point3, _ body: (Point3, Point3) -> Bool) -> Bool {
        guard let index = edgeIndex else {
            for i in 0..<edgeCount {
                let (x, y) = edge(i)
                if body(x, y) { return true }
            }
            return false
        }
        guard let (first, second) = EdgeIndex.boxes(a, b) else {
            return index.visit(EdgeIndex.Box(lng0: -180, lng1: 180, lat0: -90, lat1: 90)) { let (x, y) = edge($0); return body(x, y) }
        }
        // A long arc is cut into pieces about a cell long, so its boxes follow it.
        let pieces = max(1, min(256, Int((a.angle(to: b) * 180 / .pi) / max(index.cellWidth, index.cellHeight)) + 1))
        if pieces == 1 || second != nil {
            return [first, second].contains { box in box.map { index.visit($0) { let (x, y) = edge($0); return body(x, y) } } ?? false }
        }
        var previous = a
        for k in 1...pieces {
            let next = k == pieces ? b : (a * Double(pieces - k) + b * Double(k)).normalized
            if let (piece, _) = EdgeIndex.boxes(previous, next),
               index.visit(piece, { let (x, y) = edge($0); return body(x, y) }) { return true }
            previous = next
        }
        return false
    }
}
