import Testing
import FolioBSON
@testable import FolioQuery

/// Operators given hostile numbers and inputs answer with MongoDB's error or result, never a
/// trap (cases the command fuzzer and the audit for issue 27 found).
@Suite struct ExpressionOperatorsTests {
    static func evaluate(_ expression: BSON, _ root: Document = [:]) throws(FolioError) -> BSON {
        try Expression.parse(expression, context: ParseContext()).evaluate(root: root)
    }

    static func code(_ expression: BSON) -> Int32? {
        do { _ = try evaluate(expression); return nil } catch { return error.code.rawValue }
    }

    @Test func dateArithmeticOverflowsWithMongoDBsError() throws {
        #expect(Self.code(["$add": [.datetime(0), .double(.nan)]]) == 15)
        #expect(Self.code(["$add": [.datetime(0), .double(1e300)]]) == 15)
        #expect(Self.code(["$add": [.datetime(.max), .int64(1)]]) == 15)
        #expect(Self.code(["$subtract": [.datetime(.min), .int64(1)]]) == 15)
        #expect(Self.code(["$subtract": [.datetime(0), .double(-.infinity)]]) == 15)
        #expect(try Self.evaluate(["$add": [.datetime(1000), .double(1.5)]]) == .datetime(1002))
        #expect(try Self.evaluate(["$subtract": [.datetime(1000), .double(2.5)]]) == .datetime(997))
    }

    @Test func roundAndTruncOfLongsNearTheirLimits() throws {
        #expect(Self.code(["$round": [.int64(.max), -3]]) == 51080)
        #expect(try Self.evaluate(["$trunc": [.int64(.max), -3]]) == .int64(9_223_372_036_854_775_000))
        #expect(try Self.evaluate(["$round": [.int64(.min), -20]]) == .int64(0))
        #expect(try Self.evaluate(["$round": [.int32(1250), -2]]) == .int32(1200))
        #expect(try Self.evaluate(["$round": [.int32(.max), -1]]) == .int64(2_147_483_650))
        #expect(Self.code(["$round": [1, .double(0.5)]]) == 51082)
        #expect(Self.code(["$round": [1, 101]]) == 51083)
        #expect(Self.code(["$round": ["x", 1]]) == 51081)
    }

    @Test func substringIndexesBeyondALongAreRefused() throws {
        #expect(Self.code(["$substrBytes": ["abc", .double(1e300), 1]]) == 31109)
        #expect(Self.code(["$substrCP": ["abc", 0, .double(.nan)]]) == 31109)
        #expect(try Self.evaluate(["$substrBytes": ["abc", 1, .double(1e15)]]) == "bc")
    }

    @Test func sliceArgumentsBeyond32BitsAreRefused() throws {
        #expect(Self.code(["$slice": [[1, 2], .int64(.min)]]) == 28726)
        #expect(Self.code(["$slice": [[1, 2], 0, .int64(.max)]]) == 28728)
        #expect(try Self.evaluate(["$slice": [[1, 2, 3], .int32(.min)]]) == [1, 2, 3])
        #expect(try Self.evaluate(["$slice": [[1, 2, 3], .int32(.max), .int32(.max)]]) == [])
    }

    @Test func regexLimitsAnswerAsMongoDB() throws {
        let subject = String(repeating: "a", count: 40) + "b"
        let catastrophic: BSON = ["$regexMatch": ["input": .string(subject), "regex": "^(a+)+$"]]
        #expect(Self.code(catastrophic) == 51156)
        // The query matcher treats a match PCRE2 gives up on as no match, as MongoDB's does.
        #expect(try !MongoRegex(pattern: "^(a+)+$", options: "").matches(subject))
        let long = String(repeating: "a", count: MongoRegex.maximumPatternBytes + 1)
        #expect(throws: FolioError.self) { _ = try MongoRegex(pattern: long, options: "") }
        // Many matches over a long input: one per character, in linear time.
        let input = String(repeating: "é", count: 20_000)
        let all = try Self.evaluate(["$regexFindAll": ["input": .string(input), "regex": ""]])
        #expect(all.arrayValue?.count == 20_001)
        #expect(all.arrayValue?.last?.documentValue?["idx"] == .int32(20_000))
    }

    @Test func pushSliceOfTheSmallestLong() throws {
        var d: Document = ["a": [1, 2, 3]]
        _ = try UpdateSpec(parsing: ["$push": ["a": ["$each": [4], "$slice": .int64(.min)]]]).apply(to: &d)
        #expect(d["a"] == [1, 2, 3, 4])
        _ = try UpdateSpec(parsing: ["$push": ["a": ["$each": [], "$position": .int64(.min)]]]).apply(to: &d)
        #expect(d["a"] == [1, 2, 3, 4])
    }
}

/// Date operators at the ends of the date range (issue 27's audit).
@Suite struct DateOperatorExtremesTests {
    static func evaluate(_ e: BSON) throws(FolioError) -> BSON { try ExpressionOperatorsTests.evaluate(e) }

    @Test func dateAddOverflowsWithAnError() throws {
        for (unit, amount) in [("day", BSON.int64(.max)), ("month", .int64(.max)), ("year", .int64(.min)), ("hour", .int64(1 << 42))] {
            let e: BSON = ["$dateAdd": ["startDate": .datetime(0), "unit": .string(unit), "amount": amount]]
            #expect(ExpressionOperatorsTests.code(e) == 15, "\(unit) \(amount)")
        }
        let subtractMin: BSON = ["$dateSubtract": ["startDate": .datetime(0), "unit": "second", "amount": .int64(.min)]]
        #expect(ExpressionOperatorsTests.code(subtractMin) == 15)
        let nearEnd: BSON = ["$dateAdd": ["startDate": .datetime(.max - 5), "unit": "millisecond", "amount": 10]]
        #expect(ExpressionOperatorsTests.code(nearEnd) == 15)
        #expect(try Self.evaluate(["$dateAdd": ["startDate": .datetime(0), "unit": "month", "amount": 1]]) == .datetime(2_678_400_000))
    }

    @Test func truncationAndPartsOfTheExtremeDates() throws {
        for ms in [Int64.min, .max, .min + 1, -1] {
            for unit in ["year", "month", "week", "day", "millisecond"] {
                let trunc: BSON = ["$dateTrunc": ["date": .datetime(ms), "unit": .string(unit), "binSize": .int64(.max)]]
                _ = try Self.evaluate(trunc)
                _ = try Self.evaluate(["$dateTrunc": ["date": .datetime(ms), "unit": .string(unit), "timezone": "America/New_York"]])
            }
            _ = try Self.evaluate(["$year": .datetime(ms)])
            _ = try Self.evaluate(["$dateToParts": ["date": .datetime(ms), "timezone": "+14:00"]])
            _ = try Self.evaluate(["$dateDiff": ["startDate": .datetime(.min), "endDate": .datetime(ms), "unit": "week"]])
        }
        #expect(try Self.evaluate(["$year": .datetime(.max)]) == .int32(292_278_994))
        #expect(try Self.evaluate(["$dateTrunc": ["date": .datetime(86_400_001), "unit": "day"]]) == .datetime(86_400_000))
    }

    /// The command sandbox's seed 17535728695908269820 trapped here: the local time of a date
    /// at an end of the range, in a zone ahead of (or behind) UTC, overflowed.
    @Test func formattingTheExtremeDatesInAnyZone() throws {
        for (ms, zone) in [(Int64.max, "+14:00"), (.min, "-12:00"), (.max, "Asia/Tokyo"), (.min, "America/New_York")] {
            let time: BSON = ["$dateToString": ["date": .datetime(ms), "format": "%H:%M:%S.%L %z", "timezone": .string(zone)]]
            guard case .string = try Self.evaluate(time) else { Issue.record("no string for \(ms) in \(zone)"); continue }
            let year: BSON = ["$dateToString": ["date": .datetime(ms), "timezone": .string(zone)]]
            #expect(ExpressionOperatorsTests.code(year) == 18537, "\(ms) in \(zone)")
        }
        let endOfRange: BSON = ["$dateToString": ["date": .datetime(.max), "format": "%H:%M:%S.%L", "timezone": "+00:00"]]
        #expect(try Self.evaluate(endOfRange) == .string("07:12:55.807"))
    }

    @Test func queryModuloOfTheSmallestLong() throws {
        let f = try Filter(parsing: ["a": ["$mod": [-1, 0]]])
        #expect(f.matches(["a": .int64(.min)]))
    }
}
