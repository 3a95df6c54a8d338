import Testing
import Folio

/// BulkWrite.swift: insertMany and bulkWrite report each failure by position and what was
/// written, ordered and unordered.
@Suite struct BulkWriteTests {
    @Test func orderedInsertManyStopsAtTheFirstFailureAndKeepsTheIDs() async throws {
        let folio = try FolioClient.inMemory()
        defer { folio.close() }
        let c = folio.database("db").collection("c")
        try await c.insertOne(["_id": 3])
        do {
            try await c.insertMany([["_id": 1], ["_id": 2], ["_id": 3], ["_id": 4], ["_id": 5]])
            Issue.record("duplicate accepted")
        } catch let error as BulkWriteError {
            #expect(error.writeErrors.map(\.index) == [2])
            #expect(error.writeErrors.first?.error.code == .duplicateKey)
            #expect(error.result.insertedCount == 2)
            #expect(error.result.insertedIDs == [0: 1, 1: 2])
        }
        #expect(try await c.countDocuments() == 3)
    }

    @Test func unorderedInsertManyGoesOnAndReportsEveryFailure() async throws {
        let folio = try FolioClient.inMemory()
        defer { folio.close() }
        let c = folio.database("db").collection("c")
        try await c.insertOne(["_id": 3])
        do {
            try await c.insertMany([["_id": 1], ["_id": 3], ["x": 1], ["_id": 1], ["_id": 5]], ordered: false)
            Issue.record("duplicates accepted")
        } catch let error as BulkWriteError {
            #expect(error.writeErrors.map(\.index) == [1, 3])
            #expect(error.result.insertedCount == 3)
            #expect(Set(error.result.insertedIDs.keys) == [0, 2, 4])
            // The generated _id is the one stored.
            let generated = try #require(error.result.insertedIDs[2])
            #expect(try await c.findOne(["_id": generated]) == ["_id": generated, "x": 1])
        }
        #expect(try await c.countDocuments() == 4)
        let ok = try await c.insertMany([["a": 1], ["_id": "b"]])
        #expect(ok.insertedCount == 2 && ok.insertedIDs[1] == "b" && ok.insertedIDs[0]?.objectIDValue != nil)
    }

    @Test func bulkWriteRunsEveryKindInOrderWithTotals() async throws {
        let folio = try FolioClient.inMemory()
        defer { folio.close() }
        let c = folio.database("db").collection("c")
        let r = try await c.bulkWrite([
            .insertOne(["_id": 1, "n": 1]),
            .insertOne(["_id": 2, "n": 2]),
            .insertOne(["_id": 3, "n": 3]),
            .updateOne(filter: ["_id": 1], update: ["$inc": ["n": 10]]),
            .updateMany(filter: ["n": ["$lt": 5]], update: ["$set": ["small": true]]),
            .updateOne(filter: ["_id": 9], update: ["$set": ["n": 9]], upsert: true),
            .replaceOne(filter: ["_id": 2], replacement: ["n": 20]),
            .deleteOne(filter: ["_id": 3]),
            .insertOne(["_id": 4]),
            .deleteMany(filter: ["n": ["$gte": 9]]),
        ])
        #expect(r.insertedCount == 4)
        #expect(r.insertedIDs == [0: 1, 1: 2, 2: 3, 8: 4])
        #expect(r.matchedCount == 4 && r.modifiedCount == 4)
        #expect(r.upsertedIDs == [5: 9] && r.upsertedCount == 1)
        #expect(r.deletedCount == 4)
        #expect(try await c.find().toArray() == [["_id": 4]])
    }

    @Test func bulkWriteFailuresNameTheirWriteModels() async throws {
        let folio = try FolioClient.inMemory()
        defer { folio.close() }
        let c = folio.database("db").collection("c")
        let models: [WriteModel<Document>] = [
            .insertOne(["_id": 1]),
            .updateOne(filter: ["_id": 1], update: ["$inc": ["s": "text"]]),
            .insertOne(["_id": 1]),
            .deleteOne(filter: ["_id": 1]),
        ]
        do {
            try await c.bulkWrite(models)
            Issue.record("bad $inc accepted")
        } catch let error as BulkWriteError {
            #expect(error.writeErrors.map(\.index) == [1])
            #expect(error.writeErrors.first?.error.code == .typeMismatch)
            #expect(error.result.insertedCount == 1 && error.result.deletedCount == 0)
        }
        try await c.deleteMany([:])
        do {
            try await c.bulkWrite(models, ordered: false)
            Issue.record("bad writes accepted")
        } catch let error as BulkWriteError {
            #expect(error.writeErrors.map(\.index) == [1, 2])
            #expect(error.writeErrors.map(\.error.code) == [.typeMismatch, .duplicateKey])
            #expect(error.result.insertedCount == 1 && error.result.deletedCount == 1)
        }
        #expect(try await c.countDocuments() == 0)
    }

    @Test func malformedWriteModelsFailBeforeAnythingIsWritten() async throws {
        let folio = try FolioClient.inMemory()
        defer { folio.close() }
        let c = folio.database("db").collection("c")
        await #expect(throws: FolioError.self) {
            try await c.bulkWrite([.insertOne(["_id": 1]), .updateOne(filter: [:], update: ["plain": 1])])
        }
        await #expect(throws: FolioError.self) {
            try await c.bulkWrite([.insertOne(["_id": 1]), .replaceOne(filter: [:], replacement: ["$set": ["a": 1]])])
        }
        #expect(try await c.countDocuments() == 0)
    }
}
