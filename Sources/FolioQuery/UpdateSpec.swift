import FolioBSON

/// A parsed update: a replacement document, update operators, or an aggregation pipeline.
public struct UpdateSpec: Sendable {
    public enum Kind: Sendable {
        case replacement(Document)
        case operators([UpdateAction])
        case pipeline([UpdatePipelineStage])
    }

    public let kind: Kind
    /// The identifiers `$[id]` paths use, for the unused-filter check.
    let usedIdentifiers: Set<String>

    /// Whether this is a replacement document.
    public var isReplacement: Bool { if case .replacement = kind { return true }; return false }

    /// Parses the `u` of an update statement (or findAndModify's `update`).
    /// - Throws: 9 FailedToParse for unknown modifiers and mixed documents, 40 for conflicts,
    ///   2/14 for bad operands, and the field-name codes for invalid replacement documents.
    public init(parsing value: BSON, constants: [String: BSON] = [:]) throws(FolioError) {
        switch value {
        case .array(let stages):
            kind = .pipeline(try UpdatePipelineStage.parse(stages, variables: Set(constants.keys)))
            usedIdentifiers = []
        case .document(let d):
            let dollar = d.fieldNames.filter { $0.hasPrefix("$") }
            if dollar.isEmpty {
                kind = .replacement(d)
                usedIdentifiers = []
                return
            }
            guard dollar.count == d.count, let firstKey = d.fieldNames.first, firstKey.hasPrefix("$") else {
                let offender = d.fieldNames.first { !$0.hasPrefix("$") } ?? ""
                throw FolioError(.failedToParse, "Unknown modifier: \(offender). Expected a valid update modifier or pipeline-style update specified as an array")
            }
            let actions = try UpdateAction.parse(d)
            kind = .operators(actions)
            var ids = Set<String>()
            for a in actions { for e in a.path.elements { if case .filtered(let id) = e { ids.insert(id) } } }
            usedIdentifiers = ids
        default:
            throw FolioError(.failedToParse, "Update argument must be either an object or an array")
        }
    }
}

/// One operator applied at one path.
public struct UpdateAction: Sendable {
    public let path: UpdatePath
    public let operation: UpdateOperation
}

/// What an update operator does.
public enum UpdateOperation: Sendable {
    case set(BSON)
    case unset
    case inc(BSON)
    case mul(BSON)
    case min(BSON)
    case max(BSON)
    case rename(to: UpdatePath)
    /// The destination side of a `$rename`, used only for conflict checks.
    case renameTarget
    case setOnInsert(BSON)
    case currentDate(timestamp: Bool)
    case push(PushSpec)
    case addToSet([BSON])
    case pop(first: Bool)
    case pull(PullCondition)
    case pullAll([BSON])
    case bit([(BitOperation, BSON)])
}

public enum BitOperation: String, Sendable { case and, or, xor }

/// `$push` with its modifiers.
public struct PushSpec: Sendable {
    public var values: [BSON]
    public var slice: Int64?
    public var sort: PushSort?
    public var position: Int64?
}

public enum PushSort: Sendable {
    case whole(ascending: Bool)
    case fields(SortSpec)
}

/// What `$pull` removes.
public enum PullCondition: Sendable {
    /// Elements equal to a value.
    case equals(BSON)
    /// Elements satisfying operators (`{$gte: 6}`), as values.
    case predicates([PathPredicate])
    /// Document elements matching a query (`{score: 8}`).
    case query(MatchExpression)
}

extension UpdateAction {
    static let knownOperators: Set<String> = [
        "$set", "$unset", "$inc", "$mul", "$min", "$max", "$rename", "$setOnInsert", "$currentDate",
        "$push", "$addToSet", "$pop", "$pull", "$pullAll", "$bit",
    ]

    static func parse(_ update: Document) throws(FolioError) -> [UpdateAction] {
        var actions: [UpdateAction] = []
        for (op, argument) in update {
            guard knownOperators.contains(op) else {
                throw FolioError(.failedToParse, "Unknown modifier: \(op). Expected a valid update modifier or pipeline-style update specified as an array")
            }
            guard case .document(let fields) = argument else {
                throw FolioError(.failedToParse, "Modifiers operate on fields but we found type \(argument.type.alias) instead. For example: {$mod: {<field>: ...}} not {\(op): \(argument)}")
            }
            for (field, value) in fields {
                let path = try UpdatePath(parsing: field, operatorName: op)
                if op != "$set" && op != "$setOnInsert" && op != "$unset", case .field(let f)? = path.elements.last, f.hasPrefix("$") {
                    throw FolioError(.dollarPrefixedFieldName, "The dollar ($) prefixed field '\(f)' in '\(field)' is not allowed in the context of an update's replacement document. Consider using an aggregation pipeline with $replaceWith.")
                }
                actions.append(contentsOf: try parseOne(op, path, value, field: field))
            }
        }
        try checkConflicts(actions)
        return actions.sorted { UpdatePath.applicationOrder($0.path, $1.path) }
    }

    static func parseOne(_ op: String, _ path: UpdatePath, _ value: BSON, field: String) throws(FolioError) -> [UpdateAction] {
        func numeric() throws(FolioError) -> BSON {
            guard value.isNumber else {
                let verb = op == "$inc" ? "increment" : "multiply"
                throw FolioError(.typeMismatch, "Cannot \(verb) with non-numeric argument: {\(field): \(value)}")
            }
            return value
        }
        switch op {
        case "$set": return [UpdateAction(path: path, operation: .set(value))]
        case "$setOnInsert": return [UpdateAction(path: path, operation: .setOnInsert(value))]
        case "$unset": return [UpdateAction(path: path, operation: .unset)]
        case "$inc": return [UpdateAction(path: path, operation: .inc(try numeric()))]
        case "$mul": return [UpdateAction(path: path, operation: .mul(try numeric()))]
        case "$min": return [UpdateAction(path: path, operation: .min(value))]
        case "$max": return [UpdateAction(path: path, operation: .max(value))]
        case "$rename":
            guard case .string(let target) = value else {
                throw FolioError(.badValue, "The 'to' field for $rename must be a string: \(field): \(value)")
            }
            let to = try UpdatePath(parsing: target, operatorName: op)
            if path.elements.contains(where: { if case .field = $0 { return false }; return true }) ||
                to.elements.contains(where: { if case .field = $0 { return false }; return true }) {
                throw FolioError(.badValue, "The source field for $rename may not be dynamic: \(field)")
            }
            if path == to { throw FolioError(.badValue, "The source and target field for $rename must differ: \(field): \"\(target)\"") }
            if path.overlaps(to) {
                throw FolioError(.badValue, "The source and target field for $rename must not be on the same path: \(field): \"\(target)\"")
            }
            return [UpdateAction(path: path, operation: .rename(to: to)), UpdateAction(path: to, operation: .renameTarget)]
        case "$currentDate":
            switch value {
            case .bool(true): return [UpdateAction(path: path, operation: .currentDate(timestamp: false))]
            case .bool(false): return [UpdateAction(path: path, operation: .currentDate(timestamp: false))]
            case .document(let d) where d.count == 1 && d["$type"] != nil:
                switch d["$type"] {
                case .string("date")?: return [UpdateAction(path: path, operation: .currentDate(timestamp: false))]
                case .string("timestamp")?: return [UpdateAction(path: path, operation: .currentDate(timestamp: true))]
                default: throw FolioError(.badValue, "The '$type' string field is required to be 'date' or 'timestamp': {$currentDate: {field : {$type: 'date'}}}")
                }
            default:
                throw FolioError(.badValue, "\(value) is not valid type for $currentDate. Please use a boolean ('true') or a $type expression ({$type: 'timestamp/date'}).")
            }
        case "$push": return [UpdateAction(path: path, operation: .push(try parsePush(value)))]
        case "$addToSet":
            if case .document(let d) = value, d.fieldNames.first == "$each" {
                guard d.count == 1 else {
                    throw FolioError(.badValue, "Found unexpected fields after $each in $addToSet: \(value)")
                }
                guard case .array(let each) = d["$each"]! else {
                    throw FolioError(.typeMismatch, "The argument to $each in $addToSet must be an array but it was of type \(d["$each"]!.type.alias)")
                }
                return [UpdateAction(path: path, operation: .addToSet(each))]
            }
            return [UpdateAction(path: path, operation: .addToSet([value]))]
        case "$pop":
            guard value.isNumber, let n = value.asDouble, n == 1 || n == -1 else {
                throw FolioError(.failedToParse, "$pop expects 1 or -1, found: \(value)")
            }
            return [UpdateAction(path: path, operation: .pop(first: n == -1))]
        case "$pull": return [UpdateAction(path: path, operation: .pull(try parsePull(value)))]
        case "$pullAll":
            guard case .array(let a) = value else {
                throw FolioError(.badValue, "$pullAll requires an array argument but was given a \(value.type.alias)")
            }
            return [UpdateAction(path: path, operation: .pullAll(a))]
        case "$bit":
            guard case .document(let d) = value, !d.isEmpty else {
                throw FolioError(.badValue, "The $bit modifier is not compatible with a \(value.type.alias). You must pass in an embedded document: {$bit: {field: {and/or/xor: #}}")
            }
            var ops: [(BitOperation, BSON)] = []
            for (k, v) in d {
                guard let bop = BitOperation(rawValue: k) else {
                    throw FolioError(.badValue, "The $bit modifier only supports 'and', 'or', and 'xor', not '\(k)' which is an unknown operator: {\(k): \(v)}")
                }
                guard v.type == .int32 || v.type == .int64 else {
                    throw FolioError(.badValue, "The $bit modifier field must be an Integer(32/64 bit); a '\(v.type.alias)' is not supported here: {\(k): \(v)}")
                }
                ops.append((bop, v))
            }
            return [UpdateAction(path: path, operation: .bit(ops))]
        default:
            throw FolioError(.failedToParse, "Unknown modifier: \(op)")
        }
    }

    static func parsePush(_ value: BSON) throws(FolioError) -> PushSpec {
        guard case .document(let d) = value, d.fieldNames.first?.hasPrefix("$") == true, d["$each"] != nil else {
            return PushSpec(values: [value], slice: nil, sort: nil, position: nil)
        }
        guard case .array(let each) = d["$each"]! else {
            throw FolioError(.badValue, "The argument to $each in $push must be an array but it was of type: \(d["$each"]!.type.alias)")
        }
        var spec = PushSpec(values: each, slice: nil, sort: nil, position: nil)
        for (k, v) in d {
            switch k {
            case "$each": continue
            case "$slice":
                guard v.isNumber, let n = v.exactInt64 else {
                    throw FolioError(.badValue, "The value for $slice must be an integer value but was given type: \(v.type.alias)")
                }
                spec.slice = n
            case "$position":
                guard v.isNumber, let n = v.exactInt64 else {
                    throw FolioError(.badValue, "The value for $position must be an integer value, not of type: \(v.type.alias)")
                }
                spec.position = n
            case "$sort":
                switch v {
                case .document(let s):
                    guard !s.isEmpty else { throw FolioError(.badValue, "The $sort pattern is empty when it should be a set of fields.") }
                    spec.sort = .fields(try SortSpec(parsing: s, allowMeta: false, errorCode: .badValue))
                default:
                    guard v.isNumber, let n = v.asDouble, n == 1 || n == -1 else {
                        throw FolioError(.badValue, "The $sort is invalid: use 1/-1 to sort the whole element, or {field:1/-1} to sort embedded fields")
                    }
                    spec.sort = .whole(ascending: n == 1)
                }
            default:
                throw FolioError(.badValue, "Unrecognized clause in $push: \(k)")
            }
        }
        return spec
    }

    static func parsePull(_ value: BSON) throws(FolioError) -> PullCondition {
        guard case .document(let d) = value else {
            if case .regex(let r) = value { return .predicates([.regex(try MongoRegex(r))]) }
            return .equals(value)
        }
        if let first = d.fieldNames.first, first.hasPrefix("$"), !["$and", "$or", "$nor", "$expr"].contains(first) {
            return .predicates(try MatchParser().parseOperators(d, path: FieldPath("")))
        }
        return .query(try MatchExpression(parsing: d))
    }

    /// Two operators on overlapping paths conflict (40 ConflictingUpdateOperators).
    static func checkConflicts(_ actions: [UpdateAction]) throws(FolioError) {
        let sorted = actions.sorted { UpdatePath.applicationOrder($0.path, $1.path) }
        for i in 0..<sorted.count {
            for j in (i + 1)..<sorted.count {
                let a = sorted[i].path, b = sorted[j].path
                if a.overlaps(b) {
                    let shorter = a.elements.count <= b.elements.count ? a : b
                    let longer = a.elements.count <= b.elements.count ? b : a
                    throw FolioError(.conflictingUpdateOperators, "Updating the path '\(longer)' would create a conflict at '\(shorter)'")
                }
                if !b.elements.starts(with: a.elements.prefix(1)) { break }
            }
        }
    }
}
