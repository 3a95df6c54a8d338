import FolioBSON

/// A collection's schema validation: the `validator` query (any query operators, `$expr`,
/// `$jsonSchema`) with `validationLevel` and `validationAction`, as `create` and `collMod`
/// set them.
public struct DocumentValidator: Sendable {
    public enum Level: String, Sendable { case strict, moderate, off }
    public enum Action: String, Sendable { case error, warn, errorAndLog }

    /// The validator as given (what `specifiedAs` quotes in errors).
    public let source: Document
    let expression: MatchExpression
    public let level: Level
    public let action: Action

    /// Reads the validation options of a collection; nil when there is nothing to check (no
    /// validator or an empty one).
    /// - Throws: 14 TypeMismatch (validator not an object, level/action not strings), 2 BadValue
    ///   (unknown level or action), 224 QueryFeatureNotAllowed ($where, $text, $near in the
    ///   validator), and the query parser's errors.
    public init?(options: Document, command: String = "create") throws(FolioError) {
        let level: Level = try DocumentValidator.enumeration(options["validationLevel"], "validationLevel", command) ?? .strict
        let action: Action = try DocumentValidator.enumeration(options["validationAction"], "validationAction", command) ?? .error
        guard let value = options["validator"] else { return nil }
        guard case .document(let source) = value else {
            throw FolioError(.typeMismatch, "BSON field '\(command).validator' is the wrong type '\(value.type.alias)', expected type 'object'")
        }
        guard !source.isEmpty else { return nil }
        try DocumentValidator.refuseForbiddenOperators(in: .document(source))
        self.source = source
        self.expression = try MatchExpression(parsing: source)
        self.level = level
        self.action = action
    }

    static func enumeration<E: RawRepresentable>(_ value: BSON?, _ field: String, _ command: String) throws(FolioError) -> E? where E.RawValue == String {
        guard let value else { return nil }
        guard case .string(let s) = value else {
            throw FolioError(.typeMismatch, "BSON field '\(command).\(field)' is the wrong type '\(value.type.alias)', expected type 'string'")
        }
        guard let e = E(rawValue: s) else {
            throw FolioError(.badValue, "Enumeration value '\(s)' for field '\(command).\(field)' is not a valid value.")
        }
        return e
    }

    static func refuseForbiddenOperators(in value: BSON) throws(FolioError) {
        switch value {
        case .document(let d):
            for (k, v) in d {
                if ["$where", "$text", "$near", "$nearSphere", "$geoNear"].contains(k) {
                    throw FolioError(ErrorCode(rawValue: 224), "\(k) is not allowed in this context")
                }
                if k != "$jsonSchema" && k != "$expr" { try refuseForbiddenOperators(in: v) }
            }
        case .array(let a):
            for v in a { try refuseForbiddenOperators(in: v) }
        default: break
        }
    }

    /// Checks a document about to be written. `previous` is the stored version an update
    /// replaces (nil for inserts): under `moderate`, documents that already failed may stay
    /// invalid.
    /// - Returns: the failure's `errInfo` when the action is to warn (the write goes ahead).
    /// - Throws: 121 DocumentValidationFailure with `errInfo` {failingDocumentId, details}.
    public func check(_ document: Document, previous: Document?) throws(FolioError) -> Document? {
        if level == .off || expression.matches(document) { return nil }
        if level == .moderate, let previous, !expression.matches(previous) { return nil }
        var info: Document = [:]
        if let id = document["_id"] { info.append("failingDocumentId", id) }
        info.append("details", .document(ValidationExplainer(root: document.raw).filter(source, inverted: false)))
        if action == .warn { return info }
        throw FolioError(.documentValidationFailure, "Document failed validation", extraFields: ["errInfo": .document(info)])
    }
}

/// Describes why a document fails a validator, in MongoDB's structured form: each clause
/// that contributes names its operator, quotes itself (`specifiedAs`), gives a reason and
/// the values it considered; `$and`/`$or`/`$nor` list the clauses that did not hold
/// (`clausesNotSatisfied`), `$jsonSchema` its broken rules (`schemaRulesNotSatisfied`).
/// Under `$nor` and `$not` the sense is inverted: the clauses that did hold are described.
struct ValidationExplainer {
    let root: RawDocument

    /// One clause of a filter document: a logical/top-level operator or a single path operator.
    enum Clause {
        case logical(String, [Document])
        case topLevel(String, BSON)
        case path(String, op: String, operand: BSON, specifiedAs: Document)
    }

    static func clauses(of filter: Document) -> [Clause] {
        var out: [Clause] = []
        for (key, value) in filter {
            if key == "$comment" { continue }
            if ["$and", "$or", "$nor"].contains(key) {
                out.append(.logical(key, value.arrayValue?.compactMap(\.documentValue) ?? []))
            } else if key.hasPrefix("$") {
                out.append(.topLevel(key, value))
            } else if case .document(let ops) = value, let first = ops.fieldNames.first, first.hasPrefix("$") {
                for (op, operand) in ops where op != "$options" {
                    var spec: Document = [op: operand]
                    if op == "$regex", let options = ops["$options"] { spec.append("$options", options) }
                    out.append(.path(key, op: op, operand: operand, specifiedAs: [key: .document(spec)]))
                }
            } else if case .regex = value {
                out.append(.path(key, op: "$regex", operand: value, specifiedAs: [key: value]))
            } else {
                out.append(.path(key, op: "$eq", operand: value, specifiedAs: [key: value]))
            }
        }
        return out
    }

    static func document(of clause: Clause) -> Document {
        switch clause {
        case .logical(let op, let children): return [op: .array(children.map(BSON.document))]
        case .topLevel(let op, let value): return [op: value]
        case .path(_, _, _, let spec): return spec
        }
    }

    func holds(_ clause: Clause) -> Bool {
        (try? MatchExpression(parsing: ValidationExplainer.document(of: clause)).matches(root)) ?? false
    }

    /// The explanation for a filter document: its one clause, or an implicit `$and`.
    func filter(_ filter: Document, inverted: Bool) -> Document {
        let list = ValidationExplainer.clauses(of: filter)
        if list.count == 1 { return clause(list[0], inverted: inverted) }
        return logical("$and", list, inverted: inverted)
    }

    func logical(_ op: String, _ children: [Clause], inverted: Bool) -> Document {
        let childInverted = op == "$nor" ? !inverted : inverted
        var listed: [BSON] = []
        for (i, child) in children.enumerated() where holds(child) == childInverted {
            listed.append(["index": .int32(Int32(i)), "details": .document(clause(child, inverted: childInverted))])
        }
        return ["operatorName": .string(op), "clausesNotSatisfied": .array(listed)]
    }

    func clause(_ c: Clause, inverted: Bool) -> Document {
        switch c {
        case .logical(let op, let children):
            return logical(op, children.map { d in
                let parts = ValidationExplainer.clauses(of: d)
                return parts.count == 1 ? parts[0] : .logical("$and", parts.map(ValidationExplainer.document(of:)))
            }, inverted: inverted)
        case .topLevel(let op, let value):
            switch op {
            case "$expr":
                return ["operatorName": "$expr", "specifiedAs": ["$expr": value],
                        "reason": .string(inverted ? "expression did match" : "expression did not match"),
                        "expressionResult": .bool(inverted)]
            case "$jsonSchema":
                guard !inverted, case .document(let d) = value, let schema = try? JSONSchema(parsing: d) else {
                    return ["operatorName": "$jsonSchema", "specifiedAs": ["$jsonSchema": value], "reason": "schema matched"]
                }
                return ["operatorName": "$jsonSchema",
                        "schemaRulesNotSatisfied": .array(schema.explain(.document(root.document())).map(BSON.document))]
            default:
                return ["operatorName": .string(op), "specifiedAs": [op: value],
                        "reason": .string(inverted ? "expression always evaluates to true" : "expression always evaluates to false")]
            }
        case .path(let path, let op, let operand, let spec):
            return leaf(path, op, operand, spec, inverted: inverted)
        }
    }

    /// (reason, reason when inverted, expected types or nil for any, traverse a leaf array).
    static func leafRule(_ op: String) -> (String, String, Set<BSONType>?, Bool) {
        let numbers: Set<BSONType> = [.int32, .int64, .double, .decimal128]
        switch op {
        case "$in": return ("no matching value found in array", "matching value found in array", nil, true)
        case "$nin": return ("matching value found in array", "no matching value found in array", nil, true)
        case "$ne": return ("comparison succeeded", "comparison failed", nil, true)
        case "$regex": return ("regular expression did not match", "regular expression did match", [.string, .symbol, .regex], true)
        case "$size": return ("array length was not equal to given size", "array length was equal to given size", [.array], false)
        case "$elemMatch": return ("array did not satisfy the child predicate", "array did satisfy the child predicate", [.array], false)
        case "$all": return ("array did not contain all specified values", "array did contain all specified values", nil, false)
        case "$mod": return ("$mod did not evaluate to expected remainder", "$mod did evaluate to expected remainder", numbers, true)
        case "$bitsAllSet", "$bitsAllClear", "$bitsAnySet", "$bitsAnyClear":
            return ("bitwise operator failed to match", "bitwise operator matched successfully", numbers.union([.binary]), true)
        case "$type": return ("type did not match", "type did match", nil, true)
        default: return ("comparison failed", "comparison succeeded", nil, true)
        }
    }

    func leaf(_ path: String, _ op: String, _ operand: BSON, _ spec: Document, inverted: Bool) -> Document {
        if op == "$not" {
            let inner: Document
            if case .document(let d) = operand { inner = [path: .document(d)] } else { inner = [path: operand] }
            return ["operatorName": "$not", "details": .document(filter(inner, inverted: !inverted))]
        }
        var d: Document = ["operatorName": .string(op), "specifiedAs": .document(spec)]
        if op == "$exists" {
            let sense = operand.isTruthy != inverted
            d.append("reason", .string(sense ? "path does not exist" : "path does exist"))
            return d
        }
        let (normal, invertedReason, expected, traverse) = ValidationExplainer.leafRule(op)
        let values = considered(path, traverse: traverse)
        if values.isEmpty {
            d.append("reason", "field was missing")
            return d
        }
        if let expected, !values.contains(where: { expected.contains($0.type) }) {
            d.append("reason", "type did not match")
            appendTypes(values, to: &d)
            let names = Set(expected.map(\.alias)).sorted()
            if names.count == 1 { d.append("expectedType", .string(names[0])) } else { d.append("expectedTypes", .array(names.map(BSON.string))) }
            appendValues(values, to: &d)
            return d
        }
        d.append("reason", .string(inverted ? invertedReason : normal))
        appendValues(values, to: &d)
        if op == "$type" { appendTypes(values, to: &d) }
        return d
    }

    func appendValues(_ values: [BSON], to d: inout Document) {
        if values.count == 1 { d.append("consideredValue", values[0]) } else { d.append("consideredValues", .array(values)) }
    }

    func appendTypes(_ values: [BSON], to d: inout Document) {
        let names = Set(values.map(\.type.alias)).sorted()
        if names.count == 1 { d.append("consideredType", .string(names[0])) } else { d.append("consideredTypes", .array(names.map(BSON.string))) }
    }

    /// The values a path reaches: with `traverse`, an array at the end contributes its
    /// elements and then itself; without, only itself.
    func considered(_ dotted: String, traverse: Bool) -> [BSON] {
        var values: [BSON] = []
        var arrays: [BSON] = []
        // forEachValue follows a terminal array with its elements; count them off.
        var elementsLeft = 0
        FieldPath(dotted).forEachValue(in: root) { v in
            switch v {
            case .missing: break
            case .wholeArray(let raw):
                arrays.append(raw.bson)
                elementsLeft = raw.documentValue?.count ?? 0
            case .value(let raw):
                let isElement = elementsLeft > 0
                if isElement { elementsLeft -= 1 }
                if traverse || !isElement { values.append(raw.bson) }
            }
            return false
        }
        return values + arrays
    }
}
