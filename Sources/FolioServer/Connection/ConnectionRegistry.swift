import Synchronization
import FolioLocks

/// One connection's state machine behind a lock: the wire handler drives its requests, the
/// commands it runs read and change its handshake and authentication, and other connections
/// read who it is authenticated as (currentOp, session and cursor ownership).
package final class ConnectionState: Sendable {
    package let info: ConnectionInfo
    private let machine = Locked(ConnectionStateMachine())

    init(info: ConnectionInfo) { self.info = info }

    package func withLock<T, E: Error>(_ body: (inout ConnectionStateMachine) throws(E) -> T) throws(E) -> T {
        var result: Result<T, E>!
        machine.withLock { m in
            do throws(E) { result = .success(try body(&m)) } catch { result = .failure(error) }
        }
        return try result.get()
    }
}

/// The server's connections by id: those the wire server accepted, and those command callers
/// without a socket (tests, the fuzzer, the embedded API) name, made when first changed.
package final class ConnectionRegistry: Sendable {
    private let states = Locked<[Int32: (state: ConnectionState, wire: Bool)]>([:])

    /// Registers a connection the wire server accepted.
    package func open(_ info: ConnectionInfo) -> ConnectionState {
        let state = ConnectionState(info: info)
        states.withLock { $0[info.id] = (state, true) }
        return state
    }

    package func closed(_ id: Int32) {
        _ = states.withLock { $0.removeValue(forKey: id) }
    }

    /// The connection's state, if it has any yet.
    func state(_ id: Int32) -> ConnectionState? { states.withLock { $0[id]?.state } }

    /// The connection's state, made for a connection without a socket the first time it is changed.
    func state(for info: ConnectionInfo) -> ConnectionState {
        states.withLock { map in
            if let existing = map[info.id] { return existing.state }
            let state = ConnectionState(info: info)
            map[info.id] = (state, false)
            return state
        }
    }

    /// Reads one connection's machine (a fresh machine's values for a connection without state).
    func read<T>(_ id: Int32, _ body: (ConnectionStateMachine) -> T) -> T {
        guard let state = state(id) else { return body(ConnectionStateMachine()) }
        return state.withLock { (m: inout ConnectionStateMachine) -> T in body(m) }
    }

    /// The connections the wire server accepted that are still open, by id.
    var wireConnections: [ConnectionState] {
        states.withLock { $0.values.filter(\.wire).map(\.state) }
    }

    /// All connections with state (wire or not).
    var all: [ConnectionState] { states.withLock { $0.values.map(\.state) } }
}
