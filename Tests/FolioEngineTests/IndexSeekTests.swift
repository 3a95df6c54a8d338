import Testing
import FolioBSON
@testable import FolioEngine

/// `Engine.firstDocument(_:field:equalTo:)` (IndexSeek.swift): the first document of
/// `find({field: value}).limit(1)` without planning, exactly when one plain index is the only
/// access the planner could choose, with the same answer and the same counts as the query.
@Suite struct IndexSeekTests {
    let seekNS = try! Namespace(database: "app", collection: "seek")

    func seeded() throws -> Engine {
        let engine = try Engine.inMemory()
        _ = try engine.insert(seekNS, [
            ["_id": 1, "sid": 5], ["_id": 2, "sid": 5.0], ["_id": 3, "sid": .int64(6)], ["_id": 4, "sid": [7, 8]],
            ["_id": 5, "sid": "5"], ["_id": 6, "a": ["b": 9]], ["_id": 7, "a": [["b": 9], ["b": 10]]], ["_id": 8],
        ])
        _ = try engine.createIndexes(seekNS, [["key": ["sid": 1], "name": "sid_1"], ["key": ["a.b": -1], "name": "ab"]])
        return engine
    }

    /// Keys and documents examined, and the uses of `index` in `$indexStats`.
    func counts(_ engine: Engine, _ index: String) -> [Int64] {
        let q = engine.queryStatistics
        return [q.keysExamined.load(ordering: .relaxed), q.documentsExamined.load(ordering: .relaxed),
                engine.indexAccesses.get(seekNS, index)?.ops ?? 0]
    }

    @Test func answersAndCountsAsTheQuery() throws {
        let engine = try seeded()
        defer { engine.close() }
        let cases: [(String, String, BSON)] = [
            ("sid", "sid_1", 5), ("sid", "sid_1", 5.0), ("sid", "sid_1", .int64(5)), ("sid", "sid_1", .int64(6)),
            ("sid", "sid_1", 8), ("sid", "sid_1", 99), ("sid", "sid_1", "5"), ("sid", "sid_1", .objectID(ObjectID())),
            ("a.b", "ab", 9), ("a.b", "ab", 10), ("a.b", "ab", 11),
        ]
        for (field, index, value) in cases {
            let before = counts(engine, index)
            let cursor = try engine.find(seekNS, FindRequest(filter: [field: value], limit: 1))
            let queried = try cursor.all().first
            cursor.close()
            let between = counts(engine, index)
            let sought = try #require(engine.firstDocument(seekNS, field: field, equalTo: value), "\(field): \(value)")
            let after = counts(engine, index)
            #expect(sought?.bytes == queried?.bytes, "\(field): \(value)")
            #expect(zip(between, before).map { $0 - $1 } == zip(after, between).map { $0 - $1 }, "\(field): \(value)")
        }
        // The index the seek used is the one the query's plan names.
        #expect(try engine.firstDocument(seekNS, field: "sid", equalTo: 8)??.document()["_id"] == 4)
    }

    @Test func leavesToThePlannerWhatItMustDecide() throws {
        let engine = try seeded()
        defer { engine.close() }
        // (Hashed indexes refuse arrays.)
        _ = try engine.delete(seekNS, [DeleteStatement(filter: ["_id": 4], limitOne: true)])
        #expect(engine.firstDocument(seekNS, field: "sid", equalTo: 5) != nil)
        // Not a plain value, `_id`, an operator, no collection, no index.
        for value: BSON in [[5], .null, ["x": 1], .double(.nan), .regex(BSONRegex(pattern: "5", options: "")), true] {
            #expect(engine.firstDocument(seekNS, field: "sid", equalTo: value) == nil, "\(value)")
        }
        #expect(engine.firstDocument(seekNS, field: "_id", equalTo: 1) == nil)
        #expect(engine.firstDocument(seekNS, field: "$where", equalTo: 1) == nil)
        #expect(engine.firstDocument(try Namespace(database: "app", collection: "none"), field: "sid", equalTo: 5) == nil)
        #expect(engine.firstDocument(seekNS, field: "name", equalTo: "x") == nil)
        // A second index the planner could choose (its first document could differ), and a
        // wildcard index, each make it the planner's choice.
        for spec: Document in [["key": ["sid": 1, "x": 1], "name": "second"], ["key": ["sid": "hashed"], "name": "second"],
                               ["key": ["$**": 1], "name": "second"]] {
            _ = try engine.createIndexes(seekNS, [spec])
            #expect(engine.firstDocument(seekNS, field: "sid", equalTo: 5) == nil, "\(spec)")
            _ = try engine.dropIndexes(seekNS, "second")
            #expect(engine.firstDocument(seekNS, field: "sid", equalTo: 5) != nil, "\(spec)")
        }
        // An index that is not plain, alone: hashed, sparse, partial, hidden.
        _ = try engine.dropIndexes(seekNS, "sid_1")
        for spec: Document in [["key": ["sid": "hashed"], "name": "only"], ["key": ["sid": 1], "name": "only", "sparse": true],
                               ["key": ["sid": 1], "name": "only", "partialFilterExpression": ["sid": ["$gt": 0]]],
                               ["key": ["sid": 1], "name": "only", "hidden": true]] {
            _ = try engine.createIndexes(seekNS, [spec])
            #expect(engine.firstDocument(seekNS, field: "sid", equalTo: 5) == nil, "\(spec)")
            _ = try engine.dropIndexes(seekNS, "only")
        }
    }
}
