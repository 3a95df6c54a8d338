import FolioBSON
import FolioEngine
import FolioServer
import FolioStorage

/// A throwaway server core (the in-memory engine and the command dispatcher, no sockets)
/// holding indexed seed data, that runs commands the way the wire server does and checks
/// that each one answers. Used by the command fuzzer, the regression replay in `swift test`
/// and `folio hostile-commands`.
public final class CommandSandbox {
    public let dispatcher: CommandDispatcher
    let engine: Engine
    /// Kept to reopen the same data (what a restart would load).
    let storage = MemoryStorageEngine()
    let connection = ConnectionInfo(id: 1, remoteAddress: "127.0.0.1:1")
    /// getMores per cursor before the sandbox stops draining it.
    static let maximumGetMores = 64
    /// The evaluation bound (146 past it) is 64 MiB here instead of the server's 512 MiB: a
    /// generated \$reduce that doubles a string reaches the bound either way, and this one keeps
    /// such a run within the fuzzer's 10-second timeout under AddressSanitizer.
    static let maximumEvaluationBytes = 64 * 1024 * 1024

    /// A fresh engine with the seed data.
    public init() throws {
        engine = try Engine(storage: storage)
        dispatcher = CommandDispatcher(context: ServerContext(engine: engine, configuration: ServerConfiguration(
            inMemory: true, maximumEvaluationBytes: CommandSandbox.maximumEvaluationBytes)))
        for command in CommandSandbox.setup {
            let reply = dispatcher.run(command, connection: connection)
            guard reply["ok"]?.asDouble == 1 else { throw SandboxFailure(command: command, reply: reply, reason: "setup failed") }
        }
    }

    /// Seed collections in database `fuzz`: `t` with every kind of index and values of
    /// every numeric type, `u` for $lookup, `v` with a validator.
    public static let setup: [Document] = {
        var docs: [BSON] = []
        let numbers: [BSON] = [.int32(1), .int64(2), .double(2.5), .double(.nan), .double(-.infinity), .decimal128(Decimal128(Int64(7))),
                               .int32(-3), .double(1e300), .int64(Int64.max), .string("n")]
        for i in 0..<30 {
            let a = numbers[i % numbers.count]
            docs.append(["_id": .int32(Int32(i)), "a": a, "b": .string("s\(i % 5)"), "c": .array([.int32(Int32(i)), .int32(Int32(i % 3)), a]),
                         "d": ["e": .int32(Int32(i % 4)), "f": .array([.int32(1), .string("x\(i)")])],
                         "arr": .array([["x": .int32(Int32(i)), "a": a], ["x": .int32(Int32(i + 1))]]),
                         "date": .datetime(1_700_000_000_000 + Int64(i) * 86_400_000), "s": .string(String(repeating: "ab", count: i))])
        }
        docs.append(["_id": "str", "a": .null, "c": [], "d": "notadoc"])
        docs.append(["_id": ["k": 1], "a": ["b": ["c": 5]]])
        let indexes: [BSON] = [
            ["key": ["a": 1], "name": "a_1"], ["key": ["b": 1, "a": -1], "name": "b_1_a_-1"],
            ["key": ["c": 1], "name": "c_1"], ["key": ["d.e": 1], "name": "d.e_1", "sparse": true],
            ["key": ["b": "hashed"], "name": "b_hashed"], ["key": ["d.$**": 1], "name": "d.$**_1"],
            ["key": ["date": 1], "name": "date_1", "expireAfterSeconds": .int32(1_000_000_000)],
            ["key": ["arr.x": 1, "s": 1], "name": "arr.x_1_s_1", "partialFilterExpression": ["s": ["$exists": true]]],
        ]
        return [
            ["insert": "t", "documents": .array(docs), "$db": "fuzz"],
            ["createIndexes": "t", "indexes": .array(indexes), "$db": "fuzz"],
            ["insert": "u", "documents": .array((0..<10).map { ["_id": .int32(Int32($0)), "a": .int32(Int32($0 % 3)), "b": .int32(Int32($0))] }), "$db": "fuzz"],
            ["createIndexes": "u", "indexes": [["key": ["a": 1], "name": "a_1", "unique": false]], "$db": "fuzz"],
            ["create": "v", "validator": ["$jsonSchema": ["bsonType": "object", "required": ["a"], "properties": ["a": ["bsonType": "int", "minimum": 0]]]], "$db": "fuzz"],
            ["insert": "v", "documents": [["_id": 1, "a": 1]], "$db": "fuzz"],
        ]
    }()

    /// Runs a command like the wire server would, then drains its cursor with getMore.
    /// Returns the first reply.
    /// - Throws: `SandboxFailure` when a reply has no `ok` field.
    @discardableResult
    public func run(_ command: Document) throws -> Document {
        var body = command
        if body["$db"] == nil { body.append("$db", "fuzz") }
        let (reply, _) = try runForWire(body)
        guard case .document(let cursor)? = reply["cursor"], case .int64(var id)? = cursor["id"], id != 0,
              case .string(let ns)? = cursor["ns"], let dot = ns.firstIndex(of: ".") else { return reply }
        let database = String(ns[..<dot]), collection = String(ns[ns.index(after: dot)...])
        for _ in 0..<CommandSandbox.maximumGetMores where id != 0 {
            let more: Document = ["getMore": .int64(id), "collection": .string(collection), "batchSize": 7, "$db": .string(database)]
            let (next, returned) = try runForWire(more)
            guard case .document(let c)? = next["cursor"], case .int64(let nextID)? = c["id"] else { break }
            id = nextID
            // A tailable cursor at the end answers empty batches for ever (an awaitData one
            // after waiting a second each time): done with it.
            if returned == 0 { break }
        }
        if id != 0 { _ = dispatcher.run(["killCursors": .string(collection), "cursors": [.int64(id)], "$db": .string(database)], connection: connection) }
        return reply
    }

    /// One command through the wire path: the reply and its raw batch encoded into a message;
    /// returns the reply and the number of documents in its batch.
    private func runForWire(_ command: Document) throws -> (reply: Document, returned: Int) {
        let (reply, batch) = dispatcher.runForWire(command, connection: connection)
        _ = WireCodec.messageReply(requestID: 1, responseTo: 1, body: reply, batch: batch)
        return (try answered(command, reply), batch?.count ?? 0)
    }

    private func answered(_ command: Document, _ reply: Document) throws -> Document {
        guard let ok = reply["ok"]?.asDouble, ok == 0 || ok == 1 else {
            throw SandboxFailure(command: command, reply: reply, reason: "a reply without ok: 0 or 1")
        }
        if ok == 0 && (reply["code"]?.int32Value == nil || reply["errmsg"]?.stringValue == nil) {
            throw SandboxFailure(command: command, reply: reply, reason: "an error reply without code or errmsg")
        }
        return reply
    }

    /// Checks every collection with `validate` (records and indexes agree), and that the
    /// stored catalog reopens as the one in memory (a restart would find what clients saw).
    /// - Throws: `SandboxFailure` naming the first collection that does not validate.
    public func validateAll() throws {
        try checkReopens()
        for database in ["fuzz"] {
            let listCommand: Document = ["listCollections": 1, "nameOnly": true, "$db": .string(database)]
            let list = dispatcher.run(listCommand, connection: connection)
            guard case .document(let cursor)? = list["cursor"], case .array(let batch)? = cursor["firstBatch"] else { continue }
            // Views have no data of their own to validate.
            for case .document(let entry) in batch where entry["type"] != "view" {
                guard case .string(let name)? = entry["name"] else { continue }
                let command: Document = ["validate": .string(name), "$db": .string(database)]
                let reply = dispatcher.run(command, connection: connection)
                guard reply["ok"]?.asDouble == 1, reply["valid"]?.boolValue == true else {
                    throw SandboxFailure(command: command, reply: reply, reason: "collection \(database).\(name) does not validate")
                }
            }
        }
    }
}

extension CommandSandbox {
    func checkReopens() throws {
        let reopened: Engine
        do { reopened = try Engine(storage: storage) } catch {
            throw SandboxFailure(command: [:], reply: [:], reason: "the stored catalog does not reopen: \(error)")
        }
        for database in engine.databaseNames() {
            let live = engine.collections(in: database).map(\.name), stored = reopened.collections(in: database).map(\.name)
            guard live == stored else {
                throw SandboxFailure(command: [:], reply: [:], reason: "collections of \(database) in memory \(live), stored \(stored)")
            }
            for name in live {
                let ns = try Namespace(database: database, collection: name)
                let a = engine.indexes(ns).map(\.specification), b = reopened.indexes(ns).map(\.specification)
                guard a.count == b.count, zip(a, b).allSatisfy({ $0 == $1 }) else {
                    throw SandboxFailure(command: [:], reply: [:], reason: "indexes of \(ns) in memory \(a), stored \(b)")
                }
            }
        }
    }
}

/// A command the sandbox could not run as a server must: the command, what came back, why.
public struct SandboxFailure: Error, CustomStringConvertible {
    public let command: Document
    public let reply: Document
    public let reason: String

    public var description: String {
        "\(reason)\ncommand: \(command)\nreply: \(reply)"
    }
}
