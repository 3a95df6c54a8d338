import Testing
import FolioBSON
@testable import FolioGeo

@Suite struct GeoJSONParserTests {
    func polygon(_ ring: [[Double]]) -> BSON { ["type": "Polygon", "coordinates": .array([.array(ring.map { .array($0.map(BSON.double)) })])] }

    func reason(_ value: BSON) -> String? {
        do { _ = try GeoJSONParser.parseStored(value); return nil } catch { return error.message }
    }

    @Test func pointsAndLegacyPairs() throws {
        guard case .point(let p, let legacy) = try GeoJSONParser.parseStored(["type": "Point", "coordinates": [10, 20]]) else { Issue.record(); return }
        #expect(p.x == 10 && p.y == 20 && !legacy)
        guard case .point(let q, true) = try GeoJSONParser.parseStored([1.5, 2]) else { Issue.record(); return }
        #expect(q.x == 1.5 && q.y == 2)
        guard case .point(_, true) = try GeoJSONParser.parseStored(["lng": 1, "lat": 2, "extra": "kept"]) else { Issue.record(); return }
        #expect(reason(["type": "Point", "coordinates": [200, 0]]) == "longitude/latitude is out of bounds, lng: 200 lat: 0")
        #expect(reason(["type": "Point", "coordinates": [.double(.nan), 0]]) == "Point coordinates must be finite numbers")
        #expect(reason(["type": "Point", "coordinates": ["a", 0]]) == "Point must only contain numeric elements")
        #expect(reason("nowhere") == "Point must be an array or object")
        #expect(reason(["type": "Blob"])?.hasPrefix("unknown GeoJSON type") == true)
    }

    @Test func polygonsAreValidated() {
        #expect(reason(polygon([[0, 0], [1, 0], [1, 1], [0, 1], [0, 0]])) == nil)
        #expect(reason(polygon([[0, 0], [1, 0], [1, 1], [0, 1]]))?.hasPrefix("Loop is not closed") == true)
        #expect(reason(polygon([[0, 0], [1, 0], [0, 0]]))?.hasPrefix("Loop must have at least 3 different vertices") == true)
        // A bow tie: edges 0 and 2 cross.
        #expect(reason(polygon([[0, 0], [1, 1], [1, 0], [0, 1], [0, 0]]))?.hasSuffix("Edges 0 and 2 cross") == true)
        #expect(reason(polygon([[0, 0], [1, 0], [1, 1], [1, 0], [0, 1], [0, 0]]))?.contains("Duplicate vertices") == true)
        let hole: BSON = ["type": "Polygon", "coordinates": [[[0, 0], [10, 0], [10, 10], [0, 10], [0, 0]], [[20, 20], [21, 20], [21, 21], [20, 20]]]]
        #expect(reason(hole)?.hasPrefix("Secondary loops not contained by first exterior loop") == true)
    }

    @Test func containmentIsTheSmallerRegionWhateverTheWinding() throws {
        for ring in [[[0.0, 0.0], [10, 0], [10, 10], [0, 10], [0, 0]], [[0.0, 0.0], [0, 10], [10, 10], [10, 0], [0, 0]]] {
            guard case .polygon(let p) = try GeoJSONParser.parseStored(polygon(ring)) else { Issue.record(); return }
            #expect(p.contains(Point3(lng: 5, lat: 5)))
            #expect(!p.contains(Point3(lng: 15, lat: 5)))
            #expect(!p.contains(Point3(lng: -170, lat: -40)))
            #expect(p.shell.area < 2 * .pi)
        }
    }

    @Test func holesExclude() throws {
        let g = try GeoJSONParser.parseStored(["type": "Polygon", "coordinates": [[[0, 0], [10, 0], [10, 10], [0, 10], [0, 0]], [[4, 4], [6, 4], [6, 6], [4, 6], [4, 4]]]])
        guard case .polygon(let p) = g else { Issue.record(); return }
        #expect(p.contains(Point3(lng: 2, lat: 2)))
        #expect(!p.contains(Point3(lng: 5, lat: 5)))
    }

    @Test func distancesUseMongoDBsEarthRadius() {
        // One degree of longitude on the equator.
        let d = Point3(lng: 0, lat: 0).angle(to: Point3(lng: 1, lat: 0)) * Sphere.earthRadiusMeters
        #expect(abs(d - 6378100 * Double.pi / 180) < 1e-6)
    }

    @Test func aHostileRingAnswersInTime() {
        // 200,000 vertices on a zigzag whose edges all overlap in x: refused or checked, never a hang.
        var ring: [BSON] = []
        for i in 0..<200_000 { ring.append([.double(Double(i % 2) * 0.001), .double(Double(i) * 0.0004 - 40)]) }
        ring.append(ring[0])
        _ = reason(["type": "Polygon", "coordinates": .array([.array(ring)])])
    }
}
