import Testing
import FolioBSON
import FolioQuery
@testable import FolioServer

/// Each built-in role against the commands it must allow and refuse, decided by the access
/// check alone (MongoDB's documented built-in roles; the user is defined on `app`, the cluster
/// roles on `admin`). Tests/Compat/test_auth.py runs a subset of this through pymongo.
@Suite struct RoleMatrixTests {
    /// role → the commands (by row below) it is allowed.
    static let commands: [(String, Document, String)] = [
        ("find", ["find": "c"], "app"),
        ("insert", ["insert": "c", "documents": []], "app"),
        ("createIndexes", ["createIndexes": "c", "indexes": []], "app"),
        ("collMod", ["collMod": "c"], "app"),
        ("dropDatabase", ["dropDatabase": 1], "app"),
        ("dbStats", ["dbStats": 1], "app"),
        ("createUser", ["createUser": "x", "pwd": "p", "roles": []], "app"),
        ("profile", ["profile": 1], "app"),
        ("validate", ["validate": "c"], "app"),
        ("watch", ["aggregate": "c", "pipeline": [["$changeStream": [:]]], "cursor": [:]], "app"),
        ("serverStatus", ["serverStatus": 1], "admin"),
        ("setParameter", ["setParameter": 1, "cursorTimeoutMillis": 1], "admin"),
        ("killOp", ["killOp": 1, "op": 1], "admin"),
        ("replSetGetStatus", ["replSetGetStatus": 1], "admin"),
        ("oplog", ["find": "oplog.rs"], "local"),
        ("shutdown", ["shutdown": 1], "admin"),
        ("setDatabaseQuota", ["setDatabaseQuota": "app"], "admin"),
    ]

    static let allowed: [String: Set<String>] = [
        "read": ["find", "dbStats", "watch"],
        "readWrite": ["find", "insert", "createIndexes", "dbStats", "watch"],
        "dbAdmin": ["createIndexes", "collMod", "dropDatabase", "dbStats", "profile", "validate"],
        "userAdmin": ["createUser"],
        "dbOwner": ["find", "insert", "createIndexes", "collMod", "dropDatabase", "dbStats", "createUser", "profile", "validate", "watch"],
        "readAnyDatabase": ["find", "dbStats", "watch"],
        "readWriteAnyDatabase": ["find", "insert", "createIndexes", "dbStats", "watch"],
        "dbAdminAnyDatabase": ["createIndexes", "collMod", "dropDatabase", "dbStats", "profile", "validate"],
        "userAdminAnyDatabase": ["createUser"],
        "clusterMonitor": ["dbStats", "serverStatus", "replSetGetStatus", "oplog"],
        "hostManager": ["setParameter", "killOp", "shutdown"],
        "clusterManager": ["replSetGetStatus", "oplog"],
        "clusterAdmin": ["dropDatabase", "dbStats", "serverStatus", "setParameter", "killOp", "replSetGetStatus", "oplog", "shutdown"],
        "backup": ["find", "dbStats", "oplog", "serverStatus"],
        "root": Set(commands.map(\.0)),
    ]

    @Test(arguments: Array(allowed.keys).sorted())
    func aRoleIsAllowedExactlyItsCommands(role: String) throws {
        let s = try TestServer()
        let name = RoleName(role: role, db: BuiltinRoles.databaseRoles.contains(role) ? "app" : "admin")
        let auth = Authorization(users: [UserName(user: "u", db: name.db)], roles: [name],
                                 privileges: BuiltinRoles.privileges(name) ?? [], localhostException: false)
        for (label, body, db) in RoleMatrixTests.commands {
            var b = body
            b.append("$db", .string(db))
            let r = CommandRequest(name: body.fieldNames[0], body: b, database: db, connection: s.connection, context: s.dispatcher.context)
            let permitted: Bool
            do {
                try CommandAccess.check(r, canonical: CommandDispatcher.canonicalName(body.fieldNames[0]), auth)
                permitted = true
            } catch {
                #expect(error.code == .unauthorized)
                permitted = false
            }
            #expect(permitted == RoleMatrixTests.allowed[role]!.contains(label), "\(role) \(label)")
        }
    }
}
