import FolioBSON
import FolioEngine
import FolioQuery

// Views, as MongoDB keeps them: each database's definitions are documents of its
// `system.views` collection, `{_id: "<db>.<view>", viewOn: "<name>", pipeline: [...],
// collation?}`, so they are stored, committed, read in transactions and survive restarts as
// any document does.
//
// A read of a view runs as an aggregation on the collection the chain of views ends at, with
// the views' pipelines in front (innermost first): find, aggregate, count, distinct and
// their explain (nested views too). Pipelines that read other collections ($lookup,
// $graphLookup, $unionWith) reach views through `resolver`, which the engine asks. Writes,
// indexes and other commands that need a collection answer CommandNotSupportedOnView (166).
//
// Costs: a command on a collection, or on a database without views, reads the in-memory
// catalog only; a name that is neither reads `system.views` once, a view once per view in
// its chain.

/// A view's stored definition.
struct ViewDefinition: Equatable {
    var viewOn: String
    var pipeline: [BSON]
    var collation: Document?

    var document: Document {
        var d: Document = ["viewOn": .string(viewOn), "pipeline": .array(pipeline)]
        if let collation { d.append("collation", .document(collation)) }
        return d
    }
}

/// What a read of a view runs: an aggregation on `source` starting with `pipeline`.
struct ResolvedView {
    let source: Namespace
    let pipeline: [BSON]
    let collation: Document?
}

package enum Views {
    /// Views a chain may pass through (MongoDB's limit).
    static let maximumDepth = 20

    /// Commands that need a collection and answer 166 for a view.
    static let collectionCommands: Set<String> = ["insert", "update", "delete", "findAndModify", "createIndexes", "dropIndexes",
                                                  "listIndexes", "validate", "collStats", "convertToCapped", "cloneCollectionAsCapped"]

    static func catalog(_ database: String) throws(FolioError) -> Namespace {
        try Namespace(database: database, collection: Engine.viewsCollection)
    }

    /// The definition of view `ns` (nil when `ns` is not a view). A collection's name is never
    /// a view's (create and the engine's implicit creation refuse it), so commands on
    /// collections read the catalog only, not `system.views`.
    static func definition(_ ns: Namespace, _ engine: Engine) throws(FolioError) -> ViewDefinition? {
        guard !engine.collectionExists(ns) else { return nil }
        let views = try catalog(ns.database)
        guard ns.collection != Engine.viewsCollection, engine.collectionExists(views) else { return nil }
        let found = try engine.find(views, FindRequest(filter: ["_id": .string(ns.description)], limit: 1)).all()
        guard let stored = found.first?.document() else { return nil }
        guard case .string(let viewOn)? = stored["viewOn"], case .array(let pipeline)? = stored["pipeline"] else {
            throw FolioError(.internalError, "corrupt view definition for \(ns): \(stored)")
        }
        return ViewDefinition(viewOn: viewOn, pipeline: pipeline, collation: stored["collation"]?.documentValue)
    }

    /// What a read of `ns` runs when `ns` is a view (nil for a collection or nothing). The
    /// chain's pipelines are joined innermost first; a chain longer than `maximumDepth` is
    /// ViewDepthLimitExceeded (165).
    static func resolve(_ ns: Namespace, _ engine: Engine) throws(FolioError) -> ResolvedView? {
        guard var view = try definition(ns, engine) else { return nil }
        let collation = view.collation
        var pipeline: [BSON] = []
        for _ in 0..<maximumDepth {
            pipeline = view.pipeline + pipeline
            let current = try Namespace(database: ns.database, collection: view.viewOn)
            guard let next = try definition(current, engine) else {
                return ResolvedView(source: current, pipeline: pipeline, collation: collation)
            }
            view = next
        }
        throw FolioError(.viewDepthLimitExceeded, "View depth too deep or view cycle detected. Maximum depth is \(maximumDepth)")
    }

    /// 166 when `command` needs a collection and names a view.
    static func refuse(_ r: CommandRequest, command: String) throws(FolioError) {
        guard collectionCommands.contains(command), case .string(let name) = r.argument else { return }
        let ns = try r.namespace(.string(name))
        if try definition(ns, r.engine) != nil { throw notACollection(ns) }
    }

    /// The resolver the engine asks for the collections a pipeline reads ($lookup,
    /// $graphLookup, $unionWith): views become their source and pipeline. As in MongoDB, a
    /// view is read only under its own collation: one that differs from the operation's
    /// `collation` (nil or simple: the simple collation) answers 167.
    static func resolver(_ engine: Engine, collation: Document?) -> @Sendable (Namespace) throws(FolioError) -> (source: Namespace, pipeline: [BSON])? {
        let operation = try? normalized(collation)
        return { ns throws(FolioError) in
            guard let view = try resolve(ns, engine) else { return nil }
            if view.collation != operation {
                throw FolioError(.optionNotSupportedOnView, "Cannot override a view's default collation")
            }
            return (view.source, view.pipeline)
        }
    }

    /// A collation specification with every field filled in (nil: the simple collation), so
    /// two that mean the same compare equal.
    static func normalized(_ collation: Document?) throws(FolioError) -> Document? {
        try Engine.collator(collation)?.specification
    }

    static func notACollection(_ ns: Namespace) -> FolioError {
        FolioError(.commandNotSupportedOnView, "Namespace \(ns) is a view, not a collection")
    }

    /// The collation a read of `view` uses: the view's (nil: simple); a different one is
    /// refused (167).
    static func collation(_ view: ResolvedView, requested: Document?) throws(FolioError) -> Document? {
        guard let requested else { return view.collation }
        if try normalized(requested) != view.collation {
            throw FolioError(.optionNotSupportedOnView, "Cannot override a view's default collation")
        }
        return view.collation
    }

    /// The aggregation a read of `view` runs: `pipeline` after the view's, on its source, with
    /// the command's options (a `hint` names an index of the source collection, as in
    /// MongoDB) under the view's collation.
    static func request(_ view: ResolvedView, _ pipeline: [BSON], _ r: CommandRequest) throws(FolioError) -> AggregateRequest {
        // API parameters are the command's, applied to the view's stages too.
        try r.api.check(pipeline: view.pipeline)
        var request = try AggregateCommand.request(r, pipeline: view.pipeline + pipeline)
        request.collation = try Views.collation(view, requested: request.collation)
        request.views = Views.resolver(r.engine, collation: request.collation)
        return request
    }

    /// Runs `pipeline` after the view's on its source collection.
    static func aggregate(_ view: ResolvedView, _ pipeline: [BSON], _ r: CommandRequest) throws(FolioError) -> Cursor {
        try r.engine.aggregate(database: view.source.database, collection: view.source.collection, try request(view, pipeline, r))
    }

    /// A find on a view as stages after the view's: filter, sort, skip, limit, projection.
    static func findStages(_ ns: Namespace, _ r: CommandRequest) throws(FolioError) -> [BSON] {
        for option in ["min", "max", "returnKey", "showRecordId", "tailable", "awaitData", "allowPartialResults"] where r.bool(option) == true {
            throw FolioError(.invalidPipelineOperator, "Option \(option) not supported in aggregation (find on view \(ns))")
        }
        return findStages(try FindCommand.request(r))
    }

    /// A find's filter, sort, skip, limit and projection as stages.
    static func findStages(_ request: FindRequest) -> [BSON] {
        var stages: [BSON] = []
        if !request.filter.isEmpty { stages.append(["$match": .document(request.filter)]) }
        if let sort = request.sort, !sort.isEmpty { stages.append(["$sort": .document(sort)]) }
        if request.skip > 0 { stages.append(["$skip": .int64(Int64(request.skip))]) }
        if request.limit > 0 { stages.append(["$limit": .int64(Int64(request.limit))]) }
        if let projection = request.projection, !projection.isEmpty { stages.append(["$project": .document(projection)]) }
        return stages
    }

    /// A count on a view as stages after the view's.
    static func countStages(_ r: CommandRequest) throws(FolioError) -> [BSON] {
        let (skip, limit) = try CountCommand.skipAndLimit(r)
        return countStages(filter: try r.document("query") ?? [:], skip: skip, limit: limit < .max ? limit : 0)
    }

    /// A count's filter, skip and limit (0: none) as stages ending in `{$count: "n"}`.
    static func countStages(filter: Document, skip: Int, limit: Int) -> [BSON] {
        var stages: [BSON] = []
        if !filter.isEmpty { stages.append(["$match": .document(filter)]) }
        if skip > 0 { stages.append(["$skip": .int64(Int64(skip))]) }
        if limit > 0 { stages.append(["$limit": .int64(Int64(limit))]) }
        stages.append(["$count": "n"])
        return stages
    }

    /// A distinct on a view as stages after the view's (arrays count as their elements).
    static func distinctStages(key: String, _ r: CommandRequest) throws(FolioError) -> [BSON] {
        distinctStages(key: key, filter: try r.document("query") ?? [:])
    }

    static func distinctStages(key: String, filter: Document) -> [BSON] {
        var stages: [BSON] = []
        if !filter.isEmpty { stages.append(["$match": .document(filter)]) }
        stages.append(["$unwind": ["path": .string("$" + key), "preserveNullAndEmptyArrays": true]])
        stages.append(["$group": ["_id": .null, "values": ["$addToSet": .string("$" + key)]]])
        return stages
    }

    /// find on a view; the cursor reports the view's namespace.
    static func find(_ view: ResolvedView, _ ns: Namespace, _ r: CommandRequest) throws(FolioError) -> Document {
        let stages = try findStages(ns, r)
        let batchSize = try FindCommand.batchSize(r)
        let cursor = try aggregate(view, stages, r)
        return try FindCommand.open(cursor, namespace: ns.description, batchSize: batchSize, singleBatch: r.bool("singleBatch") == true, r)
    }

    /// count on a view.
    static func count(_ view: ResolvedView, _ r: CommandRequest) throws(FolioError) -> Document {
        let result = try aggregate(view, try countStages(r), r).all()
        let n = result.first?.document()["n"]?.exactInt64 ?? 0
        return ["n": .int32(Int32(clamping: n))]
    }

    /// distinct on a view.
    static func distinct(_ view: ResolvedView, key: String, _ r: CommandRequest) throws(FolioError) -> Document {
        let result = try aggregate(view, try distinctStages(key: key, r), r).all()
        return ["values": result.first?.document()["values"] ?? .array([])]
    }

    /// explain of a read of a view: the aggregation it runs, explained (MongoDB explains a
    /// view the same way); writes answer 166.
    static func explain(_ view: ResolvedView, _ ns: Namespace, command: String, _ sub: CommandRequest,
                        verbosity: ExplainVerbosity) throws(FolioError) -> Document {
        let stages: [BSON]
        switch command {
        case "find": stages = try findStages(ns, sub)
        case "aggregate": stages = sub.body["pipeline"]?.arrayValue ?? []
        case "count": stages = try countStages(sub)
        case "distinct":
            guard case .string(let key)? = sub.body["key"] else {
                throw FolioError(ErrorCode(rawValue: 40414), "BSON field 'distinct.key' is missing but a required field")
            }
            stages = try distinctStages(key: key, sub)
        default:
            throw notACollection(ns)
        }
        return try sub.engine.explainAggregate(database: view.source.database, collection: view.source.collection,
                                               try request(view, stages, sub), verbosity: verbosity)
    }

    /// create with `viewOn`: checks the definition and stores it (48 when the name is taken,
    /// 5 for a cycle, 167 for stages a view may not hold).
    static func create(_ ns: Namespace, options: Document, _ r: CommandRequest) throws(FolioError) -> Document {
        if r.transaction != nil {
            throw FolioError(.operationNotSupportedInTransaction, "Cannot create a view in a multi-document transaction.")
        }
        let definition = try parse(options, command: "create")
        try r.api.check(pipeline: definition.pipeline)
        let existing = try Views.definition(ns, r.engine)
        if r.engine.collectionExists(ns) || existing != nil {
            throw FolioError(.namespaceExists, "Namespace \(ns) already exists")
        }
        try checkChain(ns, definition, r.engine)
        var stored: Document = ["_id": .string(ns.description)]
        for (k, v) in definition.document { stored.append(k, v) }
        let result = try r.engine.insert(try catalog(ns.database), [stored], options: WriteOptions(durable: try r.durable()))
        if let error = result.writeErrors.first?.error { throw error }
        return [:]
    }

    /// collMod on a view: a new `viewOn` and `pipeline` (both, as MongoDB requires).
    static func modify(_ ns: Namespace, _ r: CommandRequest) throws(FolioError) -> Document {
        var options = Document()
        for (k, v) in r.body where k != "collMod" && !CommandRequest.genericFields.contains(k) {
            guard k == "viewOn" || k == "pipeline" else {
                throw FolioError(.invalidOptions, "option not supported on a view: \(k)")
            }
            options.append(k, v)
        }
        guard options["viewOn"] != nil, options["pipeline"] != nil else {
            throw FolioError(.invalidOptions, "must specify both 'viewOn' and 'pipeline' when modifying a view")
        }
        var definition = try parse(options, command: "collMod")
        definition.collation = try Views.definition(ns, r.engine)?.collation
        try checkChain(ns, definition, r.engine)
        var replacement: Document = ["_id": .string(ns.description)]
        for (k, v) in definition.document { replacement.append(k, v) }
        _ = try r.engine.update(try catalog(ns.database), [UpdateStatement(filter: ["_id": .string(ns.description)], update: .document(replacement))],
                                options: WriteOptions(durable: try r.durable()))
        return [:]
    }

    /// drop of a view: removes its definition.
    static func drop(_ ns: Namespace, _ r: CommandRequest) throws(FolioError) -> Document {
        _ = try r.engine.delete(try catalog(ns.database), [DeleteStatement(filter: ["_id": .string(ns.description)], limitOne: true)],
                                options: WriteOptions(durable: try r.durable()))
        return ["ns": .string(ns.description)]
    }

    /// The views of `database` as listCollections lists them.
    static func list(_ database: String, _ engine: Engine) throws(FolioError) -> [(name: String, entry: Document)] {
        let views = try catalog(database)
        guard engine.collectionExists(views) else { return [] }
        let prefix = database + "."
        return try engine.find(views, FindRequest(sort: ["_id": 1])).all().compactMap { raw -> (String, Document)? in
            let d = raw.document()
            guard case .string(let id)? = d["_id"], id.hasPrefix(prefix), case .string(let viewOn)? = d["viewOn"],
                  case .array(let pipeline)? = d["pipeline"] else { return nil }
            let name = String(id.dropFirst(prefix.count))
            var options: Document = ["viewOn": .string(viewOn), "pipeline": .array(pipeline)]
            if let collation = d["collation"] { options.append("collation", collation) }
            return (name, ["name": .string(name), "type": "view", "options": .document(options), "info": ["readOnly": true]])
        }
    }

    /// A definition from create's or collMod's options, with MongoDB's errors.
    static func parse(_ options: Document, command: String) throws(FolioError) -> ViewDefinition {
        var definition = ViewDefinition(viewOn: "", pipeline: [], collation: nil)
        for (k, v) in options {
            switch k {
            case "viewOn":
                guard case .string(let s) = v else {
                    throw FolioError(.typeMismatch, "BSON field '\(command).viewOn' is the wrong type '\(v.type.alias)', expected type 'string'")
                }
                guard !s.isEmpty else { throw FolioError(.badValue, "'viewOn' cannot be empty") }
                definition.viewOn = s
            case "pipeline":
                guard case .array(let stages) = v else {
                    throw FolioError(.typeMismatch, "BSON field '\(command).pipeline' is the wrong type '\(v.type.alias)', expected type 'array'")
                }
                for stage in stages {
                    guard case .document(let d) = stage, d.count == 1, let name = d.fieldNames.first else {
                        throw FolioError(.typeMismatch, "Each element of the 'pipeline' array must be an object")
                    }
                    if ["$out", "$merge", "$changeStream"].contains(name) {
                        throw FolioError(.optionNotSupportedOnView, "\(name) cannot be used in a view definition")
                    }
                }
                definition.pipeline = stages
            case "collation":
                guard case .document(let c) = v else {
                    throw FolioError(.typeMismatch, "BSON field '\(command).collation' is the wrong type '\(v.type.alias)', expected type 'object'")
                }
                // Stored as MongoDB stores it: every field of the specification.
                definition.collation = try Views.normalized(c)
            default:
                throw FolioError(.invalidOptions, "option not supported on a view: \(k)")
            }
        }
        return definition
    }

    /// GraphContainsCycle (5) when `definition` would make `ns` reach itself; 165 past the depth.
    static func checkChain(_ ns: Namespace, _ definition: ViewDefinition, _ engine: Engine) throws(FolioError) {
        var seen: [String] = [ns.collection]
        var next = definition.viewOn
        for _ in 0..<maximumDepth {
            if seen.contains(next) {
                throw FolioError(.graphContainsCycle, "View cycle detected: \((seen + [next]).map { "\(ns.database).\($0)" }.joined(separator: " => "))")
            }
            seen.append(next)
            guard let view = try Views.definition(try Namespace(database: ns.database, collection: next), engine) else { return }
            // A view reads another view only under that view's collation.
            if view.collation != definition.collation {
                throw FolioError(.optionNotSupportedOnView, "View \(ns) has a different default collation than the view \(ns.database).\(next) it depends on")
            }
            next = view.viewOn
        }
        throw FolioError(.viewDepthLimitExceeded, "View depth too deep or view cycle detected. Maximum depth is \(maximumDepth)")
    }
}

/// Reads of views for callers that have no command (the embedded library): the same
/// resolution as the commands', from typed requests.
extension Views {
    /// A find of `ns`: on a view, the aggregation the find command runs on it (the view's
    /// collation; another one is 167); on a collection, the engine's find.
    package static func find(_ ns: Namespace, _ request: FindRequest, _ engine: Engine) throws(FolioError) -> Cursor {
        guard let view = try resolve(ns, engine) else { return try engine.find(ns, request) }
        var aggregate = AggregateRequest(pipeline: view.pipeline + findStages(request), constants: request.constants)
        aggregate.allowDiskUse = request.allowDiskUse
        aggregate.maxTimeMilliseconds = request.maxTimeMilliseconds
        aggregate.hint = request.hint
        aggregate.collation = try collation(view, requested: request.collation)
        aggregate.views = resolver(engine, collation: aggregate.collation)
        return try engine.aggregate(database: view.source.database, collection: view.source.collection, aggregate)
    }

    /// An aggregation on `collection` of `database` (nil: a database-level pipeline), reading
    /// views (the collection itself, `$lookup`, `$graphLookup`, `$unionWith`) as the
    /// aggregate command does.
    package static func aggregate(database: String, collection: String?, _ request: AggregateRequest,
                                  _ engine: Engine) throws(FolioError) -> Cursor {
        var request = request
        if let collection, let view = try resolve(try Namespace(database: database, collection: collection), engine) {
            request.pipeline = view.pipeline + request.pipeline
            request.collation = try Views.collation(view, requested: request.collation)
            request.views = resolver(engine, collation: request.collation)
            return try engine.aggregate(database: view.source.database, collection: view.source.collection, request)
        }
        request.views = resolver(engine, collation: request.collation)
        return try engine.aggregate(database: database, collection: collection, request)
    }

    /// Matching documents of `ns` after `skip`, at most `limit` (0: no limit); a view's
    /// through its pipeline.
    package static func count(_ ns: Namespace, filter: Document, skip: Int, limit: Int, _ engine: Engine) throws(FolioError) -> Int {
        guard try definition(ns, engine) != nil else { return try engine.count(ns, filter: filter, skip: skip, limit: limit) }
        let stages = countStages(filter: filter, skip: skip, limit: limit)
        let result = try aggregate(database: ns.database, collection: ns.collection, AggregateRequest(pipeline: stages), engine).all()
        return Int(result.first?.document()["n"]?.exactInt64 ?? 0)
    }

    /// The number of documents of `ns`: a collection's from its metadata, a view's counted
    /// through its pipeline (as MongoDB's `count` on a view).
    package static func estimatedCount(_ ns: Namespace, _ engine: Engine) throws(FolioError) -> Int {
        guard try definition(ns, engine) != nil else { return try engine.estimatedCount(ns) }
        return try count(ns, filter: [:], skip: 0, limit: 0, engine)
    }

    /// Distinct values of `key` among matching documents of `ns`; a view's through its pipeline.
    package static func distinct(_ ns: Namespace, key: String, filter: Document, _ engine: Engine) throws(FolioError) -> [BSON] {
        guard try definition(ns, engine) != nil else { return try engine.distinct(ns, key: key, filter: filter) }
        let stages = distinctStages(key: key, filter: filter)
        let result = try aggregate(database: ns.database, collection: ns.collection, AggregateRequest(pipeline: stages), engine).all()
        return result.first?.document()["values"]?.arrayValue ?? []
    }

    /// Drops the view `ns` (removes its definition); false when `ns` is not a view.
    package static func drop(_ ns: Namespace, durable: Bool, _ engine: Engine) throws(FolioError) -> Bool {
        guard try definition(ns, engine) != nil else { return false }
        _ = try engine.delete(try catalog(ns.database), [DeleteStatement(filter: ["_id": .string(ns.description)], limitOne: true)],
                              options: WriteOptions(durable: durable))
        return true
    }

    /// 166 CommandNotSupportedOnView when `ns` is a view (writes and index operations).
    package static func requireCollection(_ ns: Namespace, _ engine: Engine) throws(FolioError) {
        if try definition(ns, engine) != nil { throw notACollection(ns) }
    }

    /// The names of `database`'s views, sorted.
    package static func names(_ database: String, _ engine: Engine) throws(FolioError) -> [String] {
        try list(database, engine).map(\.name)
    }
}
