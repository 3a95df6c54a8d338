import FolioBSON

/// A `$text` query operator as given: `{$search, $language, $caseSensitive, $diacriticSensitive}`.
/// It is answered by a collection's text index (the planner's TEXT stages), never by testing
/// one document alone.
public struct TextSearch: Sendable, Equatable {
    /// Where a text query's result documents carry their score while a plan needs it (a sort
    /// or projection of `{$meta: "textScore"}`): a top-level field no stored document can
    /// have, taken off before results leave the cursor.
    public static let scoreField = "$__folioTextScore"
    static let scorePath = FieldPath(scoreField)

    public var search: String
    /// The query's language (nil: the text index's default language).
    public var language: String?
    public var caseSensitive: Bool
    public var diacriticSensitive: Bool

    /// Parses the operand with MongoDB's checks and messages.
    public init(parsing value: BSON) throws(FolioError) {
        guard case .document(let d) = value else { throw FolioError(.badValue, "$text expects an object") }
        var expected = 1
        language = nil
        if let l = d["$language"] {
            expected += 1
            guard case .string(let s) = l else { throw FolioError(.typeMismatch, "$language requires a string value") }
            language = s
        }
        guard let s = d["$search"] else { throw FolioError(.failedToParse, "$search required in $text") }
        guard case .string(let text) = s else { throw FolioError(.typeMismatch, "$search requires a string value") }
        search = text
        caseSensitive = false
        diacriticSensitive = false
        if let c = d["$caseSensitive"] {
            expected += 1
            guard case .bool(let b) = c else { throw FolioError(.typeMismatch, "$caseSensitive requires a boolean value") }
            caseSensitive = b
        }
        if let c = d["$diacriticSensitive"] {
            expected += 1
            guard case .bool(let b) = c else { throw FolioError(.typeMismatch, "$diacriticSensitive requires a boolean value") }
            diacriticSensitive = b
        }
        guard d.count == expected else { throw FolioError(.badValue, "extra fields in $text") }
    }

    /// The `$text` node as explain's parsedQuery prints it, with the language the query runs in.
    public func explainForm(language: String) -> Document {
        ["$text": ["$search": .string(search), "$language": .string(language), "$caseSensitive": .bool(caseSensitive),
                   "$diacriticSensitive": .bool(diacriticSensitive)]]
    }
}

extension MatchExpression {
    /// The `$text` operator of the filter, if it has one (at most one, at the top or under `$and`).
    public var textSearch: TextSearch? {
        switch self {
        case .text(let t): return t
        case .and(let children): return children.lazy.compactMap(\.textSearch).first
        default: return nil
        }
    }

    /// Whether a `$text` node appears anywhere in the tree's logical operators.
    public var containsText: Bool {
        switch self {
        case .text: return true
        case .and(let c), .or(let c), .nor(let c): return c.contains(where: \.containsText)
        default: return false
        }
    }

    /// The filter without its `$text` node (what the documents the text index finds must also match).
    public var withoutText: MatchExpression {
        switch self {
        case .text: return .alwaysTrue
        case .and(let children):
            let kept = children.filter { if case .text = $0 { return false } else { return true } }.map(\.withoutText)
            return kept.isEmpty ? .alwaysTrue : kept.count == 1 ? kept[0] : .and(kept)
        default: return self
        }
    }

    /// MongoDB's rules for where `$text` may appear: once per query, not under `$nor`. Under
    /// `$or` it is the planner's to decide (every other branch must be indexed, see
    /// `textUnderOr`); in a place no plan can answer, 291 as MongoDB's planner says.
    func checkTextPlacement() throws(FolioError) {
        var count = 0
        var nested = false
        func walk(_ e: MatchExpression, underNor: Bool, underOr: Bool) throws(FolioError) {
            switch e {
            case .text:
                count += 1
                if count > 1 { throw FolioError(.badValue, "Too many text expressions") }
                if underNor { throw FolioError(.badValue, "text expression not allowed in nor") }
                if underOr { nested = true }
            case .and(let children): for c in children { try walk(c, underNor: underNor, underOr: underOr) }
            case .or(let children): for c in children { try walk(c, underNor: underNor, underOr: true) }
            case .nor(let children): for c in children { try walk(c, underNor: true, underOr: underOr) }
            default: break
            }
        }
        try walk(self, underNor: false, underOr: false)
        if nested && textUnderOr == nil { throw MatchExpression.textUnderOrUnplannable }
    }

    public static let textUnderOrUnplannable = FolioError(.noQueryExecutionPlans, "Failed to produce a solution for TEXT under OR - other non-TEXT clauses under OR have to be indexed as well.")

    /// An `$or` (the filter itself, or one child of its top `$and`) one of whose branches holds
    /// the `$text` (at the branch's top or under its `$and`): its branches and which one.
    public var textUnderOr: (branches: [MatchExpression], text: Int)? {
        func branches(_ e: MatchExpression) -> (branches: [MatchExpression], text: Int)? {
            guard case .or(let b) = e, let i = b.firstIndex(where: { $0.textSearch != nil }) else { return nil }
            return (b, i)
        }
        if let found = branches(self) { return found }
        if case .and(let children) = self { return children.lazy.compactMap(branches).first }
        return nil
    }
}
