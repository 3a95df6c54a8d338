import Dispatch
import FolioBSON
import FolioEngine
import FolioQuery
import CoreMetrics
import Crypto
import Synchronization
import FolioLocks

/// The wire server's TLS context as commands see it: `rotateCertificates` reloads it.
package protocol CertificateReloading: Sendable {
    /// Reads the certificate files again; connections opened later use them.
    func reload() throws
}

/// Everything commands share: the engine, the configuration, open cursors, counters.
public final class ServerContext: Sendable {
    public let engine: Engine
    public let configuration: ServerConfiguration
    package let cursors = CursorRegistry()
    package let sessions = SessionRegistry()
    /// Multi-document transactions by session.
    package let transactions = TransactionRegistry()
    /// Commands running now (currentOp, killOp).
    package let operations: OperationRegistry
    /// Metrics for swift-metrics (Prometheus with `--metrics-port`).
    package let telemetry: ServerTelemetry
    /// The server's log.
    public let log: ServerLog
    /// getParameter/setParameter values.
    package let parameters: ServerParameters
    /// configureFailPoint's state (test servers only).
    let failPoints = FailPoints()
    /// Per-database profiling levels and filters (the `profile` command, system.profile).
    let profiler = Profiler()
    /// The connections and each one's state machine (handshake, authentication, requests).
    package let connections = ConnectionRegistry()
    /// Users, each connection's authentication, and whether commands are checked (`--auth`).
    let access: AccessControl
    /// Per-database quotas (`setDatabaseQuota`).
    package let quotas: QuotaRegistry
    /// The audit log (`--audit-log`), if any.
    let audit: AuditLog?
    /// The TLS context new connections get (nil without TLS; the wire server sets it when it
    /// starts); `rotateCertificates` replaces it.
    package let tls = Locked<(any CertificateReloading)?>(nil)
    /// Shuts the server down (the `shutdown` command); set by the wire server that runs this context.
    package let shutdownHandler = Locked<(@Sendable (Duration) -> Void)?>(nil)
    /// What serverStatus counts.
    package let metrics = ServerMetrics(commandNames: CommandDispatcher.commandNames)
    /// Identifies this server process in `topologyVersion`.
    let processID = ObjectID()
    let startedAtMilliseconds = Int64(ObjectID.currentSeconds()) * 1000
    let nextConnectionID = Atomic<Int32>(1)
    package let operationCounter = Atomic<Int64>(0)
    /// The address clients reach us at (hosts/primary/me in hello).
    public let advertisedAddress: String

    /// With `log` the server's log (by default one that keeps only the recent lines getLog returns).
    public init(engine: Engine, configuration: ServerConfiguration, log: ServerLog = .discarding(),
                metricsFactory: any MetricsFactory = NOOPMetricsHandler.instance, audit: AuditLog? = nil) {
        self.engine = engine
        self.telemetry = ServerTelemetry(factory: metricsFactory, commandNames: CommandDispatcher.commandNames)
        self.configuration = configuration
        self.log = log
        self.operations = OperationRegistry(maximumEvaluationBytes: configuration.maximumEvaluationBytes)
        self.parameters = ServerParameters(ttlMonitorSleepSecs: Int32(clamping: configuration.ttlMonitorSeconds),
                                           enableTestCommands: configuration.enableTestCommands, log: log)
        let host = configuration.advertiseHost ?? (configuration.bindAddress == "0.0.0.0" ? "localhost" : configuration.bindAddress)
        self.advertisedAddress = "\(host):\(configuration.port)"
        engine.setHostLabel(advertisedAddress)
        engine.changeLogRetention = configuration.changeLogRetention
        self.access = AccessControl(engine: engine, enabled: configuration.auth, connections: connections)
        self.quotas = QuotaRegistry(engine: engine)
        self.audit = audit
        if configuration.enableTestCommands {
            engine.indexBuildBeforeChunkCommit.withLock { [failPoints] in $0 = { try failPoints.pauseIndexBuild() } }
        }
        // The index builds the engine started again at its open are operations of their own
        // (as MongoDB's IndexBuildsCoordinator's): currentOp lists them, killOp stops them.
        var resumed: [OperationRegistry.Operation] = []
        for (i, build) in engine.resumingIndexBuilds.enumerated() {
            var command: Document = ["createIndexes": .string(build.namespace.collection),
                                     "indexes": .array(build.specifications.map(BSON.document))]
            command.append("$db", .string(build.namespace.database))
            if let op = operations.beginInternal("IndexBuildsCoordinatorMongod-\(i)", command, name: "createIndexes",
                                                 namespace: build.namespace.description, interrupt: build.interrupt) {
                resumed.append(op)
            }
        }
        resumedBuildOperations = Locked(resumed)
    }

    /// The operations of the index builds the engine started again, until they end.
    private let resumedBuildOperations: Locked<[OperationRegistry.Operation]>

    /// Logs the index builds the engine started again that ended since the last call, and
    /// ends their operations (the TTL monitor's tick calls it each second).
    package func noteEndedIndexBuilds() {
        for build in engine.takeResumedIndexBuilds() {
            let ns = build.namespace.description
            let ended = resumedBuildOperations.withLock { ops -> [OperationRegistry.Operation] in
                defer { ops.removeAll { $0.namespace == ns } }
                return ops.filter { $0.namespace == ns }
            }
            for op in ended { operations.end(op) }
            var attr: Document = ["namespace": .string(ns), "indexes": .array(build.indexNames.map { .string($0) })]
            if let error = build.error {
                attr.append("error", .string(error.message))
                attr.append("code", .int32(error.code.rawValue))
                log.log(.warning, .index, id: ServerLog.FolioID.indexBuildResumed, ctx: "IndexBuildsCoordinator",
                        "Index build started again at startup failed", attr: attr)
            } else {
                log.log(.info, .index, id: ServerLog.FolioID.indexBuildResumed, ctx: "IndexBuildsCoordinator",
                        "Index build started again at startup completed", attr: attr)
            }
        }
    }

    /// The periodic upkeep of a running server (every 4 seconds, as MongoDB's
    /// clientCursorMonitorFrequencySecs): idle cursors and sessions expire, transactions past
    /// their lifetime are aborted, old snapshot history goes, quotas are measured.
    package func sweepIdle() {
        cursors.expireIdle(timeoutMilliseconds: parameters.current.cursorTimeoutMillis)
        let expired = sessions.expire()
        cursors.kill(sessions: expired)
        transactions.end(expired)
        transactions.expire(lifetimeSeconds: Int(parameters.current.transactionLifetimeLimitSeconds))
        engine.expireSnapshotHistory(windowSeconds: Int(parameters.current.minSnapshotHistoryWindowInSeconds))
        quotas.measureAll()
    }

    /// An operation as currentOp and `$currentOp` show it; a createIndexes with the progress
    /// of its build.
    func report(_ op: OperationRegistry.Operation) -> Document {
        var build: IndexBuildProgress?
        if op.commandName == "createIndexes", let ns = try? Namespace(parsing: op.namespace) { build = engine.indexBuildProgress(ns) }
        return op.report(host: advertisedAddress, indexBuild: build)
    }

    /// The application name the connection's handshake gave (client.application.name).
    func applicationName(of connection: Int32) -> String? { connections.read(connection) { $0.handshake.applicationName } }

    package func newConnectionID() -> Int32 { nextConnectionID.wrappingAdd(1, ordering: .relaxed).oldValue }

    /// A cluster time that moves forward with every command (seconds, counter).
    /// The cluster time replies carry: the engine's latest commit (see ClusterClock). Also
    /// counts the operation (the idle-memory watch reads the count).
    func clusterTime() -> Timestamp {
        operationCounter.wrappingAdd(1, ordering: .relaxed)
        return engine.clusterTime
    }
}

/// Open cursors by id, with their namespace and last use (idle ones expire after
/// `cursorTimeoutMillis`, 10 minutes by default, unless opened with `noCursorTimeout`).
package final class CursorRegistry: Sendable {
    struct Entry: Sendable {
        let cursor: Cursor
        let namespace: String
        var lastUsed: ContinuousClock.Instant
        /// The logical session that opened the cursor (its `lsid.id` bytes).
        var session: [UInt8]? = nil
        /// The Stable API parameters of the command that opened it (its getMores must match).
        var api = APIParameters()
        /// `noCursorTimeout`: never closed for being idle.
        var noTimeout = false
        /// The read at a point in time the cursor reads (held until the cursor goes).
        var snapshotRead: SnapshotRead? = nil
        /// A tailable cursor's `awaitData`: a getMore at the end waits for new documents.
        var awaitData = false
        /// The users that opened it (`Authorization.ownerKey`; nil without access control):
        /// only they may continue or kill it.
        var owner: String? = nil
    }

    let entries = Locked<[Int64: Entry]>([:])
    /// Cursors opened and cursors closed for being idle, since startup (serverStatus).
    let opened = Atomic<Int64>(0)
    let timedOut = Atomic<Int64>(0)

    func register(_ cursor: Cursor, namespace: String, session: [UInt8]? = nil, api: APIParameters = APIParameters(),
                  noTimeout: Bool = false, snapshotRead: SnapshotRead? = nil, awaitData: Bool = false) -> Int64 {
        var g = SystemRandomNumberGenerator()
        opened.add(1, ordering: .relaxed)
        return entries.withLock { map in
            var id: Int64
            repeat { id = Int64.random(in: 1...Int64.max, using: &g) } while map[id] != nil
            map[id] = Entry(cursor: cursor, namespace: namespace, lastUsed: .now, session: session, api: api, noTimeout: noTimeout,
                            snapshotRead: snapshotRead, awaitData: awaitData, owner: Authorization.current?.ownerKey)
            return id
        }
    }

    /// Who opened cursor `id` (nil when it does not exist or was opened without access control).
    func owner(_ id: Int64) -> String?? {
        entries.withLock { map in map[id].map(\.owner) }
    }

    func take(_ id: Int64) -> Entry? {
        entries.withLock { map in
            guard var e = map[id] else { return nil }
            e.lastUsed = .now
            map[id] = e
            return e
        }
    }

    @discardableResult
    func remove(_ id: Int64) -> Bool {
        let e = entries.withLock { $0.removeValue(forKey: id) }
        e?.cursor.close()
        return e != nil
    }

    /// Closes the cursors idle for longer than `timeoutMilliseconds` (noCursorTimeout ones aside).
    package func expireIdle(timeoutMilliseconds: Int64) {
        let cutoff = ContinuousClock.now - .milliseconds(timeoutMilliseconds)
        let expired = entries.withLock { map -> [Entry] in
            let old = map.filter { !$0.value.noTimeout && $0.value.lastUsed < cutoff }
            for k in old.keys { map.removeValue(forKey: k) }
            return Array(old.values)
        }
        timedOut.add(Int64(expired.count), ordering: .relaxed)
        for e in expired { e.cursor.close() }
    }

    /// Open cursors opened with noCursorTimeout.
    var noTimeoutCount: Int { entries.withLock { $0.values.filter(\.noTimeout).count } }

    var count: Int { entries.withLock { $0.count } }

    /// Closes every open cursor (shutdown).
    package func closeAll() {
        let all = entries.withLock { map -> [Entry] in
            defer { map.removeAll() }
            return Array(map.values)
        }
        for e in all { e.cursor.close() }
    }

    /// Kills every cursor opened in one of `sessions`.
    package func kill(sessions: Set<[UInt8]>) {
        let killed = entries.withLock { map -> [Entry] in
            let hit = map.filter { $0.value.session.map(sessions.contains) ?? false }
            for k in hit.keys { map.removeValue(forKey: k) }
            return Array(hit.values)
        }
        for e in killed { e.cursor.close() }
    }
}

/// Logical sessions this server has seen (`lsid` on any command), for `$listLocalSessions`,
/// cursor ownership and `endSessions`. Sessions expire after 30 idle minutes.
package final class SessionRegistry: Sendable {
    struct Session: Sendable {
        let id: BSON
        var lastUseMilliseconds: Int64
        /// The users that use the session (`UserName.ownerKey`), under access control.
        var owner: String? = nil
        /// `$listLocalSessions`' uid: SHA-256 of the first user's `user@db` (of "" without users).
        var uid: [UInt8] = SessionRegistry.anonymousUID
    }

    let sessions = Locked<[[UInt8]: Session]>([:])
    package static let timeoutMilliseconds: Int64 = 30 * 60 * 1000

    /// The key of an `lsid` document (its `id` UUID), nil when absent or malformed.
    static func key(_ lsid: BSON?) -> [UInt8]? {
        guard case .document(let d)? = lsid, case .binary(let b)? = d["id"] else { return nil }
        return b.data
    }

    func touch(_ lsid: BSON?) {
        guard let key = SessionRegistry.key(lsid), case .document(let d)? = lsid else { return }
        let now = Int64(ObjectID.currentSeconds()) * 1000
        sessions.withLock { map in
            if map[key] != nil { map[key]!.lastUseMilliseconds = now }
            else { map[key] = Session(id: d["id"]!, lastUseMilliseconds: now) }
        }
    }

    /// Under access control a session belongs to the users who first used it; another user's
    /// command naming it gets 13 (MongoDB keeps a session per user; Folio refuses the mix).
    func claim(_ key: [UInt8], by auth: Authorization) throws(FolioError) {
        let owner = auth.ownerKey
        let taken: Bool = sessions.withLock { map in
            guard var s = map[key] else { return false }
            if let current = s.owner { return current != owner }
            s.owner = owner
            if let first = auth.users.min() { s.uid = SessionRegistry.uid(first) }
            map[key] = s
            return false
        }
        if taken { throw FolioError(.unauthorized, "Cannot use a session that belongs to another user") }
    }

    /// The sessions of `keys` that `owner` may end (all of them without access control).
    func owned(_ keys: Set<[UInt8]>, by owner: String?) -> Set<[UInt8]> {
        guard let owner else { return keys }
        return sessions.withLock { map in keys.filter { map[$0]?.owner == nil || map[$0]?.owner == owner } }
    }

    /// MongoDB's uid of a user: SHA-256 of `user@db`.
    static func uid(_ user: UserName) -> [UInt8] { Array(SHA256.hash(data: Array("\(user.user)@\(user.db)".utf8))) }

    func end(_ keys: Set<[UInt8]>) {
        sessions.withLock { map in for k in keys { map.removeValue(forKey: k) } }
    }

    /// Removes sessions idle past the timeout and returns their keys.
    package func expire() -> Set<[UInt8]> {
        let cutoff = Int64(ObjectID.currentSeconds()) * 1000 - SessionRegistry.timeoutMilliseconds
        return sessions.withLock { map in
            let old = Set(map.filter { $0.value.lastUseMilliseconds < cutoff }.keys)
            for k in old { map.removeValue(forKey: k) }
            return old
        }
    }

    /// `$listLocalSessions` documents: every session, or those `owner` uses. Without
    /// authentication every session belongs to the same (empty) user, whose uid is SHA-256 of
    /// the empty string.
    func list(owner: String? = nil) -> [Document] {
        sessions.withLock { map in
            map.values.filter { owner == nil || $0.owner == owner }.sorted { $0.lastUseMilliseconds < $1.lastUseMilliseconds }.map { s in
                ["_id": ["id": s.id, "uid": .binary(Binary(data: s.uid))], "lastUse": .datetime(s.lastUseMilliseconds)]
            }
        }
    }

    static let anonymousUID: [UInt8] = [0xe3, 0xb0, 0xc4, 0x42, 0x98, 0xfc, 0x1c, 0x14, 0x9a, 0xfb, 0xf4, 0xc8, 0x99, 0x6f, 0xb9, 0x24,
                                        0x27, 0xae, 0x41, 0xe4, 0x64, 0x9b, 0x93, 0x4c, 0xa4, 0x95, 0x99, 0x1b, 0x78, 0x52, 0xb8, 0x55]
}
