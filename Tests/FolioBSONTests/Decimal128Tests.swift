import Testing
@testable import FolioBSON

@Suite struct Decimal128Tests {
    static func d(_ s: String) -> Decimal128 { Decimal128(s)! }

    @Test(arguments: [
        ("1", "2", "3"), ("0.1", "0.2", "0.3"), ("1E+2", "1", "101"), ("1.00", "2.0", "3.00"),
        ("-5", "5", "0"), ("9999999999999999999999999999999999", "1", "1.000000000000000000000000000000000E+34"),
        ("1E-6176", "-1E-6176", "0E-6176"), ("Infinity", "-Infinity", "NaN"), ("1", "NaN", "NaN"),
        ("1234567890123456789012345678901234", "0.5", "1234567890123456789012345678901234"),
        ("1234567890123456789012345678901235", "0.5", "1234567890123456789012345678901236"),
    ])
    func addition(a: String, b: String, sum: String) {
        #expect(Self.d(a).adding(Self.d(b)).description == sum)
    }

    @Test(arguments: [
        ("2", "3", "6"), ("1.5", "1.5", "2.25"), ("-2", "0.5", "-1.0"), ("1E+6111", "10", "1.0E+6112"), ("9.999999999999999999999999999999999E+6144", "10", "Infinity"),
        ("1E-6176", "0.1", "0E-6176"), ("0", "-1", "-0"),
    ])
    func multiplication(a: String, b: String, product: String) {
        #expect(Self.d(a).multiplying(by: Self.d(b)).description == product)
    }

    @Test(arguments: [
        ("1", "4", "0.25"), ("10", "2", "5"), ("1", "3", "0.3333333333333333333333333333333333"),
        ("2", "3", "0.6666666666666666666666666666666667"), ("1", "0", "Infinity"), ("-1", "0", "-Infinity"),
        ("0", "0", "NaN"), ("100", "10", "10"), ("1.00", "1", "1.00"),
    ])
    func division(a: String, b: String, quotient: String) {
        #expect(Self.d(a).dividing(by: Self.d(b)).description == quotient)
    }

    @Test func subtractionAndNegation() {
        #expect(Self.d("5").subtracting(Self.d("7.5")).description == "-2.5")
        #expect(Self.d("1").negated().description == "-1")
    }

    @Test func roundingToPlaces() {
        #expect(Self.d("2.5").rounded(places: 0).description == "2")
        #expect(Self.d("3.5").rounded(places: 0).description == "4")
        #expect(Self.d("1.2345").rounded(places: 2).description == "1.23")
        #expect(Self.d("2.5").rounded(places: 0, halfEven: false).description == "3")
    }

    @Test func integerConversions() {
        #expect(Self.d("42").int64Value(rounding: .exact) == 42)
        #expect(Self.d("42.5").int64Value(rounding: .exact) == nil)
        #expect(Self.d("42.5").int64Value(rounding: .towardZero) == 42)
        #expect(Self.d("42.5").int64Value(rounding: .halfEven) == 42)
        #expect(Self.d("-9223372036854775808").int64Value(rounding: .exact) == Int64.min)
        #expect(Self.d("9223372036854775808").int64Value(rounding: .exact) == nil)
        #expect(Self.d("4E+1").int32Value(rounding: .exact) == 40)
        #expect(Decimal128(Int64(-7)).description == "-7")
    }

    @Test func doubleConversions() {
        #expect(Decimal128(1.5).description == "1.50000000000000")
        #expect(Decimal128(0.1).description == "0.100000000000000")
        #expect(Decimal128(Double.nan).isNaN)
        #expect(Self.d("0.1").doubleValue == 0.1)
        #expect(Self.d("-Infinity").doubleValue == -.infinity)
        #expect(Self.d("1E+400").doubleValue == .infinity)
    }

    @Test func parseRejectsInexactAndMalformed() {
        for bad in ["", "-", ".", "1e", "1.2.3", "abc", "Infi", "1" + String(repeating: "1", count: 34), "1E+6200", "1E-7000"] {
            #expect(Decimal128(bad) == nil, "\(bad)")
        }
        #expect(Decimal128("1" + String(repeating: "0", count: 40))?.description == "1.000000000000000000000000000000000E+40")
    }
}
