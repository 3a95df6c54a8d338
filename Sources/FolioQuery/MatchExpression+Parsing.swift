import FolioBSON
import FolioGeo

extension MatchExpression {
    /// Parses a query filter, validating every operator with MongoDB's error codes
    /// (2 BadValue "unknown operator: $foo", and so on).
    /// - Parameter constants: the command's `let` variables, visible to `$expr` as `$$name`.
    /// - Parameter collator: the collation strings compare by (nil: binary, MongoDB's "simple").
    public init(parsing filter: Document, constants: [String: BSON] = [:], collator: (any Collator)? = nil) throws(FolioError) {
        self = try MatchParser(constants: constants, collator: collator).parseDocument(filter, topLevel: true)
        try checkTextPlacement()
        try checkNearPlacement()
    }
}

struct MatchParser {
    var constants: [String: BSON] = [:]
    var collator: (any Collator)?

    /// A comparison as parsed, or collated when a collation applies and its operand holds strings.
    func comparison(_ predicate: PathPredicate) -> PathPredicate {
        guard let collator else { return predicate }
        switch predicate {
        case .eq(let v), .gt(let v), .gte(let v), .lt(let v), .lte(let v):
            return v.containsStrings ? .collated(CollatedPredicate(predicate, collator: collator)) : predicate
        case .in(let list):
            return list.values.contains { $0.containsStrings } ? .collated(CollatedPredicate(predicate, collator: collator)) : predicate
        case .ne(let v):
            return v.containsStrings ? .not([comparison(.eq(v))]) : predicate
        case .nin(let list):
            return list.values.contains { $0.containsStrings } ? .not([comparison(.in(list))]) : predicate
        default: return predicate
        }
    }

    func parseDocument(_ filter: Document, topLevel: Bool) throws(FolioError) -> MatchExpression {
        var children: [MatchExpression] = []
        for (key, value) in filter {
            if key.hasPrefix("$") {
                if let e = try parseTopLevelOperator(key, value) { children.append(e) }
            } else {
                children.append(try parseField(FieldPath(key), value))
            }
        }
        if children.count == 1 { return children[0] }
        return children.isEmpty ? .alwaysTrue : .and(children)
    }

    func parseTopLevelOperator(_ key: String, _ value: BSON) throws(FolioError) -> MatchExpression? {
        switch key {
        case "$and", "$or", "$nor":
            guard case .array(let entries) = value, !entries.isEmpty else {
                throw .badValue("\(key) must be a nonempty array")
            }
            var children: [MatchExpression] = []
            for entry in entries {
                guard case .document(let d) = entry else {
                    throw .badValue("$or/$and/$nor entries need to be full objects")
                }
                children.append(try parseDocument(d, topLevel: false))
            }
            switch key {
            case "$and": return .and(children)
            case "$or": return .or(children)
            default: return .nor(children)
            }
        case "$expr":
            return .expr(try Expression.parse(value, context: ParseContext(constants: constants, collator: collator)))
        case "$comment":
            return nil
        case "$jsonSchema":
            guard case .document(let schema) = value else { throw .typeMismatch("$jsonSchema must be an object") }
            return .jsonSchema(try JSONSchema(parsing: schema))
        case "$alwaysTrue": return .alwaysTrue
        case "$alwaysFalse": return .alwaysFalse
        case "$where":
            throw FolioError(.commandNotSupported, "$where is not supported: Folio does not run server-side JavaScript")
        case "$text":
            return .text(try TextSearch(parsing: value))
        case "$sampleRate":
            throw FolioError(.commandNotSupported, "$sampleRate is not supported yet")
        default:
            throw .badValue("unknown top level operator: \(key). If you have a field name that starts with a '$' symbol, consider using $getField or $setField.")
        }
    }

    /// `{field: value}`: an operator document, a regex, or implicit equality.
    func parseField(_ path: FieldPath, _ value: BSON) throws(FolioError) -> MatchExpression {
        switch value {
        case .regex(let r):
            return .path(path, [.regex(try MongoRegex(r))])
        case .document(let d) where d.fieldNames.first?.hasPrefix("$") == true:
            return .path(path, try parseOperators(d, path: path))
        default:
            return .path(path, [comparison(.eq(value))])
        }
    }

    /// The operators of one field's operator document, as a conjunction.
    func parseOperators(_ d: Document, path: FieldPath) throws(FolioError) -> [PathPredicate] {
        if d.index(forKey: "$near") != nil || d.index(forKey: "$nearSphere") != nil
            || d.index(forKey: "$maxDistance") != nil || d.index(forKey: "$minDistance") != nil {
            return [.geo(try MatchParser.geo { () throws(GeoError) in try GeoPredicate.near(d) })]
        }
        var predicates: [PathPredicate] = []
        var regexValue: BSON?
        var options: String?
        for (op, operand) in d {
            switch op {
            case "$regex": regexValue = operand
            case "$options":
                guard case .string(let o) = operand else { throw .badValue("$options has to be a string") }
                options = o
            default:
                if let p = try parseOperator(op, operand, path: path) { predicates.append(p) }
            }
        }
        if let regexValue {
            predicates.append(.regex(try regex(regexValue, options: options)))
        } else if options != nil {
            throw .badValue("$options needs a $regex")
        }
        return predicates
    }

    func regex(_ value: BSON, options: String?) throws(FolioError) -> MongoRegex {
        switch value {
        case .string(let pattern):
            return try MongoRegex(pattern: pattern, options: options ?? "")
        case .regex(let r):
            if let options, !options.isEmpty, !r.options.isEmpty {
                throw .badValue("options set in both $regex and $options")
            }
            return try MongoRegex(pattern: r.pattern, options: options.map { $0.isEmpty ? r.options : $0 } ?? r.options)
        default:
            throw .badValue("$regex has to be a string")
        }
    }

    func parseOperator(_ op: String, _ operand: BSON, path: FieldPath) throws(FolioError) -> PathPredicate? {
        switch op {
        case "$eq": return comparison(.eq(operand))
        case "$ne": return comparison(.ne(operand))
        case "$gt": return comparison(.gt(operand))
        case "$gte": return comparison(.gte(operand))
        case "$lt": return comparison(.lt(operand))
        case "$lte": return comparison(.lte(operand))
        case "$in": return comparison(.in(try inList(operand, op)))
        case "$nin": return comparison(.nin(try inList(operand, op)))
        case "$exists": return .exists(operand.isTruthy)
        case "$type": return .type(try typeSet(operand))
        case "$size":
            guard let n = operand.exactInt64, operand.isNumber else {
                if operand.isNumber { throw .badValue("$size must be a whole number") }
                throw .badValue("$size needs a number")
            }
            guard n >= 0 else { throw .badValue("$size may not be negative") }
            return .size(Int(n))
        case "$all":
            guard case .array(let entries) = operand else { throw .badValue("$all needs an array") }
            var out: [PathPredicate] = []
            for e in entries {
                switch e {
                case .regex(let r): out.append(.regex(try MongoRegex(r)))
                case .document(let d) where d.fieldNames.first == "$elemMatch":
                    guard d.count == 1, let p = try parseOperator("$elemMatch", d["$elemMatch"]!, path: path) else {
                        throw .badValue("$all/$elemMatch has to be consistent")
                    }
                    out.append(p)
                case .document(let d) where d.fieldNames.first?.hasPrefix("$") == true:
                    throw .badValue("no $ expressions in $all")
                default: out.append(comparison(.eq(e)))
                }
            }
            return .all(out)
        case "$elemMatch":
            guard case .document(let d) = operand else { throw .badValue("$elemMatch needs an Object") }
            // Operator form ({$gt: 1}) matches elements as values; otherwise a sub-filter.
            if let first = d.fieldNames.first, first.hasPrefix("$"), !["$and", "$or", "$nor", "$expr", "$where", "$text", "$comment", "$jsonSchema"].contains(first) {
                return .elemMatchValue(try parseOperators(d, path: path))
            }
            let inner = try parseDocument(d, topLevel: false)
            if inner.containsText { throw FolioError(.badValue, "$text is not allowed in this context") }
            return .elemMatchDocument(inner)
        case "$not":
            switch operand {
            case .regex(let r): return .not([.regex(try MongoRegex(r))])
            case .document(let d):
                guard !d.isEmpty else { throw .badValue("$not cannot be empty") }
                guard d.fieldNames.first?.hasPrefix("$") == true else { throw .badValue("$not needs a regex or a document") }
                return .not(try parseOperators(d, path: path))
            default:
                throw .badValue("$not needs a regex or a document")
            }
        case "$mod":
            guard case .array(let a) = operand else { throw .badValue("malformed mod, needs to be an array") }
            guard a.count >= 2 else { throw .badValue("malformed mod, not enough elements") }
            guard a.count == 2 else { throw .badValue("malformed mod, too many elements") }
            guard a[0].isNumber, a[1].isNumber else { throw .badValue("malformed mod, divisor and remainder not numbers") }
            guard let divisor = Self.modOperand(a[0]), let remainder = Self.modOperand(a[1]) else {
                throw .badValue("malformed mod, divisor value is invalid :: caused by :: Out of bounds coercing to integral value")
            }
            guard divisor != 0 else { throw .badValue("divisor cannot be 0") }
            return .mod(divisor: divisor, remainder: remainder)
        case "$bitsAllSet": return .bits(.allSet, mask: try bitMask(operand, op))
        case "$bitsAllClear": return .bits(.allClear, mask: try bitMask(operand, op))
        case "$bitsAnySet": return .bits(.anySet, mask: try bitMask(operand, op))
        case "$bitsAnyClear": return .bits(.anyClear, mask: try bitMask(operand, op))
        case "$comment": return nil
        case "$geoWithin": return .geo(try MatchParser.geo { () throws(GeoError) in try GeoPredicate.within(operand) })
        case "$geoIntersects": return .geo(try MatchParser.geo { () throws(GeoError) in try GeoPredicate.intersects(operand) })
        case "$text", "$where":
            throw .badValue("unknown operator: \(op)")
        default:
            throw .badValue("unknown operator: \(op)")
        }
    }

    /// A geo operand's parse, its failure as BadValue with MongoDB's reason.
    static func geo(_ parse: () throws(GeoError) -> GeoPredicate) throws(FolioError) -> GeoPredicate {
        do { return try parse() } catch { throw .badValue(error.message) }
    }

    static func modOperand(_ v: BSON) -> Int64? {
        switch v {
        case .int32(let i): return Int64(i)
        case .int64(let i): return i
        case .double(let d):
            guard d.isFinite, d >= -9.223372036854775808e18, d < 9.223372036854775808e18 else { return nil }
            return Int64(d.rounded(.towardZero))
        case .decimal128(let d): return d.int64Value(rounding: .towardZero)
        default: return nil
        }
    }

    func inList(_ operand: BSON, _ op: String) throws(FolioError) -> InList {
        guard case .array(let entries) = operand else { throw .badValue("\(op) needs an array") }
        var values: [BSON] = [], regexes: [MongoRegex] = []
        for e in entries {
            switch e {
            case .regex(let r): regexes.append(try MongoRegex(r))
            case .document(let d) where d.fieldNames.first?.hasPrefix("$") == true && d.fieldNames.first != "$ref" && d.fieldNames.first != "$id":
                throw .badValue("cannot nest $ under \(op)")
            default: values.append(e)
            }
        }
        return InList(values: values, regexes: regexes)
    }

    func typeSet(_ operand: BSON) throws(FolioError) -> TypeSet {
        var set = TypeSet(types: [], numbers: false)
        let entries: [BSON]
        if case .array(let a) = operand {
            entries = a
        } else {
            entries = [operand]
        }
        for e in entries {
            switch e {
            case .string(let alias):
                if alias == "number" { set.numbers = true; continue }
                guard let t = BSONType(alias: alias) else { throw .badValue("Unknown type name alias: \(alias)") }
                set.types.insert(t.rawValue)
            default:
                guard e.isNumber, let code = e.exactInt64 else { throw .typeMismatch("type must be represented as a number or a string") }
                if code == -1 { set.types.insert(BSONType.minKey.rawValue); continue }
                guard let byte = UInt8(exactly: code), let t = BSONType(rawValue: byte) else {
                    throw .badValue("Invalid numerical type code: \(code)")
                }
                set.types.insert(t.rawValue)
            }
        }
        return set
    }

    func bitMask(_ operand: BSON, _ op: String) throws(FolioError) -> [UInt8] {
        switch operand {
        case .binary(let b): return b.data
        case .array(let positions):
            var mask = [UInt8]()
            for p in positions {
                guard p.isNumber, let n = p.exactInt64 else {
                    throw .badValue("bit positions must be an integer but got: \(p)")
                }
                guard n >= 0 else { throw .badValue("bit positions must be >= 0 but got: \(n)") }
                guard n < 1 << 20 else { throw .badValue("bit position \(n) too large") }
                let byte = Int(n / 8)
                if mask.count <= byte { mask += [UInt8](repeating: 0, count: byte + 1 - mask.count) }
                mask[byte] |= 1 << UInt8(n % 8)
            }
            return mask
        default:
            guard operand.isNumber else {
                throw .badValue("\(op) takes an Array, a number, or a BinData but received: \(operand)")
            }
            guard let n = operand.exactInt64 else {
                throw .badValue("\(op) cannot represent as a 64-bit integer: \(operand)")
            }
            guard n >= 0 else { throw .badValue("\(op) cannot take a negative number: \(n)") }
            return withUnsafeBytes(of: n.littleEndian) { Array($0) }
        }
    }
}

extension BSON {
    /// MongoDB truthiness: false, null, undefined, missing and numeric zero are false.
    public var isTruthy: Bool {
        switch self {
        case .bool(let b): return b
        case .null, .undefined: return false
        case .int32(let v): return v != 0
        case .int64(let v): return v != 0
        case .double(let d): return d != 0  // NaN is truthy, as in MongoDB
        case .decimal128(let d): return !d.isZero
        default: return true
        }
    }
}

