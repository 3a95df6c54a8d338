import Testing
@testable import FolioBSON
import FolioTestSupport

/// Random BSON values of every type, biased towards the edge cases comparison gets wrong:
/// equal numbers of different types, precision limits, NaN and signed zeros, shared prefixes.
struct ValueGenerator {
    var rng: TestSupport.SeededGenerator

    mutating func int(_ range: ClosedRange<Int>) -> Int { Int.random(in: range, using: &rng) }
    mutating func chance(_ percent: Int) -> Bool { int(0...99) < percent }

    mutating func number() -> BSON {
        let pool: [BSON] = [
            .int32(0), .int32(1), .int32(-1), .int64(1), .double(1.0), .decimal128(Decimal128("1.00")!),
            .double(-0.0), .decimal128(Decimal128("-0")!), .double(.nan), .decimal128(.nan), .double(.infinity),
            .double(-.infinity), .decimal128(.infinity), .decimal128(.negativeInfinity),
            .int64(9_007_199_254_740_993), .double(9_007_199_254_740_992), .int64(Int64.max), .int64(Int64.min),
            .double(9.223372036854775807e18), .double(-9.223372036854775808e18), .double(0.1),
            .decimal128(Decimal128("0.1")!), .double(0.5), .decimal128(Decimal128("0.5")!), .double(1e-320),
            .double(Double.greatestFiniteMagnitude), .decimal128(Decimal128("1E+6144")!),
            .decimal128(Decimal128("-1E-6176")!), .int32(Int32.max), .int32(Int32.min), .double(2.5), .int64(2),
        ]
        switch int(0...6) {
        case 0: return pool[int(0...(pool.count - 1))]
        case 1: return .int32(Int32(truncatingIfNeeded: int(-1000...1000)))
        case 2: return .int64(Int64.random(in: Int64.min...Int64.max, using: &rng))
        case 3: return .double(Double(int(-1000...1000)) / Double([1, 2, 4, 10, 3][int(0...4)]))
        case 4: return .double(Double(bitPattern: rng.next()))
        case 5:
            let digits = String(UInt64.random(in: 0...UInt64.max, using: &rng) % 100_000)
            let exponent = int(-20...20)
            return .decimal128(Decimal128((chance(50) ? "-" : "") + digits + "E" + String(exponent))!)
        default: return .int64(Int64(int(-1000...1000)))
        }
    }

    mutating func string() -> String {
        let alphabet: [String] = ["a", "b", "ab", "\u{0}", "é", "e\u{301}", "z", "ß", "😀", "A", " ", "\u{7F}"]
        var s = ""
        for _ in 0..<int(0...4) { s += alphabet[int(0...(alphabet.count - 1))] }
        return s
    }

    mutating func value(depth: Int = 0) -> BSON {
        let kind = int(0...21)
        switch kind {
        case 0: return .minKey
        case 1: return .maxKey
        case 2: return .null
        case 3: return .undefined
        case 4, 5, 6, 7: return number()
        case 8: return .string(string())
        case 9: return .symbol(string())
        case 10:
            if depth > 2 { return .null }
            var d = Document()
            for _ in 0..<int(0...3) { d.append(["a", "b", "", "a\u{0}"][int(0...3)], value(depth: depth + 1)) }
            return .document(d)
        case 11:
            if depth > 2 { return .array([]) }
            return .array((0..<int(0...3)).map { _ in value(depth: depth + 1) })
        case 12:
            return .binary(Binary(subtype: [0, 4, 0x80][int(0...2)], data: (0..<int(0...3)).map { _ in UInt8(int(0...2)) }))
        case 13:
            return .objectID(ObjectID(byteArray: (0..<12).map { _ in UInt8(int(0...2)) })!)
        case 14: return .bool(chance(50))
        case 15: return .datetime([Int64.min, -1, 0, 1, Int64.max, Int64(int(-5...5))][int(0...5)])
        case 16: return .timestamp(Timestamp(seconds: UInt32(int(0...2)) * 0x7FFF_FFFF, increment: UInt32(int(0...3))))
        case 17: return .regex(BSONRegex(pattern: ["", "a", "ab"][int(0...2)], options: ["", "i", "im"][int(0...2)]))
        case 18:
            return .dbPointer(namespace: ["", "a", "ab", "b"][int(0...3)],
                              id: ObjectID(byteArray: (0..<12).map { _ in UInt8(int(0...1)) })!)
        case 19: return .javascript(string())
        case 20:
            var scope = Document()
            if chance(50) { scope.append("x", number()) }
            return .javascriptWithScope(code: ["", "a"][int(0...1)], scope: scope)
        default: return number()
        }
    }
}

@Suite struct KeyStringTests {
    static func sign(_ v: Int) -> Int { v < 0 ? -1 : (v > 0 ? 1 : 0) }

    /// The DESIGN invariant: byte order of encodings equals MongoDB's comparison order, for
    /// random pairs of every type, ascending, descending and in compound keys.
    @Test func byteOrderEqualsComparisonOrder() {
        let seed = TestSupport.seed()
        print("KeyString property test seed: \(seed) (replay with FOLIO_SEED=\(seed))")
        var gen = ValueGenerator(rng: .init(seed: seed))
        let pairs = 100_000
        var failures: [String] = []
        var equalPairs = 0
        for _ in 0..<pairs {
            let a = gen.value(), b = gen.value()
            let expected = Self.sign(BSON.compare(a, b))
            if expected == 0 { equalPairs += 1 }
            let ka = KeyString.encode(a), kb = KeyString.encode(b)
            let actual = Self.sign(compareBytes(ka, kb))
            if actual != expected {
                failures.append("asc \(a) vs \(b): compare \(expected), bytes \(actual)")
            }
            // Antisymmetry of the comparison itself.
            if Self.sign(BSON.compare(b, a)) != -expected {
                failures.append("compare not antisymmetric: \(a) vs \(b)")
            }
            var da = [UInt8](), db = [UInt8]()
            KeyString.append(a, ascending: false, to: &da)
            KeyString.append(b, ascending: false, to: &db)
            if Self.sign(compareBytes(da, db)) != -expected {
                failures.append("desc \(a) vs \(b)")
            }
            // Compound: (a, x) vs (b, y) orders by a/b first, then x/y.
            let x = gen.value(), y = gen.value()
            let compoundExpected = expected != 0 ? expected : Self.sign(BSON.compare(x, y))
            let ca = KeyString.encode([a, x], ascending: [true, false])
            let cb = KeyString.encode([b, y], ascending: [true, false])
            let compoundActual = Self.sign(compareBytes(ca, cb))
            let wanted = expected != 0 ? expected : -Self.sign(BSON.compare(x, y))
            _ = compoundExpected
            if compoundActual != wanted { failures.append("compound (\(a), \(x)) vs (\(b), \(y))") }
            if failures.count > 20 { break }
        }
        print("KeyString property test: \(pairs) pairs, \(equalPairs) equal by value, \(failures.count) failures")
        for f in failures { print("  \(f)") }
        #expect(failures.isEmpty, "seed \(seed)")
    }

    @Test func equalNumbersOfDifferentTypesEncodeIdentically() {
        let ones: [BSON] = [.int32(1), .int64(1), .double(1.0), .decimal128(Decimal128("1.000")!), .decimal128(Decimal128("0.1E1")!)]
        let encodings = Set(ones.map { KeyString.encode($0) })
        #expect(encodings.count == 1)
        #expect(KeyString.encode(.double(-0.0)) == KeyString.encode(.int32(0)))
        #expect(KeyString.encode(.double(.nan)) == KeyString.encode(.decimal128(.nan)))
        #expect(KeyString.encode(.int64(9_007_199_254_740_993)) != KeyString.encode(.double(9_007_199_254_740_992)))
    }

    @Test func recordKeySuffixKeepsIndexOrder() {
        // An index entry is key fields then the record key; entries with equal keys order by record.
        let e1 = KeyString.encode([.string("a"), .int32(2)])
        let e2 = KeyString.encode([.string("a"), .int32(10)])
        let e3 = KeyString.encode([.string("a\u{0}"), .int32(1)])
        #expect(compareBytes(e1, e2) < 0)
        #expect(compareBytes(e2, e3) < 0)
    }
}
