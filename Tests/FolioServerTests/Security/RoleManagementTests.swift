import Testing
import FolioBSON
import FolioQuery
@testable import FolioServer

/// User-defined roles (Commands/RoleManagement.swift): stored, inherited, enforced.
@Suite struct RoleManagementTests {
    let find: Document = ["resource": ["db": "app", "collection": "messages"], "actions": ["find"]]
    let insert: Document = ["resource": ["db": "app", "collection": "messages"], "actions": ["insert"]]

    @Test func rolesAreStoredAndDescribedAsMongoDBDoes() throws {
        let s = try TestServer()
        #expect(s.run(["createRole": "reader", "privileges": [.document(find)], "roles": []], db: "app")["ok"] == .double(1))
        #expect(s.run(["createRole": "writer", "privileges": [.document(insert)], "roles": ["reader", "read"]], db: "app")["ok"] == .double(1))
        let stored = s.firstBatch(s.run(["find": "system.roles", "filter": ["_id": "app.writer"]], db: "admin"))?.first?.documentValue
        #expect(stored?.fieldNames == ["_id", "role", "db", "privileges", "roles", "authenticationRestrictions"])
        let info = s.run(["rolesInfo": "writer", "showPrivileges": true], db: "app")["roles"]?.arrayValue?.first?.documentValue
        #expect(info?["isBuiltin"] == false)
        #expect(info?["inheritedRoles"] == [["role": "reader", "db": "app"], ["role": "read", "db": "app"]])
        let inherited = info?["inheritedPrivileges"]?.arrayValue?.compactMap { $0.documentValue?["resource"] } ?? []
        #expect(inherited.contains(["db": "app", "collection": "messages"]) && inherited.contains(["db": "app", "collection": ""]))
        #expect(s.run(["rolesInfo": 1], db: "app")["roles"]?.arrayValue?.count == 2)
    }

    @Test func errorsAreMongoDBs() throws {
        let s = try TestServer()
        #expect(s.run(["createRole": "r", "privileges": [], "roles": []], db: "app")["ok"] == .double(1))
        let cases: [(Document, String, Int32)] = [
            (["createRole": "r", "privileges": [], "roles": []], "app", 51002),
            (["createRole": "read", "privileges": [], "roles": []], "app", 2),
            (["createRole": "x", "roles": []], "app", 2),
            (["createRole": "x", "privileges": [["resource": ["db": "other", "collection": ""], "actions": ["find"]]], "roles": []], "app", 2),
            (["createRole": "x", "privileges": [["resource": ["cluster": true], "actions": ["serverStatus"]]], "roles": []], "app", 2),
            (["createRole": "x", "privileges": [["resource": ["db": "app", "collection": ""], "actions": ["fly"]]], "roles": []], "app", 2),
            (["createRole": "x", "privileges": [], "roles": ["nope"]], "app", 31),
            (["grantRolesToRole": "r", "roles": ["r"]], "app", 49),
            (["dropRole": "nope"], "app", 31),
            (["dropRole": "read"], "app", 49),
            (["updateRole": "r"], "app", 2),
        ]
        for (command, db, code) in cases {
            #expect(s.run(command, db: db)["code"] == .int32(code), "\(command)")
        }
        // A cycle through another role.
        #expect(s.run(["createRole": "s", "privileges": [], "roles": ["r"]], db: "app")["ok"] == .double(1))
        #expect(s.run(["grantRolesToRole": "r", "roles": ["s"]], db: "app")["code"] == .int32(49))
        // Cluster privileges only in admin roles; MongoDB's other actions are kept.
        #expect(s.run(["createRole": "ops", "privileges": [["resource": ["cluster": true], "actions": ["serverStatus", "shardingState"]]],
                       "roles": []], db: "admin")["ok"] == .double(1))
        let ops = s.run(["rolesInfo": "ops", "showPrivileges": true], db: "admin")["roles"]?.arrayValue?.first?.documentValue
        #expect(ops?["privileges"]?.arrayValue?.first?.documentValue?["actions"] == ["serverStatus", "shardingState"])
    }

    @Test func grantsRevokesAndDropsReachUsersAndOtherRoles() throws {
        let s = try TestServer(auth: true)
        #expect(s.run(["createUser": "root", "pwd": "pw", "roles": ["root"]], db: "admin")["ok"] == .double(1))
        try s.authenticate("root", "pw", db: "admin")
        #expect(s.run(["createRole": "reader", "privileges": [.document(find)], "roles": []], db: "app")["ok"] == .double(1))
        #expect(s.run(["createRole": "outer", "privileges": [], "roles": ["reader"]], db: "app")["ok"] == .double(1))
        #expect(s.run(["createUser": "ann", "pwd": "pw", "roles": ["outer"]], db: "app")["ok"] == .double(1))
        #expect(s.run(["insert": "messages", "documents": [["m": 1]]], db: "app")["ok"] == .double(1))

        let ann = ConnectionInfo(id: 21, remoteAddress: "10.1.1.1:1")
        #expect(try s.authenticate("ann", "pw", db: "app", connection: ann)["done"] == true)
        #expect(s.run(["find": "messages"], db: "app", connection: ann)["ok"] == .double(1))
        #expect(s.run(["find": "other"], db: "app", connection: ann)["code"] == .int32(13))
        #expect(s.run(["insert": "messages", "documents": [["m": 2]]], db: "app", connection: ann)["code"] == .int32(13))

        #expect(s.run(["grantPrivilegesToRole": "reader", "privileges": [.document(insert)]], db: "app")["ok"] == .double(1))
        #expect(s.run(["insert": "messages", "documents": [["m": 2]]], db: "app", connection: ann)["ok"] == .double(1))
        #expect(s.run(["revokePrivilegesFromRole": "reader", "privileges": [.document(insert)]], db: "app")["ok"] == .double(1))
        #expect(s.run(["insert": "messages", "documents": [["m": 3]]], db: "app", connection: ann)["code"] == .int32(13))

        #expect(s.run(["dropRole": "reader"], db: "app")["ok"] == .double(1))
        #expect(s.run(["find": "messages"], db: "app", connection: ann)["code"] == .int32(13))
        let outer = s.run(["rolesInfo": "outer"], db: "app")["roles"]?.arrayValue?.first?.documentValue
        #expect(outer?["roles"] == [])
        #expect(s.run(["dropAllRolesFromDatabase": 1], db: "app")["n"] == .int32(1))
        let user = s.run(["usersInfo": "ann"], db: "app")["users"]?.arrayValue?.first?.documentValue
        #expect(user?["roles"] == [])
    }

    @Test func theRoleGraphResolvesInheritance() throws {
        let a = RoleName(role: "a", db: "app"), b = RoleName(role: "b", db: "app")
        let custom: [RoleName: StoredRole] = [
            a: try StoredRole(name: a, privileges: [], roles: [b]),
            b: try StoredRole(name: b, privileges: [.document(find)], roles: [RoleName(role: "read", db: "x")]),
        ]
        let resolved = RoleGraph.resolve([a], custom: custom)
        #expect(resolved.roles == [a, b, RoleName(role: "read", db: "x")])
        #expect(RoleGraph.wouldCycle(b, granting: [a], custom: custom))
        #expect(!RoleGraph.wouldCycle(a, granting: [RoleName(role: "read", db: "app")], custom: custom))
        #expect(RoleGraph.resolve([RoleName(role: "ghost", db: "app")], custom: custom).roles.isEmpty)
    }
}
