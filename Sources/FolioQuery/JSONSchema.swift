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

    func typeMatches(_ value: BSON) -> Bool {
        func check(_ spec: BSON?, json: Bool) -> Bool {
            guard let spec else { return true }
            let names: [String]
            switch spec {
            case .string(let s): names = [s]
            case .array(let a): names = a.compactMap(\.stringValue)
            default: return false
            }
            return names.contains { name in
                if json {
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
        return check(rules["type"], json: true) && check(rules["bsonType"], json: false)
    }

    func accepts(_ value: BSON) -> Bool {
        guard typeMatches(value) else { return false }
        if case .array(let options)? = rules["enum"], !options.contains(where: { BSON.compare($0, value) == 0 && $0.type.canonicalRank == value.type.canonicalRank }) {
            return false
        }
        if value.isNumber && !numberAccepted(value) { return false }
        if case .string(let s) = value {
            let length = s.unicodeScalars.count
            if let min = rules["minLength"]?.exactInt64, length < min { return false }
            if let max = rules["maxLength"]?.exactInt64, length > max { return false }
            if let pattern, !pattern.matches(s) { return false }
        }
        if case .document(let d) = value, !documentAccepted(d) { return false }
        if case .array(let a) = value, !arrayAccepted(a) { return false }
        for (kind, list) in combinators {
            let passing = list.filter { $0.accepts(value) }.count
            switch kind {
            case "allOf": if passing != list.count { return false }
            case "anyOf": if passing == 0 { return false }
            default: if passing != 1 { return false }
            }
        }
        if let negated, negated.accepts(value) { return false }
        return true
    }

    func numberAccepted(_ value: BSON) -> Bool {
        if let min = rules["minimum"] {
            let c = BSON.compare(value, min)
            if c < 0 || (c == 0 && rules["exclusiveMinimum"]?.isTruthy == true) { return false }
        }
        if let max = rules["maximum"] {
            let c = BSON.compare(value, max)
            if c > 0 || (c == 0 && rules["exclusiveMaximum"]?.isTruthy == true) { return false }
        }
        if let m = rules["multipleOf"]?.asDouble, m != 0, let x = value.asDouble {
            let q = x / m
            if q.rounded() != q { return false }
        }
        return true
    }

    func documentAccepted(_ d: Document) -> Bool {
        if case .array(let required)? = rules["required"] {
            for r in required { if let name = r.stringValue, d[name] == nil { return false } }
        }
        if let min = rules["minProperties"]?.exactInt64, d.count < min { return false }
        if let max = rules["maxProperties"]?.exactInt64, d.count > max { return false }
        for (name, schema) in properties { if let v = d[name], !schema.accepts(v) { return false } }
        for (k, v) in d {
            let declared = properties.contains { $0.0 == k }
            var matchedPattern = false
            for (regex, schema) in patternProperties where regex.matches(k) {
                matchedPattern = true
                if !schema.accepts(v) { return false }
            }
            if !declared && !matchedPattern {
                switch additionalProperties {
                case .allowed: break
                case .forbidden: return false
                case .schema(let s): if !s.accepts(v) { return false }
                }
            }
        }
        return true
    }

    func arrayAccepted(_ a: [BSON]) -> Bool {
        if let min = rules["minItems"]?.exactInt64, a.count < min { return false }
        if let max = rules["maxItems"]?.exactInt64, a.count > max { return false }
        if rules["uniqueItems"]?.isTruthy == true {
            for i in 0..<a.count { for j in (i + 1)..<a.count where BSON.compare(a[i], a[j]) == 0 { return false } }
        }
        switch items {
        case .none: return true
        case .each(let s): return a.allSatisfy { s.accepts($0) }
        case .tuple(let list, let additional):
            for (i, v) in a.enumerated() {
                if i < list.count { if !list[i].accepts(v) { return false }; continue }
                switch additional {
                case .allowed: break
                case .forbidden: return false
                case .schema(let s): if !s.accepts(v) { return false }
                }
            }
            return true
        }
    }
}
