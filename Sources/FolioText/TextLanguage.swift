/// A language of MongoDB's text search (text index version 3): its Snowball stemmer, its stop
/// words, and how its words are split and folded. `none` has neither stemming nor stop words.
public struct TextLanguage: Sendable, Hashable, CustomStringConvertible {
    /// The canonical name (`"english"`), as indexes and explain report it.
    public let name: String

    public var description: String { name }

    /// MongoDB's languages with their ISO 639-1 aliases (fts_language.cpp's list).
    static let names: [(name: String, alias: String)] = [
        ("danish", "da"), ("dutch", "nl"), ("english", "en"), ("finnish", "fi"), ("french", "fr"),
        ("german", "de"), ("hungarian", "hu"), ("italian", "it"), ("norwegian", "nb"), ("portuguese", "pt"),
        ("romanian", "ro"), ("russian", "ru"), ("spanish", "es"), ("swedish", "sv"), ("turkish", "tr"),
    ]

    private static let byLowercasedName: [String: String] = {
        var map = ["none": "none"]
        for (name, alias) in names { map[name] = name; map[alias] = name }
        return map
    }()

    /// The language a name or alias stands for, compared without regard to ASCII case (as
    /// MongoDB compares them); nil for a language text search does not have.
    public init?(named given: String) {
        guard let name = TextLanguage.byLowercasedName[String(given.lowercased())] else { return nil }
        self.name = name
    }

    public static let english = TextLanguage(named: "english")!
    public static let none = TextLanguage(named: "none")!

    /// MongoDB's error for a language it does not have.
    public static func unsupported(_ given: String) -> String {
        "unsupported language: \"\(given)\" for text index version 3"
    }

    /// English keeps the apostrophe inside words ("don't"); other languages split on it.
    var keepsApostrophe: Bool { name == "english" }
    /// Turkish folds I to dotless ı and İ to i.
    var isTurkish: Bool { name == "turkish" }
    /// The Snowball algorithm's name (nil for `none`).
    var stemmerAlgorithm: String? { name == "none" ? nil : name }

    /// The stop words (lower case, with their diacritics), empty for `none` and for languages
    /// whose list Folio does not carry yet.
    var stopWords: Set<String> { StopWords.lists[name] ?? [] }
}
