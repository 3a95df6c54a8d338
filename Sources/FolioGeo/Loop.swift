#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

// Spherical loops. A loop's interior is on its left (vertices counter-clockwise seen from
// outside the sphere). GeoJSON polygons take the smaller of the two regions a ring bounds
// (MongoDB normalises each loop to at most a hemisphere); big polygons
// (`urn:x-mongodb:crs:strictwinding:EPSG:4326`) keep the winding they are given.
//
// Containment counts crossings of the arc from a fixed reference point to the query point,
// starting from whether the reference point is inside.

/// A closed ring of at least 3 distinct vertices (the closing vertex is not repeated).
public struct Loop: Sendable {
    public private(set) var vertices: [Point3]
    /// Whether the reference point is inside.
    var originInside = false
    /// A cap holding the loop (the full sphere when the loop is large).
    public private(set) var bound: Cap
    /// Large loops' edges by longitude (nil below `EdgeIndex.minimumEdges`).
    private(set) var edgeIndex: EdgeIndex?

    static let origin = Point3(-0.0099994664350250197, 0.0025924542609324121, 0.99994664350250195)

    /// A loop of `vertices`; `normalize` turns it to enclose at most half the sphere.
    public init(_ vertices: [Point3], normalize: Bool) {
        self.vertices = vertices
        self.bound = Cap.bounding(vertices)
        originInside = fanArea < 0
        if normalize && area > 2 * .pi { invert() }
        // A loop enclosing a hemisphere or more is not bounded by its vertices' cap.
        if area >= 2 * .pi || bound.radius >= .pi / 2 { bound = Cap.full }
        if vertices.count >= EdgeIndex.minimumEdges { edgeIndex = EdgeIndex.make(self) }
    }

    /// The signed areas of the triangles (reference, v[i], v[i+1]) add up to the left
    /// region's area, less 4π when the reference point is inside it. So the sign tells
    /// whether the reference point is inside, with no crossing tests and no degenerate cases.
    var fanArea: Double {
        var sum = 0.0
        let o = Loop.origin
        for i in vertices.indices {
            sum += Sphere.signedArea(o, vertices[i], vertices[(i + 1) % vertices.count])
        }
        return sum
    }

    mutating func invert() {
        vertices.reverse()
        originInside = fanArea < 0
    }

    /// The area of the region on the loop's left, in steradians (0 ... 4π).
    public var area: Double {
        let s = fanArea
        return max(0, min(4 * .pi, s < 0 ? s + 4 * .pi : s))
    }

    /// Whether `p` is inside. Points on the boundary count as inside.
    public func contains(_ p: Point3) -> Bool {
        if !bound.contains(p) { return false }
        if let edgeIndex, let inside = edgeIndex.contains(p, in: self) { return inside }
        return containsByFullScan(p)
    }

    /// Containment counting crossings with every edge.
    func containsByFullScan(_ p: Point3) -> Bool {
        var inside = originInside
        let o = Loop.origin
        let n = vertices.count
        for i in 0..<n where Loop.crosses(o, p, vertices[i], vertices[(i + 1) % n]) { inside.toggle() }
        return inside
    }

    /// Whether the arc o→p crosses edge ab. Ties are broken one fixed way so that an arc
    /// through a vertex counts once: a vertex on the arc's great circle is on its left, and a p
    /// on the edge's great circle is on the edge's left (the loop's inside).
    static func crosses(_ o: Point3, _ p: Point3, _ a: Point3, _ b: Point3) -> Bool {
        let op = o.cross(p)
        let la = op.dot(a) >= 0, lb = op.dot(b) >= 0
        if la == lb { return false }
        let ab = a.cross(b)
        return (ab.dot(o) >= 0) != (ab.dot(p) >= 0)
    }

    public var edgeCount: Int { vertices.count }

    /// Edge i as its two vertices.
    @inline(__always) public func edge(_ i: Int) -> (Point3, Point3) { (vertices[i], vertices[i + 1 == vertices.count ? 0 : i + 1]) }
}

/// A spherical cap: the points within `radius` (radians) of `center`. Containment compares
/// squared chord lengths, as S2Cap does (4 sin²(r/2)), so it needs no trigonometry and keeps
/// its precision for caps of a few meters.
public struct Cap: Sendable {
    public let center: Point3
    public let radius: Double
    /// The squared chord length of the radius (4 for a cap of π or more).
    public let chord2: Double

    public init(center: Point3, radius: Double) {
        self.center = center
        self.radius = radius
        chord2 = radius >= .pi ? 4 : Cap.chord2(radius)
    }

    static func chord2(_ angle: Double) -> Double { let s = sin(0.5 * angle); return 4 * s * s }

    public static let full = Cap(center: Point3(0, 0, 1), radius: .pi)

    /// A cap holding all of `points` (not the smallest, but never too small).
    static func bounding(_ points: [Point3]) -> Cap {
        guard !points.isEmpty else { return Cap(center: Point3(0, 0, 1), radius: 0) }
        var sum = Point3(0, 0, 0)
        for p in points { sum = sum + p }
        let center = sum.norm < 1e-9 ? points[0] : sum.normalized
        var r = 0.0
        for p in points { r = max(r, center.angle(to: p)) }
        // Round outward so points on the rim stay inside.
        return Cap(center: center, radius: min(.pi, r * (1 + 1e-12) + 1e-15))
    }

    @inline(__always) public func contains(_ p: Point3) -> Bool {
        let d = p - center
        return chord2 >= 4 || d.dot(d) <= chord2
    }

    public func intersects(_ other: Cap) -> Bool {
        let sum = radius + other.radius
        if sum >= .pi { return true }
        let d = other.center - center
        return d.dot(d) <= Cap.chord2(sum)
    }
}
