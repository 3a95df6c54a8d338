import Testing
@testable import FolioBSON

/// A client's number becomes a Swift integer without trapping (BSON+Integers.swift).
@Suite struct IntegerConversionTests {
    @Test func safeInt64FollowsMongoDBsSafeNumberLong() {
        let cases: [(BSON, Int64?)] = [
            (.double(.nan), 0), (.double(.infinity), .max), (.double(-.infinity), .min), (.double(1e300), .max),
            (.double(-1e300), .min), (.double(9.223372036854775808e18), .max), (.double(-9.223372036854775808e18), .min),
            (.double(2.9), 2), (.double(-2.9), -2), (.double(-0.0), 0), (.int32(.min), Int64(Int32.min)), (.int64(.min), .min),
            (.decimal128(.nan), 0), (.decimal128(.infinity), .max), (.decimal128(.negativeInfinity), .min),
            (.decimal128(Decimal128("2.5")!), 2), (.decimal128(Decimal128("3.5")!), 4), (.decimal128(Decimal128("1E+40")!), .max),
            (.decimal128(Decimal128("-1E+40")!), .min), (.string("1"), nil), (.null, nil), (.bool(true), nil),
        ]
        for (value, expected) in cases { #expect(value.safeInt64 == expected, "\(value)") }
    }

    @Test func safeInt32ClampsTheSafeInt64() {
        #expect(BSON.double(1e300).safeInt32 == .max)
        #expect(BSON.int64(.min).safeInt32 == .min)
        #expect(BSON.double(.nan).safeInt32 == 0)
        #expect(BSON.int64(5).safeInt32 == 5)
        #expect(BSON.string("5").safeInt32 == nil)
    }

    @Test func checkedAndClampingConversions() {
        #expect(Int64.checked(.nan) == nil)
        #expect(Int64.checked(.infinity) == nil)
        #expect(Int64.checked(9.223372036854775808e18) == nil)
        #expect(Int64.checked(-9.223372036854775808e18) == .min)
        #expect(Int64.checked(-2.5) == -2)
        #expect(Int64.checked(2.5, rounding: .toNearestOrEven) == 2)
        #expect(Int64.checked(9.2e18) == 9_200_000_000_000_000_000)
        #expect(Int64.clamping(.nan) == 0)
        #expect(Int64.clamping(-.infinity) == .min)
        #expect(Int64.clamping(1e19) == .max)
    }

    @Test func saturatedAddition() {
        #expect(Int.max.addingSaturated(1) == .max)
        #expect(Int.min.addingSaturated(-1) == .min)
        #expect(3.addingSaturated(-5) == -2)
        #expect(Int32.max.addingSaturated(.max) == .max)
    }
}
