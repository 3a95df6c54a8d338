import FolioBSON
import FolioQuery
import FolioStorage
#if canImport(Glibc)
import Glibc
#endif

// Multi-document updates and deletes (`multi: true`, `limit: 0`) outside transactions, in
// commits of at most `Engine.writeManyChunkDocuments` documents.
//
// Why: one storage transaction for the whole statement held every matching document in
// memory and every other writer out until it committed — update_many of 500,000 documents
// took 14 s and 2.4 GB, delete_many 16 s and 4 GB, and an update_one on another collection
// waited all of it (measured). MongoDB does not make these statements atomic either: it
// writes document by document and yields, other writers go on between, and a statement that
// fails part way leaves the documents it already changed (its reply counts none of them).
//
// How: the record keys of the matching documents are collected first, from one snapshot
// (so no document is visited twice however the update moves it in an index — the Halloween
// problem — and documents inserted meanwhile are not matched), and the snapshot is closed.
// Then each chunk of keys is one group commit that reads each document again and writes it
// if it is still there and still matches the filter. killOp and maxTimeMS are checked
// between chunks (and fail the whole command, as in MongoDB). A failing document: its chunk
// is undone, the documents before it in the chunk are written again in a commit of their
// own, and the statement reports the error. With `j: true` the last commit is durable
// (which makes every earlier one durable too). A `$text` or `$near` filter, which a document
// alone cannot be matched against again, runs as one statement in one commit, as before.
//
// Costs: the keys (~25 bytes per matching document) and one more read of each document.

extension Engine {
    /// Documents per commit of a multi-document update or delete.
    static let writeManyChunkDocuments = 1_000
    /// ...and at most this many bytes of them.
    static let writeManyChunkBytes = 16 << 20

    /// Whether an error is the operation's interruption (killOp, maxTimeMS, shutdown), which
    /// fails the whole command in MongoDB rather than one statement.
    static func interrupts(_ error: FolioError) -> Bool {
        error.code == .interrupted || error.code == .interruptedAtShutdown || error.code == .maxTimeMSExpired
    }

    /// Whether a filter needs its index to match (`$text`, `$near`): a document alone cannot
    /// be matched against it again.
    static func matchesOnlyThroughIndex(_ filter: Filter) -> Bool {
        filter.expression.containsText || filter.expression.containsNear
    }

    /// Whether multi-document statements run in commits of their own: outside multi-document
    /// transactions (whose writes are buffered until their commit), and never for a
    /// retryable write (which refuses them).
    func writesManyInParts(_ options: WriteOptions) -> Bool {
        snapshotCollections == nil && options.retryable == nil
    }

    /// `update` with multi-document statements among `statements`: each of those in parts,
    /// the others as usual, in order.
    func updateInParts(_ ns: Namespace, _ statements: [UpdateStatement], options: WriteOptions) throws(FolioError) -> UpdateResult {
        var result = UpdateResult()
        try inRuns(statements, ordered: options.ordered, many: \.multi, one: { (i) throws(FolioError) in
            let r = try updateMany(ns, statements[i], options: options)
            result.matched += r.matched
            result.modified += r.modified
            if let id = r.upsertedID { result.upserted.append((i, id)) }
        }, together: { (run) throws(FolioError) -> Bool in
            let r = try updateTogether(ns, Array(statements[run]), options: options)
            result.matched += r.matched
            result.modified += r.modified
            result.upserted += r.upserted.map { ($0.index + run.lowerBound, $0.id) }
            result.writeErrors += r.writeErrors.map { WriteError(index: $0.index + run.lowerBound, error: $0.error) }
            return r.writeErrors.isEmpty
        }, failed: { result.writeErrors.append(WriteError(index: $0, error: $1)) })
        return result
    }

    /// `delete` with multi-document statements among `statements`, as `updateInParts`.
    func deleteInParts(_ ns: Namespace, _ statements: [DeleteStatement], options: WriteOptions) throws(FolioError) -> DeleteResult {
        var result = DeleteResult()
        try inRuns(statements, ordered: options.ordered, many: { !$0.limitOne }, one: { (i) throws(FolioError) in
            result.deleted += try deleteMany(ns, statements[i], options: options)
        }, together: { (run) throws(FolioError) -> Bool in
            let r = try deleteTogether(ns, Array(statements[run]), options: options)
            result.deleted += r.deleted
            result.writeErrors += r.writeErrors.map { WriteError(index: $0.index + run.lowerBound, error: $0.error) }
            return r.writeErrors.isEmpty
        }, failed: { result.writeErrors.append(WriteError(index: $0, error: $1)) })
        return result
    }

    /// Runs statements in order: each multi-document one alone (`one`, whose error is the
    /// statement's, reported to `failed`), each run of the others together (`together`,
    /// false when one of them failed). Ordered statements stop at the first failure.
    private func inRuns<S>(_ statements: [S], ordered: Bool, many: (S) -> Bool,
                           one: (Int) throws(FolioError) -> Void,
                           together: (Range<Int>) throws(FolioError) -> Bool,
                           failed: (Int, FolioError) -> Void) throws(FolioError) {
        var i = 0
        while i < statements.count {
            if many(statements[i]) {
                do throws(FolioError) {
                    try one(i)
                } catch {
                    if Engine.endsRequest(error) || Engine.interrupts(error) { throw error }
                    failed(i, Engine.clientError(error))
                    if ordered { return }
                }
                i += 1
                continue
            }
            var end = i
            while end < statements.count && !many(statements[end]) { end += 1 }
            if try !together(i..<end) && ordered { return }
            i = end
        }
    }

    /// One multi-document update statement in parts.
    func updateMany(_ ns: Namespace, _ s: UpdateStatement, options: WriteOptions) throws(FolioError) -> StatementOutcome {
        let validate = !options.bypassDocumentValidation
        let (spec, filter, context) = try folio { () throws -> (UpdateSpec, Filter, UpdateContext) in
            let spec = try UpdateSpec(parsing: s.update, constants: s.constants)
            if spec.isReplacement { throw FolioError(.failedToParse, "multi update is not supported for replacement-style update") }
            let filter = try Filter(parsing: s.filter, constants: s.constants, collator: try Engine.collator(s.collation))
            let arrayFilters = try ArrayFilters(parsing: s.arrayFilters ?? [])
            return (spec, filter, UpdateContext(query: filter.expression, arrayFilters: arrayFilters, constants: s.constants))
        }
        if Engine.matchesOnlyThroughIndex(filter) {
            return try folio {
                try committer.write(durable: options.durable) { txn in
                    try txn.atomically { try self.updateOne(ns, s, txn, validate: validate) }
                }
            }
        }
        var outcome = StatementOutcome()
        let found = try inParts(ns, filter, hint: s.hint, durable: options.durable) { entry, key, raw, txn in
            outcome.matched += 1
            if try self.rewrite(ns, entry, key, raw, spec, context, validate: validate, txn).modified { outcome.modified += 1 }
        }
        if found { return outcome }
        // Nothing matched when the statement began: as one statement (which upserts).
        return try folio {
            try committer.write(durable: options.durable) { txn in
                try txn.atomically { try self.updateOne(ns, s, txn, validate: validate) }
            }
        }
    }

    /// One multi-document delete statement in parts; the number deleted.
    func deleteMany(_ ns: Namespace, _ s: DeleteStatement, options: WriteOptions) throws(FolioError) -> Int {
        let filter = try folio { try Filter(parsing: s.filter, constants: s.constants, collator: try Engine.collator(s.collation)) }
        if Engine.matchesOnlyThroughIndex(filter) {
            return try folio {
                try committer.write(durable: options.durable) { txn in
                    try txn.atomically { try self.deleteOne(ns, s, txn).count }
                }
            }
        }
        var deleted = 0
        _ = try inParts(ns, filter, hint: s.hint, durable: options.durable, inKeyOrder: true) { entry, key, raw, txn in
            try self.removeRecord(entry, key, raw, txn)
            deleted += 1
        }
        return deleted
    }

    /// Runs `write` on each document that matches `filter` in commits of a chunk each (see
    /// the top of this file). Returns false when no document matched when the statement
    /// began (the caller may upsert). What `write` counted is meaningless once this throws
    /// (a failing statement's reply counts none of its documents).
    ///
    /// `inKeyOrder`: the documents are written in record-key order instead of the plan's. A
    /// delete_many through an index on another field removed records scattered over the whole
    /// collection in each chunk, and each chunk's commit wrote every page it touched (BENCHMARKS.md,
    /// issue 28); in key order a chunk's records share pages. Only for deletes: they cannot fail
    /// one document at a time, so which documents went first is not observable, where a failing
    /// update leaves the documents before it in the plan's order updated, as in MongoDB.
    private func inParts(_ ns: Namespace, _ filter: Filter, hint: BSON?, durable: Bool, inKeyOrder: Bool = false,
                         _ write: @escaping (CollectionEntry, [UInt8], RawDocument, any StorageWriteTransaction) throws -> Void) throws(FolioError) -> Bool {
        guard let start = entry(ns) else { return false }
        var records = try matchingKeys(start, filter, hint: hint)
        if inKeyOrder { records = records.sortedByKey() }
        if records.isEmpty { return false }
        var from = 0
        while from < records.count {
            try OperationInterrupt.check()
            let chunk = records.chunk(from: from)
            let last = chunk.upperBound == records.count
            var failed: (position: Int, error: any Error)?
            try folio {
                do {
                    try committer.write(durable: durable && last) { txn in
                        try self.writeChunk(ns, records, chunk, filter, txn) { position, entry, key, raw in
                            do { try write(entry, key, raw, txn) } catch {
                                failed = (position, error)
                                throw error
                            }
                        }
                    }
                } catch {
                    guard let (position, documentError) = failed else { throw error }
                    // The documents before the failing one stay written, as in MongoDB.
                    if position > chunk.lowerBound {
                        try committer.write(durable: durable) { txn in
                            try self.writeChunk(ns, records, chunk.lowerBound..<position, filter, txn) { _, entry, key, raw in
                                try write(entry, key, raw, txn)
                            }
                        }
                    }
                    throw documentError
                }
            }
            from = chunk.upperBound
        }
        return true
    }

    /// The record keys (and sizes) of the documents that match `filter` now, from one
    /// snapshot, closed before any chunk is written: a snapshot kept open while they commit
    /// keeps the checkpoint from the WAL's frames, and the WAL grew with every chunk (the
    /// writer's page lookups slowed down with it: delete_many of 500,000 documents took twice
    /// as long as in one transaction, measured).
    private func matchingKeys(_ entry: CollectionEntry, _ filter: Filter, hint: BSON?) throws(FolioError) -> RecordKeys {
        let snapshot = try Folio_storage { () throws(StorageError) in try storage.snapshot() }
        defer { snapshot.close() }
        let planned = try plan(entry, snapshot, QueryRequest(filter: filter, hint: hint))
        defer { queryStatistics.record(planned.root, entry.namespace) }
        var keys = RecordKeys()
        for row in planned.buffered { keys.append(row) }
        while true {
            switch try folio({ try planned.root.work() }) {
            case .advanced(let row): keys.append(row)
            case .needTime: continue
            case .eof: return keys
            }
        }
    }

    /// Writes the documents of `chunk` (positions in `records`) in one write transaction:
    /// each one that is still there and still matches the filter.
    private func writeChunk(_ ns: Namespace, _ records: RecordKeys, _ chunk: Range<Int>, _ filter: Filter,
                            _ txn: any StorageWriteTransaction,
                            _ write: (Int, CollectionEntry, [UInt8], RawDocument) throws -> Void) throws {
        for position in chunk {
            // The collection as it is now (a chunk may have made an index multikey); gone:
            // nothing is left to write.
            guard let entry = entry(ns) else { return }
            let key = records.key(position)
            guard let bytes = try txn.get(entry.recordStore, key) else { continue }
            let current = RawDocument(trusted: bytes)
            guard filter.matches(current) else { continue }
            try write(position, entry, key, current)
        }
    }
}

/// Record keys in one buffer (a statement over millions of documents holds only these), with
/// the size each document had when it matched, to cut chunks by bytes.
struct RecordKeys {
    private var bytes: [UInt8] = []
    private var ends: [Int] = []
    private var sizes: [Int32] = []

    var count: Int { ends.count }
    var isEmpty: Bool { ends.isEmpty }

    mutating func append(_ row: PlanRow) {
        guard let document = row.document else { return }
        append(key: row.recordKey, size: document.byteCount)
    }

    mutating func append<Key: Collection<UInt8>>(key: Key, size: Int) {
        bytes.append(contentsOf: key)
        ends.append(bytes.count)
        sizes.append(Int32(clamping: size))
    }

    func size(_ i: Int) -> Int { Int(sizes[i]) }

    func key(_ i: Int) -> [UInt8] { Array(bytes[range(i)]) }

    /// Where the `i`-th key is in `bytes`.
    private func range(_ i: Int) -> Range<Int> { (i == 0 ? 0 : ends[i - 1])..<ends[i] }

    /// The same keys in the order storage keeps records (bytes compared as unsigned, a
    /// prefix first).
    func sortedByKey() -> RecordKeys {
        var order = Array(0..<count)
        bytes.withUnsafeBufferPointer { b in
            order.sort { i, j in
                let x = range(i), y = range(j)
                let n = min(x.count, y.count)
                let c = n == 0 ? 0 : memcmp(b.baseAddress! + x.lowerBound, b.baseAddress! + y.lowerBound, n)
                return c != 0 ? c < 0 : x.count < y.count
            }
        }
        var out = RecordKeys()
        out.bytes.reserveCapacity(bytes.count)
        out.ends.reserveCapacity(count)
        out.sizes.reserveCapacity(count)
        for i in order { out.append(key: bytes[range(i)], size: Int(sizes[i])) }
        return out
    }

    /// The positions of the next chunk from `from`: at most `Engine.writeManyChunkDocuments`
    /// documents and, past the first, `Engine.writeManyChunkBytes` bytes.
    func chunk(from: Int) -> Range<Int> {
        var end = from, total = 0
        while end < count && end - from < Engine.writeManyChunkDocuments {
            total += Int(sizes[end])
            if end > from && total > Engine.writeManyChunkBytes { break }
            end += 1
        }
        return from..<end
    }
}
