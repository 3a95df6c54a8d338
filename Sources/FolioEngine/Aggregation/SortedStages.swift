import FolioBSON
import FolioQuery

// Blocking stages that work on their input in an order of their own — $bucketAuto (by the
// groupBy value), $setWindowFields (by partition, then sortBy) and $densify (by partition,
// then the densified value) — sort it through the external sorter with a key they compute,
// so past the blocking-stage budget the input spills to disk like $sort's (allowDiskUse;
// 292 otherwise), and then stream over the sorted order.

/// Sorts a stage's whole input by a computed key (one value per key of `spec`, which gives
/// their directions) within the environment's budget.
func sortInput(_ input: any DocumentStream, spec: SortSpec, _ env: PipelineEnvironment, memoryLimitBytes: Int? = nil,
               key: (Document) throws(FolioError) -> [BSON]) throws(FolioError) -> (output: SortedOutput, count: Int) {
    let sorter = ExternalSorter(spec: spec, memoryLimitBytes: memoryLimitBytes ?? env.blockingStageMemoryBytes, allowDiskUse: env.allowDiskUse)
    var n = 0
    while let d = try input.next() {
        n += 1
        if n % 1024 == 0 { try Engine.checkDeadline(env.deadline) }
        try sorter.add(RawDocument(trusted: d.bsonBytes()), key: try key(d))
    }
    return (try sorter.finish(), n)
}

/// A stage over its input sorted by a key it computes: `produce` is handed the sorted
/// output (and the number of input documents) and returns the next batch of results, nil
/// at the end.
final class SortedStageStream: DocumentStream {
    typealias Key = (Document) throws(FolioError) -> [BSON]
    typealias Produce = (SortedOutput, Int) throws(FolioError) -> [Document]?

    private var input: (any DocumentStream)?
    private let env: PipelineEnvironment
    /// The directions of the key's values (their paths are unused).
    private let order: SortSpec
    private let key: Key
    private let produce: Produce
    private var sorted: SortedOutput?
    private var count = 0
    private var output = ArrayStream([])

    init(_ input: any DocumentStream, _ env: PipelineEnvironment, directions: [Bool], key: @escaping Key, produce: @escaping Produce) {
        self.input = input
        self.env = env
        order = SortSpec(keys: directions.map { SortSpec.Key(path: FieldPath("k"), ascending: $0) })
        self.key = key
        self.produce = produce
    }

    func next() throws(FolioError) -> Document? {
        if let input {
            (sorted, count) = try sortInput(input, spec: order, env, key: key)
            self.input = nil
        }
        while true {
            if let d = try output.next() { return d }
            guard let sorted, let batch = try produce(sorted, count) else {
                self.sorted = nil
                return nil
            }
            output = ArrayStream(batch)
        }
    }

    /// `$bucketAuto`: sorted by the groupBy value, cut into buckets as it is read.
    static func bucketAuto(_ input: any DocumentStream, _ spec: BucketAutoSpec, _ env: PipelineEnvironment) -> SortedStageStream {
        var cutter: BucketAutoSpec.Cutter?
        return SortedStageStream(input, env, directions: [true], key: { d throws(FolioError) in
            [try spec.key(env.context(d))]
        }, produce: { sorted, count throws(FolioError) in
            if cutter == nil { cutter = BucketAutoSpec.Cutter(spec, count: count, variables: [:], now: env.now) }
            return try cutter!.next { () -> (BSON, Document)? in
                sorted.nextItem().map { ($0.key[0], $0.document.document()) }
            }.map { [$0] }
        })
    }

    /// `$setWindowFields`: sorted by (partition, sortBy), stably, then one partition at a
    /// time in memory. A single partition larger than the budget fails with 5414201. Under
    /// a collation, partitions and the order within them follow it.
    static func windowFields(_ input: any DocumentStream, _ spec: WindowSpec, _ env: PipelineEnvironment) -> SortedStageStream {
        var lookahead: ExternalSorter.Item?
        var started = false
        return SortedStageStream(input, env, directions: [true] + (spec.sortBy?.keys.map(\.ascending) ?? []), key: { d throws(FolioError) in
            [try spec.partitionKey(env.context(d)).collated(env.collator)] + (spec.sortBy?.sortKey(for: d) ?? [])
        }, produce: { sorted, _ throws(FolioError) in
            if !started {
                lookahead = sorted.nextItem()
                started = true
            }
            guard let first = lookahead else { return nil }
            var partition = [first.document.document()]
            var bytes = first.document.byteCount
            lookahead = sorted.nextItem()
            while let item = lookahead, BSON.compare(item.key[0], first.key[0]) == 0 {
                partition.append(item.document.document())
                bytes += item.document.byteCount
                if bytes > env.blockingStageMemoryBytes {
                    throw FolioError(ErrorCode(rawValue: 5414201), "Exceeded memory limit in DocumentSourceSetWindowFields: one partition holds more than \(env.blockingStageMemoryBytes) bytes")
                }
                lookahead = sorted.nextItem()
            }
            try Engine.checkDeadline(env.deadline)
            return try spec.apply(partition: partition, now: env.now)
        })
    }

    /// `$densify`: sorted by (has a value, partition, value), then walked once.
    static func densify(_ input: any DocumentStream, _ spec: DensifySpec, _ env: PipelineEnvironment) -> SortedStageStream {
        var low: BSON?, high: BSON?
        var walker: DensifySpec.Walker?
        var finished = false
        return SortedStageStream(input, env, directions: Array(repeating: true, count: spec.sortKeyCount), key: { d throws(FolioError) in
            let key = try spec.sortKey(d)
            if case .int32(1) = key[0], let v = key.last {
                if low.map({ BSON.compare(v, $0) < 0 }) ?? true { low = v }
                if high.map({ BSON.compare(v, $0) > 0 }) ?? true { high = v }
            }
            return key
        }, produce: { sorted, _ throws(FolioError) in
            if walker == nil { walker = DensifySpec.Walker(spec, low: low, high: high) }
            var batch: [Document] = []
            while batch.isEmpty && !finished {
                if let item = sorted.nextItem() {
                    try walker!.add(item.document.document(), key: item.key, into: &batch)
                } else {
                    try walker!.finish(into: &batch)
                    finished = true
                }
            }
            return batch.isEmpty ? nil : batch
        })
    }
}

/// `$facet`'s input, read once per facet: in memory within the budget, past it (with
/// allowDiskUse) in a temporary file that each facet reads from the start.
struct FacetInput {
    private var memory: [Document] = []
    private var file: RunReader?

    init(_ input: any DocumentStream, _ env: PipelineEnvironment) throws(FolioError) {
        var bytes = 0
        var spill: RunWriter?
        var n = 0
        while let d = try input.next() {
            n += 1
            if n % 1024 == 0 { try Engine.checkDeadline(env.deadline) }
            if let spill {
                try spill.write(document: d.bsonBytes())
                continue
            }
            memory.append(d)
            bytes += d.approximateByteSize
            if bytes > env.blockingStageMemoryBytes {
                guard env.allowDiskUse else {
                    throw FolioError(.queryExceededMemoryLimitNoDiskUseAllowed,
                                     "$facet exceeded the memory limit of \(env.blockingStageMemoryBytes) bytes, but did not opt in to spilling to disk")
                }
                let writer = try RunWriter()
                for m in memory { try writer.write(document: m.bsonBytes()) }
                memory = []
                spill = writer
            }
        }
        if let spill { file = try spill.finish() }
    }

    /// A fresh pass over the input.
    func source() throws(FolioError) -> Engine.Source {
        if let file { return .stream(PartitionStream(try file.reopened())) }
        return .documents(memory)
    }
}
