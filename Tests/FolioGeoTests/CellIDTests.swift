import Testing
@testable import FolioGeo

@Suite struct CellIDTests {
    @Test func knownIDs() {
        // S2's documented id of the leaf cell at latitude 0, longitude 0 (face 0, center).
        #expect(CellID(Point3(lng: 0, lat: 0)).id == 0x1000_0000_0000_0001)
        #expect(CellID.face(0).level == 0)
        #expect(CellID(Point3(lng: 0, lat: 0)).level == 30)
        // Each face's center: face f's level-0 id is f << 61 | 1 << 60.
        for (face, p) in [(0, Point3(1, 0, 0)), (1, Point3(0, 1, 0)), (2, Point3(0, 0, 1)), (3, Point3(-1, 0, 0)), (4, Point3(0, -1, 0)), (5, Point3(0, 0, -1))] {
            let leaf = CellID(p)
            #expect(leaf.face == face)
            #expect(leaf.parent(0) == CellID.face(face))
        }
    }

    @Test func parentsChildrenAndRanges() {
        let leaf = CellID(Point3(lng: 2.35, lat: 48.85))
        var c = leaf
        while c.level > 0 {
            let p = c.parent
            #expect(p.level == c.level - 1)
            #expect(p.contains(c))
            #expect(p.children.contains(c))
            #expect(p.children.allSatisfy { p.contains($0) && $0.parent == p })
            c = p
        }
    }

    @Test func cellCornersHoldTheirPoints() {
        // A point's cell at every level has the point within its corners' cap.
        let p = Point3(lng: -73.97, lat: 40.77)
        for level in [0, 5, 10, 16, 24, 30] {
            let cell = CellShape(CellID(p).parent(level))
            #expect(cell.bound.contains(p))
            #expect(cell.contains(p))
        }
    }

    @Test func coveringsHoldTheRegion() {
        let cap = Cap(center: Point3(lng: 10, lat: 45), radius: 0.001)
        let covering = Coverer(minLevel: 2, maxLevel: 30, maxCells: 20).covering(cap)
        #expect(!covering.isEmpty && covering.count <= 24)
        // Points inside the cap fall into some cell of the covering.
        for dx in stride(from: -0.05, through: 0.05, by: 0.01) {
            for dy in stride(from: -0.05, through: 0.05, by: 0.01) {
                let q = Point3(lng: 10 + dx, lat: 45 + dy)
                if cap.contains(q) { #expect(covering.contains { $0.contains(CellID(q)) }) }
            }
        }
    }
}
