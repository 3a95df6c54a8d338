import Testing
import FolioBSON
@testable import FolioServer

/// configureFailPoint and the failCommand fail point (FailPoints.swift, Commands/TestCommands.swift).
@Suite struct FailPointsTests {
    private func configure(_ s: TestServer, mode: BSON, data: Document) -> Document {
        s.run(["configureFailPoint": "failCommand", "mode": mode, "data": .document(data)], db: "admin")
    }

    @Test func onlyOnTestServers() throws {
        let plain = try TestServer()
        #expect(configure(plain, mode: "alwaysOn", data: ["failCommands": ["find"], "errorCode": 91])["code"] == .int32(59))
        let s = try TestServer(enableTestCommands: true)
        #expect(s.run(["configureFailPoint": "failCommand", "mode": "off"])["code"] == .int32(13))
        #expect(s.run(["configureFailPoint": "noSuchFailPoint", "mode": "off"], db: "admin")["code"] == .int32(266))
        #expect(configure(s, mode: "sometimes", data: [:])["code"] == .int32(2))
        #expect(configure(s, mode: "alwaysOn", data: ["blockConnection": true])["code"] == .int32(72))
        #expect(s.run(["getParameter": 1, "enableTestCommands": 1], db: "admin")["enableTestCommands"] == true)
    }

    @Test func timesAndSkip() throws {
        let s = try TestServer(enableTestCommands: true)
        #expect(configure(s, mode: ["times": 2], data: ["failCommands": ["find", "count"], "errorCode": 91])["count"] == .int32(0))
        for _ in 0..<2 {
            let failed = s.run(["find": "c"])
            #expect(failed["code"] == .int32(91) && failed["codeName"] == "ShutdownInProgress" &&
                    failed["errmsg"] == "Failing command via 'failCommand' failpoint", "\(failed)")
        }
        #expect(s.run(["find": "c"])["ok"] == .double(1))
        #expect(s.run(["insert": "c", "documents": [["_id": 1]]])["ok"] == .double(1), "commands not listed run")
        #expect(configure(s, mode: ["skip": 1], data: ["failCommands": ["find"], "errorCode": 2])["count"] == .int32(2))
        #expect(s.run(["find": "c"])["ok"] == .double(1))
        #expect(s.run(["find": "c"])["code"] == .int32(2))
        #expect(configure(s, mode: "off", data: [:])["ok"] == .double(1))
        #expect(s.run(["find": "c"])["ok"] == .double(1))
    }

    /// A retryable write (txnNumber) failing with a retryable code is labelled as MongoDB
    /// labels it; the fail point's own errorLabels replace the labels.
    @Test func errorLabels() throws {
        let s = try TestServer(enableTestCommands: true)
        _ = configure(s, mode: "alwaysOn", data: ["failCommands": ["insert"], "errorCode": 91])
        let retryable = s.run(["insert": "c", "documents": [["_id": 1]], "txnNumber": .int64(1),
                               "lsid": ["id": .binary(Binary(subtype: Binary.Subtype.uuid, data: [UInt8](repeating: 1, count: 16)))]])
        #expect(retryable["errorLabels"] == ["RetryableWriteError"], "\(retryable)")
        #expect(s.run(["insert": "c", "documents": [["_id": 1]]])["errorLabels"] == nil)
        _ = configure(s, mode: "alwaysOn", data: ["failCommands": ["insert"], "errorCode": 11000, "errorLabels": ["Custom"]])
        #expect(s.run(["insert": "c", "documents": [["_id": 1]]])["errorLabels"] == ["Custom"])
        _ = configure(s, mode: "off", data: [:])
        #expect(s.run(["count": "c"])["n"] == .int32(0), "failed commands wrote nothing")
    }

    @Test func writeConcernErrorAfterTheWrite() throws {
        let s = try TestServer(enableTestCommands: true)
        _ = configure(s, mode: ["times": 1], data: ["failCommands": ["insert"],
                                                     "writeConcernError": ["code": 64, "errmsg": "waiting for replication timed out"]])
        let reply = s.run(["insert": "c", "documents": [["_id": 1]]])
        #expect(reply["ok"] == .double(1) && reply["n"] == .int32(1))
        #expect(reply["writeConcernError"] == ["code": 64, "errmsg": "waiting for replication timed out"], "\(reply)")
        #expect(s.run(["count": "c"])["n"] == .int32(1))
    }

    @Test func closeConnectionAndAppName() throws {
        let s = try TestServer(enableTestCommands: true)
        _ = configure(s, mode: "alwaysOn", data: ["failCommands": ["ping"], "closeConnection": true, "appName": "app1"])
        // This connection has not named itself: the fail point does not apply.
        #expect(s.dispatcher.answer(["ping": 1, "$db": "admin"], connection: s.connection).closeConnection == false)
        s.run(["hello": 1, "client": ["application": ["name": "app1"]]], db: "admin")
        #expect(s.dispatcher.answer(["ping": 1, "$db": "admin"], connection: s.connection).closeConnection == true)
    }

    @Test func blockTimesOfAnySizeAreBounded() {
        #expect(FailPoints.microseconds(blockTimeMS: 5) == 5000)
        #expect(FailPoints.microseconds(blockTimeMS: .max) == UInt32.max)
        #expect(FailPoints.microseconds(blockTimeMS: Int64(UInt32.max / 1000)) == UInt32.max)
        #expect(FailPoints.microseconds(blockTimeMS: -1) == 0)
    }
}
