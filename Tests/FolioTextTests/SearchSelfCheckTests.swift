import Foundation
import Testing
import FolioBSON
import FolioTestSupport
@testable import FolioText

/// The text fuzzer's invariants (SearchSelfCheck): replayed over its seeds and findings, over
/// generated search strings, and shown to fail when they should.
@Suite struct SearchSelfCheckTests {
    @Test func replayEveryFinding() throws {
        let files = try TestSupport.corpusFiles(in: Bundle.module.resourceURL!.appendingPathComponent("SearchRegressions"))
        #expect(files.count >= 9)
        for file in files {
            #expect(throws: Never.self, "\(file.lastPathComponent)") { try SearchSelfCheck.check([UInt8](try Data(contentsOf: file))) }
        }
    }

    /// Search strings made of words, stop words, quotes, dashes, apostrophes, folded and
    /// unfolded letters and stray bytes (seed printed; FOLIO_SEED replays).
    @Test func generatedSearchStringsKeepTheInvariants() throws {
        let seed = TestSupport.seed()
        print("SearchSelfCheckTests seed \(seed)")
        var random = SeededRandom(seed: seed)
        let pieces: [[UInt8]] = ["tea", "Teas", "the", "and", "\"", "-", " ", "'", "café", "CAFÉ", "İ", "ı", "Σ", "ß", "e\u{301}",
                                 "Москва", "don't", ".", "--", "\u{0}", "\u{FFFD}"].map { Array($0.utf8) } + [[0xFF], [0xC3]]
        for _ in 0..<2_000 {
            var input: [UInt8] = [UInt8.random(in: 0...0x3F, using: &random) & 0x3F]
            for _ in 0..<Int.random(in: 0...12, using: &random) { input += pieces.randomElement(using: &random)! }
            #expect(throws: Never.self, "input \(input)") { try SearchSelfCheck.check(input) }
        }
    }

    @Test func inputsPickLanguageAndOptions() throws {
        let query = try #require(try SearchSelfCheck.check([0x3D] + Array("Té".utf8)))
        #expect(query.language.name == "spanish" && query.caseSensitive && query.diacriticSensitive)
        #expect(try SearchSelfCheck.check([]) == nil)
    }
}
