import Testing
import FolioBSON
import FolioQuery
@testable import FolioEngine
import FolioTestSupport

/// Random writes and queries on the engine and on the trivially correct reference collection
/// must agree (seed printed; replay with FOLIO_SEED).
@Suite struct EngineDifferentialTests {
    @Test(arguments: Backend.allCases)
    func engineAgreesWithTheReferenceModel(backend: Backend) throws {
        let seed = TestSupport.seed()
        print("engine differential (\(backend)) seed: \(seed) (replay with FOLIO_SEED=\(seed))")
        var rng = TestSupport.SeededGenerator(seed: seed)
        let engine = try makeEngine(backend)
        defer { engine.close() }
        let model = ReferenceCollection(orderedByID: true)
        func value() -> BSON {
            switch Int.random(in: 0...6, using: &rng) {
            case 0: return .null
            case 1: return .string(["a", "b", "c"][Int.random(in: 0...2, using: &rng)])
            case 2: return .array([.int32(Int32.random(in: 0...3, using: &rng)), .int32(Int32.random(in: 0...3, using: &rng))])
            case 3: return .double(Double(Int.random(in: 0...3, using: &rng)))
            default: return .int32(Int32.random(in: 0...3, using: &rng))
            }
        }
        func filter() -> Document {
            let field = ["a", "b", "c.d"][Int.random(in: 0...2, using: &rng)]
            switch Int.random(in: 0...5, using: &rng) {
            case 0: return [field: value()]
            case 1: return [field: ["$gt": value()]]
            case 2: return [field: ["$in": [value(), value()]]]
            case 3: return [field: ["$exists": .bool(Bool.random(using: &rng))]]
            case 4: return ["$or": [[field: value()], ["_id": .int32(Int32.random(in: 0...30, using: &rng))]]]
            default: return [field: ["$ne": value()]]
            }
        }
        for step in 0..<400 {
            let f = filter()
            switch Int.random(in: 0...9, using: &rng) {
            case 0, 1, 2:
                let d: Document = ["_id": .int32(Int32.random(in: 0...30, using: &rng)), "a": value(), "b": value(), "c": ["d": value()]]
                let r = try engine.insert(ns, [d])
                let expectedError = (try? model.insert(d)) == nil
                #expect((r.writeErrors.first?.error.code == .duplicateKey) == expectedError, "seed \(seed) step \(step)")
            case 3, 4:
                let u: BSON = ["$set": ["b": value()], "$inc": ["n": 1]]
                let multi = Bool.random(using: &rng)
                let r = try engine.update(ns, [UpdateStatement(filter: f, update: u, multi: multi)])
                let m = try model.update(f, u, multi: multi)
                #expect(r.matched == m.matched && r.modified == m.modified, "seed \(seed) step \(step) \(f)")
            case 5:
                let one = Bool.random(using: &rng)
                let r = try engine.delete(ns, [DeleteStatement(filter: f, limitOne: one)])
                #expect(r.deleted == (try model.delete(f, multi: !one)), "seed \(seed) step \(step)")
            default:
                let sort: Document? = Bool.random(using: &rng) ? ["a": 1, "_id": 1] : nil
                let got = try engine.find(ns, FindRequest(filter: f, sort: sort)).all().map { $0.document() }
                let want = try model.find(f, sort: sort)
                if sort == nil {
                    let key: (Document) -> [UInt8] = { KeyString.encode($0["_id"]!) }
                    #expect(got.sorted { compareBytesForTest(key($0), key($1)) } == want.sorted { compareBytesForTest(key($0), key($1)) }, "seed \(seed) step \(step) \(f)")
                } else {
                    #expect(got == want, "seed \(seed) step \(step) \(f)")
                }
            }
        }
    }
}

func compareBytesForTest(_ a: [UInt8], _ b: [UInt8]) -> Bool { a.lexicographicallyPrecedes(b) }
