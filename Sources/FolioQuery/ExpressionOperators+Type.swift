import FolioBSON

/// `$type $isNumber $convert $toInt $toLong $toDouble $toDecimal $toString $toBool $toDate
/// $toObjectId`, with MongoDB's conversion table.
enum TypeOperators {
    static func register(into t: inout [String: ExpressionOperators.Operator]) {
        t["$type"] = .init(arity: (1, 1)) { args, _ in .string(args[0]?.type.alias ?? "missing") }
        t["$isNumber"] = .init(arity: (1, 1)) { args, _ in .bool(args[0]?.isNumber ?? false) }
        let shorthands: [(String, BSONType)] = [
            ("$toInt", .int32), ("$toLong", .int64), ("$toDouble", .double), ("$toDecimal", .decimal128),
            ("$toString", .string), ("$toBool", .bool), ("$toDate", .datetime), ("$toObjectId", .objectID),
        ]
        for (name, target) in shorthands {
            t[name] = .init(arity: (1, 1)) { args, _ throws(FolioError) in
                guard let v = args[0], !v.isNullish else { return .null }
                return try convert(v, to: target)
            }
        }
        t["$convert"] = .init(arity: (1, 1), takesDocument: true) { args, _ throws(FolioError) in
            guard case .document(let d)? = args[0] else {
                throw FolioError(.failedToParse, "$convert expects an object of named arguments")
            }
            for k in d.fieldNames where !["input", "to", "onError", "onNull", "format", "byteOrder"].contains(k) {
                throw FolioError(.failedToParse, "$convert found an unknown argument: \(k)")
            }
            guard d.index(forKey: "to") != nil else { throw FolioError(.failedToParse, "Missing 'to' parameter to $convert") }
            let target = try targetType(d["to"] ?? .null)
            guard let input = d["input"], !input.isNullish else {
                return d.index(forKey: "onNull") != nil ? d["onNull"] : .null
            }
            guard let target else { return .null }
            do throws(FolioError) {
                return try convert(input, to: target)
            } catch {
                if d.index(forKey: "onError") != nil { return d["onError"] }
                throw error
            }
        }
    }

    static func targetType(_ v: BSON) throws(FolioError) -> BSONType? {
        switch v {
        case .null, .undefined: return nil
        case .string(let s):
            guard let t = BSONType(alias: s) else { throw FolioError(.badValue, "Unknown type name: \(s)") }
            return t
        case .document(let d):
            guard let inner = d["type"] else { throw FolioError(.failedToParse, "$convert 'to' object needs a 'type'") }
            return try targetType(inner)
        default:
            guard v.isNumber, let code = v.exactInt64, let byte = UInt8(exactly: code == -1 ? 255 : code),
                  let t = BSONType(rawValue: byte) else {
                throw FolioError(.badValue, "In $convert, numeric value for 'to' does not correspond to a BSON type: \(v)")
            }
            return t
        }
    }

    static func failure(_ v: BSON, _ target: BSONType, _ reason: String? = nil) -> FolioError {
        FolioError(.conversionFailure, reason ?? "Unsupported conversion from \(v.type.alias) to \(target.alias) in $convert with no onError value")
    }

    static func convert(_ v: BSON, to target: BSONType) throws(FolioError) -> BSON {
        if v.type == target { return v }
        switch target {
        case .double:
            switch v {
            case .int32(let i): return .double(Double(i))
            case .int64(let i): return .double(Double(i))
            case .decimal128(let d):
                let x = d.doubleValue
                if x.isInfinite && !d.isInfinite { throw failure(v, target, "Conversion would overflow target type in $convert with no onError value: \(d)") }
                return .double(x)
            case .bool(let b): return .double(b ? 1 : 0)
            case .datetime(let ms): return .double(Double(ms))
            case .string(let s):
                guard let x = parseDouble(s) else { throw failure(v, target, "Failed to parse number '\(s)' in $convert with no onError value: Did not consume whole string.") }
                return .double(x)
            default: throw failure(v, target)
            }
        case .int32, .int64:
            let wide: Int64
            switch v {
            case .int32(let i): wide = Int64(i)
            case .int64(let i): wide = i
            case .double(let d):
                guard d.isFinite else { throw failure(v, target, "Attempt to convert NaN or infinity value to integer type in $convert with no onError value: \(d)") }
                let t = d.rounded(.towardZero)
                guard t >= -9.223372036854775808e18, t < 9.223372036854775808e18 else {
                    throw failure(v, target, "Conversion would overflow target type in $convert with no onError value: \(d)")
                }
                wide = Int64(t)
            case .decimal128(let d):
                guard let i = d.int64Value(rounding: .towardZero) else {
                    throw failure(v, target, "Conversion would overflow target type in $convert with no onError value: \(d)")
                }
                wide = i
            case .bool(let b): wide = b ? 1 : 0
            case .datetime(let ms) where target == .int64: wide = ms
            case .string(let s):
                guard let i = Int64(s) else {
                    throw failure(v, target, "Failed to parse number '\(s)' in $convert with no onError value: Did not consume whole string.")
                }
                wide = i
            default: throw failure(v, target)
            }
            if target == .int64 { return .int64(wide) }
            guard let small = Int32(exactly: wide) else {
                throw failure(v, target, "Conversion would overflow target type in $convert with no onError value: \(v)")
            }
            return .int32(small)
        case .decimal128:
            switch v {
            case .int32(let i): return .decimal128(Decimal128(i))
            case .int64(let i): return .decimal128(Decimal128(i))
            case .double(let d): return .decimal128(Decimal128(d))
            case .bool(let b): return .decimal128(Decimal128(Int64(b ? 1 : 0)))
            case .datetime(let ms): return .decimal128(Decimal128(ms))
            case .string(let s):
                guard let d = Decimal128(s) else { throw failure(v, target, "Failed to parse number '\(s)' in $convert with no onError value") }
                return .decimal128(d)
            default: throw failure(v, target)
            }
        case .string: return .string(try stringForm(v, "$convert"))
        case .bool:
            switch v {
            case .int32, .int64, .double, .decimal128, .bool: return .bool(v.isTruthy)
            case .datetime, .string, .objectID, .document, .array, .binary, .regex, .timestamp, .javascript, .minKey, .maxKey:
                return .bool(true)
            default: throw failure(v, target)
            }
        case .datetime:
            switch v {
            case .int64(let ms): return .datetime(ms)
            case .double(let d):
                guard d.isFinite, abs(d) < 9.2e18 else { throw failure(v, target) }
                return .datetime(Int64(d.rounded(.towardZero)))
            case .decimal128(let d):
                guard let ms = d.int64Value(rounding: .towardZero) else { throw failure(v, target) }
                return .datetime(ms)
            case .objectID(let o): return .datetime(Int64(o.timestampSeconds) * 1000)
            case .timestamp(let t): return .datetime(Int64(t.seconds) * 1000)
            case .string(let s):
                guard let ms = CivilTime.parseISO8601(s) ?? CivilTime.parseISO8601(s + "Z") else {
                    throw failure(v, target, "Error parsing date string '\(s)'")
                }
                return .datetime(ms)
            default: throw failure(v, target)
            }
        case .objectID:
            guard case .string(let s) = v, let o = ObjectID(hex: s) else {
                if case .string(let s) = v { throw failure(v, target, "Failed to parse objectId '\(s)' in $convert with no onError value: Invalid string length for parsing to OID, expected 24 but found \(s.utf8.count)") }
                throw failure(v, target)
            }
            return .objectID(o)
        default:
            throw failure(v, target)
        }
    }

    static func parseDouble(_ s: String) -> Double? {
        switch s {
        case "Infinity", "inf", "INF": return .infinity
        case "-Infinity", "-inf", "-INF": return -.infinity
        case "NaN", "nan": return .nan
        default:
            guard !s.isEmpty, s.allSatisfy({ "0123456789+-.eE".contains($0) }) else { return nil }
            return Double(s)
        }
    }

    /// MongoDB's string form of a value for `$toString`/`$convert`.
    static func stringForm(_ v: BSON, _ op: String) throws(FolioError) -> String {
        switch v {
        case .string(let s), .symbol(let s): return s
        case .int32(let i): return String(i)
        case .int64(let i): return String(i)
        case .double(let d):
            if d.isNaN { return "NaN" }
            if d.isInfinite { return d < 0 ? "-Infinity" : "Infinity" }
            if d.rounded(.towardZero) == d && abs(d) < 1e15 { return String(Int64(d)) }
            return d.description.replacingExponent()
        case .decimal128(let d): return d.description
        case .bool(let b): return b ? "true" : "false"
        case .objectID(let o): return o.hex
        case .datetime(let ms):
            var t = CivilTime(millisecondsSinceEpoch: ms)
            let millis = t.millisecond
            t.millisecond = 0
            let base = t.iso8601.dropLast()
            return base + "." + String(repeating: "0", count: 3 - String(millis).count) + String(millis) + "Z"
        case .document, .array, .binary, .regex, .javascript, .timestamp, .minKey, .maxKey, .null, .undefined, .dbPointer, .javascriptWithScope:
            throw FolioError(.conversionFailure, "Unsupported conversion from \(v.type.alias) to string in \(op) with no onError value")
        }
    }
}

extension String {
    /// `1e+20` → `1e+20` as MongoDB prints (it keeps Swift/C shortest forms).
    func replacingExponent() -> String { self }
}
