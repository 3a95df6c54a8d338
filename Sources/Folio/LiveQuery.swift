internal import FolioEngine
internal import FolioQuery
internal import FolioServer

/// A query's current results, as an async sequence: the results now, then the results again
/// each time a commit changes them. For a view that follows data without polling (a SwiftUI
/// list, a server push channel).
///
/// It follows the collection's change stream and runs the query again only after a change to
/// the collection, once for all the changes that arrived meanwhile; it yields only when the
/// results differ from the last ones yielded. Dropping or renaming the collection yields the
/// (empty) results and goes on following the name. The sequence ends when the task iterating
/// it is cancelled.
///
/// ```swift
/// for try await latest in messages.liveQuery(["room": "general"], sort: ["at": -1], limit: 20) {
///     render(latest)
/// }
/// ```
public struct LiveQuery<T: Codable & Sendable>: AsyncSequence, Sendable {
    public typealias Element = [T]
    public typealias Failure = FolioError
    let collection: FolioCollection<T>
    let request: FindRequest

    /// Follows the query; each iterator starts with the current results.
    public struct AsyncIterator: AsyncIteratorProtocol {
        public typealias Failure = FolioError
        let collection: FolioCollection<T>
        let request: FindRequest
        var changes: ChangeStream<Document>.AsyncIterator?
        /// The cluster time the last results reflect: changes at or before it are in them.
        var readAt: Timestamp?
        var last: [[UInt8]]?

        /// The results now (first call), then the next results that differ; nil once the
        /// task is cancelled.
        public mutating func next() async throws(FolioError) -> [T]? {
            while !Task.isCancelled {
                guard changes != nil else {
                    // Follow the changes from now, then read: nothing falls in between.
                    let now = collection.engine.clusterTime
                    var options = ChangeStreamOptions()
                    options.startAtOperationTime = now
                    changes = FolioCollection<Document>(database: collection.database, name: collection.name)
                        .watch(options: options).makeAsyncIterator()
                    if let results = try await read(at: now) { return results }
                    continue
                }
                guard let event = try await changes?.next() else {
                    // Cancelled, or the stream ended after an invalidate.
                    changes = nil
                    continue
                }
                if event.operationType == "invalidate" {
                    // A drop or rename of the collection: read again and follow the name
                    // with a new stream.
                    changes = nil
                    continue
                }
                if let at = event.clusterTime, let readAt, at <= readAt { continue }
                if let results = try await read(at: collection.engine.clusterTime) { return results }
            }
            return nil
        }

        /// Runs the query; returns the results when they differ from the last ones yielded.
        private mutating func read(at time: Timestamp) async throws(FolioError) -> [T]? {
            let ns = try collection.namespace()
            let engine = collection.engine, request = self.request
            let raw = try await collection.database.folio.run { () throws(FolioError) in try Views.find(ns, request, engine).all() }
            readAt = time
            let bytes = raw.map { $0.bytes }
            if bytes == last { return nil }
            last = bytes
            return try raw.map { r throws(FolioError) in try FolioCollection<T>.decode(r) }
        }
    }

    /// A new follower of the query.
    public func makeAsyncIterator() -> AsyncIterator { AsyncIterator(collection: collection, request: request) }
}

extension FolioCollection {
    /// The results of a query now and after every change to them (see `LiveQuery`).
    public func liveQuery(_ filter: Document = [:], sort: Document? = nil, skip: Int = 0, limit: Int = 0,
                          projection: Document? = nil) -> LiveQuery<T> {
        LiveQuery(collection: self, request: FindRequest(filter: filter, sort: sort, projection: projection, skip: skip, limit: limit))
    }
}
