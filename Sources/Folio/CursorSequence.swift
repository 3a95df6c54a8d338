internal import FolioEngine
internal import FolioQuery
import Synchronization

/// The results of `find` or `aggregate`, read lazily in batches from one snapshot.
///
/// Each iteration opens its own cursor. The cursor (and the storage snapshot it reads) is
/// released as soon as the last result has been read, an error is thrown, the task is
/// cancelled, or the loop is left early (`break`, `return`, a thrown error in the loop body).
///
/// ```swift
/// for try await message in messages.find(["conversation": id], sort: ["at": 1]) {
///     print(message.text)
/// }
/// ```
public struct CursorSequence<T: Codable & Sendable>: AsyncSequence, Sendable {
    public typealias Element = T
    public typealias Failure = FolioError
    let folio: FolioClient
    let open: @Sendable () throws(FolioError) -> Cursor
    /// Documents each engine call reads ahead.
    static var batchSize: Int { 256 }

    /// Reads one cursor; each iterator runs the query again from a new snapshot.
    public struct AsyncIterator: AsyncIteratorProtocol {
        public typealias Failure = FolioError
        let folio: FolioClient
        let open: @Sendable () throws(FolioError) -> Cursor
        var handle: CursorHandle?
        var finished = false
        var buffer: [RawDocument] = []
        var position = 0

        /// The next result, or nil after the last.
        /// - Throws: the query's `FolioError`; 11601 Interrupted when the task is cancelled
        ///   (the cursor is closed first).
        public mutating func next() async throws(FolioError) -> T? {
            if finished { return nil }
            do throws(FolioError) {
                if Task.isCancelled { throw FolioError(.interrupted, "the task reading the cursor was cancelled") }
                if position == buffer.count {
                    try await fill()
                    if buffer.isEmpty {
                        finish()
                        return nil
                    }
                }
                let raw = buffer[position]
                position += 1
                return try FolioCollection<T>.decode(raw)
            } catch {
                finish()
                throw error
            }
        }

        private mutating func fill() async throws(FolioError) {
            let batch = CursorSequence.batchSize
            if handle == nil {
                // Open and read the first batch in one hop to an engine thread (a cursor
                // that fails on its first batch is closed by its deinit).
                let open = self.open
                let (cursor, first) = try await folio.run { () throws(FolioError) in
                    let cursor = try open()
                    return (cursor, try cursor.next(maxCount: batch))
                }
                handle = CursorHandle(cursor, folio: folio)
                buffer = first
            } else if let cursor = handle?.cursor, !cursor.isExhausted {
                buffer = try await folio.run { () throws(FolioError) in try cursor.next(maxCount: batch) }
            } else {
                buffer = []
            }
            position = 0
            if handle?.cursor.isExhausted == true { handle?.close() }
        }

        private mutating func finish() {
            finished = true
            handle?.close()
            handle = nil
            buffer = []
            position = 0
        }
    }

    /// A new iteration of the query (its cursor opens at the first `next()`).
    public func makeAsyncIterator() -> AsyncIterator { AsyncIterator(folio: folio, open: open) }

    /// Collects every result.
    public func toArray() async throws(FolioError) -> [T] {
        var out: [T] = []
        var it = makeAsyncIterator()
        while let v = try await it.next() { out.append(v) }
        return out
    }
}

/// The results of `find`.
public typealias FindSequence<T: Codable & Sendable> = CursorSequence<T>

/// One iteration's cursor: closed once, by the iterator or when the iterator goes away.
final class CursorHandle: Sendable {
    let cursor: Cursor
    let folio: FolioClient
    private let open = Atomic<Bool>(true)

    init(_ cursor: Cursor, folio: FolioClient) {
        self.cursor = cursor
        self.folio = folio
        folio.openCursors.add(1, ordering: .relaxed)
    }

    func close() {
        guard open.exchange(false, ordering: .acquiringAndReleasing) else { return }
        cursor.close()
        folio.openCursors.subtract(1, ordering: .relaxed)
    }

    deinit { close() }
}
