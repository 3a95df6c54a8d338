import FolioBSON
import FolioEngine
import FolioQuery
import Synchronization
import FolioLocks

/// A database's limits, set with `setDatabaseQuota` (a Folio command; MongoDB has none) and
/// shown by `dbStats`.
struct DatabaseQuota: Sendable, Equatable {
    /// Most bytes of documents (BSON) the database may hold.
    var maxStorageBytes: Int64?
    /// Most documents the database may hold.
    var maxDocuments: Int64?
    /// Most connections one of the database's users may have authenticated at once.
    var maxConnectionsPerUser: Int64?
    /// Most commands per second on the database (a token bucket with a second's burst).
    var maxOperationsPerSecond: Int64?

    static let fields = ["maxStorageBytes", "maxDocuments", "maxConnectionsPerUser", "maxOperationsPerSecond"]

    var isEmpty: Bool { self == DatabaseQuota() }

    var document: Document {
        var d = Document()
        for (name, value) in [("maxStorageBytes", maxStorageBytes), ("maxDocuments", maxDocuments),
                              ("maxConnectionsPerUser", maxConnectionsPerUser), ("maxOperationsPerSecond", maxOperationsPerSecond)] {
            if let value { d.append(name, .int64(value)) }
        }
        return d
    }

    /// Reads the limits of a `setDatabaseQuota` command or a stored quota: each a positive
    /// integer, or null/0 for none.
    init(parsing d: Document) throws(FolioError) {
        func limit(_ name: String) throws(FolioError) -> Int64? {
            guard let v = d[name], v.type != .null else { return nil }
            guard v.isNumber, let n = v.exactInt64, n >= 0 else {
                throw FolioError(.badValue, "\(name) must be a non-negative integer or null")
            }
            return n == 0 ? nil : n
        }
        maxStorageBytes = try limit("maxStorageBytes")
        maxDocuments = try limit("maxDocuments")
        maxConnectionsPerUser = try limit("maxConnectionsPerUser")
        maxOperationsPerSecond = try limit("maxOperationsPerSecond")
    }

    init() {}
}

/// The quotas of every database, enforced before commands run: writes over a storage or
/// document quota answer as MongoDB Atlas does for its quota'd tiers (8000 AtlasError), reads
/// and deletes go on; over the rate a command waits up to `rateWait` for a token, then answers
/// 449 RateLimitExceeded, labelled retryable.
package final class QuotaRegistry: Sendable {
    static let namespace = try! Namespace(database: "admin", collection: "system.quotas")
    static let overQuota = ErrorCode(rawValue: 8000)
    /// How long a command waits for the rate's next token before it is refused.
    static let rateWait: Duration = .milliseconds(100)

    struct Usage: Sendable {
        /// Bytes of documents when last measured, and bytes inserted since.
        var measuredBytes: Int64 = 0
        var insertedSince: Int64 = 0
        var measuredAt: ContinuousClock.Instant? = nil
        var tokens: Double = 0
        var refilledAt: ContinuousClock.Instant = .now
    }

    let engine: Engine
    private let quotas = Locked<[String: DatabaseQuota]>([:])
    private let usage = Locked<[String: Usage]>([:])
    /// Whether any quota is set (the per-command check costs one atomic load otherwise).
    private let any = Atomic<Bool>(false)

    init(engine: Engine) {
        self.engine = engine
        let stored = (try? engine.find(QuotaRegistry.namespace, FindRequest()).all()) ?? []
        var map: [String: DatabaseQuota] = [:]
        for raw in stored {
            let d = raw.document()
            if case .string(let db)? = d["_id"], let q = try? DatabaseQuota(parsing: d), !q.isEmpty { map[db] = q }
        }
        quotas.withLock { $0 = map }
        any.store(!map.isEmpty, ordering: .releasing)
    }

    func quota(_ db: String) -> DatabaseQuota? {
        guard any.load(ordering: .acquiring) else { return nil }
        return quotas.withLock { $0[db] }
    }

    var databasesWithStorageQuotas: [String] {
        quotas.withLock { $0.filter { $0.value.maxStorageBytes != nil }.map(\.key) }
    }

    /// Sets (or, when empty, removes) a database's quota, durably.
    func set(_ db: String, _ quota: DatabaseQuota) throws(FolioError) {
        if quota.isEmpty {
            _ = try engine.delete(QuotaRegistry.namespace, [DeleteStatement(filter: ["_id": .string(db)], limitOne: true)],
                                  options: WriteOptions(durable: true))
        } else {
            var d: Document = ["_id": .string(db)]
            for (k, v) in quota.document { d.append(k, v) }
            let result = try engine.update(QuotaRegistry.namespace, [UpdateStatement(filter: ["_id": .string(db)], update: .document(d), upsert: true)],
                                           options: WriteOptions(durable: true))
            if let e = result.writeErrors.first { throw e.error }
        }
        quotas.withLock { map in
            if quota.isEmpty { map[db] = nil } else { map[db] = quota }
            any.store(!map.isEmpty, ordering: .releasing)
        }
        usage.withLock { $0[db]?.measuredAt = nil }
        if quota.maxStorageBytes != nil { measure(db) }
    }

    /// Measures a database's document bytes (a scan of its collections; run in the background
    /// every few seconds for databases with a storage quota, not per write).
    func measure(_ db: String) {
        var bytes: Int64 = 0
        for c in engine.collections(in: db) {
            guard let ns = try? Namespace(database: db, collection: c.name), let stats = try? engine.statistics(ns) else { continue }
            bytes += Int64(stats.dataBytes)
        }
        usage.withLock { u in
            u[db, default: Usage()].measuredBytes = bytes
            u[db, default: Usage()].insertedSince = 0
            u[db, default: Usage()].measuredAt = .now
        }
    }

    /// Measures every database that has a storage quota (the sweeper's timer).
    package func measureAll() {
        for db in databasesWithStorageQuotas { measure(db) }
    }

    /// Document bytes the database holds as far as known (the last measure plus what was inserted since).
    func storageBytes(_ db: String) -> Int64 {
        usage.withLock { u in (u[db]?.measuredBytes ?? 0) + (u[db]?.insertedSince ?? 0) }
    }

    func documents(_ db: String) -> Int64 {
        var n: Int64 = 0
        for c in engine.collections(in: db) {
            if let ns = try? Namespace(database: db, collection: c.name), let count = try? engine.estimatedCount(ns) { n += Int64(count) }
        }
        return n
    }

    /// Commands that add data (a storage or document quota refuses them).
    static let growingCommands: Set<String> = ["insert", "update", "findAndModify", "bulkWrite", "create", "createIndexes",
                                              "renameCollection", "cloneCollectionAsCapped", "convertToCapped", "aggregate"]

    /// Checks the database's quota before a command: waits for a rate token, refuses a
    /// growing write over a storage or document quota.
    func check(_ r: CommandRequest, canonical: String) throws(FolioError) {
        guard let quota = quota(r.database) else { return }
        if let rate = quota.maxOperationsPerSecond { try takeToken(r.database, rate: Double(rate)) }
        guard QuotaRegistry.growingCommands.contains(canonical) else { return }
        if canonical == "aggregate" {
            // Only a pipeline that writes ($out, $merge) grows the database.
            let last = r.body["pipeline"]?.arrayValue?.last?.documentValue?.fieldNames.first
            guard last == "$out" || last == "$merge" else { return }
        }
        if let max = quota.maxStorageBytes {
            let used = storageBytes(r.database)
            if used >= max {
                throw FolioError(QuotaRegistry.overQuota,
                                 "you are over your space quota, using \(used >> 20) MB of \(max >> 20) MB (\(used) of \(max) bytes)")
            }
        }
        if let max = quota.maxDocuments {
            let count = documents(r.database)
            let adding = Int64(r.body["documents"]?.arrayValue?.count ?? 0)
            if count >= max || count + adding > max {
                throw FolioError(QuotaRegistry.overQuota,
                                 "you are over your document quota, \(count) documents of \(max) (this write adds \(adding))")
            }
        }
    }

    /// Notes bytes an insert added (until the next measure).
    func inserted(_ db: String, bytes: Int64) {
        guard quota(db)?.maxStorageBytes != nil else { return }
        usage.withLock { $0[db, default: Usage()].insertedSince += bytes }
    }

    /// Takes a token from the database's bucket, waiting up to `rateWait` for one.
    func takeToken(_ db: String, rate: Double) throws(FolioError) {
        let deadline = ContinuousClock.now + QuotaRegistry.rateWait
        while true {
            let wait: Duration? = usage.withLock { u in
                var s = u[db] ?? Usage(tokens: rate)
                let now = ContinuousClock.now
                let elapsed = now - s.refilledAt
                let seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
                s.tokens = min(rate, s.tokens + seconds * rate)
                s.refilledAt = now
                defer { u[db] = s }
                if s.tokens >= 1 {
                    s.tokens -= 1
                    return nil
                }
                return .nanoseconds(Int64((1 - s.tokens) / rate * 1e9))
            }
            guard let wait else { return }
            if ContinuousClock.now + wait > deadline {
                var error = FolioError(ErrorCode(rawValue: 449),
                                       "Rate limit exceeded: database \(db) allows \(Int(rate)) operations per second; retry later")
                error.labels = ["SystemOverloadedError", "RetryableError"]
                throw error
            }
            let nanos = wait.components.seconds * 1_000_000_000 + wait.components.attoseconds / 1_000_000_000
            var ts = timespec(tv_sec: Int(nanos / 1_000_000_000), tv_nsec: Int(nanos % 1_000_000_000))
            nanosleep(&ts, nil)
        }
    }
}

#if canImport(Glibc)
import Glibc
#endif
