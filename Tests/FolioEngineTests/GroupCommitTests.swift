import Testing
import FolioBSON
import FolioQuery
@testable import FolioEngine
import FolioStorage

/// The in-memory catalog after writes that fail: it must describe what storage holds, so
/// reads, validate and a restart agree (found by the command fuzzer).
@Suite struct GroupCommitTests {
    @Test(arguments: Backend.allCases)
    func aFailedWriteThatCreatedACollectionLeavesNoTrace(backend: Backend) throws {
        let engine = try makeEngine(backend)
        defer { engine.close() }
        let missing = try Namespace(database: "app", collection: "missing")
        // The collection is created, then the second specification fails: all is undone.
        #expect(throws: FolioError.self) {
            _ = try engine.createIndexes(missing, [["key": ["a": 1], "name": "a_1"],
                                                   ["key": ["b": 1], "name": "b_1", "partialFilterExpression": ["b": ["$bogus": 1]]]])
        }
        #expect(!engine.collectionExists(missing))
        #expect(engine.collections(in: "app").isEmpty)
        // A failed index build on an existing collection leaves its indexes as they were.
        _ = try engine.insert(ns, [["_id": 1, "u": 1], ["_id": 2, "u": 1]])
        #expect(throws: FolioError.self) { _ = try engine.createIndexes(ns, [["key": ["u": 1], "name": "u_1", "unique": true]]) }
        #expect(engine.indexes(ns).isEmpty)
        #expect(try engine.validate(ns).isValid)
    }

    @Test func theStoredCatalogReopensAfterFailures() throws {
        let storage = MemoryStorageEngine()
        let engine = try Engine(storage: storage)
        let other = try Namespace(database: "app", collection: "other")
        _ = try engine.insert(ns, [["_id": 1, "date": .datetime(0)]])
        _ = try engine.createIndexes(ns, [["key": ["date": 1], "name": "date_1", "expireAfterSeconds": 60]])
        #expect(throws: FolioError.self) { _ = try engine.createIndexes(other, [["key": ["a": "nope"], "name": "a"]]) }
        // collMod keeps expireAfterSeconds within what createIndexes accepts: beyond it, the
        // stored entry would not load again.
        do {
            _ = try engine.modifyCollection(ns, ["index": ["name": "date_1", "expireAfterSeconds": .double(1e15)]])
            Issue.record("accepted")
        } catch {
            #expect(error.code == .invalidOptions)
        }
        let reopened = try Engine(storage: storage)
        #expect(reopened.collections(in: "app").map(\.name) == ["users"])
        #expect(reopened.indexes(ns).map(\.name) == ["date_1"])
    }
}
