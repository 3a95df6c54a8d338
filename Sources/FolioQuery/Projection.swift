import FolioBSON

/// A find projection (or an aggregation `$project`): inclusion or exclusion of paths,
/// computed fields (expressions, MongoDB 4.4+), and the find-only operators `$slice`,
/// `$elemMatch`, positional `a.$` and `$meta`.
public struct Projection: Sendable {
    indirect enum Item: Sendable {
        case include
        case exclude
        case computed(Expression)
        case slice(skip: Int64?, limit: Int64)
        case elemMatch(MatchExpression)
        case positional
        case meta(String)
        case nested([(String, Item)])
    }

    let items: [(String, Item)]
    /// Inclusion mode (else exclusion).
    public let isInclusion: Bool
    let includeID: Bool

    /// Whether the projection keeps the document as is.
    public var isIdentity: Bool { !isInclusion && items.isEmpty }

    /// Parses a projection. `findOperators` enables `$slice`/`$elemMatch`/`$`/`$meta`
    /// (find and findAndModify); aggregation's `$project` reads operator documents as expressions.
    public init(parsing spec: Document, findOperators: Bool = true, context: ParseContext = ParseContext()) throws(FolioError) {
        var root: [(String, Item)] = []
        var inclusion: Bool?
        var includeID = true
        var positionalCount = 0
        for (field, value) in spec {
            if field.isEmpty { throw FolioError(.badValue, "Projection cannot have an empty field name") }
            var item: Item
            var path = field
            if findOperators && field.hasSuffix(".$") {
                path = String(field.dropLast(2))
                positionalCount += 1
                guard positionalCount == 1 else {
                    throw FolioError(.badValue, "Cannot specify more than one positional proj. per query.")
                }
                item = .positional
            } else {
                item = try Projection.parseValue(value, field: field, findOperators: findOperators, context: context)
            }
            if path.hasPrefix("$") { throw FolioError(.badValue, "FieldPath field names may not start with '$'. Consider using $getField or $setField.") }
            let kind: Bool?
            switch item {
            case .include, .computed, .positional: kind = true
            case .exclude: kind = false
            default: kind = nil
            }
            if path == "_id", case .exclude = item {
                includeID = false
            } else if let k = kind, !(path == "_id" && k) {
                if let existing = inclusion, existing != k {
                    if k {
                        throw FolioError(.location31253, "Cannot do inclusion on field \(path) in exclusion projection")
                    }
                    throw FolioError(.location31254, "Cannot do exclusion on field \(path) in inclusion projection")
                }
                inclusion = k
            }
            try Projection.insert(&root, FieldPath(path).components[...], item, fullPath: path)
        }
        items = root
        // `{_id: 1}` alone is an inclusion projection of just `_id`.
        isInclusion = inclusion ?? root.contains { $0.0 == "_id" && { if case .include = $0.1 { return true }; return false }($0) }
        self.includeID = includeID
    }

    static func parseValue(_ value: BSON, field: String, findOperators: Bool, context: ParseContext) throws(FolioError) -> Item {
        switch value {
        case .bool(let b): return b ? .include : .exclude
        case .int32, .int64, .double, .decimal128: return value.isTruthy ? .include : .exclude
        case .document(let d) where findOperators && d.count == 1 && ["$slice", "$elemMatch", "$meta"].contains(d.fieldNames[0]):
            let (op, arg) = d.element(at: 0)
            switch op {
            case "$slice":
                switch arg {
                // MongoDB reads both numbers with safeNumberInt (NaN is 0, beyond Int32 clamps).
                case .array(let a):
                    guard a.count == 2 else {
                        throw FolioError(ErrorCode(rawValue: 31272), "$slice array argument should be of form [skip, limit]")
                    }
                    guard let skip = a[0].safeInt32 else {
                        throw FolioError(ErrorCode(rawValue: 31257), "$slice expects the skip argument to be a number, got \(a[0].type.alias)")
                    }
                    guard let limit = a[1].safeInt32 else {
                        throw FolioError(ErrorCode(rawValue: 31258), "$slice expects the limit argument to be a number, got \(a[1].type.alias)")
                    }
                    guard limit > 0 else { throw FolioError(ErrorCode(rawValue: 31259), "$slice limit must be positive, got \(limit)") }
                    return .slice(skip: Int64(skip), limit: Int64(limit))
                default:
                    guard let n = arg.safeInt32 else {
                        throw FolioError(.badValue, "$slice only supports numbers and [skip, limit] arrays")
                    }
                    return .slice(skip: nil, limit: Int64(n))
                }
            case "$elemMatch":
                guard case .document(let filter) = arg else { throw FolioError(.badValue, "elemMatch: Invalid argument, object required.") }
                if field.contains(".") {
                    throw FolioError(.badValue, "Cannot use $elemMatch projection on a nested field.")
                }
                return .elemMatch(try MatchExpression(parsing: filter))
            default:
                guard case .string(let name) = arg else { throw FolioError(.badValue, "$meta requires a string argument") }
                return .meta(name)
            }
        default:
            return .computed(try Expression.parse(value, context: context))
        }
    }

    static func insert(_ items: inout [(String, Item)], _ components: ArraySlice<String>, _ item: Item, fullPath: String) throws(FolioError) {
        let first = components.first!
        let index = items.firstIndex { $0.0 == first }
        if components.count == 1 {
            if index != nil { throw FolioError(.location31250, "Path collision at \(fullPath)") }
            items.append((first, item))
            return
        }
        if let index {
            guard case .nested(var children) = items[index].1 else {
                throw FolioError(.location31249, "Path collision at \(fullPath) remaining portion \(components.dropFirst().joined(separator: "."))")
            }
            try insert(&children, components.dropFirst(), item, fullPath: fullPath)
            items[index].1 = .nested(children)
        } else {
            var children: [(String, Item)] = []
            try insert(&children, components.dropFirst(), item, fullPath: fullPath)
            items.append((first, .nested(children)))
        }
    }

    /// The top-level fields a plain inclusion projection keeps (`_id` included unless it is
    /// excluded), or nil when the projection does anything else (exclusions, sub-paths,
    /// expressions, operators). A query whose projection has this form can be answered from
    /// an index holding those fields.
    public var includedTopLevelFields: [String]? {
        guard isInclusion else { return nil }
        var fields: [String] = []
        for (name, item) in items where name != "_id" {
            guard case .include = item else { return nil }
            fields.append(name)
        }
        return includeID ? fields + ["_id"] : fields
    }

    /// Applies the projection. `query` serves the positional `$` operator.
    public func apply(to document: Document, query: MatchExpression? = nil, variables: [String: BSON] = [:]) throws(FolioError) -> Document {
        OperationInterrupt.beginDocument()
        let context = EvaluationContext(root: document, variables: variables)
        var out: Document
        if isInclusion {
            out = try include(document, items, context: context, query: query, top: true)
            // A `$vectorSearch` score goes on to later stages, as MongoDB's metadata does.
            if let score = document[VectorSearchSpec.scoreField] { out.append(VectorSearchSpec.scoreField, score) }
        } else {
            out = try exclude(document, items)
            if !includeID { out.removeValue(forKey: "_id") }
        }
        // `{$meta: "textScore"}`: the score a text query's plan attached, after the other fields.
        for (key, item) in items {
            guard case .meta("textScore") = item, let score = document[TextSearch.scoreField] else { continue }
            out.removeValue(forKey: key)
            out.append(key, score)
        }
        return out
    }

    /// Whether the projection shows a text query's score.
    public var needsTextScore: Bool { items.contains { if case .meta("textScore") = $0.1 { return true } else { return false } } }

    func include(_ doc: Document, _ spec: [(String, Item)], context: EvaluationContext, query: MatchExpression?, top: Bool) throws(FolioError) -> Document {
        var out = Document()
        if top && includeID, let id = doc["_id"], !spec.contains(where: { $0.0 == "_id" }) {
            out.append("_id", id)
        }
        // Included fields keep the document's order; computed fields follow in spec order.
        for (key, value) in doc {
            guard let item = spec.first(where: { $0.0 == key })?.1 else { continue }
            switch item {
            case .include: out.append(key, value)
            case .nested(let children):
                if let projected = try includeNested(value, children, context: context, query: query) { out.append(key, projected) }
            case .slice(let skip, let limit): out.append(key, Projection.slice(value, skip: skip, limit: limit))
            case .positional:
                if let query, case .array(let a) = value, let i = PositionalMatcher.index(for: [key], in: doc, query: query), i < a.count {
                    out.append(key, .array([a[i]]))
                } else if case .array = value {
                    throw FolioError(.badValue, "Executor error during find command :: caused by :: positional operator '\(key).$' requires corresponding field in query specifier")
                } else {
                    out.append(key, value)
                }
            default: continue
            }
        }
        for (key, item) in spec {
            switch item {
            case .computed(let e):
                if let v = try e.evaluate(context) { out[key] = v }
            case .elemMatch(let filter):
                if case .array(let a)? = doc[key], let hit = a.first(where: { e in
                    if case .document(let d) = e { return filter.matches(d) }
                    return filter.matches(Document([("", e)]))
                }) {
                    out[key] = .array([hit])
                }
            case .exclude where key == "_id" && top:
                out.removeValue(forKey: "_id")
            default: continue
            }
        }
        return out
    }

    func includeNested(_ value: BSON, _ children: [(String, Item)], context: EvaluationContext, query: MatchExpression?) throws(FolioError) -> BSON? {
        switch value {
        case .document(let d): return .document(try include(d, children, context: context, query: query, top: false))
        case .array(let a):
            var out: [BSON] = []
            for e in a {
                switch e {
                case .document, .array:
                    if let v = try includeNested(e, children, context: context, query: query) { out.append(v) }
                default: continue
                }
            }
            return .array(out)
        default:
            // A computed child creates the sub-document; plain inclusion of a scalar's child yields nothing.
            if children.contains(where: { if case .computed = $0.1 { return true }; return false }) {
                return .document(try include(Document(), children, context: context, query: query, top: false))
            }
            return nil
        }
    }

    func exclude(_ doc: Document, _ spec: [(String, Item)]) throws(FolioError) -> Document {
        var out = Document()
        for (key, value) in doc {
            guard let item = spec.first(where: { $0.0 == key })?.1 else { out.append(key, value); continue }
            switch item {
            case .exclude: continue
            case .nested(let children): out.append(key, try excludeNested(value, children))
            case .slice(let skip, let limit): out.append(key, Projection.slice(value, skip: skip, limit: limit))
            case .elemMatch(let filter):
                if case .array(let a) = value, let hit = a.first(where: { e in
                    if case .document(let d) = e { return filter.matches(d) }
                    return false
                }) {
                    out.append(key, .array([hit]))
                }
            default: out.append(key, value)
            }
        }
        return out
    }

    func excludeNested(_ value: BSON, _ children: [(String, Item)]) throws(FolioError) -> BSON {
        switch value {
        case .document(let d): return .document(try exclude(d, children))
        case .array(let a):
            var out: [BSON] = []
            for e in a { out.append(try excludeNested(e, children)) }
            return .array(out)
        default: return value
        }
    }

    static func slice(_ value: BSON, skip: Int64?, limit: Int64) -> BSON {
        guard case .array(let a) = value else { return value }
        let n = Int64(a.count)
        if let skip {
            var start = skip < 0 ? max(0, n + skip) : min(n, skip)
            if start > n { start = n }
            let end = min(n, start + limit)
            return .array(Array(a[Int(start)..<Int(end)]))
        }
        if limit >= 0 { return .array(Array(a.prefix(Int(min(limit, n))))) }
        return .array(Array(a.suffix(Int(min(-limit, n)))))
    }
}
