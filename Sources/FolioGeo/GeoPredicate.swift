// The query side: `$geoWithin`, `$geoIntersects`, `$near` and `$nearSphere` operands parsed
// as MongoDB's GeoExpression and GeoNearExpression parse them, and what each one matches.

import FolioBSON

/// A `$geoWithin` region.
public enum WithinRegion: Sendable {
    /// `$geometry`: a Polygon or MultiPolygon (big polygons included), on the sphere.
    case geometry(Geometry)
    /// `$centerSphere`: a cap, radius in radians.
    case cap(Cap)
    /// `$box`, `$polygon`, `$center`: flat shapes over legacy coordinates.
    case box(minX: Double, minY: Double, maxX: Double, maxY: Double)
    case flatPolygon([GeoPoint])
    case circle(GeoPoint, radius: Double)

    /// Whether `g` lies entirely inside.
    public func contains(_ g: Geometry) -> Bool {
        switch self {
        case .geometry(let region): return g.parts.allSatisfy { part in region.parts.contains { WithinRegion.sphereContains($0, part) } }
        case .cap(let cap): return g.vertices.allSatisfy(cap.contains) && (cap.radius <= .pi / 2 || g.isPoint)
        case .box(let x0, let y0, let x1, let y1):
            guard case .point(let p, _) = g else { return false }
            return p.x >= x0 && p.x <= x1 && p.y >= y0 && p.y <= y1
        case .flatPolygon(let vertices):
            guard case .point(let p, _) = g else { return false }
            return WithinRegion.flatContains(vertices, p)
        case .circle(let c, let r):
            guard case .point(let p, _) = g else { return false }
            let dx = p.x - c.x, dy = p.y - c.y
            return (dx * dx + dy * dy).squareRoot() <= r
        }
    }

    /// Whether the polygon `region` holds the simple geometry `g`: its vertices inside and no
    /// edge of it crossing the region's boundary.
    static func sphereContains(_ region: Geometry, _ g: Geometry) -> Bool {
        guard case .polygon(let poly) = region else { return false }
        switch g {
        case .point(let p, _): return poly.contains(p.point)
        case .lineString(let l):
            guard l.vertices.allSatisfy(poly.contains) else { return false }
            return !(0..<(l.vertices.count - 1)).contains { i in
                poly.anyEdge(near: l.vertices[i], l.vertices[i + 1]) { Sphere.edgesCross(l.vertices[i], l.vertices[i + 1], $0, $1) }
            }
        case .polygon(let inner):
            guard inner.shell.vertices.allSatisfy(poly.contains) else { return false }
            if inner.forEachEdge({ a, b in poly.anyEdge(near: a, b) { Sphere.edgesCross(a, b, $0, $1) } }) { return false }
            // A hole of the region inside the geometry leaves part of it outside.
            return !poly.holes.contains { hole in hole.vertices.contains { v in inner.contains(v) && !inner.holes.contains { $0.contains(v) } } }
        default:
            return false
        }
    }

    /// Flat point-in-polygon, boundary included (MongoDB's legacy `$polygon`).
    static func flatContains(_ vertices: [GeoPoint], _ p: GeoPoint) -> Bool {
        var inside = false
        var j = vertices.count - 1
        for i in vertices.indices {
            let a = vertices[i], b = vertices[j]
            // On the edge: collinear and within its box.
            let cross = (b.x - a.x) * (p.y - a.y) - (b.y - a.y) * (p.x - a.x)
            if cross == 0 && p.x >= min(a.x, b.x) && p.x <= max(a.x, b.x) && p.y >= min(a.y, b.y) && p.y <= max(a.y, b.y) { return true }
            if (a.y > p.y) != (b.y > p.y) && p.x < (b.x - a.x) * (p.y - a.y) / (b.y - a.y) + a.x { inside.toggle() }
            j = i
        }
        return inside
    }
}

/// `$near` / `$nearSphere` (and `$geoNear`'s `near`): where from, how far.
public struct NearQuery: Sendable {
    public var point: GeoPoint
    /// Given as GeoJSON: distances are meters; legacy pairs measure in radians (spherical).
    public var isGeoJSON: Bool
    /// `$nearSphere`, `spherical: true` or a GeoJSON point: distances on the sphere.
    public var spherical: Bool
    /// Limits in the query's unit (meters or radians), as given.
    public var maxDistance: Double?
    public var minDistance: Double?

    /// The factor from radians to the query's unit.
    public var unitsPerRadian: Double { isGeoJSON ? Sphere.earthRadiusMeters : 1 }
}

/// One geo predicate on a path, with its operand as given (for explain and the plan cache).
public struct GeoPredicate: Sendable {
    public enum Kind: Sendable {
        case within(WithinRegion)
        case intersects(Geometry)
        case near(NearQuery)
    }
    public var kind: Kind
    /// `$geoWithin`, `$geoIntersects`, `$near` or `$nearSphere`.
    public var name: String
    /// The operand document as explain prints it.
    public var form: Document

    public var near: NearQuery? { if case .near(let n) = kind { return n }; return nil }

    /// Whether a stored value matches. `$near` matches everything here: its stage measures.
    public func matches(_ stored: BSON) -> Bool {
        switch kind {
        case .near: return true
        case .within(let region):
            guard let g = try? GeoJSONParser.parseStored(stored) else { return false }
            return region.contains(g)
        case .intersects(let query):
            guard let g = try? GeoJSONParser.parseStored(stored) else { return false }
            return g.intersects(query)
        }
    }

    /// The region a 2dsphere index's covering must hold for this predicate (nil for `$near`,
    /// which searches in bands, and for flat shapes, which only a 2d index answers).
    public var region: (any CoverableRegion)? {
        switch kind {
        case .near: return nil
        case .intersects(let g): return g
        case .within(.geometry(let g)): return g
        case .within(.cap(let c)): return c
        // Flat shapes measure in the plane of legacy coordinates: a 2dsphere index does not
        // answer them (MongoDB answers them with a 2d index or a collection scan).
        case .within(.box), .within(.flatPolygon), .within(.circle): return nil
        }
    }
}
