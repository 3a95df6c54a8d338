import Testing
@testable import FolioBSON

@Suite struct ExtendedJSONTests {
    @Test func relaxedNumbersPickTheNarrowestType() throws {
        let d = try ExtendedJSON.document(from: #"{"a": 1, "b": 3000000000, "c": 1.5, "d": 1e2, "e": -0.0}"#)
        #expect(d["a"] == .int32(1))
        #expect(d["b"] == .int64(3_000_000_000))
        #expect(d["c"] == .double(1.5))
        #expect(d["d"] == .double(100))
        #expect(d["e"] == .double(-0.0))
    }

    @Test func canonicalAndRelaxedOutput() {
        let doc: Document = ["i": .int32(1), "l": .int64(2), "d": .double(1), "t": .datetime(0), "old": .datetime(-1)]
        #expect(ExtendedJSON.string(from: doc, mode: .canonical) ==
            #"{"i": {"$numberInt": "1"}, "l": {"$numberLong": "2"}, "d": {"$numberDouble": "1.0"}, "t": {"$date": {"$numberLong": "0"}}, "old": {"$date": {"$numberLong": "-1"}}}"#)
        #expect(ExtendedJSON.string(from: doc, mode: .relaxed) ==
            #"{"i": 1, "l": 2, "d": 1.0, "t": {"$date": "1970-01-01T00:00:00Z"}, "old": {"$date": {"$numberLong": "-1"}}}"#)
    }

    @Test func datesWithOffsetsAndFractions() throws {
        let d = try ExtendedJSON.document(from: #"{"a": {"$date": "2012-12-24T12:15:30.5+01:00"}}"#)
        #expect(d["a"] == .datetime(1_356_347_730_500))
    }

    @Test func malformedJSONIsAParseError() {
        for bad in [#"{"a": }"#, #"{"a": 01}"#, #"{"a": "\x"}"#, "[1]", #"{"a": {"$numberInt": "1.5"}}"#, #"{"a": "\ud800"}"#] {
            #expect(throws: BSONError.self, "\(bad)") { try ExtendedJSON.document(from: bad) }
        }
    }

    @Test func queryOperatorsStayDocuments() throws {
        let d = try ExtendedJSON.document(from: #"{"a": {"$regex": {"$regularExpression": {"pattern": "x", "options": ""}}, "$options": "i"}, "b": {"$type": "string"}}"#)
        #expect(d["a"]?.documentValue?["$options"] == "i")
        #expect(d["b"] == .document(["$type": "string"]))
    }
}
