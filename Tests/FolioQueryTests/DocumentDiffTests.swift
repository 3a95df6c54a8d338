import Testing
import FolioBSON
@testable import FolioQuery

/// Update diffs in MongoDB's `$v: 2` form (DocumentDiff.swift) and the change-stream
/// `updateDescription` made from them.
@Suite struct DocumentDiffTests {
    @Test func equalDocumentsHaveNoDiff() {
        let d: Document = ["_id": 1, "a": ["b": [1, 2]]]
        #expect(DocumentDiff.compute(d, d) == nil)
        // Types count: 1 (int32) and 1.0 (double) are different values to store.
        #expect(DocumentDiff.compute(["a": .int32(1)], ["a": .double(1)]) == ["u": ["a": .double(1)]])
    }

    @Test func fieldsRemovedChangedAddedAndNested() throws {
        let before: Document = ["_id": 1, "gone": true, "a": 1, "sub": ["x": 1, "y": 2]]
        let after: Document = ["_id": 1, "a": 2, "sub": ["x": 1, "y": 3], "new": "v"]
        let diff = try #require(DocumentDiff.compute(before, after))
        #expect(diff == ["d": ["gone": false], "u": ["a": 2], "i": ["new": "v"], "ssub": ["u": ["y": 3]]])
        let description = DocumentDiff.updateDescription(diff, disambiguate: false)
        #expect(description == ["updatedFields": ["a": 2, "new": "v", "sub.y": 3], "removedFields": ["gone"], "truncatedArrays": []])
    }

    @Test func arraysShrinkGrowAndChangeInPlace() throws {
        let diff = try #require(DocumentDiff.compute(["a": [1, 2, 3], "b": [1]], ["a": [1, 9], "b": [1, ["k": 1]]]))
        #expect(diff == ["sa": ["a": true, "l": .int32(2), "u1": 9], "sb": ["a": true, "u1": ["k": 1]]])
        let description = DocumentDiff.updateDescription(diff, disambiguate: false)
        #expect(description["updatedFields"] == ["a.1": 9, "b.1": ["k": 1]])
        #expect(description["truncatedArrays"] == [["field": "a", "newSize": .int32(2)]])
    }

    @Test func ambiguousPathsAreSpelledOutWhenAsked() throws {
        // A field named "1" in an object and an array index print the same when dotted.
        let object = try #require(DocumentDiff.compute(["a": ["1": 1]], ["a": ["1": 2]]))
        #expect(DocumentDiff.updateDescription(object, disambiguate: true)["disambiguatedPaths"] == ["a.1": ["a", "1"]])
        #expect(DocumentDiff.updateDescription(object, disambiguate: false)["disambiguatedPaths"] == nil)
        let inArray = try #require(DocumentDiff.compute(["a": [["1": 1]]], ["a": [["1": 2]]]))
        #expect(DocumentDiff.updateDescription(inArray, disambiguate: true)["disambiguatedPaths"] == ["a.0.1": ["a", .int32(0), "1"]])
        // An array index alone is not ambiguous.
        let plain = try #require(DocumentDiff.compute(["a": [1]], ["a": [2]]))
        #expect(DocumentDiff.updateDescription(plain, disambiguate: true)["disambiguatedPaths"] == [:])
        // A dotted field name is.
        let dotted = try #require(DocumentDiff.compute(["a.b": 1], ["a.b": 2]))
        #expect(DocumentDiff.updateDescription(dotted, disambiguate: true)["disambiguatedPaths"] == ["a.b": ["a.b"]])
    }
}
