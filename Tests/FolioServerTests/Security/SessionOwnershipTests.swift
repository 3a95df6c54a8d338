import Testing
import FolioBSON
import FolioQuery
@testable import FolioServer

/// Under access control a logical session belongs to the users who first used it.
@Suite struct SessionOwnershipTests {
    @Test func anotherUserCannotUseListOrEndASession() throws {
        let s = try TestServer(auth: true)
        #expect(s.run(["createUser": "root", "pwd": "pw", "roles": ["root"]], db: "admin")["ok"] == .double(1))
        try s.authenticate("root", "pw", db: "admin")
        for user in ["ann", "bob"] {
            #expect(s.run(["createUser": .string(user), "pwd": "pw", "roles": ["readWrite"]], db: "app")["ok"] == .double(1))
        }
        let ann = ConnectionInfo(id: 51, remoteAddress: "10.0.0.5:1"), bob = ConnectionInfo(id: 52, remoteAddress: "10.0.0.5:2")
        try s.authenticate("ann", "pw", db: "app", connection: ann)
        try s.authenticate("bob", "pw", db: "app", connection: bob)
        let lsid: Document = ["id": .binary(Binary(subtype: Binary.Subtype.uuid, data: [UInt8](repeating: 7, count: 16)))]
        #expect(s.run(["find": "c", "lsid": .document(lsid)], db: "app", connection: ann)["ok"] == .double(1))
        #expect(s.run(["find": "c", "lsid": .document(lsid)], db: "app", connection: bob)["code"] == .int32(13))

        func listed(_ c: ConnectionInfo) -> [BSON] {
            let reply = s.run(["aggregate": 1, "pipeline": [["$listLocalSessions": [:]]], "cursor": [:]], db: "admin", connection: c)
            return s.firstBatch(reply) ?? []
        }
        #expect(listed(ann).count == 1 && listed(bob).isEmpty)
        let uid = listed(ann).first?.documentValue?["_id"]?.documentValue?["uid"]
        #expect(uid == .binary(Binary(data: SessionRegistry.uid(UserName(user: "ann", db: "app")))))
        #expect(s.run(["endSessions": [.document(lsid)]], db: "admin", connection: bob)["ok"] == .double(1))
        #expect(listed(ann).count == 1)
        #expect(s.run(["endSessions": [.document(lsid)]], db: "admin", connection: ann)["ok"] == .double(1))
        #expect(listed(ann).isEmpty)
    }
}
