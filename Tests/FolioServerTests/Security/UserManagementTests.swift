import Testing
import FolioBSON
import FolioQuery
@testable import FolioServer

/// createUser, updateUser, dropUser, dropAllUsersFromDatabase, grant/revoke, usersInfo and
/// rolesInfo (Commands/UserManagement.swift), without access control (as MongoDB allows them).
@Suite struct UserManagementTests {
    @Test func usersAreStoredAsMongoDBStoresThem() throws {
        let s = try TestServer()
        #expect(s.run(["createUser": "ann", "pwd": "pw", "roles": ["read", ["role": "readWrite", "db": "other"]],
                       "customData": ["team": "a"]], db: "app")["ok"] == .double(1))
        let stored = s.firstBatch(s.run(["find": "system.users"], db: "admin"))?.first?.documentValue
        #expect(stored?.fieldNames == ["_id", "userId", "user", "db", "credentials", "customData", "roles"])
        #expect(stored?["_id"] == "app.ann")
        #expect(stored?["credentials"]?.documentValue?.fieldNames == ["SCRAM-SHA-1", "SCRAM-SHA-256"])
        let info = s.run(["usersInfo": "ann"], db: "app")["users"]?.arrayValue?.first?.documentValue
        #expect(info?.fieldNames == ["_id", "userId", "user", "db", "customData", "roles", "mechanisms"])
        #expect(info?["roles"] == [["role": "read", "db": "app"], ["role": "readWrite", "db": "other"]])
        let withCredentials = s.run(["usersInfo": ["user": "ann", "db": "app"], "showCredentials": true], db: "x")
        #expect(withCredentials["users"]?.arrayValue?.first?.documentValue?["credentials"] != nil)
        #expect(s.run(["usersInfo": ["forAllDBs": true]], db: "admin")["users"]?.arrayValue?.count == 1)
    }

    @Test func errorsAreMongoDBs() throws {
        let s = try TestServer()
        #expect(s.run(["createUser": "ann", "pwd": "pw", "roles": []], db: "app")["ok"] == .double(1))
        let cases: [(Document, String, Int32)] = [
            (["createUser": "ann", "pwd": "pw", "roles": []], "app", 51003),
            (["createUser": "bob", "pwd": "pw", "roles": ["nope"]], "app", 31),
            (["createUser": "bob", "pwd": "", "roles": []], "app", 2),
            (["createUser": "bob", "roles": []], "app", 2),
            (["createUser": "bob", "pwd": "pw"], "app", 2),
            (["createUser": "bob", "pwd": "pw", "roles": [], "mechanisms": ["MD5"]], "app", 2),
            (["createUser": "bob", "pwd": "pw", "roles": [], "digestPassword": false], "app", 2),
            (["createUser": "bob", "pwd": "pw", "roles": [], "bogus": 1], "app", 40415),
            (["createUser": "bob", "pwd": "pw", "roles": []], "local", 2),
            (["createUser": "", "pwd": "pw", "roles": []], "app", 2),
            (["updateUser": "ghost", "pwd": "pw"], "app", 11),
            (["updateUser": "ann"], "app", 2),
            (["dropUser": "ghost"], "app", 11),
            (["grantRolesToUser": "ann", "roles": []], "app", 2),
        ]
        for (command, db, code) in cases {
            #expect(s.run(command, db: db)["code"] == .int32(code), "\(command)")
        }
    }

    @Test func updatesGrantsAndDrops() throws {
        let s = try TestServer()
        #expect(s.run(["createUser": "ann", "pwd": "pw", "roles": ["read"], "mechanisms": ["SCRAM-SHA-256"]], db: "app")["ok"] == .double(1))
        #expect(s.run(["updateUser": "ann", "pwd": "new"], db: "app")["ok"] == .double(1))
        var info = s.run(["usersInfo": "ann"], db: "app")["users"]?.arrayValue?.first?.documentValue
        #expect(info?["mechanisms"] == ["SCRAM-SHA-256"])
        #expect(s.run(["grantRolesToUser": "ann", "roles": ["readWrite", "read"]], db: "app")["ok"] == .double(1))
        #expect(s.run(["revokeRolesFromUser": "ann", "roles": ["read"]], db: "app")["ok"] == .double(1))
        info = s.run(["usersInfo": "ann"], db: "app")["users"]?.arrayValue?.first?.documentValue
        #expect(info?["roles"] == [["role": "readWrite", "db": "app"]])
        #expect(s.run(["createUser": "bob", "pwd": "pw", "roles": []], db: "app")["ok"] == .double(1))
        #expect(s.run(["dropAllUsersFromDatabase": 1], db: "app")["n"] == .int32(2))
        #expect(s.run(["usersInfo": 1], db: "app")["users"] == [])
    }

    @Test func rolesInfoDescribesBuiltInRoles() throws {
        let s = try TestServer()
        let read = s.run(["rolesInfo": "read", "showPrivileges": true], db: "app")["roles"]?.arrayValue?.first?.documentValue
        #expect(read?["isBuiltin"] == true && read?["db"] == "app")
        #expect(read?["privileges"]?.arrayValue?.first?.documentValue?["resource"] == ["db": "app", "collection": ""])
        #expect(s.run(["rolesInfo": "nope"], db: "app")["roles"] == [])
        let all = s.run(["rolesInfo": 1, "showBuiltinRoles": true], db: "admin")["roles"]?.arrayValue?.count
        #expect(all == BuiltinRoles.databaseRoles.count + BuiltinRoles.adminRoles.count)
    }
}

/// Writes to the security collections as collections move the user store's generation; other
/// writes on admin (bulkWrite runs there) do not.
@Suite struct SecurityCollectionWritesTests {
    @Test func onlyWritesToUsersAndRolesCount() {
        let yes: [(String, Document, String)] = [
            ("insert", ["insert": "system.users", "documents": []], "admin"),
            ("delete", ["delete": "system.roles", "deletes": []], "admin"),
            ("dropDatabase", ["dropDatabase": 1], "admin"),
            ("renameCollection", ["renameCollection": "admin.system.users", "to": "admin.x"], "admin"),
            ("bulkWrite", ["bulkWrite": 1, "ops": [], "nsInfo": [["ns": "admin.system.roles"]]], "admin"),
        ]
        let no: [(String, Document, String)] = [
            ("insert", ["insert": "system.users", "documents": []], "app"),
            ("insert", ["insert": "other", "documents": []], "admin"),
            ("bulkWrite", ["bulkWrite": 1, "ops": [], "nsInfo": [["ns": "app.c"]]], "admin"),
            ("find", ["find": "system.users"], "admin"),
        ]
        for (name, body, db) in yes { #expect(CommandDispatcher.writesSecurityCollections(name, body, database: db), "\(body)") }
        for (name, body, db) in no { #expect(!CommandDispatcher.writesSecurityCollections(name, body, database: db), "\(body)") }
    }
}
