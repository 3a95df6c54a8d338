import Testing
import Foundation
import FolioBSON
import FolioEngine
@testable import FolioServer

/// The audit log (AuditLog.swift): MongoDB Enterprise's message shape for authentications,
/// refused commands, user changes and DDL.
@Suite struct AuditLogTests {
    @Test func securityEventsAreWrittenAsJSONLines() throws {
        let path = NSTemporaryDirectory() + "folio-audit-\(UInt32.random(in: 0...UInt32.max)).json"
        defer { try? FileManager.default.removeItem(atPath: path) }
        var configuration = ServerConfiguration(inMemory: true)
        configuration.auth = true
        let audit = try AuditLog(path: path, host: "127.0.0.1", port: 27017)
        let dispatcher = CommandDispatcher(context: ServerContext(engine: try Engine.inMemory(), configuration: configuration, audit: audit))
        let local = ConnectionInfo(id: 1, remoteAddress: "127.0.0.1:5000")
        func run(_ body: Document, db: String, _ c: ConnectionInfo = local) -> Document {
            var b = body
            b.append("$db", .string(db))
            return dispatcher.run(b, connection: c)
        }
        #expect(run(["createUser": "root", "pwd": "pw", "roles": ["root"]], db: "admin")["ok"] == .double(1))
        #expect(run(["find": "c"], db: "app")["code"] == .int32(13))
        let server = TestServer(dispatcher: dispatcher)
        #expect(try server.authenticate("root", "wrong", db: "admin")["code"] == .int32(18))
        #expect(try server.authenticate("root", "pw", db: "admin")["done"] == true)
        #expect(run(["create": "c"], db: "app")["ok"] == .double(1))
        #expect(run(["createIndexes": "c", "indexes": [["key": ["a": 1], "name": "a_1"]]], db: "app")["ok"] == .double(1))
        #expect(run(["dropUser": "nobody"], db: "app")["code"] == .int32(11))

        let lines = try String(contentsOfFile: path, encoding: .utf8).split(separator: "\n")
        let messages = try lines.map { try ExtendedJSON.document(from: String($0)) }
        #expect(messages.map { $0["atype"]?.stringValue ?? "" } ==
                ["createUser", "authCheck", "authenticate", "authenticate", "createCollection", "createIndex", "dropUser"])
        #expect(messages[0].fieldNames == ["atype", "ts", "local", "remote", "users", "roles", "param", "result"])
        #expect(messages[0]["remote"] == ["ip": "127.0.0.1", "port": .int32(5000)])
        #expect(messages[1]["result"] == .int32(13) && messages[1]["param"]?.documentValue?["command"] == "find")
        #expect(messages[2]["result"] == .int32(18) && messages[3]["result"] == .int32(0))
        #expect(messages[4]["users"] == [["user": "root", "db": "admin"]])
        #expect(messages[5]["param"]?.documentValue?["indexName"] == "a_1")
        #expect(messages[6]["result"] == .int32(11))
    }
}
