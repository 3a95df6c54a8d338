import FolioBSON
import Synchronization

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
    private let perCollection = Mutex<[Namespace: (total: Int64, tailable: Int64)]>([:])

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
/// `latencyStats` reports it): the server adds each command's time to its collection, by kind.
public final class LatencyStatistics: Sendable {
    public enum Kind: Int, Sendable, CaseIterable {
        case reads, writes, commands, transactions
        var name: String { ["reads", "writes", "commands", "transactions"][rawValue] }
    }

    private let perCollection = Mutex<[Namespace: [(microseconds: Int64, operations: Int64)]]>([:])
    private static let zero: [(microseconds: Int64, operations: Int64)] = Array(repeating: (0, 0), count: Kind.allCases.count)

    public init() {}

    /// Adds one operation of `kind` on `ns` that took `microseconds`.
    public func record(_ ns: Namespace, _ kind: Kind, microseconds: Int64) {
        perCollection.withLock { all in
            // Changed in place: no copy of the totals per operation.
            all[ns, default: LatencyStatistics.zero][kind.rawValue].microseconds += microseconds
            all[ns, default: LatencyStatistics.zero][kind.rawValue].operations += 1
        }
    }

    /// `latencyStats` of one collection: `{reads, writes, commands, transactions}`, each
    /// `{latency: <total µs>, ops}`.
    public func document(_ ns: Namespace) -> Document {
        let totals = perCollection.withLock { $0[ns] } ?? LatencyStatistics.zero
        var out = Document()
        for kind in Kind.allCases {
            out.append(kind.name, ["latency": .int64(totals[kind.rawValue].microseconds), "ops": .int64(totals[kind.rawValue].operations)])
        }
        return out
    }

    /// Forgets a dropped collection.
    public func forget(_ ns: Namespace) { perCollection.withLock { _ = $0.removeValue(forKey: ns) } }
}
