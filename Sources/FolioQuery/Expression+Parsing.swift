import FolioBSON

extension Expression {
    /// Parses an aggregation expression: literals, `"$path"`, `"$$var"`, arrays, objects
    /// (field → expression) and `{ $operator: args }`.
    public static func parse(_ value: BSON, context: ParseContext) throws(FolioError) -> Expression {
        switch value {
        case .string(let s) where s.hasPrefix("$$"):
            let body = s.dropFirst(2)
            let parts = body.split(separator: ".", maxSplits: 1, omittingEmptySubsequences: false)
            let name = String(parts[0])
            guard !name.isEmpty else { throw FolioError(ErrorCode(rawValue: 16869), "empty variable names are not allowed") }
            if let constant = context.constants[name], !context.variables.contains(name) {
                guard parts.count > 1 else { return .constant(constant) }
                return .constant(Expression.resolve(FieldPath(String(parts[1])).components[...], in: constant) ?? .null)
            }
            guard ParseContext.systemVariables.contains(name) || context.variables.contains(name) else {
                throw FolioError(ErrorCode(rawValue: 17276), "Use of undefined variable: \(name)")
            }
            return .variable(name, parts.count > 1 ? FieldPath(String(parts[1])) : nil)
        case .string(let s) where s.hasPrefix("$"):
            guard s.count > 1 else { throw FolioError(ErrorCode(rawValue: 16872), "'$' by itself is not a valid FieldPath") }
            let path = FieldPath(String(s.dropFirst()))
            if path.components.contains(where: \.isEmpty) {
                throw FolioError(ErrorCode(rawValue: 15998), "FieldPath field names may not be empty strings.")
            }
            return .fieldPath(path)
        case .array(let elements):
            var out: [Expression] = []
            for e in elements { out.append(try parse(e, context: context)) }
            return .array(out)
        case .document(let d):
            if let first = d.fieldNames.first, first.hasPrefix("$") {
                guard d.count == 1 else {
                    throw FolioError(.location15983, "an expression specification must contain exactly one field, the name of the expression. Found \(d.count) fields in \(d)")
                }
                return try parseOperator(first, d[first]!, context: context)
            }
            var fields: [(String, Expression)] = []
            for (k, v) in d {
                if k.hasPrefix("$") {
                    throw FolioError(ErrorCode(rawValue: 16410), "FieldPath field names may not start with '$'. Consider using $getField or $setField.")
                }
                fields.append((k, try parse(v, context: context)))
            }
            return .object(fields)
        default:
            return .constant(value)
        }
    }

    /// Arguments as MongoDB accepts them: an array, or one value standing for a one-element list.
    static func argumentList(_ operand: BSON) -> [BSON] {
        if case .array(let a) = operand { return a }
        return [operand]
    }

    static func parseOperator(_ name: String, _ operand: BSON, context: ParseContext) throws(FolioError) -> Expression {
        switch name {
        case "$literal": return .constant(operand)
        case "$cond":
            if case .document(let d) = operand {
                for k in d.fieldNames where !["if", "then", "else"].contains(k) {
                    throw FolioError(ErrorCode(rawValue: 17083), "Unrecognized parameter to $cond: \(k)")
                }
                guard let i = d["if"] else { throw FolioError(ErrorCode(rawValue: 17080), "Missing 'if' parameter to $cond") }
                guard let t = d["then"] else { throw FolioError(ErrorCode(rawValue: 17081), "Missing 'then' parameter to $cond") }
                guard let e = d["else"] else { throw FolioError(ErrorCode(rawValue: 17082), "Missing 'else' parameter to $cond") }
                return .cond(try parse(i, context: context), try parse(t, context: context), try parse(e, context: context))
            }
            let args = argumentList(operand)
            guard args.count == 3 else { throw arity("$cond", 3, args.count) }
            return .cond(try parse(args[0], context: context), try parse(args[1], context: context), try parse(args[2], context: context))
        case "$ifNull":
            let args = argumentList(operand)
            guard args.count >= 2 else { throw FolioError(.location16020, "Expression $ifNull takes at least 2 arguments, and 1 were passed in.") }
            var out: [Expression] = []
            for a in args { out.append(try parse(a, context: context)) }
            return .ifNull(out)
        case "$switch":
            guard case .document(let d) = operand else { throw FolioError(ErrorCode(rawValue: 40060), "$switch requires an object as an argument, found: \(operand.type.alias)") }
            guard case .array(let branches)? = d["branches"] else {
                throw FolioError(ErrorCode(rawValue: 40061), "$switch expected an array for 'branches'")
            }
            var parsed: [(Expression, Expression)] = []
            for b in branches {
                guard case .document(let bd) = b, let c = bd["case"], let t = bd["then"] else {
                    throw FolioError(ErrorCode(rawValue: 40064), "$switch requires each branch have a 'case' expression")
                }
                parsed.append((try parse(c, context: context), try parse(t, context: context)))
            }
            guard !parsed.isEmpty else { throw FolioError(ErrorCode(rawValue: 40068), "$switch requires at least one branch.") }
            return .switchCase(branches: parsed, defaultValue: try d["default"].map { v throws(FolioError) in try parse(v, context: context) })
        case "$let":
            guard case .document(let d) = operand, case .document(let vars)? = d["vars"], let body = d["in"] else {
                throw FolioError(ErrorCode(rawValue: 16874), "$let requires 'vars' and 'in'")
            }
            var parsedVars: [(String, Expression)] = []
            for (k, v) in vars { parsedVars.append((k, try parse(v, context: context))) }
            return .letIn(variables: parsedVars, body: try parse(body, context: context.adding(vars.fieldNames)))
        case "$map":
            guard case .document(let d) = operand, let input = d["input"], let body = d["in"] else {
                throw FolioError(ErrorCode(rawValue: 16882), "Missing 'input' or 'in' parameter to $map")
            }
            let name = d["as"]?.stringValue ?? "this"
            return .map(input: try parse(input, context: context), name: name, body: try parse(body, context: context.adding([name])))
        case "$filter":
            guard case .document(let d) = operand, let input = d["input"], let cond = d["cond"] else {
                throw FolioError(ErrorCode(rawValue: 28648), "Missing 'input' or 'cond' parameter to $filter")
            }
            let name = d["as"]?.stringValue ?? "this"
            let inner = context.adding([name])
            return .filter(input: try parse(input, context: context), name: name, condition: try parse(cond, context: inner),
                           limit: try d["limit"].map { v throws(FolioError) in try parse(v, context: context) })
        case "$reduce":
            guard case .document(let d) = operand, let input = d["input"], let initial = d["initialValue"], let body = d["in"] else {
                throw FolioError(ErrorCode(rawValue: 40076), "$reduce requires 'input', 'initialValue' and 'in'")
            }
            return .reduce(input: try parse(input, context: context), initialValue: try parse(initial, context: context),
                           body: try parse(body, context: context.adding(["this", "value"])))
        case "$meta":
            return try metadata(operand)
        case "$and", "$or":
            var out: [Expression] = []
            for a in argumentList(operand) { out.append(try parse(a, context: context)) }
            return name == "$and" ? .and(out) : .or(out)
        default:
            guard let op = ExpressionOperators.table[name] else {
                throw FolioError(.invalidPipelineOperator, "Unrecognized expression '\(name)'")
            }
            let args: [BSON]
            if op.takesDocument {
                args = [operand]
            } else if case .document(let d) = operand, d.isEmpty, op.arity.map({ $0 == (0, 0) }) ?? false {
                args = []   // `{$rand: {}}`
            } else {
                args = argumentList(operand)
            }
            if let (lo, hi) = op.arity, !(lo...hi).contains(args.count) {
                throw arity(name, lo == hi ? lo : nil, args.count, range: lo...hi)
            }
            if op.takesDocument, case .document(let d) = operand {
                // Named arguments: each value is an expression; unknown names rejected by the operator.
                var fields: [(String, Expression)] = []
                for (k, v) in d { fields.append((k, try parse(v, context: context))) }
                return .call(name, op.function, [.object(fields)])
            }
            var parsed: [Expression] = []
            for a in args { parsed.append(try parse(a, context: context)) }
            return .call(name, collated(op.function, name, context.collator), parsed)
        }
    }

    /// Operators whose answer depends on how strings compare but never returns one of them:
    /// under a collation they compare their arguments' comparison keys.
    static let collationAware: Set<String> = ["$eq", "$ne", "$gt", "$gte", "$lt", "$lte", "$cmp", "$in", "$indexOfArray",
                                              "$setEquals", "$setIsSubset"]

    static func collated(_ function: @escaping ExpressionOperators.Function, _ name: String,
                         _ collator: (any Collator)?) -> ExpressionOperators.Function {
        guard let collator, collationAware.contains(name) else { return function }
        return { values, context throws(FolioError) in
            try function(values.map { $0?.collationKey(collator) }, context)
        }
    }

    static func arity(_ name: String, _ exact: Int?, _ got: Int, range: ClosedRange<Int>? = nil) -> FolioError {
        if let exact {
            return FolioError(.location16020, "Expression \(name) takes exactly \(exact) arguments. \(got) were passed in.")
        }
        return FolioError(.location16020, "Expression \(name) takes at least \(range!.lowerBound) arguments, and \(got) were passed in.")
    }
}

extension Expression {
    /// The metadata names `$meta` accepts (MongoDB 8.0's).
    static let metadataNames: Set<String> = [
        "textScore", "randVal", "searchScore", "searchHighlights", "geoNearDistance", "geoNearPoint", "recordId",
        "indexKey", "sortKey", "searchScoreDetails", "searchSequenceToken", "vectorSearchScore", "score", "scoreDetails",
    ]

    /// `{$meta: name}`: `textScore` reads the score the text stages attached (the aggregation
    /// refuses it with 40218 unless its first stage is a `$match` with `$text`), `randVal` is a
    /// fresh random number; metadata no Folio stage produces yet is missing.
    static func metadata(_ operand: BSON) throws(FolioError) -> Expression {
        guard case .string(let name) = operand else {
            throw FolioError(ErrorCode(rawValue: 17307), "$meta only supports string arguments")
        }
        guard metadataNames.contains(name) else {
            throw FolioError(ErrorCode(rawValue: 17308), "Unsupported argument to $meta: \(name)")
        }
        switch name {
        case "textScore":
            return .call("$meta", { _, context in context.root[TextSearch.scoreField] }, [])
        case "vectorSearchScore":
            return .call("$meta", { _, context in context.root[VectorSearchSpec.scoreField] }, [])
        case "randVal":
            return .call("$meta", { _, _ in .double(Double.random(in: 0..<1)) }, [])
        default:
            return .call("$meta", { _, _ in nil }, [])
        }
    }

    /// Whether a pipeline (any stage, at any depth) reads `{$meta: "textScore"}`.
    public static func mentionsTextScore(_ value: BSON) -> Bool {
        switch value {
        case .document(let d):
            if d.count == 1, d["$meta"] == .string("textScore") { return true }
            return d.contains { mentionsTextScore($0.1) }
        case .array(let a): return a.contains { mentionsTextScore($0) }
        default: return false
        }
    }
}
