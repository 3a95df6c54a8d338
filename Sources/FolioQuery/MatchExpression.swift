import FolioBSON
import FolioGeo

/// A compiled query filter. Parse once with `MatchExpression(parsing:)`, then run
/// `matches(_:)` on raw documents: values are read in place, never decoded wholesale
/// (except under `$expr`, which evaluates expressions on a decoded document).
///
/// The tree is public so the planner can read the predicates it can answer from an index.
public indirect enum MatchExpression: Sendable {
    case and([MatchExpression])
    case or([MatchExpression])
    case nor([MatchExpression])
    /// Every predicate holds for the values at the path (each with implicit array traversal).
    case path(FieldPath, [PathPredicate])
    /// An aggregation expression that must be truthy.
    case expr(Expression)
    /// A `$jsonSchema` validator.
    case jsonSchema(JSONSchema)
    /// `$text`: answered by the text index (the planner's TEXT stages); alone it holds for any
    /// document.
    case text(TextSearch)
    case alwaysTrue
    case alwaysFalse
}

/// One operator applied to the values at a path.
public indirect enum PathPredicate: Sendable {
    case eq(BSON)
    case ne(BSON)
    case gt(BSON)
    case gte(BSON)
    case lt(BSON)
    case lte(BSON)
    case `in`(InList)
    case nin(InList)
    case exists(Bool)
    case type(TypeSet)
    case size(Int)
    /// `$all`: every entry must be matched (equality, a regex, or an `$elemMatch`).
    case all([PathPredicate])
    case elemMatchDocument(MatchExpression)
    case elemMatchValue([PathPredicate])
    case regex(MongoRegex)
    case mod(divisor: Int64, remainder: Int64)
    case bits(BitTest, mask: [UInt8])
    /// `$not`: none of the grouped predicates' conjunction holds.
    case not([PathPredicate])
    /// A comparison with strings in its operand, under a collation.
    case collated(CollatedPredicate)
    /// `$geoWithin`, `$geoIntersects`, `$near`, `$nearSphere`.
    case geo(GeoPredicate)
}

/// `$eq`, `$gt`, `$gte`, `$lt`, `$lte` or `$in` with strings in the operand, under a
/// collation: the operand is kept as its comparison key and each value is keyed before it is
/// compared. The planner does not read it, so no index built with binary comparison answers it.
public struct CollatedPredicate: Sendable {
    /// The predicate as written (explain shows it).
    public let original: PathPredicate
    /// The same predicate over comparison keys.
    let keyed: PathPredicate
    /// `$in`'s regexes: they match the string itself, never its key.
    let regexes: [MongoRegex]
    let collator: any Collator
    /// A plain string operand's UTF-8 (`$eq`/`$gt`/...): a string value is compared with it
    /// directly, without building keys.
    let stringOperand: [UInt8]?

    init(_ original: PathPredicate, collator: any Collator) {
        self.original = original
        self.collator = collator
        switch original {
        case .eq(.string(let s)), .gt(.string(let s)), .gte(.string(let s)), .lt(.string(let s)), .lte(.string(let s)):
            stringOperand = Array(s.utf8)
        default: stringOperand = nil
        }
        switch original {
        case .eq(let v): keyed = .eq(v.collationKey(collator)); regexes = []
        case .gt(let v): keyed = .gt(v.collationKey(collator)); regexes = []
        case .gte(let v): keyed = .gte(v.collationKey(collator)); regexes = []
        case .lt(let v): keyed = .lt(v.collationKey(collator)); regexes = []
        case .lte(let v): keyed = .lte(v.collationKey(collator)); regexes = []
        case .in(let list):
            keyed = .in(InList(values: list.values.map { $0.collationKey(collator) }, regexes: []))
            regexes = list.regexes
        default: preconditionFailure("only comparisons are collated")
        }
    }

    func matches(_ value: PathValue) -> Bool {
        if let stringOperand, case .value(let v) = value, v.type == .string || v.type == .symbol {
            let c = v.withStringBytes { a in stringOperand.withUnsafeBufferPointer { b in collator.compare(utf8: a, b) } }
            switch original {
            case .eq: return c == 0
            case .gt: return c > 0
            case .gte: return c >= 0
            case .lt: return c < 0
            default: return c <= 0
            }
        }
        if case .value(let v) = value, regexes.contains(where: { PathPredicate.regexMatches($0, v) }) { return true }
        return keyed.matchesValue(value.collationKey(collator))
    }
}

extension PathValue {
    /// The value with its strings replaced by their comparison keys.
    func collationKey(_ collator: any Collator) -> PathValue {
        switch self {
        case .missing: return self
        case .value(let v): return .value(v.collationKey(collator))
        case .wholeArray(let v): return .wholeArray(v.collationKey(collator))
        }
    }
}

extension RawValue {
    /// The value with its strings replaced by their comparison keys (itself when it holds none).
    func collationKey(_ collator: any Collator) -> RawValue {
        switch type {
        case .string, .symbol, .document, .array:
            var holder = Document()
            holder.append("", bson.collationKey(collator))
            return holder.raw.lookup("")!
        default: return self
        }
    }
}

/// The operand of `$in`/`$nin`: plain values (kept sorted for binary search) and regexes.
public struct InList: Sendable {
    public let values: [BSON]
    public let regexes: [MongoRegex]
    public let containsNull: Bool
    let sortedValues: [BSON]

    public init(values: [BSON], regexes: [MongoRegex]) {
        self.values = values
        self.regexes = regexes
        self.containsNull = values.contains { $0.type == .null }
        self.sortedValues = values.sorted { BSON.compare($0, $1) < 0 }
    }

    /// Whether `raw` equals one of the values (binary search in MongoDB's order).
    func containsValue(_ raw: RawValue) -> Bool {
        var lo = 0, hi = sortedValues.count - 1
        while lo <= hi {
            let mid = (lo + hi) / 2
            let c = RawComparison.compare(raw, sortedValues[mid])
            if c == 0 { return sortedValues[mid].type.canonicalRank == raw.type.canonicalRank }
            if c < 0 { hi = mid - 1 } else { lo = mid + 1 }
        }
        return false
    }
}

/// The set of types `$type` accepts.
public struct TypeSet: Sendable {
    public var types: Set<UInt8>
    /// `"number"`: any numeric type.
    public var numbers: Bool

    func contains(_ t: BSONType) -> Bool { types.contains(t.rawValue) || (numbers && t.isNumber) }
}

/// The four bit tests.
public enum BitTest: Sendable {
    case allSet, allClear, anySet, anyClear
}

extension MatchExpression {
    /// Whether `document` matches.
    public func matches(_ document: RawDocument) -> Bool {
        switch self {
        case .and(let children):
            for child in children where !child.matches(document) { return false }
            return true
        case .path(let path, let predicates) where path.count == 1:
            // Fast path: a top-level field holding a non-array value, with plain comparisons.
            guard let v = document.lookup(path.components[0]), v.type != .array else {
                return predicates.allSatisfy { $0.holds(for: .path(path, document)) }
            }
            for p in predicates {
                switch p {
                case .eq, .gt, .gte, .lt, .lte, .in, .regex, .type, .mod, .bits:
                    if !p.matchesValue(.value(v)) { return false }
                case .ne(let operand):
                    if PathPredicate.equals(.value(v), operand) { return false }
                case .nin(let list):
                    if PathPredicate.in(list).matchesValue(.value(v)) { return false }
                case .exists(let wanted):
                    if !wanted { return false }
                default:
                    if !p.holds(for: .single(v)) { return false }
                }
            }
            return true
        case .or(let children): return children.contains { $0.matches(document) }
        case .nor(let children): return !children.contains { $0.matches(document) }
        case .path(let path, let predicates):
            return predicates.allSatisfy { $0.holds(for: .path(path, document)) }
        case .expr(let e):
            OperationInterrupt.beginDocument()
            return (try? e.evaluate(root: document.document()).isTruthy) ?? false
        case .jsonSchema(let schema): return schema.validate(document.document())
        case .text: return true
        case .alwaysTrue: return true
        case .alwaysFalse: return false
        }
    }

    /// Whether an owned document matches.
    public func matches(_ document: Document) -> Bool { matches(document.raw) }
}

/// Where a predicate finds its values: a path in a document, or one array element (`$elemMatch`).
enum ValueSource {
    case path(FieldPath, RawDocument)
    case single(RawValue)

    /// Visits the values; returns true when `visit` stopped early.
    @inline(__always)
    func forEach(_ visit: (PathValue) -> Bool) -> Bool {
        switch self {
        case .path(let path, let doc):
            if path.count == 1 {
                // Fast path: a top-level field.
                guard let v = doc.lookup(path.components[0]) else { return visit(.missing) }
                if v.type == .array {
                    if visit(.wholeArray(v)) { return true }
                    for e in v.documentValue! where visit(.value(e.value)) { return true }
                    return false
                }
                return visit(.value(v))
            }
            return path.forEachValue(in: doc, visit)
        case .single(let v):
            return visit(v.type == .array ? .wholeArray(v) : .value(v))
        }
    }

    func any(_ test: (PathValue) -> Bool) -> Bool { forEach(test) }
}

extension PathPredicate {
    /// Whether the predicate holds for the values of `source`.
    func holds(for source: ValueSource) -> Bool {
        switch self {
        case .ne(let v): return !PathPredicate.eq(v).holds(for: source)
        case .nin(let list): return !PathPredicate.in(list).holds(for: source)
        case .not(let predicates): return !predicates.allSatisfy { $0.holds(for: source) }
        case .exists(let wanted):
            let found = source.any { if case .missing = $0 { return false }; return true }
            return found == wanted
        case .all(let entries):
            return !entries.isEmpty && entries.allSatisfy { $0.holds(for: source) }
        default:
            return source.any { self.matchesValue($0) }
        }
    }

    /// Whether one value satisfies a positive predicate.
    func matchesValue(_ value: PathValue) -> Bool {
        switch self {
        case .eq(let operand): return PathPredicate.equals(value, operand)
        case .gt(let operand): return PathPredicate.compares(value, operand) { $0 > 0 }
        case .gte(let operand): return PathPredicate.compares(value, operand) { $0 >= 0 }
        case .lt(let operand): return PathPredicate.compares(value, operand) { $0 < 0 }
        case .lte(let operand): return PathPredicate.compares(value, operand) { $0 <= 0 }
        case .in(let list):
            switch value {
            case .missing: return list.containsNull
            case .value(let v):
                if v.type == .null && list.containsNull { return true }
                if list.containsValue(v) { return true }
                return !list.regexes.isEmpty && list.regexes.contains { PathPredicate.regexMatches($0, v) }
            case .wholeArray(let v):
                return list.values.contains { $0.type == .array && RawComparison.compare(v, $0) == 0 }
            }
        case .type(let set):
            switch value {
            case .missing: return false
            case .value(let v): return set.contains(v.type)
            case .wholeArray: return set.contains(.array)
            }
        case .size(let n):
            guard case .wholeArray(let v) = value else { return false }
            return v.documentValue!.count == n
        case .elemMatchDocument(let expression):
            guard case .wholeArray(let v) = value else { return false }
            for e in v.documentValue! where e.type == .document || e.type == .array {
                if expression.matches(e.value.documentValue!) { return true }
            }
            return false
        case .elemMatchValue(let predicates):
            guard case .wholeArray(let v) = value else { return false }
            for e in v.documentValue! where predicates.allSatisfy({ $0.holds(for: .single(e.value)) }) {
                return true
            }
            return false
        case .regex(let regex):
            guard case .value(let v) = value else { return false }
            return PathPredicate.regexMatches(regex, v)
        case .mod(let divisor, let remainder):
            guard case .value(let v) = value, let n = PathPredicate.truncatedInteger(v) else { return false }
            // Int64.min % -1 overflows; its remainder is 0.
            return n.remainderReportingOverflow(dividingBy: divisor).partialValue == remainder
        case .bits(let test, let mask):
            guard case .value(let v) = value, let bits = PathPredicate.bitBytes(v) else { return false }
            return PathPredicate.testBits(test, bits, mask)
        case .collated(let c): return c.matches(value)
        case .geo(let g):
            switch value {
            case .missing: return false
            case .value(let v), .wholeArray(let v): return g.matches(v.bson)
            }
        case .ne, .nin, .not, .exists, .all:
            preconditionFailure("group predicates are evaluated by holds(for:)")
        }
    }

    static func equals(_ value: PathValue, _ operand: BSON) -> Bool {
        switch value {
        case .missing: return operand.type == .null
        case .value(let v):
            if operand.type == .null { return v.type == .null }
            return v.type.canonicalRank == operand.type.canonicalRank && RawComparison.compare(v, operand) == 0
        case .wholeArray(let v):
            return operand.type == .array && RawComparison.compare(v, operand) == 0
        }
    }

    static func compares(_ value: PathValue, _ operand: BSON, _ accept: (Int) -> Bool) -> Bool {
        let raw: RawValue
        switch value {
        case .missing:
            // Missing sorts as null: only the null bracket's inclusive bounds match.
            return operand.type == .null && accept(0)
        case .value(let v): raw = v
        case .wholeArray(let v):
            guard operand.type == .array || operand.type == .minKey || operand.type == .maxKey else { return false }
            raw = v
        }
        if operand.type == .minKey || operand.type == .maxKey {
            return accept(RawComparison.compare(raw, operand))
        }
        guard raw.type.canonicalRank == operand.type.canonicalRank else { return false }
        if raw.type.isNumber {
            let rawIsNaN = (raw.type == .double && raw.doubleValue!.isNaN) || (raw.type == .decimal128 && (raw.bson.decimalValue?.isNaN ?? false))
            let operandIsNaN = (operand.doubleValue?.isNaN ?? false) || (operand.decimalValue?.isNaN ?? false)
            if rawIsNaN || operandIsNaN {
                // NaN compares equal to NaN only; never less or greater than anything.
                return rawIsNaN && operandIsNaN && accept(0)
            }
        }
        return accept(RawComparison.compare(raw, operand))
    }

    static func regexMatches(_ regex: MongoRegex, _ v: RawValue) -> Bool {
        switch v.type {
        case .string, .symbol: return v.withStringBytes { regex.matches($0) }
        case .regex:
            if case .regex(let r) = v.bson { return r.pattern == regex.pattern && r.options == regex.options }
            return false
        default: return false
        }
    }

    /// The value as an integer for `$mod`: numbers truncated toward zero; NaN and infinities fail.
    static func truncatedInteger(_ v: RawValue) -> Int64? {
        switch v.type {
        case .int32: return Int64(v.int32Value!)
        case .int64: return v.int64Value!
        case .double:
            let d = v.doubleValue!
            guard d.isFinite, d >= -9.223372036854775808e18, d < 9.223372036854775808e18 else { return nil }
            return Int64(d.rounded(.towardZero))
        case .decimal128:
            return v.bson.decimalValue?.int64Value(rounding: .towardZero)
        default: return nil
        }
    }

    /// Little-endian bytes of an integral number (sign-extended) or a binary's data.
    static func bitBytes(_ v: RawValue) -> [UInt8]? {
        let n: Int64
        switch v.type {
        case .int32: n = Int64(v.int32Value!)
        case .int64: n = v.int64Value!
        case .double:
            let d = v.doubleValue!
            guard d.isFinite, d.rounded(.towardZero) == d, d >= -9.223372036854775808e18, d < 9.223372036854775808e18 else { return nil }
            n = Int64(d)
        case .decimal128:
            guard let i = v.bson.decimalValue?.int64Value(rounding: .exact) else { return nil }
            n = i
        case .binary:
            if case .binary(let b) = v.bson { return b.data }
            return nil
        default: return nil
        }
        return withUnsafeBytes(of: n.littleEndian) { Array($0) }
    }

    static func testBits(_ test: BitTest, _ value: [UInt8], _ mask: [UInt8]) -> Bool {
        // Bits beyond the value's length: 0 for binaries; sign extension for numbers is already
        // in the 8 bytes, and masks never exceed 64 bits for numbers.
        var anySet = false, allSet = true, anyClear = false, allClear = true
        for i in 0..<mask.count where mask[i] != 0 {
            let b: UInt8 = i < value.count ? value[i] : ((value.count == 8 && value[7] & 0x80 != 0) ? 0xFF : 0)
            let set = b & mask[i], clear = ~b & mask[i]
            if set != 0 { anySet = true }
            if set != mask[i] { allSet = false }
            if clear != 0 { anyClear = true }
            if clear != mask[i] { allClear = false }
        }
        switch test {
        case .allSet: return allSet
        case .allClear: return allClear
        case .anySet: return anySet
        case .anyClear: return anyClear
        }
    }
}

extension BSON {
    /// The decimal value, when the value is a decimal128.
    public var decimalValue: Decimal128? { if case .decimal128(let d) = self { return d }; return nil }
}
