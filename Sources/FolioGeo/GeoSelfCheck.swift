// What must hold for any geometry the parser accepts, checked by the GeoJSON fuzzer
// (scripts/fuzz geo) and by `swift test` over its findings and generated inputs.
//
// Inputs are bytes: a first byte below 16 means the rest is a BSON document parsed as a
// stored value's container (`{g: ...}` as raw BSON); otherwise the bytes are read as a small
// program that builds GeoJSON (type, ring counts, coordinates, with NaN, infinities, huge
// and repeated values mixed in), so the fuzzer spends its time on shapes, not on BSON framing.

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import FolioBSON

public enum GeoSelfCheck {
    public struct Violation: Error, CustomStringConvertible {
        public var description: String
    }

    /// The value the bytes describe (nil when they describe none).
    public static func value(_ bytes: [UInt8]) -> BSON? {
        guard let first = bytes.first else { return nil }
        if first < 16 {
            guard let d = try? RawDocument(validating: Array(bytes.dropFirst())).document(), let v = d["g"] else { return nil }
            return v
        }
        var reader = ByteReader(bytes: bytes, position: 1)
        return reader.geometry(kind: Int(first) % 9, depth: 0)
    }

    /// Parses the value every way the server does and checks the invariants of what parses.
    @discardableResult
    public static func check(_ bytes: [UInt8]) throws(Violation) -> Geometry? {
        guard let value = value(bytes) else { return nil }
        // Query operands must parse or fail cleanly, whatever the value.
        if case .document(let d) = value {
            _ = try? GeoPredicate.within(["$geometry": .document(d)])
            _ = try? GeoPredicate.intersects(["$geometry": .document(d)])
        }
        _ = try? GeoPredicate.within(["$polygon": value])
        _ = try? GeoPredicate.within(["$centerSphere": [value, .double(0.1)]])
        _ = try? GeoPredicate.near(["$near": value, "$maxDistance": 10])
        guard let g = try? GeoJSONParser.parseStored(value) else { return nil }
        let covering = Coverer(minLevel: 2, maxLevel: 16, maxCells: 20).covering(g)
        for v in g.vertices {
            let leaf = CellID(v)
            if !covering.contains(where: { $0.contains(leaf) }) && !g.isPoint {
                throw Violation(description: "vertex \(v.lngLat) outside the geometry's covering")
            }
            let d = g.distance(from: v)
            if !(d >= 0 && d < 1e-6) { throw Violation(description: "distance from its own vertex \(v.lngLat) is \(d)") }
        }
        if case .point(let p, _) = g, CellID(p.point).level != 30 { throw Violation(description: "a point's cell is not a leaf") }
        // A large loop's edge index agrees with the scan of every edge, away from the boundary.
        for part in g.parts {
            guard case .polygon(let poly) = part, poly.shell.edgeIndex != nil else { continue }
            let vs = poly.shell.vertices
            for k in 0..<min(vs.count, 64) {
                let q = (vs[k] * 0.9 + vs[(k * 7 + 3) % vs.count] * 0.1).normalized
                if (0..<poly.shell.edgeCount).contains(where: { let (a, b) = poly.shell.edge($0); return Sphere.distance(q, toEdge: a, b) < 1e-9 }) { continue }
                let indexed = poly.shell.contains(q), scanned = poly.shell.bound.contains(q) && poly.shell.containsByFullScan(q)
                if indexed != scanned { throw Violation(description: "edge index says \(indexed), scan says \(scanned) at \(q.lngLat)") }
            }
        }
        if !g.intersects(g) && g.vertices.count < 10_000 { throw Violation(description: "a geometry does not intersect itself") }
        return g
    }

    struct ByteReader {
        let bytes: [UInt8]
        var position: Int

        mutating func next() -> UInt8 {
            defer { position += 1 }
            return position < bytes.count ? bytes[position] : 0
        }

        var atEnd: Bool { position >= bytes.count }

        mutating func number() -> BSON {
            let b = next()
            switch b {
            case 0: return .double(.nan)
            case 1: return .double(.infinity)
            case 2: return .double(-1e308)
            case 3: return .int32(Int32(Int8(bitPattern: next())))
            case 4: return .string("x")
            case 5: return .double(-0.0)
            case 6: return .int64(Int64(next()) << 40)
            default:
                let fraction = Double(next()) / 256 + Double(next()) / 65536
                return .double((Double(b) - 128) * 1.45 + fraction)
            }
        }

        mutating func pair() -> BSON {
            let n = next() % 16 == 0 ? Int(next() % 4) : 2
            return .array((0..<n).map { _ in number() })
        }

        /// A ring: a start, some vertices, mostly closed back to the start.
        mutating func ring() -> BSON {
            // Mostly small rings; some large enough for the edge index, drawn as a star so that
            // most of them are valid.
            let choice = next()
            if choice % 8 == 0 {
                let count = 64 + Int(next()) * 4
                let (cx, cy) = (Double(next()) - 128, (Double(next()) - 128) / 1.5)
                let scale = 0.01 + Double(next()) / 16
                var points: [BSON] = (0..<count).map { i in
                    let t = Double(i) / Double(count) * 2 * .pi, r = scale * (0.5 + Double(next()) / 512)
                    return [.double(cx + r * cos(t)), .double(max(-90, min(90, cy + r * sin(t))))]
                }
                points.append(points[0])
                return .array(points)
            }
            let count = Int(choice % 12)
            var points: [BSON] = (0..<count).map { _ in pair() }
            if let first = points.first, next() % 8 != 0 { points.append(first) }
            return .array(points)
        }

        mutating func geometry(kind: Int, depth: Int) -> BSON {
            switch kind {
            case 0: return ["type": "Point", "coordinates": pair()]
            case 1: return ["type": "LineString", "coordinates": .array((0..<Int(next() % 8)).map { _ in pair() })]
            case 2: return ["type": "Polygon", "coordinates": .array((0..<Int(next() % 3 + 1)).map { _ in ring() })]
            case 3: return ["type": "MultiPoint", "coordinates": .array((0..<Int(next() % 5)).map { _ in pair() })]
            case 4: return ["type": "MultiLineString", "coordinates": .array((0..<Int(next() % 3)).map { _ in .array((0..<Int(next() % 5)).map { _ in pair() }) })]
            case 5: return ["type": "MultiPolygon", "coordinates": .array((0..<Int(next() % 3)).map { _ in .array([ring()]) })]
            case 6 where depth < 2:
                return ["type": "GeometryCollection", "geometries": .array((0..<Int(next() % 3)).map { _ in geometry(kind: Int(next()) % 9, depth: depth + 1) })]
            case 7:
                var d: Document = ["type": "Polygon", "coordinates": .array([ring()])]
                d.append("crs", ["type": "name", "properties": ["name": .string(["EPSG:4326", "urn:x-mongodb:crs:strictwinding:EPSG:4326", "bogus"][Int(next() % 3)])]])
                return .document(d)
            default: return pair()
            }
        }
    }
}
