import FolioBSON

/// An aggregation expression, parsed once. `evaluate` returns nil for "missing" (a field
/// that does not exist), which `$project`/`$addFields` drop and most operators treat as null.
///
/// Operators live in `ExpressionOperators.table` (name → implementation), so the aggregation
/// issue's operators plug in without touching the evaluator.
public indirect enum Expression: Sendable {
    case constant(BSON)
    /// `"$a.b"`: a path from `$$CURRENT`.
    case fieldPath(FieldPath)
    /// `"$$name"` or `"$$name.a.b"`.
    case variable(String, FieldPath?)
    case array([Expression])
    case object([(String, Expression)])
    /// An operator whose arguments are all evaluated first.
    case call(String, ExpressionOperators.Function, [Expression])
    case cond(Expression, Expression, Expression)
    case ifNull([Expression])
    case switchCase(branches: [(Expression, Expression)], defaultValue: Expression?)
    case letIn(variables: [(String, Expression)], body: Expression)
    case map(input: Expression, name: String, body: Expression)
    case filter(input: Expression, name: String, condition: Expression, limit: Expression?)
    case reduce(input: Expression, initialValue: Expression, body: Expression)
    case and([Expression])
    case or([Expression])
}

/// Variables visible while parsing (to reject undefined `$$names` at parse time).
public struct ParseContext: Sendable {
    public var variables: Set<String>
    /// Variables with values known at parse time (a command's `let`), folded in as constants.
    public var constants: [String: BSON]
    /// The collation comparisons use (nil: binary).
    public var collator: (any Collator)?

    public init(variables: Set<String> = [], constants: [String: BSON] = [:], collator: (any Collator)? = nil) {
        self.variables = variables
        self.constants = constants
        self.collator = collator
    }

    static let systemVariables: Set<String> = ["ROOT", "CURRENT", "REMOVE", "NOW", "CLUSTER_TIME", "DESCEND", "PRUNE", "KEEP", "USER_ROLES", "SEARCH_META"]

    func adding(_ names: [String]) -> ParseContext {
        var c = self
        c.variables.formUnion(names)
        return c
    }
}

/// Values visible while evaluating.
public struct EvaluationContext: Sendable {
    public var root: Document
    public var current: BSON
    public var variables: [String: BSON]
    /// `$$NOW`, fixed for the whole command.
    public var now: Int64

    public init(root: Document, variables: [String: BSON] = [:], now: Int64? = nil) {
        self.root = root
        self.current = .document(root)
        self.variables = variables
        self.now = now ?? Int64(ObjectID.currentSeconds()) * 1000
    }
}

/// The `$$REMOVE` marker: a distinct missing value.
extension Expression {
    /// Evaluates against a document as `$$ROOT` and `$$CURRENT`.
    public func evaluate(root: Document, variables: [String: BSON] = [:]) throws(FolioError) -> BSON {
        try evaluate(EvaluationContext(root: root, variables: variables)) ?? .null
    }

    /// Evaluates; nil means missing.
    public func evaluate(_ context: EvaluationContext) throws(FolioError) -> BSON? {
        switch self {
        case .constant(let v): return v
        case .fieldPath(let path): return Expression.resolve(path.components[...], in: context.current)
        case .variable(let name, let path):
            let base: BSON?
            switch name {
            case "ROOT": base = .document(context.root)
            case "CURRENT": base = context.current
            case "REMOVE": return nil
            case "NOW": base = .datetime(context.now)
            case "CLUSTER_TIME": base = .timestamp(Timestamp(seconds: UInt32(truncatingIfNeeded: context.now / 1000), increment: 1))
            default:
                guard let v = context.variables[name] else {
                    throw FolioError(ErrorCode(rawValue: 17276), "Use of undefined variable: \(name)")
                }
                base = v
            }
            guard let path else { return base }
            return base.flatMap { Expression.resolve(path.components[...], in: $0) }
        case .array(let elements):
            var out: [BSON] = []
            out.reserveCapacity(elements.count)
            for e in elements { out.append(try e.evaluate(context) ?? .null) }
            try OperationInterrupt.charge(OperationInterrupt.arrayBytes(out.count), by: "an array literal")
            return .array(out)
        case .object(let fields):
            var d = Document()
            for (k, e) in fields {
                if let v = try e.evaluate(context) { d.append(k, v) }
            }
            try OperationInterrupt.charge(OperationInterrupt.documentBytes(d.count), by: "an object literal")
            return .document(d)
        case .call(let name, let function, let arguments):
            var values: [BSON?] = []
            values.reserveCapacity(arguments.count)
            for a in arguments { values.append(try a.evaluate(context)) }
            let result = try function(values, context)
            if let result { try OperationInterrupt.charge(result: result, by: name) }
            return result
        case .cond(let test, let then, let otherwise):
            return (try test.evaluate(context)?.isTruthy ?? false) ? try then.evaluate(context) : try otherwise.evaluate(context)
        case .ifNull(let candidates):
            for c in candidates.dropLast() {
                if let v = try c.evaluate(context), v.type != .null, v.type != .undefined { return v }
            }
            return try candidates.last!.evaluate(context)
        case .switchCase(let branches, let defaultValue):
            for (test, then) in branches where try test.evaluate(context)?.isTruthy ?? false {
                return try then.evaluate(context)
            }
            guard let defaultValue else {
                throw FolioError(ErrorCode(rawValue: 40066), "$switch could not find a matching branch for an input, and no default was specified.")
            }
            return try defaultValue.evaluate(context)
        case .letIn(let variables, let body):
            var inner = context
            for (name, e) in variables { inner.variables[name] = try e.evaluate(context) ?? .null }
            return try body.evaluate(inner)
        case .map(let input, let name, let body):
            guard let value = try input.evaluate(context), value.type != .null else { return .null }
            guard case .array(let elements) = value else {
                throw FolioError(ErrorCode(rawValue: 16883), "input to $map must be an array not \(value.type.alias)")
            }
            var inner = context
            var out: [BSON] = []
            for (i, e) in elements.enumerated() {
                if i % OperationInterrupt.pollInterval == 0 { try OperationInterrupt.check() }
                inner.variables[name] = e
                out.append(try body.evaluate(inner) ?? .null)
            }
            try OperationInterrupt.charge(OperationInterrupt.arrayBytes(out.count), by: "$map")
            return .array(out)
        case .filter(let input, let name, let condition, let limitExpression):
            guard let value = try input.evaluate(context), value.type != .null else { return .null }
            guard case .array(let elements) = value else {
                throw FolioError(ErrorCode(rawValue: 28651), "input to $filter must be an array not \(value.type.alias)")
            }
            var limit = Int.max
            if let limitExpression, let l = try limitExpression.evaluate(context), l.type != .null {
                guard let n = l.exactInt64, n > 0 else {
                    throw FolioError(ErrorCode(rawValue: 327391), "$filter: limit must be greater than 0: \(l)")
                }
                limit = Int(n)
            }
            var inner = context
            var out: [BSON] = []
            for (i, e) in elements.enumerated() where out.count < limit {
                if i % OperationInterrupt.pollInterval == 0 { try OperationInterrupt.check() }
                inner.variables[name] = e
                if try condition.evaluate(inner)?.isTruthy ?? false { out.append(e) }
            }
            try OperationInterrupt.charge(OperationInterrupt.arrayBytes(out.count), by: "$filter")
            return .array(out)
        case .reduce(let input, let initialValue, let body):
            guard let value = try input.evaluate(context), value.type != .null else { return .null }
            guard case .array(let elements) = value else {
                throw FolioError(ErrorCode(rawValue: 40080), "$reduce requires that 'input' be an array, found: \(value)")
            }
            var accumulated = try initialValue.evaluate(context) ?? .null
            var inner = context
            for (i, e) in elements.enumerated() {
                if i % OperationInterrupt.pollInterval == 0 { try OperationInterrupt.check() }
                inner.variables["this"] = e
                inner.variables["value"] = accumulated
                accumulated = try body.evaluate(inner) ?? .null
            }
            return accumulated
        case .and(let children):
            for c in children where !(try c.evaluate(context)?.isTruthy ?? false) { return .bool(false) }
            return .bool(true)
        case .or(let children):
            for c in children where try c.evaluate(context)?.isTruthy ?? false { return .bool(true) }
            return .bool(false)
        }
    }

    /// A field path's value: through documents by name and through arrays element-wise
    /// (missing elements are dropped; numeric components are names, not positions).
    static func resolve(_ components: ArraySlice<String>, in value: BSON) -> BSON? {
        guard let first = components.first else { return value }
        switch value {
        case .document(let d):
            guard let child = d[first] else { return nil }
            return resolve(components.dropFirst(), in: child)
        case .array(let elements):
            var out: [BSON] = []
            for e in elements {
                switch e {
                case .document, .array:
                    if let v = resolve(components, in: e) { out.append(v) }
                default: continue
                }
            }
            return .array(out)
        default:
            return nil
        }
    }
}

extension Expression {
    /// Evaluates a command's `let` document: each value is an expression over no document
    /// (constants, `$$NOW`, earlier variables are not visible, as in MongoDB).
    public static func evaluateLet(_ variables: Document?) throws(FolioError) -> [String: BSON] {
        guard let variables else { return [:] }
        var out: [String: BSON] = [:]
        for (name, value) in variables {
            guard UpdatePath.isValidIdentifier(name) || name.first?.isLowercase == true else {
                throw FolioError(.failedToParse, "'\(name)' starts with an invalid character for a user variable name")
            }
            out[name] = try parse(value, context: ParseContext()).evaluate(EvaluationContext(root: Document())) ?? .null
        }
        return out
    }
}
