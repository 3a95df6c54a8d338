import FolioBSON
import FolioEngine
import FolioQuery
import Synchronization

/// A user as `admin.system.users` stores it (MongoDB's shape: `_id` "db.user", `userId`,
/// `user`, `db`, `credentials` per SCRAM mechanism, `customData`, `roles`).
struct StoredUser: Sendable {
    var user: String
    var db: String
    var userID: Binary
    var credentials: [SCRAMMechanism: SCRAMCredential]
    var customData: Document?
    var roles: [RoleName]

    var id: String { "\(db).\(user)" }
    /// `user@db`, as MongoDB's messages name a user.
    var displayName: String { "\(user)@\(db)" }
    var mechanisms: [SCRAMMechanism] { SCRAMMechanism.allCases.filter { credentials[$0] != nil } }
    /// A user of `$external`: authenticated by their X.509 certificate, with no password.
    var isExternal: Bool { db == "$external" }
    /// As usersInfo lists them.
    var mechanismNames: [String] { isExternal ? ["external"] : mechanisms.map(\.rawValue) }

    var credentialsDocument: Document {
        if isExternal { return ["external": true] }
        var d = Document()
        for m in mechanisms { d.append(m.rawValue, .document(credentials[m]!.document)) }
        return d
    }

    var document: Document {
        var d: Document = ["_id": .string(id), "userId": .binary(userID), "user": .string(user), "db": .string(db),
                           "credentials": .document(credentialsDocument)]
        if let customData { d.append("customData", .document(customData)) }
        d.append("roles", .array(roles.map { .document($0.document) }))
        return d
    }

    /// Reads a stored user; nil for a document that is not one (a hand-written insert into
    /// `admin.system.users` cannot make authentication crash, only fail).
    init?(document d: Document) {
        guard case .string(let user)? = d["user"], case .string(let db)? = d["db"] else { return nil }
        self.user = user
        self.db = db
        if case .binary(let b)? = d["userId"] { userID = b } else { userID = Binary(subtype: Binary.Subtype.uuid, data: []) }
        credentials = [:]
        if case .document(let c)? = d["credentials"] {
            for m in SCRAMMechanism.allCases {
                if case .document(let cd)? = c[m.rawValue], let credential = SCRAMCredential(document: cd, mechanism: m) {
                    credentials[m] = credential
                }
            }
        }
        if case .document(let custom)? = d["customData"] { customData = custom }
        roles = (d["roles"]?.arrayValue ?? []).compactMap { try? RoleName(parsing: $0, defaultDatabase: db) }
    }

    init(user: String, db: String, credentials: [SCRAMMechanism: SCRAMCredential], customData: Document?, roles: [RoleName]) {
        self.user = user
        self.db = db
        self.userID = Binary(subtype: Binary.Subtype.uuid, data: randomUUID())
        self.credentials = credentials
        self.customData = customData
        self.roles = roles
    }
}

/// A version 4 UUID's bytes.
func randomUUID() -> [UInt8] {
    var b = randomBytes(16)
    b[6] = (b[6] & 0x0F) | 0x40
    b[8] = (b[8] & 0x3F) | 0x80
    return b
}

/// The users of the server, kept in `admin.system.users` through the engine (so they are as
/// durable as any write, and the change log and a dump see them as MongoDB's do).
final class UserStore: Sendable {
    static let namespace = try! Namespace(database: "admin", collection: "system.users")
    let engine: Engine
    /// Moves on every change of users, so authenticated connections re-read their privileges.
    let generation = Atomic<Int>(0)
    /// Whether any user or role exists (the localhost exception applies while none does).
    private let anyUser = Atomic<Bool>(false)

    init(engine: Engine) {
        self.engine = engine
        refreshCount()
    }

    var hasUsers: Bool { anyUser.load(ordering: .acquiring) }

    /// Whether a user or a user-defined role exists (either closes the localhost exception).
    private func refreshCount() {
        let exists = [UserStore.namespace, RoleStore.namespace].contains { ns in
            ((try? engine.find(ns, FindRequest(limit: 1)).all().count) ?? 0) > 0
        }
        anyUser.store(exists, ordering: .releasing)
    }

    /// Notes a change made to the users (by these commands or by a write to the collection).
    func changed() {
        generation.wrappingAdd(1, ordering: .releasing)
        refreshCount()
    }

    func find(user: String, db: String) throws(FolioError) -> StoredUser? {
        try users(["_id": .string("\(db).\(user)")]).first
    }

    /// Users matching `filter`, in `_id` order.
    func users(_ filter: Document) throws(FolioError) -> [StoredUser] {
        try engine.find(UserStore.namespace, FindRequest(filter: filter, sort: ["_id": .int32(1)])).all()
            .compactMap { StoredUser(document: $0.document()) }
    }

    /// - Throws: 51003 when the user exists.
    func insert(_ user: StoredUser, durable: Bool) throws(FolioError) {
        defer { changed() }
        let result = try engine.insert(UserStore.namespace, [user.document], options: WriteOptions(durable: durable))
        if let e = result.writeErrors.first {
            if e.error.code == .duplicateKey { throw FolioError(ErrorCode(rawValue: 51003), "User \"\(user.displayName)\" already exists") }
            throw e.error
        }
    }

    func replace(_ user: StoredUser, durable: Bool) throws(FolioError) {
        defer { changed() }
        let result = try engine.update(UserStore.namespace, [UpdateStatement(filter: ["_id": .string(user.id)], update: .document(user.document))],
                                       options: WriteOptions(durable: durable))
        if let e = result.writeErrors.first { throw e.error }
    }

    /// Removes users matching `filter`; returns how many.
    @discardableResult
    func delete(_ filter: Document, durable: Bool) throws(FolioError) -> Int {
        defer { changed() }
        let result = try engine.delete(UserStore.namespace, [DeleteStatement(filter: filter, limitOne: false)],
                                       options: WriteOptions(durable: durable))
        if let e = result.writeErrors.first { throw e.error }
        return result.deleted
    }
}
