import Testing
import FolioBSON
@testable import FolioServer

/// getParameter/setParameter (ServerParameters.swift, Commands/Admin.swift): the values and
/// the behaviour each one changes.
@Suite struct ServerParametersTests {
    @Test func getAndSet() throws {
        let s = try TestServer()
        let all = s.run(["getParameter": "*"], db: "admin")
        for name in ["cursorTimeoutMillis", "enableTestCommands", "featureCompatibilityVersion",
                     "internalQueryMaxBlockingSortMemoryUsageBytes", "ttlMonitorEnabled", "ttlMonitorSleepSecs"] {
            #expect(all[name] != nil, "\(name) missing from \(all)")
        }
        #expect(all["enableTestCommands"] == false && all["cursorTimeoutMillis"] == .int64(600_000))
        let details = s.run(["getParameter": ["showDetails": true], "ttlMonitorSleepSecs": 1], db: "admin")
        #expect(details["ttlMonitorSleepSecs"] == ["value": .int32(60), "settableAtRuntime": true, "settableAtStartup": true], "\(details)")
        #expect(s.run(["getParameter": 1, "ttlMonitorSleepSecs": 1])["code"] == .int32(13))

        let set = s.run(["setParameter": 1, "cursorTimeoutMillis": .int64(1000)], db: "admin")
        #expect(set["was"] == .int64(600_000), "\(set)")
        #expect(s.run(["getParameter": 1, "cursorTimeoutMillis": 1], db: "admin")["cursorTimeoutMillis"] == .int64(1000))
        let unknown = s.run(["setParameter": 1, "notAParameter": 1], db: "admin")
        #expect(unknown["code"] == .int32(72) && unknown["errmsg"] == "attempted to set unrecognized parameter [notAParameter], use help:true to see options ")
        #expect(s.run(["setParameter": 1, "enableTestCommands": true], db: "admin")["code"] == .int32(20))
        #expect(s.run(["setParameter": 1, "ttlMonitorSleepSecs": "often"], db: "admin")["code"] == .int32(2))
        #expect(s.run(["setParameter": 1, "ttlMonitorSleepSecs": 0], db: "admin")["code"] == .int32(2))
        #expect(s.run(["setParameter": 1], db: "admin")["code"] == .int32(72))
    }

    /// The sort budget applies to find and to aggregate's $sort.
    @Test func sortBudgetIsHonoured() throws {
        let s = try TestServer()
        let docs: [BSON] = (0..<50).map { ["_id": .int32(Int32($0)), "s": .string(String(repeating: "x", count: 100))] }
        s.run(["insert": "c", "documents": .array(docs)])
        #expect(s.run(["setParameter": 1, "internalQueryMaxBlockingSortMemoryUsageBytes": 1000], db: "admin")["ok"] == .double(1))
        let find = s.run(["find": "c", "sort": ["s": 1, "_id": -1], "allowDiskUse": false])
        #expect(find["code"] == .int32(292), "\(find)")
        let aggregate = s.run(["aggregate": "c", "pipeline": [["$sort": ["s": 1, "_id": -1]]], "cursor": [:], "allowDiskUse": false])
        #expect(aggregate["code"] == .int32(292), "\(aggregate)")
        // With disk use allowed the same sort spills and answers.
        #expect(s.firstBatch(s.run(["find": "c", "sort": ["s": 1, "_id": -1]]))?.count == 50)
        s.run(["setParameter": 1, "internalQueryMaxBlockingSortMemoryUsageBytes": .int32(Int32(Limits.blockingStageMemoryBytes))], db: "admin")
        #expect(s.firstBatch(s.run(["find": "c", "sort": ["s": 1, "_id": -1], "allowDiskUse": false]))?.count == 50)
    }

    /// Idle cursors close after cursorTimeoutMillis, unless opened with noCursorTimeout.
    @Test func idleCursorsTimeOut() throws {
        let s = try FindTests.server()
        let plain = try #require(s.run(["find": "t", "batchSize": 1])["cursor"]?.documentValue?["id"])
        let kept = try #require(s.run(["find": "t", "batchSize": 1, "noCursorTimeout": true])["cursor"]?.documentValue?["id"])
        s.dispatcher.context.cursors.expireIdle(timeoutMilliseconds: 0)
        #expect(s.run(["getMore": plain, "collection": "t"])["code"] == .int32(43))
        #expect(s.run(["getMore": kept, "collection": "t", "batchSize": 1])["ok"] == .double(1))
        let cursor = s.run(["serverStatus": 1], db: "admin")["metrics"]?.documentValue?["cursor"]?.documentValue
        #expect(cursor?["timedOut"] == .int64(1) && cursor?["open"]?.documentValue?["noTimeout"] == .int64(1), "\(cursor ?? [:])")
    }
}
