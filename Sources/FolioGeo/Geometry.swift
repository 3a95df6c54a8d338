// Geometries as stored in documents and given in queries, and the predicates MongoDB's
// `$geoWithin`, `$geoIntersects` and `$near` evaluate over them.

/// A point as written (longitude, latitude in degrees, or a legacy pair's x, y) and on the sphere.
public struct GeoPoint: Sendable {
    public var x: Double, y: Double
    public var point: Point3
    public init(x: Double, y: Double) { self.x = x; self.y = y; point = Point3(lng: x, lat: y) }
}

/// A GeoJSON LineString (at least 2 distinct vertices).
public struct Polyline: Sendable {
    public var vertices: [Point3]
    public var bound: Cap
    init(_ vertices: [Point3]) { self.vertices = vertices; bound = Cap.bounding(vertices) }
}

/// A GeoJSON Polygon: an exterior loop and its holes.
public struct Polygon: Sendable {
    public var shell: Loop
    public var holes: [Loop]

    public func contains(_ p: Point3) -> Bool { shell.contains(p) && !holes.contains { $0.contains(p) } }

    /// The edges of every loop that may meet the arc ab, until `body` returns true.
    func anyEdge(near a: Point3, _ b: Point3, _ body: (Point3, Point3) -> Bool) -> Bool {
        if shell.visitEdges(near: a, b, body) { return true }
        return holes.contains { $0.visitEdges(near: a, b, body) }
    }

    var edgeCount: Int { shell.edgeCount + holes.reduce(0) { $0 + $1.edgeCount } }

    /// Every loop's edges.
    func forEachEdge(_ body: (Point3, Point3) -> Bool) -> Bool {
        for loop in [shell] + holes {
            for i in 0..<loop.edgeCount {
                let (a, b) = loop.edge(i)
                if body(a, b) { return true }
            }
        }
        return false
    }
}

/// A parsed geometry.
public indirect enum Geometry: Sendable {
    /// `legacy`: given as a coordinate pair rather than as GeoJSON.
    case point(GeoPoint, legacy: Bool)
    case lineString(Polyline)
    case polygon(Polygon)
    case multiPoint([GeoPoint])
    case multiLineString([Polyline])
    case multiPolygon([Polygon])
    case collection([Geometry])

    public var isPoint: Bool { if case .point = self { return true }; return false }

    /// The geometry's points, lines and polygons, flattened.
    var parts: [Geometry] {
        switch self {
        case .multiPoint(let ps): return ps.map { .point($0, legacy: false) }
        case .multiLineString(let ls): return ls.map(Geometry.lineString)
        case .multiPolygon(let ps): return ps.map(Geometry.polygon)
        case .collection(let gs): return gs.flatMap(\.parts)
        default: return [self]
        }
    }

    /// Every vertex.
    var vertices: [Point3] {
        switch self {
        case .point(let p, _): return [p.point]
        case .lineString(let l): return l.vertices
        case .polygon(let p): return p.shell.vertices
        default: return parts.flatMap(\.vertices)
        }
    }

    // MARK: - Predicates

    /// Whether this geometry and `other` share a point (`$geoIntersects`).
    public func intersects(_ other: Geometry) -> Bool {
        let mine = parts, theirs = other.parts
        return mine.contains { a in theirs.contains { b in Geometry.simpleIntersects(a, b) } }
    }

    static func simpleIntersects(_ a: Geometry, _ b: Geometry) -> Bool {
        switch (a, b) {
        case (.point(let p, _), .point(let q, _)): return p.point == q.point
        case (.point(let p, _), .lineString(let l)), (.lineString(let l), .point(let p, _)):
            return l.bound.contains(p.point) && (0..<(l.vertices.count - 1)).contains { Sphere.onEdge(p.point, l.vertices[$0], l.vertices[$0 + 1]) }
        case (.point(let p, _), .polygon(let poly)), (.polygon(let poly), .point(let p, _)):
            return poly.contains(p.point)
        case (.lineString(let l), .lineString(let m)):
            if !l.bound.intersects(m.bound) { return false }
            return polylinesMeet(l.vertices, m.vertices)
        case (.lineString(let l), .polygon(let poly)), (.polygon(let poly), .lineString(let l)):
            if !l.bound.intersects(poly.shell.bound) { return false }
            if l.vertices.contains(where: poly.contains) { return true }
            return (0..<(l.vertices.count - 1)).contains { i in
                poly.anyEdge(near: l.vertices[i], l.vertices[i + 1]) { Sphere.edgesIntersect(l.vertices[i], l.vertices[i + 1], $0, $1) }
            }
        case (.polygon(let p), .polygon(let q)):
            if !p.shell.bound.intersects(q.shell.bound) { return false }
            if p.shell.vertices.contains(where: q.contains) || q.shell.vertices.contains(where: p.contains) { return true }
            // The smaller polygon's edges against the larger's (indexed when large).
            let (small, large) = p.edgeCount <= q.edgeCount ? (p, q) : (q, p)
            return small.forEachEdge { a, b in large.anyEdge(near: a, b) { Sphere.edgesIntersect(a, b, $0, $1) } }
        default:
            return false
        }
    }

    static func polylinesMeet(_ l: [Point3], _ m: [Point3]) -> Bool {
        for i in 0..<(l.count - 1) {
            for j in 0..<(m.count - 1) where Sphere.edgesIntersect(l[i], l[i + 1], m[j], m[j + 1]) { return true }
        }
        return false
    }

    /// The angle from `p` to the nearest point of this geometry (0 inside a polygon).
    public func distance(from p: Point3) -> Double {
        switch self {
        case .point(let q, _): return p.angle(to: q.point)
        case .lineString(let l):
            var best = Double.infinity
            for i in 0..<(l.vertices.count - 1) { best = min(best, Sphere.distance(p, toEdge: l.vertices[i], l.vertices[i + 1])) }
            return best
        case .polygon(let poly):
            if poly.contains(p) { return 0 }
            var best = Double.infinity
            _ = poly.forEachEdge { a, b in best = min(best, Sphere.distance(p, toEdge: a, b)); return false }
            return best
        default:
            return parts.map { $0.distance(from: p) }.min() ?? .infinity
        }
    }

    /// The point MongoDB reports as the location a distance was measured to (`includeLocs`):
    /// the geometry itself for points.
    public var firstPoint: GeoPoint? { if case .point(let p, _) = self { return p }; return nil }
}
