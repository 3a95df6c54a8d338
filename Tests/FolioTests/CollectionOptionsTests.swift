import Testing
import Folio

/// FolioClient.swift's createCollection: capped collections and validators, with the server's
/// rules.
@Suite struct CollectionOptionsTests {
    @Test func cappedAndValidatedCollections() async throws {
        let folio = try FolioClient.inMemory()
        defer { folio.close() }
        let db = folio.database("app")
        try await db.createCollection("log", options: CollectionOptions(capped: (size: 4096, max: 3)))
        let log = db.collection("log")
        for i in 0..<5 { try await log.insertOne(["i": .int32(Int32(i))]) }
        #expect(try await log.find().toArray().map { $0["i"] } == [2, 3, 4])

        try await db.createCollection("users", options: CollectionOptions(validator: ["age": ["$gte": 0]]))
        // Again with the same options: nothing happens; with others: 48 NamespaceExists.
        try await db.createCollection("users", options: CollectionOptions(validator: ["age": ["$gte": 0]]))
        await #expect { try await db.createCollection("users") } throws: { ($0 as? FolioError)?.code == .namespaceExists }
        let users = db.collection("users")
        try await users.insertOne(["age": 3])
        do {
            try await users.insertOne(["age": -1])
            Issue.record("the validator let an invalid document in")
        } catch {
            #expect(error.code == .documentValidationFailure)
        }
        await #expect(throws: FolioError.self) {
            try await db.createCollection("bad", options: CollectionOptions(validator: ["$bogus": 1]))
        }
        await #expect(throws: FolioError.self) {
            try await db.createCollection("tiny", options: CollectionOptions(capped: (size: -1, max: nil)))
        }
        #expect(try await db.collectionNames() == ["log", "users"])
    }
}
