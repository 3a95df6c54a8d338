import FolioBSON
import FolioEngine
import FolioQuery
import Synchronization

/// A user a connection authenticated as.
struct UserName: Hashable, Sendable, Comparable {
    var user: String
    var db: String

    var document: Document { ["user": .string(user), "db": .string(db)] }
    static func < (a: UserName, b: UserName) -> Bool { (a.db, a.user) < (b.db, b.user) }

    /// Who owns a cursor or an operation: the users that opened it, in one string ("" for none).
    static func ownerKey(_ users: [UserName]) -> String { users.sorted().map { "\($0.db).\($0.user)" }.joined(separator: ",") }
}

/// What one connection has established: the users it authenticated as, the SASL conversation
/// under way, and the privileges its users hold (re-read when users change).
package struct ConnectionAuthentication: Sendable {
    var users: [UserName] = []
    var roles: [RoleName] = []
    var privileges: [Privilege] = []
    /// The user store's generation the roles and privileges were read at.
    var generation = -1

    struct Conversation: Sendable {
        var id: Int32
        var db: String
        var scram: SCRAMConversation
        var skipEmptyExchange: Bool
        /// The proof was checked and the server-final sent; an empty message ends it.
        var awaitingEmpty = false
    }
    var conversation: Conversation?
    /// The subject of the client's TLS certificate, when it presented one the server verified
    /// (the user MONGODB-X509 authenticates as).
    package var peerSubject: String?
}

/// The privileges a command runs with (nil when access control is off): the connection's
/// users' privileges, or, under the localhost exception, none beyond creating the first user.
struct Authorization: Sendable {
    var users: [UserName]
    var roles: [RoleName]
    var privileges: [Privilege]
    /// The localhost exception applies (no user exists, the client is on loopback).
    var localhostException: Bool

    @TaskLocal static var current: Authorization?

    func isAuthorized(_ action: Action, on target: ResourceTarget) -> Bool {
        privileges.contains { ($0.actions.contains(action) || $0.actions.contains(.anyAction)) && $0.resource.covers(target) }
    }

    func isAuthorized(_ actions: ActionSet, on target: ResourceTarget) -> Bool {
        var granted = ActionSet()
        for p in privileges where p.resource.covers(target) {
            if p.actions.contains(.anyAction) { return true }
            granted.formUnion(p.actions)
        }
        return actions.isSubset(of: granted)
    }

    /// Whether any privilege reaches into `db` (listDatabases shows a user only such databases).
    func hasAnyPrivilege(onDatabase db: String) -> Bool {
        privileges.contains { p in
            switch p.resource {
            case .anyResource: return true
            case .anyNormal: return !ResourcePattern.specialDatabases.contains(db)
            case .database(let d), .collection(let d, _): return d == db
            case .collectionInAnyDatabase: return true
            case .cluster: return false
            }
        }
    }

    /// Whether any privilege names `collection` of `db` (listCollections with authorizedCollections).
    func hasAnyPrivilege(onCollection collection: String, db: String) -> Bool {
        privileges.contains { !$0.actions.isEmpty && $0.resource.covers(.collection(db, collection)) }
    }

    /// The users' names as a cursor's or an operation's owner ("" for an unauthenticated connection).
    var ownerKey: String { UserName.ownerKey(users) }

    /// Whether an operation on `connection` is this caller's own (run by the same users).
    func owns(connection: Int32, in access: AccessControl) -> Bool {
        access.ownerKey(of: connection) == ownerKey
    }
}

/// Access control: the users, each connection's authentication, and the check every command
/// passes before it runs (`--auth`).
final class AccessControl: Sendable {
    /// Whether commands need authenticated, authorized users (`folio serve --auth`).
    let enabled: Bool
    let users: UserStore
    let roles: RoleStore
    /// The connections, whose state machines hold each one's authentication.
    private let connections: ConnectionRegistry
    /// Keys the salts made up for users who do not exist (so they are stable per user).
    private let fakeSaltKey = randomBytes(32)

    init(engine: Engine, enabled: Bool, connections: ConnectionRegistry) {
        self.enabled = enabled
        self.connections = connections
        let users = UserStore(engine: engine)
        self.users = users
        self.roles = RoleStore(engine: engine, users: users)
    }

    func state(_ connection: Int32) -> ConnectionAuthentication {
        connections.read(connection) { $0.authentication }
    }

    func update<T>(_ connection: ConnectionInfo, _ body: (inout ConnectionAuthentication) throws(FolioError) -> T) throws(FolioError) -> T {
        try connections.state(for: connection).withLock { (m) throws(FolioError) -> T in try body(&m.authentication) }
    }

    /// The owner key (`Authorization.ownerKey`) of the users a connection authenticated as.
    func ownerKey(of connection: Int32) -> String { UserName.ownerKey(state(connection).users) }

    /// How many connections (other than `except`) are authenticated as `user`.
    func connections(authenticatedAs user: UserName, except: Int32) -> Int64 {
        Int64(connections.all.filter { state in
            state.info.id != except && state.withLock { (m: inout ConnectionStateMachine) in m.authentication.users.contains(user) }
        }.count)
    }

    /// A salt for a user who does not exist, the same on every attempt (a changing salt would
    /// tell an unknown user from a known one).
    func fakeSalt(user: String, db: String, mechanism: SCRAMMechanism) -> [UInt8] {
        Array(mechanism.hmac(key: fakeSaltKey, Array("\(db).\(user).\(mechanism.rawValue)".utf8)).prefix(mechanism.saltLength))
    }

    /// The authorization a command from `connection` runs with (nil when access control is off).
    func authorization(connection: ConnectionInfo) throws(FolioError) -> Authorization? {
        guard enabled else { return nil }
        let generation = users.generation.load(ordering: .acquiring)
        var s = state(connection.id)
        if !s.users.isEmpty && s.generation != generation {
            try refresh(&s, generation: generation)
            store(s, connection: connection)
        }
        let localhost = s.users.isEmpty && !users.hasUsers && AccessControl.isLoopback(connection.remoteAddress)
        return Authorization(users: s.users, roles: s.roles, privileges: s.privileges, localhostException: localhost)
    }

    /// Re-reads the roles and privileges of the connection's users (users dropped meanwhile
    /// are no longer authenticated, as in MongoDB).
    func refresh(_ s: inout ConnectionAuthentication, generation: Int) throws(FolioError) {
        var kept: [UserName] = [], direct: [RoleName] = []
        for name in s.users {
            guard let user = try users.find(user: name.user, db: name.db) else { continue }
            kept.append(name)
            direct.append(contentsOf: user.roles)
        }
        let resolved = RoleGraph.resolve(direct, custom: kept.isEmpty ? [:] : try roles.all())
        s.users = kept
        s.roles = resolved.roles.sorted()
        s.privileges = resolved.privileges
        s.generation = generation
    }

    /// Marks `user` authenticated on the connection.
    func authenticated(_ user: UserName, connection: ConnectionInfo) throws(FolioError) {
        var names = state(connection.id).users
        if !names.contains(user) { names.append(user) }
        try setUsers(names, connection: connection)
    }

    /// Makes `names` the connection's users and ends any conversation; their roles and
    /// privileges are read outside the lock (reads of the user store), then stored.
    func setUsers(_ names: [UserName], connection: ConnectionInfo) throws(FolioError) {
        var s = ConnectionAuthentication()
        s.users = names
        try refresh(&s, generation: users.generation.load(ordering: .acquiring))
        store(s, connection: connection, endingConversation: true)
    }

    /// Stores what `refresh` read for the connection's users.
    private func store(_ fresh: ConnectionAuthentication, connection: ConnectionInfo, endingConversation: Bool = false) {
        connections.state(for: connection).withLock { (m: inout ConnectionStateMachine) in
            m.authentication.users = fresh.users
            m.authentication.roles = fresh.roles
            m.authentication.privileges = fresh.privileges
            m.authentication.generation = fresh.generation
            if endingConversation { m.authentication.conversation = nil }
        }
    }

    static func isLoopback(_ address: String) -> Bool {
        address.hasPrefix("127.") || address.hasPrefix("::1") || address.hasPrefix("[::1]") || address.hasPrefix("::ffff:127.")
    }
}
