// Turning a client's number into a Swift integer without trapping.
//
// `Int64(someDouble)` traps on NaN, ±Inf and anything outside Int64's range, and one trap
// takes the whole server down. Every client-supplied number that becomes an integer goes
// through one of these, each matching a rule MongoDB applies to some argument:
// - `exactInt64`: integral values only (BSON.swift) — IDL `exactInt64`, `$size`, bit positions.
// - `safeInt64` / `safeInt32`: MongoDB's `safeNumberLong` / `safeNumberInt` — NaN is 0,
//   fractions are dropped, values beyond the range become its nearest bound. IDL `safeInt64`
//   (find's skip/limit/batchSize, cursor.batchSize), `$sample.size`, projection `$slice`.
// - `Int64.checked(_:)`: a double rounded toward zero (or by the given rule), nil when NaN,
//   infinite or outside the range, for callers that answer such values with an error.

/// 2^63 as a double: the smallest double above Int64.max.
let twoToThe63 = 9.223372036854775808e18

extension Int64 {
    /// `value` rounded by `rule`, or nil when it is NaN, infinite or outside Int64's range.
    public static func checked(_ value: Double, rounding rule: FloatingPointRoundingRule = .towardZero) -> Int64? {
        let r = value.rounded(rule)
        guard r >= -twoToThe63, r < twoToThe63 else { return nil }  // false for NaN too
        return Int64(r)
    }

    /// `value` rounded by `rule` and clamped to Int64's range (NaN becomes 0).
    public static func clamping(_ value: Double, rounding rule: FloatingPointRoundingRule = .towardZero) -> Int64 {
        if value.isNaN { return 0 }
        return checked(value, rounding: rule) ?? (value < 0 ? .min : .max)
    }
}

extension BSON {
    /// MongoDB's `safeNumberLong`: a number as Int64 with NaN as 0, fractions dropped
    /// (decimals rounded half to even), and values beyond the range clamped to its bounds;
    /// nil when the value is not a number.
    public var safeInt64: Int64? {
        switch self {
        case .int32(let v): return Int64(v)
        case .int64(let v): return v
        case .double(let d): return Int64.clamping(d)
        case .decimal128(let d):
            if d.isNaN { return 0 }
            if let v = d.int64Value(rounding: .halfEven) { return v }
            return d.isSignMinus ? .min : .max
        default: return nil
        }
    }

    /// MongoDB's `safeNumberInt`: `safeInt64` clamped to Int32's range.
    public var safeInt32: Int32? { safeInt64.map { Int32(clamping: $0) } }
}

extension FixedWidthInteger {
    /// `self + other`, or the nearest bound when the sum overflows (a client's skip plus its
    /// limit, say, where both may be Int.max).
    public func addingSaturated(_ other: Self) -> Self {
        let (sum, overflow) = addingReportingOverflow(other)
        guard overflow else { return sum }
        return other < 0 ? .min : .max
    }
}
