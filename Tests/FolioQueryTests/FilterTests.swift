import Testing
import FolioBSON
@testable import FolioQuery

/// (document, filter, expected match), written in relaxed Extended JSON. The cases follow
/// MongoDB's documented semantics and the traps in mongodb-surface.md §3.1.
let filterCases: [(String, String, Bool)] = [
    // Equality and implicit array traversal
    (#"{"a": 1}"#, #"{"a": 1}"#, true),
    (#"{"a": 1}"#, #"{"a": 1.0}"#, true),
    (#"{"a": {"$numberLong": "1"}}"#, #"{"a": {"$numberDecimal": "1.00"}}"#, true),
    (#"{"a": 1}"#, #"{"a": "1"}"#, false),
    (#"{"a": [1, 2, 3]}"#, #"{"a": 2}"#, true),
    (#"{"a": [1, 2, 3]}"#, #"{"a": [1, 2, 3]}"#, true),
    (#"{"a": [1, 2, 3]}"#, #"{"a": [1, 2]}"#, false),
    (#"{"a": [[1, 2], 3]}"#, #"{"a": [1, 2]}"#, true),
    (#"{"a": [[1, 2], 3]}"#, #"{"a": 1}"#, false),
    (#"{"a": {"b": 1, "c": 2}}"#, #"{"a": {"b": 1, "c": 2}}"#, true),
    (#"{"a": {"b": 1, "c": 2}}"#, #"{"a": {"c": 2, "b": 1}}"#, false),
    (#"{"a": {"b": 1}}"#, #"{"a.b": 1}"#, true),
    (#"{"a": [{"b": 1}, {"b": 2}]}"#, #"{"a.b": 2}"#, true),
    (#"{"a": [{"b": [1, 2]}, {"b": 3}]}"#, #"{"a.b": 2}"#, true),
    (#"{"a": [{"b": [1, 2]}, {"b": 3}]}"#, #"{"a.b": [1, 2]}"#, true),
    (#"{"a": [[{"b": 1}]]}"#, #"{"a.b": 1}"#, false),
    // Numeric path components: index and field name
    (#"{"a": [10, 20]}"#, #"{"a.1": 20}"#, true),
    (#"{"a": [10, 20]}"#, #"{"a.1": 10}"#, false),
    (#"{"a": {"1": 20}}"#, #"{"a.1": 20}"#, true),
    (#"{"a": [{"b": 5}, {"b": 6}]}"#, #"{"a.0.b": 5}"#, true),
    (#"{"a": [{"b": 5}, {"b": 6}]}"#, #"{"a.0.b": 6}"#, false),
    (#"{"a": [{"0": 7}]}"#, #"{"a.0": 7}"#, true),
    (#"{"a": [[1, 2], [3]]}"#, #"{"a.0": 2}"#, true),
    (#"{"a": [[1, 2], [3]]}"#, #"{"a.0.1": 2}"#, true),
    // null and missing
    (#"{"a": null}"#, #"{"a": null}"#, true),
    (#"{"b": 1}"#, #"{"a": null}"#, true),
    (#"{"a": [1, null]}"#, #"{"a": null}"#, true),
    (#"{"a": [1, 2]}"#, #"{"a": null}"#, false),
    (#"{"a": {"$undefined": true}}"#, #"{"a": null}"#, false),
    (#"{"a": [{"b": 1}, {"c": 2}]}"#, #"{"a.b": null}"#, true),
    (#"{"a": [{"b": 1}]}"#, #"{"a.b": null}"#, false),
    (#"{"a": 5}"#, #"{"a.b": null}"#, true),
    (#"{"a": null}"#, #"{"a": {"$exists": true}}"#, true),
    (#"{"b": 1}"#, #"{"a": {"$exists": false}}"#, true),
    (#"{"a": null}"#, #"{"a": {"$exists": false}}"#, false),
    (#"{"a": [{"c": 1}]}"#, #"{"a.b": {"$exists": true}}"#, false),
    (#"{"a": [{"c": 1}, {"b": 1}]}"#, #"{"a.b": {"$exists": true}}"#, true),
    (#"{"a": []}"#, #"{"a": {"$exists": true}}"#, true),
    (#"{"a": null}"#, #"{"a": {"$type": "null"}}"#, true),
    (#"{"b": 1}"#, #"{"a": {"$type": "null"}}"#, false),
    (#"{"a": null}"#, #"{"a": {"$ne": null}}"#, false),
    (#"{"b": 1}"#, #"{"a": {"$ne": null}}"#, false),
    (#"{"a": 0}"#, #"{"a": {"$ne": null}}"#, true),
    (#"{"b": 1}"#, #"{"a": {"$in": [null]}}"#, true),
    (#"{"b": 1}"#, #"{"a": {"$gte": null}}"#, true),
    (#"{"b": 1}"#, #"{"a": {"$gt": null}}"#, false),
    (#"{"b": 1}"#, #"{"a": {"$lte": null}}"#, true),
    // $ne / $nin with arrays and missing
    (#"{"a": [1, 2]}"#, #"{"a": {"$ne": 1}}"#, false),
    (#"{"a": [1, 2]}"#, #"{"a": {"$ne": 3}}"#, true),
    (#"{"b": 1}"#, #"{"a": {"$ne": 3}}"#, true),
    (#"{"b": 1}"#, #"{"a": {"$nin": [1, 2]}}"#, true),
    (#"{"a": [3, 4]}"#, #"{"a": {"$nin": [1, 4]}}"#, false),
    (#"{"a": [1, 2]}"#, #"{"a": {"$ne": [1, 2]}}"#, false),
    // Comparison and type bracketing
    (#"{"a": 5}"#, #"{"a": {"$gt": 4}}"#, true),
    (#"{"a": 5}"#, #"{"a": {"$gt": 5}}"#, false),
    (#"{"a": 5}"#, #"{"a": {"$gte": 5.0}}"#, true),
    (#"{"a": "6"}"#, #"{"a": {"$gt": 5}}"#, false),
    (#"{"a": 6}"#, #"{"a": {"$gt": "5"}}"#, false),
    (#"{"a": "b"}"#, #"{"a": {"$gt": "a"}}"#, true),
    (#"{"a": "B"}"#, #"{"a": {"$gt": "a"}}"#, false),
    (#"{"a": null}"#, #"{"a": {"$lt": 1}}"#, false),
    (#"{"a": {"$date": "2024-01-02T00:00:00Z"}}"#, #"{"a": {"$gt": {"$date": "2024-01-01T00:00:00Z"}}}"#, true),
    (#"{"a": {"$date": "2024-01-02T00:00:00Z"}}"#, #"{"a": {"$gt": 1}}"#, false),
    (#"{"a": [0, 5]}"#, #"{"a": {"$gt": 1, "$lt": 3}}"#, true),
    (#"{"a": [0, 5]}"#, #"{"a": {"$elemMatch": {"$gt": 1, "$lt": 3}}}"#, false),
    (#"{"a": [0, 2]}"#, #"{"a": {"$elemMatch": {"$gt": 1, "$lt": 3}}}"#, true),
    (#"{"a": {"$numberLong": "9007199254740993"}}"#, #"{"a": {"$gt": 9007199254740992.0}}"#, true),
    (#"{"a": {"$numberDecimal": "0.1"}}"#, #"{"a": {"$lt": 0.1}}"#, true),
    (#"{"a": {"$numberDouble": "NaN"}}"#, #"{"a": {"$numberDouble": "NaN"}}"#, true),
    (#"{"a": {"$numberDouble": "NaN"}}"#, #"{"a": {"$lt": 0}}"#, false),
    (#"{"a": {"$numberDouble": "NaN"}}"#, #"{"a": {"$gte": {"$numberDouble": "NaN"}}}"#, true),
    (#"{"a": 1}"#, #"{"a": {"$gt": {"$numberDouble": "NaN"}}}"#, false),
    (#"{"a": {"$numberDouble": "-0.0"}}"#, #"{"a": 0}"#, true),
    (#"{"a": "x"}"#, #"{"a": {"$gt": {"$minKey": 1}}}"#, true),
    (#"{"a": {"x": 1}}"#, #"{"a": {"$lt": {"$maxKey": 1}}}"#, true),
    (#"{"a": [1, [2, 3]]}"#, #"{"a": {"$gt": [2]}}"#, true),
    (#"{"a": {"b": 2}}"#, #"{"a": {"$gt": {"b": 1}}}"#, true),
    (#"{"a": "abc"}"#, #"{"a": {"$symbol": "abc"}}"#, true),
    // $in
    (#"{"a": 2}"#, #"{"a": {"$in": [1, 2]}}"#, true),
    (#"{"a": [5, 2]}"#, #"{"a": {"$in": [1, 2]}}"#, true),
    (#"{"a": 3}"#, #"{"a": {"$in": []}}"#, false),
    (#"{"a": "apple"}"#, #"{"a": {"$in": [{"$regularExpression": {"pattern": "^ap", "options": ""}}]}}"#, true),
    (#"{"a": [1, 2]}"#, #"{"a": {"$in": [[1, 2]]}}"#, true),
    (#"{"a": 1}"#, #"{"a": {"$in": [1.0, "x"]}}"#, true),
    // Logical
    (#"{"a": 1, "b": 2}"#, #"{"$and": [{"a": 1}, {"b": 2}]}"#, true),
    (#"{"a": 1, "b": 2}"#, #"{"$or": [{"a": 2}, {"b": 2}]}"#, true),
    (#"{"a": 1, "b": 2}"#, #"{"$nor": [{"a": 2}, {"b": 3}]}"#, true),
    (#"{"a": 1, "b": 2}"#, #"{"$nor": [{"a": 1}]}"#, false),
    (#"{"a": 5}"#, #"{"a": {"$not": {"$gt": 6}}}"#, true),
    (#"{"b": 5}"#, #"{"a": {"$not": {"$gt": 6}}}"#, true),
    (#"{"a": [1, 9]}"#, #"{"a": {"$not": {"$gt": 6}}}"#, false),
    (#"{"a": "xyz"}"#, #"{"a": {"$not": {"$regularExpression": {"pattern": "^x", "options": ""}}}}"#, false),
    (#"{"a": 1}"#, #"{}"#, true),
    (#"{"a": 1}"#, #"{"a": 1, "$comment": "why"}"#, true),
    // $exists, $type
    (#"{"a": 1}"#, #"{"a": {"$type": "int"}}"#, true),
    (#"{"a": 1}"#, #"{"a": {"$type": 16}}"#, true),
    (#"{"a": 1.5}"#, #"{"a": {"$type": "number"}}"#, true),
    (#"{"a": "s"}"#, #"{"a": {"$type": ["int", "string"]}}"#, true),
    (#"{"a": [1]}"#, #"{"a": {"$type": "array"}}"#, true),
    (#"{"a": [1]}"#, #"{"a": {"$type": "int"}}"#, true),
    (#"{"a": []}"#, #"{"a": {"$type": "int"}}"#, false),
    (#"{"a": {"$minKey": 1}}"#, #"{"a": {"$type": -1}}"#, true),
    (#"{"a": {"$numberLong": "1"}}"#, #"{"a": {"$type": "long"}}"#, true),
    // $regex
    (#"{"a": "Hello"}"#, #"{"a": {"$regex": "^hel", "$options": "i"}}"#, true),
    (#"{"a": "Hello"}"#, #"{"a": {"$regex": "^hel"}}"#, false),
    (#"{"a": "line1\nline2"}"#, #"{"a": {"$regex": "^line2", "$options": "m"}}"#, true),
    (#"{"a": "line1\nline2"}"#, #"{"a": {"$regex": "^line2"}}"#, false),
    (#"{"a": "a\nb"}"#, #"{"a": {"$regex": "a.b", "$options": "s"}}"#, true),
    (#"{"a": "ab"}"#, #"{"a": {"$regex": "a # comment\n b", "$options": "x"}}"#, true),
    (#"{"a": ["x", "yes"]}"#, #"{"a": {"$regularExpression": {"pattern": "^y", "options": ""}}}"#, true),
    (#"{"a": 5}"#, #"{"a": {"$regex": "5"}}"#, false),
    (#"{"a": "café"}"#, #"{"a": {"$regex": "^caf.$"}}"#, true),
    (#"{"a": "ÉCOLE"}"#, #"{"a": {"$regex": "école", "$options": "i"}}"#, true),
    (#"{"a": "price: 100"}"#, #"{"a": {"$regex": "(?<=price: )\\d+"}}"#, true),
    (#"{"a": "foobar"}"#, #"{"a": {"$regex": "foo(?!bar)"}}"#, false),
    (#"{"a": {"$symbol": "sym"}}"#, #"{"a": {"$regex": "^s"}}"#, true),
    (#"{"a": {"$regularExpression": {"pattern": "x", "options": "i"}}}"#, #"{"a": {"$regularExpression": {"pattern": "x", "options": "i"}}}"#, true),
    // $mod
    (#"{"a": 10}"#, #"{"a": {"$mod": [3, 1]}}"#, true),
    (#"{"a": 10.9}"#, #"{"a": {"$mod": [3, 1]}}"#, true),
    (#"{"a": -10}"#, #"{"a": {"$mod": [3, -1]}}"#, true),
    (#"{"a": "10"}"#, #"{"a": {"$mod": [3, 1]}}"#, false),
    (#"{"a": [4, 10]}"#, #"{"a": {"$mod": [3, 1]}}"#, true),
    // $all, $size, $elemMatch
    (#"{"a": [1, 2, 3]}"#, #"{"a": {"$all": [1, 3]}}"#, true),
    (#"{"a": [1, 2, 3]}"#, #"{"a": {"$all": [1, 4]}}"#, false),
    (#"{"a": [1, 2, 3]}"#, #"{"a": {"$all": []}}"#, false),
    (#"{"a": 1}"#, #"{"a": {"$all": [1]}}"#, true),
    (#"{"a": [[1, 2]]}"#, #"{"a": {"$all": [[1, 2]]}}"#, true),
    (#"{"a": [{"b": 1}, {"b": 5}]}"#, #"{"a": {"$all": [{"$elemMatch": {"b": {"$gt": 4}}}, {"$elemMatch": {"b": 1}}]}}"#, true),
    (#"{"a": [1, 2]}"#, #"{"a": {"$size": 2}}"#, true),
    (#"{"a": [1, 2]}"#, #"{"a": {"$size": 1}}"#, false),
    (#"{"a": [[1, 2]]}"#, #"{"a": {"$size": 2}}"#, false),
    (#"{"a": 1}"#, #"{"a": {"$size": 1}}"#, false),
    (#"{"a": []}"#, #"{"a": {"$size": 0}}"#, true),
    (#"{"a": [{"b": 1, "c": 2}, {"b": 2, "c": 1}]}"#, #"{"a": {"$elemMatch": {"b": 1, "c": 1}}}"#, false),
    (#"{"a": [{"b": 1, "c": 2}, {"b": 2, "c": 1}]}"#, #"{"a": {"$elemMatch": {"b": 2, "c": 1}}}"#, true),
    (#"{"a": [{"b": 1, "c": 2}, {"b": 2, "c": 1}]}"#, #"{"a.b": 1, "a.c": 1}"#, true),
    (#"{"a": [{"b": [1, 2]}]}"#, #"{"a": {"$elemMatch": {"b": 2}}}"#, true),
    (#"{"a": {"b": 1}}"#, #"{"a": {"$elemMatch": {"b": 1}}}"#, false),
    (#"{"a": [[1, 2], [3]]}"#, #"{"a": {"$elemMatch": {"$elemMatch": {"$gt": 2}}}}"#, true),
    (#"{"a": [1, 2]}"#, #"{"a": {"$elemMatch": {"$ne": 1}}}"#, true),
    (#"{"a": [1, 1]}"#, #"{"a": {"$elemMatch": {"$ne": 1}}}"#, false),
    (#"{"a": [{"b": {"c": 1}}]}"#, #"{"a": {"$elemMatch": {"b.c": 1}}}"#, true),
    (#"{"a": [{"b": 1}, {"b": 3}]}"#, #"{"a": {"$elemMatch": {"$or": [{"b": 3}, {"b": 4}]}}}"#, true),
    // Bitwise
    (#"{"a": 54}"#, #"{"a": {"$bitsAllSet": [1, 2, 4, 5]}}"#, true),
    (#"{"a": 54}"#, #"{"a": {"$bitsAllSet": 50}}"#, true),
    (#"{"a": 54}"#, #"{"a": {"$bitsAllSet": [0]}}"#, false),
    (#"{"a": 54}"#, #"{"a": {"$bitsAllClear": [0, 3]}}"#, true),
    (#"{"a": 54}"#, #"{"a": {"$bitsAnySet": [0, 1]}}"#, true),
    (#"{"a": 54}"#, #"{"a": {"$bitsAnyClear": [1, 2]}}"#, false),
    (#"{"a": -1}"#, #"{"a": {"$bitsAllSet": [63]}}"#, true),
    (#"{"a": 2.5}"#, #"{"a": {"$bitsAnySet": [1]}}"#, false),
    (#"{"a": {"$binary": {"base64": "AQ==", "subType": "00"}}}"#, #"{"a": {"$bitsAllSet": [0]}}"#, true),
    (#"{"a": "x"}"#, #"{"a": {"$bitsAllClear": [0]}}"#, false),
    // $expr
    (#"{"a": 5, "b": 3}"#, #"{"$expr": {"$gt": ["$a", "$b"]}}"#, true),
    (#"{"a": 5, "b": 3}"#, #"{"$expr": {"$lt": ["$a", "$b"]}}"#, false),
    (#"{"a": 5}"#, #"{"$expr": {"$eq": [{"$add": ["$a", 1]}, 6]}}"#, true),
    (#"{"a": 5}"#, #"{"$expr": {"$gt": ["$missing", null]}}"#, false),
    (#"{"a": "x"}"#, #"{"$expr": {"$gt": ["$a", 5]}}"#, true),
    (#"{"a": [1, 2]}"#, #"{"$expr": {"$in": [2, "$a"]}}"#, true),
    // $jsonSchema
    (#"{"name": "x", "age": 30}"#, #"{"$jsonSchema": {"required": ["name"], "properties": {"age": {"bsonType": "int", "minimum": 18}}}}"#, true),
    (#"{"name": "x", "age": 3}"#, #"{"$jsonSchema": {"required": ["name"], "properties": {"age": {"bsonType": "int", "minimum": 18}}}}"#, false),
    (#"{"age": 30}"#, #"{"$jsonSchema": {"required": ["name"]}}"#, false),
    (#"{"a": 1, "b": 2}"#, #"{"$jsonSchema": {"properties": {"a": {}}, "additionalProperties": false}}"#, false),
    (#"{"s": "abc"}"#, #"{"$jsonSchema": {"properties": {"s": {"type": "string", "maxLength": 2}}}}"#, false),
    (#"{"s": "abc"}"#, #"{"$jsonSchema": {"properties": {"s": {"enum": ["abc", "d"]}}}}"#, true),
    // Documents, arrays of documents, dotted equality on embedded document
    (#"{"a": {"b": {"c": 1}}}"#, #"{"a.b": {"c": 1}}"#, true),
    (#"{"a": [{"b": {"c": 1}}, {"b": {"c": 2}}]}"#, #"{"a.b.c": 2}"#, true),
    (#"{"a": {"b": [{"c": [5]}]}}"#, #"{"a.b.c": 5}"#, true),
    (#"{"_id": {"$oid": "507f1f77bcf86cd799439011"}}"#, #"{"_id": {"$oid": "507f1f77bcf86cd799439011"}}"#, true),
    (#"{"t": true}"#, #"{"t": 1}"#, false),
    (#"{"b": {"$binary": {"base64": "AQI=", "subType": "00"}}}"#, #"{"b": {"$binary": {"base64": "AQI=", "subType": "00"}}}"#, true),
]

/// (filter, error code) for filters that must be rejected at parse time.
let filterErrors: [(String, Int32)] = [
    (#"{"a": {"$foo": 1}}"#, 2),
    (#"{"$foo": 1}"#, 2),
    (#"{"$and": []}"#, 2),
    (#"{"$or": {}}"#, 2),
    (#"{"$nor": [1]}"#, 2),
    (#"{"a": {"$in": 1}}"#, 2),
    (#"{"a": {"$nin": {"x": 1}}}"#, 2),
    (#"{"a": {"$size": "1"}}"#, 2),
    (#"{"a": {"$size": 1.5}}"#, 2),
    (#"{"a": {"$size": -1}}"#, 2),
    (#"{"a": {"$type": "nonsense"}}"#, 2),
    (#"{"a": {"$type": 99}}"#, 2),
    (#"{"a": {"$mod": [0, 1]}}"#, 2),
    (#"{"a": {"$mod": [1]}}"#, 2),
    (#"{"a": {"$mod": [1, 2, 3]}}"#, 2),
    (#"{"a": {"$mod": 5}}"#, 2),
    (#"{"a": {"$regex": 5}}"#, 2),
    (#"{"a": {"$options": "i"}}"#, 2),
    (#"{"a": {"$regex": "("}}"#, 51091),
    (#"{"a": {"$regex": "a", "$options": "q"}}"#, 51108),
    (#"{"a": {"$not": 5}}"#, 2),
    (#"{"a": {"$not": {}}}"#, 2),
    (#"{"a": {"$elemMatch": 1}}"#, 2),
    (#"{"a": {"$all": 1}}"#, 2),
    (#"{"a": {"$bitsAllSet": -1}}"#, 2),
    (#"{"a": {"$bitsAllSet": "x"}}"#, 2),
    (#"{"$where": "this.a == 1"}"#, 115),
    (#"{"$text": "x"}"#, 2),
    (#"{"$text": {}}"#, 9),
    (#"{"$text": {"$search": "x", "$nosuch": 1}}"#, 2),
    (#"{"$nor": [{"$text": {"$search": "x"}}]}"#, 2),
    (#"{"a": {"$elemMatch": {"$text": {"$search": "x"}}}}"#, 2),
    (#"{"$expr": {"$nosuch": 1}}"#, 168),
    (#"{"$expr": "$$undefinedVariable"}"#, 17276),
    (#"{"$jsonSchema": {"nosuch": 1}}"#, 9),
]

@Suite struct FilterTests {
    @Test func everyCaseOfTheTable() throws {
        var failures: [String] = []
        for (doc, filter, expected) in filterCases {
            let document = try ExtendedJSON.document(from: doc)
            let expression = try MatchExpression(parsing: ExtendedJSON.document(from: filter))
            let got = expression.matches(document.raw)
            if got != expected { failures.append("\(doc) with \(filter): expected \(expected), got \(got)") }
            // The compiled filter (fast program + general rest) must agree with the tree.
            let compiled = Filter(expression).matches(document.raw)
            if compiled != expected { failures.append("compiled \(doc) with \(filter): expected \(expected), got \(compiled)") }
        }
        print("filter table: \(filterCases.count) cases, \(failures.count) failures")
        for f in failures { print("  FAIL \(f)") }
        #expect(failures.isEmpty)
    }

    @Test func parseErrorsCarryMongoDBCodes() throws {
        var failures: [String] = []
        for (filter, code) in filterErrors {
            do {
                _ = try MatchExpression(parsing: ExtendedJSON.document(from: filter))
                failures.append("\(filter): accepted")
            } catch let error as FolioError {
                if error.code.rawValue != code { failures.append("\(filter): code \(error.code.rawValue) (\(error.message)), wanted \(code)") }
            }
        }
        print("filter errors: \(filterErrors.count) cases, \(failures.count) failures")
        for f in failures { print("  FAIL \(f)") }
        #expect(failures.isEmpty)
    }

    @Test func unknownOperatorMessage() throws {
        do {
            _ = try MatchExpression(parsing: ["a": ["$foo": 1]])
            Issue.record("accepted")
        } catch ErrorCode.badValue {
            // matched through ErrorCode's pattern
        }
        #expect(throws: FolioError.self) { try MatchExpression(parsing: ["a": ["$foo": 1]]) }
    }
}

@Suite struct IndexablePredicateTests {
    @Test func planerSeesEqualitiesRangesListsAndPrefixes() throws {
        let e = try MatchExpression(parsing: ExtendedJSON.document(from:
            #"{"a": 5, "b": {"$gt": 1, "$lte": 9}, "c": {"$in": [1, 2]}, "d": {"$regex": "^abc"}, "e": {"$ne": 3}, "$and": [{"f": {"$exists": true}}]}"#))
        let byPath = Dictionary(uniqueKeysWithValues: e.indexablePredicates.map { ($0.0.dotted, $0.1) })
        #expect(Set(byPath.keys) == ["a", "b", "c", "d", "f"])
        if case .equality(let v)? = byPath["a"]?.first { #expect(v == .int32(5)) } else { Issue.record("a") }
        #expect(byPath["b"]?.count == 2)
        if case .inList(let l)? = byPath["c"]?.first { #expect(l.count == 2) } else { Issue.record("c") }
        if case .regexPrefix(let p)? = byPath["d"]?.first { #expect(p == "abc") } else { Issue.record("d") }
        // Case-insensitive or unanchored regexes give no prefix.
        let unanchored = try MatchExpression(parsing: ["d": ["$regex": "abc", "$options": "i"]])
        #expect(unanchored.indexablePredicates.isEmpty)
    }
}
