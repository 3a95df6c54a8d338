import FolioBSON
import FolioQuery

/// An aggregate request (collection or database level).
public struct AggregateRequest: Sendable {
    public var pipeline: [BSON]
    public var allowDiskUse: Bool
    /// The command's `let` variables, already evaluated.
    public var constants: [String: BSON]
    public var maxTimeMilliseconds: Int?
    public var bypassDocumentValidation: Bool
    /// Answers stages about the host's own state (`$listLocalSessions`, `$currentOp`) that
    /// only the server knows; nil (the embedded API) makes them CommandNotSupported.
    public var hostStages: (@Sendable (String, Document) throws(FolioError) -> [Document])?
    /// The memory budget of a blocking stage (tests lower it to exercise spilling).
    var blockingStageMemoryBytes = Limits.blockingStageMemoryBytes
    /// The memory budget of `$sort` (MongoDB's internalQueryMaxBlockingSortMemoryUsageBytes).
    public var sortMemoryBytes = Limits.blockingStageMemoryBytes
    /// `collation`: how strings compare in every stage (nil: binary).
    public var collation: Document?
    /// Resolves a collection name the pipeline reads ($lookup, $graphLookup, $unionWith) that
    /// is a view: the collection its chain ends at and the pipeline to run on it first. Nil
    /// (the embedded API, which has no views yet) reads every name as a collection.
    public var views: (@Sendable (Namespace) throws(FolioError) -> (source: Namespace, pipeline: [BSON])?)?
    /// `hint`: the index (name or key pattern) the read of the source collection uses.
    public var hint: BSON?

    public init(pipeline: [BSON], allowDiskUse: Bool = true, constants: [String: BSON] = [:],
                maxTimeMilliseconds: Int? = nil, bypassDocumentValidation: Bool = false,
                hostStages: (@Sendable (String, Document) throws(FolioError) -> [Document])? = nil) {
        self.hostStages = hostStages
        self.pipeline = pipeline
        self.allowDiskUse = allowDiskUse
        self.constants = constants
        self.maxTimeMilliseconds = maxTimeMilliseconds
        self.bypassDocumentValidation = bypassDocumentValidation
    }
}

extension Engine {
    /// Runs an aggregation pipeline over `collection` (nil: a database-level pipeline that
    /// starts with `$documents`). The leading `$match` is answered by the find path; a
    /// pipeline ending in `$out`/`$merge` runs to completion here and returns an empty cursor.
    /// The number of documents when `pipeline` is exactly what drivers send for
    /// `countDocuments(filter)` (`[{$match: filter}, {$group: {_id: 1, n: {$sum: 1}}}]`),
    /// else nil: the kept record count for an empty filter, otherwise `count`, which reads
    /// only index entries where an index answers the filter.
    func countDocuments(database: String, collection: String, _ request: AggregateRequest) throws(FolioError) -> Int? {
        let pipeline = request.pipeline
        guard pipeline.count == 2, case .document(let match) = pipeline[0], match.count == 1,
              case .document(let filter)? = match["$match"],
              pipeline[1] == .document(["$group": ["_id": 1, "n": ["$sum": 1]]]) else { return nil }
        let ns = try Namespace(database: database, collection: collection)
        if filter.isEmpty { return try estimatedCount(ns) }
        guard request.constants.isEmpty, !Engine.mentionsNear(.document(filter)) else { return nil }
        return try count(ns, filter: filter, maxTimeMilliseconds: request.maxTimeMilliseconds, collation: request.collation)
    }

    public func aggregate(database: String, collection: String?, _ request: AggregateRequest) throws(FolioError) -> Cursor {
        if case .document(let first)? = request.pipeline.first, first.count == 1, case .document(let options)? = first["$changeStream"] {
            // A change stream (the server's aggregate command opens it the same way).
            let spec = try ChangeStreamSpec(parsing: options, database: database, collection: collection)
            return try watch(spec, pipeline: Array(request.pipeline.dropFirst()), constants: request.constants, collation: request.collation)
        }
        let collator = try Engine.collator(request.collation)
        let pipeline = try AggregationPipeline(parsing: request.pipeline, constants: request.constants, collator: collator)
        let deadline = request.maxTimeMilliseconds.flatMap { $0 > 0 ? ContinuousClock.now + .milliseconds($0) : nil }
        let environment = PipelineEnvironment(engine: self, database: database, now: Int64(ObjectID.currentSeconds()) * 1000,
                                              allowDiskUse: request.allowDiskUse, deadline: deadline,
                                              bypassDocumentValidation: request.bypassDocumentValidation,
                                              hostStages: request.hostStages,
                                              blockingStageMemoryBytes: request.blockingStageMemoryBytes,
                                              sortMemoryBytes: request.sortMemoryBytes, collator: collator, views: request.views)
        // A database-level pipeline has no collection; its cursor is named like MongoDB's
        // `db.$cmd.aggregate` by the server, and `_cmd.aggregate` here (a `$` is not a valid name).
        let ns = try Namespace(database: database, collection: collection ?? "_cmd.aggregate")
        if collection == nil {
            guard let first = pipeline.stages.first, first.isCollectionless else {
                let name = pipeline.stages.first?.name ?? "an empty pipeline"
                throw FolioError(.invalidNamespace, "{aggregate: 1} is not valid for '\(name)'; a collection is required.")
            }
        }
        if let collection, request.hint == nil, let n = try countDocuments(database: database, collection: collection, request) {
            // countDocuments: counted without the documents (see countDocuments).
            let out: [Document] = n == 0 ? [] : [["_id": 1, "n": Int32(exactly: n).map(BSON.int32) ?? .int64(Int64(n))]]
            return Cursor(namespace: ns, stream: ArrayStream(out), deadline: nil)
        }
        var stages = pipeline.stages[...]
        var writeStage: AggregationStage?
        if pipeline.writes { writeStage = stages.popLast() }
        // `{$meta: "textScore"}` reads the score a leading `$match` with `$text` attaches.
        let textScore = request.pipeline.contains(where: Expression.mentionsTextScore)
        if textScore {
            guard case .match(let m)? = pipeline.stages.first, m.containsText else {
                throw FolioError(ErrorCode(rawValue: 40218), "query requires text score metadata, but it is not available")
            }
        }
        let source: Source = if let collection { .collection(try environment.namespace(collection)) } else { .none }
        var stream = try build(stages, source: source, environment: environment, hint: request.hint, textScore: textScore)
        if textScore {
            // The score's hidden field never reaches the client or a written collection.
            stream = MapStream(stream) { d in
                var out = d
                out.removeValue(forKey: TextSearch.scoreField)
                return out
            }
        }

        if let writeStage {
            try runWrite(writeStage, input: stream, environment: environment, sourceDatabase: database)
            return Cursor(namespace: ns, stream: ArrayStream([]), deadline: nil)
        }
        return Cursor(namespace: ns, stream: stream, deadline: deadline)
    }

    enum Source {
        case none
        case collection(Namespace)
        case documents([Document])
        case stream(any DocumentStream)
    }

    /// Builds the stream chain for `stages` over `source` (a view's pipeline runs first on
    /// the collection it reads).
    /// `hint` applies to the read of a source collection.
    /// `textScore`: a leading `$match` with `$text` attaches each document's score (in the
    /// hidden field `{$meta: "textScore"}` reads); the caller takes it off at the end.
    func build(_ stages: ArraySlice<AggregationStage>, source: Source, environment env: PipelineEnvironment,
               hint: BSON? = nil, textScore: Bool = false) throws(FolioError) -> any DocumentStream {
        if case .collection(let ns) = source, let view = try env.view(ns) {
            let viewStages = try AggregationPipeline(parsing: view.pipeline, nested: .lookup, collator: env.collator).stages
            return try build((viewStages + stages)[...], source: .collection(view.source), environment: env, hint: hint)
        }
        var stages = stages
        var stream: any DocumentStream
        var vectorScores = false
        switch source {
        case .none:
            stream = ArrayStream([])
        case .documents(let docs):
            stream = ArrayStream(docs)
        case .stream(let s):
            stream = s
        case .collection(let ns) where stages.first?.isCollectionStats == true:
            guard case .system(let name, let spec)? = stages.first else { fatalError("unreachable") }
            stages = stages.dropFirst()
            stream = ArrayStream(try collectionStats(name, spec, ns))
        case .collection(let ns) where stages.first?.name == "$geoNear":
            guard case .geoNear(let spec)? = stages.first else { fatalError("unreachable") }
            stages = stages.dropFirst()
            // A `$limit` right after bounds the search (the stage stays to apply it).
            var limit = 0
            if case .limit(let n)? = stages.first { limit = Int(clamping: n) }
            stream = try geoNear(spec, ns, hint: hint, limit: limit, environment: env)
        case .collection(let ns) where stages.first?.name == "$vectorSearch":
            guard case .vectorSearch(let spec)? = stages.first else { fatalError("unreachable") }
            stages = stages.dropFirst()
            var limit: Int?
            if case .limit(let n)? = stages.first { limit = Int(clamping: n) }
            stream = ArrayStream(try vectorSearch(spec, ns, limitHint: limit))
            vectorScores = true
        case .collection(let ns):
            let q = sourceQuery(&stages, ns)
            let cursor = try find(ns, filter: q.filter, sort: q.sort, sortPattern: q.sort?.pattern, limit: q.limit, hint: hint,
                                  allowDiskUse: env.allowDiskUse, deadline: env.deadline, sortMemoryLimitBytes: env.sortMemoryBytes,
                                  textScore: textScore)
            var fields = AggregationPipeline(stages: Array(stages)).inputDependencies
            if textScore { fields?.insert(TextSearch.scoreField) }
            stream = CursorStream(cursor, fields: fields)
        }
        var i = stages.startIndex
        while i < stages.endIndex {
            let stage = stages[i]
            i += 1
            stream = try attach(stage, to: stream, next: i < stages.endIndex ? stages[i] : nil, skipNext: &i, environment: env)
        }
        if vectorScores {
            // The score's hidden field ends with this pipeline (a $unionWith or $lookup
            // sub-pipeline's too): it never reaches the client, another pipeline or a write.
            stream = MapStream(stream) { d in
                guard d[VectorSearchSpec.scoreField] != nil else { return d }
                var out = d
                out.removeValue(forKey: VectorSearchSpec.scoreField)
                return out
            }
        }
        return stream
    }

    /// The query a pipeline's collection source runs: the leading `$match` stages become the
    /// filter, and a following `$sort` (with its `$limit`) joins when an index can provide
    /// its order (otherwise it stays a top-k SortStream). Consumed stages are removed.
    func sourceQuery(_ stages: inout ArraySlice<AggregationStage>, _ ns: Namespace) -> (filter: Filter, sort: SortSpec?, limit: Int, consumed: Int) {
        var filter: MatchExpression?
        var consumed = 0
        while case .match(let m)? = stages.first {
            filter = filter.map { .and([$0, m]) } ?? m
            stages = stages.dropFirst()
            consumed += 1
        }
        let f = Filter(filter ?? .and([]))
        if case .sort(let spec, let limit)? = stages.first, indexCanProvideSort(ns, f, spec) {
            stages = stages.dropFirst()
            return (f, spec, limit.map { Int(clamping: $0) } ?? 0, consumed + 1)
        }
        return (f, nil, 0, consumed)
    }

    /// Adds one stage after `input`. `$sort` followed by `$limit` consumes the `$limit` (top-k).
    func attach(_ stage: AggregationStage, to input: any DocumentStream, next: AggregationStage?, skipNext i: inout Int,
                environment env: PipelineEnvironment) throws(FolioError) -> any DocumentStream {
        switch stage {
        case .geoNear:
            throw FolioError(ErrorCode(rawValue: 40602), "$geoNear is only valid as the first stage in a pipeline")
        case .vectorSearch:
            throw FolioError(ErrorCode(rawValue: 40602), "$vectorSearch is only valid as the first stage in a pipeline")
        case .match(let m):
            let filter = Filter(m)
            return MapStream(input) { d in filter.matches(d) ? d : nil }
        case .project(let projection):
            return MapStream(input) { d throws(FolioError) in try projection.apply(to: d) }
        case .addFields(let fields):
            return MapStream(input) { d throws(FolioError) in try fields.apply(to: d, context: env.context(d)) }
        case .unset(let paths):
            return MapStream(input) { d in
                var out = d
                for p in paths { out = DocumentPaths.removing(p.components[...], from: out) }
                return out
            }
        case .replaceRoot(let e, let name):
            return MapStream(input) { d throws(FolioError) in
                let v = try e.evaluate(env.context(d))
                guard case .document(let root)? = v else {
                    let shown = v.map { "\($0)" } ?? "MISSING"
                    if name == "$replaceWith" {
                        throw FolioError(ErrorCode(rawValue: 40228), "'replacement document' must evaluate to an object, but resulting value was: \(shown). Type of resulting value: '\(v?.type.alias ?? "missing")'. Input document: \(d)")
                    }
                    throw FolioError(ErrorCode(rawValue: 40228), "'newRoot' expression  must evaluate to an object, but resulting value was: \(shown). Type of resulting value: '\(v?.type.alias ?? "missing")'. Input document: \(d)")
                }
                return root
            }
        case .redact(let e):
            return MapStream(input) { d throws(FolioError) in try Engine.redact(d, root: d, e, env) }
        case .limit(let n):
            return LimitStream(input, n)
        case .skip(let n):
            return SkipStream(input, n)
        case .sort(let spec, _):
            var limit: Int64?
            if case .limit(let n)? = next {
                limit = n
                i += 1
            }
            return SortStream(input, spec: spec, limit: limit, environment: env)
        case .group(let spec):
            return GroupStream(input, spec, env)
        case .bucketAuto(let spec):
            return SortedStageStream.bucketAuto(input, spec, env)
        case .unwind(let spec):
            return FlatMapStream(input) { d in spec.apply(d) }
        case .densify(let spec):
            return SortedStageStream.densify(input, spec, env)
        case .setWindowFields(let spec):
            return SortedStageStream.windowFields(input, spec, env)
        case .sample(let n):
            return BlockingStream { () throws(FolioError) in
                var reservoir: [Document] = []
                var seen = 0
                var g = SystemRandomNumberGenerator()
                while let d = try input.next() {
                    seen += 1
                    if reservoir.count < n {
                        reservoir.append(d)
                    } else {
                        let j = Int.random(in: 0..<seen, using: &g)
                        if j < n { reservoir[j] = d }
                    }
                }
                reservoir.shuffle(using: &g)
                return reservoir
            }
        case .facet(let facets):
            return BlockingStream { () throws(FolioError) in
                let all = try FacetInput(input, env)
                var out = Document()
                for (name, pipeline) in facets {
                    let s = try self.build(pipeline.stages[...], source: try all.source(), environment: env)
                    var results: [BSON] = []
                    while let d = try s.next() { results.append(.document(d)) }
                    out.append(name, .array(results))
                }
                if out.bsonBytes().count > Limits.maximumDocumentSizeBytes {
                    throw FolioError(.bsonObjectTooLarge, "document constructed by $facet is \(out.bsonBytes().count) bytes, which exceeds the limit of \(Limits.maximumDocumentSizeBytes) bytes")
                }
                return [out]
            }
        case .lookup(let spec):
            let join = try LookupJoin(spec: spec, engine: self, environment: env)
            return MapStream(input) { d throws(FolioError) in try join.apply(d) }
        case .graphLookup(let spec):
            let search = try GraphSearch(spec: spec, engine: self, environment: env)
            return MapStream(input) { d throws(FolioError) in try search.apply(d) }
        case .unionWith(let collection, let pipeline):
            let parsed = try AggregationPipeline(parsing: pipeline, constants: [:], nested: .unionWith, collator: env.collator)
            var other: (any DocumentStream)?
            let engine = self
            return UnionStream(input) { () throws(FolioError) in
                if other == nil {
                    let source: Source = if let collection { .collection(try env.namespace(collection)) } else { .none }
                    other = try engine.build(parsed.stages[...], source: source, environment: env)
                }
                return try other!.next()
            }
        case .documents(let e):
            return BlockingStream { () throws(FolioError) in
                // $documents replaces its (empty) input.
                while try input.next() != nil {}
                let v = try e.evaluate(env.context(Document()))
                guard case .array(let elements)? = v else {
                    throw FolioError(ErrorCode(rawValue: 5858203), "an array is expected")
                }
                var out: [Document] = []
                for element in elements {
                    guard case .document(let d) = element else {
                        throw FolioError(ErrorCode(rawValue: 5858203), "an array of documents is expected")
                    }
                    out.append(d)
                }
                return out
            }
        case .system(let name, let spec):
            return try systemStage(name, spec, environment: env)
        case .out, .merge:
            throw FolioError(ErrorCode(rawValue: 40601), "\(stage.name) can only be the final stage in the pipeline")
        }
    }

    static let redactVariables: [String: BSON] = ["DESCEND": .string("descend"), "PRUNE": .string("prune"), "KEEP": .string("keep")]

    static func redact(_ d: Document, root: Document, _ e: Expression, _ env: PipelineEnvironment) throws(FolioError) -> Document? {
        OperationInterrupt.beginDocument()
        var context = EvaluationContext(root: root, variables: redactVariables, now: env.now)
        context.current = .document(d)
        let verdict = try e.evaluate(context)
        switch verdict {
        case .string("keep")?: return d
        case .string("prune")?: return nil
        case .string("descend")?:
            var out = Document()
            for (k, v) in d {
                if let r = try redactValue(v, root: root, e, env) { out.append(k, r) }
            }
            return out
        default:
            throw FolioError(ErrorCode(rawValue: 17053), "$redact's expression should not return anything aside from the variables $$KEEP, $$DESCEND, and $$PRUNE, but returned \(verdict.map { "\($0)" } ?? "MISSING")")
        }
    }

    static func redactValue(_ v: BSON, root: Document, _ e: Expression, _ env: PipelineEnvironment) throws(FolioError) -> BSON? {
        switch v {
        case .document(let sub): return try redact(sub, root: root, e, env).map(BSON.document)
        case .array(let elements):
            var out: [BSON] = []
            for x in elements {
                if let r = try redactValue(x, root: root, e, env) { out.append(r) }
            }
            return .array(out)
        default: return v
        }
    }

    /// `$indexStats` (one document per index, with the times the planner chose it) and
    /// `$collStats` (`count`, `storageStats`), answered for the pipeline's collection.
    func collectionStats(_ name: String, _ spec: Document, _ ns: Namespace) throws(FolioError) -> [Document] {
        if name == "$listSearchIndexes" {
            return listSearchIndexes(ns, id: spec["id"]?.stringValue, name: spec["name"]?.stringValue)
        }
        let host = hostLabel.withLock { $0 }
        guard let entry = entry(ns) else {
            if name == "$indexStats" { return [] }
            throw FolioError(.namespaceNotFound, "Unable to retrieve storageStats in $collStats stage :: caused by :: Collection [\(ns)] not found.")
        }
        if name == "$indexStats" {
            if !spec.isEmpty { throw FolioError(.failedToParse, "$indexStats takes an empty object as an argument") }
            let specs: [(String, Document)] = [("_id_", Engine.idIndexSpecification)] + entry.indexes.filter { !$0.building }.map { ($0.name, $0.specification) }
            return specs.map { name, s in
                let count = indexAccesses.get(ns, name)
                return ["name": .string(name), "key": s["key"] ?? [:], "host": .string(host),
                        "accesses": ["ops": .int64(count?.ops ?? 0), "since": .datetime(count?.since ?? Int64(ObjectID.currentSeconds()) * 1000)],
                        "spec": .document(s)]
            }
        }
        var out: Document = ["ns": .string(ns.description), "host": .string(host), "localTime": .datetime(Int64(ObjectID.currentSeconds()) * 1000)]
        for (k, v) in spec {
            switch k {
            case "count":
                out.append("count", .int64(Int64(try estimatedCount(ns))))
            case "storageStats":
                var scale = 1
                if case .document(let options) = v, let s = options["scale"], s.type != .null {
                    guard let n = s.safeInt64 else {
                        throw FolioError(.typeMismatch, "BSON field '$collStats.storageStats.scale' is the wrong type '\(s.type.alias)', expected types '[long, int, decimal, double]'")
                    }
                    guard n >= 1 else { throw FolioError(ErrorCode(rawValue: 51024), "BSON field 'scale' value must be >= 1, actual value '\(n)'") }
                    scale = Int(n)
                }
                out.append("storageStats", .document(try storageStatistics(ns, scale: scale)))
            case "latencyStats":
                let histograms = v.documentValue?["histograms"]?.isTruthy == true
                out.append("latencyStats", .document(latencyStatistics.document(ns, histograms: histograms)))
            case "queryExecStats":
                let scans = queryStatistics.collectionScans(ns)
                out.append("queryExecStats", ["collectionScans": ["total": .int64(scans.total), "nonTailable": .int64(scans.nonTailable)]])
            default:
                throw FolioError(.commandNotSupported, "$collStats '\(k)' is not supported by Folio yet (\(v.type.alias))")
            }
        }
        return [out]
    }

    func systemStage(_ name: String, _ spec: Document, environment env: PipelineEnvironment) throws(FolioError) -> any DocumentStream {
        if name == "$indexStats" || name == "$collStats" {
            throw FolioError(ErrorCode(rawValue: 40602), "\(name) is only valid as the first stage in a pipeline")
        }
        guard let host = env.hostStages else {
            throw FolioError(.commandNotSupported, "\(name) is only available through the server")
        }
        return ArrayStream(try host(name, spec))
    }
}

/// Emits its input, then another stream (`$unionWith`).
final class UnionStream: DocumentStream {
    let input: any DocumentStream
    let other: () throws(FolioError) -> Document?
    var inputDone = false
    init(_ input: any DocumentStream, _ other: @escaping () throws(FolioError) -> Document?) {
        self.input = input
        self.other = other
    }
    func next() throws(FolioError) -> Document? {
        if !inputDone {
            if let d = try input.next() { return d }
            inputDone = true
        }
        return try other()
    }
}

extension AggregationStage {
    /// Stages that can start a database-level pipeline.
    var isCollectionless: Bool {
        switch self {
        case .documents: return true
        case .system(let name, _): return ["$currentOp", "$listLocalSessions"].contains(name)
        default: return false
        }
    }

    /// `$indexStats` and `$collStats`: answered from the collection's catalog entry.
    var isCollectionStats: Bool {
        if case .system(let name, _) = self { return ["$indexStats", "$collStats", "$listSearchIndexes"].contains(name) }
        return false
    }
}

