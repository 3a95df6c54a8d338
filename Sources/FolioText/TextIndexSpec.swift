import FolioBSON
import FolioQuery

/// A text index's specification (MongoDB's FTSSpec, text index version 3): the fields it indexes
/// and their weights (or `$**`, every string), the default language and the field that
/// overrides it, and the ordinary fields before and after the text part of a compound key.
public struct TextIndexSpec: Sendable, Equatable {
    /// Weights by dotted field path (`$**` excluded), as stored: whole numbers.
    public var weights: [String: Double]
    /// Every string in the document is indexed (`$**`), with weight 1 unless `weights` says otherwise.
    public var wildcard: Bool
    public var defaultLanguage: TextLanguage
    public var languageOverride: String
    /// The key pattern's fields before `_fts` (equality prefixes a query must give) and after `_ftsx`.
    public var extraBefore: [String]
    public var extraAfter: [String]

    /// The largest weight a field may have (exclusive), MongoDB's MAX_WORD_WEIGHT.
    public static let maximumWeight = 100_000

    /// Reads a specification `normalize` produced (as the catalog keeps it).
    public init(normalized spec: Document) throws(FolioError) {
        weights = [:]
        wildcard = false
        for (field, weight) in spec["weights"]?.documentValue ?? [:] {
            if field == "$**" { wildcard = true } else { weights[field] = weight.asDouble ?? 1 }
        }
        let language = spec["default_language"]?.stringValue ?? "english"
        guard let l = TextLanguage(named: language) else {
            throw FolioError(ErrorCode(rawValue: 28682), "Unrecognized language \(language) found for text index.")
        }
        defaultLanguage = l
        languageOverride = spec["language_override"]?.stringValue ?? "language"
        extraBefore = []
        extraAfter = []
        var passed = false
        for field in spec["key"]?.documentValue?.fieldNames ?? [] {
            if field == "_fts" || field == "_ftsx" { passed = true; continue }
            if passed { extraAfter.append(field) } else { extraBefore.append(field) }
        }
    }

    static func cannotCreate(_ message: String) -> FolioError { FolioError(.cannotCreateIndex, message) }

    /// MongoDB's `fixSpec`: validates a createIndexes specification of a text index and returns
    /// the form it is stored and listed in — key `{..., _fts: "text", _ftsx: 1, ...}`, `weights`
    /// (whole numbers, by field name), `default_language`, `language_override`,
    /// `textIndexVersion: 3`.
    /// - Throws: 67 CannotCreateIndex with MongoDB's messages.
    public static func normalize(_ spec: Document) throws(FolioError) -> Document {
        let key = spec["key"]?.documentValue ?? [:]
        var weights: [String: Int] = [:]
        var keyPattern = Document()
        var addedFTS = false
        for (field, value) in key {
            if field == "_fts" {
                guard value.stringValue == "text" else { throw cannotCreate("expecting _fts:\"text\"") }
                addedFTS = true
                keyPattern.append(field, value)
            } else if field == "_ftsx" {
                guard numberInt(value) == 1 else { throw cannotCreate("expecting _ftsx:1") }
                keyPattern.append(field, value)
            } else if value.stringValue == "text" {
                if !addedFTS {
                    keyPattern.append("_fts", "text")
                    keyPattern.append("_ftsx", .int32(1))
                    addedFTS = true
                }
                weights[field] = 1
            } else {
                let n = numberInt(value)
                guard n == 1 || n == -1 else { throw cannotCreate("expected value 1 or -1 for non-text key in compound index") }
                keyPattern.append(field, value)
            }
        }
        try checkOrder(key)

        switch spec["weights"] {
        case .document(let given)?:
            for (field, weight) in given {
                guard weight.isNumber else { throw cannotCreate("weight for text index needs numeric type") }
                weights[field] = numberInt(weight)
            }
        case .string("$**")?:
            weights["$**"] = 1
        case nil:
            break
        default:
            throw cannotCreate("text index option 'weights' must be an object")
        }
        if weights.isEmpty { throw cannotCreate("text index option 'weights' must specify fields or the wildcard") }
        var weightsDocument = Document()
        for field in weights.keys.sorted(by: { Array($0.utf8).lexicographicallyPrecedes(Array($1.utf8)) }) {
            let w = weights[field]!
            guard w > 0 && w < maximumWeight else {
                throw cannotCreate("text index weight must be in the exclusive interval (0,\(maximumWeight)) but found: \(w)")
            }
            if field != "$**" {
                if field.isEmpty { throw cannotCreate("weight cannot be on an empty field") }
                for part in field.split(separator: ".", omittingEmptySubsequences: false) {
                    if part.isEmpty { throw cannotCreate("weight cannot have empty path component") }
                    if part.hasPrefix("$") { throw cannotCreate("weight cannot have path component with $ prefix") }
                }
            }
            weightsDocument.append(field, .int32(Int32(w)))
        }

        var defaultLanguage: String? = "english"
        if let given = spec["default_language"] {
            guard case .string(let s) = given else { throw cannotCreate("default_language needs a string type") }
            defaultLanguage = s
        }
        guard TextLanguage(named: defaultLanguage!) != nil else { throw cannotCreate("default_language is not valid") }
        var languageOverride: String? = "language"
        if let given = spec["language_override"] {
            guard case .string(let s) = given else { throw cannotCreate("language_override must be a string") }
            guard !s.isEmpty, !s.hasPrefix("$"), !s.contains(".") else { throw cannotCreate("language_override is not valid") }
            languageOverride = s
        }

        var out = Document()
        var weightsOut: Document? = weightsDocument
        var version: BSON?
        for (field, value) in spec {
            switch field {
            case "key": out.append("key", .document(keyPattern))
            case "weights": out.append("weights", .document(weightsDocument)); weightsOut = nil
            case "default_language": out.append(field, .string(defaultLanguage!)); defaultLanguage = nil
            case "language_override": out.append(field, .string(languageOverride!)); languageOverride = nil
            case "v": version = value
            case "textIndexVersion":
                guard value.isNumber else { throw cannotCreate("text index option 'textIndexVersion' must be a number") }
                let v = numberInt(value)
                if v == 2 {
                    throw FolioError(.commandNotSupported, "text index version 2 is not supported by Folio; version 3 (the default since MongoDB 3.2) is")
                }
                guard v == 3 else { throw cannotCreate("bad textIndexVersion: \(v)") }
            default: out.append(field, value)
            }
        }
        if let weightsOut { out.append("weights", .document(weightsOut)) }
        if let defaultLanguage { out.append("default_language", .string(defaultLanguage)) }
        if let languageOverride { out.append("language_override", .string(languageOverride)) }
        if let version { out.append("v", version) }
        out.append("textIndexVersion", .int32(3))
        return out
    }

    /// Extra fields, then the text fields (adjacent), then extra fields; never `_fts`/`_ftsx` as
    /// ordinary fields.
    private static func checkOrder(_ key: Document) throws(FolioError) {
        let reserved = "text index with reserved fields _fts/_ftsx not allowed"
        let fields = Array(key)
        var i = 0
        while i < fields.count, fields[i].value.stringValue == nil {
            if fields[i].key == "_fts" || fields[i].key == "_ftsx" { throw cannotCreate(reserved) }
            i += 1
        }
        guard i < fields.count else { throw cannotCreate("expected additional fields in text index key pattern") }
        if fields[i].key == "_fts" {
            guard i + 1 < fields.count, fields[i + 1].key == "_ftsx" else { throw cannotCreate("expected _ftsx after _fts") }
            i += 2
        } else {
            while i < fields.count, fields[i].value.stringValue != nil {
                if fields[i].key == "_fts" || fields[i].key == "_ftsx" { throw cannotCreate(reserved) }
                i += 1
            }
        }
        while i < fields.count {
            if fields[i].value.stringValue != nil { throw cannotCreate("'text' fields in index must all be adjacent") }
            if fields[i].key == "_fts" || fields[i].key == "_ftsx" { throw cannotCreate(reserved) }
            i += 1
        }
    }

    /// BSON's numberInt: numbers truncated toward zero and clamped; 0 for anything else.
    static func numberInt(_ v: BSON) -> Int {
        switch v {
        case .int32(let n): return Int(n)
        case .int64(let n): return Int(clamping: n)
        case .double(let d): return d.isNaN ? 0 : Int(max(min(d, Double(Int32.max)), Double(Int32.min)))
        case .decimal128: return Int(v.asDouble.map { $0.isNaN ? 0 : max(min($0, Double(Int32.max)), Double(Int32.min)) } ?? 0)
        default: return 0
        }
    }

    // MARK: - Scoring

    /// Each term of a document and its score: for every indexed string, the term's frequency
    /// (each repeat counting half the one before), times the field's weight, times a factor
    /// for how much of the field the term is (0.5 + 0.5·count/tokens), times 1.1 when the term
    /// is the whole field — MongoDB's `_scoreStringV2`, so scores match MongoDB's exactly.
    /// - Throws: 17261 for a non-string language override, 17262 for an unsupported language.
    public func termScores(_ document: Document) throws(FolioError) -> [String: Double] {
        var scores: [String: Double] = [:]
        try walk(document, prefix: "", language: defaultLanguage, into: &scores)
        return scores
    }

    /// The indexed strings of a document with their weights and languages, in document order.
    public func forEachIndexedString(_ document: Document, _ body: (String, Double, TextLanguage) throws(FolioError) -> Void) throws(FolioError) {
        try visit(document, prefix: "", language: defaultLanguage, body)
    }

    private func walk(_ d: Document, prefix: String, language: TextLanguage, into scores: inout [String: Double]) throws(FolioError) {
        try visit(d, prefix: prefix, language: language) { (text, weight, language) throws(FolioError) in
            TextIndexSpec.score(text, weight: weight, tokenizer: TextTokenizer(language: language), into: &scores)
        }
    }

    private func visit(_ d: Document, prefix: String, language inherited: TextLanguage,
                       _ body: (String, Double, TextLanguage) throws(FolioError) -> Void) throws(FolioError) {
        var language = inherited
        if let override = d[languageOverride] {
            guard case .string(let name) = override else {
                throw FolioError(ErrorCode(rawValue: 17261), "found language override field in document with non-string type")
            }
            guard let l = TextLanguage(named: name) else {
                throw FolioError(ErrorCode(rawValue: 17262), "language override unsupported: \(name)")
            }
            language = l
        }
        for (field, value) in d {
            if field == languageOverride { continue }
            let path = prefix.isEmpty ? field : "\(prefix).\(field)"
            try visitValue(value, path: path, language: language, body)
        }
    }

    private func visitValue(_ value: BSON, path: String, language: TextLanguage,
                            _ body: (String, Double, TextLanguage) throws(FolioError) -> Void) throws(FolioError) {
        switch value {
        case .string(let s):
            if let weight = weight(path) { try body(s, weight, language) }
        case .document(let sub):
            if wildcard || weights.keys.contains(where: { $0.hasPrefix(path + ".") }) {
                try visit(sub, prefix: path, language: language, body)
            }
        case .array(let elements):
            for element in elements { try visitValue(element, path: path, language: language, body) }
        default:
            break
        }
    }

    /// The weight of a string at `path`: its own, or 1 under `$**`; nil when not indexed.
    func weight(_ path: String) -> Double? {
        if let w = weights[path] { return w }
        return wildcard ? 1 : nil
    }

    static func score(_ raw: String, weight: Double, tokenizer: TextTokenizer, into scores: inout [String: Double]) {
        var terms: [String: (freq: Double, count: Int, exp: Double)] = [:]
        var tokens = 0
        tokenizer.forEachToken(raw, options: .filterStopWords) { term in
            var data = terms[term] ?? (0, 0, 0)
            data.exp = data.exp == 0 ? 1 : data.exp * 2
            data.count += 1
            data.freq += 1 / data.exp
            terms[term] = data
            tokens += 1
        }
        for (term, data) in terms {
            let coeff = (0.5 * Double(data.count) / Double(tokens)) + 0.5
            var adjustment = 1.0
            if raw.utf8.count == term.utf8.count && asciiCaseInsensitiveEqual(raw, term) { adjustment += 0.1 }
            scores[term, default: 0] += weight * data.freq * coeff * adjustment
        }
    }

    static func asciiCaseInsensitiveEqual(_ a: String, _ b: String) -> Bool {
        func lower(_ c: UInt8) -> UInt8 { c >= 0x41 && c <= 0x5A ? c + 0x20 : c }
        return a.utf8.elementsEqual(b.utf8) { lower($0) == lower($1) }
    }
}
