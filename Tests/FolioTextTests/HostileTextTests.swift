import Testing
import FolioBSON
@testable import FolioText

/// Hostile `$search` strings and indexed fields: each answers (terms, a match, a score) without
/// a crash, and in time that grows with the input's length, not its square.
@Suite struct HostileTextTests {
    let spec = try! TextIndexSpec(normalized: TextIndexSpec.normalize(["key": ["t": "text"]]))

    func matches(_ search: String, _ text: String) throws -> Bool {
        try TextMatcher(query: TextQuery(search: search, language: .english), spec: spec).matches(["t": .string(text)])
    }

    @Test func aTenMegabyteSearchOfDistinctWords() {
        var words: [String] = []
        var n = 0
        var bytes = 0
        while bytes < 10 << 20 {
            let w = "w" + String(n, radix: 36)
            words.append(w)
            bytes += w.utf8.count + 1
            n += 1
        }
        let q = TextQuery(search: words.joined(separator: " "), language: .english)
        #expect(q.termsForBounds.count > 1_000_000)
        #expect(q.termsForBounds.count <= words.count)
    }

    @Test func millionsOfQuotesDashesAndNothingElse() throws {
        #expect(TextQuery(search: String(repeating: "\"", count: 4_000_000), language: .english).positivePhrases.count == 2_000_000)
        #expect(TextQuery(search: String(repeating: "-", count: 4_000_000), language: .english).negatedTerms.isEmpty)
        #expect(TextQuery(search: String(repeating: "- ", count: 2_000_000), language: .english).termsForBounds.isEmpty)
        // Two million copies of one phrase are checked once.
        let repeated = String(repeating: "\"coffee cup\" ", count: 200_000)
        #expect(try matches(repeated, "a coffee cup"))
        #expect(try !matches(repeated, "a coffee mug"))
    }

    @Test func aLongNearlyMatchingPhraseInALongField() throws {
        // A naive search compares about a million bytes at each of a million offsets.
        let field = String(repeating: "a", count: 1_000_000)
        let phrase = "\"" + String(repeating: "a", count: 500_000) + "b\""
        #expect(try !matches("a " + phrase, field))
        #expect(try matches("a \"" + String(repeating: "a", count: 500_000) + "\"", field))
    }

    @Test func endlessCombiningMarksAndOddScalars() throws {
        // One letter carrying a million combining marks: folded to the letter.
        let marked = "e" + String(repeating: "\u{301}", count: 1_000_000)
        #expect(TextTokenizer(language: .english).tokens(marked) == ["e"])
        #expect(try matches("e", marked))
        // NUL, lone surrogates replaced at decoding, private-use and unassigned scalars.
        let odd = "a\u{0}b \u{FFFD} \u{E000}x \u{10FFFF}"
        #expect(!TextTokenizer(language: .english).tokens(odd).isEmpty)
        let scores = try spec.termScores(["t": .string(odd)])
        #expect(!scores.isEmpty && scores.values.allSatisfy { $0.isFinite && $0 > 0 })
    }

    @Test func aFieldOfOneMillionRepeatsOfOneWord() throws {
        let text = String(repeating: "tea ", count: 1_000_000)
        let scores = try spec.termScores(["t": .string(text)])
        // The repeats add up to just under 2 (1 + 1/2 + 1/4 + ...), times the full-field factor 1.
        #expect(scores == ["tea": 2.0] || (scores["tea"].map { $0 > 1.99 && $0 <= 2 } ?? false))
    }
}
