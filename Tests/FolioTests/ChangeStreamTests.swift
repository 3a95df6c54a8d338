import Foundation
import Testing
import Folio
import Synchronization

struct Message: Codable, Sendable, Equatable {
    var _id: Int
    var text: String
}

/// The embedded `watch()` (Sources/Folio/ChangeStream.swift): typed events as an async
/// sequence that waits for commits, resumes from a token, and ends when cancelled.
@Suite struct EmbeddedChangeStreamTests {
    @Test func typedEventsArriveAsTheyCommitAndResumeFromAToken() async throws {
        let folio = try FolioClient.open(directory: FolioClientTests.dir())
        defer { folio.close() }
        let messages = folio.database("chat").collection("messages", as: Message.self)
        var iterator = messages.watch().makeAsyncIterator()
        // The stream starts when first read, and then waits: a writer keeps inserting until
        // the reader has seen two events.
        let seen = Mutex(false)
        let writer = Task {
            var n = 1
            while !seen.withLock({ $0 }) {
                try await messages.insertOne(Message(_id: n, text: "m\(n)"))
                n += 1
                try await Task.sleep(for: .milliseconds(20))
            }
        }
        let first = try #require(try await iterator.next())
        let n = try #require(first.documentKey?["_id"]?.exactInt64)
        #expect(first.operationType == "insert" && first.fullDocument == Message(_id: Int(n), text: "m\(n)"))
        #expect(first.namespace == ["db": "chat", "coll": "messages"])
        let second = try #require(try await iterator.next())
        #expect(second.fullDocument?._id == Int(n) + 1)
        seen.withLock { $0 = true }
        try await writer.value
        for try await event in messages.watch(options: ChangeStreamOptions(resumeAfter: first.id)) {
            #expect(event.id == second.id)
            break
        }
    }

    @Test func cancellingTheTaskEndsTheStream() async throws {
        let folio = try FolioClient.open(directory: FolioClientTests.dir())
        defer { folio.close() }
        let db = folio.database("chat")
        let task = Task { () throws -> Int in
            var n = 0
            for try await _ in db.watch() { n += 1 }
            return n
        }
        try await Task.sleep(for: .milliseconds(100))
        task.cancel()
        #expect(try await task.value == 0)
        // Bad options answer with MongoDB's errors when the stream opens.
        var bad = db.collection("x").watch(options: ChangeStreamOptions(fullDocument: "sometimes")).makeAsyncIterator()
        await #expect(throws: FolioError.self) { _ = try await bad.next() }
    }
}
