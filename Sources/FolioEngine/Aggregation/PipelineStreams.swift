import FolioBSON
import FolioQuery

// The aggregation executor: each stage is a pull-based stream over owned documents.
// Streaming stages transform one document at a time; blocking stages ($group, $sort,
// $bucketAuto, $facet, $sample) read their whole input on the first pull, within the
// 100 MB budget of a blocking stage ($sort spills to disk when allowed).

/// A stream of documents.
protocol DocumentStream: AnyObject {
    func next() throws(FolioError) -> Document?
}

/// What every stage of one aggregate command shares.
struct PipelineEnvironment {
    let engine: Engine
    let database: String
    let now: Int64
    let allowDiskUse: Bool
    let deadline: ContinuousClock.Instant?
    let bypassDocumentValidation: Bool
    let hostStages: (@Sendable (String, Document) throws(FolioError) -> [Document])?
    var blockingStageMemoryBytes = Limits.blockingStageMemoryBytes
    /// `$sort`'s budget.
    var sortMemoryBytes = Limits.blockingStageMemoryBytes
    /// The command's collation (nil: binary).
    var collator: (any Collator)?
    /// See AggregateRequest.views.
    var views: (@Sendable (Namespace) throws(FolioError) -> (source: Namespace, pipeline: [BSON])?)?

    /// The view `ns` names (nil: a collection, or no views here).
    func view(_ ns: Namespace) throws(FolioError) -> (source: Namespace, pipeline: [BSON])? {
        try views?(ns)
    }

    /// The context for evaluating expressions over one input document (which starts the
    /// memory meter of that document's evaluation over).
    func context(_ document: Document) -> EvaluationContext {
        OperationInterrupt.beginDocument()
        return EvaluationContext(root: document, variables: [:], now: now)
    }

    func namespace(_ collection: String, database: String? = nil) throws(FolioError) -> Namespace {
        try Namespace(database: database ?? self.database, collection: collection)
    }
}

final class ArrayStream: DocumentStream {
    var documents: [Document]
    var position = 0
    init(_ documents: [Document]) { self.documents = documents }
    func next() throws(FolioError) -> Document? {
        guard position < documents.count else { return nil }
        defer { position += 1 }
        return documents[position]
    }
}

/// Reads a collection through a find cursor (the pushed-down leading `$match`).
final class CursorStream: DocumentStream {
    let cursor: Cursor
    /// When set, only these top-level fields are decoded (the pipeline reads nothing else).
    let fields: [String]?
    var buffer: [RawDocument] = []
    var position = 0
    init(_ cursor: Cursor, fields: Set<String>? = nil) {
        self.cursor = cursor
        self.fields = fields.map { Array($0).sorted() }
    }
    func next() throws(FolioError) -> Document? {
        guard let raw = try nextRaw() else { return nil }
        if let fields { return raw.document(onlyFields: fields) }
        return raw.document()
    }

    /// The next document as stored, undecoded (for stages that read a few fields of it).
    func nextRaw() throws(FolioError) -> RawDocument? {
        if position == buffer.count {
            guard !cursor.isExhausted else { return nil }
            buffer = try cursor.next(maxCount: 256, maxBytes: .max)
            position = 0
            guard !buffer.isEmpty else { return nil }
        }
        defer { position += 1 }
        return buffer[position]
    }
}

/// One-document-at-a-time stages.
final class MapStream: DocumentStream {
    let input: any DocumentStream
    let transform: (Document) throws(FolioError) -> Document?
    init(_ input: any DocumentStream, _ transform: @escaping (Document) throws(FolioError) -> Document?) {
        self.input = input
        self.transform = transform
    }
    func next() throws(FolioError) -> Document? {
        while let d = try input.next() {
            if let out = try transform(d) { return out }
        }
        return nil
    }
}

/// Stages that turn one document into several (`$unwind`, `$lookup` results are one-to-one
/// but share the shape).
final class FlatMapStream: DocumentStream {
    let input: any DocumentStream
    let transform: (Document) throws(FolioError) -> [Document]
    var pending: [Document] = []
    var position = 0
    init(_ input: any DocumentStream, _ transform: @escaping (Document) throws(FolioError) -> [Document]) {
        self.input = input
        self.transform = transform
    }
    func next() throws(FolioError) -> Document? {
        while position == pending.count {
            guard let d = try input.next() else { return nil }
            pending = try transform(d)
            position = 0
        }
        defer { position += 1 }
        return pending[position]
    }
}

final class LimitStream: DocumentStream {
    let input: any DocumentStream
    var remaining: Int64
    init(_ input: any DocumentStream, _ limit: Int64) { self.input = input; remaining = limit }
    func next() throws(FolioError) -> Document? {
        guard remaining > 0 else { return nil }
        remaining -= 1
        return try input.next()
    }
}

final class SkipStream: DocumentStream {
    let input: any DocumentStream
    var remaining: Int64
    init(_ input: any DocumentStream, _ skip: Int64) { self.input = input; remaining = skip }
    func next() throws(FolioError) -> Document? {
        while remaining > 0 {
            remaining -= 1
            guard try input.next() != nil else { return nil }
        }
        return try input.next()
    }
}

/// A stream whose contents are computed from its whole input on the first pull.
final class BlockingStream: DocumentStream {
    var produce: (() throws(FolioError) -> [Document])?
    var output: ArrayStream?
    init(_ produce: @escaping () throws(FolioError) -> [Document]) { self.produce = produce }
    func next() throws(FolioError) -> Document? {
        if output == nil, let produce {
            output = ArrayStream(try produce())
            self.produce = nil
        }
        return try output?.next()
    }
}

/// `$sort`, spilling to disk past the memory budget; with a following `$limit`, a top-k
/// that keeps only k documents.
final class SortStream: DocumentStream {
    let input: any DocumentStream
    let spec: SortSpec
    let limit: Int64?
    let environment: PipelineEnvironment
    var output: SortedOutput?
    var topK: ArrayStream?

    init(_ input: any DocumentStream, spec: SortSpec, limit: Int64?, environment: PipelineEnvironment) {
        self.input = input
        self.spec = spec
        self.limit = limit
        self.environment = environment
    }

    func next() throws(FolioError) -> Document? {
        if let topK { return try topK.next() }
        if let output { return output.next()?.document() }
        if let limit, limit <= 100_000 {
            topK = ArrayStream(try topKSort(Int(limit)))
            return try topK!.next()
        }
        let spec = self.spec
        output = try sortInput(input, spec: spec, environment, memoryLimitBytes: environment.sortMemoryBytes) { d in spec.sortKey(for: d) }.output
        return output!.next()?.document()
    }

    /// Keeps the best `k` documents seen so far (ties keep input order).
    func topKSort(_ k: Int) throws(FolioError) -> [Document] {
        var kept: [(key: [BSON], seq: Int, doc: Document)] = []
        var seq = 0
        let spec = self.spec
        func before(_ a: (key: [BSON], seq: Int, doc: Document), _ b: (key: [BSON], seq: Int, doc: Document)) -> Bool {
            let c = spec.compare(a.key, b.key)
            return c != 0 ? c < 0 : a.seq < b.seq
        }
        while let d = try input.next() {
            seq += 1
            if seq % 1024 == 0 { try Engine.checkDeadline(environment.deadline) }
            let item = (key: spec.sortKey(for: d), seq: seq, doc: d)
            if kept.count == k, let worst = kept.last, !before(item, worst) { continue }
            // Binary insertion keeps `kept` ordered; k is small compared with the input.
            var lo = 0, hi = kept.count
            while lo < hi {
                let mid = (lo + hi) / 2
                if before(kept[mid], item) { lo = mid + 1 } else { hi = mid }
            }
            kept.insert(item, at: lo)
            if kept.count > k { kept.removeLast() }
        }
        return kept.map(\.doc)
    }
}
