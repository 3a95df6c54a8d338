import FolioEngine
import FolioBSON

/// How `folio serve` runs: where it listens and where its data lives.
public struct ServerConfiguration: Sendable, Equatable {
    /// The default port, MongoDB's.
    public static let defaultPort = 27017
    /// The default address: loopback only, so a fresh server is never exposed by accident.
    public static let defaultBindAddress = "127.0.0.1"
    /// The default data directory, relative to the working directory.
    public static let defaultDataPath = "./folio-data"
    /// The default replica-set name advertised to drivers.
    public static let defaultReplicaSetName = "rs0"

    public var port: Int
    public var bindAddress: String
    public var dataPath: String
    public var replicaSetName: String
    /// The host clients dial, when it differs from the bind address (`--advertise-host`).
    public var advertiseHost: String?
    /// Keep data in memory only (`--storage memory`).
    public var inMemory: Bool
    /// The most bytes expressions may build for one document before a command ends with 146
    /// (`OperationInterrupt.maximumEvaluationBytes`); the command fuzzer lowers it so a run that
    /// reaches the bound stays short.
    public var maximumEvaluationBytes: Int
    /// Seconds between TTL monitor passes at startup (`--ttl-monitor-seconds`, the
    /// `ttlMonitorSleepSecs` parameter).
    public var ttlMonitorSeconds: Int
    /// Test commands (`configureFailPoint`) and the `enableTestCommands` parameter
    /// (`--enable-test-commands`).
    public var enableTestCommands: Bool
    /// What the change log keeps (`--oplogSize`, `--oplogMinRetentionHours`).
    public var changeLogRetention = ChangeLogRetention.standard
    /// Access control (`--auth`): every command but the handshake and authentication needs an
    /// authenticated user with the privileges for it.
    public var auth = false
    /// TLS (`--tls-mode` and the certificate files).
    public var tls = TLSSettings()

    public init(port: Int = ServerConfiguration.defaultPort,
                bindAddress: String = ServerConfiguration.defaultBindAddress,
                dataPath: String = ServerConfiguration.defaultDataPath,
                replicaSetName: String = ServerConfiguration.defaultReplicaSetName,
                advertiseHost: String? = nil, inMemory: Bool = false,
                maximumEvaluationBytes: Int = Limits.maximumEvaluationBytes, ttlMonitorSeconds: Int = 60,
                enableTestCommands: Bool = false) {
        self.port = port
        self.bindAddress = bindAddress
        self.dataPath = dataPath
        self.replicaSetName = replicaSetName
        self.advertiseHost = advertiseHost
        self.inMemory = inMemory
        self.maximumEvaluationBytes = maximumEvaluationBytes
        self.ttlMonitorSeconds = ttlMonitorSeconds
        self.enableTestCommands = enableTestCommands
    }

    /// Why the configuration cannot be used, or nil when it can.
    public func validationError() -> String? {
        if !(0...65535).contains(port) { return "port \(port) is not between 0 and 65535" }
        if bindAddress.isEmpty { return "the bind address is empty" }
        if dataPath.isEmpty { return "the data path is empty" }
        if replicaSetName.isEmpty { return "the replica set name is empty" }
        if maximumEvaluationBytes <= 0 { return "the evaluation bound is not positive" }
        if !(1...Int(Int32.max)).contains(ttlMonitorSeconds) { return "the TTL monitor interval must be between 1 and \(Int32.max) seconds" }
        if changeLogRetention.maxBytes < 1 << 20 { return "the oplog size must be at least 1 MB" }
        if !(changeLogRetention.minRetentionHours >= 0) { return "the oplog's minimum retention must not be negative" }
        return tls.validationError()
    }
}
