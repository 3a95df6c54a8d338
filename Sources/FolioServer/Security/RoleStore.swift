import FolioBSON
import FolioEngine
import FolioQuery

/// A user-defined role as `admin.system.roles` stores it (`_id` "db.role", `role`, `db`,
/// `privileges`, `roles`, `authenticationRestrictions`).
struct StoredRole: Sendable {
    var name: RoleName
    var privileges: [Privilege]
    /// Actions MongoDB has that no Folio command checks: kept so the role reads back as written.
    var otherActions: [ResourcePattern: [String]] = [:]
    var roles: [RoleName]

    var id: String { "\(name.db).\(name.role)" }

    var privilegesDocument: BSON {
        .array(privileges.map { p in
            var actions = p.actions.map(\.name)
            actions.append(contentsOf: otherActions[p.resource] ?? [])
            return .document(["resource": .document(p.resource.document), "actions": .array(actions.sorted().map(BSON.string))])
        })
    }

    var document: Document {
        ["_id": .string(id), "role": .string(name.role), "db": .string(name.db), "privileges": privilegesDocument,
         "roles": .array(roles.map { .document($0.document) }), "authenticationRestrictions": []]
    }

    init(name: RoleName, privileges: [BSON], roles: [RoleName]) throws(FolioError) {
        self.name = name
        self.roles = roles
        self.privileges = []
        for p in privileges { try add(p) }
    }

    /// Reads a stored role; nil for a document that is not one.
    init?(document d: Document) {
        guard case .string(let role)? = d["role"], case .string(let db)? = d["db"] else { return nil }
        let roles = (d["roles"]?.arrayValue ?? []).compactMap { try? RoleName(parsing: $0, defaultDatabase: db) }
        guard let parsed = try? StoredRole(name: RoleName(role: role, db: db), privileges: d["privileges"]?.arrayValue ?? [], roles: roles) else {
            return nil
        }
        self = parsed
    }

    /// Adds a privilege document (`{resource, actions}`), merged with one on the same resource.
    mutating func add(_ value: BSON) throws(FolioError) {
        let (resource, actions, other) = try StoredRole.parsePrivilege(value, roleDatabase: name.db)
        if let i = privileges.firstIndex(where: { $0.resource == resource }) {
            privileges[i].actions.formUnion(actions)
        } else {
            privileges.append(Privilege(resource: resource, actions: actions))
        }
        if !other.isEmpty { otherActions[resource] = Array(Set(otherActions[resource, default: []] + other)).sorted() }
    }

    /// Removes the actions of a privilege document from the role.
    mutating func remove(_ value: BSON) throws(FolioError) {
        let (resource, actions, other) = try StoredRole.parsePrivilege(value, roleDatabase: name.db)
        guard let i = privileges.firstIndex(where: { $0.resource == resource }) else { return }
        privileges[i].actions.subtract(actions)
        otherActions[resource]?.removeAll { other.contains($0) }
        if privileges[i].actions.isEmpty && (otherActions[resource] ?? []).isEmpty {
            privileges.remove(at: i)
            otherActions[resource] = nil
        }
    }

    static func parsePrivilege(_ value: BSON, roleDatabase: String) throws(FolioError) -> (ResourcePattern, ActionSet, [String]) {
        guard case .document(let d) = value, case .document(let r)? = d["resource"], case .array(let list)? = d["actions"] else {
            throw FolioError(.failedToParse, "Privileges must be objects with a \"resource\" object and an \"actions\" array")
        }
        let resource = try ResourcePattern(parsing: r)
        if roleDatabase != "admin" {
            switch resource {
            case .database(let db) where db == roleDatabase: break
            case .collection(let db, _) where db == roleDatabase: break
            default:
                throw FolioError(.badValue, "Roles on the '\(roleDatabase)' database cannot be granted privileges that target other databases or the cluster")
            }
        }
        var actions = ActionSet(), other: [String] = []
        for a in list {
            guard case .string(let name) = a else { throw FolioError(.badValue, "Actions must be strings") }
            if let action = Action(name: name) { actions.insert(action) }
            else if Action.otherMongoDBActions.contains(name) { other.append(name) }
            else { throw FolioError(.badValue, "Unrecognized action privilege string: \(name)") }
        }
        return (resource, actions, other)
    }
}

/// The user-defined roles, in `admin.system.roles`.
final class RoleStore: Sendable {
    static let namespace = try! Namespace(database: "admin", collection: "system.roles")
    let engine: Engine
    /// Role changes move the user store's generation: connections re-read their privileges.
    let users: UserStore

    init(engine: Engine, users: UserStore) {
        self.engine = engine
        self.users = users
    }

    /// Roles matching `filter`, in `_id` order.
    func roles(_ filter: Document = [:]) throws(FolioError) -> [StoredRole] {
        try engine.find(RoleStore.namespace, FindRequest(filter: filter, sort: ["_id": .int32(1)])).all()
            .compactMap { StoredRole(document: $0.document()) }
    }

    func find(_ name: RoleName) throws(FolioError) -> StoredRole? {
        try roles(["_id": .string("\(name.db).\(name.role)")]).first
    }

    /// Every user-defined role by name.
    func all() throws(FolioError) -> [RoleName: StoredRole] {
        Dictionary(try roles().map { ($0.name, $0) }, uniquingKeysWith: { a, _ in a })
    }

    /// - Throws: 51002 when the role exists.
    func insert(_ role: StoredRole, durable: Bool) throws(FolioError) {
        defer { users.changed() }
        let result = try engine.insert(RoleStore.namespace, [role.document], options: WriteOptions(durable: durable))
        if let e = result.writeErrors.first {
            if e.error.code == .duplicateKey { throw FolioError(ErrorCode(rawValue: 51002), "Role \"\(role.name.role)@\(role.name.db)\" already exists") }
            throw e.error
        }
    }

    func replace(_ role: StoredRole, durable: Bool) throws(FolioError) {
        defer { users.changed() }
        let result = try engine.update(RoleStore.namespace, [UpdateStatement(filter: ["_id": .string(role.id)], update: .document(role.document))],
                                       options: WriteOptions(durable: durable))
        if let e = result.writeErrors.first { throw e.error }
    }

    @discardableResult
    func delete(_ filter: Document, durable: Bool) throws(FolioError) -> Int {
        defer { users.changed() }
        let result = try engine.delete(RoleStore.namespace, [DeleteStatement(filter: filter, limitOne: false)],
                                       options: WriteOptions(durable: durable))
        if let e = result.writeErrors.first { throw e.error }
        return result.deleted
    }
}

/// Roles resolved through their inheritance.
enum RoleGraph {
    /// Every role `direct` reaches (itself included, in the order first reached) and the
    /// privileges they grant. Unknown roles grant nothing.
    static func resolve(_ direct: [RoleName], custom: [RoleName: StoredRole]) -> (roles: [RoleName], privileges: [Privilege]) {
        var seen = Set<RoleName>(), order: [RoleName] = [], privileges: [Privilege] = []
        var stack = direct.reversed() as [RoleName]
        while let role = stack.popLast() {
            guard seen.insert(role).inserted else { continue }
            if let builtin = BuiltinRoles.privileges(role) {
                order.append(role)
                privileges.append(contentsOf: builtin)
            } else if let stored = custom[role] {
                order.append(role)
                privileges.append(contentsOf: stored.privileges)
                stack.append(contentsOf: stored.roles.reversed())
            }
        }
        return (order, privileges)
    }

    /// Whether giving `role` the roles `granted` would make it inherit itself.
    static func wouldCycle(_ role: RoleName, granting granted: [RoleName], custom: [RoleName: StoredRole]) -> Bool {
        resolve(granted, custom: custom).roles.contains(role)
    }
}
