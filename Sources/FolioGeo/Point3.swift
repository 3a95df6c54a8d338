// Points on the unit sphere as 3-vectors, the representation spherical geometry is exact
// enough in: great-circle edges are planes through the origin, containment and crossing are
// signs of triple products, and distances are angles between vectors. Longitude and latitude
// in degrees map to (cos φ cos λ, cos φ sin λ, sin φ), as S2 maps them.

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A vector in 3-space; on the unit sphere when it stands for a point.
public struct Point3: Sendable, Hashable {
    public var x: Double, y: Double, z: Double

    public init(_ x: Double, _ y: Double, _ z: Double) { self.x = x; self.y = y; self.z = z }

    /// The point at longitude `lng` and latitude `lat`, in degrees.
    public init(lng: Double, lat: Double) {
        // As S2LatLng computes it: (π / 180) × degrees, then cos θ × cos φ, sin θ × cos φ, sin φ.
        let phi = (Double.pi / 180) * lat, theta = (Double.pi / 180) * lng
        let cosPhi = cos(phi)
        self.init(cos(theta) * cosPhi, sin(theta) * cosPhi, sin(phi))
    }

    @inline(__always) public func dot(_ o: Point3) -> Double { x * o.x + y * o.y + z * o.z }
    @inline(__always) public func cross(_ o: Point3) -> Point3 {
        Point3(y * o.z - z * o.y, z * o.x - x * o.z, x * o.y - y * o.x)
    }
    public var norm: Double { dot(self).squareRoot() }
    public var normalized: Point3 { let n = norm; return n == 0 ? self : Point3(x / n, y / n, z / n) }
    @inline(__always) public static func + (a: Point3, b: Point3) -> Point3 { Point3(a.x + b.x, a.y + b.y, a.z + b.z) }
    @inline(__always) public static func - (a: Point3, b: Point3) -> Point3 { Point3(a.x - b.x, a.y - b.y, a.z - b.z) }
    @inline(__always) public static func * (a: Point3, s: Double) -> Point3 { Point3(a.x * s, a.y * s, a.z * s) }
    public static prefix func - (a: Point3) -> Point3 { Point3(-a.x, -a.y, -a.z) }

    /// The angle between two unit vectors in radians, accurate for small and large angles alike.
    public func angle(to o: Point3) -> Double { atan2(cross(o).norm, dot(o)) }

    /// Longitude and latitude in degrees.
    public var lngLat: (lng: Double, lat: Double) {
        (atan2(y, x) * 180 / .pi, atan2(z, (x * x + y * y).squareRoot()) * 180 / .pi)
    }

    /// A unit vector orthogonal to this one (for local orientation tests).
    public var ortho: Point3 {
        let k: Point3 = abs(x) <= abs(y) && abs(x) <= abs(z) ? Point3(1, 0, 0) : abs(y) <= abs(z) ? Point3(0, 1, 0) : Point3(0, 0, 1)
        return cross(k).normalized
    }
}

/// Spherical predicates and measures over unit vectors.
public enum Sphere {
    /// The Earth's radius MongoDB uses for meters on the sphere (`kRadiusOfEarthInMeters`).
    public static let earthRadiusMeters = 6378.1 * 1000

    /// +1 when a, b, c turn counter-clockwise (c left of the great circle a→b), -1 clockwise, 0 when
    /// the three are on one great circle as far as doubles can tell.
    @inline(__always) public static func sign(_ a: Point3, _ b: Point3, _ c: Point3) -> Int {
        let d = a.cross(b).dot(c)
        return d > 0 ? 1 : d < 0 ? -1 : 0
    }

    /// Whether the edges ab and cd cross at a point interior to both (shared endpoints and
    /// touching do not count as crossing).
    public static func edgesCross(_ a: Point3, _ b: Point3, _ c: Point3, _ d: Point3) -> Bool {
        let acb = -sign(a, b, c), bda = sign(a, b, d)
        if acb == 0 || bda == 0 || acb != bda { return false }
        let cbd = -sign(c, d, b), dac = sign(c, d, a)
        return cbd == acb && dac == acb && cbd != 0
    }

    /// Whether the edges ab and cd have a point in common (crossing, touching, or sharing a vertex).
    public static func edgesIntersect(_ a: Point3, _ b: Point3, _ c: Point3, _ d: Point3) -> Bool {
        if a == c || a == d || b == c || b == d { return true }
        if edgesCross(a, b, c, d) { return true }
        return onEdge(c, a, b) || onEdge(d, a, b) || onEdge(a, c, d) || onEdge(b, c, d)
    }

    /// Whether `p` lies on the minor arc ab (within rounding).
    public static func onEdge(_ p: Point3, _ a: Point3, _ b: Point3) -> Bool {
        if p == a || p == b { return true }
        let n = a.cross(b)
        let len = n.norm
        if len == 0 { return false }
        if abs(n.dot(p)) / len > 1e-15 { return false }
        // Between a and b: p is on the same side of the planes through the origin and a (and b)
        // perpendicular to the arc.
        return n.cross(a).dot(p) >= -1e-15 && b.cross(n).dot(p) >= -1e-15 && p.dot(a + b) > 0
    }

    /// The angle from `p` to the nearest point of the arc ab.
    public static func distance(_ p: Point3, toEdge a: Point3, _ b: Point3) -> Double {
        let n = a.cross(b)
        if n.norm > 0 && n.cross(a).dot(p) > 0 && b.cross(n).dot(p) > 0 {
            // The perpendicular foot lies within the arc: distance to the great circle.
            let s = abs(n.normalized.dot(p))
            return asin(min(1, s))
        }
        return min(p.angle(to: a), p.angle(to: b))
    }

    /// The signed area of the triangle abc (positive when counter-clockwise), Girard's excess.
    public static func signedArea(_ a: Point3, _ b: Point3, _ c: Point3) -> Double {
        2 * atan2(a.dot(b.cross(c)), 1 + a.dot(b) + b.dot(c) + c.dot(a))
    }
}
