import FolioBSON
import FolioQuery
import FolioStorage

/// One failed statement of a batch.
public struct WriteError: Error, Sendable {
    /// Position of the statement in the batch.
    public var index: Int
    public var error: FolioError
}

/// How a write batch runs.
public struct WriteOptions: Sendable {
    /// Stop at the first error (true) or run every statement (false).
    public var ordered: Bool
    /// Sync to stable storage before acknowledging (`j: true`).
    public var durable: Bool
    /// `bypassDocumentValidation`.
    public var bypassDocumentValidation: Bool
    /// The session and transaction number of a retryable write (nil: not retryable).
    public var retryable: RetryableWrite?

    public init(ordered: Bool = true, durable: Bool = false, bypassDocumentValidation: Bool = false,
                retryable: RetryableWrite? = nil) {
        self.ordered = ordered
        self.durable = durable
        self.bypassDocumentValidation = bypassDocumentValidation
        self.retryable = retryable
    }
}

public struct InsertResult: Sendable {
    public var insertedCount = 0
    /// `_id` of each inserted statement, by position.
    public var insertedIDs: [Int: BSON] = [:]
    public var writeErrors: [WriteError] = []
}

/// One statement of an update command.
public struct UpdateStatement: Sendable {
    public var filter: Document
    public var update: BSON
    public var upsert: Bool
    public var multi: Bool
    public var arrayFilters: [BSON]?
    /// updateOne/replaceOne `sort` (MongoDB 8.0).
    public var sort: Document?
    /// `let` (command) and `c` (statement) variables.
    public var constants: [String: BSON]
    /// `hint`: the index the targeting query must use.
    public var hint: BSON?
    /// `collation`: how strings compare in the filter and the sort (nil: binary).
    public var collation: Document?

    public init(filter: Document, update: BSON, upsert: Bool = false, multi: Bool = false,
                arrayFilters: [BSON]? = nil, sort: Document? = nil, constants: [String: BSON] = [:], hint: BSON? = nil,
                collation: Document? = nil) {
        self.hint = hint
        self.collation = collation
        self.filter = filter
        self.update = update
        self.upsert = upsert
        self.multi = multi
        self.arrayFilters = arrayFilters
        self.sort = sort
        self.constants = constants
    }
}

public struct UpdateResult: Sendable {
    public var matched = 0
    public var modified = 0
    public var upserted: [(index: Int, id: BSON)] = []
    public var writeErrors: [WriteError] = []
}

public struct DeleteStatement: Sendable {
    public var filter: Document
    /// Delete at most one document (`limit: 1`).
    public var limitOne: Bool
    public var constants: [String: BSON]
    /// `hint`: the index the targeting query must use.
    public var hint: BSON?
    /// `collation`: how strings compare in the filter (nil: binary).
    public var collation: Document?

    public init(filter: Document, limitOne: Bool, constants: [String: BSON] = [:], hint: BSON? = nil,
                collation: Document? = nil) {
        self.hint = hint
        self.collation = collation
        self.filter = filter
        self.limitOne = limitOne
        self.constants = constants
    }
}

public struct DeleteResult: Sendable {
    public var deleted = 0
    public var writeErrors: [WriteError] = []
}

extension Engine {
    /// Inserts documents. `_id` is added (an ObjectId, first) when absent and moved first
    /// when present.
    /// - Complexity: O(n) statements in one storage transaction.
    public func insert(_ ns: Namespace, _ documents: [Document], options: WriteOptions = WriteOptions()) throws(FolioError) -> InsertResult {
        try insert(ns, documents, received: nil, options: options)
    }

    /// Inserts documents that arrived as BSON: `received[i]` holds the bytes `documents[i]`
    /// was decoded from. A document whose `_id` comes first and whose bytes are what encoding
    /// it would give (`RawDocument.encodesAsItself`) is stored as those bytes, without
    /// encoding it again.
    package func insert(_ ns: Namespace, _ documents: [Document], received: [RawDocument]?,
                        options: WriteOptions = WriteOptions()) throws(FolioError) -> InsertResult {
        precondition(received == nil || received!.count == documents.count, "one received document per document")
        return try folio {
            try committer.write(durable: options.durable) { txn -> InsertResult in
                let history = try self.retryHistory(options.retryable, txn)
                // The fail point hook sees the whole batch, as MongoDB commits an insert
                // command's documents together: a failure undoes all of them.
                guard history?.write.beforeCommit != nil else {
                    let result = try self.insertBatch(ns, documents, received, options, history, txn)
                    try self.finish(history, txn)
                    return result
                }
                do {
                    return try txn.atomically {
                        let result = try self.insertBatch(ns, documents, received, options, history, txn)
                        if result.insertedCount > history!.retriedStatements { try history!.beforeCommit() }
                        try self.finish(history, txn)
                        return result
                    }
                } catch let error as FolioError {
                    let indexes = options.ordered ? [0] : Array(documents.indices)
                    return InsertResult(writeErrors: indexes.map { WriteError(index: $0, error: error) })
                }
            }
        }
    }

    /// The statements of an insert command, each undone alone if it fails; statements a
    /// retryable write already applied are counted and skipped.
    func insertBatch(_ ns: Namespace, _ documents: [Document], _ received: [RawDocument]?, _ options: WriteOptions,
                     _ history: RetryHistory?, _ txn: any StorageWriteTransaction) throws -> InsertResult {
        var result = InsertResult()
        // A document's index keys are made before anything of it is written (storeNew), so
        // one that an index cannot take is refused with nothing to undo, and the record is one
        // put. After the record, only a unique index (a duplicate) or a vector index (its
        // store) can still refuse it: then a savepoint undoes the record. Not taking one
        // otherwise matters: inside a request that shares its group commit (itself in a
        // savepoint), every document's savepoint copies each page it touches into SQLite's
        // sub-journal again (16 KiB each), which made concurrent insert_many half as fast.
        // Indexes cannot appear in the middle of this batch.
        let current = entry(ns)
        let indexed = current.map { !$0.indexes.isEmpty || !$0.searchIndexes.isEmpty } ?? false
        let undoable = current.map { e in e.indexes.contains { $0.unique } || !e.searchIndexes.isEmpty } ?? false
        let validate = !options.bypassDocumentValidation
        // The collection's entry as the last document left it (the first may create the
        // collection, any may make an index multikey; nothing else changes the catalog
        // during this batch).
        var known: CollectionEntry?
        for (i, document) in documents.enumerated() {
            if let history, history.wasExecuted(i) {
                result.insertedCount += 1
                result.insertedIDs[i] = document["_id"]
                continue
            }
            do {
                let one = { () throws -> (BSON, CollectionEntry) in
                    try self.insertOne(ns, document, txn, validate: validate, received: received?[i], entry: known)
                }
                let (id, entry) = try undoable ? txn.atomically { try one() } : one()
                known = entry
                result.insertedCount += 1
                result.insertedIDs[i] = id
                history?.record(i)
            } catch {
                if Engine.endsRequest(error) { throw error }
                // Without a savepoint a storage failure may leave part of an indexed document
                // written (its record without its index keys): it fails the whole request,
                // which undoes it.
                if indexed && !undoable && error is StorageError { throw error }
                result.writeErrors.append(WriteError(index: i, error: Engine.clientError(error)))
                if options.ordered { break }
            }
        }
        return result
    }

    static func clientError(_ error: any Error) -> FolioError {
        if let e = error as? FolioError { return e }
        if let e = error as? StorageError { return e.folioError }
        return FolioError(.internalError, "\(error)")
    }

    /// Puts `_id` first (generating one), validates (the insert rules, and the collection's
    /// validator when `validate` is set), and stores one document.
    /// `received`: the bytes `document` was decoded from, stored as they are when `_id` comes
    /// first and they encode as themselves. `entry`: the collection's entry, when the caller
    /// has it. Returns the `_id` and the entry as the insert left it.
    func insertOne(_ ns: Namespace, _ document: Document, _ txn: any StorageWriteTransaction, validate: Bool,
                   received: RawDocument? = nil, entry known: CollectionEntry? = nil) throws -> (BSON, CollectionEntry) {
        var d = document
        var asReceived = received != nil
        if let i = d.index(forKey: "_id") {
            if i != 0 {
                let id = d.element(at: i).value
                d.removeValue(at: i)
                d.insert("_id", id, at: 0)
                asReceived = false
            }
        } else {
            d.insert("_id", .objectID(ObjectID()), at: 0)
            asReceived = false
        }
        let bytes = asReceived && received!.encodesAsItself ? received!.bytes : d.bsonBytes()
        try InsertValidation.validate(d, encodedSize: bytes.count)
        let entry = try known ?? entryForWrite(ns, in: txn)
        try refuseCappedWriteInTransaction(entry)
        try Engine.checkFitsCapped(entry, bytes.count)
        if validate, let validator = entry.validator { _ = try validator.check(d, previous: nil) }
        return (d["_id"]!, try storeNew(entry, d, bytes, txn))
    }

    /// Stores a document under its `_id`, refusing duplicates with 11000. Returns the
    /// collection's entry as it is afterwards (an index may have become multikey).
    @discardableResult
    func storeNew(_ entry: CollectionEntry, _ document: Document, _ bytes: [UInt8], _ txn: any StorageWriteTransaction) throws -> CollectionEntry {
        let id = document["_id"]!
        let key = KeyString.encode(id)
        // The index keys first: a document an index cannot take (parallel arrays, a bad
        // geometry, …) is refused before anything of it is written (unless the index is
        // being built: see writerKeys).
        let keys = try entry.indexes.map { index throws(FolioError) in try index.writerKeys(for: document) }
        guard try txn.insert(entry.recordStore, key, bytes) else {
            throw Engine.duplicateKey(entry.namespace, index: "_id_", keyPattern: ["_id": 1], keyValue: ["_id": id])
        }
        let after = try indexInserted(entry, keys, key, txn)
        logInsert(entry, bytes, id: id, txn)
        if entry.capped != nil { try cappedInserted(entry, key, bytes: bytes.count, txn) }
        return after
    }

    /// Runs update statements. A multi-document statement outside a transaction commits in
    /// parts (Engine+WriteMany.swift); the others run together in one commit.
    public func update(_ ns: Namespace, _ statements: [UpdateStatement], options: WriteOptions = WriteOptions()) throws(FolioError) -> UpdateResult {
        if writesManyInParts(options) && statements.contains(where: \.multi) {
            return try updateInParts(ns, statements, options: options)
        }
        return try updateTogether(ns, statements, options: options)
    }

    /// Runs update statements in one commit.
    func updateTogether(_ ns: Namespace, _ statements: [UpdateStatement], options: WriteOptions) throws(FolioError) -> UpdateResult {
        try folio {
            try committer.write(durable: options.durable) { txn -> UpdateResult in
                let history = try self.retryHistory(options.retryable, txn)
                var result = UpdateResult()
                for (i, statement) in statements.enumerated() {
                    if let prior = history?.result(i) {
                        result.addRetried(prior, at: i)
                        continue
                    }
                    do {
                        if history != nil && statement.multi {
                            throw FolioError(.invalidOptions, "Cannot use (or request) retryable writes with multi=true")
                        }
                        let r = try txn.atomically {
                            let r = try self.updateOne(ns, statement, txn, validate: !options.bypassDocumentValidation)
                            try history?.beforeCommit()
                            return r
                        }
                        result.matched += r.matched
                        result.modified += r.modified
                        if let id = r.upsertedID { result.upserted.append((i, id)) }
                        history?.record(i, result: UpdateResult.historyEntry(matched: r.matched, modified: r.modified, upserted: r.upsertedID))
                    } catch {
                        if Engine.endsRequest(error) { throw error }
                        result.writeErrors.append(WriteError(index: i, error: Engine.clientError(error)))
                        if options.ordered { break }
                    }
                }
                try self.finish(history, txn)
                return result
            }
        }
    }

    struct StatementOutcome {
        var matched = 0
        var modified = 0
        var upsertedID: BSON?
        /// For findAndModify: the document before and after.
        var before: Document?
        var after: Document?
    }

    /// Applies one update statement inside a write transaction; with `validate`, each new
    /// version must pass the collection's validator.
    func updateOne(_ ns: Namespace, _ s: UpdateStatement, _ txn: any StorageWriteTransaction, validate: Bool) throws -> StatementOutcome {
        let spec = try UpdateSpec(parsing: s.update, constants: s.constants)
        if s.multi && spec.isReplacement {
            throw FolioError(.failedToParse, "multi update is not supported for replacement-style update")
        }
        let collator = try Engine.collator(s.collation)
        let filter = try Filter(parsing: s.filter, constants: s.constants, collator: collator)
        let arrayFilters = try ArrayFilters(parsing: s.arrayFilters ?? [])
        let context = UpdateContext(query: filter.expression, arrayFilters: arrayFilters, constants: s.constants)
        var outcome = StatementOutcome()
        if let entry = entry(ns) {
            try refuseCappedWriteInTransaction(entry)
            let sort = try SortSpec.parsing(s.multi ? nil : s.sort, collator: collator)
            let targets = try matchingRecords(txn, entry, filter, sort: sort, sortPattern: s.multi ? nil : s.sort, limit: s.multi ? nil : 1, hint: s.hint)
            outcome.matched = targets.count
            for (key, raw) in targets {
                let r = try rewrite(ns, entry, key, raw, spec, context, validate: validate, txn)
                if r.modified { outcome.modified += 1 }
                outcome.before = r.before
                outcome.after = r.after
            }
        }
        if outcome.matched == 0 && s.upsert {
            var seed = try UpsertSeed.document(from: s.filter)
            if spec.isReplacement { seed = Document(seed.filter { $0.key == "_id" }.map { ($0.key, $0.value) }) }
            var upsertContext = context
            upsertContext.isUpsertInsert = true
            try spec.apply(to: &seed, context: upsertContext)
            let (id, _) = try insertOne(ns, seed, txn, validate: validate)
            outcome.upsertedID = id
            outcome.after = try entry(ns).flatMap { e in try txn.get(e.recordStore, KeyString.encode(id)) }.map { RawDocument(trusted: $0).document() }
        }
        return outcome
    }

    /// Applies `spec` to one stored document and, if that changed it, writes the new version
    /// with its index entries, capped size and change-log entry. The document before and
    /// after, and whether it was written.
    func rewrite(_ ns: Namespace, _ entry: CollectionEntry, _ key: [UInt8], _ raw: RawDocument, _ spec: UpdateSpec,
                 _ context: UpdateContext, validate: Bool, _ txn: any StorageWriteTransaction) throws -> (before: Document, after: Document, modified: Bool) {
        let before = raw.document()
        var after = before
        guard try spec.apply(to: &after, context: context) else { return (before, after, false) }
        let bytes = after.bsonBytes()
        if bytes.count > Limits.maximumDocumentSizeBytes {
            throw FolioError(.location17419, "Resulting document after update is larger than \(Limits.maximumDocumentSizeBytes)")
        }
        if spec.isReplacement { try InsertValidation.validate(after, encodedSize: bytes.count) }
        if validate, let validator = entry.validator { _ = try validator.check(after, previous: before) }
        try txn.put(entry.recordStore, key, bytes)
        try indexUpdated(self.entry(ns) ?? entry, before: before, after: after, key, txn)
        try cappedResized(entry, from: raw.byteCount, to: bytes.count, txn)
        logUpdate(entry, before: before, after: after, afterBytes: bytes, replacement: spec.isReplacement, txn)
        return (before, after, true)
    }

    /// Runs delete statements. A multi-document statement outside a transaction commits in
    /// parts (Engine+WriteMany.swift); the others run together in one commit.
    public func delete(_ ns: Namespace, _ statements: [DeleteStatement], options: WriteOptions = WriteOptions()) throws(FolioError) -> DeleteResult {
        if writesManyInParts(options) && statements.contains(where: { !$0.limitOne }) {
            return try deleteInParts(ns, statements, options: options)
        }
        return try deleteTogether(ns, statements, options: options)
    }

    /// Runs delete statements in one commit.
    func deleteTogether(_ ns: Namespace, _ statements: [DeleteStatement], options: WriteOptions) throws(FolioError) -> DeleteResult {
        try folio {
            try committer.write(durable: options.durable) { txn -> DeleteResult in
                let history = try self.retryHistory(options.retryable, txn)
                var result = DeleteResult()
                for (i, statement) in statements.enumerated() {
                    if let prior = history?.result(i) {
                        result.addRetried(prior)
                        continue
                    }
                    do {
                        if history != nil && !statement.limitOne {
                            throw FolioError(.invalidOptions, "Cannot use (or request) retryable writes with limit=0")
                        }
                        let n = try txn.atomically {
                            let n = try self.deleteOne(ns, statement, txn).count
                            try history?.beforeCommit()
                            return n
                        }
                        result.deleted += n
                        history?.record(i, result: DeleteResult.historyEntry(deleted: n))
                    } catch {
                        if Engine.endsRequest(error) { throw error }
                        result.writeErrors.append(WriteError(index: i, error: Engine.clientError(error)))
                        if options.ordered { break }
                    }
                }
                try self.finish(history, txn)
                return result
            }
        }
    }

    func deleteOne(_ ns: Namespace, _ s: DeleteStatement, _ txn: any StorageWriteTransaction, sort: Document? = nil) throws -> [Document] {
        let collator = try Engine.collator(s.collation)
        let filter = try Filter(parsing: s.filter, constants: s.constants, collator: collator)
        guard let entry = entry(ns) else { return [] }
        if entry.capped != nil, snapshotCollections != nil {
            throw FolioError(.illegalOperation, "Cannot remove from a capped collection in a multi-document transaction: \(ns)")
        }
        let targets = try matchingRecords(txn, entry, filter, sort: try SortSpec.parsing(sort, collator: collator), sortPattern: sort,
                                          limit: s.limitOne ? 1 : nil, hint: s.hint)
        for (key, raw) in targets { try removeRecord(entry, key, raw, txn) }
        return targets.map { $0.1.document() }
    }
}

/// A findAndModify request.
public struct FindAndModifyRequest: Sendable {
    public var filter: Document
    public var sort: Document?
    public var remove: Bool
    public var update: BSON?
    public var returnNew: Bool
    public var fields: Document?
    public var upsert: Bool
    public var arrayFilters: [BSON]?
    public var constants: [String: BSON]
    /// `hint`: the index the targeting query must use.
    public var hint: BSON?
    /// `bypassDocumentValidation`.
    public var bypassDocumentValidation = false
    /// `collation`: how strings compare in the query and the sort (nil: binary).
    public var collation: Document?

    public init(filter: Document = Document(), sort: Document? = nil, remove: Bool = false, update: BSON? = nil,
                returnNew: Bool = false, fields: Document? = nil, upsert: Bool = false, arrayFilters: [BSON]? = nil,
                constants: [String: BSON] = [:]) {
        self.filter = filter
        self.sort = sort
        self.remove = remove
        self.update = update
        self.returnNew = returnNew
        self.fields = fields
        self.upsert = upsert
        self.arrayFilters = arrayFilters
        self.constants = constants
    }

    /// The delete this request makes (`remove: true`), as findAndModify and its explain run it.
    var deleteStatement: DeleteStatement {
        DeleteStatement(filter: filter, limitOne: true, constants: constants, hint: hint, collation: collation)
    }

    /// The update this request makes with `update`, as findAndModify and its explain run it.
    func updateStatement(_ update: BSON) -> UpdateStatement {
        UpdateStatement(filter: filter, update: update, upsert: upsert, multi: false, arrayFilters: arrayFilters, sort: sort,
                        constants: constants, hint: hint, collation: collation)
    }
}

/// What findAndModify reports (`lastErrorObject` and `value`).
public struct FindAndModifyResult: Sendable {
    public var matched: Int
    public var updatedExisting: Bool
    public var upsertedID: BSON?
    public var value: Document?
}

extension Engine {
    /// findAndModify: atomically finds one document (by `sort`) and updates or removes it.
    /// - Throws: as update/delete; 9 FailedToParse when both or neither of update/remove are given.
    public func findAndModify(_ ns: Namespace, _ r: FindAndModifyRequest, durable: Bool = false,
                              retryable: RetryableWrite? = nil) throws(FolioError) -> FindAndModifyResult {
        if r.remove == (r.update != nil) {
            throw FolioError(.failedToParse, r.remove ? "Cannot specify both an update and remove=true" : "Either an update or remove=true must be specified")
        }
        if r.remove && (r.upsert || r.returnNew) {
            throw FolioError(.failedToParse, "Cannot specify both upsert=true and remove=true")
        }
        let projection = try r.fields.map { f throws(FolioError) in try Projection(parsing: f) }
        let query = try MatchExpression(parsing: r.filter, constants: r.constants, collator: try Engine.collator(r.collation))
        return try folio {
            try committer.write(durable: durable) { txn -> FindAndModifyResult in
                let history = try self.retryHistory(retryable, txn)
                if let prior = history?.result(0) {
                    try self.finish(history, txn)
                    return FindAndModifyResult(history: prior)
                }
                let result: FindAndModifyResult
                if r.remove {
                    let removed = try self.deleteOne(ns, r.deleteStatement, txn, sort: r.sort)
                    result = FindAndModifyResult(matched: removed.count, updatedExisting: false, upsertedID: nil,
                                                 value: try removed.first.map { try projection?.apply(to: $0, query: query) ?? $0 })
                } else {
                    let o = try self.updateOne(ns, r.updateStatement(r.update!), txn, validate: !r.bypassDocumentValidation)
                    let chosen = r.returnNew ? o.after : (o.upsertedID == nil ? o.before : nil)
                    result = FindAndModifyResult(matched: o.matched + (o.upsertedID == nil ? 0 : 1), updatedExisting: o.matched > 0,
                                                 upsertedID: o.upsertedID,
                                                 value: try chosen.map { try projection?.apply(to: $0, query: query) ?? $0 })
                }
                if let history {
                    try history.beforeCommit()
                    history.record(0, result: result.historyEntry)
                    try self.finish(history, txn)
                }
                return result
            }
        }
    }
}
