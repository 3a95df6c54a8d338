import FolioBSON

/// The generator's randomness: seeded, so a chaos run or a fuzz finding replays exactly.
public typealias FuzzRandom = SeededRandom

extension SeededRandom {
    /// True with probability `p`.
    mutating func chance(_ p: Double) -> Bool { Double.random(in: 0..<1, using: &self) < p }

    /// One element of a non-empty collection.
    mutating func pick<C: Collection>(_ c: C) -> C.Element { c.randomElement(using: &self)! }

    /// A count from 0 up to `n`, small ones more likely.
    mutating func smallCount(_ n: Int) -> Int { Int.random(in: 0...n, using: &self) >> Int.random(in: 0...2, using: &self) }
}

/// The values most likely to break a parser or an integer conversion: NaN, infinities,
/// signed zeros, integer extremes, huge doubles, decimal specials, every BSON type where
/// another was expected, empty and 100 KB strings, 100-deep nesting, huge arrays.
public enum HostileValues {
    /// 100,000 bytes: past any inline buffer, below the 16 MiB document limit.
    static let longString = String(repeating: "x", count: 100_000)

    static let decimalMax = Decimal128("9.999999999999999999999999999999999E+6144")!
    static let decimalTiny = Decimal128("1E-6176")!
    static let decimalNegativeZero = Decimal128("-0")!

    /// Scalars (cheap to build; chosen most often).
    public static let scalars: [BSON] = [
        .double(.nan), .double(.infinity), .double(-.infinity), .double(0), .double(-0.0), .double(1e300),
        .double(-1e300), .double(9.223372036854775808e18), .double(-9.223372036854775808e18), .double(2147483648),
        .double(-2147483649), .double(.leastNonzeroMagnitude), .double(0.5), .double(-1.5), .double(1e15), .double(2.5),
        .int32(.max), .int32(.min), .int32(0), .int32(-1), .int32(1), .int32(2), .int32(100),
        .int64(.max), .int64(.min), .int64(2147483648), .int64(-1), .int64(0),
        .decimal128(.nan), .decimal128(.infinity), .decimal128(.negativeInfinity), .decimal128(decimalMax),
        .decimal128(decimalTiny), .decimal128(decimalNegativeZero), .decimal128(Decimal128(Int64.min)),
        .string(""), .string("a"), .string("$a"), .string("$$ROOT"), .string("$$x"), .string("$$NOW"),
        .string("a.b"), .string("."), .string("$"), .string("a..b"), .string("$[]"), .string("$[x]"),
        .string("é\u{301}🙂"), .string("\u{0}x"), .string("ab"),
        .null, .undefined, .minKey, .maxKey, .bool(true), .bool(false),
        .objectID(ObjectID(bytes: (0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0))),
        .datetime(.min), .datetime(.max), .datetime(0), .datetime(-62_135_596_800_001),
        .timestamp(Timestamp(seconds: .max, increment: .max)), .timestamp(Timestamp(seconds: 0, increment: 0)),
        .regex(BSONRegex(pattern: "(a+)+$", options: "")), .regex(BSONRegex(pattern: "[", options: "")),
        .regex(BSONRegex(pattern: "^a", options: "imsxz")),
        .binary(Binary(data: [])), .binary(Binary(subtype: Binary.Subtype.uuid, data: [UInt8](repeating: 7, count: 16))),
        .binary(Binary(subtype: 9, data: [0x27, 0])),
        .javascript("function() { return 1; }"), .symbol("s"),
        .document(Document()), .array([]), .document(["$gt": 1]), .document(["": 1]), .document(["a.b": 1]),
        .document(["$": 1]), .array([.null]), .array([.int32(1), .string("a")]),
    ]

    /// Large values: expensive to build, so chosen rarely and built on demand.
    public static func large(_ r: inout FuzzRandom) -> BSON {
        switch Int.random(in: 0..<7, using: &r) {
        case 0: return .string(longString)
        case 1: return nested(depth: 100, array: false)
        case 2: return nested(depth: 100, array: true)
        case 3: return .array((0..<10_000).map { .int32(Int32($0 % 100)) })
        case 4: return .array((0..<1_000).map { ["a": .int32(Int32($0)), "b": .string("s\($0 % 7)")] })
        case 5: return .regex(BSONRegex(pattern: "^(\\w+\\s?)*$", options: "i"))
        default:
            var d = Document()
            for i in 0..<2_000 { d.append("f\(i)", .int32(Int32(i))) }
            return .document(d)
        }
    }

    /// `depth` levels of `{a: {a: ...}}` or `[[...]]`.
    public static func nested(depth: Int, array: Bool) -> BSON {
        var v: BSON = .int32(1)
        for _ in 0..<depth { v = array ? .array([v]) : .document(["a": v]) }
        return v
    }

    /// A hostile value: mostly scalars, sometimes a large one.
    public static func any(_ r: inout FuzzRandom) -> BSON {
        r.chance(0.03) ? large(&r) : r.pick(scalars)
    }
}
