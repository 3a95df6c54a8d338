import FolioBSON
import FolioEngine
import FolioQuery
import Synchronization
import FolioLocks

/// The database profiler (MongoDB's `profile` command, levels 1 and 2): operations of a
/// profiled database are written to its `system.profile`, a capped collection of 1 MB made
/// on first use, in MongoDB's profile document shape. Level 2 profiles every operation;
/// level 1 those at least `slowms` long (sampled by `sampleRate`, both shared with the slow
/// query log), or with a `filter` those the filter matches instead.
///
/// The entry is written after the reply is built, by the thread that ran the command, with
/// the engine's own insert: the profile write is not itself profiled, and costs a commit per
/// profiled operation, as MongoDB's does.
final class Profiler: Sendable {
    struct Settings: Sendable {
        var level: Int = 0
        /// The `filter` document as given (profile reports it) and its compiled form.
        var filter: (document: Document, expression: MatchExpression)?
    }

    private let databases = Locked<[String: Settings]>([:])
    /// Whether some database profiles (the check every command makes).
    private let active = Atomic<Bool>(false)

    /// The size of the `system.profile` collections the profiler creates (MongoDB: 1 MB).
    static let collectionBytes: Int32 = 1 << 20
    static let collection = "system.profile"

    func settings(_ database: String) -> Settings { databases.withLock { $0[database] ?? Settings() } }

    /// Sets a database's level and, when given, its filter (`.some(nil)`: unset); returns
    /// the previous settings.
    func set(_ database: String, level: Int?, filter: (document: Document, expression: MatchExpression)??) -> Settings {
        databases.withLock { all in
            let old = all[database] ?? Settings()
            var new = old
            if let level { new.level = level }
            if let filter { new.filter = filter }
            all[database] = new.level == 0 && new.filter == nil ? nil : new
            active.store(all.values.contains { $0.level > 0 }, ordering: .relaxed)
            return old
        }
    }

    var isActive: Bool { active.load(ordering: .relaxed) }

    /// What the profiler needs of one finished command.
    struct Operation {
        var name: String
        var body: Document
        var database: String
        var reply: Document
        var returned: Int
        /// The reply's size, computed only for an entry that is written.
        var replyBytes: () -> Int
        var milliseconds: Int64
        var connection: ConnectionInfo
        var appName: String?
        /// The cursor's plan: keys and documents examined, plan summary, whether exhausted.
        var execution: ExecutionSummary?
        var cursorExhausted: Bool
    }

    /// Writes the operation's profile entry when its database's settings ask for it; `slow`
    /// is the slow query log's decision (slowms, sampleRate) for the operation.
    func record(_ op: Operation, engine: Engine, slow: Bool) {
        let settings = self.settings(op.database)
        guard settings.level > 0 else { return }
        // Level 1 without a filter: only slow operations, decided before any entry is built.
        if settings.level == 1 && settings.filter == nil && !slow { return }
        let namespace = Profiler.namespace(op)
        // The profile's own reads are left out, so reading it does not grow it.
        if namespace.hasSuffix("." + Profiler.collection) { return }
        let entry = Profiler.entry(op, namespace: namespace)
        if settings.level == 1, let filter = settings.filter, !filter.expression.matches(entry) { return }
        do {
            let ns = try Namespace(database: op.database, collection: Profiler.collection)
            if !engine.collectionExists(ns) {
                try engine.createCollection(ns, options: ["capped": true, "size": .int32(Profiler.collectionBytes)])
            }
            _ = try engine.insert(ns, [entry])
        } catch {
            // A profile entry that cannot be written loses nothing of the operation's own.
        }
    }

    /// The namespace the entry names: the command's collection, a getMore's cursor's, or
    /// `<db>.$cmd`.
    static func namespace(_ op: Operation) -> String {
        if op.name == "getMore", case .string(let c)? = op.body["collection"] { return op.database + "." + c }
        if case .string(let c)? = op.body[op.name] { return op.database + "." + c }
        return op.database + ".$cmd"
    }

    /// MongoDB's profile document for the operation.
    static func entry(_ op: Operation, namespace: String) -> Document {
        let kind: String
        switch op.name {
        case "find": kind = "query"
        case "getMore": kind = "getmore"
        case "insert": kind = "insert"
        case "update": kind = "update"
        case "delete": kind = "remove"
        default: kind = "command"
        }
        var d: Document = ["op": .string(kind), "ns": .string(namespace), "command": ServerLog.truncated(op.body)]
        if let e = op.execution {
            d.append("keysExamined", .int64(Int64(e.keysExamined)))
            d.append("docsExamined", .int64(Int64(e.docsExamined)))
            if op.cursorExhausted { d.append("cursorExhausted", true) }
        }
        let n = op.reply["n"]?.exactInt64 ?? 0
        switch op.name {
        case "insert": d.append("ninserted", .int64(n))
        case "delete": d.append("ndeleted", .int64(n))
        case "update":
            let upserted = Int64(op.reply["upserted"]?.arrayValue?.count ?? 0)
            d.append("nMatched", .int64(n - upserted))
            d.append("nModified", .int64(op.reply["nModified"]?.exactInt64 ?? 0))
            d.append("nUpserted", .int64(upserted))
        default: break
        }
        d.append("numYield", .int32(0))
        if kind == "query" || kind == "getmore" || op.returned > 0 { d.append("nreturned", .int64(Int64(op.returned))) }
        if op.reply["ok"]?.asDouble != 1 {
            d.append("ok", .int32(0))
            if let message = op.reply["errmsg"] { d.append("errMsg", message) }
            if let name = op.reply["codeName"] { d.append("errName", name) }
            if let code = op.reply["code"] { d.append("errCode", code) }
        }
        d.append("locks", [:])
        d.append("flowControl", [:])
        d.append("responseLength", .int64(Int64(op.replyBytes())))
        d.append("protocol", "op_msg")
        d.append("millis", .int64(op.milliseconds))
        if let e = op.execution, !e.planSummary.isEmpty { d.append("planSummary", .string(e.planSummary)) }
        d.append("ts", .datetime(MongoJSONLogHandler.nowMilliseconds()))
        d.append("client", .string(Profiler.host(op.connection.remoteAddress)))
        if let appName = op.appName { d.append("appName", .string(appName)) }
        d.append("allUsers", [])
        d.append("user", "")
        return d
    }

    /// The client's address without its port (`127.0.0.1:51234` -> `127.0.0.1`).
    static func host(_ address: String) -> String {
        guard let colon = address.lastIndex(of: ":"), !address.hasPrefix("[") || address[..<colon].hasSuffix("]") else { return address }
        let host = address[..<colon]
        return String(host.hasPrefix("[") ? host.dropFirst().dropLast() : host)
    }
}
