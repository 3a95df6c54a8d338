import ArgumentParser
import Synchronization
import Dispatch
import FolioEngine
import FolioStorage
import Folio
import FolioServer

#if canImport(Glibc)
import Glibc
#endif

/// Set by the SIGINT/SIGTERM handler.
let shutdownRequested = Atomic<Bool>(false)

@main
struct FolioCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "folio",
        abstract: "A document database that speaks MongoDB's wire protocol and query language.",
        version: FolioVersion.description,
        subcommands: [Serve.self, CrashWriter.self, CrashVerify.self, BenchScan.self, BenchAggregate.self, BenchIndex.self, NoopServer.self,
                      HostileCommands.self]
    )
}

struct Serve: ParsableCommand {
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

    @Option(name: .customLong("record-cache-mb"),
            help: "Memory for documents read by _id and by index fetches, in MiB (0: none; given back when idle).")
    var recordCacheMB: Int = SQLiteStorageEngine.defaultRecordCacheBytes >> 20

    func validate() throws {
        if let problem = configuration.validationError() { throw ValidationError(problem) }
        guard ["sqlite", "memory"].contains(storage) else { throw ValidationError("--storage must be sqlite or memory") }
        guard (0...(1 << 20)).contains(recordCacheMB) else { throw ValidationError("--record-cache-mb must be between 0 and 1048576") }
    }

    var configuration: ServerConfiguration {
        ServerConfiguration(port: port, bindAddress: bind, dataPath: dbpath, replicaSetName: replsetName,
                            advertiseHost: advertiseHost, inMemory: storage == "memory", ttlMonitorSeconds: ttlMonitorSeconds,
                            enableTestCommands: enableTestCommands)
    }

    func run() throws {
        Engine.tuneProcessAllocator()
        let configuration = self.configuration
        let engine = configuration.inMemory ? try Engine.inMemory() : try Engine.open(directory: configuration.dataPath, recordCacheBytes: recordCacheMB << 20)
        let server = try WireServer.start(context: ServerContext(engine: engine, configuration: configuration))
        print("folio \(FolioVersion.folio) listening on \(configuration.bindAddress):\(server.port) " +
              "(replica set \(configuration.replicaSetName), data \(configuration.inMemory ? "in memory" : configuration.dataPath))")
        fflush(nil)
        // SIGINT/SIGTERM: the handler only sets an atomic flag (async-signal-safe); a watcher
        // thread then stops accepting, closes connections and closes storage cleanly.
        signal(SIGINT) { _ in shutdownRequested.store(true, ordering: .relaxed) }
        signal(SIGTERM) { _ in shutdownRequested.store(true, ordering: .relaxed) }
        DispatchQueue.global().async {
            while !shutdownRequested.load(ordering: .relaxed) { usleep(100_000) }
            server.shutdown()
        }
        try server.wait()
    }
}

struct StandardError: TextOutputStream {
    mutating func write(_ string: String) {
        var bytes = Array(string.utf8)
        _ = bytes.withUnsafeMutableBytes { Glibc.write(2, $0.baseAddress, $0.count) }
    }
}
