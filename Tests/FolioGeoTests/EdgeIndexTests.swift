import Foundation
import Testing
@testable import FolioGeo

/// A large loop's edge index answers containment and edge queries exactly as a scan of every
/// edge does: star-shaped rings of hundreds to thousands of vertices, around ordinary places,
/// across the antimeridian and around a pole.
@Suite struct EdgeIndexTests {
    static let centers: [(Double, Double)] = [(10, 45), (179.5, 10), (-179.8, -30), (30, 88), (-60, -87), (0, 0)]

    func star(_ c: (Double, Double), vertices n: Int, radius: Double, using rng: inout some RandomNumberGenerator) -> [Point3] {
        (0..<n).map { i in
            let t = Double(i) / Double(n) * 2 * .pi
            let r = radius * Double.random(in: 0.4...1, using: &rng)
            // Degrees on a small sphere patch: longitude scaled so the ring stays star-shaped.
            let lat = max(-89.99, min(89.99, c.1 + r * sin(t)))
            var lng = c.0 + r * cos(t) / max(0.05, cos(c.1 * .pi / 180))
            if lng > 180 { lng -= 360 }
            if lng < -180 { lng += 360 }
            return Point3(lng: lng, lat: lat)
        }
    }

    @Test func containmentAgreesWithTheFullScan() {
        var rng = SystemRandomNumberGenerator()
        var checked = 0
        for c in EdgeIndexTests.centers {
            for n in [64, 300, 3000] {
                let vertices = star(c, vertices: n, radius: Double.random(in: 0.5...8, using: &rng), using: &rng)
                guard LoopValidation.problem(vertices) == nil else { continue }
                let loop = Loop(vertices, normalize: true)
                #expect(loop.edgeIndex != nil)
                for _ in 0..<400 {
                    var lng = c.0 + Double.random(in: -12...12, using: &rng)
                    if lng > 180 { lng -= 360 }
                    if lng < -180 { lng += 360 }
                    let p = Point3(lng: lng, lat: max(-90, min(90, c.1 + Double.random(in: -10...10, using: &rng))))
                    #expect(loop.contains(p) == (loop.bound.contains(p) && loop.containsByFullScan(p)), "center \(c) n \(n) point \(p.lngLat)")
                    checked += 1
                }
            }
        }
        #expect(checked > 2000)
    }

    @Test func edgeQueriesFindEveryCrossing() {
        var rng = SystemRandomNumberGenerator()
        var crossings = 0
        defer { #expect(crossings > 100) }
        for c in EdgeIndexTests.centers {
            let vertices = star(c, vertices: 500, radius: 3, using: &rng)
            guard LoopValidation.problem(vertices) == nil else { continue }
            let loop = Loop(vertices, normalize: true)
            for _ in 0..<200 {
                let a = Point3(lng: c.0 + Double.random(in: -6...6, using: &rng), lat: max(-89, min(89, c.1 + Double.random(in: -4...4, using: &rng))))
                let b = Point3(lng: c.0 + Double.random(in: -6...6, using: &rng), lat: max(-89, min(89, c.1 + Double.random(in: -4...4, using: &rng))))
                var scanned = Set<[Double]>(), indexed = Set<[Double]>()
                for i in 0..<loop.edgeCount { let (x, y) = loop.edge(i); if Sphere.edgesCross(a, b, x, y) { scanned.insert([x.x, x.y, x.z]) } }
                _ = loop.visitEdges(near: a, b) { x, y in if Sphere.edgesCross(a, b, x, y) { indexed.insert([x.x, x.y, x.z]) }; return false }
                #expect(indexed == scanned, "center \(c): \(a.lngLat) → \(b.lngLat)")
                crossings += scanned.count
            }
        }
    }
}
