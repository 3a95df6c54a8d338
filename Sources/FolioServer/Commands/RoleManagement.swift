import FolioBSON
import FolioEngine
import FolioQuery

/// createRole, updateRole, dropRole, dropAllRolesFromDatabase, grantPrivilegesToRole,
/// revokePrivilegesFromRole, grantRolesToRole, revokeRolesFromRole, rolesInfo: user-defined
/// roles in `admin.system.roles`, inheriting from built-in and other user-defined roles.
enum RoleCommands {
    static let createFields: Set<String> = ["createRole", "privileges", "roles", "authenticationRestrictions"]
    static let updateFields: Set<String> = ["updateRole", "privileges", "roles", "authenticationRestrictions"]

    static func roleName(_ r: CommandRequest) throws(FolioError) -> RoleName {
        guard case .string(let name) = r.argument, !name.isEmpty else {
            throw FolioError(.badValue, "Role name must be a non-empty string")
        }
        return RoleName(role: name, db: r.database)
    }

    static func existing(_ name: RoleName, _ r: CommandRequest) throws(FolioError) -> StoredRole {
        if BuiltinRoles.isBuiltin(name) {
            throw FolioError(.invalidRoleModification, "Cannot update built-in role: \(name.role)@\(name.db)")
        }
        guard let role = try r.context.access.roles.find(name) else {
            throw FolioError(.roleNotFound, "Role \"\(name.role)@\(name.db)\" not found")
        }
        return role
    }

    static func privileges(_ r: CommandRequest, required: Bool) throws(FolioError) -> [BSON]? {
        guard let value = r.body["privileges"] else {
            if required { throw FolioError(.badValue, "\"\(r.name)\" command requires a \"privileges\" array") }
            return nil
        }
        guard case .array(let list) = value else { throw FolioError(.badValue, "\"privileges\" must be an array") }
        return list
    }

    /// The inherited roles given, refusing cycles (49 InvalidRoleModification).
    static func inherited(_ r: CommandRequest, for role: RoleName, field: String = "roles") throws(FolioError) -> [RoleName] {
        let roles = try UserCommands.roles(r.body[field], db: r.database, field: r.name, r)
        if RoleGraph.wouldCycle(role, granting: roles, custom: try r.context.access.roles.all()) {
            throw FolioError(.invalidRoleModification,
                             "Granting roles to \(role.role)@\(role.db) would introduce a cycle in the role graph")
        }
        return roles
    }

    @Sendable static func createRole(_ r: CommandRequest) throws(FolioError) -> Document {
        try UserCommands.refuseUnknownFields(r, allowed: createFields)
        let name = try roleName(r)
        try UserCommands.checkDatabase(r.database)
        if BuiltinRoles.isBuiltin(name) || BuiltinRoles.databaseRoles.union(BuiltinRoles.adminRoles).contains(name.role) {
            throw FolioError(.badValue, "Cannot create roles with the same name as a built-in role")
        }
        let role = try StoredRole(name: name, privileges: try privileges(r, required: true) ?? [], roles: try inherited(r, for: name))
        try r.context.access.roles.insert(role, durable: try r.durable())
        return [:]
    }

    @Sendable static func updateRole(_ r: CommandRequest) throws(FolioError) -> Document {
        try UserCommands.refuseUnknownFields(r, allowed: updateFields)
        var role = try existing(try roleName(r), r)
        guard r.body["privileges"] != nil || r.body["roles"] != nil else {
            throw FolioError(.badValue, "Must specify at least one field to update in updateRole")
        }
        if let list = try privileges(r, required: false) {
            role = try StoredRole(name: role.name, privileges: list, roles: role.roles)
        }
        if r.body["roles"] != nil { role.roles = try inherited(r, for: role.name) }
        try r.context.access.roles.replace(role, durable: try r.durable())
        return [:]
    }

    /// dropRole: the role goes, and so do its grants to users and other roles.
    @Sendable static func dropRole(_ r: CommandRequest) throws(FolioError) -> Document {
        let role = try existing(try roleName(r), r)
        try drop([role.name], r)
        return [:]
    }

    @Sendable static func dropAllRolesFromDatabase(_ r: CommandRequest) throws(FolioError) -> Document {
        let names = try r.context.access.roles.roles(["db": .string(r.database)]).map(\.name)
        try drop(names, r)
        return ["n": .int32(Int32(clamping: names.count))]
    }

    static func drop(_ names: [RoleName], _ r: CommandRequest) throws(FolioError) {
        guard !names.isEmpty else { return }
        let access = r.context.access, durable = try r.durable()
        for user in try access.users.users([:]) where user.roles.contains(where: names.contains) {
            var u = user
            u.roles.removeAll { names.contains($0) }
            try access.users.replace(u, durable: durable)
        }
        for role in try access.roles.roles() where !names.contains(role.name) && role.roles.contains(where: names.contains) {
            var changed = role
            changed.roles.removeAll { names.contains($0) }
            try access.roles.replace(changed, durable: durable)
        }
        for name in names { try access.roles.delete(["_id": .string("\(name.db).\(name.role)")], durable: durable) }
    }

    @Sendable static func grantPrivilegesToRole(_ r: CommandRequest) throws(FolioError) -> Document {
        try changePrivileges(r, grant: true)
    }

    @Sendable static func revokePrivilegesFromRole(_ r: CommandRequest) throws(FolioError) -> Document {
        try changePrivileges(r, grant: false)
    }

    static func changePrivileges(_ r: CommandRequest, grant: Bool) throws(FolioError) -> Document {
        var role = try existing(try roleName(r), r)
        let list = try privileges(r, required: true) ?? []
        guard !list.isEmpty else { throw FolioError(.badValue, "\(r.name) command requires a non-empty \"privileges\" array") }
        for p in list { if grant { try role.add(p) } else { try role.remove(p) } }
        try r.context.access.roles.replace(role, durable: try r.durable())
        return [:]
    }

    @Sendable static func grantRolesToRole(_ r: CommandRequest) throws(FolioError) -> Document {
        var role = try existing(try roleName(r), r)
        let granted = try inherited(r, for: role.name)
        guard !granted.isEmpty else { throw FolioError(.badValue, "grantRolesToRole command requires a non-empty \"roles\" array") }
        for g in granted where !role.roles.contains(g) { role.roles.append(g) }
        try r.context.access.roles.replace(role, durable: try r.durable())
        return [:]
    }

    @Sendable static func revokeRolesFromRole(_ r: CommandRequest) throws(FolioError) -> Document {
        var role = try existing(try roleName(r), r)
        let revoked = try UserCommands.roles(r.body["roles"], db: r.database, field: r.name, r)
        role.roles.removeAll { revoked.contains($0) }
        try r.context.access.roles.replace(role, durable: try r.durable())
        return [:]
    }

    /// rolesInfo: `1` (the database's user-defined roles, and the built-in ones with
    /// showBuiltinRoles), a name, `{role, db}`, or a list; showPrivileges adds what they grant.
    @Sendable static func rolesInfo(_ r: CommandRequest) throws(FolioError) -> Document {
        let custom = try r.context.access.roles.all()
        var names: [RoleName] = []
        switch r.argument {
        case .array(let list): for item in list { names.append(try RoleName(parsing: item, defaultDatabase: r.database)) }
        case .string, .document: names = [try RoleName(parsing: r.argument, defaultDatabase: r.database)]
        default:
            guard r.argument.isNumber else { throw FolioError(.badValue, "rolesInfo cannot be called with a value of type \(r.argument.type.alias)") }
            if r.bool("showBuiltinRoles") == true {
                let builtin = r.database == "admin" ? BuiltinRoles.databaseRoles.union(BuiltinRoles.adminRoles) : BuiltinRoles.databaseRoles
                names = builtin.sorted().map { RoleName(role: $0, db: r.database) }
            }
            names += custom.keys.filter { $0.db == r.database }.sorted()
        }
        if let auth = r.authorization {
            for name in names where !auth.roles.contains(name) && !auth.isAuthorized(.viewRole, on: .database(name.db)) {
                throw CommandAccess.unauthorized(r)
            }
        }
        let showPrivileges = r.bool("showPrivileges") == true
        return ["roles": .array(names.compactMap { name -> BSON? in
            let resolved = RoleGraph.resolve([name], custom: custom)
            let inherited = BSON.array(resolved.roles.filter { $0 != name }.map { .document($0.document) })
            let inheritedPrivileges = BSON.array(Privileges.merged(resolved.privileges).map { .document($0.document) })
            if let builtin = BuiltinRoles.privileges(name) {
                var d: Document = ["role": .string(name.role), "db": .string(name.db), "isBuiltin": true, "roles": [], "inheritedRoles": []]
                if showPrivileges {
                    d.append("privileges", .array(Privileges.merged(builtin).map { .document($0.document) }))
                    d.append("inheritedPrivileges", inheritedPrivileges)
                }
                return .document(d)
            }
            guard let role = custom[name] else { return nil }
            var d: Document = ["_id": .string(role.id), "role": .string(name.role), "db": .string(name.db)]
            if showPrivileges { d.append("privileges", role.privilegesDocument) }
            d.append("roles", .array(role.roles.map { .document($0.document) }))
            d.append("isBuiltin", false)
            d.append("inheritedRoles", inherited)
            if showPrivileges { d.append("inheritedPrivileges", inheritedPrivileges) }
            return .document(d)
        })]
    }
}
