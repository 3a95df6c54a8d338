// MongoDB's comparison of BSON values (woCompare semantics): canonical type rank first,
// then value; numbers by exact mathematical value across int32/int64/double/decimal128;
// NaN equal to NaN and below every other number; strings byte-wise; documents and arrays
// element by element (type rank, field name, value).

extension BSON {
    /// Three-way comparison in MongoDB's order: negative, zero or positive.
    public static func compare(_ a: BSON, _ b: BSON) -> Int {
        let ra = a.type.canonicalRank, rb = b.type.canonicalRank
        if ra != rb { return ra < rb ? -1 : 1 }
        switch (a, b) {
        case (.int32(let x), .int32(let y)): return x == y ? 0 : (x < y ? -1 : 1)
        case (.double(let x), .double(let y)): return compareDoubles(x, y)
        default: break
        }
        if a.type.isNumber { return compareNumbers(a, b) }
        switch (a, b) {
        case (.string(let x), _), (.symbol(let x), _):
            let y: String
            switch b { case .string(let s), .symbol(let s): y = s; default: return 0 }
            return compareUTF8(x, y)
        case (.document(let x), .document(let y)): return compareDocuments(x, y)
        case (.array(let x), .array(let y)): return compareArrays(x, y)
        case (.binary(let x), .binary(let y)):
            if x.data.count != y.data.count { return x.data.count < y.data.count ? -1 : 1 }
            if x.subtype != y.subtype { return x.subtype < y.subtype ? -1 : 1 }
            return compareBytes(x.data, y.data)
        case (.objectID(let x), .objectID(let y)): return x == y ? 0 : (x < y ? -1 : 1)
        case (.bool(let x), .bool(let y)): return x == y ? 0 : (!x ? -1 : 1)
        case (.datetime(let x), .datetime(let y)): return x == y ? 0 : (x < y ? -1 : 1)
        case (.timestamp(let x), .timestamp(let y)): return x == y ? 0 : (x < y ? -1 : 1)
        case (.regex(let x), .regex(let y)):
            let c = compareUTF8(x.pattern, y.pattern)
            return c != 0 ? c : compareUTF8(x.sortedOptions, y.sortedOptions)
        case (.dbPointer(let n1, let i1), .dbPointer(let n2, let i2)):
            let l1 = n1.utf8.count, l2 = n2.utf8.count
            if l1 != l2 { return l1 < l2 ? -1 : 1 }
            let c = compareUTF8(n1, n2)
            return c != 0 ? c : (i1 == i2 ? 0 : (i1 < i2 ? -1 : 1))
        case (.javascript(let x), .javascript(let y)): return compareUTF8(x, y)
        case (.javascriptWithScope(let c1, let s1), .javascriptWithScope(let c2, let s2)):
            let c = compareUTF8(c1, c2)
            return c != 0 ? c : compareDocuments(s1, s2)
        default:
            // minKey, maxKey, null, undefined: all values of the type are equal.
            return 0
        }
    }

    /// MongoDB value equality (`1 == 1.0`, field order matters in documents).
    public static func valuesEqual(_ a: BSON, _ b: BSON) -> Bool { compare(a, b) == 0 }

    static func compareDoubles(_ x: Double, _ y: Double) -> Int {
        if x < y { return -1 }
        if x > y { return 1 }
        if x == y { return 0 }
        // At least one NaN: NaN equals NaN and is below everything else.
        if x.isNaN && y.isNaN { return 0 }
        return x.isNaN ? -1 : 1
    }

    /// Exact comparison of two numbers of any numeric types.
    static func compareNumbers(_ a: BSON, _ b: BSON) -> Int {
        switch (a, b) {
        case (.int32, .int32), (.int32, .int64), (.int64, .int32), (.int64, .int64):
            let x = a.exactInt64!, y = b.exactInt64!
            return x == y ? 0 : (x < y ? -1 : 1)
        case (.double(let x), .double(let y)): return compareDoubles(x, y)
        case (.double(let x), .int32(let y)): return compareDoubleToInt64(x, Int64(y))
        case (.double(let x), .int64(let y)): return compareDoubleToInt64(x, y)
        case (.int32(let x), .double(let y)): return -compareDoubleToInt64(y, Int64(x))
        case (.int64(let x), .double(let y)): return -compareDoubleToInt64(y, x)
        default:
            return NumberClass(a).compare(NumberClass(b))
        }
    }

    /// Exact comparison of a double with an integer (NaN below everything).
    public static func compareDoubleToInt64(_ d: Double, _ i: Int64) -> Int {
        if d.isNaN { return -1 }
        if d < -9.223372036854775808e18 { return -1 }
        if d >= 9.223372036854775808e18 { return 1 }
        let t = d.rounded(.towardZero)
        let ti = Int64(t)
        if ti != i { return ti < i ? -1 : 1 }
        let fraction = d - t
        return fraction == 0 ? 0 : (fraction < 0 ? -1 : 1)
    }

    static func compareDocuments(_ x: Document, _ y: Document) -> Int {
        let n = min(x.count, y.count)
        for i in 0..<n {
            let (kx, vx) = x.element(at: i)
            let (ky, vy) = y.element(at: i)
            let rx = vx.type.canonicalRank, ry = vy.type.canonicalRank
            if rx != ry { return rx < ry ? -1 : 1 }
            let k = compareUTF8(kx, ky)
            if k != 0 { return k }
            let c = compare(vx, vy)
            if c != 0 { return c }
        }
        return x.count == y.count ? 0 : (x.count < y.count ? -1 : 1)
    }

    static func compareArrays(_ x: [BSON], _ y: [BSON]) -> Int {
        let n = min(x.count, y.count)
        for i in 0..<n {
            let c = compare(x[i], y[i])
            if c != 0 { return c }
        }
        return x.count == y.count ? 0 : (x.count < y.count ? -1 : 1)
    }

    /// The value an array contributes to a sort: its smallest element for an ascending sort,
    /// its largest for a descending one; an empty array sorts as `undefined` (before null).
    public static func arraySortKey(_ elements: [BSON], ascending: Bool) -> BSON {
        guard var best = elements.first else { return .undefined }
        for e in elements.dropFirst() {
            let c = compare(e, best)
            if ascending ? c < 0 : c > 0 { best = e }
        }
        return best
    }
}

/// Byte-wise comparison of two strings' UTF-8.
@inlinable
public func compareUTF8(_ a: String, _ b: String) -> Int {
    var a = a, b = b
    return a.withUTF8 { x in b.withUTF8 { y in compareBytes(x, y) } }
}

@inlinable
func compareBytes<C: Collection>(_ x: C, _ y: C) -> Int where C.Element == UInt8 {
    var ix = x.makeIterator(), iy = y.makeIterator()
    while true {
        switch (ix.next(), iy.next()) {
        case (nil, nil): return 0
        case (nil, _): return -1
        case (_, nil): return 1
        case (let p?, let q?): if p != q { return p < q ? -1 : 1 }
        }
    }
}

/// A number placed on one line: NaN < -Infinity < finite values < +Infinity.
enum NumberClass {
    case nan, negativeInfinity, finite(ExactDecimal), positiveInfinity

    init(_ v: BSON) {
        switch v {
        case .int32(let i): self = .finite(ExactDecimal(Int64(i)))
        case .int64(let i): self = .finite(ExactDecimal(i))
        case .double(let d):
            if d.isNaN { self = .nan } else if d.isInfinite { self = d < 0 ? .negativeInfinity : .positiveInfinity } else {
                self = .finite(ExactDecimal(d)!)
            }
        case .decimal128(let d):
            switch d.parts {
            case .nan: self = .nan
            case .infinity(let negative): self = negative ? .negativeInfinity : .positiveInfinity
            case .finite: self = .finite(ExactDecimal(d)!)
            }
        default: preconditionFailure("NumberClass of a non-number")
        }
    }

    var order: Int {
        switch self {
        case .nan: return 0
        case .negativeInfinity: return 1
        case .finite: return 2
        case .positiveInfinity: return 3
        }
    }

    func compare(_ other: NumberClass) -> Int {
        if case .finite(let a) = self, case .finite(let b) = other { return ExactDecimal.compare(a, b) }
        return order == other.order ? 0 : (order < other.order ? -1 : 1)
    }
}
