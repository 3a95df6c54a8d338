import FolioBSON
import FolioEngine
import FolioQuery
import Synchronization
import FolioLocks

/// The commands running right now, by operation id: what `currentOp` lists and what
/// `killOp` reaches. Each command gets an `OperationInterrupt`, bound to the thread that runs
/// it, which killOp trips and maxTimeMS arms.
package final class OperationRegistry: Sendable {
    struct Operation: Sendable {
        let id: Int32
        let command: Document
        let commandName: String
        let namespace: String
        let connection: ConnectionInfo
        let started: ContinuousClock.Instant
        let startedMilliseconds: Int64
        let interrupt: OperationInterrupt
        /// An operation of the server's own (an index build it started again): its `desc`,
        /// in place of a connection.
        var internalDescription: String? = nil
    }

    private struct State {
        var running: [Int32: Operation] = [:]
        /// Set by shutdown: no operation begins after it.
        var shuttingDown = false
    }
    private let state = Locked(State())
    private let nextID = Atomic<Int32>(1)
    /// What each operation's expressions may build per document.
    private let maximumEvaluationBytes: Int

    init(maximumEvaluationBytes: Int = Limits.maximumEvaluationBytes) {
        self.maximumEvaluationBytes = maximumEvaluationBytes
    }

    /// Registers a command that is about to run; nil once the server is shutting down.
    func begin(_ command: Document, name: String, database: String, connection: ConnectionInfo) -> Operation? {
        // maxTimeMS arms the interrupt; a malformed value is refused by the command itself.
        // Not for getMore: on an awaitData cursor (a change stream, a tailable cursor) it is how
        // long to wait for new documents, never a limit on reading them (a getMore that read
        // a bulk load's events for longer failed with MaxTimeMSExpired); on other cursors
        // getMore refuses it, as MongoDB does (Find.swift).
        let limit = name == "getMore" ? nil
            : command["maxTimeMS"]?.exactInt64.flatMap { $0 > 0 && $0 <= Int64(Int32.max) ? Int(exactly: $0) : nil }
        var namespace = database
        if case .string(let collection)? = command[name] { namespace += "." + collection }
        let op = Operation(id: nextID.wrappingAdd(1, ordering: .relaxed).oldValue & Int32.max, command: command,
                           commandName: name, namespace: namespace, connection: connection, started: .now,
                           startedMilliseconds: Int64(ObjectID.currentSeconds()) * 1000,
                           interrupt: OperationInterrupt(maxTimeMilliseconds: limit, maximumEvaluationBytes: maximumEvaluationBytes))
        return register(op)
    }

    private func register(_ op: Operation) -> Operation? {
        state.withLock { s -> Operation? in
            if s.shuttingDown { return nil }
            s.running[op.id] = op
            return op
        }
    }

    /// Registers an operation of the server's own, stopped through `interrupt` (killOp, and
    /// shutdown as for any operation); nil once the server is shutting down.
    func beginInternal(_ description: String, _ command: Document, name: String, namespace: String,
                       interrupt: OperationInterrupt) -> Operation? {
        let op = Operation(id: nextID.wrappingAdd(1, ordering: .relaxed).oldValue & Int32.max, command: command,
                           commandName: name, namespace: namespace, connection: ConnectionInfo(id: 0, remoteAddress: ""),
                           started: .now, startedMilliseconds: Int64(ObjectID.currentSeconds()) * 1000,
                           interrupt: interrupt, internalDescription: description)
        return register(op)
    }

    /// Whether the server is shutting down (every new command is refused).
    var isShuttingDown: Bool { state.withLock { $0.shuttingDown } }

    func end(_ op: Operation) {
        _ = state.withLock { $0.running.removeValue(forKey: op.id) }
    }

    /// Kills an operation; false when no operation has that id.
    func kill(_ id: Int32) -> Bool {
        guard let op = state.withLock({ $0.running[id] }) else { return false }
        op.interrupt.kill()
        return true
    }

    /// Shutdown: no operation begins from now on, and the running ones are interrupted
    /// (11600 InterruptedAtShutdown at their next check).
    package func beginShutdown() {
        let running = state.withLock { s -> [Operation] in
            s.shuttingDown = true
            return Array(s.running.values)
        }
        for op in running { op.interrupt.kill(.interruptedAtShutdown) }
    }

    /// Whether no client's operation runs (shutdown waits for those; the server's own stop
    /// when storage closes).
    package var isEmpty: Bool { state.withLock { $0.running.values.allSatisfy { $0.internalDescription != nil } } }

    var all: [Operation] { state.withLock { Array($0.running.values) }.sorted { $0.id < $1.id } }
}

extension OperationRegistry.Operation {
    /// The operation as `currentOp` shows it (MongoDB's field names and types), with the
    /// progress of the index build a createIndexes runs.
    func report(host: String, indexBuild: IndexBuildProgress? = nil) -> Document {
        let elapsed = ContinuousClock.now - started
        let micros = elapsed.wholeMicroseconds
        var command = Document()
        for (k, v) in self.command where k != "$db" && k != "lsid" && k != "$clusterTime" { command.append(k, v) }
        var report: Document = ["type": "op", "host": .string(host)]
        if let internalDescription {
            report.append("desc", .string(internalDescription))
        } else {
            report.append("desc", .string("conn\(connection.id)"))
            report.append("connectionId", .int32(connection.id))
            report.append("client", .string(connection.remoteAddress))
        }
        for (k, v) in [
            "active": true,
            "currentOpTime": .string(CivilTime(millisecondsSinceEpoch: startedMilliseconds + micros / 1000).iso8601),
            "opid": .int32(id), "secs_running": .int64(micros / 1_000_000), "microsecs_running": .int64(micros),
            "op": .string(opType), "ns": .string(namespace), "command": .document(command)] as Document {
            report.append(k, v)
        }
        if let indexBuild {
            report.append("msg", .string(indexBuild.message))
            report.append("progress", ["done": .int64(Int64(indexBuild.done)), "total": .int64(Int64(indexBuild.total))])
        }
        for (k, v) in ["numYields": BSON.int32(0), "killPending": .bool(interrupt.isKilled), "waitingForLock": false,
                       "locks": [:], "lockStats": [:]] as Document {
            report.append(k, v)
        }
        return report
    }

    /// currentOp's `op`: the CRUD kinds by name, everything else "command".
    var opType: String {
        switch commandName {
        case "find": return "query"
        case "getMore": return "getmore"
        case "insert": return "insert"
        case "update": return "update"
        case "delete": return "remove"
        default: return "command"
        }
    }
}
