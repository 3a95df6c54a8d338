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
        if case .document(let first)? = pipeline.first, first.fieldNames.first == "$changeStream" {
            do throws(FolioError) {
                let cursor = try watch(r, collection: collection, stage: first["$changeStream"]!, rest: Array(pipeline.dropFirst()))
                return try FindCommand.open(cursor, namespace: namespace, batchSize: batchSize, singleBatch: false, r)
            } catch {
                throw ChangeStreamErrors.labelled(error)
            }
        }
        if let collection, let view = try Views.resolve(try r.namespace(.string(collection)), r.engine) {
            let cursor = try Views.aggregate(view, pipeline, r)
            return try FindCommand.open(cursor, namespace: namespace, batchSize: batchSize, singleBatch: false, r)
        }
        let cursor = try r.engine.aggregate(database: r.database, collection: collection, try request(r, pipeline: pipeline))
        return try FindCommand.open(cursor, namespace: namespace, batchSize: batchSize, singleBatch: false, r)
    }

    /// A change stream (`$changeStream` first in the pipeline) on a collection, a database or
    /// (`allChangesForCluster` on admin) every database.
    static func watch(_ r: CommandRequest, collection: String?, stage: BSON, rest: [BSON]) throws(FolioError) -> Cursor {
        guard case .document(let options) = stage else {
            throw FolioError(ErrorCode(rawValue: 50808), "$changeStream stage expects a document as argument")
        }
        if r.transaction != nil {
            throw FolioError(.operationNotSupportedInTransaction, "Operation not permitted in transaction :: caused by :: $changeStream is not allowed in a transaction")
        }
        if let level = try r.document("readConcern")?["level"]?.stringValue, !["majority", "local"].contains(level) {
            throw FolioError(.invalidOptions, "Read concern \(level) is not supported for $changeStream")
        }
        if let collection, try Views.definition(try r.namespace(.string(collection)), r.engine) != nil {
            throw FolioError(.commandNotSupportedOnView, "$changeStream is not supported on views.")
        }
        let spec = try ChangeStreamSpec(parsing: options, database: r.database, collection: collection)
        return try r.engine.watch(spec, pipeline: rest, constants: try r.letVariables(), collation: try r.document("collation"))
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
            // Under access control, without allUsers only the caller's sessions.
            let all = spec["allUsers"]?.isTruthy == true
            return context.sessions.list(owner: all ? nil : Authorization.current?.ownerKey)
        case "$currentOp":
            // The operations running now, this aggregate included, as the currentOp command
            // lists them (no idle connections, cursors or sessions are listed).
            let options: Set<String> = ["allUsers", "idleConnections", "idleCursors", "idleSessions", "localOps",
                                        "backtrace", "truncateOps", "targetAllNodes"]
            for k in spec.fieldNames where !options.contains(k) {
                throw FolioError(ErrorCode(rawValue: 40415), "BSON field '$currentOp.\(k)' is an unknown field.")
            }
            // Under access control, without allUsers only the caller's users' operations.
            let own: Authorization? = spec["allUsers"]?.isTruthy == true ? nil : Authorization.current
            return context.operations.all.filter { own?.owns(connection: $0.connection.id, in: context.access) ?? true }
                .map(context.report)
        default:
            throw FolioError(.commandNotSupported, "\(name) is not supported yet")
        }
    }
}

/// The labels MongoDB gives a change stream's errors: drivers resume a stream after an error
/// labelled ResumableChangeStreamError and never after NonResumableChangeStreamError.
enum ChangeStreamErrors {
    /// Codes after which a stream can resume on the same server (network, stepdown,
    /// shutdown, stale routing, timeouts), as MongoDB's isResumableChangeStreamError lists them.
    static let resumable: Set<Int32> = [6, 7, 89, 91, 189, 262, 9001, 10107, 11600, 11602, 13435, 13436, 63, 150, 13388, 234, 133]

    static func labelled(_ error: FolioError) -> FolioError {
        guard error.labels.isEmpty else { return error }
        var e = error
        if e.code.categories.contains("NonResumableChangeStreamError") {
            e.labels = ["NonResumableChangeStreamError"]
        } else if resumable.contains(e.code.rawValue) {
            e.labels = ["ResumableChangeStreamError"]
        }
        return e
    }
}
