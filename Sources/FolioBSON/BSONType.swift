/// The type byte of a BSON element, as the BSON specification numbers them.
public enum BSONType: UInt8, Sendable, CaseIterable {
    case double = 0x01
    case string = 0x02
    case document = 0x03
    case array = 0x04
    case binary = 0x05
    case undefined = 0x06
    case objectID = 0x07
    case bool = 0x08
    case datetime = 0x09
    case null = 0x0A
    case regex = 0x0B
    case dbPointer = 0x0C
    case javascript = 0x0D
    case symbol = 0x0E
    case javascriptWithScope = 0x0F
    case int32 = 0x10
    case timestamp = 0x11
    case int64 = 0x12
    case decimal128 = 0x13
    case minKey = 0xFF
    case maxKey = 0x7F

    /// MongoDB's canonical type rank (`canonicalizeBSONType`): values of different types
    /// compare by this rank; types that share a rank (the numbers; string and symbol)
    /// compare by value.
    @inlinable
    public var canonicalRank: Int {
        switch self {
        case .minKey: return -1
        case .undefined: return 0
        case .null: return 5
        case .double, .int32, .int64, .decimal128: return 10
        case .string, .symbol: return 15
        case .document: return 20
        case .array: return 25
        case .binary: return 30
        case .objectID: return 35
        case .bool: return 40
        case .datetime: return 45
        case .timestamp: return 47
        case .regex: return 50
        case .dbPointer: return 55
        case .javascript: return 60
        case .javascriptWithScope: return 65
        case .maxKey: return 127
        }
    }

    /// The alias `$type` accepts and the aggregation `$type` operator returns.
    public var alias: String {
        switch self {
        case .double: return "double"
        case .string: return "string"
        case .document: return "object"
        case .array: return "array"
        case .binary: return "binData"
        case .undefined: return "undefined"
        case .objectID: return "objectId"
        case .bool: return "bool"
        case .datetime: return "date"
        case .null: return "null"
        case .regex: return "regex"
        case .dbPointer: return "dbPointer"
        case .javascript: return "javascript"
        case .symbol: return "symbol"
        case .javascriptWithScope: return "javascriptWithScope"
        case .int32: return "int"
        case .timestamp: return "timestamp"
        case .int64: return "long"
        case .decimal128: return "decimal"
        case .minKey: return "minKey"
        case .maxKey: return "maxKey"
        }
    }

    /// Looks a type up by its `$type` alias (`"int"`, `"objectId"`, ...).
    public init?(alias: String) {
        guard let match = BSONType.allCases.first(where: { $0.alias == alias }) else { return nil }
        self = match
    }

    /// Whether the type is one of the four numeric types.
    @inlinable
    public var isNumber: Bool {
        switch self {
        case .double, .int32, .int64, .decimal128: return true
        default: return false
        }
    }
}
