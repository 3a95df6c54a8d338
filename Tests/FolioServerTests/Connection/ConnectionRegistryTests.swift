import Testing
import FolioBSON
import FolioQuery
@testable import FolioServer

@Suite struct ConnectionRegistryTests {
    @Test func wireConnectionsAreListedUntilClosed() {
        let registry = ConnectionRegistry()
        let wire = registry.open(ConnectionInfo(id: 3, remoteAddress: "10.0.0.3:1"))
        // A caller without a socket gets state when it first changes it, but is not a wire connection.
        let embedded = registry.state(for: ConnectionInfo(id: 4, remoteAddress: "embedded"))
        #expect(registry.state(for: ConnectionInfo(id: 4, remoteAddress: "embedded")) === embedded)
        #expect(registry.state(3) === wire)
        #expect(registry.wireConnections.map(\.info.id) == [3])
        #expect(Set(registry.all.map(\.info.id)) == [3, 4])
        registry.closed(3)
        #expect(registry.state(3) == nil && registry.wireConnections.isEmpty)
    }

    @Test func readingAConnectionWithoutStateSeesAFreshMachine() throws {
        let registry = ConnectionRegistry()
        #expect(registry.read(9) { $0.authentication.users.isEmpty && !$0.handshake.finished })
        try registry.state(for: ConnectionInfo(id: 9, remoteAddress: "x")).withLock { (m) throws(FolioError) in
            try m.hello(client: ["application": ["name": "feeds"]])
            m.authentication.users = [UserName(user: "u", db: "t")]
        }
        #expect(registry.read(9) { $0.handshake.applicationName } == "feeds")
        #expect(registry.read(9) { $0.authentication.users } == [UserName(user: "u", db: "t")])
    }
}
