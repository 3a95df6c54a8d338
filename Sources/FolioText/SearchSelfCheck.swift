import FolioBSON

/// What must hold for any `$search` string, checked by the text fuzzer (Fuzz/Text) and by the
/// replay of its findings (HostileTextTests): a document whose text field is the search string
/// itself carries every term the index scan looks for, every term scores a positive finite
/// number, and a query without negations matches it.
public enum SearchSelfCheck {
    public struct Violation: Error, CustomStringConvertible {
        public let description: String
    }

    /// MongoDB's languages, in the order an input's first byte picks them (English and none
    /// first, then the rest alphabetically: the seeds in SearchRegressions depend on it).
    static let languages = (["english", "none"] + TextLanguage.names.map(\.name).filter { $0 != "english" })
        .map { TextLanguage(named: $0)! }

    /// Reads an input as the fuzzer does — the first byte picks the language (low four bits),
    /// `$caseSensitive` (0x10) and `$diacriticSensitive` (0x20); the rest is the search string,
    /// invalid UTF-8 replaced — checks it, and returns the parsed query (nil for an empty input).
    @discardableResult
    public static func check(_ input: [UInt8]) throws -> TextQuery? {
        guard let options = input.first else { return nil }
        let language = languages[Int(options & 0x0F)]
        let search = String(decoding: input.dropFirst(), as: UTF8.self)
        let query = TextQuery(search: search, language: language, caseSensitive: options & 0x10 != 0,
                              diacriticSensitive: options & 0x20 != 0)
        let spec = try TextIndexSpec(normalized: TextIndexSpec.normalize(["key": ["t": "text"], "default_language": .string(language.name)]))
        let document: Document = ["t": .string(search)]
        let scores = try spec.termScores(document)
        for term in query.termsForBounds where scores[term] == nil {
            throw Violation(description: "bounds term \(term) is not among the document's keys \(scores.keys.sorted())")
        }
        for (term, score) in scores where !(score.isFinite && score > 0) {
            throw Violation(description: "term \(term) scored \(score)")
        }
        let matched = try TextMatcher(query: query, spec: spec).matches(document)
        if query.negatedTerms.isEmpty, query.negatedPhrases.isEmpty, !query.termsForBounds.isEmpty, !matched {
            throw Violation(description: "a query without negations does not match its own text")
        }
        return query
    }
}
