import Testing
import FolioBSON
import FolioQuery
@testable import FolioText

@Suite struct TextIndexSpecTests {
    @Test func normalizeGivesMongoDBsStoredForm() throws {
        let spec = try TextIndexSpec.normalize(["key": ["title": "text", "body": "text"], "name": "t", "weights": ["title": 10.7]])
        #expect(spec == ["key": ["_fts": "text", "_ftsx": .int32(1)], "name": "t", "weights": ["body": .int32(1), "title": .int32(10)],
                         "default_language": "english", "language_override": "language", "textIndexVersion": .int32(3)])
        let compound = try TextIndexSpec.normalize(["key": ["tenant": 1, "body": "text", "at": -1], "name": "c",
                                                     "default_language": "es", "language_override": "lang"])
        #expect(compound["key"] == ["tenant": 1, "_fts": "text", "_ftsx": .int32(1), "at": -1])
        #expect(compound["default_language"] == "es" && compound["language_override"] == "lang")
        let parsed = try TextIndexSpec(normalized: compound)
        #expect(parsed.extraBefore == ["tenant"] && parsed.extraAfter == ["at"] && parsed.defaultLanguage.name == "spanish")
        let all = try TextIndexSpec(normalized: TextIndexSpec.normalize(["key": ["$**": "text"], "name": "w"]))
        #expect(all.wildcard && all.weights.isEmpty)
    }

    @Test func badSpecificationsAnswerMongoDBsErrors() {
        func message(_ spec: Document) -> String? {
            do { _ = try TextIndexSpec.normalize(spec); return nil } catch { return error.code == .cannotCreateIndex ? error.message : "\(error)" }
        }
        #expect(message(["key": ["a": "text", "b": 1, "c": "text"]]) == "'text' fields in index must all be adjacent")
        #expect(message(["key": ["a": "text"], "weights": ["a": 0]]) == "text index weight must be in the exclusive interval (0,100000) but found: 0")
        #expect(message(["key": ["a": "text"], "weights": ["a": "x"]]) == "weight for text index needs numeric type")
        #expect(message(["key": ["a": "text"], "weights": 3]) == "text index option 'weights' must be an object")
        #expect(message(["key": ["a": "text"], "default_language": "klingon"]) == "default_language is not valid")
        #expect(message(["key": ["a": "text"], "language_override": "$x"]) == "language_override is not valid")
        #expect(message(["key": ["_fts": 1, "a": "text"]]) == "expecting _fts:\"text\"")
        #expect(message(["key": ["a": "text", "b": 2]]) == "expected value 1 or -1 for non-text key in compound index")
        #expect(message(["key": ["a": "text"], "weights": ["a.$b": 2]]) == "weight cannot have path component with $ prefix")
        #expect(message(["key": ["a": "text"], "textIndexVersion": 4]) == "bad textIndexVersion: 4")
    }

    /// Scores worked out by hand from MongoDB's formula: weight × freq × (0.5 + 0.5·count/tokens)
    /// × (1.1 when the term is the whole field), freq adding 1, 1/2, 1/4, ... per repeat.
    @Test func scoresFollowMongoDBsFormula() throws {
        let spec = try TextIndexSpec(normalized: TextIndexSpec.normalize(["key": ["title": "text", "body": "text"], "weights": ["title": 3]]))
        #expect(try spec.termScores(["title": "shop"]) == ["shop": 3 * 1.1])
        let s = try spec.termScores(["body": "coffee coffee shop"])
        #expect(s["coffe"] == 1 * 1.5 * (0.5 * 2 / 3 + 0.5))
        #expect(s["shop"] == 1 * 1.0 * (0.5 * 1 / 3 + 0.5))
        // The same term in two fields adds up; unindexed fields and non-strings count for nothing.
        let both = try spec.termScores(["title": "Shop", "body": "shop", "other": "shop", "n": 5])
        #expect(both == ["shop": 3 * 1.1 + 1 * 1.1])
        // Arrays of strings and a language override per document.
        let es = try spec.termScores(["body": ["corriendo"], "language": "spanish"])
        #expect(es == ["corr": 1.0])
        #expect(throws: FolioError.self) { try spec.termScores(["body": "x", "language": "klingon"]) }
        #expect(throws: FolioError.self) { try spec.termScores(["body": "x", "language": 3]) }
    }

    @Test func nestedFieldsAndTheWildcard() throws {
        let nested = try TextIndexSpec(normalized: TextIndexSpec.normalize(["key": ["a.b": "text"]]))
        #expect(try nested.termScores(["a": ["b": "shop", "c": "cafe"]]) == ["shop": 1.1])
        #expect(try nested.termScores(["a": [["b": "shop"], ["b": "shop"]]]) == ["shop": 2.2])
        let all = try TextIndexSpec(normalized: TextIndexSpec.normalize(["key": ["$**": "text"], "weights": ["t": 5]]))
        #expect(try all.termScores(["t": "shop", "x": ["y": "cafe"]]) == ["shop": 5.5, "cafe": 1.1])
    }
}
