import Foundation
import Testing
import FolioBSON
import FolioQuery
@testable import FolioServer
@testable import FolioWire

@Suite struct CurrentOpTests {
    /// A slow aggregation (a $reduce over a million numbers per document).
    static let slow: Document = ["aggregate": "t", "cursor": [:], "pipeline": [["$project": ["x": [
        "$reduce": ["input": ["$range": [0, 1_000_000]], "initialValue": 0, "in": ["$add": ["$$value", "$$this"]]]]]]]]

    static func server() throws -> TestServer {
        let s = try TestServer()
        s.run(["insert": "t", "documents": .array((0..<50).map { ["_id": .int32(Int32($0))] })])
        return s
    }

    /// Runs `body` on another thread and returns its reply once done.
    static func inBackground(_ s: TestServer, _ body: Document) -> () -> Document {
        let done = DispatchSemaphore(value: 0)
        nonisolated(unsafe) var reply = Document()
        DispatchQueue.global().async {
            reply = s.run(body)
            done.signal()
        }
        return { done.wait(); return reply }
    }

    /// The running operation as currentOp lists it (waits until it shows).
    static func waitForOperation(_ s: TestServer, filter: Document) -> Document? {
        for _ in 0..<500 {
            var command: Document = ["currentOp": 1]
            for (k, v) in filter { command.append(k, v) }
            if case .array(let ops)? = s.run(command, db: "admin")["inprog"], case .document(let op)? = ops.first { return op }
            usleep(10_000)
        }
        return nil
    }

    @Test func killOpInterruptsARunningAggregation() throws {
        let s = try Self.server()
        let result = Self.inBackground(s, Self.slow)
        let op = try #require(Self.waitForOperation(s, filter: ["ns": "test.t", "command.aggregate": "t"]))
        #expect(op["op"] == "command" && op["active"] == .bool(true) && op["client"] == "127.0.0.1:1")
        guard case .int32(let opid)? = op["opid"] else { Issue.record("no opid: \(op)"); return }
        let killed = s.run(["killOp": 1, "op": .int32(opid)], db: "admin")
        #expect(killed["ok"] == .double(1) && killed["info"] == "attempting to kill op")
        let reply = result()
        #expect(reply["code"] == .int32(11601) && reply["codeName"] == "Interrupted", "\(reply)")
        // Killing an operation that is gone is not an error; the server keeps answering.
        #expect(s.run(["killOp": 1, "op": .int32(opid)], db: "admin")["ok"] == .double(1))
        #expect(s.run(["count": "t"])["n"] == .int32(50))
    }

    @Test func maxTimeMSInterruptsExpressionWork() throws {
        let s = try Self.server()
        var body = Self.slow
        body.append("maxTimeMS", 50)
        let reply = s.run(body)
        #expect(reply["code"] == .int32(50) && reply["codeName"] == "MaxTimeMSExpired", "\(reply)")
    }

    @Test func currentOpShowsItselfAndRefusesOtherDatabases() throws {
        let s = try Self.server()
        let reply = s.run(["currentOp": 1, "$all": true], db: "admin")
        guard case .array(let ops)? = reply["inprog"], case .document(let me)? = ops.first else { Issue.record("\(reply)"); return }
        #expect(me["op"] == "command" && me["ns"] == "admin" && me["command"] == ["currentOp": 1, "$all": true])
        #expect(me["secs_running"]?.int64Value != nil && me["microsecs_running"]?.int64Value != nil)
        #expect(s.run(["currentOp": 1])["code"] == .int32(13))
        #expect(s.run(["killOp": 1], db: "admin")["code"] == .int32(40414))
        #expect(s.run(["killOp": 1, "op": "x"], db: "admin")["code"] == .int32(14))
        let none = s.run(["currentOp": 1, "ns": "nope.nope"], db: "admin")
        #expect(none["inprog"] == [])
    }

    /// `$all` lists idle connections too (active: false), filtered like the rest.
    @Test func allListsIdleConnections() throws {
        let s = try Self.server()
        let context = s.dispatcher.context
        _ = context.connections.open(s.connection)
        try context.connections.open(ConnectionInfo(id: 7, remoteAddress: "10.0.0.7:5000")).withLock { (m) throws(FolioError) in
            try m.hello(client: ["application": ["name": "chat-api"]])
        }
        let all = s.run(["currentOp": 1, "$all": true], db: "admin")["inprog"]?.arrayValue ?? []
        // Connection 1 runs currentOp itself; connection 7 is idle.
        #expect(all.count == 2)
        let idle = all.compactMap(\.documentValue).first { $0["active"] == false }
        #expect(idle?["connectionId"] == .int32(7) && idle?["client"] == "10.0.0.7:5000" && idle?["appName"] == "chat-api")
        #expect(s.run(["currentOp": 1], db: "admin")["inprog"]?.arrayValue?.count == 1)
        #expect(s.run(["currentOp": 1, "$all": true, "active": true], db: "admin")["inprog"]?.arrayValue?.count == 1)
    }
}

/// Shutdown through the operation registry (OperationRegistry.swift): nothing begins after
/// it, and what runs is interrupted with 11600.
@Suite struct ShutdownTests {
    @Test func shutdownRefusesNewCommandsAndInterruptsRunningOnes() throws {
        let s = try TestServer()
        let registry = s.dispatcher.context.operations
        let running = try #require(registry.begin(["find": "t"], name: "find", database: "db", connection: s.connection))
        registry.beginShutdown()
        do {
            try running.interrupt.check()
            Issue.record("a running operation was not interrupted")
        } catch {
            #expect(error.code == .interruptedAtShutdown && error.message == "interrupted at shutdown")
        }
        registry.end(running)
        #expect(registry.isEmpty)
        let refused = s.run(["ping": 1])
        #expect(refused["code"] == .int32(91) && refused["codeName"] == "ShutdownInProgress", "\(refused)")
        #expect(registry.begin(["ping": 1], name: "ping", database: "db", connection: s.connection) == nil)
    }

    @Test func shutdownCommandNeedsAWireServer() throws {
        let s = try TestServer()
        #expect(s.run(["shutdown": 1])["code"] == .int32(13))
        #expect(s.run(["shutdown": 1], db: "admin")["code"] == .int32(20))
        #expect(s.run(["shutdown": 1, "timeoutSecs": "soon"], db: "admin")["code"] == .int32(14))
    }
}
