import Testing
import Folio

/// Indexes.swift: secondary and search indexes through the library, with the server's rules.
@Suite struct IndexesTests {
    @Test func createListHideAndDropIndexes() async throws {
        let folio = try FolioClient.inMemory()
        defer { folio.close() }
        let users = folio.database("app").collection("users")
        #expect(try await users.createIndex(["email": 1], options: IndexOptions(unique: true)) == "email_1")
        #expect(try await users.createIndexes([IndexModel(keys: ["team": 1, "joined": -1]),
                                               IndexModel(keys: ["seen": 1], options: IndexOptions(name: "ttl", expireAfterSeconds: 60))])
                == ["team_1_joined_-1", "ttl"])
        // The same index again does nothing; the same name with other keys is refused.
        try await users.createIndex(["email": 1], options: IndexOptions(unique: true))
        await #expect { try await users.createIndex(["other": 1], options: IndexOptions(name: "email_1")) } throws: { error in
            [ErrorCode.indexKeySpecsConflict, .indexOptionsConflict].contains((error as? FolioError)?.code)
        }
        let specs = try await users.listIndexes()
        #expect(specs.compactMap { $0["name"]?.stringValue } == ["_id_", "email_1", "team_1_joined_-1", "ttl"])
        #expect(specs[1]["unique"] == true)
        #expect(specs[3]["expireAfterSeconds"] != nil)

        try await users.insertOne(["email": "ada@example.com"])
        do {
            try await users.insertOne(["email": "ada@example.com"])
            Issue.record("unique index let a duplicate in")
        } catch {
            #expect(error.code == .duplicateKey)
        }

        try await users.setIndexHidden("team_1_joined_-1", true)
        #expect(try await users.listIndexes()[2]["hidden"] == true)
        try await users.setIndexHidden("team_1_joined_-1", false)
        #expect(try await users.listIndexes()[2]["hidden"] == nil)

        try await users.dropIndex("ttl")
        try await users.dropIndex(keys: ["team": 1, "joined": -1])
        #expect(try await users.listIndexes().count == 2)
        await #expect { try await users.dropIndex("nope") } throws: { ($0 as? FolioError)?.code == .indexNotFound }
        await #expect { try await users.dropIndex("_id_") } throws: { ($0 as? FolioError)?.code == .invalidOptions }
        try await users.dropIndexes()
        #expect(try await users.listIndexes().count == 1)
        await #expect { try await folio.database("app").collection("none").listIndexes() } throws: {
            ($0 as? FolioError)?.code == .namespaceNotFound
        }
    }

    @Test func unknownIndexOptionsAreRefusedNotIgnored() async throws {
        let folio = try FolioClient.inMemory()
        defer { folio.close() }
        let c = folio.database("app").collection("c")
        await #expect(throws: FolioError.self) {
            try await c.createIndex(["a": 1], options: IndexOptions(other: ["uniqe": true]))
        }
        // Nothing is left behind: not even the collection the index would have created.
        await #expect { try await c.listIndexes() } throws: { ($0 as? FolioError)?.code == .namespaceNotFound }
    }

    @Test func textAndPartialIndexesWork() async throws {
        let folio = try FolioClient.inMemory()
        defer { folio.close() }
        let posts = folio.database("app").collection("posts")
        try await posts.insertMany([["_id": 1, "title": "Swift concurrency", "body": "tasks", "live": true],
                                    ["_id": 2, "title": "Cooking", "body": "swift dinners", "live": false]])
        try await posts.createIndex(["title": "text", "body": "text"], options: IndexOptions(other: ["weights": ["title": 5]]))
        try await posts.createIndex(["live": 1], options: IndexOptions(partialFilterExpression: ["live": true]))
        let hits = try await posts.aggregate([["$match": ["$text": ["$search": "swift"]]],
                                              ["$sort": ["score": ["$meta": "textScore"]]], ["$project": ["_id": 1]]]).toArray()
        #expect(hits == [["_id": 1], ["_id": 2]])
        #expect(try await posts.listIndexes()[2]["partialFilterExpression"] == ["live": true])
    }

    @Test func vectorSearchIndexesThroughTheLibrary() async throws {
        let folio = try FolioClient.inMemory()
        defer { folio.close() }
        let messages = folio.database("chat").collection("messages")
        try await messages.insertMany([["_id": 1, "room": "a", "v": [1.0, 0.0]], ["_id": 2, "room": "a", "v": [0.0, 1.0]],
                                       ["_id": 3, "room": "b", "v": [0.9, 0.1]]])
        try await messages.createSearchIndex(name: "by_v", definition: ["fields": [
            ["type": "vector", "path": "v", "numDimensions": 2, "similarity": "euclidean"], ["type": "filter", "path": "room"]]])
        let listed = try await messages.listSearchIndexes()
        #expect(listed.map { $0["name"] } == ["by_v"])
        #expect(listed.first?["queryable"] == true)
        let found = try await messages.aggregate([
            ["$vectorSearch": ["index": "by_v", "path": "v", "queryVector": [1.0, 0.0], "numCandidates": 10, "limit": 2,
                               "filter": ["room": "a"]]],
            ["$project": ["_id": 1, "score": ["$meta": "vectorSearchScore"]]],
        ]).toArray()
        #expect(found == [["_id": 1, "score": 1.0], ["_id": 2, "score": .double(Double(Float(1) / Float(3)))]])
        try await messages.dropSearchIndex(name: "by_v")
        #expect(try await messages.listSearchIndexes().isEmpty)
    }
}
