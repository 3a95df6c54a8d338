import Testing
import FolioBSON
import FolioGeo
import FolioQuery
@testable import FolioEngine
import FolioTestSupport

/// `$geoWithin`, `$geoIntersects` and `$near` answered through a 2dsphere index against the
/// same queries over a collection scan (`hint: {$natural: 1}`) and, for `$near`, against the
/// exact distances sorted, under random inserts, updates and deletes of points, lines and
/// polygons around the antimeridian, a pole and ordinary places (seed printed; replay with
/// FOLIO_SEED).
@Suite struct GeoDifferentialTests {
    static let anchors: [(Double, Double)] = [(2.35, 48.85), (179.95, 0), (-179.95, 0.2), (10, 89.95), (-120, -45)]

    @Test(arguments: Backend.allCases)
    func theIndexAgreesWithACollectionScan(backend: Backend) throws {
        let seed = TestSupport.seed()
        print("geo differential (\(backend)) seed: \(seed) (replay with FOLIO_SEED=\(seed))")
        var rng = TestSupport.SeededGenerator(seed: seed)
        let engine = try makeEngine(backend)
        defer { engine.close() }
        let ns = try Namespace(database: "maps", collection: "places")
        _ = try engine.createIndexes(ns, [["key": ["loc": "2dsphere"], "name": "loc_2dsphere"]])

        func point(_ spread: Double) -> (Double, Double) {
            let (x, y) = GeoDifferentialTests.anchors.randomElement(using: &rng)!
            var lng = x + Double.random(in: -spread...spread, using: &rng)
            if lng > 180 { lng -= 360 }
            if lng < -180 { lng += 360 }
            return (lng, max(-90, min(90, y + Double.random(in: -spread...spread, using: &rng) * 0.5)))
        }
        func pair(_ p: (Double, Double)) -> BSON { [.double(p.0), .double(p.1)] }
        /// A small box around a point, as a closed GeoJSON ring.
        func box(_ c: (Double, Double), _ r: Double) -> BSON {
            let lat0 = max(-89.99, c.1 - r * 0.5), lat1 = min(89.99, c.1 + r * 0.5)
            let lng0 = max(-180, c.0 - r), lng1 = min(180, c.0 + r)
            return [[pair((lng0, lat0)), pair((lng1, lat0)), pair((lng1, lat1)), pair((lng0, lat1)), pair((lng0, lat0))]]
        }
        func geometry() -> BSON {
            switch Int.random(in: 0...9, using: &rng) {
            case 0...4: return ["type": "Point", "coordinates": pair(point(1))]
            case 5: return pair(point(1))
            case 6: return ["type": "LineString", "coordinates": [pair(point(1)), pair(point(1))]]
            case 7: return ["type": "Polygon", "coordinates": box(point(1), Double.random(in: 0.001...0.3, using: &rng))]
            case 8: return ["type": "MultiPoint", "coordinates": [pair(point(1)), pair(point(1))]]
            default: return .null
            }
        }
        var live = Set<Int>()
        for step in 0..<400 {
            let id = Int.random(in: 0..<120, using: &rng)
            switch Int.random(in: 0...9, using: &rng) {
            case 0...4:
                _ = try engine.delete(ns, [DeleteStatement(filter: ["_id": .int32(Int32(id))], limitOne: true)])
                var d: Document = ["_id": .int32(Int32(id)), "n": .int32(Int32(step % 3))]
                let g = geometry()
                if g != .null { d.append("loc", g) }
                // Lines between far anchors may be antipodal: the index refuses what MongoDB refuses.
                if (try? engine.insert(ns, [d]))?.writeErrors.isEmpty ?? false { live.insert(id) } else { live.remove(id) }
            case 5:
                _ = try engine.update(ns, [UpdateStatement(filter: ["_id": .int32(Int32(id))], update: ["$set": ["loc": ["type": "Point", "coordinates": pair(point(1))]]])])
            case 6:
                _ = try engine.delete(ns, [DeleteStatement(filter: ["_id": .int32(Int32(id))], limitOne: true)])
                live.remove(id)
            default:
                let c = point(1)
                let filter: Document
                switch Int.random(in: 0...4, using: &rng) {
                case 0: filter = ["loc": ["$geoWithin": ["$geometry": ["type": "Polygon", "coordinates": box(c, Double.random(in: 0.01...2, using: &rng))]]]]
                case 1: filter = ["loc": ["$geoWithin": ["$centerSphere": [pair(c), .double(Double.random(in: 0.0001...0.05, using: &rng))]]]]
                case 2: filter = ["loc": ["$geoIntersects": ["$geometry": ["type": "Polygon", "coordinates": box(c, Double.random(in: 0.01...2, using: &rng))]]]]
                case 3: filter = ["loc": ["$geoIntersects": ["$geometry": ["type": "LineString", "coordinates": [pair(c), pair(point(1))]]]]]
                default:
                    try checkNear(engine, ns, c, maxMeters: Bool.random(using: &rng) ? Double.random(in: 1000...300_000, using: &rng) : nil,
                                  limit: Int.random(in: 0...8, using: &rng), seed: seed, step: step)
                    continue
                }
                let indexed = try engine.find(ns, FindRequest(filter: filter, sort: ["_id": 1])).all().map { $0.document() }
                let scanned = try engine.find(ns, FindRequest(filter: filter, sort: ["_id": 1], hint: ["$natural": 1])).all().map { $0.document() }
                #expect(indexed == scanned, "seed \(seed) step \(step): \(filter)")
            }
        }
        #expect(try engine.validate(ns).errors.isEmpty)
    }

    /// `$near` gives every document with a geometry within the distance, nearest first.
    func checkNear(_ engine: Engine, _ ns: Namespace, _ c: (Double, Double), maxMeters: Double?, limit: Int, seed: UInt64, step: Int) throws {
        var near: Document = ["$geometry": ["type": "Point", "coordinates": [.double(c.0), .double(c.1)]]]
        if let maxMeters { near.append("$maxDistance", .double(maxMeters)) }
        let got = try engine.find(ns, FindRequest(filter: ["loc": ["$near": .document(near)]], limit: limit)).all().map { $0.document() }
        let center = Point3(lng: c.0, lat: c.1)
        var expected: [(Double, Document)] = []
        for d in try engine.find(ns, FindRequest(filter: [:])).all().map({ $0.document() }) {
            guard let loc = d["loc"], let g = try? GeoJSONParser.parseStored(loc) else { continue }
            let meters = g.distance(from: center) * Sphere.earthRadiusMeters
            if let maxMeters, meters > maxMeters { continue }
            expected.append((meters, d))
        }
        expected.sort { $0.0 < $1.0 }
        if limit > 0 { expected = Array(expected.prefix(limit)) }
        let distances = got.compactMap { d in d["loc"].flatMap { try? GeoJSONParser.parseStored($0) }.map { $0.distance(from: center) * Sphere.earthRadiusMeters } }
        #expect(got.count == expected.count, "seed \(seed) step \(step): near \(c) max \(String(describing: maxMeters)) limit \(limit)")
        let ordered = zip(distances, expected.map(\.0)).allSatisfy { abs($0 - $1) <= 1e-6 * max(1, $1) }
        #expect(ordered, "seed \(seed) step \(step): near \(c) order")
        if !ordered, let bad = zip(got, expected).first(where: { $0.0 != $0.1.1 }) { print("got \(bad.0) expected \(bad.1.1)") }
    }
}

/// A 2d index against collection scans: `$box`, `$polygon`, `$center`, `$centerSphere`, and
/// `$near` (flat distances) / `$nearSphere` (radians) against the sorted exact distances.
@Suite struct PlanarDifferentialTests {
    @Test(arguments: Backend.allCases)
    func theGridAgreesWithACollectionScan(backend: Backend) throws {
        let seed = TestSupport.seed()
        print("2d differential (\(backend)) seed: \(seed) (replay with FOLIO_SEED=\(seed))")
        var rng = TestSupport.SeededGenerator(seed: seed)
        let engine = try makeEngine(backend)
        defer { engine.close() }
        let ns = try Namespace(database: "maps", collection: "grid")
        _ = try engine.createIndexes(ns, [["key": ["loc": "2d"], "name": "loc_2d", "bits": .int32(Int32.random(in: 8...32, using: &rng))]])
        func pair() -> BSON { [.double(Double.random(in: -10...10, using: &rng)), .double(Double.random(in: -10...10, using: &rng))] }
        for id in 0..<150 {
            var d: Document = ["_id": .int32(Int32(id))]
            switch id % 7 {
            case 0: break
            case 1: d.append("loc", [pair(), pair()])
            default: d.append("loc", pair())
            }
            _ = try engine.insert(ns, [d])
        }
        for step in 0..<60 {
            let c = pair()
            let r = Double.random(in: 0.1...6, using: &rng)
            let (x, y) = (c.arrayValue![0].asDouble!, c.arrayValue![1].asDouble!)
            let shapes: [Document] = [
                ["$box": [[.double(x - r), .double(y - r)], [.double(x + r), .double(y + r)]]],
                ["$polygon": [[.double(x - r), .double(y)], [.double(x), .double(y - r)], [.double(x + r), .double(y + r)]]],
                ["$center": [c, .double(r)]],
                ["$centerSphere": [c, .double(r / 60)]],
            ]
            for shape in shapes {
                let filter: Document = ["loc": ["$geoWithin": .document(shape)]]
                let indexed = try engine.find(ns, FindRequest(filter: filter, sort: ["_id": 1])).all().map { $0.document() }
                let scanned = try engine.find(ns, FindRequest(filter: filter, sort: ["_id": 1], hint: ["$natural": 1])).all().map { $0.document() }
                #expect(indexed == scanned, "seed \(seed) step \(step): \(filter)")
            }
            for sphere in [false, true] {
                let max = sphere ? r / 60 : r
                let filter: Document = ["loc": [sphere ? "$nearSphere" : "$near": c, "$maxDistance": .double(max)]]
                let got = try engine.find(ns, FindRequest(filter: filter)).all().map { $0.document() }
                func distance(_ d: Document) -> Double {
                    var values: [BSON] = []
                    GeoIndexSpec.collect(.document(d), ["loc"], &values)
                    return values.compactMap { v -> Double? in
                        guard let p = try? GeoJSONParser.parseFlatPoint(v) else { return nil }
                        return sphere ? Point3(lng: x, lat: y).angle(to: p.point) : ((p.x - x) * (p.x - x) + (p.y - y) * (p.y - y)).squareRoot()
                    }.min() ?? .infinity
                }
                let all = try engine.find(ns, FindRequest(filter: [:])).all().map { $0.document() }
                let want = all.map { ($0, distance($0)) }.filter { $0.1 <= max }.sorted { $0.1 < $1.1 }.map(\.1)
                #expect(got.map(distance) == want, "seed \(seed) step \(step): \(filter)")
            }
        }
        #expect(try engine.validate(ns).errors.isEmpty)
    }
}
