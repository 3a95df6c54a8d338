import ArgumentParser
import Folio
import FolioServer

#if canImport(Glibc)
import Glibc
#endif

@main
struct FolioCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "folio",
        abstract: "A document database that speaks MongoDB's wire protocol and query language.",
        version: FolioVersion.description,
        subcommands: [Serve.self, CrashWriter.self, CrashVerify.self, BenchScan.self]
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

    func validate() throws {
        let configuration = ServerConfiguration(port: port, bindAddress: bind, dataPath: dbpath, replicaSetName: replsetName)
        if let problem = configuration.validationError() { throw ValidationError(problem) }
    }

    func run() throws {
        // The wire-protocol server arrives with the FolioServer issue; until then refuse
        // plainly instead of pretending to serve.
        var stderr = StandardError()
        print("folio serve: the network server is not available in this build yet; " +
              "FolioBSON is the only finished layer. Nothing was started.", to: &stderr)
        throw ExitCode(2)
    }
}

struct StandardError: TextOutputStream {
    mutating func write(_ string: String) {
        var bytes = Array(string.utf8)
        _ = bytes.withUnsafeMutableBytes { Glibc.write(2, $0.baseAddress, $0.count) }
    }
}
