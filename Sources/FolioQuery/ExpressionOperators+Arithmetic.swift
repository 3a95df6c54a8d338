import FolioBSON

#if canImport(Glibc)
import Glibc
#endif

enum ArithmeticOperators {
    static func register(into t: inout [String: ExpressionOperators.Operator]) {
        t["$add"] = .init(arity: nil) { args, _ throws(FolioError) in try add(args) }
        t["$subtract"] = .init(arity: (2, 2)) { args, _ throws(FolioError) in try subtract(args[0], args[1]) }
        t["$multiply"] = .init(arity: nil) { args, _ throws(FolioError) in
            if Arguments.anyNullish(args) { return .null }
            var result = Number.int32(1)
            for a in args {
                guard let n = Number(a!) else {
                    throw FolioError(.typeMismatch, "$multiply only supports numeric types, not \(a!.type.alias)")
                }
                result = Number.multiply(result, n)
            }
            return result.bson
        }
        t["$divide"] = .init(arity: (2, 2)) { args, _ throws(FolioError) in
            if Arguments.anyNullish(args) { return .null }
            guard let a = Number(args[0]!), let b = Number(args[1]!) else {
                throw FolioError(.typeMismatch, "$divide only supports numeric types, not \(args[0]!.type.alias) and \(args[1]!.type.alias)")
            }
            if a.rank == 3 || b.rank == 3 {
                if b.asDecimal.isZero { throw FolioError(.badValue, "can't $divide by zero") }
                return .decimal128(a.asDecimal.dividing(by: b.asDecimal))
            }
            if b.asDouble == 0 { throw FolioError(.badValue, "can't $divide by zero") }
            return .double(a.asDouble / b.asDouble)
        }
        t["$mod"] = .init(arity: (2, 2)) { args, _ throws(FolioError) in
            if Arguments.anyNullish(args) { return .null }
            guard let a = Number(args[0]!), let b = Number(args[1]!) else {
                throw FolioError(ErrorCode(rawValue: 16611), "$mod only supports numeric types, not \(args[0]!.type.alias) and \(args[1]!.type.alias)")
            }
            switch max(a.rank, b.rank) {
            case 3:
                if b.asDecimal.isZero { throw FolioError(.location16610, "can't $mod by zero") }
                let q = a.asDecimal.dividing(by: b.asDecimal).truncatedToInteger()
                return .decimal128(a.asDecimal.subtracting(q.multiplying(by: b.asDecimal)))
            case 2:
                if b.asDouble == 0 { throw FolioError(.location16610, "can't $mod by zero") }
                return .double(fmod(a.asDouble, b.asDouble))
            default:
                let x = a.asInt64!, y = b.asInt64!
                if y == 0 { throw FolioError(.location16610, "can't $mod by zero") }
                let r = y == -1 ? 0 : x % y
                return max(a.rank, b.rank) == 0 ? .int32(Int32(r)) : .int64(r)
            }
        }
        t["$abs"] = .init(arity: (1, 1)) { args, _ throws(FolioError) in
            guard let v = args[0], !v.isNullish else { return .null }
            switch try Arguments.number(v, "$abs") {
            case .int32(let i): return i == Int32.min ? .int64(-Int64(i)) : .int32(abs(i))
            case .int64(let i):
                if i == Int64.min { throw FolioError(ErrorCode(rawValue: 28680), "can't take $abs of long long min") }
                return .int64(abs(i))
            case .double(let d): return .double(abs(d))
            case .decimal(let d): return .decimal128(d.isSignMinus ? d.negated() : d)
            }
        }
        for (name, rule) in [("$ceil", FloatingPointRoundingRule.up), ("$floor", .down)] {
            t[name] = .init(arity: (1, 1)) { args, _ throws(FolioError) in
                guard let v = args[0], !v.isNullish else { return .null }
                switch try Arguments.number(v, name) {
                case .double(let d): return .double(d.rounded(rule))
                case .decimal(let d):
                    let truncated = d.truncatedToInteger()
                    if truncated == d { return .decimal128(d) }
                    let adjust = (rule == .up) != d.isSignMinus
                    return .decimal128(adjust ? truncated.adding(Decimal128(Int64(rule == .up ? 1 : -1))) : truncated)
                case let n: return n.bson
                }
            }
        }
        t["$round"] = .init(arity: (1, 2)) { args, _ throws(FolioError) in try round(args, halfEven: true, name: "$round") }
        t["$trunc"] = .init(arity: (1, 2)) { args, _ throws(FolioError) in try round(args, halfEven: nil, name: "$trunc") }
        t["$sqrt"] = .init(arity: (1, 1)) { args, _ throws(FolioError) in
            guard let v = args[0], !v.isNullish else { return .null }
            let n = try Arguments.number(v, "$sqrt")
            if n.asDouble < 0 { throw FolioError(ErrorCode(rawValue: 28714), "$sqrt's argument must be greater than or equal to 0") }
            if case .decimal(let d) = n { return .decimal128(Decimal128(String(d.doubleValue.squareRoot())) ?? .nan) }
            return .double(n.asDouble.squareRoot())
        }
        t["$pow"] = .init(arity: (2, 2)) { args, _ throws(FolioError) in
            if Arguments.anyNullish(args) { return .null }
            let base = try Arguments.number(args[0], "$pow"), exponent = try Arguments.number(args[1], "$pow")
            if base.asDouble == 0 && exponent.asDouble < 0 {
                throw FolioError(ErrorCode(rawValue: 28764), "$pow cannot take a base of 0 and a negative exponent")
            }
            if max(base.rank, exponent.rank) == 3 {
                return .decimal128(Decimal128(String(pow(base.asDouble, exponent.asDouble))) ?? .nan)
            }
            if let b = base.asInt64, let e = exponent.asInt64, e >= 0 {
                var result: Int64 = 1
                var overflow = false
                for _ in 0..<min(e, 64) where !overflow {
                    (result, overflow) = result.multipliedReportingOverflow(by: b)
                }
                if !overflow && (e < 64 || b == 0 || b == 1 || b == -1) {
                    if max(base.rank, exponent.rank) == 0, let small = Int32(exactly: result) { return .int32(small) }
                    return .int64(result)
                }
            }
            return .double(pow(base.asDouble, exponent.asDouble))
        }
        t["$exp"] = unaryDouble("$exp") { exp($0) }
        t["$ln"] = unaryDouble("$ln", domain: { $0 > 0 }, domainMessage: "$ln's argument must be a positive number") { log($0) }
        t["$log10"] = unaryDouble("$log10", domain: { $0 > 0 }, domainMessage: "$log10's argument must be a positive number") { log10($0) }
        t["$log"] = .init(arity: (2, 2)) { args, _ throws(FolioError) in
            if Arguments.anyNullish(args) { return .null }
            let x = try Arguments.number(args[0], "$log").asDouble, base = try Arguments.number(args[1], "$log").asDouble
            guard x > 0 else { throw FolioError(ErrorCode(rawValue: 28758), "$log's argument must be a positive number, but is \(x)") }
            guard base > 0 && base != 1 else {
                throw FolioError(ErrorCode(rawValue: 28759), "$log's base must be a positive number not equal to 1, but is \(base)")
            }
            return .double(log(x) / log(base))
        }
    }

    static func unaryDouble(_ name: String, domain: (@Sendable (Double) -> Bool)? = nil, domainMessage: String = "",
                            _ f: @escaping @Sendable (Double) -> Double) -> ExpressionOperators.Operator {
        .init(arity: (1, 1)) { args, _ throws(FolioError) in
            guard let v = args[0], !v.isNullish else { return .null }
            let n = try Arguments.number(v, name)
            if let domain, !domain(n.asDouble), !n.asDouble.isNaN { throw FolioError(ErrorCode(rawValue: 28766), domainMessage) }
            if case .decimal = n { return .decimal128(Decimal128(String(f(n.asDouble))) ?? .nan) }
            return .double(f(n.asDouble))
        }
    }

    static func add(_ args: [BSON?]) throws(FolioError) -> BSON? {
        var total = Number.int32(0)
        var dateMilliseconds: Int64?
        var sawNull = false
        for a in args {
            guard let a, !a.isNullish else { sawNull = true; continue }
            if case .datetime(let ms) = a {
                if dateMilliseconds != nil { throw FolioError(ErrorCode(rawValue: 16612), "only one date allowed in an $add expression") }
                dateMilliseconds = ms
                continue
            }
            guard let n = Number(a) else {
                throw FolioError(ErrorCode(rawValue: 16554), "$add only supports numeric or date types, not \(a.type.alias)")
            }
            total = Number.add(total, n)
        }
        if sawNull { return .null }
        if let ms = dateMilliseconds {
            // MongoDB: the sum must fit a long (Overflow otherwise).
            guard let offset = total.dateOffsetMilliseconds, case (let sum, false) = ms.addingReportingOverflow(offset) else {
                throw FolioError(.overflow, "date overflow in $add")
            }
            return .datetime(sum)
        }
        return total.bson
    }

    static func subtract(_ a: BSON?, _ b: BSON?) throws(FolioError) -> BSON? {
        guard let a, let b, !a.isNullish, !b.isNullish else { return .null }
        switch (a, b) {
        case (.datetime(let x), .datetime(let y)): return .int64(x &- y)
        case (.datetime(let x), _):
            guard let n = Number(b) else { throw FolioError(ErrorCode(rawValue: 16556), "can't $subtract \(b.type.alias) from date") }
            guard let offset = n.dateOffsetMilliseconds, case (let difference, false) = x.subtractingReportingOverflow(offset) else {
                throw FolioError(.overflow, "date overflow")
            }
            return .datetime(difference)
        default:
            guard let x = Number(a), let y = Number(b) else {
                throw FolioError(ErrorCode(rawValue: 16556), "can't $subtract \(b.type.alias) from \(a.type.alias)")
            }
            return Number.subtract(x, y).bson
        }
    }

    /// `$round` (half to even) and `$trunc` (toward zero) with an optional place count.
    static func round(_ args: [BSON?], halfEven: Bool?, name: String) throws(FolioError) -> BSON? {
        if Arguments.anyNullish(args) { return .null }
        guard let first = args[0], let n = Number(first) else {
            throw FolioError(ErrorCode(rawValue: 51081), "\(name) only supports numeric types, not \(args[0]?.type.alias ?? "missing")")
        }
        var places: Int64 = 0
        if args.count == 2 {
            guard args[1]!.isNumber, let p = args[1]!.exactInt64 else {
                throw FolioError(ErrorCode(rawValue: 51082), "precision argument to  \(name) must be a integral value")
            }
            guard (-20...100).contains(p) else {
                throw FolioError(ErrorCode(rawValue: 51083), "cannot apply \(name) with precision value \(p) value must be in [-20, 100]")
            }
            places = p
        }
        func roundDecimal(_ d: Decimal128) -> Decimal128 {
            guard halfEven == nil else { return d.rounded(places: Int(places)) }
            let scale = Decimal128("1E\(places)")!
            return d.multiplying(by: scale).truncatedToInteger().dividing(by: scale)
        }
        switch n {
        case .decimal(let d):
            return .decimal128(roundDecimal(d))
        case .double(let d):
            let factor = pow(10.0, Double(places))
            let scaled = d * factor
            let r = halfEven == nil ? scaled.rounded(.towardZero) : scaled.rounded(.toNearestOrEven)
            return .double(r / factor)
        case .int32, .int64:
            let i = n.asInt64!
            if places >= 0 { return n.bson }
            // As MongoDB: rounded as a decimal; a result beyond a long is an error, not a wrap.
            guard let result = roundDecimal(Decimal128(i)).int64Value(rounding: .exact) else {
                throw FolioError(ErrorCode(rawValue: 51080), "invalid conversion from Decimal128 result in \(name) resulting from arguments: [\(i), \(places)]")
            }
            if case .int32 = n, let small = Int32(exactly: result) { return .int32(small) }
            return .int64(result)
        }
    }
}

extension Number {
    /// The number as milliseconds to move a date by, as MongoDB rounds it (doubles half away
    /// from zero, decimals half to even); nil beyond a long (NaN and infinities included).
    var dateOffsetMilliseconds: Int64? {
        switch self {
        case .double(let d): return Int64.checked(d, rounding: .toNearestOrAwayFromZero)
        case .decimal(let d): return d.int64Value(rounding: .halfEven)
        default: return asInt64
        }
    }
}
