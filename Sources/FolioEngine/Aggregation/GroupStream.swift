import FolioBSON
import FolioQuery

/// `$group` within the blocking-stage memory budget, spilling by partitioning its input.
///
/// Groups are kept in memory until the budget is reached. From then on (with allowDiskUse)
/// the set of groups is frozen: documents of a group already in memory still update it,
/// documents of any other group are written, in input order, to one of 16 partition files
/// chosen by a hash of the group key. Every document of a key therefore lands in exactly
/// one place, so the groups in memory are complete, and each partition is grouped on its own
/// afterwards (recursively, with a different hash, should it overflow again). Accumulator
/// states never need to be written or merged, and order-dependent accumulators ($first,
/// $last, $push, ...) see their group's documents in input order. Output streams: the groups
/// in memory, then each partition's.
final class GroupStream: DocumentStream {
    static let partitionCount = 16

    private var input: (any DocumentStream)?
    private let spec: GroupSpec
    private let env: PipelineEnvironment
    /// Partition files are chosen by a hash salted with the depth.
    private let depth: Int
    private var ids: [BSON] = []
    private var states: [[AccumulatorState]] = []
    private var position = 0
    private var partitions: [RunWriter?] = []
    private var pendingPartitions: [RunReader] = []
    private var nested: GroupStream?

    init(_ input: any DocumentStream, _ spec: GroupSpec, _ env: PipelineEnvironment, depth: Int = 0) {
        self.input = input
        self.spec = spec
        self.env = env
        self.depth = depth
    }

    func next() throws(FolioError) -> Document? {
        if let input {
            try consume(input)
            self.input = nil
        }
        if position < ids.count {
            defer { position += 1 }
            var d: Document = ["_id": ids[position]]
            for (j, (name, _)) in spec.accumulators.enumerated() { d.append(name, states[position][j].result()) }
            states[position] = []
            return d
        }
        while true {
            if let nested, let d = try nested.next() { return d }
            nested = nil
            guard !pendingPartitions.isEmpty else { return nil }
            let reader = pendingPartitions.removeFirst()
            nested = GroupStream(PartitionStream(reader), spec, env, depth: depth + 1)
        }
    }

    /// One pass over the input: the group of each key seen, the bytes held, and whether the
    /// set of groups is frozen (the budget is spent).
    private struct Pass {
        var index: [[UInt8]: Int] = [:]
        var bytes = 0
        var frozen = false
        var documents = 0
    }

    private func consume(_ input: any DocumentStream) throws(FolioError) {
        var pass = Pass()
        if let stored = input as? CursorStream, let inputs = spec.topLevelInputs {
            // Only top-level fields and constants are read: straight from the stored bytes,
            // with no document decoded and no expression evaluated.
            let noDocument = env.context(Document())
            while let raw = try stored.nextRaw() {
                try tick(&pass)
                guard let g = try group(inputs.id.value(in: raw) ?? .null, &pass, context: noDocument, spilled: { raw.bytes }) else { continue }
                for (j, input) in inputs.accumulators.enumerated() {
                    try update(g, j, &pass) { (state: inout AccumulatorState) throws(FolioError) in try state.add(value: input.value(in: raw)) }
                }
                try checkBudget(&pass)
            }
        } else {
            while let d = try input.next() {
                try tick(&pass)
                let context = env.context(d)
                guard let g = try group(try spec.key(context), &pass, context: context, spilled: { d.bsonBytes() }) else { continue }
                for j in states[g].indices {
                    try update(g, j, &pass) { (state: inout AccumulatorState) throws(FolioError) in try state.add(context) }
                }
                try checkBudget(&pass)
            }
        }
        for case let writer? in partitions { pendingPartitions.append(try writer.finish()) }
        partitions = []
    }

    /// Counts a document; checks the deadline every 1,024.
    private func tick(_ pass: inout Pass) throws(FolioError) {
        pass.documents += 1
        if pass.documents % 1024 == 0 { try Engine.checkDeadline(env.deadline) }
    }

    /// The group of `id`, made when new; nil when the groups are frozen and it is new (the
    /// document, `spilled()`, then goes to its key's partition file).
    private func group(_ id: BSON, _ pass: inout Pass, context: EvaluationContext, spilled: () -> [UInt8]) throws(FolioError) -> Int? {
        let key = KeyString.encode(id.collated(spec.collator))
        if let existing = pass.index[key] { return existing }
        if pass.frozen {
            try partition(for: key).write(document: spilled())
            return nil
        }
        let g = ids.count
        pass.index[key] = g
        ids.append(id)
        var fresh: [AccumulatorState] = []
        for (_, acc) in spec.accumulators { fresh.append(try acc.makeState(groupID: id, context: context)) }
        states.append(fresh)
        pass.bytes += GroupStream.groupOverheadBytes(keyBytes: key.count, accumulators: fresh.count) + id.approximateByteSize
        return g
    }

    /// Runs `add` on accumulator `j` of group `g`, counting the bytes it adds.
    private func update(_ g: Int, _ j: Int, _ pass: inout Pass,
                        _ add: (inout AccumulatorState) throws(FolioError) -> Void) throws(FolioError) {
        let before = states[g][j].memoryBytes
        try add(&states[g][j])
        pass.bytes += states[g][j].memoryBytes - before
    }

    /// Freezes the groups once they hold more than the budget (with allowDiskUse).
    private func checkBudget(_ pass: inout Pass) throws(FolioError) {
        guard pass.bytes > env.blockingStageMemoryBytes && !pass.frozen else { return }
        guard env.allowDiskUse else {
            throw FolioError(.queryExceededMemoryLimitNoDiskUseAllowed,
                             "Exceeded memory limit for $group, but didn't allow external sort. Pass allowDiskUse:true to opt in.")
        }
        pass.frozen = true
    }

    /// What one group costs besides its values: the key twice (the index and its array),
    /// dictionary and array slots, and the accumulator states themselves.
    static func groupOverheadBytes(keyBytes: Int, accumulators: Int) -> Int {
        2 * keyBytes + 160 + accumulators * (MemoryLayout<AccumulatorState>.stride + 48)
    }

    private func partition(for key: [UInt8]) throws(FolioError) -> RunWriter {
        if partitions.isEmpty { partitions = Array(repeating: nil, count: GroupStream.partitionCount) }
        // FNV-1a over the key, salted by the depth so a partition that overflows again
        // splits differently.
        var h: UInt64 = 0xcbf29ce484222325 ^ UInt64(depth &* 0x9E3779B9)
        for b in key { h = (h ^ UInt64(b)) &* 0x100000001b3 }
        let i = Int(h % UInt64(GroupStream.partitionCount))
        if let w = partitions[i] { return w }
        let w = try RunWriter()
        partitions[i] = w
        return w
    }
}

/// The documents of one spilled partition, in the order they were written.
final class PartitionStream: DocumentStream {
    let reader: RunReader
    init(_ reader: RunReader) { self.reader = reader }
    func next() throws(FolioError) -> Document? { reader.nextDocument() }
}
