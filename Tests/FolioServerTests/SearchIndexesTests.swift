import Testing
import FolioBSON
import FolioQuery
@testable import FolioServer

/// createSearchIndexes, updateSearchIndex, dropSearchIndex (Commands/SearchIndexes.swift) and
/// the $listSearchIndexes stage: replies as the drivers read them, and the argument checks.
@Suite struct SearchIndexesTests {
    static let definition: Document = ["fields": [["type": "vector", "path": "v", "numDimensions": 2, "similarity": "cosine"]]]

    @Test func lifecycle() throws {
        let s = try TestServer()
        _ = s.run(["insert": "c", "documents": [["_id": 1, "v": [1, 0]], ["_id": 2, "v": [0, 1]]]])
        let created = s.run(["createSearchIndexes": "c", "indexes": [["name": "vec", "type": "vectorSearch", "definition": .document(Self.definition)]]])
        let entry = created["indexesCreated"]?.arrayValue?.first?.documentValue
        #expect(entry?["name"] == "vec", "\(created)")
        guard case .string(let id)? = entry?["id"] else { Issue.record("no id: \(created)"); return }
        #expect(id.count == 24)
        let listed = (s.firstBatch(s.run(["aggregate": "c", "pipeline": [["$listSearchIndexes": ["name": "vec"]]], "cursor": [:]])) ?? [])
            .compactMap(\.documentValue)
        #expect(listed.count == 1 && listed.first?["id"] == .string(id) && listed.first?["status"] == "READY")
        let found = s.firstBatch(s.run(["aggregate": "c", "pipeline": [["$vectorSearch": ["index": "vec", "path": "v", "queryVector": [0.9, 0.1],
                                                                                        "numCandidates": 10, "limit": 1]],
                                                                      ["$project": ["s": ["$meta": "vectorSearchScore"]]]], "cursor": [:]]))?
            .compactMap(\.documentValue) ?? []
        #expect(found.count == 1 && found.first?["_id"] == 1)
        #expect(s.run(["updateSearchIndex": "c", "id": .string(id), "definition": .document(Self.definition)])["ok"] == .double(1))
        #expect(s.run(["dropSearchIndex": "c", "name": "vec"])["ok"] == .double(1))
        #expect(s.run(["dropSearchIndex": "c", "name": "vec"])["code"] == .int32(27))
    }

    @Test(arguments: [
        (["createSearchIndexes": "c"], 40414),
        (["createSearchIndexes": "c", "indexes": 1], 14),
        (["createSearchIndexes": "c", "indexes": [1]], 14),
        (["createSearchIndexes": "c", "indexes": [["name": "x", "type": "vectorSearch"]]], 40414),
        (["createSearchIndexes": "c", "indexes": [["name": "x", "type": "vectorSearch", "definition": 1]]], 14),
        (["createSearchIndexes": "c", "indexes": [["name": "x", "type": "vectorSearch", "definition": [:], "extra": 1]]], 40415),
        (["createSearchIndexes": "c", "indexes": [["name": "x", "definition": ["mappings": ["dynamic": true]]]]], 115),
        (["createSearchIndexes": "c", "indexes": [["name": "x", "type": "other", "definition": [:]]]], 2),
        (["createSearchIndexes": "missing", "indexes": [["type": "vectorSearch", "definition": .document(definition)]]], 26),
        (["updateSearchIndex": "c", "name": "x"], 40414),
        (["updateSearchIndex": "c", "definition": [:]], 72),
        (["dropSearchIndex": "c"], 72),
        (["dropSearchIndex": "c", "name": 5], 14),
        (["dropSearchIndex": "c", "name": "x", "id": "y"], 72),
        (["aggregate": "c", "pipeline": [["$listSearchIndexes": ["name": "a", "id": "b"]]], "cursor": [:]], 72),
        (["aggregate": "c", "pipeline": [["$listSearchIndexes": ["bogus": "a"]]], "cursor": [:]], 40415),
        (["aggregate": "c", "pipeline": [["$listSearchIndexes": 1]], "cursor": [:]], 9),
    ] as [(Document, Int32)])
    func refusals(body: Document, code: Int32) throws {
        let s = try TestServer()
        _ = s.run(["insert": "c", "documents": [["_id": 1]]])
        let reply = s.run(body)
        #expect(reply["code"] == .int32(code), "\(reply)")
    }
}
