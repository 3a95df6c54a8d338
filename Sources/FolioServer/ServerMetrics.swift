import FolioBSON
import Synchronization
#if canImport(Glibc)
import Glibc
#endif

/// The counters `serverStatus` reports (connections, network, opcounters, per-command
/// totals, document metrics, user assertions), counted as MongoDB counts them. Every counter
/// is an atomic, so counting costs no lock on the request path.
package final class ServerMetrics: Sendable {
    final class CommandCounter: Sendable {
        let total = Atomic<Int64>(0)
        let failed = Atomic<Int64>(0)
    }

    package let currentConnections = Atomic<Int64>(0)
    let totalConnections = Atomic<Int64>(0)
    let bytesIn = Atomic<Int64>(0)
    let bytesOut = Atomic<Int64>(0)
    let requests = Atomic<Int64>(0)

    /// opcounters: inserts count documents, updates and deletes count statements, queries
    /// count find commands, getmores getMore commands, and every other command is a command.
    let inserts = Atomic<Int64>(0), queries = Atomic<Int64>(0), updates = Atomic<Int64>(0)
    let deletes = Atomic<Int64>(0), getMores = Atomic<Int64>(0), commands = Atomic<Int64>(0)
    /// metrics.document: documents written and returned to clients.
    let documentsInserted = Atomic<Int64>(0), documentsUpdated = Atomic<Int64>(0)
    let documentsDeleted = Atomic<Int64>(0), documentsReturned = Atomic<Int64>(0)
    /// asserts.user: commands that ended with an error.
    let userAssertions = Atomic<Int64>(0)

    /// metrics.commands, one counter per command the server knows (by its own name; aliases
    /// count under it) and `<UNKNOWN>` for the rest.
    let perCommand: [String: CommandCounter]
    let unknownCommands = CommandCounter()

    init(commandNames: some Sequence<String>) {
        perCommand = Dictionary(uniqueKeysWithValues: commandNames.map { ($0, CommandCounter()) })
    }

    package func connectionOpened() {
        currentConnections.add(1, ordering: .relaxed)
        totalConnections.add(1, ordering: .relaxed)
    }

    package func connectionClosed() { currentConnections.subtract(1, ordering: .relaxed) }

    /// Counts one message read from a client and its size.
    package func received(bytes: Int) {
        bytesIn.add(Int64(bytes), ordering: .relaxed)
        requests.add(1, ordering: .relaxed)
    }

    package func sent(bytes: Int) { bytesOut.add(Int64(bytes), ordering: .relaxed) }

    /// Counts a command that ran (or was refused): its opcounter, its metrics.commands entry,
    /// the documents its reply says it wrote or returned. `name` is the command's own name,
    /// nil for an unknown command.
    func record(_ name: String?, body: Document, reply: Document, returned: Int) {
        let ok = reply["ok"]?.asDouble == 1
        let counter = name.flatMap { perCommand[$0] } ?? unknownCommands
        counter.total.add(1, ordering: .relaxed)
        if !ok {
            counter.failed.add(1, ordering: .relaxed)
            userAssertions.add(1, ordering: .relaxed)
        }
        let n = Int64(reply["n"]?.exactInt64 ?? 0)
        switch name {
        case "insert":
            inserts.add(Int64(body["documents"]?.arrayValue?.count ?? 0), ordering: .relaxed)
            documentsInserted.add(n, ordering: .relaxed)
        case "update":
            updates.add(Int64(body["updates"]?.arrayValue?.count ?? 0), ordering: .relaxed)
            let upserted = Int64(reply["upserted"]?.arrayValue?.count ?? 0)
            documentsUpdated.add(Int64(reply["nModified"]?.exactInt64 ?? 0) + upserted, ordering: .relaxed)
        case "delete":
            deletes.add(Int64(body["deletes"]?.arrayValue?.count ?? 0), ordering: .relaxed)
            documentsDeleted.add(n, ordering: .relaxed)
        case "find":
            queries.add(1, ordering: .relaxed)
        case "getMore":
            getMores.add(1, ordering: .relaxed)
        default:
            commands.add(1, ordering: .relaxed)
        }
        if returned > 0 { documentsReturned.add(Int64(returned), ordering: .relaxed) }
    }

    /// A find that succeeded and returned `returned` documents, counted as `record` counts it
    /// (for a find answered without a reply document, RawPointRead.swift).
    func recordFind(returned: Int) {
        perCommand["find"]?.total.add(1, ordering: .relaxed)
        queries.add(1, ordering: .relaxed)
        if returned > 0 { documentsReturned.add(Int64(returned), ordering: .relaxed) }
    }

    /// The sections of serverStatus built from these counters.
    func sections(cursors: CursorRegistry, activeConnections: Int, ttl: (passes: Int64, deleted: Int64)) -> [(String, Document)] {
        func load(_ a: borrowing Atomic<Int64>) -> BSON { .int64(a.load(ordering: .relaxed)) }
        let current = Int32(clamping: currentConnections.load(ordering: .relaxed))
        var commandCounts = Document()
        for (name, c) in perCommand.sorted(by: { $0.key < $1.key }) {
            commandCounts.append(name, ["failed": load(c.failed), "total": load(c.total)])
        }
        commandCounts.append("<UNKNOWN>", .int64(unknownCommands.total.load(ordering: .relaxed)))
        let memory = ServerMetrics.memoryMegabytes()
        return [
            ("asserts", ["regular": .int32(0), "warning": .int32(0), "msg": .int32(0),
                         "user": .int32(Int32(clamping: userAssertions.load(ordering: .relaxed))), "tripwire": .int32(0), "rollovers": .int32(0)]),
            ("connections", ["current": .int32(current), "available": .int32(ServerMetrics.maximumConnections - current),
                             "totalCreated": .int32(Int32(clamping: totalConnections.load(ordering: .relaxed))),
                             "active": .int32(Int32(clamping: activeConnections))]),
            ("mem", ["bits": .int32(64), "resident": .int32(memory.resident), "virtual": .int32(memory.virtual), "supported": true]),
            ("network", ["bytesIn": load(bytesIn), "bytesOut": load(bytesOut), "numRequests": load(requests)]),
            ("opcounters", ["insert": load(inserts), "query": load(queries), "update": load(updates),
                            "delete": load(deletes), "getmore": load(getMores), "command": load(commands)]),
            ("opcountersRepl", ["insert": .int64(0), "query": .int64(0), "update": .int64(0),
                                "delete": .int64(0), "getmore": .int64(0), "command": .int64(0)]),
            ("metrics", ["commands": .document(commandCounts),
                         "cursor": ["timedOut": load(cursors.timedOut), "totalOpened": load(cursors.opened),
                                    "open": ["noTimeout": .int64(Int64(cursors.noTimeoutCount)), "total": .int64(Int64(cursors.count))]],
                         "document": ["deleted": load(documentsDeleted), "inserted": load(documentsInserted),
                                      "returned": load(documentsReturned), "updated": load(documentsUpdated)],
                         "ttl": ["deletedDocuments": .int64(ttl.deleted), "passes": .int64(ttl.passes)]]),
        ]
    }

    /// MongoDB's default `net.maxIncomingConnections`.
    static let maximumConnections: Int32 = 1_000_000

    /// Resident and virtual memory of the process in MiB, from /proc/self/statm (sizes in pages).
    static func memoryMegabytes() -> (resident: Int32, virtual: Int32) {
        let fd = open("/proc/self/statm", O_RDONLY)
        guard fd >= 0 else { return (0, 0) }
        defer { close(fd) }
        var buffer = [UInt8](repeating: 0, count: 128)
        let n = buffer.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
        guard n > 0 else { return (0, 0) }
        let fields = String(decoding: buffer[..<n], as: UTF8.self).split(separator: " ").compactMap { Int($0) }
        guard fields.count >= 2 else { return (0, 0) }
        let page = sysconf(Int32(_SC_PAGESIZE))
        return (Int32(clamping: (fields[1] * page) >> 20), Int32(clamping: (fields[0] * page) >> 20))
    }
}
