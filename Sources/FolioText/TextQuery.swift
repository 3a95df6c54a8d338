import CStringSearch
import FolioBSON
import FolioQuery

/// A `$text` search parsed as MongoDB parses it (FTSQueryImpl, version 3): words, `-negated`
/// words, `"phrases"` and `-"negated phrases"`, tokenized in the query's language.
public struct TextQuery: Sendable, Equatable {
    public var search: String
    public var language: TextLanguage
    public var caseSensitive: Bool
    public var diacriticSensitive: Bool

    /// The terms the index is scanned for: the positive words, case- and diacritic-folded, sorted.
    public private(set) var termsForBounds: [String] = []
    /// The terms a document must (for the index, may) contain, as the matcher compares them.
    public private(set) var positiveTerms: [String] = []
    public private(set) var negatedTerms: [String] = []
    public private(set) var positivePhrases: [String] = []
    public private(set) var negatedPhrases: [String] = []

    public init(search: String, language: TextLanguage, caseSensitive: Bool = false, diacriticSensitive: Bool = false) {
        self.search = search
        self.language = language
        self.caseSensitive = caseSensitive
        self.diacriticSensitive = diacriticSensitive
        parse()
    }

    /// `parsedTextQuery` in explain.
    public var explainDocument: Document {
        ["terms": .array(positiveTerms.map(BSON.string)), "negatedTerms": .array(negatedTerms.map(BSON.string)),
         "phrases": .array(positivePhrases.map(BSON.string)), "negatedPhrases": .array(negatedPhrases.map(BSON.string))]
    }

    private enum Kind { case text, whitespace, delimiter }

    private static func kind(_ b: UInt8) -> Kind {
        switch b {
        case 0x0A, 0x0B, 0x0C, 0x0D, 0x20: return .whitespace
        case UInt8(ascii: "-"), UInt8(ascii: "\""): return .delimiter
        default: return .text
        }
    }

    private mutating func parse() {
        let bytes = Array(search.utf8)
        var positiveSentence: [UInt8] = [], negativeSentence: [UInt8] = []
        var inNegation = false, inPhrase = false
        var quoteOffset = 0
        var pos = 0
        func skipWhitespace() -> Bool {
            let start = pos
            while pos < bytes.count, TextQuery.kind(bytes[pos]) == .whitespace { pos += 1 }
            return pos > start
        }
        _ = skipWhitespace()
        var previousWhitespace = true
        var positive: [String] = [], negative: [String] = []
        while pos < bytes.count {
            let start = pos
            let kind = TextQuery.kind(bytes[pos])
            pos += 1
            if kind == .text { while pos < bytes.count, TextQuery.kind(bytes[pos]) == .text { pos += 1 } }
            let token = bytes[start..<pos]
            let afterWhitespace = previousWhitespace
            previousWhitespace = skipWhitespace()
            if kind == .text {
                if inPhrase && inNegation { continue }
                // A negation lasts until the next whitespace: "-foo-bar" negates both words.
                if inNegation && afterWhitespace { inNegation = false }
                if inNegation { negativeSentence += token + [0x20] } else { positiveSentence += token + [0x20] }
            } else if token.first == UInt8(ascii: "-") {
                if !inPhrase && afterWhitespace { inNegation = true }
            } else {
                if inPhrase {
                    let phrase = String(decoding: bytes[(quoteOffset + 1)..<start], as: UTF8.self)
                    if inNegation { negative.append(phrase) } else { positive.append(phrase) }
                    inPhrase = false
                } else {
                    inPhrase = true
                    if inNegation && afterWhitespace { inNegation = false }
                    quoteOffset = start
                }
            }
        }
        positivePhrases = positive
        negatedPhrases = negative
        let tokenizer = TextTokenizer(language: language)
        var bounds = Set<String>(), positives = Set<String>(), negatives = Set<String>()
        var sensitive: TextTokenizer.Options = .filterStopWords
        if caseSensitive { sensitive.insert(.caseSensitive) }
        if diacriticSensitive { sensitive.insert(.diacriticSensitive) }
        for (sentence, negated) in [(positiveSentence, false), (negativeSentence, true)] {
            let text = String(decoding: sentence, as: UTF8.self)
            for word in tokenizer.tokens(text, options: .filterStopWords) {
                if !negated { bounds.insert(word) }
                if !caseSensitive && !diacriticSensitive {
                    if negated { negatives.insert(word) } else { positives.insert(word) }
                }
            }
            if caseSensitive || diacriticSensitive {
                for word in tokenizer.tokens(text, options: sensitive) {
                    if negated { negatives.insert(word) } else { positives.insert(word) }
                }
            }
        }
        termsForBounds = TextQuery.sorted(bounds)
        positiveTerms = TextQuery.sorted(positives)
        negatedTerms = TextQuery.sorted(negatives)
    }

    /// Byte order, as MongoDB's std::set<std::string> keeps terms.
    static func sorted(_ s: Set<String>) -> [String] {
        s.sorted { $0.utf8.lexicographicallyPrecedes($1.utf8) }
    }
}

/// Whether a document a text index found for a query really matches it (MongoDB's FTSMatcher):
/// no negated word, every phrase and no negated phrase, and — for case- or diacritic-sensitive
/// searches, which the folded index cannot decide — some positive word as written.
public struct TextMatcher: Sendable {
    public let query: TextQuery
    public let spec: TextIndexSpec
    private(set) var negated: Set<String>
    let positive: Set<String>
    let positivePhrases: [String]
    let negatedPhrases: [String]

    public init(query: TextQuery, spec: TextIndexSpec) {
        self.query = query
        self.spec = spec
        negated = Set(query.negatedTerms)
        positive = Set(query.positiveTerms)
        // Each phrase once (explain lists them as written): a document is checked against all.
        var seen = Set<String>()
        positivePhrases = query.positivePhrases.filter { seen.insert($0).inserted }
        seen = []
        negatedPhrases = query.negatedPhrases.filter { seen.insert($0).inserted }
    }

    /// Leaves these negated words to the caller, which answers them from the index (possible
    /// when the search folds case and diacritics as the index does, and the word is no stop
    /// word's token in any language: see `StopWords.tokensOfStopWords`).
    public mutating func negatedTermsCheckedElsewhere(_ terms: Set<String>) { negated.subtract(terms) }

    /// Whether every document the index scans find matches: no negation, no phrase, and
    /// neither case nor diacritics to check against the text as written.
    public var decidedByTheIndex: Bool {
        negated.isEmpty && positivePhrases.isEmpty && negatedPhrases.isEmpty && !query.caseSensitive && !query.diacriticSensitive
    }

    var tokenOptions: TextTokenizer.Options {
        var o: TextTokenizer.Options = []
        if query.caseSensitive { o.insert(.caseSensitive) }
        if query.diacriticSensitive { o.insert(.diacriticSensitive) }
        return o
    }

    public func matches(_ document: Document) throws(FolioError) -> Bool {
        if query.caseSensitive || query.diacriticSensitive {
            guard try anyString(document, { text, language in contains(text, language, positive) }) else { return false }
        }
        if !negated.isEmpty, try anyString(document, { text, language in contains(text, language, negated) }) { return false }
        if positivePhrases.isEmpty && negatedPhrases.isEmpty { return true }
        // The document's strings are folded once, each phrase once per folding (Turkish or not).
        var texts: [(bytes: [UInt8], turkish: Bool)] = []
        try spec.forEachIndexedString(document) { (text, _, language) throws(FolioError) in
            texts.append((Array(fold(text, turkish: language.isTurkish).utf8), language.isTurkish))
        }
        func found(_ phrase: String) -> Bool {
            var needles: [Bool: [UInt8]] = [:]
            return texts.contains { text in
                let needle = needles[text.turkish] ?? Array(fold(phrase, turkish: text.turkish).utf8)
                needles[text.turkish] = needle
                return TextMatcher.contains(text.bytes, needle)
            }
        }
        return positivePhrases.allSatisfy(found) && !negatedPhrases.contains(where: found)
    }

    func contains(_ text: String, _ language: TextLanguage, _ terms: Set<String>) -> Bool {
        var found = false
        TextTokenizer(language: language).forEachToken(text, options: tokenOptions) { if terms.contains($0) { found = true } }
        return found
    }

    func fold(_ s: String, turkish: Bool) -> String {
        TextUnicode.normalize(Substring(s).unicodeScalars, turkish: turkish,
                              caseSensitive: query.caseSensitive, diacriticSensitive: query.diacriticSensitive)
    }

    /// Whether `needle` occurs in `haystack`, by glibc's memmem (the two-way algorithm): linear
    /// in both lengths, where a naive scan of a long field for a long, nearly matching phrase
    /// would take their product.
    static func contains(_ haystack: [UInt8], _ needle: [UInt8]) -> Bool {
        if needle.isEmpty { return true }
        guard haystack.count >= needle.count else { return false }
        return haystack.withUnsafeBytes { h in
            needle.withUnsafeBytes { n in memmem(h.baseAddress, h.count, n.baseAddress, n.count) != nil }
        }
    }

    private func anyString(_ document: Document, _ test: (String, TextLanguage) -> Bool) throws(FolioError) -> Bool {
        var found = false
        try spec.forEachIndexedString(document) { (text, _, language) throws(FolioError) in
            if !found && test(text, language) { found = true }
        }
        return found
    }
}
