import Testing
import FolioBSON
@testable import FolioQuery

/// (document, projection, expected or {"error": code}) in relaxed Extended JSON.
let projectionCases: [(String, String, String)] = [
    (#"{"_id": 1, "a": 1, "b": 2}"#, #"{"a": 1}"#, #"{"_id": 1, "a": 1}"#),
    (#"{"_id": 1, "a": 1, "b": 2}"#, #"{"a": 1, "_id": 0}"#, #"{"a": 1}"#),
    (#"{"_id": 1, "a": 1, "b": 2}"#, #"{"a": 0}"#, #"{"_id": 1, "b": 2}"#),
    (#"{"_id": 1, "a": 1, "b": 2}"#, #"{"_id": 0}"#, #"{"a": 1, "b": 2}"#),
    (#"{"_id": 1, "b": 2, "a": 1}"#, #"{"a": true, "b": true}"#, #"{"_id": 1, "b": 2, "a": 1}"#),
    (#"{"_id": 1, "a": {"b": 1, "c": 2}}"#, #"{"a.b": 1}"#, #"{"_id": 1, "a": {"b": 1}}"#),
    (#"{"_id": 1, "a": {"b": 1, "c": 2}}"#, #"{"a.b": 0}"#, #"{"_id": 1, "a": {"c": 2}}"#),
    (#"{"_id": 1, "a": [{"b": 1, "c": 2}, {"b": 3}, 5]}"#, #"{"a.b": 1}"#, #"{"_id": 1, "a": [{"b": 1}, {"b": 3}]}"#),
    (#"{"_id": 1, "a": {"c": 1}}"#, #"{"a.b": 1}"#, #"{"_id": 1, "a": {}}"#),
    (#"{"_id": 1, "a": 1}"#, #"{"a": 1, "b": 0}"#, #"{"error": 31254}"#),
    (#"{"_id": 1, "a": 1}"#, #"{"a": 0, "b": 1}"#, #"{"error": 31253}"#),
    (#"{"_id": 1, "a": 1}"#, #"{"a": 1, "a.b": 1}"#, #"{"error": 31249}"#),
    (#"{"_id": 1, "a": 1}"#, #"{"a.b": 1, "a": 1}"#, #"{"error": 31250}"#),
    (#"{"_id": 1, "a": [1, 2, 3, 4]}"#, #"{"a": {"$slice": 2}}"#, #"{"_id": 1, "a": [1, 2]}"#),
    (#"{"_id": 1, "a": [1, 2, 3, 4]}"#, #"{"a": {"$slice": -1}}"#, #"{"_id": 1, "a": [4]}"#),
    (#"{"_id": 1, "a": [1, 2, 3, 4], "b": 1}"#, #"{"a": {"$slice": [1, 2]}}"#, #"{"_id": 1, "a": [2, 3], "b": 1}"#),
    (#"{"_id": 1, "a": [1, 2, 3, 4], "b": 1}"#, #"{"a": {"$slice": [1, 2]}, "b": 1}"#, #"{"_id": 1, "a": [2, 3], "b": 1}"#),
    (#"{"_id": 1, "a": [{"x": 1}, {"x": 2}]}"#, #"{"a": {"$elemMatch": {"x": 2}}}"#, #"{"_id": 1, "a": [{"x": 2}]}"#),
    (#"{"_id": 1, "a": [{"x": 1}]}"#, #"{"a": {"$elemMatch": {"x": 5}}}"#, #"{"_id": 1}"#),
    (#"{"_id": 1, "a": 1, "b": 2}"#, #"{"s": {"$add": ["$a", "$b"]}}"#, #"{"_id": 1, "s": 3}"#),
    (#"{"_id": 1, "a": 1}"#, #"{"a": 1, "lit": "text"}"#, #"{"_id": 1, "a": 1, "lit": "text"}"#),
    (#"{"_id": 1, "a": 1}"#, #"{"x": {"$literal": 1}}"#, #"{"_id": 1, "x": 1}"#),
    (#"{"_id": 1, "n": {"f": "A"}}"#, #"{"full": "$n.f", "_id": 0}"#, #"{"full": "A"}"#),
    (#"{"_id": 1, "a": 1}"#, #"{}"#, #"{"_id": 1, "a": 1}"#),
    (#"{"_id": 1, "a": 1}"#, #"{"a": {"$nope": 1}}"#, #"{"error": 168}"#),
]

@Suite struct ProjectionTests {
    @Test func projectionTable() throws {
        var failures: [String] = []
        for (doc, spec, expected) in projectionCases {
            let document = try ExtendedJSON.document(from: doc)
            let want = try ExtendedJSON.document(from: expected)
            do {
                let got = try Projection(parsing: ExtendedJSON.document(from: spec)).apply(to: document)
                if let code = want["error"], want.count == 1 { failures.append("\(spec): expected error \(code), got \(got)"); continue }
                if got != want { failures.append("\(spec): got \(got), want \(want)") }
            } catch let error as FolioError {
                if want["error"]?.exactInt64 != Int64(error.code.rawValue) { failures.append("\(spec): got error \(error)") }
            }
        }
        print("projection table: \(projectionCases.count) cases, \(failures.count) failures")
        for f in failures { print("  FAIL \(f)") }
        #expect(failures.isEmpty)
    }

    @Test func positionalProjection() throws {
        let doc = try ExtendedJSON.document(from: #"{"_id": 1, "a": [{"b": 1}, {"b": 2}, {"b": 3}]}"#)
        let query = try MatchExpression(parsing: ["a.b": ["$gt": 1]])
        let got = try Projection(parsing: ["a.$": 1]).apply(to: doc, query: query)
        #expect(got == (try ExtendedJSON.document(from: #"{"_id": 1, "a": [{"b": 2}]}"#)))
    }

    @Test func sortKeysFollowArrayRules() throws {
        let spec = try SortSpec(parsing: ["a": 1])
        let docs = try [#"{"a": [3, 1]}"#, #"{"a": 2}"#, #"{"b": 1}"#, #"{"a": []}"#].map { try ExtendedJSON.document(from: $0) }
        let sorted = docs.sorted { spec.compare(spec.sortKey(for: $0), spec.sortKey(for: $1)) < 0 }
        #expect(sorted.map { $0.description } == [#"{"a": []}"#, #"{"b": 1}"#, #"{"a": [3, 1]}"#, #"{"a": 2}"#])
        let descending = try SortSpec(parsing: ["a": -1])
        #expect(descending.sortKey(for: docs[0]) == [.int32(3)])
        #expect(throws: FolioError.self) { try SortSpec(parsing: ["a": 2]) }
    }
}
