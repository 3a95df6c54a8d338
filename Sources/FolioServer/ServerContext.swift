import Dispatch
import FolioBSON
import FolioEngine
import FolioQuery
import Synchronization

/// Everything commands share: the engine, the configuration, open cursors, counters.
public final class ServerContext: Sendable {
    public let engine: Engine
    public let configuration: ServerConfiguration
    let cursors = CursorRegistry()
    /// Identifies this server process in `topologyVersion`.
    let processID = ObjectID()
    let startedAtMilliseconds = Int64(ObjectID.currentSeconds()) * 1000
    let nextConnectionID = Atomic<Int32>(1)
    let operationCounter = Atomic<Int64>(0)
    /// The address clients reach us at (hosts/primary/me in hello).
    public let advertisedAddress: String

    public init(engine: Engine, configuration: ServerConfiguration) {
        self.engine = engine
        self.configuration = configuration
        let host = configuration.advertiseHost ?? (configuration.bindAddress == "0.0.0.0" ? "localhost" : configuration.bindAddress)
        self.advertisedAddress = "\(host):\(configuration.port)"
    }

    func newConnectionID() -> Int32 { nextConnectionID.wrappingAdd(1, ordering: .relaxed).oldValue }

    /// A cluster time that moves forward with every command (seconds, counter).
    func clusterTime() -> Timestamp {
        let n = operationCounter.wrappingAdd(1, ordering: .relaxed).newValue
        return Timestamp(seconds: UInt32(truncatingIfNeeded: ObjectID.currentSeconds()), increment: UInt32(truncatingIfNeeded: n))
    }
}

/// Open cursors by id, with their namespace and last use (idle ones expire after 10 minutes).
final class CursorRegistry: Sendable {
    struct Entry: Sendable {
        let cursor: Cursor
        let namespace: String
        var lastUsedSeconds: Int
    }

    let entries = Mutex<[Int64: Entry]>([:])
    static let idleTimeoutSeconds = 600

    func register(_ cursor: Cursor, namespace: String) -> Int64 {
        var g = SystemRandomNumberGenerator()
        return entries.withLock { map in
            var id: Int64
            repeat { id = Int64.random(in: 1...Int64.max, using: &g) } while map[id] != nil
            map[id] = Entry(cursor: cursor, namespace: namespace, lastUsedSeconds: ObjectID.currentSeconds())
            return id
        }
    }

    func take(_ id: Int64) -> Entry? {
        entries.withLock { map in
            guard var e = map[id] else { return nil }
            e.lastUsedSeconds = ObjectID.currentSeconds()
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

    func expireIdle() {
        let now = ObjectID.currentSeconds()
        let expired = entries.withLock { map -> [Entry] in
            let old = map.filter { now - $0.value.lastUsedSeconds > CursorRegistry.idleTimeoutSeconds }
            for k in old.keys { map.removeValue(forKey: k) }
            return Array(old.values)
        }
        for e in expired { e.cursor.close() }
    }

    var count: Int { entries.withLock { $0.count } }
}
