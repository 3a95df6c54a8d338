import FolioBSON
import FolioQuery
import Synchronization
import FolioLocks

/// The server parameters `getParameter` reads and `setParameter` changes, each one honoured
/// where MongoDB honours it (the TTL monitor, the cursor sweeper, the sort budget, the log).
/// Parameters Folio has no behaviour for are not listed, so setting one is refused instead of
/// being stored and ignored.
package final class ServerParameters: Sendable {
    package struct Values: Sendable {
        package var ttlMonitorEnabled = true
        package var ttlMonitorSleepSecs: Int32 = 60
        package var cursorTimeoutMillis: Int64 = 600_000
        var internalQueryMaxBlockingSortMemoryUsageBytes: Int32 = Int32(Limits.blockingStageMemoryBytes)
        package var transactionLifetimeLimitSeconds: Int32 = 60
        /// How long snapshots kept for reads at a point in time stay (Engine.snapshotRead).
        package var minSnapshotHistoryWindowInSeconds: Int32 = 300
    }

    let values: Locked<Values>
    /// `--enable-test-commands`: read-only, as MongoDB's startup-only parameter.
    let enableTestCommands: Bool
    /// logLevel and logComponentVerbosity live in the log itself.
    let log: ServerLog

    init(ttlMonitorSleepSecs: Int32 = 60, enableTestCommands: Bool = false, log: ServerLog = .discarding()) {
        var v = Values()
        v.ttlMonitorSleepSecs = ttlMonitorSleepSecs
        values = Locked(v)
        self.enableTestCommands = enableTestCommands
        self.log = log
    }

    package var current: Values { values.withLock { $0 } }

    /// A parameter's current value and whether it can change at runtime.
    struct Parameter: Sendable {
        let get: @Sendable (ServerParameters) -> BSON
        /// Sets a new value; nil for parameters fixed at startup.
        let set: (@Sendable (ServerParameters, BSON) throws(FolioError) -> Void)?
    }

    /// featureCompatibilityVersion and authenticationMechanisms are reported for drivers and
    /// tools; the rest are the parameters Folio has behaviour for.
    static let all: [(name: String, parameter: Parameter)] = [
        ("authenticationMechanisms", Parameter(get: { _ in ["SCRAM-SHA-1", "SCRAM-SHA-256"] }, set: nil)),
        ("cursorTimeoutMillis", Parameter(get: { .int64($0.current.cursorTimeoutMillis) }, set: { p, v throws(FolioError) in
            let n = try long(v, "cursorTimeoutMillis")
            p.values.withLock { $0.cursorTimeoutMillis = n }
        })),
        ("enableTestCommands", Parameter(get: { .bool($0.enableTestCommands) }, set: nil)),
        ("featureCompatibilityVersion", Parameter(get: { _ in ["version": "8.0"] }, set: nil)),
        ("internalQueryMaxBlockingSortMemoryUsageBytes", Parameter(
            get: { .int32($0.current.internalQueryMaxBlockingSortMemoryUsageBytes) },
            set: { p, v throws(FolioError) in
                let n = try int(v, "internalQueryMaxBlockingSortMemoryUsageBytes")
                guard n >= 0 else { throw FolioError(.badValue, "internalQueryMaxBlockingSortMemoryUsageBytes must be >= 0") }
                p.values.withLock { $0.internalQueryMaxBlockingSortMemoryUsageBytes = n }
            })),
        ("logComponentVerbosity", Parameter(get: { .document($0.log.componentVerbosity) }, set: { p, v throws(FolioError) in
            guard case .document(let spec) = v else {
                throw FolioError(.typeMismatch, "Invalid value for parameter logComponentVerbosity: \(v) is not an object")
            }
            try p.log.setComponentVerbosity(spec)
        })),
        ("logLevel", Parameter(get: { .int32(Int32($0.log.level)) }, set: { p, v throws(FolioError) in
            let n = try int(v, "logLevel")
            guard (0...5).contains(n) else { throw FolioError(.badValue, "logLevel must be between 0 and 5") }
            p.log.setLevel(Int(n))
        })),
        ("minSnapshotHistoryWindowInSeconds", Parameter(get: { .int32($0.current.minSnapshotHistoryWindowInSeconds) },
                                                        set: { p, v throws(FolioError) in
            let n = try int(v, "minSnapshotHistoryWindowInSeconds")
            guard n >= 0 else { throw FolioError(.badValue, "minSnapshotHistoryWindowInSeconds must be greater than or equal to 0") }
            p.values.withLock { $0.minSnapshotHistoryWindowInSeconds = n }
        })),
        ("transactionLifetimeLimitSeconds", Parameter(get: { .int32($0.current.transactionLifetimeLimitSeconds) },
                                                      set: { p, v throws(FolioError) in
            let n = try int(v, "transactionLifetimeLimitSeconds")
            guard n >= 1 else { throw FolioError(.badValue, "transactionLifetimeLimitSeconds must be greater than or equal to 1s") }
            p.values.withLock { $0.transactionLifetimeLimitSeconds = n }
        })),
        ("ttlMonitorEnabled", Parameter(get: { .bool($0.current.ttlMonitorEnabled) }, set: { p, v throws(FolioError) in
            let b = try bool(v, "ttlMonitorEnabled")
            p.values.withLock { $0.ttlMonitorEnabled = b }
        })),
        ("ttlMonitorSleepSecs", Parameter(get: { .int32($0.current.ttlMonitorSleepSecs) }, set: { p, v throws(FolioError) in
            let n = try int(v, "ttlMonitorSleepSecs")
            guard n >= 1 else { throw FolioError(.badValue, "ttlMonitorSleepSecs must be at least 1") }
            p.values.withLock { $0.ttlMonitorSleepSecs = n }
        })),
    ]

    static func parameter(_ name: String) -> Parameter? { all.first { $0.name == name }?.parameter }

    private static func int(_ v: BSON, _ name: String) throws(FolioError) -> Int32 {
        guard v.isNumber, let n = v.exactInt64, let i = Int32(exactly: n) else {
            throw FolioError(.badValue, "Invalid value for parameter \(name): \(v) is not a 32-bit integer")
        }
        return i
    }

    private static func long(_ v: BSON, _ name: String) throws(FolioError) -> Int64 {
        guard v.isNumber, let n = v.exactInt64 else {
            throw FolioError(.badValue, "Invalid value for parameter \(name): \(v) is not a 64-bit integer")
        }
        return n
    }

    private static func bool(_ v: BSON, _ name: String) throws(FolioError) -> Bool {
        switch v {
        case .bool(let b): return b
        case let n where n.isNumber: return n.isTruthy
        default: throw FolioError(.badValue, "Invalid value for parameter \(name): \(v) is not a boolean")
        }
    }
}
