// Exact decimal expansions of every finite BSON number. Comparison across numeric types and
// the number part of KeyString both go through this form, so "equal values compare equal"
// and "equal values encode equal" hold by construction.
//
// A finite non-zero number is ±0.d1d2...dn × 10^pointPosition with d1 != 0 and dn != 0.
// Every double is a dyadic rational m·2^k and so has a finite decimal expansion.

struct ExactDecimal: Equatable {
    /// Sign; false for zero.
    var negative: Bool
    /// Digits 0...9, most significant first, no leading or trailing zeros; empty = zero.
    var digits: [UInt8]
    /// Position of the decimal point relative to the first digit.
    var pointPosition: Int

    static let zero = ExactDecimal(negative: false, digits: [], pointPosition: 0)

    init(negative: Bool, digits: [UInt8], pointPosition: Int) {
        self.negative = negative
        self.digits = digits
        self.pointPosition = pointPosition
    }

    /// From a coefficient's digits (any leading/trailing zeros) and a power-of-ten exponent.
    init(negative: Bool, coefficientDigits: [UInt8], exponent: Int) {
        var start = 0
        while start < coefficientDigits.count && coefficientDigits[start] == 0 { start += 1 }
        var end = coefficientDigits.count
        while end > start && coefficientDigits[end - 1] == 0 { end -= 1 }
        if start == end {
            self = .zero
            return
        }
        let significant = coefficientDigits.count - start
        self.init(negative: negative, digits: Array(coefficientDigits[start..<end]), pointPosition: significant + exponent)
    }

    init(_ value: Int64) {
        if value == 0 { self = .zero; return }
        var m = value.magnitude
        var reversed = [UInt8]()
        while m > 0 {
            reversed.append(UInt8(m % 10))
            m /= 10
        }
        self.init(negative: value < 0, coefficientDigits: reversed.reversed(), exponent: 0)
    }

    /// The exact expansion of a finite double (nil for NaN and infinities).
    init?(_ value: Double) {
        guard value.isFinite else { return nil }
        if value == 0 { self = .zero; return }
        if value.rounded(.towardZero) == value, abs(value) < 9.2e18 {
            self.init(Int64(value))
            return
        }
        let significand = value.significandBitPattern | (value.isNormal ? (1 << 52) : 0)
        // value = significand × 2^k
        let k = (value.isNormal ? Int(value.exponentBitPattern) : 1) - 1075
        var big = DecimalBigUInt(significand)
        if k >= 0 {
            big.multiply(byPowerOfTwo: k)
            self.init(negative: value < 0, coefficientDigits: big.decimalDigits(), exponent: 0)
        } else {
            big.multiply(byPowerOfFive: -k)
            self.init(negative: value < 0, coefficientDigits: big.decimalDigits(), exponent: k)
        }
    }

    /// The exact value of a finite decimal128 (nil for NaN and infinities).
    init?(_ value: Decimal128) {
        guard case .finite(let negative, let coefficient, let exponent) = value.parts else { return nil }
        if coefficient == 0 { self = .zero; return }
        self.init(negative: negative, coefficientDigits: Decimal128.digitsOf(coefficient), exponent: exponent)
    }

    var isZero: Bool { digits.isEmpty }

    /// Total order by value.
    static func compare(_ a: ExactDecimal, _ b: ExactDecimal) -> Int {
        if a.isZero && b.isZero { return 0 }
        let signA = a.isZero ? 0 : (a.negative ? -1 : 1)
        let signB = b.isZero ? 0 : (b.negative ? -1 : 1)
        if signA != signB { return signA < signB ? -1 : 1 }
        let magnitude = compareMagnitudes(a, b)
        return signA < 0 ? -magnitude : magnitude
    }

    static func compareMagnitudes(_ a: ExactDecimal, _ b: ExactDecimal) -> Int {
        if a.pointPosition != b.pointPosition { return a.pointPosition < b.pointPosition ? -1 : 1 }
        let n = min(a.digits.count, b.digits.count)
        for i in 0..<n where a.digits[i] != b.digits[i] {
            return a.digits[i] < b.digits[i] ? -1 : 1
        }
        if a.digits.count == b.digits.count { return 0 }
        return a.digits.count < b.digits.count ? -1 : 1
    }
}

/// An unsigned big integer in base 10^9, little-endian limbs: just enough arithmetic to expand
/// doubles exactly in decimal.
struct DecimalBigUInt {
    static let base: UInt64 = 1_000_000_000
    var limbs: [UInt64]

    init(_ value: UInt64) {
        limbs = []
        var v = value
        repeat {
            limbs.append(v % DecimalBigUInt.base)
            v /= DecimalBigUInt.base
        } while v > 0
    }

    mutating func multiply(bySmall factor: UInt64) {
        var carry: UInt64 = 0
        for i in 0..<limbs.count {
            let product = limbs[i] * factor + carry
            limbs[i] = product % DecimalBigUInt.base
            carry = product / DecimalBigUInt.base
        }
        while carry > 0 {
            limbs.append(carry % DecimalBigUInt.base)
            carry /= DecimalBigUInt.base
        }
    }

    mutating func multiply(byPowerOfTwo n: Int) {
        var remaining = n
        while remaining > 0 {
            let step = min(remaining, 30)
            multiply(bySmall: 1 << UInt64(step))
            remaining -= step
        }
    }

    mutating func multiply(byPowerOfFive n: Int) {
        var remaining = n
        while remaining > 0 {
            let step = min(remaining, 13)
            var factor: UInt64 = 1
            for _ in 0..<step { factor *= 5 }
            multiply(bySmall: factor)
            remaining -= step
        }
    }

    /// Decimal digits, most significant first (written in place: index keys on doubles
    /// compute these for every non-integral value).
    func decimalDigits() -> [UInt8] {
        let count = limbs.count * 9
        var out = [UInt8](unsafeUninitializedCapacity: count) { buffer, initialized in
            var position = count
            for limb in limbs {
                var v = limb
                for _ in 0..<9 {
                    position -= 1
                    buffer[position] = UInt8(v % 10)
                    v /= 10
                }
            }
            initialized = count
        }
        if let first = out.firstIndex(where: { $0 != 0 }) { out.removeFirst(first) } else { out = [] }
        return out
    }
}
