import Testing
import Folio

/// Views through the library (FolioServer's Views.swift, as FolioCollection reads them):
/// created with createView or the `create` command, read by every read of the typed API,
/// refused for writes.
@Suite struct ViewReadsTests {
    struct Message: Codable, Sendable, Equatable {
        var _id: Int
        var room: String
        var text: String
    }

    func seeded() async throws -> (FolioClient, FolioDatabase) {
        let folio = try FolioClient.inMemory()
        let db = folio.database("chat")
        try await db.collection("messages", as: Message.self).insertMany([
            Message(_id: 1, room: "a", text: "hi"), Message(_id: 2, room: "b", text: "yo"),
            Message(_id: 3, room: "a", text: "hey"), Message(_id: 4, room: "a", text: "hi"),
        ])
        try await db.createView("roomA", on: "messages", pipeline: [["$match": ["room": "a"]], ["$project": ["room": 0]]])
        return (folio, db)
    }

    @Test func readsRunTheViewsPipeline() async throws {
        let (folio, db) = try await seeded()
        defer { folio.close() }
        let view = db.collection("roomA")
        #expect(try await view.find(sort: ["_id": -1]).toArray() == [["_id": 4, "text": "hi"], ["_id": 3, "text": "hey"], ["_id": 1, "text": "hi"]])
        #expect(try await view.find(["text": "hi"], skip: 1, limit: 1, projection: ["_id": 1]).toArray() == [["_id": 4]])
        #expect(try await view.findOne(["_id": 3]) == ["_id": 3, "text": "hey"])
        #expect(try await view.findOne(["_id": 2]) == nil)
        #expect(try await view.countDocuments() == 3)
        #expect(try await view.countDocuments(["text": "hi"], limit: 1) == 1)
        #expect(try await view.estimatedDocumentCount() == 3)
        #expect(try await view.distinct("text").compactMap(\.stringValue).sorted() == ["hey", "hi"])
        let grouped = try await view.aggregate([["$group": ["_id": "$text", "n": ["$sum": 1]]], ["$sort": ["_id": 1]]]).toArray()
        #expect(grouped == [["_id": "hey", "n": 1], ["_id": "hi", "n": 2]])
        // A view of a view, and $lookup into a view from a collection.
        try await db.createView("greetings", on: "roomA", pipeline: [["$match": ["text": "hi"]]])
        #expect(try await db.collection("greetings").countDocuments() == 2)
        let joined = try await db.collection("messages").aggregate([
            ["$match": ["_id": 2]],
            ["$lookup": ["from": "greetings", "localField": "text", "foreignField": "text", "as": "same"]],
        ]).toArray()
        #expect(joined.first?["same"]?.arrayValue?.count == 0)
        // As listCollections: the collections (with `system.views`, where views are kept) and the views.
        #expect(try await db.collectionNames() == ["greetings", "messages", "roomA", "system.views"])
    }

    @Test func writesAndCollectionCommandsAreRefused() async throws {
        let (folio, db) = try await seeded()
        defer { folio.close() }
        let view = db.collection("roomA")
        await #expect { try await view.insertOne(["_id": 9]) } throws: { ($0 as? FolioError)?.code == .commandNotSupportedOnView }
        await #expect { _ = try await view.updateOne(["_id": 1], ["$set": ["x": 1]]) } throws: {
            ($0 as? FolioError)?.code == .commandNotSupportedOnView
        }
        await #expect { try await view.createIndex(["text": 1]) } throws: { ($0 as? FolioError)?.code == .commandNotSupportedOnView }
        await #expect { try await db.createView("roomA", on: "messages", pipeline: []) } throws: {
            ($0 as? FolioError)?.code == .namespaceExists
        }
        #expect(try await db.collection("messages").countDocuments() == 4)
    }

    @Test func dropRemovesOnlyTheView() async throws {
        let (folio, db) = try await seeded()
        defer { folio.close() }
        try await db.collection("roomA").drop()
        #expect(try await db.collectionNames() == ["messages", "system.views"])
        #expect(try await db.collection("roomA").countDocuments() == 0)
        #expect(try await db.collection("messages").countDocuments() == 4)
    }

    @Test func aViewMadeByTheServerReadsTheSame() async throws {
        let (folio, db) = try await seeded()
        defer { folio.close() }
        _ = try await db.runCommand(["create": "caseless", "viewOn": "messages", "pipeline": [["$match": ["text": "HI"]]],
                                     "collation": ["locale": "en", "strength": 2]])
        let caseless = db.collection("caseless")
        #expect(try await caseless.countDocuments() == 2)
        #expect(try await caseless.find(["room": "A"]).toArray().map { $0["_id"] } == [1, 4])
    }
}
