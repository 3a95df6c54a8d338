import FolioBSON
import FolioEngine
import FolioQuery

/// aggregate: collection-level (`aggregate: "coll"`) and database-level (`aggregate: 1`).
enum AggregateCommand {
    @Sendable static func run(_ r: CommandRequest) throws(FolioError) -> Document {
        let collection: String?
        switch r.argument {
        case .string(let name):
            _ = try r.namespace()
            collection = name
        case let v where v.isNumber && v.asDouble == 1:
            collection = nil
        default:
            throw FolioError(.invalidNamespace, "Invalid aggregate namespace: collection name must be a string or the number 1, not \(r.argument.type.alias)")
        }
        guard let pipelineValue = r.body["pipeline"] else {
            throw FolioError(ErrorCode(rawValue: 40414), "BSON field 'aggregate.pipeline' is missing but a required field")
        }
        guard case .array(let pipeline) = pipelineValue else {
            throw FolioError(.typeMismatch, "BSON field 'aggregate.pipeline' is the wrong type '\(pipelineValue.type.alias)', expected type 'array'")
        }
        try r.api.check(pipeline: pipeline)
        if r.transaction != nil, case .document(let last)? = pipeline.last, let stage = last.fieldNames.first,
           stage == "$out" || stage == "$merge" {
            throw FolioError(.operationNotSupportedInTransaction, "\(stage) cannot be used in a transaction")
        }
        if r.bool("explain") == true {
            // `{aggregate, pipeline, explain: true}` is explain at queryPlanner verbosity.
            var inner = Document()
            for (k, v) in r.body where k != "explain" && k != "$db" { inner.append(k, v) }
            let body: Document = ["explain": .document(inner), "verbosity": "queryPlanner", "$db": .string(r.database)]
            return try IndexCommands.explain(CommandRequest(name: "explain", body: body, database: r.database,
                                                            connection: r.connection, context: r.context))
        }
        guard let cursorOptions = try r.document("cursor") else {
            throw FolioError(.failedToParse, "The 'cursor' option is required, except for aggregate with the explain argument")
        }
        let batchSize = try CommandRequest.safeInt(cursorOptions["batchSize"], field: "cursor.batchSize")
        if let n = batchSize, n < 0 { throw FolioError(.badValue, "BSON field 'batchSize' value must be >= 0, actual value '\(n)'") }
        if let readConcern = try r.document("readConcern"), let level = readConcern["level"]?.stringValue,
           level == "linearizable" || level == "snapshot",
           case .document(let last)? = pipeline.last, let stage = last.fieldNames.first, stage == "$out" || stage == "$merge" {
            throw FolioError(.invalidOptions, "\(stage) cannot be used with a '\(level)' read concern level")
        }
        let namespace = "\(r.database).\(collection ?? "$cmd.aggregate")"
        if let collection, let view = try Views.resolve(try r.namespace(.string(collection)), r.engine) {
            let cursor = try Views.aggregate(view, pipeline, r)
            return try FindCommand.open(cursor, namespace: namespace, batchSize: batchSize, singleBatch: false, r)
        }
        let cursor = try r.engine.aggregate(database: r.database, collection: collection, try request(r, pipeline: pipeline))
        return try FindCommand.open(cursor, namespace: namespace, batchSize: batchSize, singleBatch: false, r)
    }

    /// The aggregation a command runs: `pipeline` with the command's options (allowDiskUse,
    /// let, maxTimeMS, collation, hint), the server's own stages and its views.
    static func request(_ r: CommandRequest, pipeline: [BSON]) throws(FolioError) -> AggregateRequest {
        let context = r.context
        var request = AggregateRequest(pipeline: pipeline, allowDiskUse: r.bool("allowDiskUse") ?? true,
                                       constants: try r.letVariables(), maxTimeMilliseconds: try r.maxTime(),
                                       bypassDocumentValidation: r.bool("bypassDocumentValidation") ?? false,
                                       hostStages: { name, spec throws(FolioError) in try hostStage(name, spec, context) })
        request.collation = try r.document("collation")
        request.sortMemoryBytes = r.sortMemoryBytes
        request.hint = WriteReply.hint(r.body["hint"])
        request.views = Views.resolver(r.engine, collation: request.collation)
        return request
    }

    /// The stages that read the server's own state.
    static func hostStage(_ name: String, _ spec: Document, _ context: ServerContext) throws(FolioError) -> [Document] {
        switch name {
        case "$listLocalSessions":
            for k in spec.fieldNames where k != "allUsers" && k != "users" {
                throw FolioError(ErrorCode(rawValue: 40415), "BSON field '$listLocalSessions.\(k)' is an unknown field.")
            }
            return context.sessions.list()
        case "$currentOp":
            // The operations running now, this aggregate included, as the currentOp command
            // lists them (no idle connections, cursors or sessions are listed: without users
            // every operation is the caller's own).
            let options: Set<String> = ["allUsers", "idleConnections", "idleCursors", "idleSessions", "localOps",
                                        "backtrace", "truncateOps", "targetAllNodes"]
            for k in spec.fieldNames where !options.contains(k) {
                throw FolioError(ErrorCode(rawValue: 40415), "BSON field '$currentOp.\(k)' is an unknown field.")
            }
            return context.operations.all.map { $0.report(host: context.advertisedAddress) }
        default:
            throw FolioError(.commandNotSupported, "\(name) is not supported yet")
        }
    }
}
