// Decimal128 arithmetic: exact intermediate results on decimal digit arrays, then one
// rounding to 34 digits (round half to even), with IEEE 754's preferred exponents for exact
// results, clamping and overflow to infinity. Speed is secondary here (aggregation on
// decimals is rare); exactness is not.

/// A finite decimal with an arbitrary number of digits: coefficient × 10^exponent.
struct DecimalDigits {
    var negative: Bool
    /// Most significant first, no leading zeros; empty means zero.
    var digits: [UInt8]
    var exponent: Int

    init(negative: Bool, digits: [UInt8], exponent: Int) {
        self.negative = negative
        self.digits = Array(digits.drop(while: { $0 == 0 }))
        self.exponent = exponent
    }

    init(negative: Bool, coefficient: UInt128, exponent: Int) {
        self.init(negative: negative, digits: Decimal128.digitsOf(coefficient), exponent: exponent)
    }

    var isZero: Bool { digits.isEmpty }
}

extension Decimal128 {
    /// The result of rounding `value` to 34 digits and into the exponent range.
    static func rounded(_ value: DecimalDigits, sticky: Bool = false) -> Decimal128 {
        var digits = value.digits
        var exponent = value.exponent
        var sticky = sticky
        if digits.isEmpty {
            return Decimal128(parts: .finite(negative: value.negative, coefficient: 0,
                                             exponent: min(max(exponent, minimumExponent), maximumExponent)))
        }
        // Digits beyond 34 and below the smallest exponent are rounded away.
        var drop = max(digits.count - maximumDigits, minimumExponent - exponent)
        if drop > 0 {
            if drop > digits.count {
                sticky = sticky || digits.contains { $0 != 0 }
                digits = [0]
                exponent += drop - 1
                drop = 1
            }
            let kept = digits.count - drop
            let first = digits[kept]
            let restNonZero = sticky || digits[(kept + 1)...].contains { $0 != 0 }
            var head = Array(digits[0..<kept])
            exponent += drop
            let lastKept = head.last ?? 0
            let roundUp = first > 5 || (first == 5 && (restNonZero || lastKept % 2 == 1))
            if roundUp {
                var i = head.count - 1
                while i >= 0 {
                    if head[i] == 9 { head[i] = 0; i -= 1 } else { head[i] += 1; break }
                }
                if i < 0 { head.insert(1, at: 0) }
                if head.count > maximumDigits {
                    head.removeLast()
                    exponent += 1
                }
            }
            digits = Array(head.drop(while: { $0 == 0 }))
            if digits.isEmpty {
                return Decimal128(parts: .finite(negative: value.negative, coefficient: 0,
                                                 exponent: min(max(exponent, minimumExponent), maximumExponent)))
            }
        }
        while exponent > maximumExponent && digits.count < maximumDigits {
            digits.append(0)
            exponent -= 1
        }
        if exponent > maximumExponent { return Decimal128(parts: .infinity(negative: value.negative)) }
        return Decimal128(parts: .finite(negative: value.negative, coefficient: coefficientValue(digits), exponent: exponent))
    }

    var digitsForm: DecimalDigits? {
        guard case .finite(let negative, let coefficient, let exponent) = parts else { return nil }
        return DecimalDigits(negative: negative, coefficient: coefficient, exponent: exponent)
    }

    /// `self + other`, rounded.
    public func adding(_ other: Decimal128) -> Decimal128 {
        switch (parts, other.parts) {
        case (.nan, _), (_, .nan): return .nan
        case (.infinity(let a), .infinity(let b)): return a == b ? self : .nan
        case (.infinity, _): return self
        case (_, .infinity): return other
        default: break
        }
        let a = digitsForm!, b = other.digitsForm!
        return Decimal128.rounded(DecimalDigits.add(a, b))
    }

    /// `self - other`, rounded.
    public func subtracting(_ other: Decimal128) -> Decimal128 {
        adding(other.negated())
    }

    /// The value with its sign flipped.
    public func negated() -> Decimal128 {
        Decimal128(low: low, high: high ^ (1 << 63))
    }

    /// `self × other`, rounded.
    public func multiplying(by other: Decimal128) -> Decimal128 {
        switch (parts, other.parts) {
        case (.nan, _), (_, .nan): return .nan
        case (.infinity(let a), .infinity(let b)): return Decimal128(parts: .infinity(negative: a != b))
        case (.infinity(let a), .finite(let b, let c, _)), (.finite(let b, let c, _), .infinity(let a)):
            return c == 0 ? .nan : Decimal128(parts: .infinity(negative: a != b))
        default: break
        }
        let a = digitsForm!, b = other.digitsForm!
        return Decimal128.rounded(DecimalDigits(negative: a.negative != b.negative,
                                                digits: DecimalDigits.multiplyMagnitudes(a.digits, b.digits),
                                                exponent: a.exponent + b.exponent))
    }

    /// `self ÷ other`, rounded. Division by zero gives ±Infinity (NaN for 0/0).
    public func dividing(by other: Decimal128) -> Decimal128 {
        switch (parts, other.parts) {
        case (.nan, _), (_, .nan): return .nan
        case (.infinity, .infinity): return .nan
        case (.infinity(let a), .finite(let b, _, _)): return Decimal128(parts: .infinity(negative: a != b))
        case (.finite(let a, _, let e1), .infinity(let b)):
            return Decimal128.rounded(DecimalDigits(negative: a != b, digits: [], exponent: e1 - Decimal128.maximumExponent))
        default: break
        }
        let a = digitsForm!, b = other.digitsForm!
        let negative = a.negative != b.negative
        if b.isZero { return a.isZero ? .nan : Decimal128(parts: .infinity(negative: negative)) }
        let ideal = a.exponent - b.exponent
        if a.isZero { return Decimal128.rounded(DecimalDigits(negative: negative, digits: [], exponent: ideal)) }
        let divisor = Decimal128.coefficientValue(b.digits)
        // Scale the dividend so the quotient has at least 36 digits (34, a guard digit, one more).
        let scale = max(0, 36 + b.digits.count - a.digits.count + 1)
        var quotient = [UInt8]()
        quotient.reserveCapacity(a.digits.count + scale)
        var remainder: UInt128 = 0
        for i in 0..<(a.digits.count + scale) {
            let d = i < a.digits.count ? a.digits[i] : 0
            remainder = remainder * 10 + UInt128(d)
            quotient.append(UInt8(remainder / divisor))
            remainder %= divisor
        }
        var result = DecimalDigits(negative: negative, digits: quotient, exponent: ideal - scale)
        if remainder == 0 {
            while result.exponent < ideal, result.digits.last == 0 {
                result.digits.removeLast()
                result.exponent += 1
            }
            return Decimal128.rounded(result)
        }
        return Decimal128.rounded(result, sticky: true)
    }

    /// Rounds to `places` digits after the point, half to even (`$round`), or half away from
    /// zero when `halfEven` is false.
    public func rounded(places: Int, halfEven: Bool = true) -> Decimal128 {
        guard case .finite(let negative, let coefficient, let exponent) = parts else { return self }
        let target = -places
        if exponent >= target { return self }
        let digits = Decimal128.digitsOf(coefficient)
        let drop = target - exponent
        if drop > digits.count {
            return Decimal128.rounded(DecimalDigits(negative: negative, digits: [], exponent: target))
        }
        let kept = Array(digits[0..<(digits.count - drop)])
        let first = digits[digits.count - drop]
        let rest = digits[(digits.count - drop + 1)...].contains { $0 != 0 }
        var head = kept
        let up = first > 5 || (first == 5 && (rest || !halfEven || (head.last ?? 0) % 2 == 1))
        if up {
            var i = head.count - 1
            while i >= 0 {
                if head[i] == 9 { head[i] = 0; i -= 1 } else { head[i] += 1; break }
            }
            if i < 0 { head.insert(1, at: 0) }
        }
        return Decimal128.rounded(DecimalDigits(negative: negative, digits: head, exponent: target))
    }
}

extension DecimalDigits {
    static func add(_ a: DecimalDigits, _ b: DecimalDigits) -> DecimalDigits {
        let exponent = min(a.exponent, b.exponent)
        var x = a.digits + [UInt8](repeating: 0, count: a.isZero ? 0 : a.exponent - exponent)
        var y = b.digits + [UInt8](repeating: 0, count: b.isZero ? 0 : b.exponent - exponent)
        let n = max(x.count, y.count)
        x = [UInt8](repeating: 0, count: n - x.count) + x
        y = [UInt8](repeating: 0, count: n - y.count) + y
        if a.negative == b.negative {
            var out = [UInt8](repeating: 0, count: n + 1)
            var carry: UInt8 = 0
            for i in stride(from: n - 1, through: 0, by: -1) {
                let s = x[i] + y[i] + carry
                out[i + 1] = s % 10
                carry = s / 10
            }
            out[0] = carry
            return DecimalDigits(negative: a.negative, digits: out, exponent: exponent)
        }
        // Different signs: subtract the smaller magnitude from the larger.
        let xLarger = !x.lexicographicallyPrecedes(y)
        let (big, small) = xLarger ? (x, y) : (y, x)
        if big == small {
            // x + (-x) is +0 when rounding to nearest.
            return DecimalDigits(negative: false, digits: [], exponent: exponent)
        }
        var out = [UInt8](repeating: 0, count: n)
        var borrow: Int = 0
        for i in stride(from: n - 1, through: 0, by: -1) {
            var d = Int(big[i]) - Int(small[i]) - borrow
            if d < 0 { d += 10; borrow = 1 } else { borrow = 0 }
            out[i] = UInt8(d)
        }
        return DecimalDigits(negative: xLarger ? a.negative : b.negative, digits: out, exponent: exponent)
    }

    static func multiplyMagnitudes(_ a: [UInt8], _ b: [UInt8]) -> [UInt8] {
        if a.isEmpty || b.isEmpty { return [] }
        var acc = [Int](repeating: 0, count: a.count + b.count)
        for i in stride(from: a.count - 1, through: 0, by: -1) {
            for j in stride(from: b.count - 1, through: 0, by: -1) {
                acc[i + j + 1] += Int(a[i]) * Int(b[j])
            }
        }
        for k in stride(from: acc.count - 1, to: 0, by: -1) {
            acc[k - 1] += acc[k] / 10
            acc[k] %= 10
        }
        return acc.map { UInt8($0) }
    }
}
