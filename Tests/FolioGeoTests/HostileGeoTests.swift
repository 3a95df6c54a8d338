import Testing
import Foundation
import FolioBSON
@testable import FolioGeo

/// Hostile geometries answer with a geometry or an error, in time that grows with their size,
/// never a trap or a hang.
@Suite struct HostileGeoTests {
    func reason(_ value: BSON) -> String? {
        do { _ = try GeoJSONParser.parseStored(value); return nil } catch { return error.message }
    }

    @Test func aRingOfAMillionVertices() throws {
        // A valid circle of radius 1° with 1,000,000 vertices: validated with the sweep, not pairwise.
        let n = 1_000_000
        var ring: [BSON] = []
        ring.reserveCapacity(n + 1)
        for i in 0..<n {
            let t = Double(i) / Double(n) * 2 * .pi
            ring.append([.double(10 + cos(t)), .double(20 + sin(t))])
        }
        ring.append(ring[0])
        let g = try GeoJSONParser.parseStored(["type": "Polygon", "coordinates": .array([.array(ring)])])
        guard case .polygon(let p) = g else { Issue.record(); return }
        #expect(p.contains(Point3(lng: 10, lat: 20)))
        #expect(!p.contains(Point3(lng: 12, lat: 20)))
        // Containment and crossings go through the edge index: 20,000 questions, not 2 × 10^10
        // edge tests.
        var inside = 0
        for i in 0..<10_000 {
            let q = Point3(lng: 8.5 + Double(i % 100) * 0.03, lat: 18.5 + Double(i / 100) * 0.03)
            if p.contains(q) { inside += 1 }
        }
        // A circle of radius 1° over a 3° square: about π/9 of the points.
        #expect(inside > 3_000 && inside < 4_200)
        let line = Geometry.lineString(Polyline([Point3(lng: 9, lat: 20), Point3(lng: 12, lat: 20.5)]))
        var hits = 0
        for _ in 0..<10_000 where line.intersects(g) { hits += 1 }
        #expect(hits == 10_000)
        // Its covering falls back to the bounding cap past 2,000 edges: bounded work either way.
        let cells = Coverer(minLevel: 2, maxLevel: 16, maxCells: 20).covering(g)
        #expect(!cells.isEmpty && cells.count <= 24)
    }

    @Test func nonFiniteAndOutOfRangeCoordinates() {
        #expect(reason(["type": "Point", "coordinates": [.double(.nan), 1]]) == "Point coordinates must be finite numbers")
        #expect(reason(["type": "Point", "coordinates": [.double(.infinity), 1]]) == "Point coordinates must be finite numbers")
        #expect(reason(["type": "Point", "coordinates": [1, .double(1e308)]])?.hasPrefix("longitude/latitude is out of bounds") == true)
        #expect(reason(["type": "LineString", "coordinates": [[0, 0], [.double(.nan), 0]]]) == "Point coordinates must be finite numbers")
        #expect(reason(["type": "Polygon", "coordinates": [[[0, 0], [1, 0], [.double(-.infinity), 1], [0, 0]]]]) == "Point coordinates must be finite numbers")
        #expect(reason([.double(.nan), 0]) == "Point coordinates must be finite numbers")
    }

    @Test func selfIntersectingRingsAndNesting() {
        // A star drawn in one stroke crosses itself.
        var star: [BSON] = []
        for k in 0..<5 {
            let t = Double(k * 2 % 5) / 5 * 2 * .pi
            star.append([.double(cos(t)), .double(sin(t))])
        }
        star.append(star[0])
        #expect(reason(["type": "Polygon", "coordinates": .array([.array(star)])])?.contains("cross") == true)
        #expect(reason(["type": "GeometryCollection", "geometries": [["type": "GeometryCollection", "geometries": []]]])?.hasPrefix("GeometryCollections cannot be nested") == true)
        #expect(reason(["type": "MultiPolygon", "coordinates": []]) == "MultiPolygon coordinates must have at least 1 element")
        #expect(reason(["type": "LineString", "coordinates": [[1, 1], [1, 1]]])?.hasPrefix("GeoJSON LineString must have at least 2 vertices") == true)
    }

    @Test func capsOfEveryRadiusCover() {
        // A subnormal radius once made the start-level guess infinite (a trap converting it).
        let center = Point3(lng: 12, lat: 41)
        for radius in [0, Double.leastNonzeroMagnitude, 5e-324, 1e-300, 1e-12, 1e-6, 0.3, 0.49, 0.5, 1.6, 3.2, .infinity] {
            let cells = Coverer(minLevel: 2, maxLevel: 30, maxCells: 24).covering(Cap(center: center, radius: radius))
            #expect(cells.contains { $0.contains(CellID(center)) }, "radius \(radius)")
            _ = Coverer(minLevel: 2, maxLevel: 30, maxCells: 24).covering(Annulus(center: center, innerRadius: radius / 2, outerRadius: radius))
        }
    }
}
