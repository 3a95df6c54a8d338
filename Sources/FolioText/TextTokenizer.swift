/// MongoDB's version 3 (Unicode) text tokenizer: splits on delimiters, lower-cases, leaves out
/// stop words, stems, then removes diacritics — each step optional as a query asks.
public struct TextTokenizer: Sendable {
    public struct Options: OptionSet, Sendable {
        public let rawValue: Int
        public init(rawValue: Int) { self.rawValue = rawValue }
        public static let filterStopWords = Options(rawValue: 1)
        public static let caseSensitive = Options(rawValue: 2)
        public static let diacriticSensitive = Options(rawValue: 4)
    }

    public let language: TextLanguage
    let stopWords: Set<String>

    public init(language: TextLanguage) {
        self.language = language
        self.stopWords = language.stopWords
    }

    /// The tokens of `text`, in order.
    public func tokens(_ text: String, options: Options = .filterStopWords) -> [String] {
        var result: [String] = []
        forEachToken(text, options: options) { result.append($0) }
        return result
    }

    public func forEachToken(_ text: String, options: Options = .filterStopWords, _ body: (String) -> Void) {
        let scalars = text.unicodeScalars
        let keep = language.keepsApostrophe, turkish = language.isTurkish
        Stemmers.shared.with(language.stemmerAlgorithm) { stemmer in
            var i = scalars.startIndex
            while i < scalars.endIndex {
                while i < scalars.endIndex, TextUnicode.isDelimiter(scalars[i], keepApostrophe: keep) { i = scalars.index(after: i) }
                guard i < scalars.endIndex else { break }
                let start = i
                while i < scalars.endIndex, !TextUnicode.isDelimiter(scalars[i], keepApostrophe: keep) { i = scalars.index(after: i) }
                let raw = scalars[start..<i]
                // Stop words are matched lower-cased but with their diacritics.
                let lower = TextUnicode.normalize(raw, turkish: turkish, caseSensitive: false, diacriticSensitive: true)
                if options.contains(.filterStopWords) && stopWords.contains(lower) { continue }
                var word = stemmer.stem(options.contains(.caseSensitive) ? String(String.UnicodeScalarView(raw)) : lower)
                if !options.contains(.diacriticSensitive) {
                    word = TextUnicode.normalize(Substring(word).unicodeScalars, turkish: turkish, caseSensitive: true, diacriticSensitive: false)
                }
                body(word)
            }
        }
    }
}
