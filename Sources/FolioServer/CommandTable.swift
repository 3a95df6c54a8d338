import FolioBSON
import FolioEngine
import FolioQuery

/// What the server knows about each command, in one place: its handler, its other spellings,
/// whether it may run in a multi-document transaction, whether it is in Stable API version 1,
/// whether it honours `collation`, and the privileges it needs (MongoDB's
/// `checkAuthForOperation`). The dispatcher, the transaction rules, the Stable API check, the
/// collation check and the access check all read this table.
struct CommandSpec: Sendable {
    /// The command's name, as MongoDB reports it.
    let name: String
    /// Other spellings MongoDB accepts (`findandmodify`, `dbstats`, ...).
    let aliases: [String]
    let handler: CommandHandler
    let facts: Facts
    let access: Access

    struct Facts: OptionSet, Sendable {
        let rawValue: UInt8
        /// May run inside a multi-document transaction.
        static let inTransaction = Facts(rawValue: 1)
        /// In Stable API version 1 (MongoDB 8.0's `apiVersions()` of the command).
        static let apiVersion1 = Facts(rawValue: 2)
        /// Honours a `collation` option (others refuse one).
        static let collation = Facts(rawValue: 4)
    }

    /// The privileges the command needs.
    enum Access: Sendable {
        /// Anyone, authenticated or not (MongoDB's `requiresAuth() == false`).
        case open
        /// Any authenticated user: it acts on the user's own sessions, cursors or user
        /// document, which the command checks itself.
        case anyUser
        /// These actions on the command's collection (its first value).
        case collection(ActionSet)
        /// These actions on the command's database.
        case database(ActionSet)
        /// This action on the cluster.
        case cluster(Action)
        /// Worked out from the command's fields.
        case computed(@Sendable (CommandRequest) throws(FolioError) -> [CommandAccess.Need])
        /// Every action: only `root` (and `__system`) run it.
        case everything
    }

    init(_ name: String, aliases: [String] = [], _ handler: @escaping CommandHandler, _ facts: Facts = [], _ access: Access) {
        self.name = name
        self.aliases = aliases
        self.handler = handler
        self.facts = facts
        self.access = access
    }
}

enum CommandTable {
    typealias C = CommandSpec
    static let t: C.Facts = .inTransaction, v1: C.Facts = .apiVersion1, collation: C.Facts = .collation

    /// Every command (one file per command under Commands/).
    static let all: [CommandSpec] = [
        // Handshake and authentication
        C("hello", HelloCommand.run, v1, .open),
        C("isMaster", aliases: ["ismaster"], HelloCommand.run, [], .open),
        C("ping", AdminCommands.ping, v1, .open),
        C("buildInfo", aliases: ["buildinfo"], AdminCommands.buildInfo, [], .open),
        C("whatsmyuri", AdminCommands.whatsMyURI, [], .open),
        C("connectionStatus", AuthenticationCommands.connectionStatus, [], .open),
        C("saslStart", AuthenticationCommands.saslStart, v1, .open),
        C("saslContinue", AuthenticationCommands.saslContinue, v1, .open),
        C("authenticate", AuthenticationCommands.authenticate, v1, .open),
        C("logout", AuthenticationCommands.logout, [], .open),
        // Reads
        C("find", FindCommand.run, [t, v1, collation], .collection([.find])),
        C("getMore", FindCommand.getMore, [t, v1], .anyUser),
        C("killCursors", FindCommand.killCursors, [t, v1], .anyUser),
        C("count", CountCommand.count, [v1, collation], .collection([.find])),
        C("distinct", CountCommand.distinct, [t, collation], .collection([.find])),
        C("aggregate", AggregateCommand.run, [t, v1, collation], .computed(CommandAccess.aggregateNeeds)),
        C("explain", IndexCommands.explain, [v1, collation], .computed(CommandAccess.explainNeeds)),
        // Writes
        C("insert", InsertCommand.run, [t, v1], .computed(CommandAccess.insertNeeds)),
        C("update", UpdateCommand.run, [t, v1, collation], .computed(CommandAccess.updateNeeds)),
        C("delete", DeleteCommand.run, [t, v1, collation], .collection([.remove])),
        C("findAndModify", aliases: ["findandmodify"], FindAndModifyCommand.run, [t, v1, collation],
          .computed(CommandAccess.findAndModifyNeeds)),
        C("bulkWrite", BulkWriteCommand.run, [t, collation], .computed(CommandAccess.bulkWriteNeeds)),
        // Transactions and sessions
        C("commitTransaction", TransactionCommands.commit, [t, v1], .anyUser),
        C("abortTransaction", TransactionCommands.abort, [t, v1], .anyUser),
        C("startSession", DiagnosticCommands.startSession, [], .anyUser),
        C("endSessions", AdminCommands.sessions, v1, .anyUser),
        C("refreshSessions", AdminCommands.sessions, v1, .anyUser),
        C("killSessions", AdminCommands.sessions, [], .anyUser),
        C("killAllSessions", AdminCommands.sessions, [], .cluster(.killAnySession)),
        // Catalog
        C("listDatabases", CatalogCommands.listDatabases, v1, .anyUser),
        C("listCollections", CatalogCommands.listCollections, v1, .computed(CommandAccess.listCollectionsNeeds)),
        C("listIndexes", IndexCommands.listIndexes, v1, .collection([.listIndexes])),
        C("create", CatalogCommands.create, [t, v1], .computed(CommandAccess.createNeeds)),
        C("drop", CatalogCommands.drop, v1, .collection([.dropCollection])),
        C("dropDatabase", CatalogCommands.dropDatabase, v1, .database([.dropDatabase])),
        C("renameCollection", CatalogCommands.renameCollection, [], .computed(CommandAccess.renameNeeds)),
        C("convertToCapped", CatalogCommands.convertToCapped, [], .collection([.convertToCapped])),
        C("cloneCollectionAsCapped", CatalogCommands.cloneCollectionAsCapped, [], .computed(CommandAccess.cloneAsCappedNeeds)),
        C("createIndexes", IndexCommands.createIndexes, [t, v1], .collection([.createIndex])),
        C("dropIndexes", aliases: ["deleteIndexes"], IndexCommands.dropIndexes, v1, .collection([.dropIndex])),
        C("createSearchIndexes", SearchIndexCommands.create, [], .collection([.createSearchIndexes])),
        C("updateSearchIndex", SearchIndexCommands.update, [], .collection([.updateSearchIndex])),
        C("dropSearchIndex", SearchIndexCommands.drop, [], .collection([.dropSearchIndex])),
        C("collMod", DiagnosticCommands.collMod, v1, .collection([.collMod])),
        // Diagnostics and administration
        C("dbStats", aliases: ["dbstats"], DiagnosticCommands.dbStats, [], .database([.dbStats])),
        C("collStats", DiagnosticCommands.collStats, [], .collection([.collStats])),
        C("validate", DiagnosticCommands.validate, [], .collection([.validate])),
        C("profile", AdminCommands.profile, [], .database([.enableProfiler])),
        C("serverStatus", AdminCommands.serverStatus, [], .cluster(.serverStatus)),
        C("hostInfo", DiagnosticCommands.hostInfo, [], .cluster(.hostInfo)),
        C("getLog", DiagnosticCommands.getLog, [], .cluster(.getLog)),
        C("getCmdLineOpts", AdminCommands.getCmdLineOpts, [], .cluster(.getCmdLineOpts)),
        C("getParameter", AdminCommands.getParameter, [], .cluster(.getParameter)),
        C("setParameter", AdminCommands.setParameter, [], .cluster(.setParameter)),
        C("shutdown", AdminCommands.shutdown, [], .cluster(.shutdown)),
        C("currentOp", OperationCommands.currentOp, [], .computed(CommandAccess.currentOpNeeds)),
        C("killOp", OperationCommands.killOp, [], .cluster(.killop)),
        C("replSetGetStatus", AdminCommands.replSetGetStatus, [], .cluster(.replSetGetStatus)),
        C("replSetResizeOplog", AdminCommands.replSetResizeOplog, [], .cluster(.replSetResizeOplog)),
        C("rotateCertificates", AdminCommands.rotateCertificates, [], .cluster(.rotateCertificates)),
        C("setDatabaseQuota", QuotaCommands.setDatabaseQuota, [], .everything),
        C("configureFailPoint", TestCommands.configureFailPoint, [], .everything),
        C("mapReduce", DiagnosticCommands.notYet("mapReduce"), [], .everything),
        // Users and roles
        C("createUser", UserCommands.createUser, [], .computed(CommandAccess.createUserNeeds)),
        C("updateUser", UserCommands.updateUser, [], .anyUser),
        C("dropUser", UserCommands.dropUser, [], .database([.dropUser])),
        C("dropAllUsersFromDatabase", UserCommands.dropAllUsersFromDatabase, [], .database([.dropUser])),
        C("grantRolesToUser", UserCommands.grantRolesToUser, [], .computed { r throws(FolioError) in
            CommandAccess.roleNeeds(r.body["roles"], db: r.database, action: .grantRole) }),
        C("revokeRolesFromUser", UserCommands.revokeRolesFromUser, [], .computed { r throws(FolioError) in
            CommandAccess.roleNeeds(r.body["roles"], db: r.database, action: .revokeRole) }),
        C("usersInfo", UserCommands.usersInfo, [], .anyUser),
        C("rolesInfo", RoleCommands.rolesInfo, [], .anyUser),
        C("createRole", RoleCommands.createRole, [], .computed { r throws(FolioError) in
            [(.database(r.database), [.createRole])] + CommandAccess.roleNeeds(r.body["roles"], db: r.database, action: .grantRole) }),
        C("updateRole", RoleCommands.updateRole, [], .computed { r throws(FolioError) in
            [(.database(r.database), [.grantRole, .revokeRole])] + CommandAccess.roleNeeds(r.body["roles"], db: r.database, action: .grantRole) }),
        C("dropRole", RoleCommands.dropRole, [], .database([.dropRole])),
        C("dropAllRolesFromDatabase", RoleCommands.dropAllRolesFromDatabase, [], .database([.dropRole])),
        C("grantPrivilegesToRole", RoleCommands.grantPrivilegesToRole, [], .database([.grantRole])),
        C("revokePrivilegesFromRole", RoleCommands.revokePrivilegesFromRole, [], .database([.revokeRole])),
        C("grantRolesToRole", RoleCommands.grantRolesToRole, [], .computed { r throws(FolioError) in
            [(.database(r.database), [.grantRole])] + CommandAccess.roleNeeds(r.body["roles"], db: r.database, action: .grantRole) }),
        C("revokeRolesFromRole", RoleCommands.revokeRolesFromRole, [], .computed { r throws(FolioError) in
            [(.database(r.database), [.revokeRole])] + CommandAccess.roleNeeds(r.body["roles"], db: r.database, action: .revokeRole) }),
    ]

    /// Each spec by its name and by each alias.
    static let byName: [String: CommandSpec] = {
        var out: [String: CommandSpec] = [:]
        for spec in all {
            precondition(out[spec.name] == nil, "\(spec.name) is in the command table twice")
            out[spec.name] = spec
            for alias in spec.aliases { out[alias] = spec }
        }
        return out
    }()

    /// The names (aliases included) of the commands that have all of `facts`.
    static func names(with facts: CommandSpec.Facts) -> Set<String> {
        Set(all.filter { $0.facts.isSuperset(of: facts) }.flatMap { [$0.name] + $0.aliases })
    }
}
