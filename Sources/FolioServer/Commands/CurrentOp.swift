import FolioBSON
import FolioEngine
import FolioQuery

/// currentOp and killOp over the commands running now (`OperationRegistry`).
enum OperationCommands {
    /// `{currentOp: 1, <filter>...}`: the running operations as MongoDB reports them, filtered
    /// by the command's other fields as a query (`{ns: "db.c"}`, `{"command.find": "c"}`,
    /// `{secs_running: {$gte: 2}}`). With `$all: true`, idle connections are listed too
    /// (`active: false`), as MongoDB lists them. Under access control `$ownOps` (what a user
    /// without the inprog action may ask) lists only the operations of the caller's users;
    /// without users every operation is the caller's own.
    @Sendable static func currentOp(_ r: CommandRequest) throws(FolioError) -> Document {
        guard r.database == "admin" else {
            throw FolioError(.unauthorized, "currentOp may only be run against the admin database.")
        }
        var filter = Document()
        for (k, v) in r.body where k != "currentOp" && k != "$all" && k != "$ownOps" && !CommandRequest.genericFields.contains(k) {
            filter.append(k, v)
        }
        let match = try Filter(parsing: filter)
        var inprog: [BSON] = []
        var busy = Set<Int32>()
        let own: Authorization? = r.bool("$ownOps") == true ? r.authorization : nil
        for op in r.context.operations.all {
            busy.insert(op.connection.id)
            if let own, !own.owns(connection: op.connection.id, in: r.context.access) { continue }
            let report = r.context.report(op)
            if match.matches(report) { inprog.append(.document(report)) }
        }
        if r.bool("$all") == true {
            let idle = r.context.connections.wireConnections.map { ($0.info.id, $0.info.remoteAddress) }
                .filter { !busy.contains($0.0) && (own?.owns(connection: $0.0, in: r.context.access) ?? true) }
                .sorted { $0.0 < $1.0 }
            let now = CivilTime(millisecondsSinceEpoch: Int64(ObjectID.currentSeconds()) * 1000).iso8601
            for (id, remote) in idle {
                var report: Document = ["type": "op", "host": .string(r.context.advertisedAddress), "desc": .string("conn\(id)"),
                                        "connectionId": .int32(id), "client": .string(remote)]
                if let app = r.context.applicationName(of: id) { report.append("appName", .string(app)) }
                report.append("active", false)
                report.append("currentOpTime", .string(now))
                if match.matches(report) { inprog.append(.document(report)) }
            }
        }
        return ["inprog": .array(inprog)]
    }

    /// `{killOp: 1, op: <opid>}`: asks the operation to stop at its next check; it fails with
    /// 11601 Interrupted. MongoDB answers the same whether or not the operation exists.
    @Sendable static func killOp(_ r: CommandRequest) throws(FolioError) -> Document {
        guard r.database == "admin" else {
            throw FolioError(.unauthorized, "killOp may only be run against the admin database.")
        }
        guard let op = r.body["op"] else {
            throw FolioError(ErrorCode(rawValue: 40414), "BSON field 'killOp.op' is missing but a required field")
        }
        guard let id = op.exactInt64, let opid = Int32(exactly: id) else {
            throw FolioError(.typeMismatch, "Illegal attempt to kill operation with invalid op id: \(op)")
        }
        _ = r.context.operations.kill(opid)
        return ["info": "attempting to kill op"]
    }
}
