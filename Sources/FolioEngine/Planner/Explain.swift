import FolioBSON
import FolioQuery
import FolioStorage

// explain: the plan the planner chooses, in MongoDB's shape (queryPlanner with winningPlan
// and rejectedPlans; executionStats with true per-stage counts; allPlansExecution with the
// trial counts of every candidate). Explain plans afresh (never from the plan cache) and
// never writes: explained updates and deletes report what they would do.

/// How much explain runs.
public enum ExplainVerbosity: String, Sendable {
    case queryPlanner, executionStats, allPlansExecution

    /// - Throws: 2 BadValue for an unknown verbosity.
    public init(parsing s: String) throws(FolioError) {
        guard let v = ExplainVerbosity(rawValue: s) else {
            throw FolioError(.badValue, "verbosity string must be one of {'queryPlanner', 'executionStats', 'allPlansExecution'}")
        }
        self = v
    }
}

/// What an explained query does on top of its plan.
struct ExplainShape {
    var skip = 0
    var limit = 0
    var projection: Document?
    /// The parsed projection, when a covered plan may serve it.
    var coverable: Projection?
    /// The write or count stage on top (`COUNT`, `UPDATE`, `DELETE`) and its fields.
    var top: (String, Document)?
    /// Extra executionStats fields of the top stage, computed from the matched documents.
    var topStats: (([RawDocument]) throws(FolioError) -> Document)?
}

extension Engine {
    /// explain for find.
    public func explainFind(_ ns: Namespace, _ r: FindRequest, verbosity: ExplainVerbosity) throws(FolioError) -> Document {
        let collator = try Engine.collator(r.collation)
        let filter = try Filter(parsing: r.filter, constants: r.constants, collator: collator)
        let sort = try SortSpec.parsing(r.sort, collator: collator)
        let projection = try r.projection.flatMap { p throws(FolioError) in p.isEmpty ? nil : try Projection(parsing: p) }
        var shape = ExplainShape(skip: r.skip, limit: r.limit, projection: r.projection.flatMap { $0.isEmpty ? nil : $0 })
        if !r.returnKey && !r.showRecordId { shape.coverable = projection }
        return try explainQuery(ns, filter, sort: sort, sortPattern: r.sort, hint: r.hint, allowDiskUse: r.allowDiskUse,
                                shape: shape, verbosity: verbosity, minBound: r.min, maxBound: r.max)
    }

    /// explain for count.
    public func explainCount(_ ns: Namespace, filter: Document, skip: Int = 0, limit: Int = 0, hint: BSON? = nil,
                             collation: Document? = nil, verbosity: ExplainVerbosity) throws(FolioError) -> Document {
        let f = try Filter(parsing: filter, collator: try Engine.collator(collation))
        var shape = ExplainShape(skip: skip, limit: limit)
        shape.top = ("COUNT", [:])
        // As count runs it: onto the filter's fields, so an index can answer it alone.
        shape.coverable = try Engine.countProjection(filter).map { p throws(FolioError) in try Projection(parsing: p) }
        if filter.isEmpty && hint == nil {
            return try explainQuery(ns, f, sort: nil, sortPattern: nil, hint: nil, allowDiskUse: true,
                                    shape: ExplainShape(top: ("RECORD_STORE_FAST_COUNT", [:])), verbosity: verbosity, fastCount: true)
        }
        return try explainQuery(ns, f, sort: nil, sortPattern: nil, hint: hint, allowDiskUse: true, shape: shape, verbosity: verbosity)
    }

    /// explain for distinct.
    public func explainDistinct(_ ns: Namespace, key: String, filter: Document, collation: Document? = nil,
                                verbosity: ExplainVerbosity) throws(FolioError) -> Document {
        var shape = ExplainShape()
        shape.projection = [key: .int32(1), "_id": .int32(0)]
        return try explainQuery(ns, try Filter(parsing: filter, collator: try Engine.collator(collation)), sort: nil, sortPattern: nil, hint: nil, allowDiskUse: true,
                                shape: shape, verbosity: verbosity)
    }

    /// explain for one update statement (nothing is written).
    public func explainUpdate(_ ns: Namespace, _ s: UpdateStatement, verbosity: ExplainVerbosity) throws(FolioError) -> Document {
        let spec = try UpdateSpec(parsing: s.update, constants: s.constants)
        let collator = try Engine.collator(s.collation)
        let filter = try Filter(parsing: s.filter, constants: s.constants, collator: collator)
        let arrayFilters = try ArrayFilters(parsing: s.arrayFilters ?? [])
        let context = UpdateContext(query: filter.expression, arrayFilters: arrayFilters, constants: s.constants)
        let sort = try SortSpec.parsing(s.multi ? nil : s.sort, collator: collator)
        var shape = ExplainShape(limit: s.multi ? 0 : 1)
        shape.top = ("UPDATE", [:])
        shape.topStats = { docs throws(FolioError) in
            var modified = 0
            for raw in docs {
                var d = raw.document()
                if try spec.apply(to: &d, context: context) { modified += 1 }
            }
            return ["nMatched": .int32(Int32(clamping: docs.count)), "nWouldModify": .int32(Int32(clamping: modified)),
                    "nWouldUpsert": .bool(docs.isEmpty && s.upsert)]
        }
        return try explainQuery(ns, filter, sort: sort, sortPattern: s.sort, hint: s.hint, allowDiskUse: true, shape: shape, verbosity: verbosity)
    }

    /// explain for one delete statement (nothing is removed).
    public func explainDelete(_ ns: Namespace, _ s: DeleteStatement, sort: Document? = nil, verbosity: ExplainVerbosity) throws(FolioError) -> Document {
        let collator = try Engine.collator(s.collation)
        let filter = try Filter(parsing: s.filter, constants: s.constants, collator: collator)
        let spec = try SortSpec.parsing(sort, collator: collator)
        var shape = ExplainShape(limit: s.limitOne ? 1 : 0)
        shape.top = ("DELETE", [:])
        shape.topStats = { docs in ["nWouldDelete": .int32(Int32(clamping: docs.count))] }
        return try explainQuery(ns, filter, sort: spec, sortPattern: sort, hint: s.hint, allowDiskUse: true, shape: shape, verbosity: verbosity)
    }

    /// explain for findAndModify (nothing is written).
    public func explainFindAndModify(_ ns: Namespace, _ r: FindAndModifyRequest, verbosity: ExplainVerbosity) throws(FolioError) -> Document {
        if r.remove {
            return try explainDelete(ns, r.deleteStatement, sort: r.sort, verbosity: verbosity)
        }
        guard let update = r.update else { throw FolioError(.failedToParse, "Either an update or remove=true must be specified") }
        return try explainUpdate(ns, r.updateStatement(update), verbosity: verbosity)
    }

    /// explain for aggregate: the source query as a `$cursor` stage, then the other stages.
    public func explainAggregate(database: String, collection: String?, _ request: AggregateRequest,
                                 verbosity: ExplainVerbosity) throws(FolioError) -> Document {
        let pipeline = try AggregationPipeline(parsing: request.pipeline, constants: request.constants,
                                               collator: try Engine.collator(request.collation))
        guard let collection else {
            return ["explainVersion": "1", "stages": .array(request.pipeline)]
        }
        let ns = try Namespace(database: database, collection: collection)
        if case .vectorSearch(let spec)? = pipeline.stages.first, case .document(var shown)? = request.pipeline.first?.documentValue?["$vectorSearch"] {
            // As mongod shows it: the stage as given plus an `explain` of the search.
            shown.append("explain", .document(try explainVectorSearch(spec, ns, verbosity: verbosity)))
            return ["explainVersion": "1", "stages": .array([.document(["$vectorSearch": .document(shown)])] + request.pipeline.dropFirst())]
        }
        var stages = pipeline.stages[...]
        let q = sourceQuery(&stages, ns)
        let inner = try explainQuery(ns, q.filter, sort: q.sort, sortPattern: q.sort?.pattern, hint: request.hint, allowDiskUse: request.allowDiskUse,
                                     shape: ExplainShape(limit: q.limit), verbosity: verbosity)
        var cursorStage = Document()
        for (k, v) in inner where k != "explainVersion" { cursorStage.append(k, v) }
        let rest = request.pipeline.dropFirst(q.consumed)
        return ["explainVersion": "1", "stages": .array([.document(["$cursor": .document(cursorStage)])] + rest)]
    }

    /// Plans (and, past queryPlanner, runs) a query and reports it.
    func explainQuery(_ ns: Namespace, _ filter: Filter, sort: SortSpec?, sortPattern: Document?, hint: BSON?, allowDiskUse: Bool,
                      shape: ExplainShape, verbosity: ExplainVerbosity, fastCount: Bool = false,
                      minBound: Document? = nil, maxBound: Document? = nil) throws(FolioError) -> Document {
        var planner: Document = ["namespace": .string(ns.description), "parsedQuery": .document(filter.expression.explainForm),
                                 "indexFilterSet": false]
        let shapeHash = Engine.hash8(Engine.shape(QueryRequest(filter: filter, sort: sort, sortPattern: sortPattern)))
        planner.append("queryHash", .string(shapeHash))
        planner.append("planCacheKey", .string(shapeHash))
        planner.append("optimizationTimeMillis", .int32(0))
        planner.append("maxIndexedOrSolutionsReached", false)
        planner.append("maxIndexedAndSolutionsReached", false)
        planner.append("maxScansToExplodeReached", false)
        planner.append("prunedSimilarIndexes", false)
        guard let entry = entry(ns), !fastCount else {
            let stage: Document = fastCount ? ["stage": .string(shape.top?.0 ?? "RECORD_STORE_FAST_COUNT")] : ["stage": "EOF"]
            planner.append("winningPlan", .document(stage))
            planner.append("rejectedPlans", [])
            var out: Document = ["explainVersion": "1", "queryPlanner": .document(planner)]
            if verbosity != .queryPlanner {
                var stats = stage
                stats.append("nReturned", .int32(0))
                stats.append("executionTimeMillisEstimate", .int32(0))
                out.append("executionStats", ["executionSuccess": true, "nReturned": .int32(0), "executionTimeMillis": .int32(0),
                                              "totalKeysExamined": .int32(0), "totalDocsExamined": .int32(0),
                                              "executionStages": .document(stats)])
            }
            return out
        }
        let snapshot = try Folio_storage { () throws(StorageError) in try storage.snapshot() }
        defer { snapshot.close() }
        let started = ContinuousClock.now
        let sortLimit = sort != nil && shape.limit > 0 ? shape.skip.addingSaturated(shape.limit) : 0
        let planned = try plan(entry, snapshot, QueryRequest(filter: filter, sort: sort, sortPattern: sortPattern, hint: hint,
                                                             sortLimit: sortLimit, allowDiskUse: allowDiskUse, useCache: false,
                                                             min: minBound, max: maxBound, projection: shape.coverable))
        var produced = planned.buffered.compactMap(\.document)
        if verbosity != .queryPlanner {
            let wanted = shape.limit > 0 ? shape.skip.addingSaturated(shape.limit) : Int.max
            run: while produced.count < wanted {
                switch try planned.root.work() {
                case .advanced(let row): if let d = row.document { produced.append(d) }
                case .needTime: continue
                case .eof: break run
                }
            }
        }
        let elapsed = ContinuousClock.now - started
        let returned = Array(produced.dropFirst(shape.skip).prefix(shape.limit > 0 ? shape.limit : Int.max))
        planner.append("winningPlan", .document(decorate(planned.root.plan(), shape, planned.root, counts: nil)))
        planner.append("rejectedPlans", .array(planned.rejected.map { .document(decorate($0.plan(), shape, $0, counts: nil)) }))
        var out: Document = ["explainVersion": "1", "queryPlanner": .document(planner)]
        if verbosity != .queryPlanner {
            var top = try shape.topStats?(returned) ?? [:]
            if shape.top?.0 == "COUNT" { top = ["nCounted": .int32(Int32(clamping: returned.count)), "nSkipped": .int32(Int32(clamping: min(shape.skip, produced.count)))] }
            let counts = (input: produced.count, returned: returned.count, top: top)
            let ms = Int32(clamping: elapsed.components.seconds * 1000 + elapsed.components.attoseconds / 1_000_000_000_000_000)
            var stats: Document = ["executionSuccess": true,
                                   "nReturned": .int32(Int32(clamping: shape.top == nil ? returned.count : 0)),
                                   "executionTimeMillis": .int32(ms),
                                   "totalKeysExamined": .int32(Int32(clamping: planned.root.totalKeysExamined)),
                                   "totalDocsExamined": .int32(Int32(clamping: planned.root.totalDocsExamined)),
                                   "executionStages": .document(decorate(planned.root.stats(), shape, planned.root, counts: counts))]
            if verbosity == .allPlansExecution {
                let all = ([planned.root] + planned.rejected).map { stage -> BSON in
                    .document(["nReturned": .int32(Int32(clamping: stage.advanced)), "executionTimeMillisEstimate": .int32(0),
                               "totalKeysExamined": .int32(Int32(clamping: stage.totalKeysExamined)),
                               "totalDocsExamined": .int32(Int32(clamping: stage.totalDocsExamined)),
                               "executionStages": .document(stage.stats())])
                }
                stats.append("allPlansExecution", .array(all))
            }
            out.append("executionStats", .document(stats))
        }
        return out
    }

    /// Adds the stages the cursor applies on top of the plan: SKIP, PROJECTION, LIMIT (a
    /// sort takes the limit itself), then the write or count stage.
    func decorate(_ plan: Document, _ shape: ExplainShape, _ root: PlanStage,
                  counts: (input: Int, returned: Int, top: Document)?) -> Document {
        let hasSort = root.hasSort
        func wrap(_ stage: String, _ fields: Document, _ input: Document, returned: Int?) -> Document {
            var d: Document = ["stage": .string(stage)]
            for (k, v) in fields { d.append(k, v) }
            if let returned {
                d.append("nReturned", .int32(Int32(clamping: returned)))
                d.append("executionTimeMillisEstimate", .int32(0))
                d.append("works", .int32(Int32(clamping: returned + 1)))
                d.append("advanced", .int32(Int32(clamping: returned)))
                d.append("isEOF", .int32(1))
            }
            d.append("inputStage", .document(input))
            return d
        }
        var d = plan
        var flowing = counts?.input
        if shape.skip > 0 {
            flowing = flowing.map { max(0, $0 - shape.skip) }
            d = wrap("SKIP", ["skipAmount": .int32(Int32(clamping: shape.skip))], d, returned: flowing)
        }
        if let p = shape.projection {
            let simple = p.allSatisfy { !$0.key.contains(".") && ($0.value.isNumber || $0.value.type == .bool) }
            let name = root.isCovered ? "PROJECTION_COVERED" : simple ? "PROJECTION_SIMPLE" : "PROJECTION_DEFAULT"
            d = wrap(name, ["transformBy": .document(p)], d, returned: flowing)
        }
        if shape.limit > 0 && !hasSort {
            flowing = counts?.returned
            d = wrap("LIMIT", ["limitAmount": .int32(Int32(clamping: shape.limit))], d, returned: flowing)
        }
        if let (stage, fields) = shape.top {
            var f = fields
            if let counts { for (k, v) in counts.top { f.append(k, v) } }
            d = wrap(stage, f, d, returned: counts.map { _ in 0 })
        }
        return d
    }

    /// An 8-digit hex hash (explain's queryHash).
    static func hash8(_ s: String) -> String {
        var h: UInt32 = 2_166_136_261
        for b in s.utf8 { h = (h ^ UInt32(b)) &* 16_777_619 }
        let hex = String(h, radix: 16, uppercase: true)
        return String(repeating: "0", count: 8 - hex.count) + hex
    }
}
