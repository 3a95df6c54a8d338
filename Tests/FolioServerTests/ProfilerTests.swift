import Testing
import FolioBSON
import FolioQuery
@testable import FolioServer

/// The profiler (Profiler.swift) and the `profile` command: levels per database, the filter,
/// system.profile as a capped collection, and MongoDB's profile document shape.
@Suite struct ProfilerTests {
    func profile(_ s: TestServer, db: String = "test") -> [Document] {
        (s.firstBatch(s.run(["find": "system.profile", "sort": ["$natural": 1]], db: db)) ?? []).compactMap(\.documentValue)
    }

    @Test func levelTwoProfilesEveryOperationOfItsDatabaseOnly() throws {
        let s = try TestServer()
        #expect(s.run(["profile": -1])["was"] == .int32(0))
        #expect(s.run(["profile": 2])["was"] == .int32(0))
        #expect(s.run(["profile": -1])["was"] == .int32(2))
        s.run(["insert": "c", "documents": [["_id": 1, "a": 1], ["_id": 2, "a": 2], ["_id": 3, "a": 3]]])
        s.run(["createIndexes": "c", "indexes": [["key": ["a": 1], "name": "a_1"]]])
        let find = s.run(["find": "c", "filter": ["a": ["$gte": 2]], "batchSize": 1])
        let id = find["cursor"]?.documentValue?["id"] ?? .int64(0)
        s.run(["getMore": id, "collection": "c"])
        s.run(["update": "c", "updates": [["q": ["_id": 9], "u": ["$set": ["a": 9]], "upsert": true]]])
        s.run(["delete": "c", "deletes": [["q": ["a": ["$lt": 3]], "limit": 0]]])
        s.run(["insert": "elsewhere", "documents": [["_id": 1]]], db: "other")
        #expect(s.run(["profile": 0])["was"] == .int32(2))
        s.run(["find": "c"])

        // The profile command run at level 2 is profiled too (on test.$cmd); the profile's
        // entries have an `_id` first (MongoDB's have none: every Folio record has one).
        var entries = profile(s)
        #expect(entries.first?["ns"] == "test.$cmd" && entries.first?["command"]?.documentValue?["profile"] == -1)
        entries = entries.dropFirst().map { d in Document(d.filter { $0.key != "_id" }.map { ($0.key, $0.value) }) }
        #expect(entries.map { $0["op"] } == ["insert", "command", "query", "getmore", "update", "remove"])
        #expect(entries.allSatisfy { $0["ns"] == "test.c" && $0["protocol"] == "op_msg" && $0["client"] == "127.0.0.1" })
        #expect(entries[0]["ninserted"] == .int64(3))
        #expect(entries[0]["command"]?.documentValue?["insert"] == "c")
        let query = entries[2]
        #expect(query["planSummary"] == "IXSCAN { a: 1 }")
        #expect(query["keysExamined"]?.exactInt64 ?? 0 >= 1)
        #expect(query["nreturned"] == .int64(1))
        #expect(query["cursorExhausted"] == nil)
        #expect(entries[3]["nreturned"] == .int64(1) && entries[3]["cursorExhausted"] == .bool(true))
        #expect(entries[4]["nMatched"] == .int64(0) && entries[4]["nUpserted"] == .int64(1))
        #expect(entries[5]["ndeleted"] == .int64(2))
        // The fields in MongoDB's order.
        #expect(Array(query.fieldNames.prefix(3)) == ["op", "ns", "command"])
        #expect(Array(query.fieldNames.suffix(4)) == ["ts", "client", "allUsers", "user"])
        #expect(profile(s, db: "other").isEmpty)
        // system.profile is a capped collection of 1 MB.
        let options = s.firstBatch(s.run(["listCollections": 1, "filter": ["name": "system.profile"]]))?.first?.documentValue?["options"]
        #expect(options == ["capped": true, "size": .int32(1 << 20)])
    }

    @Test func levelOneTakesSlowOperationsOrThoseTheFilterMatches() throws {
        let s = try TestServer()
        // slowms 0 makes every operation slow; a day none.
        #expect(s.run(["profile": 1, "slowms": 86_400_000])["ok"] == .double(1))
        s.run(["insert": "c", "documents": [["_id": 1]]])
        #expect(profile(s).isEmpty)
        // The profile command that lowers slowms ran at level 1 and is slow by then.
        s.run(["profile": 1, "slowms": 0])
        s.run(["insert": "c", "documents": [["_id": 2]]])
        #expect(profile(s).map { $0["op"] } == ["command", "insert"])

        let filtered = s.run(["profile": 1, "filter": ["op": "query"]])
        #expect(filtered["was"] == .int32(1) && filtered["slowms"] == .int32(0))
        #expect(filtered["note"] != nil)
        s.run(["insert": "c", "documents": [["_id": 3]]])
        s.run(["find": "c", "filter": ["_id": 3]])
        // The find of system.profile above is not profiled, nor is the profile command (a filter
        // on op: "query" leaves it out).
        #expect(profile(s).map { $0["op"] } == ["command", "insert", "query"])
        #expect(profile(s).last?["planSummary"] == "IDHACK")
        let unset = s.run(["profile": 0, "filter": "unset", "slowms": 100])
        #expect(unset["filter"] == ["op": "query"])
        #expect(s.run(["profile": -1])["filter"] == nil)
    }

    @Test func badSettingsAreRefused() throws {
        let s = try TestServer()
        #expect(s.run(["profile": 3])["code"] == .int32(2))
        #expect(s.run(["profile": 1, "sampleRate": 2])["code"] == .int32(2))
        #expect(s.run(["profile": 1, "filter": 5])["code"] == .int32(14))
        #expect(s.run(["profile": 1, "filter": ["$bogus": 1]])["ok"] == .double(0))
        #expect(s.run(["profile": -1])["was"] == .int32(0))
    }

    @Test func theClientsPortIsLeftOut() {
        #expect(Profiler.host("127.0.0.1:5000") == "127.0.0.1")
        #expect(Profiler.host("[::1]:5000") == "::1")
        #expect(Profiler.host("unix") == "unix")
    }
}
