import Testing
import Folio

/// LiveQuery.swift: a query's results now and again after each change that alters them.
@Suite struct LiveQueryTests {
    struct Message: Codable, Sendable, Equatable {
        var _id: Int
        var room: String
        var text: String
    }

    @Test func yieldsWhenTheResultsChangeAndOnlyThen() async throws {
        let folio = try FolioClient.inMemory()
        defer { folio.close() }
        let messages = folio.database("chat").collection("messages", as: Message.self)
        var live = messages.liveQuery(["room": "a"], sort: ["_id": 1]).makeAsyncIterator()
        #expect(try await live.next() == [])

        let m1 = Message(_id: 1, room: "a", text: "hi")
        try await messages.insertOne(m1)
        #expect(try await live.next() == [m1])

        // A change outside the results, then one inside: one new result set, not two.
        try await messages.insertOne(Message(_id: 2, room: "b", text: "elsewhere"))
        let m3 = Message(_id: 3, room: "a", text: "there")
        try await messages.insertOne(m3)
        #expect(try await live.next() == [m1, m3])

        try await messages.updateOne(["_id": 1], ["$set": ["text": "hello"]])
        var edited = m1
        edited.text = "hello"
        #expect(try await live.next() == [edited, m3])

        // A batch of changes in one transaction yields once, with all of them.
        try await folio.withTransaction { txn in
            let c = txn.database("chat").collection("messages")
            try await c.deleteOne(["_id": 1])
            try await c.insertOne(["_id": 4, "room": "a", "text": "new"])
        }
        #expect(try await live.next() == [m3, Message(_id: 4, room: "a", text: "new")])

        // Dropping the collection empties the results; the name is still followed.
        try await messages.drop()
        #expect(try await live.next() == [])
        let m5 = Message(_id: 5, room: "a", text: "again")
        try await messages.insertOne(m5)
        #expect(try await live.next() == [m5])
    }

    @Test func cancellingTheTaskEndsTheSequence() async throws {
        let folio = try FolioClient.inMemory()
        defer { folio.close() }
        let messages = folio.database("chat").collection("messages", as: Message.self)
        let first = AsyncStream<Void>.makeStream()
        let follower = Task {
            var yields = 0
            for try await _ in messages.liveQuery() {
                yields += 1
                first.continuation.yield()
            }
            return yields
        }
        for await _ in first.stream { break }
        follower.cancel()
        #expect(try await follower.value == 1)
    }
}
