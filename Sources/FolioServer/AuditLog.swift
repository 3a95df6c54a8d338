import FolioBSON
import Synchronization
import FolioLocks
#if canImport(Glibc)
import Glibc
#endif

/// The audit log (`folio serve --audit-log PATH`): one JSON line per security event, in the
/// shape of MongoDB Enterprise's audit messages (`atype`, `ts`, `local`, `remote`, `users`,
/// `roles`, `param`, `result`): authentications, failed authorizations, user and role
/// changes, and DDL (collections, databases, indexes).
public final class AuditLog: Sendable {
    private let fileDescriptor: Int32
    private let lock = Locked(())
    /// The address the server listens on (`local` of every message).
    let local: Document

    /// Appends to `path` (created if missing).
    public init(path: String, host: String, port: Int) throws {
        let fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0o600)
        guard fd >= 0 else { throw AuditLogError(path: path, errno: errno) }
        fileDescriptor = fd
        local = ["ip": .string(host), "port": .int32(Int32(clamping: port))]
    }

    deinit { close(fileDescriptor) }

    /// Writes one message. `result` is 0 for success, else the error code.
    func record(_ atype: String, connection: ConnectionInfo, authorization: Authorization?, param: Document, result: Int32) {
        var message: Document = ["atype": .string(atype), "ts": .datetime(MongoJSONLogHandler.nowMilliseconds()),
                                 "local": .document(local), "remote": .document(AuditLog.address(connection.remoteAddress))]
        message.append("users", .array((authorization?.users ?? []).map { .document($0.document) }))
        message.append("roles", .array((authorization?.roles ?? []).map { .document($0.document) }))
        message.append("param", .document(param))
        message.append("result", .int32(result))
        var bytes = Array(ExtendedJSON.string(from: message, mode: .relaxed).utf8)
        bytes.append(UInt8(ascii: "\n"))
        lock.withLock { _ in
            var written = 0
            while written < bytes.count {
                let n = bytes.withUnsafeBytes { write(fileDescriptor, $0.baseAddress! + written, $0.count - written) }
                if n <= 0 { break }
                written += n
            }
        }
    }

    /// `{ip, port}` of a remote address `host:port`.
    static func address(_ remote: String) -> Document {
        guard let colon = remote.lastIndex(of: ":"), let port = Int32(remote[remote.index(after: colon)...]) else {
            return ["ip": .string(remote), "port": .int32(0)]
        }
        return ["ip": .string(String(remote[..<colon])), "port": .int32(port)]
    }

    /// The audit message a finished command makes (nil for commands that are not audited), as
    /// `(atype, param)` pairs: one per index for createIndexes.
    static func events(_ canonical: String, _ r: CommandRequest) -> [(String, Document)] {
        let db = r.database
        let name = r.argument.stringValue ?? ""
        let ns: BSON = .string("\(db).\(name)")
        func userParam() -> Document { ["user": .string(name), "db": .string(db)] }
        func roleParam() -> Document { ["role": .string(name), "db": .string(db)] }
        switch canonical {
        case "create": return [("createCollection", ["ns": ns])]
        case "drop": return [("dropCollection", ["ns": ns])]
        case "dropDatabase": return [("dropDatabase", ["ns": .string(db)])]
        case "renameCollection": return [("renameCollection", ["old": r.argument, "new": r.body["to"] ?? .null])]
        case "createIndexes":
            return (r.body["indexes"]?.arrayValue ?? []).compactMap { spec in
                guard case .document(let d) = spec else { return nil }
                return ("createIndex", ["ns": ns, "indexName": d["name"] ?? .null, "indexSpec": spec])
            }
        case "dropIndexes": return [("dropIndex", ["ns": ns, "indexName": r.body["index"] ?? .null])]
        case "createUser":
            var p = userParam()
            if let custom = r.body["customData"] { p.append("customData", custom) }
            p.append("roles", r.body["roles"] ?? [])
            return [("createUser", p)]
        case "updateUser":
            var p = userParam()
            p.append("passwordChanged", .bool(r.body["pwd"] != nil))
            if let custom = r.body["customData"] { p.append("customData", custom) }
            if let roles = r.body["roles"] { p.append("roles", roles) }
            return [("updateUser", p)]
        case "dropUser": return [("dropUser", userParam())]
        case "dropAllUsersFromDatabase": return [("dropAllUsersFromDatabase", ["db": .string(db)])]
        case "grantRolesToUser", "revokeRolesFromUser":
            var p = userParam()
            p.append("roles", r.body["roles"] ?? [])
            return [(canonical, p)]
        case "createRole", "updateRole":
            var p = roleParam()
            if let roles = r.body["roles"] { p.append("roles", roles) }
            if let privileges = r.body["privileges"] { p.append("privileges", privileges) }
            return [(canonical, p)]
        case "dropRole": return [("dropRole", roleParam())]
        case "dropAllRolesFromDatabase": return [("dropAllRolesFromDatabase", ["db": .string(db)])]
        case "grantRolesToRole", "revokeRolesFromRole":
            var p = roleParam()
            p.append("roles", r.body["roles"] ?? [])
            return [(canonical, p)]
        case "grantPrivilegesToRole", "revokePrivilegesFromRole":
            var p = roleParam()
            p.append("privileges", r.body["privileges"] ?? [])
            return [(canonical, p)]
        case "shutdown": return [("shutdown", [:])]
        case "setDatabaseQuota":
            var p: Document = ["db": r.argument]
            for field in DatabaseQuota.fields { if let v = r.body[field] { p.append(field, v) } }
            return [("setDatabaseQuota", p)]
        default: return []
        }
    }
}

struct AuditLogError: Error, CustomStringConvertible {
    let path: String
    let errno: Int32
    var description: String { "cannot open the audit log \(path): \(String(cString: strerror(errno)))" }
}
