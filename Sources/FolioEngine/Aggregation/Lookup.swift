import FolioBSON
import FolioQuery

/// The foreign side of a join, read once and hashed by the values of one field (every
/// value a path reaches, array elements and the whole array; missing counts as null).
/// Past the memory budget of a blocking stage it is not built and callers query instead.
final class ForeignIndex {
    let documents: [Document]
    let buckets: [[UInt8]: [Int]]
    /// The collation values are hashed under (equal values under it share a bucket).
    let collator: (any Collator)?

    init?(_ ns: Namespace, field: FieldPath, collator: (any Collator)?, engine: Engine, environment env: PipelineEnvironment) throws(FolioError) {
        self.collator = collator
        var documents: [Document] = []
        var buckets: [[UInt8]: [Int]] = [:]
        var bytes = 0
        func add(_ d: Document, bytes size: Int) -> Bool {
            bytes += size * 2 + 64
            if bytes > Limits.blockingStageMemoryBytes / 2 { return false }
            let n = documents.count
            documents.append(d)
            var keys = Set<[UInt8]>()
            for v in ForeignIndex.keys(d, field) { keys.insert(KeyString.encode(v.collated(collator))) }
            for k in keys { buckets[k, default: []].append(n) }
            return true
        }
        if try env.view(ns) != nil {
            // A view: the documents its pipeline yields.
            let stream = try engine.build([], source: .collection(ns), environment: env)
            while let d = try stream.next() {
                guard add(d, bytes: d.approximateByteSize) else { return nil }
            }
        } else {
            let cursor = try engine.find(ns, filter: Filter(.and([])), deadline: env.deadline)
            while !cursor.isExhausted {
                for raw in try cursor.next(maxCount: 1024, maxBytes: .max) where !add(raw.document(), bytes: raw.byteCount) {
                    cursor.close()
                    return nil
                }
            }
        }
        self.documents = documents
        self.buckets = buckets
    }

    /// The values a document is found under.
    static func keys(_ d: Document, _ field: FieldPath) -> [BSON] {
        var values = DocumentPaths.allValues(.document(d), field.components[...])
        if values.isEmpty { values = [.null] }
        // An array at the end also matches as a whole.
        if case .array(let a)? = DocumentPaths.value(field.components[...], in: d), !a.isEmpty { values.append(.array(a)) }
        return values
    }

    /// Documents whose field equals any of `values`, in collection order.
    func matching(_ values: [BSON]) -> [Document] {
        var hits = Set<Int>()
        for v in values {
            if v.type == .undefined { continue }
            for i in buckets[KeyString.encode(v.collated(collator))] ?? [] { hits.insert(i) }
        }
        return hits.sorted().map { documents[$0] }
    }
}

/// `$lookup`, executed per input document.
final class LookupJoin {
    let spec: LookupSpec
    let engine: Engine
    let environment: PipelineEnvironment
    let foreign: Namespace?
    var index: ForeignIndex?
    var indexTried = false

    init(spec: LookupSpec, engine: Engine, environment: PipelineEnvironment) throws(FolioError) {
        self.spec = spec
        self.engine = engine
        self.environment = environment
        foreign = try spec.from.map { c throws(FolioError) in try environment.namespace(c, database: spec.fromDatabase) }
    }

    /// MongoDB's `internalLookupStageIntermediateDocumentMaxSizeBytes`: the most one input
    /// document's joined documents may hold (100 MB).
    static let maximumJoinedBytes = 100 * 1024 * 1024

    /// Counts one joined document, refusing a join past `maximumJoinedBytes` with MongoDB's 4568
    /// (the foreign side may be a whole collection).
    func charge(_ r: Document, bytes: inout Int) throws(FolioError) {
        bytes += r.approximateByteSize
        if bytes > LookupJoin.maximumJoinedBytes {
            throw FolioError(ErrorCode(rawValue: 4568), "Total size of documents in \(spec.from ?? "$documents") matching pipeline's $lookup stage exceeds \(LookupJoin.maximumJoinedBytes) bytes")
        }
    }

    func apply(_ d: Document) throws(FolioError) -> Document {
        var candidates: [Document]?
        if let foreignField = spec.foreignField, let foreign {
            let values = spec.localValues(d)
            if !indexTried {
                indexTried = true
                index = try ForeignIndex(foreign, field: foreignField, collator: spec.collator, engine: engine, environment: environment)
            }
            if let built = index {
                candidates = built.matching(values)
            } else {
                // Too large to hash: ask the collection (or the view) directly.
                let match: Document = [foreignField.dotted: ["$in": .array(values)]]
                let stream: any DocumentStream
                if try environment.view(foreign) != nil {
                    let stages = try AggregationPipeline(parsing: [["$match": .document(match)]], collator: spec.collator).stages
                    stream = try engine.build(stages[...], source: .collection(foreign), environment: environment)
                } else {
                    let filter = try MatchExpression(parsing: match, collator: spec.collator)
                    stream = CursorStream(try engine.find(foreign, filter: Filter(filter), deadline: environment.deadline))
                }
                var found: [Document] = [], bytes = 0
                while let r = try stream.next() {
                    try charge(r, bytes: &bytes)
                    found.append(r)
                }
                candidates = found
            }
        }
        var results: [BSON] = []
        var bytes = 0
        if spec.pipeline.isEmpty {
            for r in candidates ?? [] {
                try charge(r, bytes: &bytes)
                results.append(.document(r))
            }
        } else {
            let pipeline = try spec.pipeline(for: environment.context(d))
            let source: Engine.Source
            if let candidates {
                source = .documents(candidates)
            } else {
                source = foreign.map(Engine.Source.collection) ?? .none
            }
            let stream = try engine.build(pipeline.stages[...], source: source, environment: environment)
            while let r = try stream.next() {
                try charge(r, bytes: &bytes)
                results.append(.document(r))
            }
        }
        return DocumentPaths.setting(spec.as.components[...], to: .array(results), in: d)
    }
}

/// `$graphLookup`: a breadth-first search over the foreign collection.
final class GraphSearch {
    let spec: GraphLookupSpec
    let engine: Engine
    let environment: PipelineEnvironment
    let foreign: Namespace
    let restrict: Filter?
    var index: ForeignIndex?

    init(spec: GraphLookupSpec, engine: Engine, environment: PipelineEnvironment) throws(FolioError) {
        self.spec = spec
        self.engine = engine
        self.environment = environment
        foreign = try environment.namespace(spec.from)
        restrict = try spec.restrictSearchWithMatch.map { d throws(FolioError) in try Filter(parsing: d, collator: environment.collator) }
    }

    func apply(_ d: Document) throws(FolioError) -> Document {
        if index == nil {
            guard let built = try ForeignIndex(foreign, field: spec.connectToField, collator: environment.collator,
                                               engine: engine, environment: environment) else {
                throw FolioError(ErrorCode(rawValue: 40099), "$graphLookup reached maximum memory consumption")
            }
            index = built
        }
        let start = try spec.startWith.evaluate(environment.context(d)) ?? .null
        var frontier: [BSON] = if case .array(let a) = start { a } else { [start] }
        var visited = Set<[UInt8]>()
        var results: [BSON] = []
        var depth: Int64 = 0
        var bytes = 0
        while !frontier.isEmpty {
            if let maxDepth = spec.maxDepth, depth > maxDepth { break }
            var next: [BSON] = []
            for doc in index!.matching(frontier) {
                if let restrict, !restrict.matches(doc) { continue }
                let id = KeyString.encode(doc["_id"] ?? .null)
                guard visited.insert(id).inserted else { continue }
                var out = doc
                if let depthField = spec.depthField {
                    out = DocumentPaths.setting(depthField.components[...], to: .int64(depth), in: out)
                }
                bytes += out.approximateByteSize
                if bytes > Limits.blockingStageMemoryBytes {
                    throw FolioError(ErrorCode(rawValue: 40099), "$graphLookup reached maximum memory consumption")
                }
                results.append(.document(out))
                next += DocumentPaths.allValues(.document(doc), spec.connectFromField.components[...])
            }
            frontier = next
            depth += 1
        }
        var out = d
        out[spec.as] = .array(results)
        return out
    }
}

extension DocumentStream {
    func collect() throws(FolioError) -> [Document] {
        var out: [Document] = []
        while let d = try next() { out.append(d) }
        return out
    }
}
