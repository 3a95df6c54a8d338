import FolioBSON
import Synchronization
import FolioLocks

/// What query plans examined since startup, counted as MongoDB counts them: serverStatus's
/// `metrics.queryExecutor` (index keys and documents examined, collection scans) and
/// `metrics.operation.scanAndOrder` (plans with a blocking sort), and `$collStats`'s
/// `queryExecStats` (collection scans per collection). A plan is counted once, when its
/// cursor is exhausted or closed, or when a write has found its targets.
public final class QueryStatistics: Sendable {
    public let keysExamined = Atomic<Int64>(0)
    public let documentsExamined = Atomic<Int64>(0)
    public let collectionScans = Atomic<Int64>(0)
    public let tailableCollectionScans = Atomic<Int64>(0)
    public let blockingSorts = Atomic<Int64>(0)
    /// Collection scans per collection: all of them, and the tailable ones.
    private let perCollection = Locked<[Namespace: (total: Int64, tailable: Int64)]>([:])

    /// Counts one finished plan over `ns`.
    func record(_ root: PlanStage, _ ns: Namespace) {
        keysExamined.add(Int64(root.totalKeysExamined), ordering: .relaxed)
        documentsExamined.add(Int64(root.totalDocsExamined), ordering: .relaxed)
        if root.hasSort { blockingSorts.add(1, ordering: .relaxed) }
        if root.scansCollection { collectionScan(ns, tailable: false) }
    }

    /// Counts a collection scan (a tailable cursor is one).
    func collectionScan(_ ns: Namespace, tailable: Bool) {
        collectionScans.add(1, ordering: .relaxed)
        if tailable { tailableCollectionScans.add(1, ordering: .relaxed) }
        perCollection.withLock { all in
            all[ns, default: (0, 0)].total += 1
            if tailable { all[ns, default: (0, 0)].tailable += 1 }
        }
    }

    /// Forgets a dropped collection.
    func forget(_ ns: Namespace) { perCollection.withLock { _ = $0.removeValue(forKey: ns) } }

    /// `queryExecStats.collectionScans` of one collection: `{total, nonTailable}`.
    public func collectionScans(_ ns: Namespace) -> (total: Int64, nonTailable: Int64) {
        let c = perCollection.withLock { $0[ns] ?? (0, 0) }
        return (c.total, c.total - c.tailable)
    }
}

/// Operation latency per collection since startup (MongoDB's Top, as `$collStats`'
/// `latencyStats` reports it): the server adds each command's time to its collection, by kind,
/// with MongoDB's histogram buckets (powers of two to 2 ms, half steps to 2 s, powers of two
/// again beyond).
public final class LatencyStatistics: Sendable {
    public enum Kind: Int, Sendable, CaseIterable {
        case reads, writes, commands, transactions
        var name: String { ["reads", "writes", "commands", "transactions"][rawValue] }
    }

    struct Totals {
        var microseconds: Int64 = 0
        var operations: Int64 = 0
        var buckets = [Int64](repeating: 0, count: LatencyStatistics.lowerBounds.count)
    }

    private let perCollection = Locked<[Namespace: [Totals]]>([:])
    private static let zero = [Totals](repeating: Totals(), count: Kind.allCases.count)

    /// The buckets' inclusive lower bounds in microseconds: 0, 2, 4, ... 1024; then 2048,
    /// 3072, 4096, 6144, ... up to 2^21 (half steps); then 2^21 ... 2^40.
    static let lowerBounds: [Int64] = [0] + (1...10).map { Int64(1) << $0 }
        + (11..<21).flatMap { [Int64(1) << $0, Int64(3) << ($0 - 1)] } + (21...40).map { Int64(1) << $0 }

    /// The bucket a latency falls in.
    static func bucket(_ microseconds: Int64) -> Int {
        guard microseconds > 0 else { return 0 }
        let log2 = 63 - microseconds.leadingZeroBitCount
        if log2 < 11 { return log2 }
        if log2 < 21 { return 2 * log2 - 11 + (microseconds >= Int64(3) << (log2 - 1) ? 1 : 0) }
        return min(log2 + 10, lowerBounds.count - 1)
    }

    public init() {}

    /// Adds one operation of `kind` on `ns` that took `microseconds`.
    public func record(_ ns: Namespace, _ kind: Kind, microseconds: Int64) {
        let bucket = LatencyStatistics.bucket(microseconds)
        perCollection.withLock { all in
            // Changed in place: no copy of the totals per operation.
            all[ns, default: LatencyStatistics.zero][kind.rawValue].microseconds += microseconds
            all[ns, default: LatencyStatistics.zero][kind.rawValue].operations += 1
            all[ns, default: LatencyStatistics.zero][kind.rawValue].buckets[bucket] += 1
        }
    }

    /// `latencyStats` of one collection: `{reads, writes, commands, transactions}`, each
    /// `{latency: <total µs>, ops}`, after `histogram: [{micros, count}]` (the non-empty
    /// buckets, by lower bound) when `histograms` is set.
    public func document(_ ns: Namespace, histograms: Bool = false) -> Document {
        let totals = perCollection.withLock { $0[ns] } ?? LatencyStatistics.zero
        var out = Document()
        for kind in Kind.allCases {
            let t = totals[kind.rawValue]
            var d = Document()
            if histograms {
                let histogram: [BSON] = t.buckets.indices.filter { t.buckets[$0] > 0 }.map { i in
                    .document(["micros": .int64(LatencyStatistics.lowerBounds[i]), "count": .int64(t.buckets[i])])
                }
                d.append("histogram", .array(histogram))
            }
            d.append("latency", .int64(t.microseconds))
            d.append("ops", .int64(t.operations))
            out.append(kind.name, .document(d))
        }
        return out
    }

    /// Forgets a dropped collection.
    public func forget(_ ns: Namespace) { perCollection.withLock { _ = $0.removeValue(forKey: ns) } }
}
