import FolioBSON
import FolioEngine
import FolioQuery

/// createUser, updateUser, dropUser, dropAllUsersFromDatabase, grantRolesToUser,
/// revokeRolesFromUser, usersInfo: users in `admin.system.users`, as MongoDB keeps them.
enum UserCommands {
    static let createFields: Set<String> = ["createUser", "pwd", "customData", "roles", "digestPassword", "mechanisms",
                                            "authenticationRestrictions"]
    static let updateFields: Set<String> = ["updateUser", "pwd", "customData", "roles", "digestPassword", "mechanisms",
                                            "authenticationRestrictions"]

    static func userName(_ r: CommandRequest) throws(FolioError) -> String {
        guard case .string(let name) = r.argument, !name.isEmpty else {
            throw FolioError(.badValue, "User name must be a non-empty string")
        }
        guard !name.utf8.contains(0) else { throw FolioError(.badValue, "User names cannot contain NULL characters") }
        return name
    }

    static func checkDatabase(_ db: String) throws(FolioError) {
        if db == "local" { throw FolioError(.badValue, "Cannot create users in the local database") }
        if db == "config" { throw FolioError(.badValue, "Cannot create users in the config database") }
    }

    static func refuseUnknownFields(_ r: CommandRequest, allowed: Set<String>) throws(FolioError) {
        for key in r.body.fieldNames where !allowed.contains(key) && !CommandRequest.genericFields.contains(key) {
            throw FolioError(ErrorCode(rawValue: 40415), "BSON field '\(r.name).\(key)' is an unknown field.")
        }
        if let restrictions = r.body["authenticationRestrictions"], restrictions.arrayValue?.isEmpty != true {
            throw FolioError(.commandNotSupported, "authenticationRestrictions are not supported")
        }
    }

    /// The roles given, each built in or defined (31 RoleNotFound otherwise).
    static func roles(_ value: BSON?, db: String, field: String, _ r: CommandRequest) throws(FolioError) -> [RoleName] {
        guard case .array(let list)? = value else {
            throw FolioError(.badValue, "\"\(field)\" command requires a \"roles\" array")
        }
        var out: [RoleName] = []
        for item in list {
            let role = try RoleName(parsing: item, defaultDatabase: db)
            let defined = BuiltinRoles.isBuiltin(role) ? true : try r.context.access.roles.find(role) != nil
            guard defined else {
                throw FolioError(.roleNotFound, "Could not find role: \(role.role)@\(role.db)")
            }
            if !out.contains(role) { out.append(role) }
        }
        return out
    }

    /// The credentials for `pwd`, one per mechanism asked for (both by default).
    static func credentials(_ r: CommandRequest, user: String, existing: [SCRAMMechanism]? = nil)
        throws(FolioError) -> [SCRAMMechanism: SCRAMCredential] {
        guard case .string(let password)? = r.body["pwd"] else {
            throw FolioError(.badValue, "Must provide a 'pwd' field for all user documents, except those with '$external' as the user's source db")
        }
        guard !password.isEmpty else { throw FolioError(.badValue, "Password cannot be empty") }
        var mechanisms = existing ?? SCRAMMechanism.allCases
        if let value = r.body["mechanisms"] {
            guard case .array(let names) = value, !names.isEmpty else {
                throw FolioError(.badValue, "mechanisms field must not be empty")
            }
            mechanisms = []
            for n in names {
                guard case .string(let s) = n, let m = SCRAMMechanism(rawValue: s) else {
                    throw FolioError(.badValue, "Unknown auth mechanism '\(n.stringValue ?? "\(n)")'")
                }
                if !mechanisms.contains(m) { mechanisms.append(m) }
            }
        }
        let digest = r.body["digestPassword"]?.isTruthy ?? true
        var out: [SCRAMMechanism: SCRAMCredential] = [:]
        for m in mechanisms {
            if !digest {
                guard m == .sha1 else { throw FolioError(.badValue, "Use of SCRAM-SHA-256 requires undigested passwords") }
            }
            out[m] = try SCRAMCredential.derive(password: password, user: user, mechanism: m, digested: !digest)
        }
        return out
    }

    @Sendable static func createUser(_ r: CommandRequest) throws(FolioError) -> Document {
        try refuseUnknownFields(r, allowed: createFields)
        let name = try userName(r)
        try checkDatabase(r.database)
        let roles = try roles(r.body["roles"], db: r.database, field: "createUser", r)
        let credentials: [SCRAMMechanism: SCRAMCredential]
        if r.database == "$external" {
            // X.509 users: the certificate is the credential.
            guard r.body["pwd"] == nil else {
                throw FolioError(.badValue, "Cannot set the password for users defined on the '$external' database")
            }
            credentials = [:]
        } else {
            credentials = try self.credentials(r, user: name)
        }
        let user = StoredUser(user: name, db: r.database, credentials: credentials, customData: try r.document("customData"), roles: roles)
        try r.context.access.users.insert(user, durable: try r.durable())
        return [:]
    }

    @Sendable static func updateUser(_ r: CommandRequest) throws(FolioError) -> Document {
        try refuseUnknownFields(r, allowed: updateFields)
        let name = try userName(r)
        guard var user = try r.context.access.users.find(user: name, db: r.database) else {
            throw FolioError(.userNotFound, "Could not find user \"\(name)\" for db \"\(r.database)\"")
        }
        guard r.body["pwd"] != nil || r.body["customData"] != nil || r.body["roles"] != nil || r.body["mechanisms"] != nil else {
            throw FolioError(.badValue, "Must specify at least one field to update in updateUser")
        }
        // Authorization: a user may change their own password and custom data with the
        // changeOwn* actions; anything else needs the user admin's actions.
        if let auth = r.authorization {
            let own = auth.users.contains(UserName(user: name, db: r.database))
            var needs: [CommandAccess.Need] = []
            if r.body["pwd"] != nil || r.body["mechanisms"] != nil {
                needs.append((.database(r.database), own && auth.isAuthorized(.changeOwnPassword, on: .database(r.database)) ? [] : [.changePassword]))
            }
            if r.body["customData"] != nil {
                needs.append((.database(r.database), own && auth.isAuthorized(.changeOwnCustomData, on: .database(r.database)) ? [] : [.changeCustomData]))
            }
            if r.body["roles"] != nil {
                needs.append((.database(r.database), [.grantRole, .revokeRole]))
            }
            for need in needs where !auth.isAuthorized(need.actions, on: need.target) { throw CommandAccess.unauthorized(r) }
        }
        if r.body["pwd"] != nil || r.body["mechanisms"] != nil {
            if user.isExternal { throw FolioError(.badValue, "Cannot set the password for users defined on the '$external' database") }
            if r.body["pwd"] == nil { throw FolioError(.badValue, "Must provide a 'pwd' field to change the user's mechanisms") }
            user.credentials = try credentials(r, user: name, existing: r.body["mechanisms"] == nil ? user.mechanisms : nil)
        }
        if r.body["customData"] != nil { user.customData = try r.document("customData") }
        if r.body["roles"] != nil { user.roles = try roles(r.body["roles"], db: r.database, field: "updateUser", r) }
        try r.context.access.users.replace(user, durable: try r.durable())
        return [:]
    }

    @Sendable static func dropUser(_ r: CommandRequest) throws(FolioError) -> Document {
        let name = try userName(r)
        let n = try r.context.access.users.delete(["_id": .string("\(r.database).\(name)")], durable: try r.durable())
        guard n > 0 else { throw FolioError(.userNotFound, "Could not find user \"\(name)\" for db \"\(r.database)\"") }
        return [:]
    }

    @Sendable static func dropAllUsersFromDatabase(_ r: CommandRequest) throws(FolioError) -> Document {
        let n = try r.context.access.users.delete(["db": .string(r.database)], durable: try r.durable())
        return ["n": .int32(Int32(clamping: n))]
    }

    @Sendable static func grantRolesToUser(_ r: CommandRequest) throws(FolioError) -> Document {
        try changeRoles(r, grant: true)
    }

    @Sendable static func revokeRolesFromUser(_ r: CommandRequest) throws(FolioError) -> Document {
        try changeRoles(r, grant: false)
    }

    static func changeRoles(_ r: CommandRequest, grant: Bool) throws(FolioError) -> Document {
        let name = try userName(r)
        let roles = try roles(r.body["roles"], db: r.database, field: r.name, r)
        guard !roles.isEmpty else { throw FolioError(.badValue, "\(r.name) command requires a non-empty \"roles\" array") }
        guard var user = try r.context.access.users.find(user: name, db: r.database) else {
            throw FolioError(.userNotFound, "Could not find user \"\(name)\" for db \"\(r.database)\"")
        }
        if grant { for role in roles where !user.roles.contains(role) { user.roles.append(role) } }
        else { user.roles.removeAll { roles.contains($0) } }
        try r.context.access.users.replace(user, durable: try r.durable())
        return [:]
    }

    /// usersInfo: `1` (this database's users), a name, `{user, db}`, a list of them, or
    /// `{forAllDBs: true}`; with showCredentials, showPrivileges, filter.
    @Sendable static func usersInfo(_ r: CommandRequest) throws(FolioError) -> Document {
        var names: [UserName]? = nil
        var filter: Document = [:]
        switch r.argument {
        case .document(let d) where d["forAllDBs"]?.isTruthy == true: break
        case .document(let d):
            guard case .string(let u)? = d["user"], case .string(let db)? = d["db"] else {
                throw FolioError(.badValue, "User name must contain a string field named: user and db")
            }
            names = [UserName(user: u, db: db)]
        case .string(let u): names = [UserName(user: u, db: r.database)]
        case .array(let list):
            names = []
            for item in list {
                switch item {
                case .string(let u): names!.append(UserName(user: u, db: r.database))
                case .document(let d):
                    guard case .string(let u)? = d["user"], case .string(let db)? = d["db"] else {
                        throw FolioError(.badValue, "User name must contain a string field named: user and db")
                    }
                    names!.append(UserName(user: u, db: db))
                default: throw FolioError(.badValue, "User name must be either a string or an object")
                }
            }
        default:
            guard r.argument.isNumber else { throw FolioError(.badValue, "UsersInfo cannot be called with a value of type \(r.argument.type.alias)") }
            filter = ["db": .string(r.database)]
        }
        if let auth = r.authorization {
            let all = r.argument.documentValue?["forAllDBs"]?.isTruthy == true
            let allowed: Bool
            if all { allowed = auth.isAuthorized(.viewUser, on: .cluster) || auth.privileges.contains { $0.resource == .anyResource || $0.resource == .anyNormal && $0.actions.contains(.viewUser) } }
            else if let names { allowed = names.allSatisfy { auth.users.contains($0) || auth.isAuthorized(.viewUser, on: .database($0.db)) } }
            else { allowed = auth.isAuthorized(.viewUser, on: .database(r.database)) }
            guard allowed else { throw CommandAccess.unauthorized(r) }
        }
        if let extra = try r.document("filter") {
            for (k, v) in extra { filter.append(k, v) }
        }
        var users = try r.context.access.users.users(filter)
        if let names { users = users.filter { names.contains(UserName(user: $0.user, db: $0.db)) } }
        let showCredentials = r.bool("showCredentials") == true
        let showPrivileges = r.bool("showPrivileges") == true
        let custom = showPrivileges ? try r.context.access.roles.all() : [:]
        return ["users": .array(users.map { u in
            var d: Document = ["_id": .string(u.id), "userId": .binary(u.userID), "user": .string(u.user), "db": .string(u.db)]
            if showCredentials { d.append("credentials", .document(u.credentialsDocument)) }
            if let custom = u.customData { d.append("customData", .document(custom)) }
            d.append("roles", .array(u.roles.map { .document($0.document) }))
            if showPrivileges {
                let resolved = RoleGraph.resolve(u.roles, custom: custom)
                d.append("inheritedRoles", .array(resolved.roles.map { .document($0.document) }))
                d.append("inheritedPrivileges", .array(Privileges.merged(resolved.privileges).map { .document($0.document) }))
            }
            d.append("mechanisms", .array(u.mechanismNames.map(BSON.string)))
            return .document(d)
        })]
    }
}
