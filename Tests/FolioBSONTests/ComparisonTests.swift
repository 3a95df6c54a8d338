import Testing
@testable import FolioBSON

@Suite struct ComparisonTests {
    /// (a, b, expected sign of compare(a, b)) — MongoDB's documented order and its traps.
    static let cases: [(BSON, BSON, Int)] = [
        (.minKey, .null, -1), (.undefined, .null, -1), (.null, .int32(0), -1), (.int32(5), .string(""), -1),
        (.string("z"), .document([:]), -1), (.document([:]), .array([]), -1), (.array([]), .binary(Binary(data: [])), -1),
        (.binary(Binary(data: [])), .objectID(ObjectID(hex: "000000000000000000000000")!), -1),
        (.objectID(ObjectID(hex: "ffffffffffffffffffffffff")!), .bool(false), -1), (.bool(true), .datetime(0), -1),
        (.datetime(Int64.max), .timestamp(Timestamp(rawValue: 0)), -1), (.timestamp(Timestamp(rawValue: .max)), .regex(BSONRegex(pattern: "")), -1),
        (.regex(BSONRegex(pattern: "z")), .maxKey, -1),
        (.int32(1), .double(1.0), 0), (.int64(1), .decimal128(Decimal128("1.000")!), 0), (.double(-0.0), .int32(0), 0),
        (.double(.nan), .double(.nan), 0), (.double(.nan), .double(-.infinity), -1), (.decimal128(.nan), .double(.nan), 0),
        (.decimal128(Decimal128("0.1")!), .double(0.1), -1), (.int64(9_007_199_254_740_993), .double(9_007_199_254_740_992), 1),
        (.int64(Int64.max), .double(9.223372036854775807e18), -1), (.double(2.5), .int32(2), 1), (.double(-2.5), .int32(-2), -1),
        (.string("a"), .symbol("a"), 0), (.string("a"), .string("ab"), -1), (.string("B"), .string("a"), -1),
        (.string("e\u{301}"), .string("é"), -1),
        (["a": 1, "b": 1], ["b": 1, "a": 1], -1), (["a": 1], ["a": 1.0], 0), (["a": 1], ["a": "x"], -1),
        (.array([1, 2]), .array([1, 2, 0]), -1), (.array([.int32(2)]), .array([.int64(10)]), -1),
        (.binary(Binary(subtype: 5, data: [1])), .binary(Binary(subtype: 0, data: [1, 2])), -1),
        (.binary(Binary(subtype: 0, data: [9])), .binary(Binary(subtype: 4, data: [1])), -1),
        (.bool(false), .bool(true), -1), (.datetime(-1), .datetime(0), -1),
    ]

    @Test func mongoDBOrder() {
        for (a, b, expected) in Self.cases {
            let c = BSON.compare(a, b)
            #expect((c < 0 ? -1 : (c > 0 ? 1 : 0)) == expected, "\(a) vs \(b)")
            let r = BSON.compare(b, a)
            #expect((r < 0 ? -1 : (r > 0 ? 1 : 0)) == -expected, "\(b) vs \(a)")
        }
    }

    @Test func structuralEqualityDistinguishesTypes() {
        #expect(BSON.int32(1) != BSON.double(1))
        #expect(BSON.double(.nan) == BSON.double(.nan))
        #expect(BSON.string("é") != BSON.string("e\u{301}"))
        #expect(BSON.valuesEqual(.int32(1), .double(1)))
    }

    @Test func arraySortKeys() {
        let a: [BSON] = [3, 1, "x", .null]
        #expect(BSON.arraySortKey(a, ascending: true) == .null)
        #expect(BSON.arraySortKey(a, ascending: false) == "x")
        #expect(BSON.arraySortKey([], ascending: true) == .undefined)
        #expect(BSON.compare(BSON.arraySortKey([], ascending: true), .null) < 0)
    }
}
