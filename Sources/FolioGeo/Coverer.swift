// Coverings: a set of cells whose union holds a region, found by descending the cell
// hierarchy from the six faces and keeping cells the region contains or that reach the
// finest level allowed, while the count stays near `maxCells` (advisory, as in S2). Region
// tests may err towards "may intersect" and "does not contain": a covering is then larger,
// never wrong.

/// A region the coverer can test cells against.
public protocol CoverableRegion {
    func mayIntersect(_ cell: CellShape) -> Bool
    func contains(_ cell: CellShape) -> Bool
}

/// A cell's corners, center and bounding cap.
public struct CellShape {
    public let id: CellID
    public let corners: [Point3]
    public let center: Point3
    public let bound: Cap

    public init(_ id: CellID) {
        self.id = id
        (corners, center) = id.vertices
        var r = 0.0
        for c in corners { r = max(r, center.angle(to: c)) }
        bound = Cap(center: center, radius: r * (1 + 1e-9) + 1e-15)
    }

    /// Whether `p` is in the cell (by its leaf cell's id).
    public func contains(_ p: Point3) -> Bool { id.contains(CellID(p)) }

    /// The cell's four edges.
    var edges: [(Point3, Point3)] { (0..<4).map { (corners[$0], corners[($0 + 1) % 4]) } }
}

public struct Coverer {
    public var minLevel: Int
    public var maxLevel: Int
    public var maxCells: Int

    public init(minLevel: Int, maxLevel: Int, maxCells: Int) {
        self.minLevel = minLevel
        self.maxLevel = max(minLevel, maxLevel)
        self.maxCells = maxCells
    }

    public func covering(_ region: some CoverableRegion) -> [CellID] {
        var queue: [CellShape] = (0..<6).map { CellShape(CellID.face($0)) }.filter(region.mayIntersect)
        var head = 0
        var result: [CellID] = []
        while head < queue.count {
            let cell = queue[head]
            head += 1
            let level = cell.id.level
            let pending = queue.count - head
            if level >= minLevel && (level >= maxLevel || result.count + pending + 4 > maxCells || region.contains(cell)) {
                result.append(cell.id)
                continue
            }
            let children = cell.id.children.map(CellShape.init).filter(region.mayIntersect)
            queue.append(contentsOf: children)
        }
        return CellUnion.normalized(result)
    }
}

public enum CellUnion {
    /// Sorted, with cells inside other cells of the list removed.
    public static func normalized(_ cells: [CellID]) -> [CellID] {
        var out: [CellID] = []
        for c in cells.sorted(by: { $0.rangeMin.id < $1.rangeMin.id || ($0.rangeMin.id == $1.rangeMin.id && $0.level < $1.level) }) {
            if let last = out.last, last.contains(c) { continue }
            out.append(c)
        }
        return out
    }
}

// MARK: - Regions

extension Cap: CoverableRegion {
    public func mayIntersect(_ cell: CellShape) -> Bool {
        if radius >= .pi { return true }
        if !intersects(cell.bound) { return false }
        if cell.corners.contains(where: contains) || cell.contains(center) { return true }
        return cell.edges.contains { Sphere.distance(center, toEdge: $0.0, $0.1) <= radius }
    }

    public func contains(_ cell: CellShape) -> Bool {
        if radius >= .pi { return true }
        // Caps up to a hemisphere are convex: holding the corners holds the cell.
        return radius <= .pi / 2 && cell.corners.allSatisfy(contains)
    }
}

/// The ring between two caps around one center (one band of a `$near` search).
public struct Annulus: CoverableRegion {
    public var inner: Cap, outer: Cap
    public init(center: Point3, innerRadius: Double, outerRadius: Double) {
        inner = Cap(center: center, radius: innerRadius)
        outer = Cap(center: center, radius: outerRadius)
    }
    public func mayIntersect(_ cell: CellShape) -> Bool {
        outer.mayIntersect(cell) && !(inner.radius > 0 && inner.contains(cell))
    }
    public func contains(_ cell: CellShape) -> Bool {
        outer.contains(cell) && !(inner.radius > 0 && inner.mayIntersect(cell))
    }
}

/// A geometry as a region: exact tests for small ones, its bounding cap past
/// `Geometry.exactCoveringEdges` edges (a larger covering, never a wrong one).
extension Geometry: CoverableRegion {
    static let exactCoveringEdges = 2_000

    public func mayIntersect(_ cell: CellShape) -> Bool {
        switch self {
        case .point(let p, _): return cell.contains(p.point)
        case .lineString(let l):
            if !l.bound.intersects(cell.bound) { return false }
            if l.vertices.count > Geometry.exactCoveringEdges { return true }
            if l.vertices.contains(where: cell.contains) { return true }
            return (0..<(l.vertices.count - 1)).contains { i in
                cell.edges.contains { Sphere.edgesIntersect(l.vertices[i], l.vertices[i + 1], $0.0, $0.1) }
            }
        case .polygon(let poly):
            if !poly.shell.bound.intersects(cell.bound) { return false }
            if poly.shell.edgeCount > Geometry.exactCoveringEdges { return true }
            if cell.corners.contains(where: poly.contains) || poly.shell.vertices.contains(where: cell.contains) { return true }
            let edges = cell.edges
            return poly.forEachEdge { a, b in edges.contains { Sphere.edgesIntersect(a, b, $0.0, $0.1) } }
        default:
            return parts.contains { $0.mayIntersect(cell) }
        }
    }

    public func contains(_ cell: CellShape) -> Bool {
        switch self {
        case .polygon(let poly):
            if poly.shell.edgeCount > Geometry.exactCoveringEdges || !cell.corners.allSatisfy(poly.contains) { return false }
            let edges = cell.edges
            return !poly.forEachEdge { a, b in edges.contains { Sphere.edgesIntersect(a, b, $0.0, $0.1) } }
        case .multiPolygon, .collection:
            return parts.contains { $0.contains(cell) }
        default:
            return false
        }
    }
}
