// Conversions between Decimal128 and the binary numeric types.

extension Decimal128 {
    /// How a conversion to an integer treats a fractional part.
    public enum IntegerRounding: Sendable {
        /// Fail unless the value is an integer.
        case exact
        /// Drop the fractional part.
        case towardZero
        /// Round to nearest, ties to even.
        case halfEven
    }

    /// The value converted to Int64, or nil when it is NaN, infinite, out of range, or (for
    /// `.exact`) not an integer.
    public func int64Value(rounding: IntegerRounding) -> Int64? {
        guard case .finite(let negative, _, _) = parts else { return nil }
        let value: Decimal128
        switch rounding {
        case .exact: value = self
        case .towardZero: value = truncatedToInteger()
        case .halfEven: value = rounded(places: 0)
        }
        guard case .finite(_, let coefficient, let exponent) = value.parts else { return nil }
        var magnitude = coefficient
        if exponent < 0 {
            var e = exponent
            while e < 0 {
                guard magnitude % 10 == 0 else { return nil }
                magnitude /= 10
                e += 1
            }
        } else if exponent > 0 {
            for _ in 0..<exponent {
                guard magnitude <= UInt128(UInt64.max) else { return nil }
                magnitude *= 10
            }
        }
        if negative {
            guard magnitude <= UInt128(Int64.max) + 1 else { return nil }
            return magnitude == UInt128(Int64.max) + 1 ? Int64.min : -Int64(magnitude)
        }
        guard magnitude <= UInt128(Int64.max) else { return nil }
        return Int64(magnitude)
    }

    /// The value converted to Int32 under the same rules as `int64Value(rounding:)`.
    public func int32Value(rounding: IntegerRounding) -> Int32? {
        int64Value(rounding: rounding).flatMap { Int32(exactly: $0) }
    }

    /// The integer part (rounded toward zero).
    public func truncatedToInteger() -> Decimal128 {
        guard case .finite(let negative, let coefficient, let exponent) = parts, exponent < 0 else { return self }
        var c = coefficient
        var e = exponent
        while e < 0 && c > 0 {
            c /= 10
            e += 1
        }
        return Decimal128(parts: .finite(negative: negative, coefficient: c, exponent: c == 0 ? 0 : e))
    }

    /// The nearest double.
    public var doubleValue: Double {
        switch parts {
        case .nan: return .nan
        case .infinity(let negative): return negative ? -.infinity : .infinity
        case .finite(let negative, let coefficient, let exponent):
            if coefficient == 0 { return negative ? -0.0 : 0.0 }
            return Double((negative ? "-" : "") + String(coefficient) + "e" + String(exponent)) ?? .nan
        }
    }

    /// Converts a double the way MongoDB does by default: rounded to 15 significant digits,
    /// keeping them all (`1.5` becomes `1.50000000000000`).
    public init(_ value: Double) {
        if value.isNaN { self = .nan; return }
        if value.isInfinite { self = value < 0 ? .negativeInfinity : .infinity; return }
        guard let exact = ExactDecimal(value), !exact.isZero else {
            self = Decimal128(parts: .finite(negative: value.sign == .minus, coefficient: 0, exponent: 0))
            return
        }
        let precision = 15
        var digits = exact.digits
        var pointPosition = exact.pointPosition
        if digits.count > precision {
            let first = digits[precision]
            let rest = digits[(precision + 1)...].contains { $0 != 0 }
            var head = Array(digits[0..<precision])
            if first > 5 || (first == 5 && (rest || head[precision - 1] % 2 == 1)) {
                var i = precision - 1
                while i >= 0 {
                    if head[i] == 9 { head[i] = 0; i -= 1 } else { head[i] += 1; break }
                }
                if i < 0 {
                    head.insert(1, at: 0)
                    head.removeLast()
                    pointPosition += 1
                }
            }
            digits = head
        } else {
            digits += [UInt8](repeating: 0, count: precision - digits.count)
        }
        self = Decimal128.rounded(DecimalDigits(negative: exact.negative, digits: digits,
                                                exponent: pointPosition - precision))
    }
}
