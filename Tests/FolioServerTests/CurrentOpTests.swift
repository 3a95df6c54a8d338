import Foundation
import Testing
import FolioBSON
import FolioQuery
@testable import FolioServer
@testable import FolioWire
@testable import FolioEngine
import FolioTestSupport

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

/// An index build the engine started again at its open (a crash cut it short) is an
/// operation of the server's own: currentOp lists it with its progress, shutdown does not wait
/// for it, and killOp stops it (its index goes, as when killOp stops a client's build).
@Suite struct ResumedIndexBuildOperationTests {
    @Test func killOpStopsABuildStartedAgain() throws {
        let directory = TestSupport.scratchPath("folio-resumed-op")
        let ns = try Namespace(database: "db", collection: "c")
        do {
            let engine = try Engine.open(directory: directory)
            _ = try engine.insert(ns, (0..<3_000).map { ["_id": .int32(Int32($0)), "v": .int32(Int32($0 % 7))] })
            // The build's first commit alone, as a crash after it leaves it.
            try engine.committer.write(durable: true) { txn in
                var entry = try engine.entryForWrite(ns, in: txn)
                let fresh = try engine.newIndexes([["key": ["v": 1], "name": "v_1"]], &entry)
                for i in entry.indexes.indices { entry.indexes[i].building = true }
                try txn.createStore(fresh[0].store)
                try engine.saveEntry(entry, txn)
            }
            engine.close()
        }
        let engine = try Engine.open(directory: directory, resumeIndexBuilds: false)
        defer { engine.close() }
        engine.indexBuildCommitEntries.withLock { $0 = 400 }
        // Each commit of keys waits until the operation is killed (for at most 30 s).
        engine.indexBuildBeforeChunkCommit.withLock { $0 = { @Sendable in
            let deadline = ContinuousClock.now + .seconds(30)
            while ContinuousClock.now < deadline {
                try OperationInterrupt.check()
                usleep(1_000)
            }
            throw FolioError(.internalError, "the build was not killed")
        } }
        let context = ServerContext(engine: engine, configuration: ServerConfiguration(dataPath: directory, inMemory: false))
        let s = TestServer(dispatcher: CommandDispatcher(context: context))
        engine.resumedBuilds?.start(engine)
        let op = try #require(CurrentOpTests.waitForOperation(s, filter: ["desc": "IndexBuildsCoordinatorMongod-0", "msg": ["$exists": true]]))
        #expect(op["ns"] == "db.c" && op["op"] == "command" && op["connectionId"] == nil)
        #expect(op["command"] == ["createIndexes": "c", "indexes": [["v": 2, "key": ["v": 1], "name": "v_1"]]])
        #expect(op["progress"]?.documentValue?["total"] == .int64(3_000))
        #expect(context.operations.isEmpty)  // shutdown waits only for clients' operations
        guard case .int32(let opid)? = op["opid"] else { Issue.record("no opid: \(op)"); return }
        #expect(s.run(["killOp": 1, "op": .int32(opid)], db: "admin")["ok"] == .double(1))
        engine.resumedBuilds?.wait()
        context.noteEndedIndexBuilds()
        let log = s.run(["getLog": "global"], db: "admin")["log"]?.arrayValue?.compactMap(\.stringValue) ?? []
        #expect(log.contains { $0.contains("Index build started again at startup failed") && $0.contains("\"code\":11601") }, "\(log.suffix(3))")
        #expect(s.run(["currentOp": 1, "desc": "IndexBuildsCoordinatorMongod-0"], db: "admin")["inprog"] == [])
        #expect(engine.entry(ns)?.indexes.isEmpty == true)
        #expect(s.run(["listIndexes": "c"], db: "db")["cursor"]?.documentValue?["firstBatch"]?.arrayValue?.count == 1)
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
