import FolioBSON
import FolioEngine
import FolioQuery

/// saslStart, saslContinue, authenticate, logout, connectionStatus: a connection proves who it
/// is with SCRAM-SHA-256 or SCRAM-SHA-1, as MongoDB's drivers do by default.
enum AuthenticationCommands {
    /// The one conversation a connection has at a time.
    static let conversationID: Int32 = 1

    @Sendable static func saslStart(_ r: CommandRequest) throws(FolioError) -> Document {
        try start(r.body, database: r.database, r)
    }

    /// Starts a conversation (also `hello`'s speculativeAuthenticate, with the embedded command).
    static func start(_ body: Document, database: String, _ r: CommandRequest, speculative: Bool = false) throws(FolioError) -> Document {
        guard case .string(let name)? = body["mechanism"] else {
            throw FolioError(.badValue, "Authentication mechanism must be specified")
        }
        guard let mechanism = SCRAMMechanism(rawValue: name) else {
            throw FolioError(.mechanismUnavailable, "Received authentication for mechanism \(name) which is not enabled")
        }
        let payload = try payloadBytes(body["payload"])
        let skip = body["options"]?.documentValue?["skipEmptyExchange"]?.isTruthy == true
        var scram = SCRAMConversation(mechanism: mechanism)
        let access = r.context.access
        let reply: [UInt8]
        do throws(SCRAMConversation.Failure) {
            let user = try SCRAMConversation.user(inClientFirst: payload)
            let stored = try? access.users.find(user: user, db: database)
            if speculative && stored?.credentials[mechanism] == nil { throw SCRAMConversation.Failure.authenticationFailed }
            reply = try scram.start(payload, credential: stored?.credentials[mechanism],
                                    fakeSalt: access.fakeSalt(user: user, db: database, mechanism: mechanism))
        } catch {
            throw failure(error, mechanism: mechanism, user: scram.user, db: database, r)
        }
        let conversation = ConnectionAuthentication.Conversation(id: conversationID, db: database, scram: scram, skipEmptyExchange: skip)
        try access.update(r.connection) { (s) throws(FolioError) in s.conversation = conversation }
        return ["conversationId": .int32(conversationID), "done": false, "payload": .binary(Binary(data: reply))]
    }

    @Sendable static func saslContinue(_ r: CommandRequest) throws(FolioError) -> Document {
        let access = r.context.access
        let payload = try payloadBytes(r.body["payload"])
        guard let id = r.body["conversationId"]?.exactInt64 else {
            throw FolioError(.failedToParse, "BSON field 'saslContinue.conversationId' is missing but a required field")
        }
        guard var conversation = access.state(r.connection.id).conversation, Int64(conversation.id) == id,
              conversation.db == r.database else {
            throw FolioError(.protocolError, "No SASL session state found")
        }
        let mechanism = conversation.scram.mechanism
        let user = UserName(user: conversation.scram.user, db: conversation.db)
        if conversation.awaitingEmpty {
            guard payload.isEmpty else {
                try clear(r)
                throw failure(.malformed("Unexpected SASL message after the final SCRAM message"), mechanism: mechanism,
                              user: user.user, db: user.db, r)
            }
            try succeed(user, mechanism: mechanism, r)
            return ["conversationId": .int32(conversation.id), "done": true, "payload": .binary(Binary(data: []))]
        }
        let reply: [UInt8]
        do throws(SCRAMConversation.Failure) {
            reply = try conversation.scram.finish(payload)
        } catch {
            try clear(r)
            throw failure(error, mechanism: mechanism, user: user.user, db: user.db, r)
        }
        if conversation.skipEmptyExchange {
            try succeed(user, mechanism: mechanism, r)
            return ["conversationId": .int32(conversation.id), "done": true, "payload": .binary(Binary(data: reply))]
        }
        conversation.awaitingEmpty = true
        let next = conversation
        try access.update(r.connection) { (s) throws(FolioError) in s.conversation = next }
        return ["conversationId": .int32(conversation.id), "done": false, "payload": .binary(Binary(data: reply))]
    }

    static func payloadBytes(_ value: BSON?) throws(FolioError) -> [UInt8] {
        switch value {
        case .binary(let b)?: return b.data
        case .string(let s)?: return Array(s.utf8)
        case nil: throw FolioError(.failedToParse, "BSON field 'payload' is missing but a required field")
        default: throw FolioError(.typeMismatch, "BSON field 'payload' is the wrong type '\(value!.type.alias)', expected types '[string, binData]'")
        }
    }

    static func clear(_ r: CommandRequest) throws(FolioError) {
        try r.context.access.update(r.connection) { (s) throws(FolioError) in s.conversation = nil }
    }

    static func succeed(_ user: UserName, mechanism: SCRAMMechanism, _ r: CommandRequest) throws(FolioError) {
        if let max = r.context.quotas.quota(user.db)?.maxConnectionsPerUser,
           r.context.access.connections(authenticatedAs: user, except: r.connection.id) >= max {
            try clear(r)
            let error = FolioError(QuotaRegistry.overQuota, "too many connections for user \(user.user)@\(user.db): the database allows \(max)")
            r.context.audit?.record("authenticate", connection: r.connection, authorization: nil,
                                    param: ["user": .string(user.user), "db": .string(user.db), "mechanism": .string(mechanism.rawValue)],
                                    result: error.code.rawValue)
            throw error
        }
        try r.context.access.authenticated(user, connection: r.connection)
        r.context.audit?.record("authenticate", connection: r.connection, authorization: try r.context.access.authorization(connection: r.connection),
                                param: ["user": .string(user.user), "db": .string(user.db), "mechanism": .string(mechanism.rawValue)], result: 0)
        r.context.log.log(.info, .access, id: 5286306, ctx: "conn\(r.connection.id)", "Successfully authenticated", attr: [
            "client": .string(r.connection.remoteAddress), "mechanism": .string(mechanism.rawValue), "user": .string(user.user),
            "db": .string(user.db)])
    }

    /// The error a failed conversation answers with (18 for anything about who the user is),
    /// logged as MongoDB logs failed authentications.
    static func failure(_ f: SCRAMConversation.Failure, mechanism: SCRAMMechanism, user: String, db: String,
                        _ r: CommandRequest) -> FolioError {
        let error: FolioError
        switch f {
        case .malformed(let why): error = FolioError(.badValue, why)
        case .authenticationFailed: error = FolioError(.authenticationFailed, "Authentication failed.")
        }
        r.context.audit?.record("authenticate", connection: r.connection, authorization: nil,
                                param: ["user": .string(user), "db": .string(db), "mechanism": .string(mechanism.rawValue)],
                                result: error.code.rawValue)
        r.context.log.log(.info, .access, id: 20249, ctx: "conn\(r.connection.id)", "Authentication failed", attr: [
            "mechanism": .string(mechanism.rawValue), "user": .string(user), "db": .string(db),
            "client": .string(r.connection.remoteAddress),
            "error": .string("\(error.code.name): \(error.message)")])
        return error
    }

    /// `authenticate` serves MONGODB-X509: the connection's verified TLS client certificate
    /// names a user of `$external` (also `hello`'s speculativeAuthenticate).
    @Sendable static func authenticate(_ r: CommandRequest) throws(FolioError) -> Document {
        try x509(r.body, database: r.database, r)
    }

    static func x509(_ body: Document, database: String, _ r: CommandRequest) throws(FolioError) -> Document {
        let mechanism = body["mechanism"]?.stringValue ?? ""
        guard mechanism == "MONGODB-X509" else {
            throw FolioError(.mechanismUnavailable, "Auth mechanism \(mechanism) not supported by the authenticate command")
        }
        guard database == "$external" else {
            throw FolioError(.badValue, "X.509 authentication must always use the $external database.")
        }
        let access = r.context.access
        func fail(_ error: FolioError, user: String) -> FolioError {
            r.context.audit?.record("authenticate", connection: r.connection, authorization: nil,
                                    param: ["user": .string(user), "db": "$external", "mechanism": "MONGODB-X509"],
                                    result: error.code.rawValue)
            r.context.log.log(.info, .access, id: 20249, ctx: "conn\(r.connection.id)", "Authentication failed", attr: [
                "mechanism": "MONGODB-X509", "user": .string(user), "db": "$external", "client": .string(r.connection.remoteAddress),
                "error": .string("\(error.code.name): \(error.message)")])
            return error
        }
        guard let subject = access.state(r.connection.id).peerSubject else {
            throw fail(FolioError(.authenticationFailed, "No verified subject name available from client"), user: body["user"]?.stringValue ?? "")
        }
        if case .string(let named)? = body["user"], named != subject {
            throw fail(FolioError(.authenticationFailed, "There is no x.509 client certificate matching the user."), user: named)
        }
        guard try access.users.find(user: subject, db: "$external") != nil else {
            throw fail(FolioError(.userNotFound, "Could not find user \"\(subject)\" for db \"$external\""), user: subject)
        }
        let user = UserName(user: subject, db: "$external")
        try access.authenticated(user, connection: r.connection)
        r.context.audit?.record("authenticate", connection: r.connection, authorization: try access.authorization(connection: r.connection),
                                param: ["user": .string(subject), "db": "$external", "mechanism": "MONGODB-X509"], result: 0)
        r.context.log.log(.info, .access, id: 5286306, ctx: "conn\(r.connection.id)", "Successfully authenticated", attr: [
            "client": .string(r.connection.remoteAddress), "mechanism": "MONGODB-X509", "user": .string(subject), "db": "$external"])
        return ["dbname": "$external", "user": .string(subject)]
    }

    /// logout: forgets the users authenticated on this database.
    @Sendable static func logout(_ r: CommandRequest) throws(FolioError) -> Document {
        let access = r.context.access
        try access.setUsers(access.state(r.connection.id).users.filter { $0.db != r.database }, connection: r.connection)
        return [:]
    }

    /// connectionStatus: who this connection is, and with `showPrivileges` what it may do.
    @Sendable static func connectionStatus(_ r: CommandRequest) throws(FolioError) -> Document {
        let auth = try r.context.access.authorization(connection: r.connection)
        var info: Document = ["authenticatedUsers": .array((auth?.users ?? []).map { .document($0.document) }),
                              "authenticatedUserRoles": .array((auth?.roles ?? []).map { .document($0.document) })]
        if r.bool("showPrivileges") == true {
            info.append("authenticatedUserPrivileges", .array(Privileges.merged(auth?.privileges ?? []).map { .document($0.document) }))
        }
        return ["authInfo": .document(info)]
    }
}

enum Privileges {
    /// Privileges on the same resource made one, in a stable order.
    static func merged(_ privileges: [Privilege]) -> [Privilege] {
        var byResource: [ResourcePattern: ActionSet] = [:], order: [ResourcePattern] = []
        for p in privileges {
            if byResource[p.resource] == nil { order.append(p.resource) }
            byResource[p.resource, default: []].formUnion(p.actions)
        }
        return order.map { Privilege(resource: $0, actions: byResource[$0]!) }
    }
}
