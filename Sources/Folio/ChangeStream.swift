internal import FolioEngine
internal import FolioQuery
import Synchronization
import FolioLocks

/// What a change stream delivers, as `watch` takes it (the options of `$changeStream`).
public struct ChangeStreamOptions: Sendable {
    /// `default`, `updateLookup`, `whenAvailable` or `required`.
    public var fullDocument: String?
    /// `off`, `whenAvailable` or `required`.
    public var fullDocumentBeforeChange: String?
    /// Resume after this event's `_id` (its resume token).
    public var resumeAfter: Document?
    /// Like `resumeAfter`, also after an invalidate event.
    public var startAfter: Document?
    /// Start with the events at or after this cluster time.
    public var startAtOperationTime: Timestamp?
    /// create, createIndexes, dropIndexes and modify events, and `collectionUUID`.
    public var showExpandedEvents = false

    /// Options as `$changeStream` takes them; every one is optional.
    public init(fullDocument: String? = nil, fullDocumentBeforeChange: String? = nil, resumeAfter: Document? = nil,
                startAfter: Document? = nil, startAtOperationTime: Timestamp? = nil, showExpandedEvents: Bool = false) {
        self.fullDocument = fullDocument
        self.fullDocumentBeforeChange = fullDocumentBeforeChange
        self.resumeAfter = resumeAfter
        self.startAfter = startAfter
        self.startAtOperationTime = startAtOperationTime
        self.showExpandedEvents = showExpandedEvents
    }

    var stage: Document {
        var d = Document()
        if let fullDocument { d.append("fullDocument", .string(fullDocument)) }
        if let fullDocumentBeforeChange { d.append("fullDocumentBeforeChange", .string(fullDocumentBeforeChange)) }
        if let resumeAfter { d.append("resumeAfter", .document(resumeAfter)) }
        if let startAfter { d.append("startAfter", .document(startAfter)) }
        if let startAtOperationTime { d.append("startAtOperationTime", .timestamp(startAtOperationTime)) }
        if showExpandedEvents { d.append("showExpandedEvents", true) }
        return d
    }
}

/// One change event, with the documents decoded as `T`. `raw` is the event as a server's
/// change stream returns it (after any stages the stream was given).
public struct ChangeEvent<T: Codable & Sendable>: Sendable {
    /// The resume token: pass it as `resumeAfter` to continue after this event.
    public let id: Document
    /// `insert`, `update`, `replace`, `delete`, `drop`, `rename`, `dropDatabase`,
    /// `invalidate`, and with expanded events `create`, `createIndexes`, `dropIndexes`, `modify`.
    public let operationType: String
    /// When the change committed (the events of one transaction share it).
    public let clusterTime: Timestamp?
    /// `{db, coll}` (`{db}` for dropDatabase).
    public let namespace: Document?
    /// The changed document's `_id` (`{_id: ...}`).
    public let documentKey: Document?
    /// An update's `updatedFields`, `removedFields`, `truncatedArrays`.
    public let updateDescription: Document?
    /// The document after the change: inserts and replacements always, updates with
    /// `fullDocument: "updateLookup"` (or the post-image options).
    public let fullDocument: T?
    /// The document before the change, with `fullDocumentBeforeChange` and pre-images enabled.
    public let fullDocumentBeforeChange: T?
    /// The event as the server's change stream returns it.
    public let raw: Document

    init(_ d: Document) throws(FolioError) {
        raw = d
        guard case .document(let id)? = d["_id"] else {
            throw FolioError(.changeStreamFatalError, "a change stream event lost its _id (its resume token)")
        }
        self.id = id
        operationType = d["operationType"]?.stringValue ?? ""
        if case .timestamp(let t)? = d["clusterTime"] { clusterTime = t } else { clusterTime = nil }
        namespace = d["ns"]?.documentValue
        documentKey = d["documentKey"]?.documentValue
        updateDescription = d["updateDescription"]?.documentValue
        func decode(_ v: BSON?) throws(FolioError) -> T? {
            guard case .document(let doc)? = v else { return nil }
            return try FolioCollection<T>.decode(RawDocument(trusted: doc.bsonBytes()))
        }
        fullDocument = try decode(d["fullDocument"])
        fullDocumentBeforeChange = try decode(d["fullDocumentBeforeChange"])
    }
}

/// Changes as they commit, as an async sequence that waits for the next commit when it has
/// delivered everything (without holding a thread). It ends after an invalidate event, or
/// when the task iterating it is cancelled. Every iterator is a stream of its own from the
/// options' starting point (the time `makeAsyncIterator` runs without one).
///
/// ```swift
/// for try await event in messages.watch([["$match": ["operationType": "insert"]]]) {
///     print(event.fullDocument!, event.id)   // keep event.id to resume after a restart
/// }
/// ```
public struct ChangeStream<T: Codable & Sendable>: AsyncSequence, Sendable {
    public typealias Element = ChangeEvent<T>
    public typealias Failure = FolioError
    let folio: FolioClient
    let open: @Sendable () throws(FolioError) -> Cursor

    /// Reads one stream of events; each iterator is a stream of its own.
    public struct AsyncIterator: AsyncIteratorProtocol {
        public typealias Failure = FolioError
        let folio: FolioClient
        let open: @Sendable () throws(FolioError) -> Cursor
        var cursor: Cursor?
        var buffer: [RawDocument] = []
        /// Where the stream would resume now: the last event returned, or further when events
        /// were filtered out or none came (the server's postBatchResumeToken).
        public private(set) var resumeToken: Document?

        /// The next event, waiting for a commit when none is pending; nil after an invalidate
        /// event or when the task is cancelled.
        public mutating func next() async throws(FolioError) -> ChangeEvent<T>? {
            if cursor == nil {
                let open = self.open
                cursor = try await folio.run { () throws(FolioError) in try open() }
            }
            guard let c = cursor else { return nil }
            while buffer.isEmpty {
                if c.isExhausted || Task.isCancelled { return nil }
                let engine = folio.engine
                let seen = engine.clusterTime
                buffer = try await folio.run { () throws(FolioError) in try c.next(maxCount: 256) }
                if buffer.isEmpty {
                    resumeToken = c.postBatchResumeToken
                    if c.isExhausted { return nil }
                    await ChangeStream.nextCommit(after: seen, engine)
                }
            }
            let event = try ChangeEvent<T>(buffer.removeFirst().document())
            resumeToken = buffer.isEmpty ? c.postBatchResumeToken : event.id
            return event
        }
    }

    /// A new stream of events from the options' starting point.
    public func makeAsyncIterator() -> AsyncIterator { AsyncIterator(folio: folio, open: open) }

    /// Suspends until a commit later than `seen`, or until the task is cancelled.
    static func nextCommit(after seen: Timestamp, _ engine: Engine) async {
        let waiter = CommitWaiter()
        await withTaskCancellationHandler {
            await withCheckedContinuation { (c: CheckedContinuation<Void, Never>) in
                waiter.continuation.withLock { $0 = c }
                let id = engine.notifyAfterCommit(since: seen) { waiter.resume() }
                waiter.id.withLock { $0 = id }
                if Task.isCancelled, let id, engine.cancelCommitNotification(id) { waiter.resume() }
            }
        } onCancel: {
            if let id = waiter.id.withLock({ $0 }), engine.cancelCommitNotification(id) { waiter.resume() }
        }
    }
}

extension ChangeStream {
    /// A stream on `collection` of `database`, on the database (nil), or on every database
    /// (`cluster`).
    init(folio: FolioClient, database: String, collection: String?, cluster: Bool = false, pipeline: [Document],
         options: ChangeStreamOptions) {
        self.folio = folio
        let engine = folio.engine
        self.open = { () throws(FolioError) -> Cursor in
            var stage = options.stage
            if cluster { stage.append("allChangesForCluster", true) }
            let spec = try ChangeStreamSpec(parsing: stage, database: database, collection: collection)
            return try engine.watch(spec, pipeline: pipeline.map(BSON.document))
        }
    }
}

extension FolioCollection {
    /// The collection's changes (see ChangeStream); `pipeline` may hold the stages MongoDB
    /// allows after `$changeStream` ($match, $project, $addFields, $set, $unset,
    /// $replaceRoot, $replaceWith, $redact).
    public func watch(_ pipeline: [Document] = [], options: ChangeStreamOptions = ChangeStreamOptions()) -> ChangeStream<T> {
        ChangeStream(folio: database.folio, database: database.name, collection: name, pipeline: pipeline, options: options)
    }
}

extension FolioDatabase {
    /// The database's changes, every collection's (see ChangeStream).
    public func watch(_ pipeline: [Document] = [], options: ChangeStreamOptions = ChangeStreamOptions()) -> ChangeStream<Document> {
        ChangeStream(folio: folio, database: name, collection: nil, pipeline: pipeline, options: options)
    }
}

extension FolioClient {
    /// Every database's changes (admin, config and local aside).
    public func watch(_ pipeline: [Document] = [], options: ChangeStreamOptions = ChangeStreamOptions()) -> ChangeStream<Document> {
        ChangeStream(folio: self, database: "admin", collection: nil, cluster: true, pipeline: pipeline, options: options)
    }
}

/// One wait for the next commit: resumed once, by the commit or by cancellation.
final class CommitWaiter: Sendable {
    let id = Locked<UInt64?>(nil)
    let continuation = Locked<CheckedContinuation<Void, Never>?>(nil)

    func resume() {
        continuation.withLock { c in
            c?.resume()
            c = nil
        }
    }
}
