import FolioBSON
import FolioGeo

// The printed form of a parsed filter, as explain reports it (`parsedQuery`, stage
// `filter`s): every comparison spelled with its operator (`{a: {$eq: 1}}`), conjunctions of
// several paths as `$and`.

extension MatchExpression {
    /// Whether the filter matches every document (`{}`).
    public var isTriviallyTrue: Bool {
        switch self {
        case .alwaysTrue: return true
        case .and(let children): return children.allSatisfy(\.isTriviallyTrue)
        default: return false
        }
    }

    /// The filter as explain prints it.
    public var explainForm: Document {
        switch self {
        case .and(let children):
            let forms = children.filter { !$0.isTriviallyTrue }.flatMap { c -> [Document] in
                if case .and = c { return c.explainForm["$and"]?.arrayValue?.compactMap(\.documentValue) ?? [c.explainForm] }
                if case .path(_, let ps) = c, ps.count > 1 { return c.explainForm["$and"]?.arrayValue?.compactMap(\.documentValue) ?? [] }
                return [c.explainForm]
            }
            if forms.isEmpty { return Document() }
            if forms.count == 1 { return forms[0] }
            return ["$and": .array(forms.map(BSON.document))]
        case .or(let children): return ["$or": .array(children.map { .document($0.explainForm) })]
        case .nor(let children): return ["$nor": .array(children.map { .document($0.explainForm) })]
        case .path(let path, let predicates):
            let forms = predicates.map { Document(dictionaryLiteral: (path.dotted, .document(MatchExpression.form($0)))) }
            if forms.count == 1 { return forms[0] }
            return ["$and": .array(forms.map(BSON.document))]
        case .expr: return ["$expr": .document([:])]
        case .jsonSchema: return ["$jsonSchema": .document([:])]
        case .text(let t): return t.explainForm(language: t.language ?? "english")
        case .alwaysTrue: return ["$alwaysTrue": .int32(1)]
        case .alwaysFalse: return ["$alwaysFalse": .int32(1)]
        }
    }

    static func form(_ p: PathPredicate) -> Document {
        switch p {
        case .eq(let v): return ["$eq": v]
        case .ne(let v): return ["$not": ["$eq": v]]
        case .gt(let v): return ["$gt": v]
        case .gte(let v): return ["$gte": v]
        case .lt(let v): return ["$lt": v]
        case .lte(let v): return ["$lte": v]
        case .in(let list): return ["$in": .array(list.sortedValues + list.regexes.map { .regex(BSONRegex(pattern: $0.pattern, options: $0.options)) })]
        case .nin(let list): return ["$not": ["$in": .array(list.sortedValues + list.regexes.map { .regex(BSONRegex(pattern: $0.pattern, options: $0.options)) })]]
        case .exists(let b): return b ? ["$exists": true] : ["$not": ["$exists": true]]
        case .type(let t):
            let names: [BSON] = (t.numbers ? [BSON.string("number")] : []) + t.types.sorted().map { .int32(Int32($0)) }
            return ["$type": names.count == 1 ? names[0] : .array(names)]
        case .size(let n): return ["$size": .int32(Int32(clamping: n))]
        case .all(let entries): return ["$all": .array(entries.map { .document(form($0)) })]
        case .elemMatchDocument(let e): return ["$elemMatch": .document(e.explainForm)]
        case .elemMatchValue(let ps):
            var d = Document()
            for p in ps { for (k, v) in form(p) { d.append(k, v) } }
            return ["$elemMatch": .document(d)]
        case .regex(let r): return ["$regex": .string(r.pattern), "$options": .string(r.options)]
        case .mod(let d, let r): return ["$mod": [.int64(d), .int64(r)]]
        case .bits(let test, _):
            let name: String
            switch test {
            case .allSet: name = "$bitsAllSet"
            case .allClear: name = "$bitsAllClear"
            case .anySet: name = "$bitsAnySet"
            case .anyClear: name = "$bitsAnyClear"
            }
            return [name: .array([])]
        case .not(let ps):
            var d = Document()
            for p in ps { for (k, v) in form(p) { d.append(k, v) } }
            return ["$not": .document(d)]
        case .collated(let c): return form(c.original)
        case .geo(let g): return g.name.hasPrefix("$near") ? g.form : [g.name: .document(g.form)]
        }
    }
}
