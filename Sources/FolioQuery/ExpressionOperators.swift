import FolioBSON

/// The operator table of the expression language. Each entry evaluates already-evaluated
/// arguments (nil = missing). The aggregation issue adds its operators by extending `table`.
public enum ExpressionOperators {
    public typealias Function = @Sendable ([BSON?], EvaluationContext) throws(FolioError) -> BSON?

    public struct Operator: Sendable {
        /// Allowed argument counts (nil: any).
        public var arity: (Int, Int)?
        /// Whether the operator takes one document of named arguments (`$convert`).
        public var takesDocument: Bool
        public var function: Function

        public init(arity: (Int, Int)?, takesDocument: Bool = false, function: @escaping Function) {
            self.arity = arity
            self.takesDocument = takesDocument
            self.function = function
        }
    }

    /// Every operator by name.
    public static let table: [String: Operator] = {
        var t: [String: Operator] = [:]
        ArithmeticOperators.register(into: &t)
        ComparisonOperators.register(into: &t)
        TypeOperators.register(into: &t)
        CoreArrayAndStringOperators.register(into: &t)
        ObjectOperators.register(into: &t)
        StringOperators.register(into: &t)
        ArrayOperators.register(into: &t)
        DateOperators.register(into: &t)
        return t
    }()
}

/// A number promoted for arithmetic: int32 → int64 → double, and decimal wins.
enum Number {
    case int32(Int32), int64(Int64), double(Double), decimal(Decimal128)

    init?(_ v: BSON) {
        switch v {
        case .int32(let i): self = .int32(i)
        case .int64(let i): self = .int64(i)
        case .double(let d): self = .double(d)
        case .decimal128(let d): self = .decimal(d)
        default: return nil
        }
    }

    var bson: BSON {
        switch self {
        case .int32(let i): return .int32(i)
        case .int64(let i): return .int64(i)
        case .double(let d): return .double(d)
        case .decimal(let d): return .decimal128(d)
        }
    }

    var rank: Int {
        switch self {
        case .int32: return 0
        case .int64: return 1
        case .double: return 2
        case .decimal: return 3
        }
    }

    var asDouble: Double {
        switch self {
        case .int32(let i): return Double(i)
        case .int64(let i): return Double(i)
        case .double(let d): return d
        case .decimal(let d): return d.doubleValue
        }
    }

    var asDecimal: Decimal128 {
        switch self {
        case .int32(let i): return Decimal128(i)
        case .int64(let i): return Decimal128(i)
        case .double(let d): return Decimal128(d)
        case .decimal(let d): return d
        }
    }

    var asInt64: Int64? {
        switch self {
        case .int32(let i): return Int64(i)
        case .int64(let i): return i
        default: return nil
        }
    }

    /// `a + b` with MongoDB's promotion and overflow rules.
    static func add(_ a: Number, _ b: Number) -> Number {
        switch max(a.rank, b.rank) {
        case 3: return .decimal(a.asDecimal.adding(b.asDecimal))
        case 2: return .double(a.asDouble + b.asDouble)
        default:
            let (sum, overflow) = a.asInt64!.addingReportingOverflow(b.asInt64!)
            if overflow { return .double(a.asDouble + b.asDouble) }
            if max(a.rank, b.rank) == 0, let small = Int32(exactly: sum) { return .int32(small) }
            return .int64(sum)
        }
    }

    static func subtract(_ a: Number, _ b: Number) -> Number {
        switch max(a.rank, b.rank) {
        case 3: return .decimal(a.asDecimal.subtracting(b.asDecimal))
        case 2: return .double(a.asDouble - b.asDouble)
        default:
            let (difference, overflow) = a.asInt64!.subtractingReportingOverflow(b.asInt64!)
            if overflow { return .double(a.asDouble - b.asDouble) }
            if max(a.rank, b.rank) == 0, let small = Int32(exactly: difference) { return .int32(small) }
            return .int64(difference)
        }
    }

    static func multiply(_ a: Number, _ b: Number) -> Number {
        switch max(a.rank, b.rank) {
        case 3: return .decimal(a.asDecimal.multiplying(by: b.asDecimal))
        case 2: return .double(a.asDouble * b.asDouble)
        default:
            let (product, overflow) = a.asInt64!.multipliedReportingOverflow(by: b.asInt64!)
            if overflow { return .double(a.asDouble * b.asDouble) }
            if max(a.rank, b.rank) == 0, let small = Int32(exactly: product) { return .int32(small) }
            return .int64(product)
        }
    }
}

extension BSON {
    var isNullish: Bool { type == .null || type == .undefined }
}

/// Argument helpers shared by operator implementations.
enum Arguments {
    /// Whether any argument is null or missing (most operators then return null).
    static func anyNullish(_ args: [BSON?]) -> Bool { args.contains { $0 == nil || $0!.isNullish } }

    static func number(_ v: BSON?, _ op: String) throws(FolioError) -> Number {
        guard let v, let n = Number(v) else {
            throw FolioError(ErrorCode(rawValue: 28765), "\(op) only supports numeric types, not \(v?.type.alias ?? "missing")")
        }
        return n
    }
}
