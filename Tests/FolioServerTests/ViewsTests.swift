import Foundation
import Testing
import FolioBSON
import FolioQuery
@testable import FolioServer

/// Views (Views.swift): reads through a view (and a chain of them) run the views' pipelines
/// on the source collection; definitions are stored, listed, changed and dropped like
/// MongoDB's; everything that needs a collection answers 166.
@Suite struct ViewsTests {
    private func code(_ reply: Document) -> Int32? { reply["code"]?.exactInt64.map { Int32($0) } }

    func seeded(_ directory: String? = nil) throws -> TestServer {
        let s = try TestServer(directory: directory)
        s.run(["insert": "people", "documents": [
            ["_id": 1, "name": "ann", "age": 31, "tags": ["a", "b"]],
            ["_id": 2, "name": "bob", "age": 17, "tags": ["b"]],
            ["_id": 3, "name": "cy", "age": 45, "tags": []],
            ["_id": 4, "name": "di", "age": 52],
        ]])
        #expect(s.run(["create": "adults", "viewOn": "people", "pipeline": [["$match": ["age": ["$gte": 18]]]]])["ok"] == .double(1))
        #expect(s.run(["create": "names", "viewOn": "adults", "pipeline": [["$project": ["_id": 0, "name": 1, "age": 1]]]])["ok"] == .double(1))
        return s
    }

    @Test func aPipelineReadsAViewOnlyUnderTheViewsCollation() throws {
        let s = try seeded()
        s.run(["insert": "tags", "documents": [["_id": 1, "name": "ANN"], ["_id": 2, "name": "Bob"]]])
        #expect(s.run(["create": "folded", "viewOn": "people", "collation": ["locale": "en", "strength": 2]])["ok"] == .double(1))
        let lookup: Document = ["$lookup": ["from": "folded", "localField": "name", "foreignField": "name", "as": "people"]]
        let project: Document = ["$project": ["n": ["$size": "$people"]]]
        // The operation's collation (simple here) differs from the view's: 167, as in MongoDB.
        #expect(code(s.run(["aggregate": "tags", "pipeline": [.document(lookup)], "cursor": [:]])) == 167)
        #expect(code(s.run(["aggregate": "people", "pipeline": [["$lookup": ["from": "adults", "localField": "name",
                                                                              "foreignField": "name", "as": "x"]]],
                            "cursor": [:], "collation": ["locale": "en"]])) == 167)
        // The same collation: the view is read, under it (ANN matches ann).
        let same = s.run(["aggregate": "tags", "pipeline": [.document(lookup), .document(project)], "cursor": [:],
                          "collation": ["locale": "en", "strength": 2]])
        #expect(s.firstBatch(same) == [["_id": 1, "n": 1], ["_id": 2, "n": 1]], "\(same)")
        // A read of the view itself runs under its collation, so it may look itself up.
        let selfLookup = s.run(["aggregate": "folded", "pipeline": [["$match": ["_id": 1]], .document(lookup), .document(project)], "cursor": [:]])
        #expect(s.firstBatch(selfLookup) == [["_id": 1, "n": 1]], "\(selfLookup)")
        // Reads of the view compare under its collation; it is stored in full, as MongoDB does.
        #expect(s.firstBatch(s.run(["find": "folded", "filter": ["name": "ANN"], "projection": ["_id": 1]])) == [["_id": 1]])
        let listed = s.firstBatch(s.run(["listCollections": 1, "filter": ["name": "folded"]]))?.first?.documentValue
        let collation = listed?["options"]?.documentValue?["collation"]?.documentValue
        #expect(collation?["locale"] == "en" && collation?["strength"] == .int32(2) && collation?["numericOrdering"] == .bool(false))
        // A view on a view takes that view's collation or fails.
        #expect(code(s.run(["create": "other", "viewOn": "folded", "collation": ["locale": "fr"]])) == 167)
        #expect(code(s.run(["create": "plain", "viewOn": "folded"])) == 167)
        #expect(s.run(["create": "same", "viewOn": "folded", "collation": ["locale": "en", "strength": 2]])["ok"] == .double(1))
    }

    @Test func readsRunThroughTheViewsPipelines() throws {
        let s = try seeded()
        let find = s.run(["find": "adults", "filter": ["age": ["$lt": 50]], "sort": ["age": -1], "projection": ["name": 1]])
        #expect(s.firstBatch(find) == [["_id": 3, "name": "cy"], ["_id": 1, "name": "ann"]])
        #expect(find["cursor"]?.documentValue?["ns"] == "test.adults")
        // A chain of views, skip and limit, and batches through getMore.
        let nested = s.run(["find": "names", "sort": ["age": 1], "skip": 1, "limit": 2, "batchSize": 1])
        #expect(s.firstBatch(nested) == [["name": "cy", "age": 45]])
        guard case .int64(let id)? = nested["cursor"]?.documentValue?["id"] else {
            Issue.record("no cursor: \(nested)")
            return
        }
        let more = s.run(["getMore": .int64(id), "collection": "names"])
        #expect(more["cursor"]?.documentValue?["nextBatch"] == [["name": "di", "age": 52]])
        let aggregate = s.run(["aggregate": "names", "pipeline": [["$group": ["_id": .null, "n": ["$sum": 1]]]], "cursor": [:]])
        #expect(s.firstBatch(aggregate) == [["_id": .null, "n": 3]])
        #expect(s.run(["count": "adults"])["n"] == .int32(3))
        #expect(s.run(["count": "adults", "query": ["age": ["$gt": 40]], "limit": 1])["n"] == .int32(1))
        let distinct = s.run(["distinct": "adults", "key": "tags"])["values"]?.arrayValue?.compactMap(\.stringValue).sorted()
        #expect(distinct == ["a", "b"])
        // A view's collation cannot be overridden.
        #expect(code(s.run(["find": "adults", "collation": ["locale": "fr"]])) == 167)
        #expect(s.run(["find": "adults", "collation": ["locale": "simple"]])["ok"] == .double(1))
        // A hint names an index of the source collection: a sparse one leaves out what it lacks.
        s.run(["createIndexes": "people", "indexes": [["key": ["tags": 1], "name": "tags_1", "sparse": true]]])
        #expect(s.run(["count": "adults", "hint": "tags_1"])["n"] == .int32(2))
        #expect(s.firstBatch(s.run(["find": "adults", "hint": ["tags": 1], "projection": ["_id": 1]]))?.count == 2)
        #expect(s.run(["find": "adults", "hint": "nope_1"])["code"] == .int32(2))
    }

    @Test func definitionsAreListedChangedAndDropped() throws {
        let s = try seeded()
        let listed = s.firstBatch(s.run(["listCollections": 1, "filter": ["type": "view"]])) ?? []
        #expect(listed.count == 2)
        #expect(listed.first == ["name": "adults", "type": "view",
                                 "options": ["viewOn": "people", "pipeline": [["$match": ["age": ["$gte": 18]]]]],
                                 "info": ["readOnly": true]])
        #expect(s.firstBatch(s.run(["listCollections": 1, "nameOnly": true, "filter": ["name": "names"]])) == [["name": "names", "type": "view"]])
        #expect(s.run(["collMod": "adults", "viewOn": "people", "pipeline": [["$match": ["age": ["$gte": 50]]]]])["ok"] == .double(1))
        #expect(s.run(["count": "names"])["n"] == .int32(1))
        #expect(code(s.run(["collMod": "adults", "pipeline": []])) == 72)
        #expect(code(s.run(["collMod": "people", "viewOn": "adults", "pipeline": []])) == 72)
        #expect(s.run(["drop": "names"])["ok"] == .double(1))
        #expect(s.firstBatch(s.run(["listCollections": 1, "filter": ["type": "view"]]))?.count == 1)
        // A dropped view's name is free for a collection.
        #expect(s.run(["insert": "names", "documents": [["_id": 1]]])["n"] == .int32(1))
    }

    @Test func whatNeedsACollectionIsRefused() throws {
        let s = try seeded()
        for body: Document in [
            ["insert": "adults", "documents": [["_id": 9]]],
            ["update": "adults", "updates": [["q": [:], "u": ["$set": ["x": 1]]]]],
            ["delete": "adults", "deletes": [["q": [:], "limit": 0]]],
            ["findAndModify": "adults", "query": [:], "remove": true],
            ["createIndexes": "adults", "indexes": [["key": ["age": 1], "name": "age_1"]]],
            ["listIndexes": "adults"],
        ] {
            #expect(code(s.run(body)) == 166, "\(body)")
        }
        let bulk = s.run(["bulkWrite": 1, "ops": [["insert": 0, "document": ["_id": 9]]], "nsInfo": [["ns": "test.adults"]]], db: "admin")
        #expect(code(bulk) == 166, "\(bulk)")
        // Writes that would create a collection under a view's name: $out and $merge too.
        #expect(code(s.run(["aggregate": "people", "pipeline": [["$out": "adults"]], "cursor": [:]])) == 166)
        #expect(code(s.run(["aggregate": "people", "pipeline": [["$merge": ["into": "adults"]]], "cursor": [:]])) == 166)
        #expect(s.firstBatch(s.run(["listCollections": 1, "filter": ["name": "adults"]]))?.count == 1)
        #expect(s.run(["count": "people"])["n"] == .int32(4))
        #expect(code(s.run(["explain": ["update": "adults", "updates": [["q": [:], "u": ["$set": ["x": 1]]]]]])) == 166)
    }

    /// explain of a read of a view explains the aggregation it runs on the source collection.
    @Test func explainOfAViewExplainsItsAggregation() throws {
        let s = try seeded()
        for inner: Document in [["find": "names", "filter": ["age": 45]], ["aggregate": "names", "pipeline": [], "cursor": [:]],
                                ["count": "adults"], ["distinct": "adults", "key": "tags"]] {
            let reply = s.run(["explain": .document(inner), "verbosity": "executionStats"])
            #expect(reply["ok"] == .double(1), "\(inner): \(reply)")
            #expect(reply["command"]?.documentValue?.fieldNames.first == inner.fieldNames.first)
            let text = "\(reply)"
            #expect(text.contains("test.people"), "\(reply)")
        }
    }

    /// $lookup, $graphLookup and $unionWith read a view through its pipeline, also from inside
    /// another view's pipeline and from nested pipelines.
    @Test func otherStagesReadViews() throws {
        let s = try seeded()
        func ids(_ pipeline: [BSON], on collection: String = "people") -> [BSON] {
            s.firstBatch(s.run(["aggregate": .string(collection), "pipeline": .array(pipeline), "cursor": [:]])) ?? [.string("failed")]
        }
        // Every person, with themselves joined only when they are an adult.
        #expect(ids([["$lookup": ["from": "adults", "localField": "_id", "foreignField": "_id", "as": "a"]],
                     ["$project": ["n": ["$size": "$a"]]]]) == [["_id": 1, "n": 1], ["_id": 2, "n": 0], ["_id": 3, "n": 1], ["_id": 4, "n": 1]])
        #expect(ids([["$lookup": ["from": "names", "pipeline": [["$match": ["age": ["$gt": 50]]]], "as": "old"]],
                     ["$match": ["_id": 1]], ["$project": ["old": 1]]]) == [["_id": 1, "old": [["name": "di", "age": 52]]]])
        #expect(ids([["$match": ["_id": 0]], ["$unionWith": "names"], ["$sort": ["age": 1]], ["$project": ["name": 1]]])
                == [["name": "ann"], ["name": "cy"], ["name": "di"]])
        #expect(ids([["$match": ["_id": 2]], ["$graphLookup": ["from": "adults", "startWith": 3, "connectFromField": "_id",
                                                               "connectToField": "_id", "as": "g"]],
                     ["$project": ["g": "$g._id"]]]) == [["_id": 2, "g": [3]]])
        #expect(ids([["$match": ["_id": 2]], ["$graphLookup": ["from": "adults", "startWith": 2, "connectFromField": "_id",
                                                               "connectToField": "_id", "as": "g"]],
                     ["$project": ["g": "$g._id"]]]) == [["_id": 2, "g": []]])
        // A view whose pipeline joins another view.
        #expect(s.run(["create": "withAdult", "viewOn": "people",
                       "pipeline": [["$lookup": ["from": "adults", "localField": "_id", "foreignField": "_id", "as": "adult"]],
                                    ["$match": ["adult": ["$ne": []]]], ["$project": ["_id": 1]]]])["ok"] == .double(1))
        #expect(s.run(["count": "withAdult"])["n"] == .int32(3))
        #expect(s.run(["aggregate": "people", "pipeline": [["$unionWith": ["coll": "withAdult", "pipeline": [["$count": "n"]]]],
                                                            ["$match": ["n": ["$exists": true]]]], "cursor": [:]])["cursor"]?
                    .documentValue?["firstBatch"] == [["n": 3]])
    }

    @Test func badDefinitionsGetMongoDBsErrors() throws {
        let s = try seeded()
        #expect(code(s.run(["create": "adults", "viewOn": "people"])) == 48)
        #expect(code(s.run(["create": "people", "viewOn": "adults"])) == 48)
        #expect(code(s.run(["create": "loop", "viewOn": "loop"])) == 5)
        #expect(code(s.run(["collMod": "adults", "viewOn": "names", "pipeline": []])) == 5)
        #expect(code(s.run(["create": "w", "viewOn": "people", "pipeline": [["$out": "x"]]])) == 167)
        #expect(code(s.run(["create": "w", "viewOn": 1])) == 14)
        #expect(code(s.run(["create": "w", "viewOn": "people", "pipeline": "no"])) == 14)
        #expect(code(s.run(["create": "w", "pipeline": []])) == 72)
        #expect(code(s.run(["create": "w", "viewOn": "people", "capped": true])) == 72)
        #expect(code(s.run(["find": "adults", "min": ["age": 1]])) == 168)
    }

    @Test func viewsSurviveARestartAndReadInTransactions() throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("folio-views-\(UUID())").path
        defer { try? FileManager.default.removeItem(atPath: directory) }
        do { _ = try seeded(directory) }
        let s = try TestServer(directory: directory)
        #expect(s.run(["count": "names"])["n"] == .int32(3))
        let lsid: BSON = ["id": .binary(Binary(subtype: Binary.Subtype.uuid, data: [UInt8](repeating: 3, count: 16)))]
        let txn: Document = ["lsid": lsid, "txnNumber": .int64(1), "autocommit": false]
        var insert: Document = ["insert": "people", "documents": [["_id": 5, "name": "ed", "age": 60]], "startTransaction": true]
        for (k, v) in txn { insert.append(k, v) }
        #expect(s.run(insert)["n"] == .int32(1))
        // find through the view sees the transaction's write; outside, nobody does yet.
        var find: Document = ["find": "names", "filter": ["name": "ed"]]
        for (k, v) in txn { find.append(k, v) }
        #expect(s.firstBatch(s.run(find)) == [["name": "ed", "age": 60]])
        #expect(s.firstBatch(s.run(["find": "names", "filter": ["name": "ed"]])) == [])
    }
}
