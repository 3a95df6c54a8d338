import FolioBSON
import FolioEngine
import FolioQuery

/// createIndexes, listIndexes, dropIndexes, and explain (delegating to the engine's planner).
enum IndexCommands {
    @Sendable static func createIndexes(_ r: CommandRequest) throws(FolioError) -> Document {
        let ns = try r.namespace()
        let specs = try r.documents("indexes")
        let result = try r.engine.createIndexes(ns, specs)
        var out: Document = ["numIndexesBefore": .int32(Int32(result.numIndexesBefore)),
                             "numIndexesAfter": .int32(Int32(result.numIndexesAfter))]
        if let note = result.note {
            out.append("note", .string(note))
        } else {
            out.append("commitQuorum", "votingMembers")
            out.append("createdCollectionAutomatically", .bool(result.createdCollectionAutomatically))
        }
        return out
    }

    @Sendable static func listIndexes(_ r: CommandRequest) throws(FolioError) -> Document {
        let ns = try r.namespace()
        let specs = try r.engine.indexSpecifications(ns)
        return FindCommand.firstBatch(specs.map(BSON.document), namespace: "\(r.database).$cmd.listIndexes.\(ns.collection)")
    }

    @Sendable static func dropIndexes(_ r: CommandRequest) throws(FolioError) -> Document {
        let ns = try r.namespace()
        guard let which = r.body["index"] else {
            throw FolioError(ErrorCode(rawValue: 40414), "BSON field 'dropIndexes.index' is missing but a required field")
        }
        let before = try r.engine.dropIndexes(ns, which)
        var out: Document = ["nIndexesWas": .int32(Int32(before))]
        if which.stringValue == "*" { out.append("msg", "non-_id indexes dropped for collection") }
        return out
    }

    /// explain of find, aggregate, count, distinct, update, delete and findAndModify.
    @Sendable static func explain(_ r: CommandRequest) throws(FolioError) -> Document {
        guard case .document(let inner) = r.argument else {
            throw FolioError(.typeMismatch, "explain command requires a nested object")
        }
        let verbosity = try ExplainVerbosity(parsing: r.body["verbosity"]?.stringValue ?? "allPlansExecution")
        guard let name = inner.fieldNames.first else { throw FolioError(.failedToParse, "explain command requires a nested object") }
        var body = inner
        if body["$db"] == nil { body.append("$db", .string(r.database)) }
        let sub = CommandRequest(name: name, body: body, database: r.database, connection: r.connection, context: r.context)
        let engine = r.engine
        var out: Document
        if case .string(let collection) = sub.argument, let view = try Views.resolve(try sub.namespace(.string(collection)), engine) {
            out = try Views.explain(view, try sub.namespace(.string(collection)), command: CommandDispatcher.canonicalName(name), sub,
                                    verbosity: verbosity)
        } else {
            switch name {
            case "find":
                out = try engine.explainFind(try sub.namespace(), try FindCommand.request(sub), verbosity: verbosity)
            case "aggregate":
                let collection: String? = sub.argument.stringValue
                try r.api.check(pipeline: sub.body["pipeline"]?.arrayValue ?? [])
                var request = AggregateRequest(pipeline: sub.body["pipeline"]?.arrayValue ?? [],
                                               allowDiskUse: sub.bool("allowDiskUse") ?? true, constants: try sub.letVariables())
                request.collation = try sub.document("collation")
                request.views = Views.resolver(engine, collation: request.collation)
                request.hint = WriteReply.hint(sub.body["hint"])
                out = try engine.explainAggregate(database: r.database, collection: collection, request, verbosity: verbosity)
            case "count":
                let (skip, limit) = try CountCommand.skipAndLimit(sub)
                out = try engine.explainCount(try sub.namespace(), filter: try sub.document("query") ?? Document(), skip: skip, limit: limit,
                                              hint: WriteReply.hint(sub.body["hint"]), collation: try sub.document("collation"),
                                              verbosity: verbosity)
            case "distinct":
                guard case .string(let key)? = sub.body["key"] else {
                    throw FolioError(ErrorCode(rawValue: 40414), "BSON field 'distinct.key' is missing but a required field")
                }
                out = try engine.explainDistinct(try sub.namespace(), key: key, filter: try sub.document("query") ?? Document(),
                                                 collation: try sub.document("collation"), verbosity: verbosity)
            case "update":
                guard let first = try UpdateCommand.statements(sub).first else { throw FolioError(.invalidLength, "Write batch sizes must be between 1 and 100000. Got 0 operations.") }
                out = try engine.explainUpdate(try sub.namespace(), first, verbosity: verbosity)
            case "delete":
                guard let first = try DeleteCommand.statements(sub).first else { throw FolioError(.invalidLength, "Write batch sizes must be between 1 and 100000. Got 0 operations.") }
                out = try engine.explainDelete(try sub.namespace(), first, verbosity: verbosity)
            case "findAndModify", "findandmodify":
                out = try engine.explainFindAndModify(try sub.namespace(), try FindAndModifyCommand.request(sub), verbosity: verbosity)
            default:
                throw FolioError(.commandNotSupported, "Explain for '\(name)' is not supported")
            }
        }
        var command = inner
        if command["$db"] == nil { command.append("$db", .string(r.database)) }
        out.append("command", .document(command))
        let host = r.context.advertisedAddress.split(separator: ":").first.map(String.init) ?? "localhost"
        out.append("serverInfo", ["host": .string(host), "port": .int32(Int32(r.context.configuration.port)),
                                  "version": "8.0.0", "gitVersion": "folio"])
        out.append("serverParameters", ["internalQueryFacetBufferSizeBytes": .int32(104_857_600),
                                         "internalQueryFacetMaxOutputDocSizeBytes": .int32(104_857_600),
                                         "internalLookupStageIntermediateDocumentMaxSizeBytes": .int32(104_857_600),
                                         "internalDocumentSourceGroupMaxMemoryBytes": .int32(104_857_600),
                                         "internalQueryMaxBlockingSortMemoryUsageBytes": .int32(104_857_600),
                                         "internalQueryProhibitBlockingMergeOnMongoS": .int32(0),
                                         "internalQueryMaxAddToSetBytes": .int32(104_857_600),
                                         "internalDocumentSourceSetWindowFieldsMaxMemoryBytes": .int32(104_857_600),
                                         "internalQueryFrameworkControl": "forceClassicEngine"])
        return out
    }
}
