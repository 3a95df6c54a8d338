import Testing
import Folio

/// Explain.swift: the library shows the plans the server's explain shows.
@Suite struct ExplainTests {
    @Test func findAndAggregatePlansNameTheirIndexAndCounts() async throws {
        let folio = try FolioClient.inMemory()
        defer { folio.close() }
        let messages = folio.database("chat").collection("messages")
        try await messages.insertMany((0..<200).map { ["_id": .int32(Int32($0)), "room": .int32(Int32($0 % 10)), "at": .int32(Int32($0))] as Document })
        try await messages.createIndex(["room": 1, "at": -1])

        let plan = try await messages.explainFind(["room": 3], sort: ["at": -1], limit: 5)
        let winning = try #require(plan["queryPlanner"]?.documentValue?["winningPlan"]?.documentValue)
        #expect(winning["stage"] == "LIMIT")
        let fetch = try #require(winning["inputStage"]?.documentValue)
        #expect(fetch["inputStage"]?.documentValue?["indexName"] == "room_1_at_-1")
        #expect(plan["executionStats"] == nil)

        let stats = try await messages.explainFind(["room": 3], sort: ["at": -1], limit: 5, verbosity: .executionStats)
        let execution = try #require(stats["executionStats"]?.documentValue)
        #expect(execution["nReturned"] == 5)
        #expect(execution["totalKeysExamined"] == 5)
        #expect(execution["totalDocsExamined"] == 5)

        let unindexed = try await messages.explainFind(["at": ["$gt": 100]], verbosity: .executionStats)
        #expect(unindexed["queryPlanner"]?.documentValue?["winningPlan"]?.documentValue?["stage"] == "COLLSCAN")
        #expect(unindexed["executionStats"]?.documentValue?["totalDocsExamined"] == 200)

        let pipeline = try await messages.explainAggregate([["$match": ["room": 3]], ["$group": ["_id": nil, "n": ["$sum": 1]]]])
        #expect(pipeline["stages"]?.arrayValue?.first?.documentValue?["$cursor"] != nil)

        await #expect { try await messages.explainFind(["$bogus": 1]) } throws: { $0 is FolioError }
    }
}
