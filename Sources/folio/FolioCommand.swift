import ArgumentParser
import FolioEngine
import FolioStorage
import Folio
import FolioServer
import FolioWire
import CoreMetrics
import NIOPosix
import Prometheus

#if canImport(Glibc)
import Glibc
#endif

@main
struct FolioCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "folio",
        abstract: "A document database that speaks MongoDB's wire protocol and query language.",
        version: FolioVersion.description,
        subcommands: [Serve.self, CrashWriter.self, CrashVerify.self, BenchScan.self, BenchAggregate.self, BenchIndex.self, BenchWrites.self, BenchVectors.self, NoopServer.self,
                      HostileCommands.self]
    )
}

struct Serve: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Run the server (default 127.0.0.1:27017, data in ./folio-data)."
    )

    @Option(help: "TCP port to listen on.")
    var port: Int = ServerConfiguration.defaultPort

    @Option(help: "Address to bind (loopback by default).")
    var bind: String = ServerConfiguration.defaultBindAddress

    @Option(help: "Data directory.")
    var dbpath: String = ServerConfiguration.defaultDataPath

    @Option(name: .customLong("replset-name"), help: "Replica set name advertised to drivers.")
    var replsetName: String = ServerConfiguration.defaultReplicaSetName

    @Option(name: .customLong("advertise-host"), help: "Host name drivers should use (hosts/primary/me in hello).")
    var advertiseHost: String?

    @Option(help: "Storage engine: sqlite (default) or memory (nothing is kept).")
    var storage: String = "sqlite"

    @Option(name: .customLong("ttl-monitor-seconds"), help: "How often the TTL monitor deletes expired documents (MongoDB: 60).")
    var ttlMonitorSeconds: Int = 60

    @Flag(name: .customLong("enable-test-commands"),
          help: "Allow test commands (configureFailPoint), as MongoDB's enableTestCommands; never in production.")
    var enableTestCommands = false

    @Option(name: .customLong("logpath"), help: "Append the log (MongoDB's JSON lines) to this file instead of standard error.")
    var logpath: String?

    @Flag(name: .customLong("quiet"), help: "Leave connection events out of the log.")
    var quiet = false

    @Flag(name: .short, help: "More verbose log (-v to -vvvvv: debug levels 1-5).")
    var verbose: Int

    @Option(name: .customLong("slowms"), help: "Log operations that take at least this many milliseconds (default 100).")
    var slowms: Int = 100

    @Option(name: .customLong("metrics-port"), help: "Serve Prometheus metrics at http://<bind>:<port>/metrics (off by default).")
    var metricsPort: Int?

    @Option(name: .customLong("record-cache-mb"),
            help: "Memory for documents read by _id and by index fetches, in MiB (0: none; given back when idle).")
    var recordCacheMB: Int = SQLiteStorageEngine.defaultRecordCacheBytes >> 20

    @Option(name: .customLong("oplogSize"), help: "The change log's (oplog's) largest size in MB (MongoDB's --oplogSize; default 990).")
    var oplogSizeMB: Int = ChangeLogRetention.standard.maxBytes >> 20

    @Option(name: .customLong("oplogMinRetentionHours"), help: "Hours the change log keeps entries even past its size (default 0).")
    var oplogMinRetentionHours: Double = 0

    @Flag(name: .customLong("auth"),
          help: "Access control: clients authenticate (SCRAM-SHA-256 or SCRAM-SHA-1) and need roles for what they run.")
    var auth = false

    @Option(name: [.customLong("tls-mode"), .customLong("tlsMode")],
            help: "TLS: disabled (default), allowTLS, preferTLS or requireTLS.")
    var tlsMode: String = "disabled"

    @Option(name: [.customLong("tls-certificate-key-file"), .customLong("tlsCertificateKeyFile")],
            help: "The server's certificate chain and private key (PEM, one file).")
    var tlsCertificateKeyFile: String?

    @Option(name: [.customLong("tls-ca-file"), .customLong("tlsCAFile")],
            help: "Certificate authorities for client certificates: clients are asked for one and it is verified.")
    var tlsCAFile: String?

    @Flag(name: [.customLong("tls-allow-connections-without-certificates"), .customLong("tlsAllowConnectionsWithoutCertificates")],
          help: "With --tls-ca-file, clients without a certificate are let in too.")
    var tlsAllowConnectionsWithoutCertificates = false

    @Flag(name: [.customLong("tls-allow-invalid-certificates"), .customLong("tlsAllowInvalidCertificates")],
          help: "Client certificates are neither requested nor verified.")
    var tlsAllowInvalidCertificates = false

    @Option(name: .customLong("audit-log"),
            help: "Append an audit log (JSON lines: authentications, refused commands, user and role changes, DDL) to this file.")
    var auditLog: String?

    func validate() throws {
        guard TLSSettings.Mode(rawValue: tlsMode) != nil else {
            throw ValidationError("--tls-mode must be one of \(TLSSettings.Mode.allCases.map(\.rawValue).joined(separator: ", "))")
        }
        if let problem = configuration.validationError() { throw ValidationError(problem) }
        guard ["sqlite", "memory"].contains(storage) else { throw ValidationError("--storage must be sqlite or memory") }
        guard (0...(1 << 20)).contains(recordCacheMB) else { throw ValidationError("--record-cache-mb must be between 0 and 1048576") }
        guard verbose <= 5 else { throw ValidationError("at most five -v (debug levels 1-5)") }
        guard slowms >= 0 else { throw ValidationError("--slowms must not be negative") }
        if let metricsPort, !(0...65535).contains(metricsPort) { throw ValidationError("--metrics-port \(metricsPort) is not between 0 and 65535") }
    }

    var configuration: ServerConfiguration {
        var c = ServerConfiguration(port: port, bindAddress: bind, dataPath: dbpath, replicaSetName: replsetName,
                            advertiseHost: advertiseHost, inMemory: storage == "memory", ttlMonitorSeconds: ttlMonitorSeconds,
                            enableTestCommands: enableTestCommands)
        c.changeLogRetention = ChangeLogRetention(maxBytes: oplogSizeMB << 20, minRetentionHours: oplogMinRetentionHours)
        c.auth = auth
        c.tls.mode = TLSSettings.Mode(rawValue: tlsMode) ?? .disabled
        c.tls.certificateKeyFile = tlsCertificateKeyFile
        c.tls.caFile = tlsCAFile
        c.tls.allowConnectionsWithoutCertificates = tlsAllowConnectionsWithoutCertificates
        c.tls.allowInvalidCertificates = tlsAllowInvalidCertificates
        return c
    }

    func run() async throws {
        Engine.tuneProcessAllocator()
        let configuration = self.configuration
        let log = try logpath.map { try ServerLog.file($0, verbosity: verbose, quiet: quiet) }
            ?? ServerLog(verbosity: verbose, quiet: quiet)
        log.setSlowOperationThreshold(milliseconds: Int64(slowms))
        log.log(.info, .control, id: 4615611, ctx: "initandlisten", "Folio starting", attr: [
            "pid": .int64(Int64(getpid())), "port": .int32(Int32(configuration.port)),
            "dbPath": .string(configuration.inMemory ? "(memory)" : configuration.dataPath), "architecture": "64-bit",
            "version": .string(FolioVersion.folio)])
        log.log(.info, .control, id: 21951, ctx: "initandlisten", "Options set by command line",
                attr: ["options": .document(commandLineOptions)])
        let engine = configuration.inMemory ? try Engine.inMemory() : try Engine.open(directory: configuration.dataPath, recordCacheBytes: recordCacheMB << 20)
        if !auth {
            log.log(.warning, .control, id: 22120, ctx: "initandlisten",
                    "Access control is not enabled for the database. Read and write access to data and configuration is unrestricted")
        }
        if enableTestCommands {
            log.log(.warning, .control, id: ServerLog.FolioID.testCommandsEnabled, ctx: "initandlisten",
                    "Test commands are enabled (--enable-test-commands); never use them in production")
        }
        let registry = PrometheusCollectorRegistry()
        let audit = try auditLog.map { try AuditLog(path: $0, host: configuration.bindAddress, port: configuration.port) }
        let context = ServerContext(engine: engine, configuration: configuration, log: log,
                                    metricsFactory: metricsPort == nil ? NOOPMetricsHandler.instance : PrometheusMetricsFactory(registry: registry),
                                    audit: audit)
        let server = try WireServer.start(context: context)
        let metricsGroup = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        let endpoint = try metricsPort.map { port in
            try MetricsEndpoint.start(host: configuration.bindAddress, port: port, registry: registry, context: context, group: metricsGroup)
        }
        if let endpoint {
            log.log(.info, .network, id: ServerLog.FolioID.metricsEndpoint, ctx: "listener", "Serving metrics",
                    attr: ["port": .int32(Int32(endpoint.port)), "path": "/metrics"])
        }
        log.log(.info, .network, id: 23016, ctx: "listener", "Waiting for connections", attr: ["port": .int32(Int32(server.port)),
                                                                                       "ssl": .string(configuration.tls.enabled ? "on" : "off")])
        log.startupFinished()
        print("folio \(FolioVersion.folio) listening on \(configuration.bindAddress):\(server.port) " +
              "(replica set \(configuration.replicaSetName), data \(configuration.inMemory ? "in memory" : configuration.dataPath))")
        fflush(nil)
        // The server and the metrics endpoint run as services until SIGINT/SIGTERM or the
        // shutdown command (ServeLifecycle.swift).
        try await Serve.runServices(server: server, metrics: endpoint, log: log)
        try? await metricsGroup.shutdownGracefully()
        log.log(.info, .control, id: 23138, ctx: "initandlisten", "Shutting down", attr: ["exitCode": .int32(0)])
    }

    /// The options as MongoDB's "Options set by command line" shows them.
    var commandLineOptions: Document {
        var net: Document = ["bindIp": .string(bind), "port": .int32(Int32(port))]
        if let advertiseHost { net.append("advertiseHost", .string(advertiseHost)) }
        if tlsMode != "disabled" {
            var tls: Document = ["mode": .string(tlsMode)]
            if let tlsCertificateKeyFile { tls.append("certificateKeyFile", .string(tlsCertificateKeyFile)) }
            if let tlsCAFile { tls.append("CAFile", .string(tlsCAFile)) }
            if tlsAllowConnectionsWithoutCertificates { tls.append("allowConnectionsWithoutCertificates", true) }
            if tlsAllowInvalidCertificates { tls.append("allowInvalidCertificates", true) }
            net.append("tls", .document(tls))
        }
        var options: Document = ["net": .document(net), "replication": ["replSet": .string(replsetName)],
                                 "storage": ["dbPath": .string(dbpath), "engine": .string(storage)]]
        var systemLog: Document = ["quiet": .bool(quiet), "verbosity": .int32(Int32(verbose))]
        if let logpath { systemLog.append("destination", "file"); systemLog.append("path", .string(logpath)) }
        options.append("systemLog", .document(systemLog))
        options.append("operationProfiling", ["slowOpThresholdMs": .int32(Int32(clamping: slowms))])
        if enableTestCommands { options.append("setParameter", ["enableTestCommands": "1"]) }
        if auth { options.append("security", ["authorization": "enabled"]) }
        if let auditLog { options.append("auditLog", ["destination": "file", "format": "JSON", "path": .string(auditLog)]) }
        return options
    }
}

struct StandardError: TextOutputStream {
    mutating func write(_ string: String) {
        var bytes = Array(string.utf8)
        _ = bytes.withUnsafeMutableBytes { Glibc.write(2, $0.baseAddress, $0.count) }
    }
}
