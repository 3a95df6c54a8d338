import Testing
import FolioBSON
import FolioQuery
@testable import FolioServer

/// Resource patterns and the built-in roles' privileges.
@Suite struct PrivilegesTests {
    @Test func patternsCoverWhatMongoDBsDo() {
        let cases: [(ResourcePattern, ResourceTarget, Bool)] = [
            (.database("app"), .collection("app", "c"), true),
            (.database("app"), .collection("app", "system.users"), false),
            (.database("app"), .collection("other", "c"), false),
            (.database("app"), .database("app"), true),
            (.database("app"), .cluster, false),
            (.collection("app", "c"), .collection("app", "c"), true),
            (.collection("app", "c"), .collection("app", "d"), false),
            (.collection("app", "c"), .database("app"), false),
            (.anyNormal, .collection("x", "y"), true),
            (.anyNormal, .collection("local", "oplog.rs"), false),
            (.anyNormal, .database("config"), false),
            (.anyNormal, .collection("x", "system.js"), false),
            (.anyNormal, .cluster, false),
            (.collectionInAnyDatabase("system.js"), .collection("x", "system.js"), true),
            (.anyResource, .collection("local", "oplog.rs"), true),
            (.anyResource, .cluster, true),
            (.cluster, .cluster, true),
            (.cluster, .database("admin"), false),
        ]
        for (pattern, target, covered) in cases {
            #expect(pattern.covers(target) == covered, "\(pattern) \(target)")
        }
    }

    @Test func patternsParseAndPrintAsMongoDBShowsThem() throws {
        for pattern: ResourcePattern in [.cluster, .anyResource, .anyNormal, .database("a"), .collection("a", "b"), .collectionInAnyDatabase("b")] {
            #expect(try ResourcePattern(parsing: pattern.document) == pattern)
        }
        #expect(throws: FolioError.self) { try ResourcePattern(parsing: ["db": 1]) }
    }

    @Test func builtInRolesGrantTheirActions() {
        func allows(_ role: String, _ db: String, _ action: Action, _ target: ResourceTarget) -> Bool {
            let auth = Authorization(users: [], roles: [], privileges: BuiltinRoles.privileges(RoleName(role: role, db: db)) ?? [],
                                     localhostException: false)
            return auth.isAuthorized(action, on: target)
        }
        #expect(allows("read", "app", .find, .collection("app", "c")))
        #expect(!allows("read", "app", .insert, .collection("app", "c")))
        #expect(!allows("read", "app", .find, .collection("other", "c")))
        #expect(allows("readWrite", "app", .insert, .collection("app", "c")))
        #expect(!allows("readWrite", "app", .collMod, .collection("app", "c")))
        #expect(allows("dbAdmin", "app", .collMod, .collection("app", "c")))
        #expect(!allows("dbAdmin", "app", .find, .collection("app", "c")))
        #expect(allows("dbAdmin", "app", .find, .collection("app", "system.profile")))
        #expect(allows("dbOwner", "app", .createUser, .database("app")))
        #expect(allows("readAnyDatabase", "admin", .find, .collection("x", "c")))
        #expect(!allows("readAnyDatabase", "admin", .find, .collection("local", "oplog.rs")))
        #expect(allows("clusterMonitor", "admin", .serverStatus, .cluster))
        #expect(allows("clusterAdmin", "admin", .dropDatabase, .database("x")))
        #expect(allows("root", "admin", .find, .collection("local", "oplog.rs")))
        // Cluster-wide roles exist only in admin.
        #expect(BuiltinRoles.privileges(RoleName(role: "root", db: "app")) == nil)
        #expect(BuiltinRoles.isBuiltin(RoleName(role: "read", db: "app")))
        #expect(!BuiltinRoles.isBuiltin(RoleName(role: "clusterAdmin", db: "app")))
    }

    @Test func roleNamesParse() throws {
        #expect(try RoleName(parsing: "read", defaultDatabase: "app") == RoleName(role: "read", db: "app"))
        #expect(try RoleName(parsing: ["role": "root", "db": "admin"], defaultDatabase: "app") == RoleName(role: "root", db: "admin"))
        #expect(throws: FolioError.self) { try RoleName(parsing: ["role": 1], defaultDatabase: "app") }
        #expect(throws: FolioError.self) { try RoleName(parsing: 5, defaultDatabase: "app") }
    }
}
