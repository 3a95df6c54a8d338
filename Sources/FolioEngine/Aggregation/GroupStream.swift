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

    private func consume(_ input: any DocumentStream) throws(FolioError) {
        var index: [[UInt8]: Int] = [:]
        var bytes = 0
        var frozen = false
        var n = 0
        while let d = try input.next() {
            n += 1
            if n % 1024 == 0 { try Engine.checkDeadline(env.deadline) }
            let context = env.context(d)
            let id = try spec.key(context)
            let key = KeyString.encode(id.collated(spec.collator))
            let g: Int
            if let existing = index[key] {
                g = existing
            } else if frozen {
                try partition(for: key).write(document: d.bsonBytes())
                continue
            } else {
                g = ids.count
                index[key] = g
                ids.append(id)
                var fresh: [AccumulatorState] = []
                for (_, acc) in spec.accumulators { fresh.append(try acc.makeState(groupID: id, context: context)) }
                states.append(fresh)
                bytes += GroupStream.groupOverheadBytes(keyBytes: key.count, accumulators: fresh.count) + id.approximateByteSize
            }
            for j in states[g].indices {
                let before = states[g][j].memoryBytes
                try states[g][j].add(context)
                bytes += states[g][j].memoryBytes - before
            }
            if bytes > env.blockingStageMemoryBytes && !frozen {
                guard env.allowDiskUse else {
                    throw FolioError(.queryExceededMemoryLimitNoDiskUseAllowed,
                                     "Exceeded memory limit for $group, but didn't allow external sort. Pass allowDiskUse:true to opt in.")
                }
                frozen = true
            }
        }
        for case let writer? in partitions { pendingPartitions.append(try writer.finish()) }
        partitions = []
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
