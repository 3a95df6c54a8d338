@_exported public import FolioBSON
@_exported public import struct FolioQuery.FolioError
@_exported public import struct FolioQuery.ErrorCode
internal import FolioEngine
internal import FolioServer
import Synchronization
import FolioLocks

/// An embedded Folio database: the same engine the server runs, in your process.
///
/// ```swift
/// let folio = try FolioClient.open(directory: "./data")
/// let users = folio.database("app").collection("users", as: User.self)
/// try await users.insertOne(User(_id: ObjectID(), name: "Ada"))
/// for try await user in users.find(["name": "Ada"]) { print(user.name) }
/// ```
public final class FolioClient: Sendable {
    let engine: Engine
    /// Engine calls run on these threads, off the caller's task executor (the engine is
    /// synchronous and may block); a transaction's client shares its parent's.
    let threads: EngineThreads
    /// A transaction's client runs one engine call at a time (its buffered writes take one
    /// operation at a time); nil for a top-level client.
    let transactionLock: TransactionLock?
    /// Sequences' cursors not yet closed (tests check that none is left behind).
    let openCursors = Atomic<Int>(0)
    /// The server's command layer over this engine, made by the first `runCommand`.
    let commands = Locked<EmbeddedCommands?>(nil)
    /// Where the data lives (what `getCmdLineOpts` reports): a directory, or nil in memory.
    let directory: String?

    init(engine: Engine, threads: EngineThreads, transaction: Bool = false, directory: String? = nil) {
        self.engine = engine
        self.threads = threads
        self.directory = directory
        transactionLock = transaction ? TransactionLock() : nil
    }

    deinit {
        if transactionLock == nil { threads.shutDown() }
    }

    /// Opens (creating if needed) a data directory. The server (`folio serve --dbpath`) reads
    /// the same format; one process holds a directory at a time.
    /// - Parameters:
    ///   - directory: the data directory (created when missing).
    ///   - maximumConcurrentOperations: how many engine calls run at once (each on its own
    ///     thread); more wait their turn. Default: twice the cores, at least 4.
    /// - Throws: `FolioError` when the directory is unusable or locked by another process.
    public static func open(directory: String, maximumConcurrentOperations: Int? = nil) throws(FolioError) -> FolioClient {
        FolioClient(engine: try Engine.open(directory: directory), threads: try threads(maximumConcurrentOperations),
                    directory: directory)
    }

    /// A database that keeps everything in memory.
    public static func inMemory(maximumConcurrentOperations: Int? = nil) throws(FolioError) -> FolioClient {
        FolioClient(engine: try Engine.inMemory(), threads: try threads(maximumConcurrentOperations))
    }

    static func threads(_ limit: Int?) throws(FolioError) -> EngineThreads {
        guard let limit else { return EngineThreads() }
        guard limit > 0 else { throw FolioError(.badValue, "maximumConcurrentOperations must be positive, not \(limit)") }
        return EngineThreads(limit: limit)
    }

    /// The database named `name` (created implicitly by its first write).
    public func database(_ name: String) -> FolioDatabase { FolioDatabase(folio: self, name: name) }

    /// Names of databases holding at least one collection, sorted.
    public func databaseNames() async throws(FolioError) -> [String] {
        let engine = self.engine
        return try await run { () throws(FolioError) in engine.databaseNames() }
    }

    /// Closes storage and stops the engine threads; later calls fail.
    public func close() {
        commands.withLock { $0 }?.close()
        engine.close()
        if transactionLock == nil { threads.shutDown() }
    }

    /// Runs synchronous engine work on the engine threads. A transaction's client runs it
    /// only while the transaction is active (251/256 once it has ended: a write then would
    /// be lost).
    func run<R: Sendable>(_ body: @escaping @Sendable () throws(FolioError) -> R) async throws(FolioError) -> R {
        guard transactionLock != nil else { return try await onThread { () throws(FolioError) in try body() } }
        return try await runInTransaction { (phase) throws(FolioError) in
            try phase.requireActive()
            return try body()
        }
    }

    /// Runs `body` on an engine thread holding the transaction's lock, with its phase.
    func runInTransaction<R: Sendable>(_ body: @escaping @Sendable (inout TransactionLock.Phase) throws(FolioError) -> R) async throws(FolioError) -> R {
        guard let lock = transactionLock else { throw FolioError(.internalError, "not a transaction's client") }
        return try await onThread { () throws(FolioError) in
            try lock.mutex.withLock { (phase) throws(FolioError) in try body(&phase) }
        }
    }

    private func onThread<R: Sendable>(_ body: @escaping @Sendable () throws(FolioError) -> R) async throws(FolioError) -> R {
        let result: Result<R, FolioError> = await withCheckedContinuation { continuation in
            threads.submit { continuation.resume(returning: Result { () throws(FolioError) in try body() }) }
        }
        return try result.get()
    }
}

/// Serializes a transaction client's engine calls, and says whether the transaction is still
/// open to them.
final class TransactionLock: Sendable {
    enum Phase: Sendable {
        case active, committed, aborted

        func requireActive() throws(FolioError) {
            switch self {
            case .active: return
            case .committed:
                throw FolioError(.transactionCommitted, "Transaction has been committed: its client can no longer be used")
            case .aborted:
                throw FolioError(.noSuchTransaction, "Transaction has been aborted: its client can no longer be used")
            }
        }
    }

    let mutex = Locked(Phase.active)
}

/// A database: a namespace for collections.
public struct FolioDatabase: Sendable {
    let folio: FolioClient
    /// The database's name.
    public let name: String

    /// A collection of raw `Document`s.
    public func collection(_ name: String) -> FolioCollection<Document> { FolioCollection(database: self, name: name) }

    /// A collection whose documents are decoded as `T`.
    public func collection<T: Codable & Sendable>(_ name: String, as type: T.Type) -> FolioCollection<T> {
        FolioCollection(database: self, name: name)
    }

    /// Names of the collections and views, sorted.
    public func collectionNames() async throws(FolioError) -> [String] {
        let engine = folio.engine, name = self.name
        return try await folio.run { () throws(FolioError) in
            (engine.collections(in: name).map(\.name) + (try Views.names(name, engine))).sorted()
        }
    }

    /// A database-level pipeline, starting with `$documents`:
    ///
    /// ```swift
    /// let rows = try await db.aggregate([["$documents": [["x": 1], ["x": 2]]], ["$set": ["y": ["$add": ["$x", 1]]]]]).toArray()
    /// ```
    public func aggregate(_ pipeline: [Document]) -> CursorSequence<Document> {
        let engine = folio.engine, name = self.name
        return CursorSequence(folio: folio) { () throws(FolioError) in
            try Views.aggregate(database: name, collection: nil, AggregateRequest(pipeline: pipeline.map(BSON.document)), engine)
        }
    }

    /// Creates a collection with options (a plain collection is also created by its first
    /// write). Creating it again with the same options does nothing.
    /// - Throws: 48 NamespaceExists when it exists with other options; 72 InvalidOptions and
    ///   2 BadValue for bad capped sizes; the validator's parse errors.
    public func createCollection(_ collection: String, options: CollectionOptions = CollectionOptions()) async throws(FolioError) {
        let ns = try Namespace(database: name, collection: collection)
        let engine = folio.engine, options = options.document
        try await folio.run { () throws(FolioError) in try engine.createCollection(ns, options: options) }
    }

    /// Drops every collection.
    public func drop() async throws(FolioError) {
        let engine = folio.engine, name = self.name
        try await folio.run { () throws(FolioError) in try engine.dropDatabase(name) }
    }
}

/// Options of a new collection (MongoDB's `create` options that Folio supports). A default
/// collation per collection is not among them (as in the server, which refuses it with 115):
/// pass a collation to each query instead.
public struct CollectionOptions: Sendable {
    /// A capped collection of at most `size` bytes (and `max` documents): the oldest
    /// documents go when it is full.
    public var capped: (size: Int, max: Int?)?
    /// A query filter (or `$jsonSchema`) every inserted or updated document must match.
    public var validator: Document?
    /// `strict` (default) or `moderate` (existing invalid documents may stay invalid).
    public var validationLevel: String?
    /// `error` (default) or `warn`.
    public var validationAction: String?
    /// Whether change streams can show documents before and after each change.
    public var changeStreamPreAndPostImages: Bool?

    /// Options for `createCollection`; every one is optional.
    public init(capped: (size: Int, max: Int?)? = nil, validator: Document? = nil, validationLevel: String? = nil,
                validationAction: String? = nil, changeStreamPreAndPostImages: Bool? = nil) {
        self.capped = capped
        self.validator = validator
        self.validationLevel = validationLevel
        self.validationAction = validationAction
        self.changeStreamPreAndPostImages = changeStreamPreAndPostImages
    }

    var document: Document {
        var d = Document()
        if let capped {
            d.append("capped", true)
            d.append("size", .int64(Int64(capped.size)))
            if let max = capped.max { d.append("max", .int64(Int64(max))) }
        }
        if let validator { d.append("validator", .document(validator)) }
        if let validationLevel { d.append("validationLevel", .string(validationLevel)) }
        if let validationAction { d.append("validationAction", .string(validationAction)) }
        if let changeStreamPreAndPostImages { d.append("changeStreamPreAndPostImages", ["enabled": .bool(changeStreamPreAndPostImages)]) }
        return d
    }
}
