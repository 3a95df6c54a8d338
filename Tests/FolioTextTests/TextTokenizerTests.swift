import Testing
@testable import FolioText

@Suite struct TextTokenizerTests {
    let english = TextTokenizer(language: .english)

    @Test func splitsLowerCasesDropsStopWordsAndStems() {
        #expect(english.tokens("The quick brown foxes don't jump!") == ["quick", "brown", "fox", "jump"])
        #expect(english.tokens("The quick", options: []) == ["the", "quick"])
        // English keeps the apostrophe inside a word; other languages split there.
        #expect(english.tokens("o'clock", options: []) == ["o'clock"])
        #expect(TextTokenizer(language: .none).tokens("o'clock Running", options: []) == ["o", "clock", "running"])
    }

    @Test func punctuationDashesAndQuotesSplitWords() {
        #expect(english.tokens("well-known, “quoted” (parens) end.", options: []) == ["well", "known", "quot", "paren", "end"])
        #expect(english.tokens("  \t\n ", options: []).isEmpty)
        #expect(english.tokens("", options: []).isEmpty)
    }

    @Test func diacriticsAndCaseAreFoldedUnlessAsked() {
        let none = TextTokenizer(language: .none)
        #expect(none.tokens("Café CRÈME naïve") == ["cafe", "creme", "naive"])
        #expect(none.tokens("Café", options: [.diacriticSensitive]) == ["café"])
        #expect(none.tokens("Café", options: [.caseSensitive]) == ["Cafe"])
        #expect(none.tokens("Café", options: [.caseSensitive, .diacriticSensitive]) == ["Café"])
        // Turkish folds I to dotless ı.
        #expect(TextTokenizer(language: TextLanguage(named: "tr")!).tokens("ILIK", options: []).first?.hasPrefix("ılık") == true)
    }

    /// Each language leaves out MongoDB's stop words for it (matched lower-cased, with their
    /// diacritics), and only those.
    @Test func everyLanguageHasMongoDBsStopWords() {
        func tokens(_ language: String, _ text: String) -> [String] {
            TextTokenizer(language: TextLanguage(named: language)!).tokens(text)
        }
        #expect(tokens("es", "Las tazas de té") == ["taz", "te"])
        #expect(tokens("fr", "Le café et la crème") == ["caf", "crem"])
        #expect(tokens("de", "Der Hund und die Katze") == ["hund", "katz"])
        #expect(tokens("pt", "Não é muito") == ["e"])             // "é" is not in the list, "não" is
        #expect(tokens("ru", "Он сказал да") == [])
        #expect(tokens("ro", "și de la") == ["si", "de", "la"])   // Romanian has no list
        #expect(tokens("none", "the of and") == ["the", "of", "and"])
        for language in TextLanguage.names.map(\.name) where language != "romanian" {
            #expect(!(StopWords.lists[language]?.isEmpty ?? true), "\(language)")
        }
    }

    @Test func languagesByNameOrAliasIgnoringCase() {
        #expect(TextLanguage(named: "EN") == .english && TextLanguage(named: "Spanish")?.name == "spanish")
        #expect(TextLanguage(named: "klingon") == nil && TextLanguage(named: "none") == TextLanguage.none)
        #expect(TextLanguage(named: "es")?.stemmerAlgorithm == "spanish" && TextLanguage.none.stemmerAlgorithm == nil)
        #expect(TextTokenizer(language: TextLanguage(named: "es")!).tokens("corriendo", options: []) == ["corr"])
    }
}
