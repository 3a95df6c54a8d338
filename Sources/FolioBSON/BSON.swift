/// One BSON value, owned. Documents read from storage or the network stay raw
/// (`RawDocument`) until something needs an owned value.
///
/// `==` is structural: the same type and the same bits (so `.int32(1) != .double(1)`, and a
/// NaN equals the same NaN). MongoDB's value comparison, where `1 == 1.0`, is `BSON.compare`.
public enum BSON: Sendable {
    case double(Double)
    case string(String)
    case document(Document)
    case array([BSON])
    case binary(Binary)
    case undefined
    case objectID(ObjectID)
    case bool(Bool)
    /// Milliseconds since the Unix epoch (UTC).
    case datetime(Int64)
    case null
    // The three rare, wide payloads are boxed so every other value stays 16 bytes inline.
    indirect case regex(BSONRegex)
    indirect case dbPointer(namespace: String, id: ObjectID)
    case javascript(String)
    case symbol(String)
    indirect case javascriptWithScope(code: String, scope: Document)
    case int32(Int32)
    case timestamp(Timestamp)
    case int64(Int64)
    case decimal128(Decimal128)
    case minKey
    case maxKey

    /// The BSON type of the value.
    public var type: BSONType {
        switch self {
        case .double: return .double
        case .string: return .string
        case .document: return .document
        case .array: return .array
        case .binary: return .binary
        case .undefined: return .undefined
        case .objectID: return .objectID
        case .bool: return .bool
        case .datetime: return .datetime
        case .null: return .null
        case .regex: return .regex
        case .dbPointer: return .dbPointer
        case .javascript: return .javascript
        case .symbol: return .symbol
        case .javascriptWithScope: return .javascriptWithScope
        case .int32: return .int32
        case .timestamp: return .timestamp
        case .int64: return .int64
        case .decimal128: return .decimal128
        case .minKey: return .minKey
        case .maxKey: return .maxKey
        }
    }
}

extension BSON {
    public var doubleValue: Double? { if case .double(let v) = self { return v }; return nil }
    public var stringValue: String? { if case .string(let v) = self { return v }; return nil }
    public var documentValue: Document? { if case .document(let v) = self { return v }; return nil }
    public var arrayValue: [BSON]? { if case .array(let v) = self { return v }; return nil }
    public var boolValue: Bool? { if case .bool(let v) = self { return v }; return nil }
    public var int32Value: Int32? { if case .int32(let v) = self { return v }; return nil }
    public var int64Value: Int64? { if case .int64(let v) = self { return v }; return nil }
    public var objectIDValue: ObjectID? { if case .objectID(let v) = self { return v }; return nil }

    /// Whether the value is one of the numeric types.
    public var isNumber: Bool { type.isNumber }

    /// The value as an exact integer, when it is a number with an integral value that fits.
    public var exactInt64: Int64? {
        switch self {
        case .int32(let v): return Int64(v)
        case .int64(let v): return v
        case .double(let d):
            guard d.rounded(.towardZero) == d, d >= -9.223372036854775808e18, d < 9.223372036854775808e18 else { return nil }
            return Int64(d)
        case .decimal128(let d): return d.int64Value(rounding: .exact)
        default: return nil
        }
    }

    /// The value as a double, when it is a number (decimal128 rounds to nearest).
    public var asDouble: Double? {
        switch self {
        case .int32(let v): return Double(v)
        case .int64(let v): return Double(v)
        case .double(let d): return d
        case .decimal128(let d): return d.doubleValue
        default: return nil
        }
    }
}

extension BSON: Equatable {
    public static func == (lhs: BSON, rhs: BSON) -> Bool {
        switch (lhs, rhs) {
        case (.double(let a), .double(let b)): return a.bitPattern == b.bitPattern
        case (.string(let a), .string(let b)): return utf8Equal(a, b)
        case (.document(let a), .document(let b)): return a == b
        case (.array(let a), .array(let b)): return a == b
        case (.binary(let a), .binary(let b)): return a == b
        case (.undefined, .undefined), (.null, .null), (.minKey, .minKey), (.maxKey, .maxKey): return true
        case (.objectID(let a), .objectID(let b)): return a == b
        case (.bool(let a), .bool(let b)): return a == b
        case (.datetime(let a), .datetime(let b)): return a == b
        case (.regex(let a), .regex(let b)):
            return a.pattern.utf8.elementsEqual(b.pattern.utf8) && a.options.utf8.elementsEqual(b.options.utf8)
        case (.dbPointer(let n1, let i1), .dbPointer(let n2, let i2)): return n1.utf8.elementsEqual(n2.utf8) && i1 == i2
        case (.javascript(let a), .javascript(let b)): return a.utf8.elementsEqual(b.utf8)
        case (.symbol(let a), .symbol(let b)): return a.utf8.elementsEqual(b.utf8)
        case (.javascriptWithScope(let c1, let s1), .javascriptWithScope(let c2, let s2)):
            return c1.utf8.elementsEqual(c2.utf8) && s1 == s2
        case (.int32(let a), .int32(let b)): return a == b
        case (.timestamp(let a), .timestamp(let b)): return a == b
        case (.int64(let a), .int64(let b)): return a == b
        case (.decimal128(let a), .decimal128(let b)): return a.low == b.low && a.high == b.high
        default: return false
        }
    }
}

extension BSON: ExpressibleByStringLiteral, ExpressibleByIntegerLiteral, ExpressibleByFloatLiteral,
    ExpressibleByBooleanLiteral, ExpressibleByArrayLiteral, ExpressibleByDictionaryLiteral, ExpressibleByNilLiteral
{
    public init(stringLiteral value: String) { self = .string(value) }
    /// Integer literals become int32 when they fit, int64 otherwise (as the shell does for
    /// small integers in documents built by code).
    public init(integerLiteral value: Int) {
        if let v = Int32(exactly: value) { self = .int32(v) } else { self = .int64(Int64(value)) }
    }
    public init(floatLiteral value: Double) { self = .double(value) }
    public init(booleanLiteral value: Bool) { self = .bool(value) }
    public init(arrayLiteral elements: BSON...) { self = .array(elements) }
    public init(dictionaryLiteral elements: (String, BSON)...) { self = .document(Document(elements)) }
    public init(nilLiteral: ()) { self = .null }
}
