import Testing
import FolioBSON
@testable import FolioText

@Suite struct TextQueryTests {
    @Test func wordsNegationsAndPhrases() {
        let q = TextQuery(search: "coffee -tea \"hot drink\" -\"iced latte\"", language: .english)
        #expect(q.termsForBounds == ["coffe", "drink", "hot"])
        #expect(q.positiveTerms == ["coffe", "drink", "hot"])
        #expect(q.negatedTerms == ["tea"])
        #expect(q.positivePhrases == ["hot drink"] && q.negatedPhrases == ["iced latte"])
        #expect(q.explainDocument == ["terms": ["coffe", "drink", "hot"], "negatedTerms": ["tea"],
                                      "phrases": ["hot drink"], "negatedPhrases": ["iced latte"]])
    }

    @Test func aNegationLastsUntilWhitespace() {
        #expect(TextQuery(search: "-foo-bar baz", language: .none).negatedTerms == ["bar", "foo"])
        #expect(TextQuery(search: "- foo", language: .none).negatedTerms.isEmpty)
        #expect(TextQuery(search: "a-b", language: .none).positiveTerms == ["a", "b"])
        #expect(TextQuery(search: "the and", language: .english).termsForBounds.isEmpty)
        // An unterminated phrase contributes its words, not a phrase.
        let open = TextQuery(search: "\"open phrase", language: .none)
        #expect(open.positivePhrases.isEmpty && open.positiveTerms == ["open", "phrase"])
    }

    @Test func caseAndDiacriticSensitiveTerms() {
        let q = TextQuery(search: "Café", language: .none, caseSensitive: true)
        #expect(q.termsForBounds == ["cafe"] && q.positiveTerms == ["Cafe"])
        #expect(TextQuery(search: "Café", language: .none, diacriticSensitive: true).positiveTerms == ["café"])
    }

    @Test func theMatcherChecksNegationsPhrasesAndSensitiveTerms() throws {
        let spec = try TextIndexSpec(normalized: TextIndexSpec.normalize(["key": ["t": "text"]]))
        func matches(_ search: String, _ t: String, caseSensitive: Bool = false) throws -> Bool {
            try TextMatcher(query: TextQuery(search: search, language: .english, caseSensitive: caseSensitive), spec: spec).matches(["t": .string(t)])
        }
        #expect(try matches("coffee -tea", "coffee and cake"))
        #expect(try !matches("coffee -tea", "coffee and teas"))
        #expect(try matches("\"HOT drink\"", "a hot drink please"))
        #expect(try !matches("\"hot drink\"", "a drink, hot"))
        #expect(try !matches("coffee -\"iced latte\"", "coffee or Iced Latte"))
        #expect(try matches("Coffee", "Coffee", caseSensitive: true))
        #expect(try !matches("Coffee", "coffee", caseSensitive: true))
    }
}
