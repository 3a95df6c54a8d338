import Testing
import FolioBSON
import FolioQuery
@testable import FolioEngine
import FolioTestSupport

/// 2dsphere and 2d index options: levels and grid parameters from clients, NaN, infinities and
/// huge values refused with MongoDB's codes rather than trapping.
@Suite struct GeoIndexTests {
    @Test func sphereLevels() throws {
        func spec(_ options: Document) throws -> GeoIndexSpec {
            var d: Document = ["key": ["loc": "2dsphere"], "name": "loc"]
            for (k, v) in options { d.append(k, v) }
            return try IndexDescriptor(specification: d, store: "s").geo!
        }
        #expect(try spec([:]).coarsestLevel == 2 && spec([:]).finestLevel == 16)
        #expect(try spec(["coarsestIndexedLevel": 4.0, "finestIndexedLevel": .int64(20)]).finestLevel == 20)
        for bad: BSON in [.double(.nan), .double(.infinity), .double(1e300), .double(2.5), "x"] {
            #expect(failure { _ = try spec(["finestIndexedLevel": bad]) }?.code != nil, "\(bad)")
        }
        #expect(failure { _ = try spec(["finestIndexedLevel": 31]) }?.code == ErrorCode(rawValue: 16748))
        #expect(failure { _ = try spec(["coarsestIndexedLevel": -1]) }?.code == ErrorCode(rawValue: 16747))
        #expect(failure { _ = try spec(["coarsestIndexedLevel": 10, "finestIndexedLevel": 5]) }?.code == ErrorCode(rawValue: 16749))
    }

    @Test func planarGrid() throws {
        func grid(_ options: Document) throws -> PlanarGridView {
            var d: Document = ["key": ["loc": "2d"], "name": "loc"]
            for (k, v) in options { d.append(k, v) }
            let g = try IndexDescriptor(specification: d, store: "s").planar!
            return PlanarGridView(bits: g.bits, min: g.min, max: g.max)
        }
        #expect(try grid([:]) == PlanarGridView(bits: 26, min: -180, max: 180))
        // A fractional `bits` is truncated, as MongoDB's cast does.
        #expect(try grid(["bits": 20.9]).bits == 20)
        for bad: BSON in [.double(.nan), .double(.infinity), .double(-1), .double(33), .double(1e300)] {
            #expect(failure { _ = try grid(["bits": bad]) }?.code != nil, "\(bad)")
        }
        #expect(failure { _ = try grid(["min": 5, "max": 5]) }?.code == .badValue)
        #expect(failure { _ = try grid(["min": -1e308, "max": 1e308]) }?.code == .badValue)
    }

    struct PlanarGridView: Equatable { var bits: Int; var min: Double; var max: Double }
}
