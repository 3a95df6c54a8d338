import Testing
import FolioBSON
import FolioQuery
@testable import FolioEngine
import FolioText
import FolioTestSupport

/// `$text` answered from the text index (term scans, negations from the index, the matcher,
/// scores from index entries) against the same search worked out document by document with
/// FolioText alone (every document's term scores and the full matcher), under random writes
/// (seed printed; replay with FOLIO_SEED). `$text` has no collection-scan plan (27), so the
/// library's direct evaluation is the "without the index" side.
@Suite struct TextDifferentialTests {
    @Test(arguments: Backend.allCases)
    func theIndexAgreesWithDocumentByDocumentEvaluation(backend: Backend) throws {
        let seed = TestSupport.seed()
        print("text differential (\(backend)) seed: \(seed) (replay with FOLIO_SEED=\(seed))")
        var rng = TestSupport.SeededGenerator(seed: seed)
        let engine = try makeEngine(backend)
        defer { engine.close() }
        let ns = try Namespace(database: "cms", collection: "posts")
        let spec: Document = ["key": ["title": "text", "body": "text"], "name": "posts_text", "weights": ["title": 3]]
        _ = try engine.createIndexes(ns, [spec])
        let textSpec = try TextIndexSpec(normalized: TextIndexSpec.normalize(spec))
        let words = ["tea", "Teas", "TEA", "café", "cafe", "Café", "green", "the", "and", "brewing", "brew", "cups", "cup",
                     "don't", "e-mail", "mail", "naïve", "naive", "ÉTÉ", "été", "sun", "Sun", "l'été"]
        func text() -> String {
            (0..<Int.random(in: 0...6, using: &rng)).map { _ in words.randomElement(using: &rng)! }
                .joined(separator: [" ", " ", ", ", ". ", "-"].randomElement(using: &rng)!)
        }
        func document(_ id: Int) -> Document {
            var d: Document = ["_id": .int32(Int32(id)), "title": .string(text())]
            switch Int.random(in: 0...3, using: &rng) {
            case 0: d.append("body", .array([.string(text()), .string(text())]))
            case 1: d.append("body", .int32(5))
            case 2: break
            default: d.append("body", .string(text()))
            }
            if Int.random(in: 0...4, using: &rng) == 0 { d.append("language", ["french", "none", "spanish"].randomElement(using: &rng)!) }
            return d
        }
        func search() -> String {
            (0..<Int.random(in: 1...4, using: &rng)).map { _ -> String in
                let w = words.randomElement(using: &rng)!
                switch Int.random(in: 0...5, using: &rng) {
                case 0: return "-" + w
                case 1: return "\"" + w + " " + words.randomElement(using: &rng)! + "\""
                case 2: return "-\"" + w + "\""
                default: return w
                }
            }.joined(separator: " ")
        }
        var stored: [Int: Document] = [:]
        for step in 0..<300 {
            let id = Int.random(in: 0..<40, using: &rng)
            switch Int.random(in: 0...9, using: &rng) {
            case 0...3:
                let d = document(id)
                _ = try engine.delete(ns, [DeleteStatement(filter: ["_id": .int32(Int32(id))], limitOne: true)])
                _ = try engine.insert(ns, [d])
                stored[id] = d
            case 4:
                let t = text()
                _ = try engine.update(ns, [UpdateStatement(filter: ["_id": .int32(Int32(id))], update: ["$set": ["title": .string(t)]])])
                stored[id]?["title"] = .string(t)
            case 5:
                _ = try engine.delete(ns, [DeleteStatement(filter: ["_id": .int32(Int32(id))], limitOne: true)])
                stored[id] = nil
            default:
                let s = search()
                let caseSensitive = Int.random(in: 0...4, using: &rng) == 0
                let diacriticSensitive = Int.random(in: 0...4, using: &rng) == 0
                let filter: Document = ["$text": ["$search": .string(s), "$caseSensitive": .bool(caseSensitive),
                                                  "$diacriticSensitive": .bool(diacriticSensitive)]]
                let got = try engine.find(ns, FindRequest(filter: filter, sort: ["_id": 1], projection: ["s": ["$meta": "textScore"]]))
                    .all().map { $0.document() }
                let query = TextQuery(search: s, language: .english, caseSensitive: caseSensitive, diacriticSensitive: diacriticSensitive)
                let matcher = TextMatcher(query: query, spec: textSpec)
                var want: [Document] = []
                for (_, d) in stored.sorted(by: { $0.key < $1.key }) {
                    let scores = try textSpec.termScores(d)
                    guard query.termsForBounds.contains(where: { scores[$0] != nil }), try matcher.matches(d) else { continue }
                    let score = query.termsForBounds.reduce(0.0) { $0 + (scores[$1] ?? 0) }
                    // A projection of only $meta fields keeps the whole document (as MongoDB's does).
                    var shown = d
                    shown.append("s", .double(score))
                    want.append(shown)
                }
                #expect(got == want, "seed \(seed) step \(step): \(s) case \(caseSensitive) diacritics \(diacriticSensitive)")
            }
        }
        #expect(try engine.validate(ns).errors.isEmpty)
    }
}
