#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

// The flat grid of `2d` indexes: legacy coordinates in [min, max) scaled to 32-bit integers
// per axis (MongoDB's GeoHashConverter: 2^32 buckets over max - min) and cut to `bits` bits,
// interleaved x then y into a Z-order hash. A cell of level L (L ≤ bits) is a hash prefix of
// 2L bits, so the points in a square are one range of hashes. Keys are the hash left-aligned in
// 64 bits, its top bit flipped, as an Int64, so signed order is hash order.

/// A planar rectangle.
public struct PlanarBox: Sendable, Equatable {
    public var minX: Double, minY: Double, maxX: Double, maxY: Double
    public init(minX: Double, minY: Double, maxX: Double, maxY: Double) {
        self.minX = minX; self.minY = minY; self.maxX = maxX; self.maxY = maxY
    }

    public func intersects(_ o: PlanarBox) -> Bool { minX <= o.maxX && o.minX <= maxX && minY <= o.maxY && o.minY <= maxY }
    public func contains(_ o: PlanarBox) -> Bool { minX <= o.minX && o.maxX <= maxX && minY <= o.minY && o.maxY <= maxY }

    /// Distance from (x, y) to the nearest and the farthest point of the box.
    func distances(_ x: Double, _ y: Double) -> (near: Double, far: Double) {
        let dx = max(minX - x, 0, x - maxX), dy = max(minY - y, 0, y - maxY)
        let fx = max(abs(x - minX), abs(x - maxX)), fy = max(abs(y - minY), abs(y - maxY))
        return ((dx * dx + dy * dy).squareRoot(), (fx * fx + fy * fy).squareRoot())
    }
}

/// A `2d` index's grid.
public struct PlanarGrid: Sendable, Equatable {
    public var bits: Int
    public var min: Double, max: Double

    public init(bits: Int, min: Double, max: Double) { self.bits = bits; self.min = min; self.max = max }

    var scaling: Double { 4_294_967_296.0 / (max - min) }

    /// The bucket of a coordinate on one axis (nil outside [min, max]).
    func bucket(_ v: Double) -> UInt64? {
        guard v >= min && v <= max else { return nil }
        let b = UInt64(Swift.min(4_294_967_295.0, ((v - min) * scaling).rounded(.down)))
        return b >> UInt64(32 - bits)
    }

    /// The index key of a point, or nil outside the grid.
    public func key(x: Double, y: Double) -> Int64? {
        guard let bx = bucket(x), let by = bucket(y) else { return nil }
        var hash: UInt64 = 0
        for k in stride(from: bits - 1, through: 0, by: -1) {
            hash = hash << 2 | ((bx >> UInt64(k)) & 1) << 1 | ((by >> UInt64(k)) & 1)
        }
        return PlanarGrid.signed(hash << UInt64(64 - 2 * bits))
    }

    static func signed(_ h: UInt64) -> Int64 { Int64(bitPattern: h ^ (1 << 63)) }

    /// A cell: its level and its hash prefix (2 × level bits).
    struct Cell { var level: Int; var prefix: UInt64; var ix: UInt64; var iy: UInt64 }

    func box(_ c: Cell) -> PlanarBox {
        let size = (max - min) / Double(1 << UInt64(c.level))
        return PlanarBox(minX: min + Double(c.ix) * size, minY: min + Double(c.iy) * size,
                         maxX: min + Double(c.ix + 1) * size, maxY: min + Double(c.iy + 1) * size)
    }

    func range(_ c: Cell) -> (Int64, Int64) {
        let shift = UInt64(64 - 2 * c.level)
        let lo: UInt64 = c.level == 0 ? 0 : c.prefix << shift
        let hi: UInt64 = c.level == 0 ? .max : lo | ((1 << shift) - 1)
        return (PlanarGrid.signed(lo), PlanarGrid.signed(hi))
    }

    /// Merged key ranges of the cells that may hold points where `mayIntersect` says (cells
    /// it says are wholly inside stop descending), at most about `maxCells` of them.
    public func ranges(maxCells: Int = 32, mayIntersect: (PlanarBox) -> Bool, contains: (PlanarBox) -> Bool) -> [(Int64, Int64)] {
        var queue = [Cell(level: 0, prefix: 0, ix: 0, iy: 0)]
        var head = 0
        var out: [Cell] = []
        while head < queue.count {
            let c = queue[head]
            head += 1
            let b = box(c)
            if !mayIntersect(b) { continue }
            if c.level >= bits || contains(b) || out.count + (queue.count - head) + 4 > maxCells {
                out.append(c)
                continue
            }
            for q in 0..<UInt64(4) {
                queue.append(Cell(level: c.level + 1, prefix: c.prefix << 2 | q, ix: c.ix << 1 | (q >> 1), iy: c.iy << 1 | (q & 1)))
            }
        }
        var merged: [(Int64, Int64)] = []
        for r in out.map(range).sorted(by: { $0.0 < $1.0 }) {
            if let last = merged.last, r.0 <= last.1 || (last.1 < Int64.max && r.0 == last.1 + 1) {
                merged[merged.count - 1].1 = Swift.max(last.1, r.1)
            } else {
                merged.append(r)
            }
        }
        return merged
    }

    /// Ranges for a box.
    public func ranges(_ region: PlanarBox) -> [(Int64, Int64)] {
        ranges(mayIntersect: { $0.intersects(region) }, contains: { region.contains($0) })
    }

    /// Ranges for the ring between two circles around (x, y).
    public func ranges(x: Double, y: Double, inner: Double, outer: Double) -> [(Int64, Int64)] {
        ranges(mayIntersect: { b in let d = b.distances(x, y); return d.near <= outer && d.far >= inner },
               contains: { b in let d = b.distances(x, y); return d.far <= outer && d.near >= inner })
    }
}

extension PlanarBox {
    /// Longitude/latitude degrees holding every point within `radius` radians of `center`.
    public static func degrees(around center: Point3, radius: Double) -> PlanarBox {
        let (lng, lat) = center.lngLat
        let r = radius * 180 / .pi * (1 + 1e-9) + 1e-9
        if r >= 90 || abs(lat) + r >= 89.999 { return PlanarBox(minX: -180, minY: max(-90, lat - r), maxX: 180, maxY: min(90, lat + r)) }
        let dlng = min(180, r / cos((abs(lat) + r) * .pi / 180))
        // Across the antimeridian the box wraps: scan all longitudes rather than two boxes.
        if lng - dlng < -180 || lng + dlng > 180 { return PlanarBox(minX: -180, minY: lat - r, maxX: 180, maxY: lat + r) }
        return PlanarBox(minX: lng - dlng, minY: lat - r, maxX: lng + dlng, maxY: lat + r)
    }
}
