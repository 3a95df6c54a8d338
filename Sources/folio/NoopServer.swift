import ArgumentParser
import FolioServer
import FolioWire
import Foundation

/// `folio noop-server`: the wire benchmark's floor (see NoopWireServer).
struct NoopServer: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "noop-server",
        abstract: "Run a wire server that answers every command without doing the work (the wire benchmark's floor)."
    )

    @Option(help: "TCP port to listen on.")
    var port: Int = 27018

    @Option(help: "Address to bind.")
    var bind: String = "127.0.0.1"

    func run() throws {
        let server = try NoopWireServer.start(host: bind, port: port)
        print("folio noop-server listening on \(bind):\(port)")
        fflush(nil)
        try server.wait()
    }
}
