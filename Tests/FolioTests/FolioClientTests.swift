import Foundation
import Testing
import FolioTestSupport
import Folio

struct User: Codable, Sendable, Equatable {
    var _id: ObjectID
    var name: String
    var age: Int
    var tags: [String]
    var joined: Date
}

@Suite struct FolioClientTests {
    static func dir() -> String { TestSupport.scratchPath("folio-embedded", directory: false) }

    @Test func typedCollectionRoundTripAndQueries() async throws {
        let folio = try FolioClient.open(directory: Self.dir())
        defer { folio.close() }
        let users = folio.database("app").collection("users", as: User.self)
        let ada = User(_id: ObjectID(), name: "Ada", age: 36, tags: ["math"], joined: Date(timeIntervalSince1970: 1_000))
        let bob = User(_id: ObjectID(), name: "Bob", age: 20, tags: [], joined: Date(timeIntervalSince1970: 2_000))
        try await users.insertMany([ada, bob])
        #expect(try await users.findOne(["name": "Ada"]) == ada)
        let adults = try await users.find(["age": ["$gte": 21]]).toArray()
        #expect(adults == [ada])
        var names: [String] = []
        for try await u in users.find(sort: ["age": 1]) { names.append(u.name) }
        #expect(names == ["Bob", "Ada"])
        #expect(try await users.countDocuments() == 2)
        #expect(try await users.estimatedDocumentCount() == 2)
        let distinctNames = try await users.distinct("name")
        #expect(Set(distinctNames.compactMap(\.stringValue)) == ["Ada", "Bob"])

        let outcome = try await users.updateOne(["name": "Bob"], ["$inc": ["age": 1], "$push": ["tags": "new"]])
        #expect(outcome.matchedCount == 1 && outcome.modifiedCount == 1)
        let before = try await users.findOneAndUpdate(["name": "Bob"], ["$set": ["age": 30]])
        #expect(before?.age == 21)
        let after = try await users.findOneAndUpdate(["name": "Bob"], ["$set": ["age": 31]], returnNew: true)
        #expect(after?.age == 31)
        #expect(try await users.deleteOne(["name": "Bob"]) == 1)
        #expect(try await users.findOneAndDelete(["name": "Ada"]) == ada)
        #expect(try await users.countDocuments() == 0)
    }

    @Test func documentCollectionsAndTypedErrors() async throws {
        let folio = try FolioClient.inMemory()
        defer { folio.close() }
        let things = folio.database("db").collection("things")
        let id = try await things.insertOne(["_id": 1, "v": "x"])
        #expect(id == 1)
        do {
            try await things.insertOne(["_id": 1])
            Issue.record("duplicate accepted")
        } catch {
            // Typed throws: the error is a FolioError carrying MongoDB's code.
            #expect(error.code == .duplicateKey)
        }
        do {
            _ = try await things.updateOne(["_id": 1], ["v": 2])
            Issue.record("replacement accepted by updateOne")
        } catch {
            #expect(error.code == .failedToParse)
        }
        let up = try await things.updateMany(["missing": true], ["$set": ["made": true]], upsert: true)
        #expect(up.upsertedID != nil)
        _ = try await things.replaceOne(["_id": 1], ["w": 2])
        #expect(try await things.findOne(["_id": 1]) == ["_id": 1, "w": 2])
        #expect(try await folio.databaseNames() == ["db"])
        #expect(try await folio.database("db").collectionNames() == ["things"])
        try await things.drop()
        #expect(try await folio.databaseNames().isEmpty)
    }

    @Test func secondOpenOfTheSameDirectoryFailsClearlyAndReopensAfterClose() async throws {
        let dir = Self.dir()
        let folio = try FolioClient.open(directory: dir)
        try await folio.database("app").collection("notes").insertOne(["_id": 1, "text": "kept"])
        do {
            _ = try FolioClient.open(directory: dir)
            Issue.record("a second open of a held directory succeeded")
        } catch {
            #expect(error.message.contains("in use by another Folio process"))
        }
        folio.close()
        let again = try FolioClient.open(directory: dir)
        defer { again.close() }
        #expect(try await again.database("app").collection("notes").findOne() == ["_id": 1, "text": "kept"])
    }

    @Test func zeroConcurrentOperationsIsRefused() {
        #expect(throws: FolioError.self) { try FolioClient.inMemory(maximumConcurrentOperations: 0) }
    }

    @Test func aggregationThroughTheEmbeddedAPI() async throws {
        let folio = try FolioClient.inMemory()
        defer { folio.close() }
        let orders = folio.database("shop").collection("orders")
        _ = try await orders.insertMany([["customer": "ada", "amount": 30], ["customer": "bob", "amount": 5],
                                         ["customer": "ada", "amount": 12]])
        let totals = try await orders.aggregate([
            ["$group": ["_id": "$customer", "total": ["$sum": "$amount"]]],
            ["$sort": ["total": -1]], ["$limit": 1],
        ]).toArray()
        #expect(totals == [["_id": "ada", "total": 42]])
        let withLet = try await orders.aggregate([["$match": ["$expr": ["$gt": ["$amount", "$$min"]]]], ["$count": "n"]],
                                                 let: ["min": 10]).toArray()
        #expect(withLet == [["n": 2]])
        let rows = try await folio.database("shop").aggregate([["$documents": [["x": 1]]], ["$set": ["y": ["$add": ["$x", 1]]]]]).toArray()
        #expect(rows == [["x": 1, "y": 2]])
        _ = try await orders.aggregate([["$group": ["_id": "$customer"]], ["$out": "customers"]]).toArray()
        #expect(try await folio.database("shop").collection("customers").countDocuments() == 2)
    }
}
