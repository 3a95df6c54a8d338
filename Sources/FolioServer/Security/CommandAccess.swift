import FolioBSON
import FolioEngine
import FolioQuery

/// The check the dispatcher runs before any command when access control is on (MongoDB's
/// `checkAuthForOperation`): each command's needs come from its row of the command table
/// (CommandTable.swift); the rules that read a command's fields are here.
enum CommandAccess {
    /// One need: every action in `actions` on `target`.
    typealias Need = (target: ResourceTarget, actions: ActionSet)

    /// Checks that the command may run; 13 Unauthorized with MongoDB's message otherwise.
    static func check(_ r: CommandRequest, canonical: String, _ auth: Authorization) throws(FolioError) {
        let access = CommandTable.byName[canonical]?.access ?? .everything
        if case .open = access { return }
        if auth.users.isEmpty {
            // The localhost exception: only the first user or role, created in admin.
            if auth.localhostException, canonical == "createUser" || canonical == "createRole", r.database == "admin" { return }
            throw FolioError(.unauthorized, "command \(canonical) requires authentication")
        }
        if canonical == "getMore" || canonical == "killCursors" {
            let ids = canonical == "getMore" ? [r.argument] : (r.body["cursors"]?.arrayValue ?? [])
            for id in ids.compactMap(\.exactInt64) {
                if case .some(let owner) = r.context.cursors.owner(id), owner != auth.ownerKey {
                    throw FolioError(.unauthorized, "cursor id \(id) was not created by the authenticated user")
                }
            }
        }
        let needs = try needs(r, canonical: canonical)
        for need in needs where !auth.isAuthorized(need.actions, on: need.target) {
            throw unauthorized(r)
        }
    }

    static func unauthorized(_ r: CommandRequest) -> FolioError {
        FolioError(.unauthorized, "not authorized on \(r.database) to execute command \(ShellFormat.render(r.body))")
    }

    /// The privileges the command needs (its row of the command table).
    static func needs(_ r: CommandRequest, canonical: String) throws(FolioError) -> [Need] {
        switch CommandTable.byName[canonical]?.access ?? .everything {
        case .open, .anyUser: return []
        case .collection(let actions): return onCollection(r, actions)
        case .database(let actions): return [(.database(r.database), actions)]
        case .cluster(let action): return [(.cluster, [action])]
        case .computed(let needs): return try needs(r)
        case .everything: return [(.cluster, ActionSet.all)]
        }
    }

    /// `actions` on the command's collection (its database when it names none).
    static func onCollection(_ r: CommandRequest, _ actions: ActionSet) -> [Need] {
        guard case .string(let c) = r.argument else { return [(.database(r.database), actions)] }
        return [(.collection(r.database, c), actions)]
    }

    @Sendable static func insertNeeds(_ r: CommandRequest) -> [Need] {
        onCollection(r, r.bool("bypassDocumentValidation") == true ? [.insert, .bypassDocumentValidation] : [.insert])
    }

    @Sendable static func updateNeeds(_ r: CommandRequest) -> [Need] {
        let upsert = r.body["updates"]?.arrayValue?.contains { $0.documentValue?["upsert"]?.isTruthy == true } ?? false
        return onCollection(r, upsert ? [.update, .insert] : [.update])
    }

    @Sendable static func findAndModifyNeeds(_ r: CommandRequest) -> [Need] {
        if r.bool("remove") == true { return onCollection(r, [.find, .remove]) }
        return onCollection(r, r.bool("upsert") == true ? [.find, .update, .insert] : [.find, .update])
    }

    /// explain needs what the explained command needs.
    @Sendable static func explainNeeds(_ r: CommandRequest) throws(FolioError) -> [Need] {
        guard case .document(let inner) = r.argument, let name = inner.fieldNames.first else { return [] }
        var body = inner
        if body["$db"] == nil { body.append("$db", .string(r.database)) }
        let sub = CommandRequest(name: name, body: body, database: r.database, connection: r.connection, context: r.context)
        return try needs(sub, canonical: CommandDispatcher.canonicalName(name))
    }

    /// bulkWrite (on admin) needs each operation's action on its namespace.
    @Sendable static func bulkWriteNeeds(_ r: CommandRequest) -> [Need] {
        var out: [Need] = []
        let namespaces = r.body["nsInfo"]?.arrayValue?.compactMap { $0.documentValue?["ns"]?.stringValue } ?? []
        for op in r.body["ops"]?.arrayValue ?? [] {
            guard case .document(let d) = op, let kind = d.fieldNames.first, let index = d[kind]?.exactInt64,
                  index >= 0, Int(index) < namespaces.count, let ns = try? Namespace(parsing: namespaces[Int(index)]) else { continue }
            let target = ResourceTarget.collection(ns.database, ns.collection)
            switch kind {
            case "insert": out.append((target, [.insert]))
            case "update": out.append((target, d["upsert"]?.isTruthy == true ? [.update, .insert] : [.update]))
            case "delete": out.append((target, [.remove]))
            default: break
            }
        }
        return out
    }

    /// create; a view also needs find on what it reads.
    @Sendable static func createNeeds(_ r: CommandRequest) -> [Need] {
        if case .string(let source)? = r.body["viewOn"] {
            return onCollection(r, [.createCollection]) + [(.collection(r.database, source), [.find])]
                + pipelineNeeds(r.body["pipeline"]?.arrayValue ?? [], db: r.database)
        }
        return onCollection(r, [.createCollection])
    }

    @Sendable static func renameNeeds(_ r: CommandRequest) -> [Need] {
        guard let from = try? Namespace(parsing: r.argument.stringValue ?? ""),
              let to = try? Namespace(parsing: r.body["to"]?.stringValue ?? "") else { return [(.cluster, [.renameCollectionSameDB])] }
        var out: [Need]
        if from.database == to.database {
            out = [(.collection(from.database, from.collection), [.renameCollectionSameDB]),
                   (.collection(to.database, to.collection), [.renameCollectionSameDB])]
        } else {
            out = [(.collection(from.database, from.collection), [.find, .dropCollection]),
                   (.collection(to.database, to.collection), [.insert, .createIndex, .createCollection])]
        }
        if r.bool("dropTarget") == true { out.append((.collection(to.database, to.collection), [.dropCollection])) }
        return out
    }

    @Sendable static func cloneAsCappedNeeds(_ r: CommandRequest) -> [Need] {
        var out = onCollection(r, [.find])
        if case .string(let to)? = r.body["toCollection"] { out.append((.collection(r.database, to), [.insert, .createCollection])) }
        return out
    }

    /// authorizedCollections with nameOnly: any user may list the collections they have
    /// privileges on (the command shows only those).
    @Sendable static func listCollectionsNeeds(_ r: CommandRequest) -> [Need] {
        if r.bool("authorizedCollections") == true && r.bool("nameOnly") == true { return [] }
        return [(.database(r.database), [.listCollections])]
    }

    /// currentOp with `$ownOps` lists the user's own operations only.
    @Sendable static func currentOpNeeds(_ r: CommandRequest) -> [Need] {
        r.bool("$ownOps") == true ? [] : [(.cluster, [.inprog])]
    }

    @Sendable static func createUserNeeds(_ r: CommandRequest) -> [Need] {
        [(.database(r.database), [.createUser])] + roleNeeds(r.body["roles"], db: r.database, action: .grantRole)
    }

    /// grantRole/revokeRole on the database of each role given.
    static func roleNeeds(_ roles: BSON?, db: String, action: Action) -> [Need] {
        (roles?.arrayValue ?? []).compactMap { try? RoleName(parsing: $0, defaultDatabase: db) }.map { (.database($0.db), [action]) }
    }

    /// An aggregation's needs: its source (find, or what its first stage reads instead) and
    /// every namespace its stages read or write.
    @Sendable static func aggregateNeeds(_ r: CommandRequest) throws(FolioError) -> [Need] {
        let db = r.database
        let pipeline = r.body["pipeline"]?.arrayValue ?? []
        let first = pipeline.first?.documentValue?.fieldNames.first
        var out: [Need] = []
        let source: ResourceTarget
        if case .string(let c) = r.argument { source = .collection(db, c) } else { source = db == "admin" ? .cluster : .database(db) }
        switch first {
        case "$changeStream":
            if case .document(let spec)? = pipeline.first?.documentValue?["$changeStream"], spec["allChangesForCluster"]?.isTruthy == true {
                out.append((.cluster, [.changeStream, .find]))
            } else if case .collection = source {
                out.append((source, [.changeStream, .find]))
            } else {
                out.append((.database(db), [.changeStream, .find]))
            }
        case "$collStats": out.append((source, [.collStats]))
        case "$indexStats": out.append((source, [.indexStats]))
        case "$currentOp":
            let own = pipeline.first?.documentValue?["$currentOp"]?.documentValue?["allUsers"]?.isTruthy != true
            if !own { out.append((.cluster, [.inprog])) }
        case "$listLocalSessions", "$listSessions":
            let all = pipeline.first?.documentValue?[first!]?.documentValue?["allUsers"]?.isTruthy == true
            if all { out.append((.cluster, [.listSessions])) }
        case "$documents": break
        case "$listSearchIndexes": out.append((source, [.listSearchIndexes]))
        default:
            if case .collection = source { out.append((source, [.find])) }
            else if first != nil { out.append((.database(db), [.find])) }
        }
        if r.bool("bypassDocumentValidation") == true { out.append((.database(db), [.bypassDocumentValidation])) }
        return out + pipelineNeeds(pipeline, db: db)
    }

    /// The namespaces a pipeline's stages read ($lookup, $graphLookup, $unionWith, $facet's
    /// sub-pipelines) and write ($out, $merge).
    static func pipelineNeeds(_ pipeline: [BSON], db: String) -> [Need] {
        var out: [Need] = []
        for stage in pipeline {
            guard case .document(let d) = stage, let name = d.fieldNames.first, let spec = d[name] else { continue }
            switch name {
            case "$lookup", "$graphLookup":
                guard case .document(let s) = spec else { continue }
                if case .string(let from)? = s["from"] { out.append((.collection(db, from), [.find])) }
                else if case .document(let from)? = s["from"], case .string(let fdb)? = from["db"], case .string(let c)? = from["coll"] {
                    out.append((.collection(fdb, c), [.find]))
                }
                out += pipelineNeeds(s["pipeline"]?.arrayValue ?? [], db: db)
            case "$unionWith":
                if case .string(let c) = spec { out.append((.collection(db, c), [.find])) }
                else if case .document(let s) = spec {
                    if case .string(let c)? = s["coll"] { out.append((.collection(db, c), [.find])) }
                    out += pipelineNeeds(s["pipeline"]?.arrayValue ?? [], db: db)
                }
            case "$facet":
                guard case .document(let facets) = spec else { continue }
                for (_, sub) in facets { out += pipelineNeeds(sub.arrayValue ?? [], db: db) }
            case "$out":
                if case .string(let c) = spec { out.append((.collection(db, c), [.insert, .remove])) }
                else if case .document(let s) = spec, case .string(let c)? = s["coll"] {
                    out.append((.collection(s["db"]?.stringValue ?? db, c), [.insert, .remove]))
                }
            case "$merge":
                if case .string(let c) = spec { out.append((.collection(db, c), [.insert, .update])) }
                else if case .document(let s) = spec {
                    if case .string(let c)? = s["into"] { out.append((.collection(db, c), [.insert, .update])) }
                    else if case .document(let into)? = s["into"], case .string(let c)? = into["coll"] {
                        out.append((.collection(into["db"]?.stringValue ?? db, c), [.insert, .update]))
                    }
                }
            default: continue
            }
        }
        return out
    }
}

/// MongoDB's shell-like rendering of a command in its "not authorized" message:
/// `{ find: "c", filter: {}, $db: "test" }`.
enum ShellFormat {
    static func render(_ value: BSON) -> String {
        switch value {
        case .document(let d): return render(d)
        case .array(let a): return a.isEmpty ? "[]" : "[ " + a.map(render).joined(separator: ", ") + " ]"
        case .string(let s): return "\"\(s)\""
        case .int32(let i): return "\(i)"
        case .int64(let i): return "\(i)"
        case .double(let d):
            if abs(d) < 1e15, let whole = Int64(exactly: d) { return "\(whole).0" }
            return "\(d)"
        case .bool(let b): return b ? "true" : "false"
        case .null: return "null"
        case .objectID(let o): return "ObjectId('\(o.hex)')"
        case .binary(let b) where b.subtype == Binary.Subtype.uuid && b.data.count == 16: return "UUID(\"\(uuidString(b.data))\")"
        case .binary(let b): return "BinData(\(b.subtype), \(Hex.encode(b.data, uppercase: true)))"
        case .timestamp(let t): return "Timestamp(\(t.seconds), \(t.increment))"
        case .datetime(let ms): return "new Date(\(ms))"
        default: return "\(value)"
        }
    }

    static func uuidString(_ b: [UInt8]) -> String {
        let h = Hex.encode(b)
        let c = Array(h)
        return [c[0..<8], c[8..<12], c[12..<16], c[16..<20], c[20..<32]].map { String($0) }.joined(separator: "-")
    }

    static func render(_ d: Document) -> String {
        d.isEmpty ? "{}" : "{ " + d.map { "\($0.key): \(render($0.value))" }.joined(separator: ", ") + " }"
    }
}
