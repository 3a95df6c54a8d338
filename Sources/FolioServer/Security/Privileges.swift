import FolioBSON
import FolioEngine
import FolioQuery

// Authorization as MongoDB models it: a privilege is a set of actions on a resource pattern;
// roles grant privileges (the built-in ones below, defined by MongoDB's documentation of
// built-in roles and privilege actions); users hold roles.

/// A privilege action (each case is named as MongoDB names it; only those some Folio command
/// or role uses). The raw value is the action's bit in an `ActionSet`.
enum Action: Int, CaseIterable, Sendable {
    // Query and write
    case find, insert, update, remove, bypassDocumentValidation, changeStream
    // Database management
    case collStats, dbHash, dbStats, killCursors, listCollections, listIndexes, planCacheRead, convertToCapped,
         createCollection, dropCollection, dropIndex, createIndex, renameCollectionSameDB, collMod, compact,
         dropDatabase, enableProfiler, validate, reIndex, indexStats, listSearchIndexes, createSearchIndexes, dropSearchIndex,
         updateSearchIndex
    // User management
    case changeCustomData, changePassword, changeOwnPassword, changeOwnCustomData, createUser, createRole, dropUser,
         dropRole, grantRole, revokeRole, viewUser, viewRole
    // Cluster
    case listDatabases, serverStatus, hostInfo, getLog, getCmdLineOpts, getParameter, setParameter, shutdown, inprog,
         killop, replSetGetStatus, replSetGetConfig, replSetResizeOplog, killAnySession, listSessions, top,
         connPoolStats, logRotate, fsync, useUUID, invalidateUserCache, applicationMessage, appendOplogNote,
         replSetConfigure, replSetStateChange, netstat, cpuProfiler, dropConnections, killAnyCursor, rotateCertificates
    /// Every action (a user-defined role may grant it).
    case anyAction

    /// MongoDB's name of the action.
    var name: String { Action.names[rawValue] }
    static let names = allCases.map { String(describing: $0) }
    static let byName = Dictionary(uniqueKeysWithValues: allCases.map { ($0.name, $0) })

    /// The action MongoDB calls `name`.
    init?(name: String) {
        guard let a = Action.byName[name] else { return nil }
        self = a
    }

    /// MongoDB's other action names: a user-defined role may list them (so roles written for
    /// MongoDB load), though no Folio command checks them.
    static let otherMongoDBActions: Set<String> = [
        "addShard", "analyze", "analyzeShardKey", "auditConfigure", "auditLogRotate", "authSchemaUpgrade", "bypassWriteBlockingMode",
        "checkFreeMonitoringStatus", "checkMetadataConsistency", "cleanupOrphaned", "clearJumboFlag", "closeAllDatabases",
        "configureQueryAnalyzer", "connPoolSync", "emptycapped",
        "enableSharding", "flushRouterConfig", "forceUUID", "getClusterParameter", "getDefaultRWConcern",
        "getShardMap", "getShardVersion", "impersonate", "internal", "listCachedAndActiveUsers",
        "listShards", "logApplicationMessage", "moveChunk", "oidReset", "operationMetrics", "planCacheIndexFilter",
        "planCacheWrite", "queryStatsRead", "queryStatsReadTransformed", "refineCollectionShardKey", "removeShard",
        "repairDatabase", "reshardCollection", "resync", "setAuthenticationRestriction",
        "setClusterParameter", "setDefaultRWConcern", "setFeatureCompatibilityVersion", "setFreeMonitoring",
        "setUserWriteBlockMode", "shardCollection", "shardingState", "splitChunk", "splitVector", "storageDetails",
        "touch", "unlock",
    ]
}

/// A set of actions as bits: a privilege check is an AND.
struct ActionSet: Hashable, Sendable, Sequence, ExpressibleByArrayLiteral {
    private(set) var bits: UInt128 = 0

    init() {}
    init(arrayLiteral actions: Action...) { for a in actions { insert(a) } }
    init<S: Sequence>(_ actions: S) where S.Element == Action { for a in actions { insert(a) } }

    static let all = ActionSet(Action.allCases)

    var isEmpty: Bool { bits == 0 }
    func contains(_ a: Action) -> Bool { bits & (1 << UInt128(a.rawValue)) != 0 }
    func isSubset(of other: ActionSet) -> Bool { bits & ~other.bits == 0 }
    mutating func insert(_ a: Action) { bits |= 1 << UInt128(a.rawValue) }
    mutating func formUnion(_ other: ActionSet) { bits |= other.bits }
    mutating func subtract(_ other: ActionSet) { bits &= ~other.bits }
    func union(_ other: ActionSet) -> ActionSet { var s = self; s.formUnion(other); return s }

    func makeIterator() -> IndexingIterator<[Action]> { Action.allCases.filter(contains).makeIterator() }
}

/// What a privilege applies to.
enum ResourcePattern: Hashable, Sendable {
    /// The server as a whole (`{cluster: true}`).
    case cluster
    /// Everything, system collections included (`{anyResource: true}`).
    case anyResource
    /// Every database and non-system collection, except the `local` and `config` databases
    /// (`{db: "", collection: ""}`).
    case anyNormal
    /// One database and its non-system collections (`{db: "x", collection: ""}`).
    case database(String)
    /// One collection (`{db: "x", collection: "c"}`).
    case collection(String, String)
    /// A collection name in every database (`{db: "", collection: "c"}`).
    case collectionInAnyDatabase(String)

    /// As `rolesInfo` and `connectionStatus` show it.
    var document: Document {
        switch self {
        case .cluster: return ["cluster": true]
        case .anyResource: return ["anyResource": true]
        case .anyNormal: return ["db": "", "collection": ""]
        case .database(let db): return ["db": .string(db), "collection": ""]
        case .collection(let db, let c): return ["db": .string(db), "collection": .string(c)]
        case .collectionInAnyDatabase(let c): return ["db": "", "collection": .string(c)]
        }
    }

    /// Parses a privilege's `resource` document.
    init(parsing d: Document) throws(FolioError) {
        if d["cluster"]?.isTruthy == true, d.count == 1 { self = .cluster; return }
        if d["anyResource"]?.isTruthy == true, d.count == 1 { self = .anyResource; return }
        guard d.count == 2, case .string(let db)? = d["db"], case .string(let c)? = d["collection"] else {
            throw FolioError(.failedToParse, "resource must be {db: <string>, collection: <string>}, {cluster: true} or {anyResource: true}")
        }
        switch (db.isEmpty, c.isEmpty) {
        case (true, true): self = .anyNormal
        case (false, true): self = .database(db)
        case (false, false): self = .collection(db, c)
        case (true, false): self = .collectionInAnyDatabase(c)
        }
    }

    /// Whether this pattern covers `target`.
    func covers(_ target: ResourceTarget) -> Bool {
        switch (self, target) {
        case (.anyResource, _): return true
        case (.cluster, .cluster): return true
        case (.anyNormal, .database(let db)): return !ResourcePattern.specialDatabases.contains(db)
        case (.anyNormal, .collection(let db, let c)): return !ResourcePattern.specialDatabases.contains(db) && !c.hasPrefix("system.")
        case (.database(let mine), .database(let db)): return mine == db
        case (.database(let mine), .collection(let db, let c)): return mine == db && !c.hasPrefix("system.")
        case (.collection(let mdb, let mc), .collection(let db, let c)): return mdb == db && mc == c
        case (.collectionInAnyDatabase(let mc), .collection(_, let c)): return mc == c
        default: return false
        }
    }

    /// Databases no "any database" role reaches.
    static let specialDatabases: Set<String> = ["local", "config"]
}

/// What a command needs a privilege on.
enum ResourceTarget: Hashable, Sendable, CustomStringConvertible {
    case cluster
    case database(String)
    case collection(String, String)

    var database: String? {
        switch self {
        case .cluster: return nil
        case .database(let db), .collection(let db, _): return db
        }
    }

    var description: String {
        switch self {
        case .cluster: return "the cluster"
        case .database(let db): return db
        case .collection(let db, let c): return "\(db).\(c)"
        }
    }
}

struct Privilege: Hashable, Sendable {
    var resource: ResourcePattern
    var actions: ActionSet

    var document: Document {
        ["resource": .document(resource.document), "actions": .array(actions.map(\.name).sorted().map(BSON.string))]
    }
}

/// A role's name: `{role, db}`.
struct RoleName: Hashable, Sendable, Comparable {
    var role: String
    var db: String

    var document: Document { ["role": .string(role), "db": .string(db)] }

    static func < (a: RoleName, b: RoleName) -> Bool { (a.db, a.role) < (b.db, b.role) }

    /// Parses a role given as `{role, db}` or as a name in `defaultDatabase`.
    init(parsing value: BSON, defaultDatabase: String) throws(FolioError) {
        switch value {
        case .string(let name): self.init(role: name, db: defaultDatabase)
        case .document(let d):
            guard case .string(let role)? = d["role"], case .string(let db)? = d["db"] else {
                throw FolioError(.badValue, "Role names must be either strings or objects with \"role\" and \"db\" fields")
            }
            self.init(role: role, db: db)
        default:
            throw FolioError(.badValue, "Role names must be either strings or objects with \"role\" and \"db\" fields")
        }
    }

    init(role: String, db: String) {
        self.role = role
        self.db = db
    }
}

/// MongoDB's built-in roles and the privileges each grants.
enum BuiltinRoles {
    static let readActions: ActionSet = [.changeStream, .collStats, .dbHash, .dbStats, .find, .killCursors, .listCollections,
                                           .listIndexes, .listSearchIndexes, .planCacheRead]
    static let readWriteActions: ActionSet = readActions.union([.convertToCapped, .createCollection, .dropCollection, .dropIndex,
                                                                  .createIndex, .insert, .remove, .renameCollectionSameDB, .update,
                                                                  .createSearchIndexes, .dropSearchIndex, .updateSearchIndex])
    static let userAdminActions: ActionSet = [.changeCustomData, .changePassword, .createUser, .createRole, .dropUser, .dropRole,
                                                .grantRole, .revokeRole, .viewUser, .viewRole]
    static let dbAdminActions: ActionSet = [.bypassDocumentValidation, .collMod, .collStats, .compact, .convertToCapped,
                                              .createCollection, .dbStats, .dropCollection, .dropDatabase, .dropIndex, .createIndex,
                                              .enableProfiler, .listCollections, .listIndexes, .listSearchIndexes, .planCacheRead,
                                              .reIndex, .renameCollectionSameDB, .validate]
    static let clusterMonitorClusterActions: ActionSet = [.connPoolStats, .getCmdLineOpts, .getLog, .getParameter, .hostInfo,
                                                            .listDatabases, .listSessions, .netstat, .replSetGetConfig,
                                                            .replSetGetStatus, .serverStatus, .top, .useUUID, .inprog]
    static let clusterMonitorDatabaseActions: ActionSet = [.collStats, .dbStats, .indexStats]
    static let hostManagerClusterActions: ActionSet = [.applicationMessage, .cpuProfiler, .logRotate, .setParameter, .shutdown,
                                                         .fsync, .invalidateUserCache, .killAnySession, .killop,
                                                         .replSetResizeOplog, .dropConnections, .killAnyCursor, .rotateCertificates]
    static let hostManagerDatabaseActions: ActionSet = [.killCursors]
    static let clusterManagerClusterActions: ActionSet = [.appendOplogNote, .applicationMessage, .replSetConfigure,
                                                            .replSetGetConfig, .replSetGetStatus, .replSetStateChange,
                                                            .listSessions]

    /// Roles defined on every database.
    static let databaseRoles: Set<String> = ["read", "readWrite", "dbAdmin", "userAdmin", "dbOwner"]
    /// Roles defined on `admin` only.
    static let adminRoles: Set<String> = ["readAnyDatabase", "readWriteAnyDatabase", "userAdminAnyDatabase", "dbAdminAnyDatabase",
                                          "clusterMonitor", "clusterManager", "hostManager", "clusterAdmin", "backup", "restore",
                                          "root"]

    static func isBuiltin(_ role: RoleName) -> Bool {
        databaseRoles.contains(role.role) || (role.db == "admin" && adminRoles.contains(role.role))
    }

    /// The roles a built-in role includes (as `rolesInfo` shows them: MongoDB's built-in roles
    /// list none; their privileges are their own).
    static func privileges(_ role: RoleName) -> [Privilege]? {
        let db = role.db
        func on(_ r: ResourcePattern, _ a: ActionSet) -> Privilege { Privilege(resource: r, actions: a) }
        switch role.role {
        case "read": return [on(.database(db), readActions), on(.collection(db, "system.js"), readActions)]
        case "readWrite": return [on(.database(db), readWriteActions), on(.collection(db, "system.js"), readWriteActions)]
        case "dbAdmin":
            return [on(.database(db), dbAdminActions),
                    on(.collection(db, "system.profile"), readActions.union([.convertToCapped, .createCollection, .dropCollection]))]
        case "userAdmin": return [on(.database(db), userAdminActions)]
        case "dbOwner":
            return ["readWrite", "dbAdmin", "userAdmin"].flatMap { privileges(RoleName(role: $0, db: db)) ?? [] }
        default: break
        }
        guard db == "admin" else { return nil }
        let oplog = on(.collection("local", "oplog.rs"), [.find])
        switch role.role {
        case "readAnyDatabase":
            return [on(.anyNormal, readActions), on(.cluster, [.listDatabases]), on(.collectionInAnyDatabase("system.js"), readActions)]
        case "readWriteAnyDatabase":
            return [on(.anyNormal, readWriteActions), on(.cluster, [.listDatabases]),
                    on(.collectionInAnyDatabase("system.js"), readWriteActions)]
        case "userAdminAnyDatabase":
            return [on(.anyNormal, userAdminActions), on(.cluster, [.listDatabases, .invalidateUserCache]),
                    on(.collection("admin", "system.users"), readActions), on(.collection("admin", "system.roles"), readActions)]
        case "dbAdminAnyDatabase":
            return [on(.anyNormal, dbAdminActions), on(.cluster, [.listDatabases]),
                    on(.collectionInAnyDatabase("system.profile"), readActions.union([.convertToCapped, .createCollection, .dropCollection]))]
        case "clusterMonitor":
            return [on(.cluster, clusterMonitorClusterActions), on(.anyNormal, clusterMonitorDatabaseActions), oplog,
                    on(.collectionInAnyDatabase("system.profile"), [.find])]
        case "hostManager":
            return [on(.cluster, hostManagerClusterActions), on(.anyNormal, hostManagerDatabaseActions)]
        case "clusterManager":
            return [on(.cluster, clusterManagerClusterActions), on(.database("local"), [.find, .listCollections, .listIndexes]), oplog]
        case "clusterAdmin":
            return ["clusterMonitor", "hostManager", "clusterManager"].flatMap { privileges(RoleName(role: $0, db: db)) ?? [] }
                + [on(.anyNormal, [.dropDatabase])]
        case "backup":
            return [on(.anyResource, [.find, .listCollections, .listIndexes, .collStats, .dbStats]),
                    on(.cluster, [.listDatabases, .appendOplogNote, .getParameter, .serverStatus, .useUUID]), oplog]
        case "restore":
            return [on(.anyNormal, [.bypassDocumentValidation, .changeCustomData, .changePassword, .collMod, .convertToCapped,
                                    .createCollection, .createIndex, .createRole, .createUser, .dropCollection, .dropRole,
                                    .dropUser, .grantRole, .insert, .revokeRole, .viewRole, .viewUser, .find, .listCollections,
                                    .listIndexes]),
                    on(.collection("admin", "system.users"), [.find, .insert, .update, .remove, .createIndex]),
                    on(.collection("admin", "system.roles"), [.find, .insert, .update, .remove, .createIndex]),
                    on(.cluster, [.listDatabases, .getParameter])]
        case "root":
            return [on(.anyResource, ActionSet.all), on(.cluster, ActionSet.all)]
        default: return nil
        }
    }
}
