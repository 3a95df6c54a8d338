import FolioBSON
import FolioGeo
import FolioQuery
import FolioStorage
import Synchronization
import FolioLocks

// The query planner: candidate plans from the filter's indexable predicates and the sort,
// a trial run that picks the most productive one (MongoDB's multi-planner), and a plan
// cache by query shape.
//
// Candidates: an `_id` equality is answered by IDHACK without planning. Otherwise every
// usable index whose leading field is bounded by the filter, or that provides the requested
// sort, yields IXSCAN + FETCH (+ SORT when the index does not provide the order). The `_id`
// index is the record store itself (ordered by the `_id` KeyString): an `_id` range or sort
// scans the records in order within its bounds, and a limit stops it early; a top-level
// `$or` whose every branch has a bounded index yields OR over one IXSCAN per branch. Only
// when no index applies does the plan scan the collection. Hidden indexes are skipped,
// sparse indexes are used only when the bounds exclude null, partial indexes only when the
// filter implies the partial filter.
//
// Trial: candidates work in turn until one reaches the end, one returns 101 documents, or
// each has done 10,000 works; the score is advanced/works, plus a bonus for finishing and a
// small one for needing no blocking sort. The winner keeps its trial results and continues.

/// What a query asks of the planner.
struct QueryRequest {
    var filter: Filter
    var sort: SortSpec?
    var sortPattern: Document?
    /// `hint`: an index name, a key pattern, or `{$natural: ±1}`.
    var hint: BSON?
    /// A limit the SORT stage may use to keep only the top documents (0 = none).
    var sortLimit: Int = 0
    var allowDiskUse: Bool = true
    var sortMemoryLimitBytes: Int = Limits.blockingStageMemoryBytes
    /// Whether the plan cache may be read and written (explain plans afresh).
    var useCache: Bool = true
    /// find's `min` (inclusive) and `max` (exclusive) index bounds, on the hinted index.
    var min: Document?
    var max: Document?
    /// Whether rows should carry the index key they came from (`returnKey`).
    var wantsIndexKeys = false
    /// Whether results show their record ids (`showRecordId`).
    var wantsRecordIds = false
    /// The find projection: a plain inclusion of indexed fields lets a plan skip FETCH.
    var projection: Projection?
    /// Whether a `$text` plan attaches each result's score (an aggregation reads it later).
    var wantsTextScore = false
    /// Whether a near search attaches each result's distance and location (`$geoNear`).
    var wantsGeoDistance = false
}

/// A chosen plan, with the documents its trial already produced.
struct PlannedQuery {
    var root: PlanStage
    var buffered: [PlanRow]
    var rejected: [PlanStage]
    var fromCache: Bool
}

/// Winning plans by query shape, per collection. Invalidated when the collection's indexes
/// change and, for an entry, after 1,000 writes to the collection since it was cached (data
/// growth can change which plan is best).
/// How often each index was chosen for a query (`$indexStats` accesses), since when.
final class IndexAccessCounter: Sendable {
    struct Count { var ops: Int64; var since: Int64 }
    let counts = Locked([Namespace: [String: Count]]())

    func note(_ ns: Namespace, _ names: [String]) {
        if names.isEmpty { return }
        counts.withLock { c in
            for n in names { c[ns, default: [:]][n, default: Count(ops: 0, since: Int64(ObjectID.currentSeconds()) * 1000)].ops += 1 }
        }
    }

    func get(_ ns: Namespace, _ name: String) -> Count? { counts.withLock { $0[ns]?[name] } }
    func reset(_ ns: Namespace) { counts.withLock { _ = $0.removeValue(forKey: ns) } }
}

final class PlanCache: Sendable {
    struct Entry {
        var choice: String
        var writesAtCaching: Int
    }
    struct State {
        var entries: [Namespace: [String: Entry]] = [:]
        var writes: [Namespace: Int] = [:]
    }
    static let writesBeforeReplanning = 1000
    let state = Locked(State())

    func invalidate(_ ns: Namespace) { state.withLock { _ = $0.entries.removeValue(forKey: ns) } }

    func noteWrites(_ ns: Namespace, _ n: Int) { state.withLock { $0.writes[ns, default: 0] += n } }

    func lookup(_ ns: Namespace, _ shape: String) -> String? {
        state.withLock { s in
            guard let e = s.entries[ns]?[shape] else { return nil }
            if s.writes[ns, default: 0] - e.writesAtCaching > PlanCache.writesBeforeReplanning {
                s.entries[ns]?[shape] = nil
                return nil
            }
            return e.choice
        }
    }

    func store(_ ns: Namespace, _ shape: String, _ choice: String) {
        state.withLock { s in s.entries[ns, default: [:]][shape] = Entry(choice: choice, writesAtCaching: s.writes[ns, default: 0]) }
    }

    /// Number of cached shapes for a collection (for tests and $planCacheStats-like reports).
    func count(_ ns: Namespace) -> Int { state.withLock { $0.entries[ns]?.count ?? 0 } }
}

extension Engine {
    func noteWrites(_ ns: Namespace, _ n: Int) { planCache.noteWrites(ns, n) }

    /// Trial limits.
    static let trialResults = 101
    static let trialWorks = 10_000

    /// Chooses and builds the plan for a query over one snapshot.
    /// - Throws: 2 BadValue for a hint that names no usable index.
    func plan(_ entry: CollectionEntry, _ snapshot: any StorageSnapshot, _ q: QueryRequest) throws(FolioError) -> PlannedQuery {
        let planned = try choosePlan(entry, snapshot, q)
        if q.useCache { indexAccesses.note(entry.namespace, planned.root.indexNames) }
        return planned
    }

    func choosePlan(_ entry: CollectionEntry, _ snapshot: any StorageSnapshot, _ q: QueryRequest) throws(FolioError) -> PlannedQuery {
        try Engine.checkSpecialPlans(q)
        let minMax = !(q.min?.isEmpty ?? true) || !(q.max?.isEmpty ?? true)
        let hint = q.hint.flatMap { h in h.documentValue?.isEmpty ?? false ? nil : h }
        // {_id: v} needs no planning (and no PlanBuilder: its per-query tables cost more
        // than the read itself).
        if !minMax, hint == nil, let id = Engine.pinnedID(q.filter.expression) {
            return PlannedQuery(root: PlanBuilder.withSort(IDHackStage(snapshot: snapshot, store: entry.recordStore, id: id, filter: q.filter), q),
                                buffered: [], rejected: [], fromCache: false)
        }
        let builder = PlanBuilder(entry: entry, snapshot: snapshot, query: q)
        if let search = q.filter.expression.textSearch {
            return PlannedQuery(root: try builder.textPlan(search), buffered: [], rejected: [], fromCache: false)
        }
        if let (branches, text) = q.filter.expression.textUnderOr {
            return PlannedQuery(root: try builder.textOrPlan(branches, text: text), buffered: [], rejected: [], fromCache: false)
        }
        if let near = q.filter.expression.nearSearch {
            return PlannedQuery(root: try builder.nearPlan(near.path, near.predicate), buffered: [], rejected: [], fromCache: false)
        }
        if minMax {
            return PlannedQuery(root: try builder.minMax(), buffered: [], rejected: [], fromCache: false)
        }
        if let hint {
            let candidate = try builder.hinted(hint)
            return PlannedQuery(root: builder.build(candidate), buffered: [], rejected: [], fromCache: false)
        }
        let candidates = builder.candidates()
        if candidates.count <= 1 {
            return PlannedQuery(root: builder.build(candidates.first ?? .collectionScan(forward: true)), buffered: [], rejected: [], fromCache: false)
        }
        let shape = q.useCache ? Engine.shape(q) : ""
        if q.useCache, let choice = planCache.lookup(entry.namespace, shape), let c = candidates.first(where: { $0.name == choice }) {
            return PlannedQuery(root: builder.build(c), buffered: [], rejected: [], fromCache: true)
        }
        let roots = candidates.map(builder.build)
        var buffers = Array(repeating: [PlanRow](), count: roots.count)
        var finished: Int?
        var active = Set(roots.indices)
        trial: while !active.isEmpty {
            for i in roots.indices where active.contains(i) {
                switch try roots[i].work() {
                case .advanced(let row):
                    buffers[i].append(row)
                    if buffers[i].count >= Engine.trialResults { finished = i; break trial }
                case .needTime: break
                case .eof: finished = i; break trial
                }
                if roots[i].works >= Engine.trialWorks { active.remove(i) }
            }
        }
        func score(_ i: Int) -> Double {
            let r = roots[i]
            var s = 1 + Double(r.advanced) / Double(max(r.works, 1))
            if r.isEOF { s += 1 }
            if !r.hasSort { s += 0.0001 }
            if r.isCovered { s += 0.0001 }
            return s
        }
        let winner = finished.map { f in roots.indices.max { score($0) < score($1) || (score($0) == score($1) && $1 == f) }! }
            ?? roots.indices.max { score($0) < score($1) }!
        if q.useCache { planCache.store(entry.namespace, shape, candidates[winner].name) }
        return PlannedQuery(root: roots[winner], buffered: buffers[winner],
                            rejected: roots.indices.filter { $0 != winner }.map { roots[$0] }, fromCache: false)
    }

    /// What `$text` and `$near` cannot be combined with (MongoDB's CanonicalQuery::isValid, all
    /// BadValue): each other, a `$natural` sort, and for `$text` any hint, for `$near` a
    /// `$natural` hint.
    static func checkSpecialPlans(_ q: QueryRequest) throws(FolioError) {
        try checkSpecialPlans(q.filter.expression, sortPattern: q.sortPattern, hint: q.hint, tailable: false)
    }

    static func checkSpecialPlans(_ expression: MatchExpression, sortPattern: Document?, hint: BSON?, tailable: Bool) throws(FolioError) {
        let text = expression.containsText, near = expression.containsNear
        if !text && !near { return }
        let naturalSort = sortPattern?["$natural"] != nil
        let hint = hint.flatMap { h in h.documentValue?.isEmpty ?? false ? nil : h }
        let naturalHint = hint?.documentValue?["$natural"] != nil
        if near && naturalSort { throw FolioError(.badValue, "geoNear expression not allowed with $natural sort order") }
        if near && naturalHint { throw FolioError(.badValue, "geoNear expression not allowed with $natural hint") }
        if text && near { throw FolioError(.badValue, "text and geoNear not allowed in same query") }
        if text && naturalSort { throw FolioError(.badValue, "text expression not allowed with $natural sort order") }
        if text && hint != nil { throw FolioError(.badValue, "text and hint not allowed in same query") }
        if text && tailable { throw FolioError(.badValue, "text and tailable cursor not allowed in same query") }
    }

    /// Whether some index of the collection can return documents matching `filter` in `sort` order.
    func indexCanProvideSort(_ ns: Namespace, _ filter: Filter, _ sort: SortSpec) -> Bool {
        guard let entry = entry(ns), !entry.indexes.isEmpty, !sort.keys.contains(where: { $0.meta != nil }) else { return false }
        let builder = PlanBuilder(entry: entry, snapshot: EmptySnapshot(), query: QueryRequest(filter: filter, sort: sort))
        return builder.candidates().contains { if case .index(_, _, _, true) = $0 { return true }; return false }
    }

    /// The query's shape: the filter with values replaced by their types, the sort and hint.
    static func shape(_ q: QueryRequest) -> String {
        func strip(_ v: BSON) -> String {
            switch v {
            case .document(let d): return "{" + d.map { "\($0.key):\(strip($0.value))" }.joined(separator: ",") + "}"
            case .array: return "[]"
            default: return v.type.alias
            }
        }
        return strip(.document(q.filter.expression.explainForm)) + "|" + (q.sortPattern.map { strip(.document($0)) } ?? "")
    }
}

extension SortSpec {
    /// The sort as a document (`{a: 1, b: -1}`), as explain prints it.
    var pattern: Document {
        var d = Document()
        for k in keys { d.append(k.path.dotted, k.meta.map { .document(["$meta": .string($0)]) } ?? .int32(k.ascending ? 1 : -1)) }
        return d
    }
}

/// A snapshot with nothing in it, for building candidates that are never run.
final class EmptySnapshot: StorageSnapshot {
    func get(_ store: String, _ key: [UInt8]) throws(StorageError) -> [UInt8]? { nil }
    func scan(_ store: String, _ range: KeyRange, reverse: Bool, limit: Int?) throws(StorageError) -> [(key: [UInt8], value: [UInt8])] { [] }
    func visit(_ store: String, _ range: KeyRange, limit: Int?,
               _ body: (UnsafeBufferPointer<UInt8>, UnsafeBufferPointer<UInt8>) -> Bool) throws(StorageError) -> [UInt8]? { nil }
    func storeNames() throws(StorageError) -> [String] { [] }
    func count(_ store: String) throws(StorageError) -> Int { 0 }
    func storageBytes(_ store: String) throws(StorageError) -> Int { 0 }
    func close() {}
}

/// One candidate access path.
enum Candidate {
    case collectionScan(forward: Bool)
    case index(IndexDescriptor, [[FieldInterval]?], forward: Bool, providesSort: Bool)
    case or([Candidate])

    var name: String {
        switch self {
        case .collectionScan: return "$natural"
        case .index(let i, _, _, _): return i.isWildcardExpansion ? i.name + "@" + i.fields[1].path.dotted : i.name
        case .or(let branches): return "$or:" + branches.map(\.name).joined(separator: ",")
        }
    }
}

/// Builds candidates and stage trees for one query.
struct PlanBuilder {
    typealias Predicates = [String: [IndexablePredicate]]

    let entry: CollectionEntry
    let snapshot: any StorageSnapshot
    let query: QueryRequest
    /// The filter's top-level indexable predicates by path (computed once per query).
    let conjunction: Predicates
    /// The fields a covered plan's index must hold (what the projection, the filter and the
    /// sort read), or nil when the query cannot be covered.
    let fieldsToCover: Set<String>?

    /// The `_id` index when the query bounds or sorts `_id` (a candidate only then).
    let idIndex: IndexDescriptor?

    init(entry: CollectionEntry, snapshot: any StorageSnapshot, query: QueryRequest) {
        self.entry = entry
        self.snapshot = snapshot
        self.query = query
        conjunction = PlanBuilder.predicates(query.filter.expression)
        fieldsToCover = PlanBuilder.fieldsToCover(query)
        let sortsByID = query.sort?.keys.contains { $0.path.dotted == "_id" } ?? false
        idIndex = conjunction["_id"] != nil || sortsByID ? entry.idIndex : nil
    }

    /// Whether `index` is the `_id` index (a scan of it reads the records themselves).
    func isIDIndex(_ index: IndexDescriptor) -> Bool { index.store == entry.recordStore }

    static func predicates(_ e: MatchExpression) -> Predicates {
        var out: Predicates = [:]
        for (path, ps) in e.indexablePredicates { out[path.dotted, default: []] += ps }
        return out
    }

    /// Each index field's intervals under the predicates (nil: the field is unbounded).
    func bounds(_ index: IndexDescriptor, _ preds: Predicates) -> [[FieldInterval]?] {
        if index.isWildcardExpansion {
            let path = index.fields[1].path.dotted
            return IndexBounds.wildcardIntervals(path, preds[path] ?? [], multikey: index.isMultikey) ?? [nil, nil]
        }
        return index.fields.map { f in
            if f.planar, let planar = index.planar {
                for case .geo(let g) in preds[f.path.dotted] ?? [] { if let box = g.planarBounds { return PlanarGrid.intervals(planar.ranges(box)) } }
                return nil
            }
            if f.geo, let geo = index.geo {
                // The first geo predicate with a region bounds the field; the filter checks the rest.
                for case .geo(let g) in preds[f.path.dotted] ?? [] { if let region = g.region { return geo.intervals(region) } }
                return nil
            }
            return preds[f.path.dotted].flatMap { f.hashed ? IndexBounds.hashedIntervals($0) : IndexBounds.intervals($0, multikey: index.isMultikey) }
        }
    }

    /// The candidates one index offers for a conjunction: at most one, except a wildcard
    /// index, which offers one per bounded path it holds.
    func accesses(_ index: IndexDescriptor, _ preds: Predicates, forSort: Bool) -> [Candidate] {
        guard let wildcard = index.wildcard else { return indexCandidate(index, preds, forSort: forSort).map { [$0] } ?? [] }
        return preds.keys.sorted().compactMap { path in
            let p = FieldPath(path)
            guard wildcard.admits(p), !p.indexes.contains(where: { $0 != nil }) else { return nil }
            return indexCandidate(index.wildcardExpansion(for: p), preds, forSort: forSort)
        }
    }

    /// The index access for one conjunction, or nil when the index does not apply.
    func indexCandidate(_ index: IndexDescriptor, _ preds: Predicates, forSort: Bool) -> Candidate? {
        let perField = bounds(index, preds)
        if index.sparse && !perField.contains(where: { $0.map { !$0.contains(where: \.includesNull) } ?? false }) { return nil }
        // A 2dsphere index holds only documents with a geometry: usable when its geo field is bounded.
        if index.geo != nil && !zip(index.fields, perField).contains(where: { $0.geo && $1 != nil }) { return nil }
        if index.planar != nil && perField[0] == nil { return nil }
        if let partial = index.partialExpression, !PartialFilter.implied(partial, by: preds) { return nil }
        let sortDirection = forSort ? self.sortDirection(index, perField) : nil
        guard perField[0] != nil || sortDirection != nil else { return nil }
        return .index(index, perField, forward: sortDirection ?? true, providesSort: sortDirection != nil)
    }

    /// Whether scanning the index gives the requested order: the sort keys, after dropping
    /// fields pinned to one point, must be the index fields that follow the pinned prefix, all
    /// in the index's direction or all reversed. Returns the scan direction. Indexes hold
    /// binary keys, so they never give a collated order.
    func sortDirection(_ index: IndexDescriptor, _ perField: [[FieldInterval]?]) -> Bool? {
        guard let sort = query.sort, sort.collator == nil, !index.isMultikey else { return nil }
        var pinned = 0
        while pinned < index.fields.count, let f = perField[pinned], f.count == 1, f[0].isPoint { pinned += 1 }
        let pinnedPaths = Set(index.fields[..<pinned].map(\.path.dotted))
        let keys = sort.keys.filter { !pinnedPaths.contains($0.path.dotted) }
        if keys.contains(where: { $0.meta != nil }) { return nil }
        if keys.isEmpty { return true }
        guard pinned + keys.count <= index.fields.count else { return nil }
        var direction: Bool?
        for (k, f) in zip(keys, index.fields[pinned...]) {
            guard k.path == f.path, !f.hashed, !f.geo, !f.planar else { return nil }
            let same = k.ascending == f.ascending
            if let d = direction, d != same { return nil }
            direction = same
        }
        return direction
    }

    /// The indexes ordinary predicates and sorts can use (a text index answers only `$text`).
    func usableIndexes() -> [IndexDescriptor] { entry.indexes.filter { !$0.hidden && !$0.building && $0.text == nil } }

    func candidates() -> [Candidate] {
        let expression = query.filter.expression
        var out: [Candidate] = []
        if let idIndex { out += accesses(idIndex, conjunction, forSort: true) }
        for index in usableIndexes() { out += accesses(index, conjunction, forSort: true) }
        if let or = orCandidate(expression) { out.append(or) }
        return out
    }

    /// An `$or` (top level, or one child of the top-level `$and`) whose every branch has a
    /// bounded index.
    func orCandidate(_ expression: MatchExpression) -> Candidate? {
        guard let branches = orBranches(expression), branches.count > 1 else { return nil }
        var chosen: [Candidate] = []
        for b in branches {
            let branch = PlanBuilder.predicates(b)
            let indexes = branch["_id"] == nil ? usableIndexes() : usableIndexes() + [entry.idIndex]
            let options = indexes.flatMap { accesses($0, branch, forSort: false) }
            // Prefer the index that bounds the most fields.
            guard let best = options.max(by: { bounded($0) < bounded($1) }) else { return nil }
            chosen.append(best)
        }
        return .or(chosen)
    }

    /// The branches of the top-level `$or`, or of the only `$or` in the top-level `$and`.
    func orBranches(_ expression: MatchExpression) -> [MatchExpression]? {
        if case .or(let b) = expression { return b }
        if case .and(let children) = expression {
            let ors = children.compactMap { c -> [MatchExpression]? in if case .or(let b) = c { return b }; return nil }
            if ors.count == 1 { return ors[0] }
        }
        return nil
    }

    func bounded(_ c: Candidate) -> Int {
        if case .index(_, let perField, _, _) = c { return perField.prefix { $0 != nil }.count }
        return 0
    }

    /// The candidate a hint names.
    func hinted(_ hint: BSON) throws(FolioError) -> Candidate {
        let notFound = FolioError(.badValue, "hint provided does not correspond to an existing index")
        var index: IndexDescriptor?
        switch hint {
        case .string(let name):
            index = name == "_id_" ? entry.idIndex : usableIndexes().first { $0.name == name }
        case .document(let pattern):
            if let natural = pattern["$natural"] {
                return .collectionScan(forward: (natural.asDouble ?? 1) >= 0)
            }
            if pattern.count == 1, pattern["_id"]?.asDouble ?? 0 > 0 { index = entry.idIndex }
            index = index ?? usableIndexes().first { $0.keyPattern == pattern }
                ?? usableIndexes().first { i in i.fields.count == pattern.count && zip(i.fields, pattern).allSatisfy { $0.path.dotted == $1.key && ($1.value.asDouble ?? 0 > 0) == $0.ascending } }
        default:
            throw FolioError(.failedToParse, "hint must be a string or an object")
        }
        guard let index else { throw notFound }
        if index.wildcard != nil {
            // A wildcard index answers through one of the query's paths.
            guard let c = accesses(index, conjunction, forSort: true).first else {
                throw FolioError(.noQueryExecutionPlans, "error processing query: planner returned error :: caused by :: the hinted wildcard index '\(index.name)' has no path the query bounds")
            }
            return c
        }
        let perField = bounds(index, conjunction)
        let direction = sortDirection(index, perField)
        return .index(index, perField, forward: direction ?? true, providesSort: direction != nil)
    }

    /// find's `min`/`max`: one scan of the hinted index from `min` (inclusive) to `max`
    /// (exclusive) in the index's key order, as MongoDB plans them (no other candidates).
    /// - Throws: 291 NoQueryExecutionPlans without a hint or with `$natural`; 51174 when the
    ///   bounds' fields are not the index's key pattern; 51175 when min does not come before max.
    func minMax() throws(FolioError) -> PlanStage {
        guard let hint = query.hint, !(hint.documentValue?.isEmpty ?? false) else {
            throw FolioError(.noQueryExecutionPlans, "When using min()/max() a hint of which index to use must be provided")
        }
        if hint.documentValue?["$natural"] != nil {
            throw FolioError(.noQueryExecutionPlans, "min and max are incompatible with $natural")
        }
        guard case .index(let index, _, _, _) = try hinted(hint), index.wildcard == nil else {
            throw FolioError(ErrorCode(rawValue: 51174), "The index chosen is not compatible with min/max")
        }
        let overRecords = isIDIndex(index)
        let paths = index.fields.map(\.path.dotted)
        let min = query.min.flatMap { $0.isEmpty ? nil : $0 }, max = query.max.flatMap { $0.isEmpty ? nil : $0 }
        for bound in [min, max] {
            if let bound, bound.map(\.key) != paths {
                throw FolioError(ErrorCode(rawValue: 51174), "The index chosen is not compatible with min/max")
            }
        }
        // MongoDB "finishes" an absent bound with MinKey/MaxKey in each field's direction.
        func finished(_ bound: Document?, low: Bool) -> Document {
            if let bound { return bound }
            var d = Document()
            for f in index.fields { d.append(f.path.dotted, (low == f.ascending) ? .minKey : .maxKey) }
            return d
        }
        let start = finished(min, low: true), end = finished(max, low: false)
        func encode(_ bound: Document) -> [UInt8] {
            var out: [UInt8] = []
            for (f, v) in zip(index.fields, bound.map(\.value)) { out += IndexBounds.directed(KeyString.encode(v), f.ascending) }
            return out
        }
        let lower = encode(start), upper = encode(end)
        if compareKeys(lower, upper) >= 0 {
            throw FolioError(ErrorCode(rawValue: 51175), "The value provided for min() does not come before the value provided for max() in the hinted index")
        }
        let range = KeyRange(lower: min == nil ? nil : lower, lowerInclusive: true, upper: max == nil ? nil : upper, upperInclusive: false)
        let printed: Document = ["startKey": .document(start), "startKeyInclusive": true,
                                 "endKey": .document(end), "endKeyInclusive": false]
        let scan = IndexScanStage(snapshot: snapshot, index: index, ranges: [range], printedBounds: { printed }, forward: true,
                                  overRecords: overRecords, emitKeys: query.wantsIndexKeys)
        return withSort(FetchStage(child: scan, snapshot: snapshot, store: entry.recordStore, filter: query.filter,
                                   deduplicate: index.isMultikey))
    }

    /// The stage tree of a candidate (with SORT when the access path does not order).
    func build(_ c: Candidate) -> PlanStage {
        switch c {
        case .collectionScan(let forward):
            // A capped collection's natural order is insertion order.
            return withSort(CollectionScanStage(snapshot: snapshot, store: entry.recordStore, filter: query.filter, forward: forward,
                                                order: entry.capped == nil ? nil : entry))
        case .index(let index, let perField, _, let providesSort) where covers(index):
            let scan = self.scan(c, covering: residual(index, perField))
            return providesSort ? scan : withSort(scan)
        case .index(let index, let perField, _, let providesSort):
            // A wildcard scan may meet a document once per sub-path.
            let fetch = FetchStage(child: scan(c), snapshot: snapshot, store: entry.recordStore, filter: query.filter,
                                   deduplicate: index.isMultikey || index.wildcard != nil,
                                   residual: residual(index, perField))
            return providesSort ? fetch : withSort(fetch)
        case .or(let branches):
            let or = OrStage(branches: branches.map { scan($0) })
            // The `$or` leaves FETCH's filter when each branch's index answers the branch exactly.
            let expression = query.filter.expression
            var shown = expression
            if let conditions = orBranches(expression), conditions.count == branches.count,
               zip(conditions, branches).allSatisfy({ condition, b in
                   guard case .index(let index, let perField, _, _) = b else { return false }
                   return residual(condition, exactly: exactPaths(index, perField, PlanBuilder.predicates(condition))).isTriviallyTrue
               }) {
                shown = residual(expression, exactly: []) { if case .or = $0 { return true }; return false }
            }
            return withSort(FetchStage(child: or, snapshot: snapshot, store: entry.recordStore, filter: query.filter,
                                       deduplicate: false, residual: shown))
        }
    }

    /// The paths whose predicates the index bounds answer exactly: fields the scan bounds
    /// (the leading point fields and the first other bounded field), not hashed, whose
    /// predicates are one equality or `$in` of plain values, or ranges within one type (one
    /// range on a multikey field).
    func exactPaths(_ index: IndexDescriptor, _ perField: [[FieldInterval]?], _ preds: Predicates) -> Set<String> {
        var exact = Set<String>()
        for (i, f) in index.fields.enumerated() {
            guard let intervals = perField[i] else { break }
            if !f.hashed, let ps = preds[f.path.dotted], IndexBounds.exact(ps, multikey: index.isMultikey) { exact.insert(f.path.dotted) }
            if !intervals.allSatisfy(\.isPoint) { break }
        }
        return exact
    }

    /// The query's filter without what a scan of `index` within these bounds answers exactly.
    func residual(_ index: IndexDescriptor, _ perField: [[FieldInterval]?]) -> MatchExpression {
        residual(query.filter.expression, exactly: exactPaths(index, perField, conjunction))
    }

    /// The filter without the conjuncts the bounds answer exactly (and those `alsoAnswered` names).
    func residual(_ expression: MatchExpression, exactly exact: Set<String>,
                  alsoAnswered: (MatchExpression) -> Bool = { _ in false }) -> MatchExpression {
        func answered(_ e: MatchExpression) -> Bool {
            if alsoAnswered(e) { return true }
            guard case .path(let p, let predicates) = e, exact.contains(p.dotted) else { return false }
            return predicates.allSatisfy { p in
                switch p {
                case .eq, .gt, .gte, .lt, .lte, .in: return true
                default: return false
                }
            }
        }
        if case .and(let children) = expression {
            let rest = children.filter { !answered($0) }
            return rest.count == 1 ? rest[0] : .and(rest)
        }
        return answered(expression) ? .alwaysTrue : expression
    }

    /// Whether a plan over `index` answers the query from its entries alone
    /// (PROJECTION_COVERED): the projection keeps only top-level fields, and every field the
    /// projection, the filter and the sort read is a top-level field of an index whose
    /// entries restore their values exactly (typed, not multikey, not hashed or wildcard).
    /// A missing field stays missing (the entry says so), so the filter and the projection
    /// see exactly what they would see in the document.
    func covers(_ index: IndexDescriptor) -> Bool {
        guard let needed = fieldsToCover, !isIDIndex(index), index.typedEntries, !index.isMultikey, index.wildcard == nil,
              index.fields.allSatisfy({ !$0.hashed && $0.path.count == 1 }) else { return false }
        return needed.isSubset(of: Set(index.fields.map { $0.path.components[0] }))
    }

    static func fieldsToCover(_ query: QueryRequest) -> Set<String>? {
        guard let fields = query.projection?.includedTopLevelFields, !query.wantsIndexKeys, !query.wantsRecordIds,
              var needed = query.filter.expression.topLevelFields else { return nil }
        needed.formUnion(fields)
        for k in query.sort?.keys ?? [] {
            guard k.meta == nil else { return nil }
            needed.insert(k.path.components[0])
        }
        return needed
    }

    func scan(_ c: Candidate, covering residual: MatchExpression? = nil) -> PlanStage {
        guard case .index(let index, let perField, let forward, _) = c else { return build(c) }
        // The printed bounds are made only if explain asks: they cost more than a point read's seek.
        let shown = { () -> Document in
            let printed = IndexBounds.printed(index.fields, perField)
            guard !forward else { return printed }
            return Document(printed.map { (k, v) in (k, BSON.array((v.arrayValue ?? []).reversed().map { b in
                guard case .string(let s) = b else { return b }
                return .string(PlanBuilder.reverseInterval(s))
            })) })
        }
        return IndexScanStage(snapshot: snapshot, index: index, ranges: IndexBounds.ranges(index.fields, perField), printedBounds: shown, forward: forward,
                              overRecords: isIDIndex(index), emitKeys: query.wantsIndexKeys,
                              cover: residual.map { (filter: query.filter, residual: $0) })
    }

    /// `[a, b)` read backwards is `(b, a]`.
    static func reverseInterval(_ s: String) -> String {
        guard s.count >= 2, let comma = s.range(of: ", ") else { return s }
        let open = s.first!, close = s.last!
        let a = s[s.index(after: s.startIndex)..<comma.lowerBound]
        let b = s[comma.upperBound..<s.index(before: s.endIndex)]
        return (close == "]" ? "[" : "(") + b + ", " + a + (open == "[" ? "]" : ")")
    }

    func withSort(_ stage: PlanStage) -> PlanStage { PlanBuilder.withSort(stage, query) }

    static func withSort(_ stage: PlanStage, _ query: QueryRequest) -> PlanStage {
        guard let sort = query.sort else { return stage }
        return SortStage(child: stage, spec: sort, pattern: query.sortPattern ?? [:], limit: query.sortLimit,
                         memoryLimitBytes: query.sortMemoryLimitBytes, allowDiskUse: query.allowDiskUse)
    }
}

/// Whether a query implies an index's partial filter, conservatively: every conjunct of the
/// partial filter must be a path predicate that each value the query pins (by equality or
/// `$in`) satisfies, or `$exists: true` on a path the query bounds.
enum PartialFilter {
    static func implied(_ partial: MatchExpression, by query: [String: [IndexablePredicate]]) -> Bool {
        var conjuncts: [MatchExpression] = []
        func flatten(_ e: MatchExpression) {
            if case .and(let c) = e { c.forEach(flatten) } else { conjuncts.append(e) }
        }
        flatten(partial)
        for c in conjuncts {
            guard case .path(let path, let predicates) = c, let pinned = query[path.dotted] else { return false }
            var values: [BSON]?
            var bounded = false
            for p in pinned {
                switch p {
                case .equality(let v): values = [v]
                case .inList(let list) where values == nil: values = list
                case .range(let lower, let li, let upper, let ui):
                    bounded = true
                    // A query range inside the partial range: check its end against it.
                    if predicates.allSatisfy({ rangeImplied($0, lower: lower, li, upper: upper, ui) }) { values = values ?? [] }
                default: continue
                }
            }
            if let values, !values.isEmpty {
                let doc = { (v: BSON) in MatchExpression.path(path, predicates).matches(Document(dictionaryLiteral: (path.dotted, v))) }
                if path.components.count == 1 && values.allSatisfy(doc) { continue }
            }
            if let values, values.isEmpty, bounded { continue }
            if bounded, predicates.allSatisfy({ if case .exists(true) = $0 { return true }; return false }) { continue }
            return false
        }
        return true
    }

    /// Whether `{$gt/$gte: lower}` or `{$lt/$lte: upper}` of the query implies partial predicate `p`.
    static func rangeImplied(_ p: PathPredicate, lower: BSON?, _ li: Bool, upper: BSON?, _ ui: Bool) -> Bool {
        func sameBracket(_ a: BSON, _ b: BSON) -> Bool { a.type.canonicalRank == b.type.canonicalRank }
        switch p {
        case .gt(let m): guard let lower, sameBracket(lower, m) else { return false }; let c = BSON.compare(lower, m); return c > 0 || (c == 0 && !li)
        case .gte(let m): guard let lower, sameBracket(lower, m) else { return false }; return BSON.compare(lower, m) >= 0
        case .lt(let m): guard let upper, sameBracket(upper, m) else { return false }; let c = BSON.compare(upper, m); return c < 0 || (c == 0 && !ui)
        case .lte(let m): guard let upper, sameBracket(upper, m) else { return false }; return BSON.compare(upper, m) <= 0
        case .exists(true): return true
        default: return false
        }
    }
}

extension MatchExpression {
    /// The top-level fields the expression reads, or nil when it may read any ($expr, $jsonSchema).
    var topLevelFields: Set<String>? {
        switch self {
        case .and(let children), .or(let children), .nor(let children):
            var out = Set<String>()
            for c in children {
                guard let f = c.topLevelFields else { return nil }
                out.formUnion(f)
            }
            return out
        case .path(let path, _): return [path.components[0]]
        case .expr, .jsonSchema, .text: return nil
        case .alwaysTrue, .alwaysFalse: return []
        }
    }
}
