import Testing
import FolioBSON
import FolioQuery
@testable import FolioEngine

@Suite struct ValidationTests {
    @Test func validatorSurvivesRestartAndGuardsEveryWritePath() throws {
        let dir = tempDir()
        do {
            let engine = try Engine.open(directory: dir)
            try engine.createCollection(ns, options: ["validator": ["age": ["$gte": 0]]])
            engine.close()
        }
        let engine = try Engine.open(directory: dir)
        defer { engine.close() }
        #expect(engine.collections(in: "app").first?.options == ["validator": ["age": ["$gte": 0]]])
        let refused = try engine.insert(ns, [["_id": 1, "age": -1], ["_id": 2, "age": 5]], options: WriteOptions(ordered: false))
        #expect(refused.insertedCount == 1)
        let e = try #require(refused.writeErrors.first)
        #expect(e.index == 0 && e.error.code == .documentValidationFailure && e.error.message == "Document failed validation")
        #expect(e.error.extraFields == ["errInfo": ["failingDocumentId": 1, "details": [
            "operatorName": "$gte", "specifiedAs": ["age": ["$gte": 0]], "reason": "comparison failed", "consideredValue": -1]]])
        // update, upsert and findAndModify are checked; nothing refused is written.
        let u = try engine.update(ns, [UpdateStatement(filter: ["_id": 2], update: ["$inc": ["age": -10]])])
        #expect(u.writeErrors.first?.error.code == .documentValidationFailure && u.modified == 0)
        let up = try engine.update(ns, [UpdateStatement(filter: ["_id": 3], update: ["$set": ["age": -3]], upsert: true)])
        #expect(up.writeErrors.first?.error.code == .documentValidationFailure && up.upserted.isEmpty)
        #expect(failure { try engine.findAndModify(ns, FindAndModifyRequest(filter: ["_id": 2], update: ["$set": ["age": -1]])) }?.code == .documentValidationFailure)
        #expect(try docs(engine.find(ns, FindRequest())) == [["_id": 2, "age": 5]])
        // bypassDocumentValidation.
        var bypass = FindAndModifyRequest(filter: ["_id": 2], update: ["$set": ["age": -1]])
        bypass.bypassDocumentValidation = true
        _ = try engine.findAndModify(ns, bypass)
        #expect(try engine.insert(ns, [["_id": 4, "age": -4]], options: WriteOptions(bypassDocumentValidation: true)).insertedCount == 1)
        // collMod to moderate: invalid documents may stay invalid.
        _ = try engine.modifyCollection(ns, ["validationLevel": "moderate"])
        #expect(try engine.update(ns, [UpdateStatement(filter: ["_id": 4], update: ["$set": ["note": "x"]])]).modified == 1)
        #expect(failure { try engine.modifyCollection(ns, ["validationAction": "explode"]) }?.code == .badValue)
        #expect(failure { try engine.modifyCollection(ns, ["validator": ["$where": "1"]]) }?.code.rawValue == 224)
    }
}
