import FolioBSON

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// `$bucketAuto`'s `granularity`: bucket boundaries rounded to a preferred-number series
/// (Renard R5…R80, 1-2-5, E6…E192) or to powers of two, as MongoDB's granularity rounders do
/// — including their arithmetic (a series value times a power of ten reached by repeated
/// multiplication or division), so boundaries come out as the same doubles.
public enum Granularity: Sendable {
    case preferred(name: String, series: [Double])
    case powersOfTwo

    /// The rounder named by `granularity`, or 40257.
    public init(name: String) throws(FolioError) {
        if name == "POWERSOF2" { self = .powersOfTwo; return }
        guard let series = Granularity.series[name] else {
            throw FolioError(ErrorCode(rawValue: 40257), "Unknown rounding granularity '\(name)'")
        }
        self = .preferred(name: name, series: series)
    }

    public var name: String {
        switch self {
        case .preferred(let name, _): return name
        case .powersOfTwo: return "POWERSOF2"
        }
    }

    /// The smallest boundary of the series greater than `value` (0 stays 0).
    public func roundUp(_ value: BSON) throws(FolioError) -> BSON {
        let number = try checked(value)
        if number == 0 { return value }
        switch self {
        case .powersOfTwo:
            return Granularity.powerOfTwo(value, up: true)
        case .preferred(_, let series):
            if case .decimal128(let d) = value { return .decimal128(Granularity.roundUp(d, series)) }
            var multiplier = 1.0
            while number >= series.last! * multiplier { multiplier *= 10 }
            while number < series[0] * multiplier {
                let previousMin = series[0] * multiplier
                multiplier /= 10
                // Between the previous decade's largest value and this one's smallest.
                if number >= series.last! * multiplier { return .double(previousMin) }
            }
            let i = series.firstIndex { number < $0 * multiplier }!
            return .double(series[i] * multiplier)
        }
    }

    /// The largest boundary of the series smaller than `value` (0 stays 0).
    public func roundDown(_ value: BSON) throws(FolioError) -> BSON {
        let number = try checked(value)
        if number == 0 { return value }
        switch self {
        case .powersOfTwo:
            return Granularity.powerOfTwo(value, up: false)
        case .preferred(_, let series):
            if case .decimal128(let d) = value { return .decimal128(Granularity.roundDown(d, series)) }
            var multiplier = 1.0
            while number <= series[0] * multiplier { multiplier /= 10 }
            // Below every scaled series value (a subnormal): the next boundary down is 0.
            if multiplier == 0 { return .double(0) }
            while number > series.last! * multiplier {
                let previousMax = series.last! * multiplier
                multiplier *= 10
                if number <= series[0] * multiplier { return .double(previousMax) }
            }
            let i = series.firstIndex { !($0 * multiplier < number) }!
            return .double(series[i - 1] * multiplier)
        }
    }

    /// The value as a double, after MongoDB's checks: a number (40262/40265), not NaN
    /// (40263/40266), not negative (40268/40267). Infinity is refused too (MongoDB 8.3's
    /// 11785400): no series reaches it, and rounding it would never end.
    func checked(_ value: BSON) throws(FolioError) -> Double {
        let powers: Bool = if case .powersOfTwo = self { true } else { false }
        guard value.isNumber, let number = value.asDouble else {
            throw FolioError(ErrorCode(rawValue: powers ? 40265 : 40262), "A granularity rounder can only round numeric values, but found type: \(value.type.alias)")
        }
        if number.isNaN { throw FolioError(ErrorCode(rawValue: powers ? 40266 : 40263), "A granularity rounder cannot round NaN") }
        if number < 0 { throw FolioError(ErrorCode(rawValue: powers ? 40267 : 40268), "A granularity rounder can only round non-negative numbers") }
        if number.isInfinite { throw FolioError(ErrorCode(rawValue: 11785400), "A granularity rounder cannot round infinity") }
        return number
    }

    /// 2^e for the exponent MongoDB computes, typed as its `$pow(2, e)` would be: an int for
    /// integer and double inputs (a long past 2^30, a double for negative exponents or past
    /// 2^62), a decimal for decimal inputs.
    static func powerOfTwo(_ value: BSON, up: Bool) -> BSON {
        let exponent: Int
        switch value {
        case .double, .decimal128:
            let l = log2(value.asDouble!)
            exponent = up ? Int(l.rounded(.down)) + 1 : Int(l.rounded(.up)) - 1
        default:
            let n = UInt64(value.exactInt64!)
            let highest = 63 - n.leadingZeroBitCount
            exponent = up ? highest + 1 : (n.nonzeroBitCount == 1 ? highest - 1 : highest)
        }
        if case .decimal128 = value {
            return .decimal128(Decimal128(String(pow(2.0, Double(exponent)))) ?? .nan)
        }
        if exponent < 0 || exponent > 62 { return .double(pow(2.0, Double(exponent))) }
        if exponent <= 30 { return .int32(Int32(1) << Int32(exponent)) }
        return .int64(Int64(1) << Int64(exponent))
    }

    static func less(_ a: Decimal128, _ b: Decimal128) -> Bool {
        BSON.compare(.decimal128(a), .decimal128(b)) < 0
    }

    static func roundUp(_ number: Decimal128, _ doubles: [Double]) -> Decimal128 {
        let series = doubles.map { Decimal128($0) }
        let ten = Decimal128(Int64(10))
        var multiplier = Decimal128(Int64(1))
        while !less(number, series.last!.multiplying(by: multiplier)) { multiplier = multiplier.multiplying(by: ten) }
        while less(number, series[0].multiplying(by: multiplier)) {
            let previousMin = series[0].multiplying(by: multiplier)
            multiplier = multiplier.dividing(by: ten)
            if !less(number, series.last!.multiplying(by: multiplier)) { return previousMin }
        }
        let i = series.firstIndex { less(number, $0.multiplying(by: multiplier)) }!
        return series[i].multiplying(by: multiplier)
    }

    static func roundDown(_ number: Decimal128, _ doubles: [Double]) -> Decimal128 {
        let series = doubles.map { Decimal128($0) }
        let ten = Decimal128(Int64(10))
        var multiplier = Decimal128(Int64(1))
        let zero = Decimal128(Int64(0))
        while !less(series[0].multiplying(by: multiplier), number) {
            multiplier = multiplier.dividing(by: ten)
            if !less(zero, multiplier) { return zero }
        }
        while less(series.last!.multiplying(by: multiplier), number) {
            let previousMax = series.last!.multiplying(by: multiplier)
            multiplier = multiplier.multiplying(by: ten)
            if !less(series[0].multiplying(by: multiplier), number) { return previousMax }
        }
        let i = series.firstIndex { !less($0.multiplying(by: multiplier), number) }!
        return series[i - 1].multiplying(by: multiplier)
    }

    /// The preferred-number series MongoDB rounds to, one decade each.
    static let series: [String: [Double]] = [
        "R5": [10, 16, 25, 40, 63],
        "R10": [100, 125, 160, 200, 250, 315, 400, 500, 630, 800],
        "R20": [100, 112, 125, 140, 160, 180, 200, 224, 250, 280, 315, 355, 400, 450, 500, 560, 630, 710, 800, 900],
        "R40": [100, 106, 112, 118, 125, 132, 140, 150, 160, 170, 180, 190, 200, 212, 224, 236, 250, 265, 280, 300,
                315, 355, 375, 400, 425, 450, 475, 500, 530, 560, 600, 630, 670, 710, 750, 800, 850, 900, 950],
        "R80": [103, 109, 115, 122, 128, 136, 145, 155, 165, 175, 185, 195, 206, 218, 230, 243, 258, 272, 290, 307,
                325, 345, 365, 387, 412, 437, 462, 487, 515, 545, 575, 615, 650, 690, 730, 775, 825, 875, 925, 975],
        "1-2-5": [10, 20, 50],
        "E6": [10, 15, 22, 33, 47, 68],
        "E12": [10, 12, 15, 18, 22, 27, 33, 39, 47, 56, 68, 82],
        "E24": [10, 11, 12, 13, 15, 16, 18, 20, 22, 24, 27, 30, 33, 36, 39, 43, 47, 51, 56, 62, 68, 75, 82, 91],
        "E48": [100, 105, 110, 115, 121, 127, 133, 140, 147, 154, 162, 169, 178, 187, 196, 205, 215, 226, 237, 249,
                261, 274, 287, 301, 316, 332, 348, 365, 383, 402, 422, 442, 464, 487, 511, 536, 562, 590, 619, 649,
                681, 715, 750, 787, 825, 866, 909, 953],
        "E96": [100, 102, 105, 107, 110, 113, 115, 118, 121, 124, 127, 130, 133, 137, 140, 143, 147, 150, 154, 158,
                162, 165, 169, 174, 178, 182, 187, 191, 196, 200, 205, 210, 215, 221, 226, 232, 237, 243, 249, 255,
                261, 267, 274, 280, 287, 294, 301, 309, 316, 324, 332, 340, 348, 357, 365, 374, 383, 392, 402, 412,
                422, 432, 442, 453, 464, 475, 487, 499, 511, 523, 536, 549, 562, 576, 590, 604, 619, 634, 649, 665,
                681, 698, 715, 732, 750, 768, 787, 806, 825, 845, 866, 887, 909, 931, 953, 976],
        "E192": [100, 101, 102, 104, 105, 106, 107, 109, 110, 111, 113, 114, 115, 117, 118, 120, 121, 123, 124, 126,
                 127, 129, 130, 132, 133, 135, 137, 138, 140, 142, 143, 145, 147, 149, 150, 152, 154, 156, 158, 160,
                 162, 164, 165, 167, 169, 172, 174, 176, 178, 180, 182, 184, 187, 189, 191, 193, 196, 198, 200, 203,
                 205, 208, 210, 213, 215, 218, 221, 223, 226, 229, 232, 234, 237, 240, 243, 246, 249, 252, 255, 258,
                 261, 264, 267, 271, 274, 277, 280, 284, 287, 291, 294, 298, 301, 305, 309, 312, 316, 320, 324, 328,
                 332, 336, 340, 344, 348, 352, 357, 361, 365, 370, 374, 379, 383, 388, 392, 397, 402, 407, 412, 417,
                 422, 427, 432, 437, 442, 448, 453, 459, 464, 470, 475, 481, 487, 493, 499, 505, 511, 517, 523, 530,
                 536, 542, 549, 556, 562, 569, 576, 583, 590, 597, 604, 612, 619, 626, 634, 642, 649, 657, 665, 673,
                 681, 690, 698, 706, 715, 723, 732, 741, 750, 759, 768, 777, 787, 796, 806, 816, 825, 835, 845, 856,
                 866, 876, 887, 898, 909, 920, 931, 942, 953, 965, 976, 988],
    ]
}
