import FolioBSON

/// `$jsonSchema` validation (draft 4 keywords MongoDB supports, plus `bsonType`).
///
/// Supported: type, bsonType, required, properties, additionalProperties (bool or schema),
/// patternProperties, minProperties, maxProperties, enum, minimum, maximum,
/// exclusiveMinimum, exclusiveMaximum, multipleOf, minLength, maxLength, pattern, items
/// (schema or array), additionalItems, minItems, maxItems, uniqueItems, allOf, anyOf,
/// oneOf, not, title, description. Unknown keywords are rejected at parse time (code 9
/// FailedToParse), as MongoDB does.
public final class JSONSchema: Sendable {
    let rules: Document
    let properties: [(String, JSONSchema)]
    let patternProperties: [(MongoRegex, JSONSchema)]
    let additionalProperties: AdditionalProperties
    let items: Items
    let combinators: [(String, [JSONSchema])]
    let negated: JSONSchema?
    let pattern: MongoRegex?

    enum AdditionalProperties: Sendable { case allowed, forbidden, schema(JSONSchema) }
    enum Items: Sendable { case none, each(JSONSchema), tuple([JSONSchema], additional: AdditionalProperties) }

    static let keywords: Set<String> = [
        "type", "bsonType", "required", "properties", "additionalProperties", "patternProperties", "minProperties",
        "maxProperties", "enum", "minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum", "multipleOf",
        "minLength", "maxLength", "pattern", "items", "additionalItems", "minItems", "maxItems", "uniqueItems",
        "allOf", "anyOf", "oneOf", "not", "title", "description", "dependencies",
    ]

    public init(parsing schema: Document) throws(FolioError) {
        for k in schema.fieldNames where !JSONSchema.keywords.contains(k) {
            throw FolioError(.failedToParse, "Unknown $jsonSchema keyword: \(k)")
        }
        rules = schema
        var props: [(String, JSONSchema)] = []
        if let p = schema["properties"] {
            guard case .document(let d) = p else { throw FolioError(.typeMismatch, "$jsonSchema keyword 'properties' must be an object") }
            for (k, v) in d {
                guard case .document(let sub) = v else { throw FolioError(.typeMismatch, "Nested schema for $jsonSchema property '\(k)' must be an object") }
                props.append((k, try JSONSchema(parsing: sub)))
            }
        }
        properties = props
        var patterns: [(MongoRegex, JSONSchema)] = []
        if case .document(let d)? = schema["patternProperties"] {
            for (k, v) in d {
                guard case .document(let sub) = v else { throw FolioError(.typeMismatch, "patternProperties entries must be objects") }
                patterns.append((try MongoRegex(pattern: k, options: ""), try JSONSchema(parsing: sub)))
            }
        }
        patternProperties = patterns
        additionalProperties = try JSONSchema.additional(schema["additionalProperties"])
        switch schema["items"] {
        case .document(let d)?: items = .each(try JSONSchema(parsing: d))
        case .array(let a)?:
            var list: [JSONSchema] = []
            for e in a {
                guard case .document(let d) = e else { throw FolioError(.typeMismatch, "items entries must be objects") }
                list.append(try JSONSchema(parsing: d))
            }
            items = .tuple(list, additional: try JSONSchema.additional(schema["additionalItems"]))
        case nil: items = .none
        default: throw FolioError(.typeMismatch, "$jsonSchema keyword 'items' must be an array or an object")
        }
        var combos: [(String, [JSONSchema])] = []
        for k in ["allOf", "anyOf", "oneOf"] {
            guard let v = schema[k] else { continue }
            guard case .array(let a) = v, !a.isEmpty else { throw FolioError(.badValue, "$jsonSchema keyword '\(k)' must be a non-empty array") }
            var list: [JSONSchema] = []
            for e in a {
                guard case .document(let d) = e else { throw FolioError(.typeMismatch, "\(k) entries must be objects") }
                list.append(try JSONSchema(parsing: d))
            }
            combos.append((k, list))
        }
        combinators = combos
        if case .document(let d)? = schema["not"] { negated = try JSONSchema(parsing: d) } else { negated = nil }
        if case .string(let p)? = schema["pattern"] { pattern = try MongoRegex(pattern: p, options: "") } else { pattern = nil }
        if let t = schema["type"], case .string(let name) = t, name == "integer" {
            throw FolioError(.badValue, "$jsonSchema type 'integer' is not currently supported.")
        }
    }

    static func additional(_ v: BSON?) throws(FolioError) -> AdditionalProperties {
        switch v {
        case nil, .bool(true)?: return .allowed
        case .bool(false)?: return .forbidden
        case .document(let d)?: return .schema(try JSONSchema(parsing: d))
        default: throw FolioError(.typeMismatch, "additionalProperties must be a boolean or an object")
        }
    }

    /// Whether a document satisfies the schema.
    public func validate(_ document: Document) -> Bool { accepts(.document(document)) }

    func accepts(_ value: BSON) -> Bool {
        var fastPath: [Document]? = nil
        return evaluate(value, &fastPath)
    }

    /// The rules `value` breaks, each described as MongoDB's document-validation errors do
    /// (`operatorName`, `specifiedAs`, `reason`, `consideredValue`, ...).
    public func explain(_ value: BSON) -> [Document] {
        var errors: [Document]? = []
        _ = evaluate(value, &errors)
        return errors ?? []
    }

    /// Checks every rule against `value`. With `errors` nil it stops at the first broken rule;
    /// otherwise it checks them all and appends one description per broken rule.
    func evaluate(_ value: BSON, _ errors: inout [Document]?) -> Bool {
        var ok = true
        func rule(_ keyword: String, _ reason: String, _ extra: Document = [:]) -> Document {
            var d: Document = ["operatorName": .string(keyword), "specifiedAs": [keyword: rules[keyword] ?? .null],
                               "reason": .string(reason), "consideredValue": value]
            for (k, v) in extra { d.append(k, v) }
            return d
        }
        for keyword in ["type", "bsonType"] where !typeMatches(value, keyword) {
            if JSONSchema.broken(&ok, &errors, rule(keyword, "type did not match", ["consideredType": .string(value.type.alias)])) { return false }
        }
        if case .array(let options)? = rules["enum"], !options.contains(where: { BSON.compare($0, value) == 0 && $0.type.canonicalRank == value.type.canonicalRank }) {
            if JSONSchema.broken(&ok, &errors, rule("enum", "value was not found in enum")) { return false }
        }
        if value.isNumber {
            for (keyword, exclusive, sign) in [("minimum", "exclusiveMinimum", -1), ("maximum", "exclusiveMaximum", 1)] {
                guard let bound = rules[keyword] else { continue }
                let c = BSON.compare(value, bound)
                if c == sign || (c == 0 && rules[exclusive]?.isTruthy == true) {
                    if JSONSchema.broken(&ok, &errors, rule(keyword, "comparison failed")) { return false }
                }
            }
            if let m = rules["multipleOf"]?.asDouble, m != 0, let x = value.asDouble, (x / m).rounded() != x / m {
                if JSONSchema.broken(&ok, &errors, rule("multipleOf", "considered value is not a multiple of the specified value")) { return false }
            }
        }
        if case .string(let s) = value {
            let length = s.unicodeScalars.count
            if let min = rules["minLength"]?.exactInt64, length < min {
                if JSONSchema.broken(&ok, &errors, rule("minLength", "specified string length was not satisfied")) { return false }
            }
            if let max = rules["maxLength"]?.exactInt64, length > max {
                if JSONSchema.broken(&ok, &errors, rule("maxLength", "specified string length was not satisfied")) { return false }
            }
            if let pattern, !pattern.matches(s) {
                if JSONSchema.broken(&ok, &errors, rule("pattern", "regular expression did not match")) { return false }
            }
        }
        if case .document(let d) = value, !documentAccepted(d, &errors) {
            ok = false
            if errors == nil { return false }
        }
        if case .array(let a) = value, !arrayAccepted(a, &errors) {
            ok = false
            if errors == nil { return false }
        }
        for (kind, list) in combinators {
            let passing = list.indices.filter { list[$0].accepts(value) }
            let holds: Bool
            switch kind {
            case "allOf": holds = passing.count == list.count
            case "anyOf": holds = !passing.isEmpty
            default: holds = passing.count == 1
            }
            if holds { continue }
            if kind == "oneOf" && passing.count > 1 {
                if JSONSchema.broken(&ok, &errors, ["operatorName": "oneOf", "specifiedAs": ["oneOf": rules["oneOf"] ?? .null],
                           "reason": "more than one subschema matched",
                           "matchingSchemaIndexes": .array(passing.map { .int32(Int32($0)) })]) { return false }
                continue
            }
            if JSONSchema.broken(&ok, &errors, ["operatorName": .string(kind),
                       "schemasNotSatisfied": .array(list.indices.filter { !passing.contains($0) }.map {
                           ["index": .int32(Int32($0)), "details": .array(list[$0].explain(value).map(BSON.document))]
                       })]) { return false }
        }
        if let negated, negated.accepts(value) {
            if JSONSchema.broken(&ok, &errors, ["operatorName": "not", "specifiedAs": ["not": rules["not"] ?? .null], "reason": "child expression matched"]) { return false }
        }
        return ok
    }

    /// Records a broken rule: clears `ok` and, when collecting, appends its description.
    /// Returns true when evaluation should stop (the fast path collects nothing).
    static func broken(_ ok: inout Bool, _ errors: inout [Document]?, _ describe: @autoclosure () -> Document) -> Bool {
        ok = false
        guard errors != nil else { return true }
        errors!.append(describe())
        return false
    }

    func typeMatches(_ value: BSON, _ keyword: String) -> Bool {
        let names: [String]
        switch rules[keyword] {
        case nil: return true
        case .string(let s)?: names = [s]
        case .array(let a)?: names = a.compactMap(\.stringValue)
        default: return false
        }
        return names.contains { name in
            if keyword == "type" {
                switch name {
                case "object": return value.type == .document
                case "array": return value.type == .array
                case "number": return value.isNumber
                case "boolean": return value.type == .bool
                case "string": return value.type == .string
                case "null": return value.type == .null
                default: return false
                }
            }
            if name == "number" { return value.isNumber }
            return BSONType(alias: name) == value.type
        }
    }

    func documentAccepted(_ d: Document, _ errors: inout [Document]?) -> Bool {
        var ok = true
        var failedProperties: [BSON] = []
        for (name, schema) in properties {
            guard let v = d[name], !schema.accepts(v) else { continue }
            if errors == nil { return false }
            failedProperties.append(["propertyName": .string(name), "details": .array(schema.explain(v).map(BSON.document))])
        }
        if !failedProperties.isEmpty, JSONSchema.broken(&ok, &errors, ["operatorName": "properties", "propertiesNotSatisfied": .array(failedProperties)]) { return false }
        var extra: [BSON] = []
        for (k, v) in d {
            let declared = properties.contains { $0.0 == k }
            var matchedPattern = false
            for (regex, schema) in patternProperties where regex.matches(k) {
                matchedPattern = true
                if !schema.accepts(v), JSONSchema.broken(&ok, &errors, ["operatorName": "patternProperties", "propertyName": .string(k),
                                                "regex": .string(regex.pattern), "details": .array(schema.explain(v).map(BSON.document))]) {
                    return false
                }
            }
            if declared || matchedPattern { continue }
            switch additionalProperties {
            case .allowed: break
            case .forbidden:
                if errors == nil { return false }
                extra.append(.string(k))
            case .schema(let s):
                if !s.accepts(v), JSONSchema.broken(&ok, &errors, ["operatorName": "additionalProperties",
                                          "reason": "at least one additional property did not match the subschema",
                                          "failingProperty": .string(k), "details": .array(s.explain(v).map(BSON.document))]) {
                    return false
                }
            }
        }
        if !extra.isEmpty, JSONSchema.broken(&ok, &errors, ["operatorName": "additionalProperties", "specifiedAs": ["additionalProperties": false],
                                   "additionalProperties": .array(extra)]) { return false }
        for (keyword, sign) in [("minProperties", -1), ("maxProperties", 1)] {
            if let bound = rules[keyword]?.exactInt64, (sign < 0 ? Int64(d.count) < bound : Int64(d.count) > bound),
               JSONSchema.broken(&ok, &errors, ["operatorName": .string(keyword), "specifiedAs": [keyword: rules[keyword]!],
                       "reason": "specified number of properties was not satisfied", "numberOfProperties": .int32(Int32(d.count))]) {
                return false
            }
        }
        if case .array(let required)? = rules["required"] {
            let missing = required.filter { r in r.stringValue.map { d[$0] == nil } ?? false }
            if !missing.isEmpty, JSONSchema.broken(&ok, &errors, ["operatorName": "required", "specifiedAs": ["required": .array(required)],
                                         "missingProperties": .array(missing)]) { return false }
        }
        return ok
    }

    func arrayAccepted(_ a: [BSON], _ errors: inout [Document]?) -> Bool {
        var ok = true
        for (keyword, sign) in [("minItems", -1), ("maxItems", 1)] {
            if let bound = rules[keyword]?.exactInt64, (sign < 0 ? Int64(a.count) < bound : Int64(a.count) > bound),
               JSONSchema.broken(&ok, &errors, ["operatorName": .string(keyword), "specifiedAs": [keyword: rules[keyword]!],
                       "reason": "array did not match specified length", "consideredValue": .array(a)]) {
                return false
            }
        }
        if rules["uniqueItems"]?.isTruthy == true,
           let duplicate = a.indices.first(where: { i in a[(i + 1)...].contains { BSON.compare(a[i], $0) == 0 } }),
           JSONSchema.broken(&ok, &errors, ["operatorName": "uniqueItems", "specifiedAs": ["uniqueItems": rules["uniqueItems"]!],
                   "reason": "found a duplicate item", "consideredValue": .array(a), "duplicatedValue": a[duplicate]]) {
            return false
        }
        func itemFailure(_ keyword: String, _ reason: String, _ index: Int, _ schema: JSONSchema) -> Document {
            ["operatorName": .string(keyword), "reason": .string(reason), "itemIndex": .int32(Int32(index)),
             "details": .array(schema.explain(a[index]).map(BSON.document))]
        }
        switch items {
        case .none: break
        case .each(let s):
            if let i = a.indices.first(where: { !s.accepts(a[$0]) }),
               JSONSchema.broken(&ok, &errors, itemFailure("items", "At least one item did not match the sub-schema", i, s)) { return false }
        case .tuple(let list, let additional):
            if let i = a.indices.first(where: { $0 < list.count && !list[$0].accepts(a[$0]) }),
               JSONSchema.broken(&ok, &errors, itemFailure("items", "At least one item did not match the sub-schema", i, list[i])) { return false }
            guard a.count > list.count else { break }
            switch additional {
            case .allowed: break
            case .forbidden:
                if JSONSchema.broken(&ok, &errors, ["operatorName": "additionalItems", "specifiedAs": ["additionalItems": false],
                           "reason": "found additional items", "additionalItems": .array(Array(a[list.count...]))]) { return false }
            case .schema(let s):
                if let i = a.indices.first(where: { $0 >= list.count && !s.accepts(a[$0]) }),
                   JSONSchema.broken(&ok, &errors, itemFailure("additionalItems", "At least one additional item did not match the sub-schema", i, s)) { return false }
            }
        }
        return ok
    }
}
