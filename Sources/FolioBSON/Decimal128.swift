/// IEEE 754-2008 decimal128 (BID encoding), as BSON stores it: 34 significant digits,
/// exponents from -6176 to 6111.
public struct Decimal128: Sendable, Hashable, CustomStringConvertible {
    /// Low 64 bits of the encoding.
    public var low: UInt64
    /// High 64 bits of the encoding (sign, combination field, top of the coefficient).
    public var high: UInt64

    public init(low: UInt64, high: UInt64) {
        self.low = low
        self.high = high
    }

    static let exponentBias = 6176
    static let minimumExponent = -6176
    static let maximumExponent = 6111
    static let maximumDigits = 34
    /// 10^34 - 1, the largest canonical coefficient.
    static let maximumCoefficient: UInt128 = 9_999_999_999_999_999_999_999_999_999_999_999

    /// The decoded form.
    enum Parts: Equatable {
        case nan(negative: Bool)
        case infinity(negative: Bool)
        case finite(negative: Bool, coefficient: UInt128, exponent: Int)
    }

    var parts: Parts {
        let negative = high >> 63 == 1
        let combination = (high >> 58) & 0x1F
        if combination == 0x1F { return .nan(negative: negative) }
        if combination == 0x1E { return .infinity(negative: negative) }
        if (high >> 61) & 0x3 == 0x3 {
            // "11" form: the implied coefficient exceeds 10^34 - 1, so the value is zero.
            let biased = Int((high >> 47) & 0x3FFF)
            return .finite(negative: negative, coefficient: 0, exponent: biased - Decimal128.exponentBias)
        }
        let biased = Int((high >> 49) & 0x3FFF)
        var coefficient = UInt128(high & 0x1_FFFF_FFFF_FFFF) << 64 | UInt128(low)
        if coefficient > Decimal128.maximumCoefficient { coefficient = 0 }
        return .finite(negative: negative, coefficient: coefficient, exponent: biased - Decimal128.exponentBias)
    }

    init(parts: Parts) {
        switch parts {
        case .nan(let negative):
            self.init(low: 0, high: (negative ? 1 << 63 : 0) | 0x7C00_0000_0000_0000)
        case .infinity(let negative):
            self.init(low: 0, high: (negative ? 1 << 63 : 0) | 0x7800_0000_0000_0000)
        case .finite(let negative, let coefficient, let exponent):
            precondition(coefficient <= Decimal128.maximumCoefficient)
            precondition(exponent >= Decimal128.minimumExponent && exponent <= Decimal128.maximumExponent)
            let biased = UInt64(exponent + Decimal128.exponentBias)
            let hi = UInt64(truncatingIfNeeded: coefficient >> 64)
            self.init(low: UInt64(truncatingIfNeeded: coefficient),
                      high: (negative ? 1 << 63 : 0) | biased << 49 | hi)
        }
    }

    public static let nan = Decimal128(parts: .nan(negative: false))
    public static let infinity = Decimal128(parts: .infinity(negative: false))
    public static let negativeInfinity = Decimal128(parts: .infinity(negative: true))
    public static let zero = Decimal128(parts: .finite(negative: false, coefficient: 0, exponent: 0))

    public var isNaN: Bool { if case .nan = parts { return true }; return false }
    public var isInfinite: Bool { if case .infinity = parts { return true }; return false }
    public var isFinite: Bool { if case .finite = parts { return true }; return false }
    public var isZero: Bool { if case .finite(_, 0, _) = parts { return true }; return false }
    /// The sign bit (also set for -0 and -NaN).
    public var isSignMinus: Bool { high >> 63 == 1 }

    /// Creates a decimal from an integer, exactly.
    public init(_ value: Int64) {
        self.init(parts: .finite(negative: value < 0, coefficient: UInt128(value.magnitude), exponent: 0))
    }

    public init(_ value: Int32) { self.init(Int64(value)) }

    /// The canonical string form of the decimal128 specification.
    public var description: String {
        switch parts {
        case .nan: return "NaN"
        case .infinity(let negative): return negative ? "-Infinity" : "Infinity"
        case .finite(let negative, let coefficient, let exponent):
            return Decimal128.format(negative: negative, digits: String(coefficient), exponent: exponent)
        }
    }

    static func format(negative: Bool, digits: String, exponent: Int) -> String {
        let d = Array(digits.utf8)
        let adjusted = exponent + (d.count - 1)
        var out = negative ? "-" : ""
        if exponent <= 0 && adjusted >= -6 {
            if exponent == 0 {
                out += digits
            } else {
                let pointPosition = d.count + exponent
                if pointPosition > 0 {
                    out += String(decoding: d[0..<pointPosition], as: UTF8.self) + "." +
                        String(decoding: d[pointPosition...], as: UTF8.self)
                } else {
                    out += "0." + String(repeating: "0", count: -pointPosition) + digits
                }
            }
        } else {
            out += String(decoding: d[0..<1], as: UTF8.self)
            if d.count > 1 { out += "." + String(decoding: d[1...], as: UTF8.self) }
            out += "E" + (adjusted >= 0 ? "+" : "") + String(adjusted)
        }
        return out
    }
}

extension Decimal128 {
    /// Parses the string forms the decimal128 specification accepts: `[+-]digits[.digits][e[+-]digits]`,
    /// `Infinity`/`Inf` and `NaN` (any case). Fails on more than 34 significant digits unless the
    /// extra ones are zeros, and on exponents that cannot be represented exactly.
    public init?(_ string: String) {
        var s = Substring(string)
        var negative = false
        if s.first == "-" { negative = true; s = s.dropFirst() } else if s.first == "+" { s = s.dropFirst() }
        let lower = s.lowercased()
        if lower == "inf" || lower == "infinity" { self = Decimal128(parts: .infinity(negative: negative)); return }
        if lower == "nan" { self = Decimal128(parts: .nan(negative: false)); return }

        var digits = [UInt8]()
        var sawDigit = false
        var sawPoint = false
        var fractionDigits = 0
        var index = s.startIndex
        while index < s.endIndex {
            let c = s[index]
            if let v = c.asciiValue, v >= 48 && v <= 57 {
                sawDigit = true
                if !(digits.isEmpty && v == 48) { digits.append(v - 48) }
                if sawPoint { fractionDigits += 1 }
            } else if c == "." && !sawPoint {
                sawPoint = true
            } else {
                break
            }
            index = s.index(after: index)
        }
        guard sawDigit else { return nil }
        var exponent = 0
        if index < s.endIndex {
            guard s[index] == "e" || s[index] == "E" else { return nil }
            let rest = s[s.index(after: index)...]
            var body = rest
            var expNegative = false
            if body.first == "-" { expNegative = true; body = body.dropFirst() } else if body.first == "+" { body = body.dropFirst() }
            guard !body.isEmpty, body.allSatisfy({ $0.isASCII && $0.isNumber }) else { return nil }
            // Exponents beyond any representable range: keep them bounded but decisive.
            let trimmed = body.drop(while: { $0 == "0" })
            if trimmed.count > 9 { exponent = expNegative ? -1_000_000_000 : 1_000_000_000 } else {
                exponent = (Int(trimmed) ?? 0) * (expNegative ? -1 : 1)
            }
        }
        exponent -= fractionDigits
        guard let value = Decimal128.exact(negative: negative, digits: digits, exponent: exponent) else { return nil }
        self = value
    }

    /// Builds a decimal from digits (most significant first, no leading zeros) that must be
    /// represented without rounding; nil when they cannot be.
    static func exact(negative: Bool, digits inputDigits: [UInt8], exponent inputExponent: Int) -> Decimal128? {
        var digits = inputDigits
        var exponent = inputExponent
        if digits.isEmpty {
            exponent = min(max(exponent, minimumExponent), maximumExponent)
            return Decimal128(parts: .finite(negative: negative, coefficient: 0, exponent: exponent))
        }
        while digits.count > maximumDigits {
            guard digits.last == 0 else { return nil }
            digits.removeLast()
            exponent += 1
        }
        while exponent > maximumExponent && digits.count < maximumDigits {
            digits.append(0)
            exponent -= 1
        }
        guard exponent <= maximumExponent else { return nil }
        while exponent < minimumExponent {
            guard digits.last == 0 else { return nil }
            digits.removeLast()
            exponent += 1
        }
        return Decimal128(parts: .finite(negative: negative, coefficient: coefficientValue(digits), exponent: exponent))
    }

    static func coefficientValue(_ digits: [UInt8]) -> UInt128 {
        var c: UInt128 = 0
        for d in digits { c = c * 10 + UInt128(d) }
        return c
    }

    static func digitsOf(_ c: UInt128) -> [UInt8] {
        if c == 0 { return [] }
        var out = [UInt8]()
        var v = c
        while v > 0 {
            out.append(UInt8(v % 10))
            v /= 10
        }
        return out.reversed()
    }
}
