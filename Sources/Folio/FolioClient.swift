import Dispatch
@_exported import FolioBSON
@_exported import FolioQuery
@_exported import FolioEngine

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
    /// Engine calls run here, off the caller's task executor (the engine is synchronous);
    /// one at a time inside a transaction, whose buffered writes take one operation at a time.
    let queue: DispatchQueue

    init(engine: Engine, serial: Bool = false) {
        self.engine = engine
        queue = serial ? DispatchQueue(label: "folio.transaction") : DispatchQueue(label: "folio.engine", attributes: .concurrent)
    }

    /// Opens (creating if needed) a data directory.
    /// - Throws: `FolioError` when the directory is unusable or locked by another process.
    public static func open(directory: String) throws(FolioError) -> FolioClient {
        FolioClient(engine: try Engine.open(directory: directory))
    }

    /// A database that keeps everything in memory.
    public static func inMemory() throws(FolioError) -> FolioClient {
        FolioClient(engine: try Engine.inMemory())
    }

    /// The database named `name` (created implicitly by its first write).
    public func database(_ name: String) -> FolioDatabase { FolioDatabase(folio: self, name: name) }

    /// Names of databases holding at least one collection.
    public func databaseNames() -> [String] { engine.databaseNames() }

    /// Closes storage; later calls fail.
    public func close() { engine.close() }

    /// Runs `body` in a multi-document transaction and commits it: `body`'s client reads one
    /// snapshot plus its own writes, and its writes become visible together at the commit
    /// (durably). A write conflict (WriteConflict, TransientTransactionError) runs `body`
    /// again, as the drivers' `withTransaction` does, for up to `retryFor`; any other error
    /// aborts and is thrown. Do not use `body`'s client after it returns.
    ///
    /// ```swift
    /// try await folio.withTransaction { txn in
    ///     let accounts = txn.database("bank").collection("accounts")
    ///     _ = try await accounts.updateOne(["_id": "alice"], ["$inc": ["balance": -10]])
    ///     _ = try await accounts.updateOne(["_id": "bob"], ["$inc": ["balance": 10]])
    /// }
    /// ```
    public func withTransaction<R: Sendable>(retryFor: Duration = .seconds(120),
                                             _ body: @Sendable (FolioClient) async throws -> R) async throws -> R {
        let deadline = ContinuousClock.now + retryFor
        while true {
            let engine = self.engine
            let txn = try await run { () throws(FolioError) in try engine.beginTransaction() }
            do {
                let result = try await body(FolioClient(engine: txn.engine, serial: true))
                try await run { () throws(FolioError) in try txn.commit(durable: true) }
                return result
            } catch let error as FolioError where error.labels.contains("TransientTransactionError") && ContinuousClock.now < deadline {
                txn.abort()
                try Task.checkCancellation()
            } catch {
                txn.abort()
                throw error
            }
        }
    }

    /// Runs synchronous engine work on the engine queue.
    func run<R: Sendable>(_ body: @escaping @Sendable () throws(FolioError) -> R) async throws(FolioError) -> R {
        let result: Result<R, FolioError> = await withCheckedContinuation { continuation in
            queue.async {
                do throws(FolioError) {
                    continuation.resume(returning: .success(try body()))
                } catch {
                    continuation.resume(returning: .failure(error))
                }
            }
        }
        return try result.get()
    }
}

/// A database: a namespace for collections.
public struct FolioDatabase: Sendable {
    let folio: FolioClient
    public let name: String

    /// A collection of raw `Document`s.
    public func collection(_ name: String) -> FolioCollection<Document> { FolioCollection(database: self, name: name) }

    /// A collection whose documents are decoded as `T`.
    public func collection<T: Codable & Sendable>(_ name: String, as type: T.Type) -> FolioCollection<T> {
        FolioCollection(database: self, name: name)
    }

    /// Names of the collections.
    public func collectionNames() -> [String] { folio.engine.collections(in: name).map(\.name) }

    /// A database-level pipeline, starting with `$documents`:
    ///
    /// ```swift
    /// let rows = try await db.aggregate([["$documents": [["x": 1], ["x": 2]]], ["$set": ["y": ["$add": ["$x", 1]]]]]).toArray()
    /// ```
    public func aggregate(_ pipeline: [Document]) -> CursorSequence<Document> {
        let engine = folio.engine, name = self.name
        return CursorSequence(folio: folio) { () throws(FolioError) in
            try engine.aggregate(database: name, collection: nil, AggregateRequest(pipeline: pipeline.map(BSON.document)))
        }
    }

    /// Drops every collection.
    public func drop() async throws(FolioError) {
        let engine = folio.engine, name = self.name
        try await folio.run { () throws(FolioError) in try engine.dropDatabase(name) }
    }
}
