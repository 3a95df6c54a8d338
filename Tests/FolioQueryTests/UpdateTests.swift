import Testing
import FolioBSON
@testable import FolioQuery

/// (before, update, expected after — or an error code as `{"error": code}`), relaxed
/// Extended JSON. Field order in the expected document is part of the assertion.
let updateCases: [(String, String, String)] = [
    // $set / $unset and path creation
    (#"{"_id": 1, "a": 1}"#, #"{"$set": {"a": 2}}"#, #"{"_id": 1, "a": 2}"#),
    (#"{"_id": 1}"#, #"{"$set": {"b": 1, "a": 2}}"#, #"{"_id": 1, "a": 2, "b": 1}"#),
    (#"{"_id": 1}"#, #"{"$set": {"a.b.c": 1}}"#, #"{"_id": 1, "a": {"b": {"c": 1}}}"#),
    (#"{"_id": 1, "a": {"x": 1}}"#, #"{"$set": {"a.b": 2}}"#, #"{"_id": 1, "a": {"x": 1, "b": 2}}"#),
    (#"{"_id": 1, "a": [1, 2]}"#, #"{"$set": {"a.1": 5}}"#, #"{"_id": 1, "a": [1, 5]}"#),
    (#"{"_id": 1, "a": [1]}"#, #"{"$set": {"a.3": 5}}"#, #"{"_id": 1, "a": [1, null, null, 5]}"#),
    (#"{"_id": 1, "a": [{"b": 1}]}"#, #"{"$set": {"a.0.b": 2}}"#, #"{"_id": 1, "a": [{"b": 2}]}"#),
    (#"{"_id": 1, "a": 5}"#, #"{"$set": {"a.b": 1}}"#, #"{"error": 28}"#),
    (#"{"_id": 1, "a": [1]}"#, #"{"$set": {"a.x": 1}}"#, #"{"error": 28}"#),
    (#"{"_id": 1, "a": 1, "b": 2}"#, #"{"$unset": {"a": ""}}"#, #"{"_id": 1, "b": 2}"#),
    (#"{"_id": 1, "a": [1, 2]}"#, #"{"$unset": {"a.0": 1}}"#, #"{"_id": 1, "a": [null, 2]}"#),
    (#"{"_id": 1}"#, #"{"$unset": {"a.b": 1}}"#, #"{"_id": 1}"#),
    (#"{"_id": 1, "a": 1}"#, #"{"$set": {}}"#, #"{"_id": 1, "a": 1}"#),
    (#"{"_id": 1, "a": 1}"#, #"{"$set": {"a": 1}, "$unset": {"a": 1}}"#, #"{"error": 40}"#),
    (#"{"_id": 1, "a": {"b": 1}}"#, #"{"$set": {"a": 1, "a.b": 2}}"#, #"{"error": 40}"#),
    (#"{"_id": 1}"#, #"{"$set": {"_id": 2}}"#, #"{"error": 66}"#),
    (#"{"_id": 1}"#, #"{"$set": {"_id": 1}}"#, #"{"_id": 1}"#),
    (#"{"_id": 1}"#, #"{"$foo": {"a": 1}}"#, #"{"error": 9}"#),
    (#"{"_id": 1}"#, #"{"$set": {"a": 1}, "b": 2}"#, #"{"error": 9}"#),
    (#"{"_id": 1}"#, #"{"$set": 5}"#, #"{"error": 9}"#),
    (#"{"_id": 1}"#, #"{"$set": {"a..b": 5}}"#, #"{"error": 56}"#),
    // $inc / $mul and numeric promotion
    (#"{"_id": 1, "a": 1}"#, #"{"$inc": {"a": 2}}"#, #"{"_id": 1, "a": 3}"#),
    (#"{"_id": 1, "a": 1}"#, #"{"$inc": {"a": 2.5}}"#, #"{"_id": 1, "a": 3.5}"#),
    (#"{"_id": 1, "a": 2147483647}"#, #"{"$inc": {"a": 1}}"#, #"{"_id": 1, "a": {"$numberLong": "2147483648"}}"#),
    (#"{"_id": 1, "a": {"$numberLong": "9223372036854775807"}}"#, #"{"$inc": {"a": 1}}"#, #"{"_id": 1, "a": 9.223372036854775808E+18}"#),
    (#"{"_id": 1, "a": 1}"#, #"{"$inc": {"a": {"$numberDecimal": "0.1"}}}"#, #"{"_id": 1, "a": {"$numberDecimal": "1.1"}}"#),
    (#"{"_id": 1}"#, #"{"$inc": {"a": 5}}"#, #"{"_id": 1, "a": 5}"#),
    (#"{"_id": 1, "a": "x"}"#, #"{"$inc": {"a": 1}}"#, #"{"error": 14}"#),
    (#"{"_id": 1, "a": 1}"#, #"{"$inc": {"a": "x"}}"#, #"{"error": 14}"#),
    (#"{"_id": 1, "a": 3}"#, #"{"$mul": {"a": 4}}"#, #"{"_id": 1, "a": 12}"#),
    (#"{"_id": 1}"#, #"{"$mul": {"a": 4}}"#, #"{"_id": 1, "a": 0}"#),
    (#"{"_id": 1}"#, #"{"$mul": {"a": 4.5}}"#, #"{"_id": 1, "a": 0.0}"#),
    // $min / $max / $currentDate / $rename
    (#"{"_id": 1, "a": 5}"#, #"{"$min": {"a": 3}}"#, #"{"_id": 1, "a": 3}"#),
    (#"{"_id": 1, "a": 5}"#, #"{"$min": {"a": 7}}"#, #"{"_id": 1, "a": 5}"#),
    (#"{"_id": 1, "a": 5}"#, #"{"$max": {"a": 7}}"#, #"{"_id": 1, "a": 7}"#),
    (#"{"_id": 1, "a": 5}"#, #"{"$max": {"a": "x"}}"#, #"{"_id": 1, "a": "x"}"#),
    (#"{"_id": 1}"#, #"{"$min": {"a": 1}}"#, #"{"_id": 1, "a": 1}"#),
    (#"{"_id": 1, "a": 1, "b": 2}"#, #"{"$rename": {"a": "c"}}"#, #"{"_id": 1, "b": 2, "c": 1}"#),
    (#"{"_id": 1, "a": {"b": 1}}"#, #"{"$rename": {"a.b": "c.d"}}"#, #"{"_id": 1, "a": {}, "c": {"d": 1}}"#),
    (#"{"_id": 1}"#, #"{"$rename": {"a": "b"}}"#, #"{"_id": 1}"#),
    (#"{"_id": 1, "a": 1}"#, #"{"$rename": {"a": "a"}}"#, #"{"error": 2}"#),
    (#"{"_id": 1, "a": [{"b": 1}]}"#, #"{"$rename": {"a.0.b": "c"}}"#, #"{"error": 2}"#),
    (#"{"_id": 1, "a": 1}"#, #"{"$rename": {"a": 5}}"#, #"{"error": 2}"#),
    // $push and modifiers
    (#"{"_id": 1, "a": [1]}"#, #"{"$push": {"a": 2}}"#, #"{"_id": 1, "a": [1, 2]}"#),
    (#"{"_id": 1}"#, #"{"$push": {"a": 2}}"#, #"{"_id": 1, "a": [2]}"#),
    (#"{"_id": 1, "a": [1]}"#, #"{"$push": {"a": [2, 3]}}"#, #"{"_id": 1, "a": [1, [2, 3]]}"#),
    (#"{"_id": 1, "a": [1]}"#, #"{"$push": {"a": {"$each": [2, 3]}}}"#, #"{"_id": 1, "a": [1, 2, 3]}"#),
    (#"{"_id": 1, "a": [1, 2]}"#, #"{"$push": {"a": {"$each": [9], "$position": 1}}}"#, #"{"_id": 1, "a": [1, 9, 2]}"#),
    (#"{"_id": 1, "a": [1, 2]}"#, #"{"$push": {"a": {"$each": [9], "$position": -1}}}"#, #"{"_id": 1, "a": [1, 9, 2]}"#),
    (#"{"_id": 1, "a": [3, 1]}"#, #"{"$push": {"a": {"$each": [2], "$sort": 1}}}"#, #"{"_id": 1, "a": [1, 2, 3]}"#),
    (#"{"_id": 1, "a": [3, 1]}"#, #"{"$push": {"a": {"$each": [2], "$sort": -1, "$slice": 2}}}"#, #"{"_id": 1, "a": [3, 2]}"#),
    (#"{"_id": 1, "a": [1, 2, 3]}"#, #"{"$push": {"a": {"$each": [4], "$slice": -2}}}"#, #"{"_id": 1, "a": [3, 4]}"#),
    (#"{"_id": 1, "a": [{"s": 2}, {"s": 1}]}"#, #"{"$push": {"a": {"$each": [{"s": 3}], "$sort": {"s": 1}}}}"#, #"{"_id": 1, "a": [{"s": 1}, {"s": 2}, {"s": 3}]}"#),
    (#"{"_id": 1, "a": [1]}"#, #"{"$push": {"a": {"$each": []}}}"#, #"{"_id": 1, "a": [1]}"#),
    (#"{"_id": 1, "a": 1}"#, #"{"$push": {"a": 2}}"#, #"{"error": 2}"#),
    (#"{"_id": 1, "a": []}"#, #"{"$push": {"a": {"$each": 1}}}"#, #"{"error": 2}"#),
    (#"{"_id": 1, "a": []}"#, #"{"$push": {"a": {"$each": [1], "$bogus": 1}}}"#, #"{"error": 2}"#),
    // $addToSet, $pop, $pull, $pullAll
    (#"{"_id": 1, "a": [1, 2]}"#, #"{"$addToSet": {"a": 2}}"#, #"{"_id": 1, "a": [1, 2]}"#),
    (#"{"_id": 1, "a": [1, 2]}"#, #"{"$addToSet": {"a": 2.0}}"#, #"{"_id": 1, "a": [1, 2]}"#),
    (#"{"_id": 1, "a": [1, 2]}"#, #"{"$addToSet": {"a": {"$each": [2, 3, 3]}}}"#, #"{"_id": 1, "a": [1, 2, 3]}"#),
    (#"{"_id": 1}"#, #"{"$addToSet": {"a": 1}}"#, #"{"_id": 1, "a": [1]}"#),
    (#"{"_id": 1, "a": "x"}"#, #"{"$addToSet": {"a": 1}}"#, #"{"error": 2}"#),
    (#"{"_id": 1, "a": [1, 2, 3]}"#, #"{"$pop": {"a": 1}}"#, #"{"_id": 1, "a": [1, 2]}"#),
    (#"{"_id": 1, "a": [1, 2, 3]}"#, #"{"$pop": {"a": -1}}"#, #"{"_id": 1, "a": [2, 3]}"#),
    (#"{"_id": 1, "a": 1}"#, #"{"$pop": {"a": 1}}"#, #"{"error": 14}"#),
    (#"{"_id": 1, "a": [1]}"#, #"{"$pop": {"a": 2}}"#, #"{"error": 9}"#),
    (#"{"_id": 1, "a": [1, 2, 1, 3]}"#, #"{"$pull": {"a": 1}}"#, #"{"_id": 1, "a": [2, 3]}"#),
    (#"{"_id": 1, "a": [1, 5, 8]}"#, #"{"$pull": {"a": {"$gte": 5}}}"#, #"{"_id": 1, "a": [1]}"#),
    (#"{"_id": 1, "a": [{"s": 1, "t": 2}, {"s": 2}]}"#, #"{"$pull": {"a": {"s": 1}}}"#, #"{"_id": 1, "a": [{"s": 2}]}"#),
    (#"{"_id": 1, "a": ["apple", "banana"]}"#, #"{"$pull": {"a": {"$in": ["apple"]}}}"#, #"{"_id": 1, "a": ["banana"]}"#),
    (#"{"_id": 1, "a": [1, 2, 3]}"#, #"{"$pullAll": {"a": [1, 3]}}"#, #"{"_id": 1, "a": [2]}"#),
    (#"{"_id": 1, "a": 1}"#, #"{"$pull": {"a": 1}}"#, #"{"error": 2}"#),
    // $bit
    (#"{"_id": 1, "a": 13}"#, #"{"$bit": {"a": {"and": 10}}}"#, #"{"_id": 1, "a": 8}"#),
    (#"{"_id": 1, "a": 13}"#, #"{"$bit": {"a": {"or": 2}}}"#, #"{"_id": 1, "a": 15}"#),
    (#"{"_id": 1, "a": 13}"#, #"{"$bit": {"a": {"xor": {"$numberLong": "5"}}}}"#, #"{"_id": 1, "a": {"$numberLong": "8"}}"#),
    (#"{"_id": 1, "a": 1.5}"#, #"{"$bit": {"a": {"and": 1}}}"#, #"{"error": 2}"#),
    (#"{"_id": 1, "a": 1}"#, #"{"$bit": {"a": {"nand": 1}}}"#, #"{"error": 2}"#),
    // $[] on arrays
    (#"{"_id": 1, "a": [1, 2]}"#, #"{"$inc": {"a.$[]": 10}}"#, #"{"_id": 1, "a": [11, 12]}"#),
    (#"{"_id": 1, "a": [{"b": 1}, {"b": 2}]}"#, #"{"$set": {"a.$[].c": 0}}"#, #"{"_id": 1, "a": [{"b": 1, "c": 0}, {"b": 2, "c": 0}]}"#),
    (#"{"_id": 1, "a": 5}"#, #"{"$set": {"a.$[]": 0}}"#, #"{"error": 2}"#),
    // Replacement
    (#"{"_id": 1, "a": 1}"#, #"{"b": 2}"#, #"{"_id": 1, "b": 2}"#),
    (#"{"_id": 1, "a": 1}"#, #"{"b": 2, "_id": 1}"#, #"{"_id": 1, "b": 2}"#),
    (#"{"_id": 1, "a": 1}"#, #"{"_id": 2}"#, #"{"error": 66}"#),
    (#"{"_id": 1, "a": 1}"#, #"{}"#, #"{"_id": 1}"#),
    // Pipeline updates
    (#"{"_id": 1, "a": 1, "b": 2}"#, #"[{"$set": {"c": {"$add": ["$a", "$b"]}}}]"#, #"{"_id": 1, "a": 1, "b": 2, "c": 3}"#),
    (#"{"_id": 1, "a": 1, "b": 2}"#, #"[{"$unset": ["a"]}, {"$addFields": {"d.e": "$b"}}]"#, #"{"_id": 1, "b": 2, "d": {"e": 2}}"#),
    (#"{"_id": 1, "a": 1, "b": 2}"#, #"[{"$project": {"a": 1}}]"#, #"{"_id": 1, "a": 1}"#),
    (#"{"_id": 1, "a": {"x": 1}}"#, #"[{"$replaceWith": {"$mergeObjectsMissing": 1}}]"#, #"{"error": 168}"#),
    (#"{"_id": 1, "a": {"_id": 1, "x": 1}}"#, #"[{"$replaceRoot": {"newRoot": "$a"}}]"#, #"{"_id": 1, "x": 1}"#),
    (#"{"_id": 1, "a": {"x": 1}}"#, #"[{"$replaceRoot": {"newRoot": "$a"}}]"#, #"{"_id": 1, "x": 1}"#),
    (#"{"_id": 1, "a": {"_id": 2}}"#, #"[{"$replaceRoot": {"newRoot": "$a"}}]"#, #"{"error": 66}"#),
    (#"{"_id": 1}"#, #"[{"$match": {}}]"#, #"{"error": 72}"#),
    (#"{"_id": 1, "n": 5}"#, #"[{"$set": {"big": {"$cond": [{"$gt": ["$n", 3]}, "yes", "no"]}}}]"#, #"{"_id": 1, "n": 5, "big": "yes"}"#),
]

/// (before, query, update, arrayFilters, after-or-error) for positional and filtered updates.
let positionalCases: [(String, String, String, String, String)] = [
    (#"{"_id": 1, "a": [1, 2, 3]}"#, #"{"a": 2}"#, #"{"$set": {"a.$": 20}}"#, "[]", #"{"_id": 1, "a": [1, 20, 3]}"#),
    (#"{"_id": 1, "a": [{"b": 1}, {"b": 2}]}"#, #"{"a.b": 2}"#, #"{"$set": {"a.$.c": 9}}"#, "[]", #"{"_id": 1, "a": [{"b": 1}, {"b": 2, "c": 9}]}"#),
    (#"{"_id": 1, "a": [{"b": 1, "c": 1}, {"b": 2, "c": 2}]}"#, #"{"a": {"$elemMatch": {"b": 2, "c": 2}}}"#, #"{"$inc": {"a.$.c": 1}}"#, "[]", #"{"_id": 1, "a": [{"b": 1, "c": 1}, {"b": 2, "c": 3}]}"#),
    (#"{"_id": 1, "a": [1, 2]}"#, #"{"_id": 1}"#, #"{"$set": {"a.$": 5}}"#, "[]", #"{"error": 2}"#),
    (#"{"_id": 1, "a": [1, 5, 9]}"#, #"{}"#, #"{"$set": {"a.$[x]": 0}}"#, #"[{"x": {"$gt": 4}}]"#, #"{"_id": 1, "a": [1, 0, 0]}"#),
    (#"{"_id": 1, "a": [{"q": 1}, {"q": 7}]}"#, #"{}"#, #"{"$set": {"a.$[e].hit": true}}"#, #"[{"e.q": {"$gte": 5}}]"#, #"{"_id": 1, "a": [{"q": 1}, {"q": 7, "hit": true}]}"#),
    (#"{"_id": 1, "a": [1]}"#, #"{}"#, #"{"$set": {"a.$[x]": 0}}"#, "[]", #"{"error": 2}"#),
    (#"{"_id": 1, "a": [1]}"#, #"{}"#, #"{"$set": {"a.$[x]": 0}}"#, #"[{"x": 1}, {"y": 2}]"#, #"{"error": 9}"#),
    (#"{"_id": 1, "m": [[1, 2], [3, 4]]}"#, #"{}"#, #"{"$inc": {"m.$[].$[v]": 100}}"#, #"[{"v": {"$gte": 2}}]"#, #"{"_id": 1, "m": [[1, 102], [103, 104]]}"#),
]

/// (filter, update, upserted document): the insert an upsert makes.
let upsertCases: [(String, String, String)] = [
    (#"{"a": 1}"#, #"{"$set": {"b": 2}}"#, #"{"a": 1, "b": 2}"#),
    (#"{"_id": 5, "a": 1}"#, #"{"$inc": {"n": 1}}"#, #"{"_id": 5, "a": 1, "n": 1}"#),
    (#"{"a": {"$eq": 1}, "b": {"$gt": 1}}"#, #"{"$set": {"c": 1}}"#, #"{"a": 1, "c": 1}"#),
    (#"{"$and": [{"a": 1}, {"x.y": 2}]}"#, #"{"$setOnInsert": {"s": true}}"#, #"{"a": 1, "x": {"y": 2}, "s": true}"#),
    (#"{"a": {"$in": [1, 2]}}"#, #"{"$set": {"b": 1}}"#, #"{"b": 1}"#),
    (#"{"a": 1}"#, #"{"z": 9}"#, #"{"z": 9}"#),
]

@Suite struct UpdateTests {
    static func run(_ before: String, _ update: String, query: String = "{}", arrayFilters: String = "[]",
                    upsertInsert: Bool = false) throws -> Result<Document, FolioError> {
        var document = try ExtendedJSON.document(from: before)
        let updateValue = try ExtendedJSON.value(from: JSONValue.parse(update))
        do {
            let spec = try UpdateSpec(parsing: updateValue)
            guard case .array(let filters) = try ExtendedJSON.value(from: JSONValue.parse(arrayFilters)) else { fatalError() }
            let context = UpdateContext(isUpsertInsert: upsertInsert,
                                        query: try MatchExpression(parsing: ExtendedJSON.document(from: query)),
                                        arrayFilters: try ArrayFilters(parsing: filters), now: 0)
            try spec.apply(to: &document, context: context)
            return .success(document)
        } catch let error as FolioError {
            return .failure(error)
        }
    }

    static func check(_ result: Result<Document, FolioError>, _ expected: String) throws -> String? {
        let want = try ExtendedJSON.document(from: expected)
        switch result {
        case .success(let got):
            if let code = want["error"], want.count == 1 { return "expected error \(code), got \(got)" }
            return got == want ? nil : "expected \(want), got \(got)"
        case .failure(let error):
            if let code = want["error"]?.exactInt64, want.count == 1 {
                return error.code.rawValue == code ? nil : "expected code \(code), got \(error)"
            }
            return "expected \(want), got error \(error)"
        }
    }

    @Test func operatorTable() throws {
        var failures: [String] = []
        for (before, update, after) in updateCases {
            if let f = try Self.check(Self.run(before, update), after) { failures.append("\(before) \(update): \(f)") }
        }
        print("update table: \(updateCases.count) cases, \(failures.count) failures")
        for f in failures { print("  FAIL \(f)") }
        #expect(failures.isEmpty)
    }

    @Test func positionalAndArrayFilters() throws {
        var failures: [String] = []
        for (before, query, update, filters, after) in positionalCases {
            if let f = try Self.check(Self.run(before, update, query: query, arrayFilters: filters), after) {
                failures.append("\(before) \(query) \(update): \(f)")
            }
        }
        for f in failures { print("  FAIL \(f)") }
        #expect(failures.isEmpty)
    }

    @Test func upsertSeeding() throws {
        var failures: [String] = []
        for (filter, update, expected) in upsertCases {
            let filterDocument = try ExtendedJSON.document(from: filter)
            var seed = try UpsertSeed.document(from: filterDocument)
            let spec = try UpdateSpec(parsing: ExtendedJSON.value(from: JSONValue.parse(update)))
            if spec.isReplacement {
                seed = Document(seed.filter { $0.key == "_id" }.map { ($0.key, $0.value) })
            }
            try spec.apply(to: &seed, context: UpdateContext(isUpsertInsert: true, now: 0))
            let want = try ExtendedJSON.document(from: expected)
            if seed != want { failures.append("\(filter) \(update): got \(seed), want \(want)") }
        }
        for f in failures { print("  FAIL \(f)") }
        #expect(failures.isEmpty)
    }

    @Test func noOpUpdatesReportUnmodified() throws {
        var d: Document = ["_id": 1, "a": 1]
        #expect(try UpdateSpec(parsing: ["$set": ["a": 1]]).apply(to: &d) == false)
        #expect(try UpdateSpec(parsing: ["$set": ["a": 1.0]]).apply(to: &d) == true)
        #expect(try UpdateSpec(parsing: ["$setOnInsert": ["z": 1]]).apply(to: &d) == false)
    }

    @Test func currentDateUsesTheContextClock() throws {
        var d: Document = ["_id": 1]
        try UpdateSpec(parsing: ["$currentDate": ["d": true, "t": ["$type": "timestamp"]]]).apply(to: &d, context: UpdateContext(now: 5000))
        #expect(d["d"] == .datetime(5000))
        #expect(d["t"] == .timestamp(Timestamp(seconds: 5, increment: 1)))
    }
}
