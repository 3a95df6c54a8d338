#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

// Coverings: a set of cells whose union holds a region, found by descending the cell
// hierarchy from the six faces and keeping cells the region contains or that reach the
// finest level allowed, while the count stays near `maxCells` (advisory, as in S2). Region
// tests may err towards "may intersect" and "does not contain": a covering is then larger,
// never wrong.

/// A region the coverer can test cells against.
public protocol CoverableRegion {
    func mayIntersect(_ cell: CellShape) -> Bool
    func contains(_ cell: CellShape) -> Bool
    /// A cap holding the region, when it is small enough to start a covering below the faces.
    var boundingCap: Cap? { get }
}

extension CoverableRegion {
    public var boundingCap: Cap? { nil }
}

/// A cell's corners, center and bounding cap (corners inline: the coverer makes thousands).
public struct CellShape {
    public let id: CellID
    public let c0: Point3, c1: Point3, c2: Point3, c3: Point3
    public let center: Point3
    public let bound: Cap

    public init(_ id: CellID) {
        self.id = id
        let (corners, center) = id.vertices
        (c0, c1, c2, c3) = corners
        self.center = center
        var chord2 = 0.0
        for c in [c0, c1, c2, c3] { let d = c - center; chord2 = max(chord2, d.dot(d)) }
        let r = 2 * asin(min(1, chord2.squareRoot() / 2))
        bound = Cap(center: center, radius: r * (1 + 1e-9) + 1e-15)
    }

    public var corners: [Point3] { [c0, c1, c2, c3] }

    @inline(__always) func allCorners(_ test: (Point3) -> Bool) -> Bool { test(c0) && test(c1) && test(c2) && test(c3) }
    @inline(__always) func anyCorner(_ test: (Point3) -> Bool) -> Bool { test(c0) || test(c1) || test(c2) || test(c3) }
    @inline(__always) func anyEdge(_ test: (Point3, Point3) -> Bool) -> Bool { test(c0, c1) || test(c1, c2) || test(c2, c3) || test(c3, c0) }

    /// Whether `p` is in the cell: left of (or within rounding of) its four edges, which are
    /// great circles. Below level 24 the corners' rounding is a noticeable share of the cell:
    /// there the point's leaf id decides.
    public func contains(_ p: Point3) -> Bool {
        if id.level >= 24 { return id.contains(CellID(p)) }
        let e = -1e-15
        return c0.cross(c1).dot(p) >= e && c1.cross(c2).dot(p) >= e && c2.cross(c3).dot(p) >= e && c3.cross(c0).dot(p) >= e
    }
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
        var queue: [CellShape]
        if let cap = region.boundingCap, let start = Coverer.smallestCell(holding: cap) {
            queue = region.mayIntersect(start) ? [start] : []
        } else {
            queue = (0..<6).map { CellShape(CellID.face($0)) }.filter(region.mayIntersect)
        }
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

extension Coverer {
    /// A cell holding the whole cap (its center's ancestor at about four times the cap's size,
    /// or coarser), so a covering need not descend from the faces; nil when no cell does.
    static func smallestCell(holding cap: Cap) -> CellShape? {
        guard cap.radius < 0.5 else { return nil }
        let leaf = CellID(cap.center)
        // Cells of level L are about 1.46 × 2^-L radians across.
        // Clamped before the conversion: a subnormal radius makes the quotient infinite.
        let guess = cap.radius > 0 ? min(Double(CellID.maxLevel), max(0, (1.46 / (4 * cap.radius)).logarithm2.rounded(.down))) : Double(CellID.maxLevel)
        var level = guess.isFinite ? Int(guess) : CellID.maxLevel
        while level >= 0 {
            let cell = CellShape(leaf.parent(level))
            if cell.contains(cap.center) && !cell.anyEdge({ Sphere.distance(cap.center, toEdge: $0, $1) < cap.radius }) { return cell }
            level -= 1
        }
        return nil
    }
}

extension Double {
    fileprivate var logarithm2: Double { log2(self) }
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
    public var boundingCap: Cap? { radius < .pi / 2 ? self : nil }

    public func mayIntersect(_ cell: CellShape) -> Bool {
        if radius >= .pi { return true }
        if cell.anyCorner(contains) { return true }
        if !intersects(cell.bound) { return false }
        if cell.contains(center) { return true }
        return cell.anyEdge { Sphere.distance(center, toEdge: $0, $1) <= radius }
    }

    public func contains(_ cell: CellShape) -> Bool {
        if radius >= .pi { return true }
        // Caps up to a hemisphere are convex: holding the corners holds the cell.
        return radius <= .pi / 2 && cell.allCorners(contains)
    }
}

/// The ring between two caps around one center (one band of a `$near` search).
public struct Annulus: CoverableRegion {
    public var inner: Cap, outer: Cap
    public var boundingCap: Cap? { outer.radius < .pi / 2 ? outer : nil }
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
                cell.anyEdge { Sphere.edgesIntersect(l.vertices[i], l.vertices[i + 1], $0, $1) }
            }
        case .polygon(let poly):
            if !poly.shell.bound.intersects(cell.bound) { return false }
            if poly.shell.edgeCount > Geometry.exactCoveringEdges { return true }
            if cell.anyCorner(poly.contains) || poly.shell.vertices.contains(where: cell.contains) { return true }
            return cell.anyEdge { c, d in poly.anyEdge(near: c, d) { Sphere.edgesIntersect($0, $1, c, d) } }
        default:
            return parts.contains { $0.mayIntersect(cell) }
        }
    }

    public func contains(_ cell: CellShape) -> Bool {
        switch self {
        case .polygon(let poly):
            if poly.shell.edgeCount > Geometry.exactCoveringEdges || !cell.allCorners(poly.contains) { return false }
            return !cell.anyEdge { c, d in poly.anyEdge(near: c, d) { Sphere.edgesIntersect($0, $1, c, d) } }
        case .multiPolygon, .collection:
            return parts.contains { $0.contains(cell) }
        default:
            return false
        }
    }
}
