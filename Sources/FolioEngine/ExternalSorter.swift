import FolioBSON
import FolioQuery

#if canImport(Glibc)
import Glibc
#endif

// Sorting with a memory budget: documents accumulate in memory; past the budget, sorted runs
// are written to temporary files and merged on read.
//
// Run file format: repeated [UInt32 LE length][sort-key document BSON][UInt32 LE length]
// [document BSON]. Files are unlinked as soon as they are opened, so a crash leaves nothing.
// Costs: each spilled document is written once and read once; the merge compares k heads.

/// Sorts raw documents by a sort spec within a memory budget.
final class ExternalSorter {
    struct Item {
        var key: [BSON]
        var document: RawDocument
    }

    let spec: SortSpec
    let memoryLimitBytes: Int
    let allowDiskUse: Bool
    private var buffer: [Item] = []
    private var bufferedBytes = 0
    private var runs: [RunReader] = []
    private var sequence = 0

    /// With `keep` > 0 only the first `keep` documents in order are wanted (a sort with a
    /// limit): the buffer is cut back to them whenever it doubles, so memory stays at about
    /// 2 × keep documents and the work at n log keep, not a sort (or a spill) of everything.
    let keep: Int

    init(spec: SortSpec, memoryLimitBytes: Int, allowDiskUse: Bool, keep: Int = 0) {
        self.spec = spec
        self.memoryLimitBytes = memoryLimitBytes
        self.allowDiskUse = allowDiskUse
        self.keep = keep
    }

    func add(_ document: RawDocument) throws(FolioError) {
        try add(document, key: spec.sortKey(for: document.document(onlyFields: sortFields)))
    }

    /// The top-level fields the sort reads (the rest of each document is not decoded).
    private lazy var sortFields = Array(Set(spec.keys.map { $0.valuePath.components[0] }))

    /// Adds a document under a key computed by the caller (one value per key of `spec`,
    /// which then only supplies the directions).
    func add(_ document: RawDocument, key: [BSON]) throws(FolioError) {
        buffer.append(Item(key: key, document: document))
        bufferedBytes += Self.bytes(buffer[buffer.count - 1])
        // At twice `keep` (written so a saturated skip + limit cannot overflow).
        if keep > 0 && buffer.count >= 64 && buffer.count / 2 >= keep {
            // Ties keep input order: the kept items came first and the sort is stable.
            sortBuffer()
            buffer.removeLast(buffer.count - keep)
            bufferedBytes = buffer.reduce(0) { $0 + Self.bytes($1) }
        }
        if bufferedBytes > memoryLimitBytes {
            guard allowDiskUse else {
                throw FolioError(.queryExceededMemoryLimitNoDiskUseAllowed,
                                 "Sort exceeded memory limit of \(memoryLimitBytes) bytes, but did not opt in to external sorting.")
            }
            try spill()
        }
    }

    private static func bytes(_ item: Item) -> Int {
        item.key.reduce(item.document.byteCount + 64) { $0 + $1.approximateByteSize }
    }

    func sortBuffer() {
        let s = spec
        buffer = buffer.enumerated().sorted { a, b in
            let c = s.compare(a.element.key, b.element.key)
            return c != 0 ? c < 0 : a.offset < b.offset
        }.map(\.element)
    }

    private func spill() throws(FolioError) {
        sortBuffer()
        let writer = try RunWriter()
        for item in buffer { try writer.write(item) }
        runs.append(try writer.finish())
        buffer.removeAll(keepingCapacity: true)
        bufferedBytes = 0
    }

    /// Whether any run went to disk.
    var spilled: Bool { !runs.isEmpty }

    /// Finishes input; returns the sorted sequence.
    func finish() throws(FolioError) -> SortedOutput {
        sortBuffer()
        return SortedOutput(spec: spec, memory: buffer, runs: runs)
    }
}

/// The merged output of memory and spilled runs.
// @unchecked Sendable: a SortedOutput lives inside a Cursor's Mutex and is only touched
// under that lock.
final class SortedOutput: @unchecked Sendable {
    let spec: SortSpec
    private var memory: [ExternalSorter.Item]
    private var memoryIndex = 0
    private var runs: [RunReader]
    private var heads: [ExternalSorter.Item?]

    init(spec: SortSpec, memory: [ExternalSorter.Item], runs: [RunReader]) {
        self.spec = spec
        self.memory = memory
        self.runs = runs
        self.heads = runs.map { $0.next() }
    }

    /// The next document in order. Ties keep input order: runs were written in input order
    /// and precede the in-memory tail.
    func next() -> RawDocument? { nextItem()?.document }

    /// The next document with its sort key.
    func nextItem() -> ExternalSorter.Item? {
        var best: Int? = nil
        for i in 0..<heads.count {
            guard let h = heads[i] else { continue }
            if best == nil || spec.compare(h.key, heads[best!]!.key) < 0 { best = i }
        }
        if memoryIndex < memory.count {
            if best == nil || spec.compare(memory[memoryIndex].key, heads[best!]!.key) < 0 {
                defer { memoryIndex += 1 }
                return memory[memoryIndex]
            }
        }
        guard let b = best else { return nil }
        let item = heads[b]!
        heads[b] = runs[b].next()
        return item
    }
}

/// Appends items to a temporary file.
final class RunWriter {
    let fd: Int32
    private var pending: [UInt8] = []

    init() throws(FolioError) {
        var template = Array("/tmp/folio-sort-XXXXXX".utf8CString)
        let fd = template.withUnsafeMutableBufferPointer { mkstemp($0.baseAddress!) }
        guard fd >= 0 else { throw FolioError(.internalError, "cannot create a temporary file for external sort: \(String(cString: strerror(errno)))") }
        template.withUnsafeBufferPointer { _ = unlink($0.baseAddress!) }
        self.fd = fd
    }

    func write(_ item: ExternalSorter.Item) throws(FolioError) {
        let keyBytes = Document(item.key.enumerated().map { (String($0.offset), $0.element) }).bsonBytes()
        appendLength(keyBytes.count)
        pending.append(contentsOf: keyBytes)
        let docBytes = item.document.bytes
        appendLength(docBytes.count)
        pending.append(contentsOf: docBytes)
        if pending.count > 1 << 20 { try flush() }
    }

    /// Appends one document (a `$group` spill partition holds documents only).
    func write(document bytes: [UInt8]) throws(FolioError) {
        appendLength(bytes.count)
        pending.append(contentsOf: bytes)
        if pending.count > 1 << 20 { try flush() }
    }

    private func appendLength(_ n: Int) {
        withUnsafeBytes(of: Int32(n).littleEndian) { pending.append(contentsOf: $0) }
    }

    private func flush() throws(FolioError) {
        var offset = 0
        while offset < pending.count {
            let n = pending.withUnsafeBytes { Glibc.write(fd, $0.baseAddress! + offset, pending.count - offset) }
            guard n > 0 else { throw FolioError(.internalError, "external sort write failed: \(String(cString: strerror(errno)))") }
            offset += n
        }
        pending.removeAll(keepingCapacity: true)
    }

    func finish() throws(FolioError) -> RunReader {
        try flush()
        return RunReader(fd: fd)
    }
}

/// Reads items back from a run file, from its start (positioned reads, so several readers
/// of one file do not disturb each other).
final class RunReader {
    let fd: Int32
    private var buffer: [UInt8] = []
    private var position = 0
    private var fileOffset: off_t = 0
    private var atEnd = false

    init(fd: Int32) { self.fd = fd }
    deinit { Glibc.close(fd) }

    /// Another reader of the same file, from its start.
    func reopened() throws(FolioError) -> RunReader {
        let copy = dup(fd)
        guard copy >= 0 else { throw FolioError(.internalError, "cannot reopen a temporary file: \(String(cString: strerror(errno)))") }
        return RunReader(fd: copy)
    }

    private func fill(_ needed: Int) -> Bool {
        while buffer.count - position < needed && !atEnd {
            if position > 0 {
                buffer.removeFirst(position)
                position = 0
            }
            var chunk = [UInt8](repeating: 0, count: max(needed, 1 << 20))
            let n = chunk.withUnsafeMutableBytes { pread(fd, $0.baseAddress!, $0.count, fileOffset) }
            if n <= 0 { atEnd = true; break }
            fileOffset += off_t(n)
            buffer.append(contentsOf: chunk[0..<n])
        }
        return buffer.count - position >= needed
    }

    private func readBlock() -> [UInt8]? {
        guard fill(4) else { return nil }
        let n = Int(buffer.withUnsafeBufferPointer { UnsafeRawPointer($0.baseAddress! + position).loadUnaligned(as: Int32.self) })
        guard n >= 0, fill(4 + n) else { return nil }
        let block = Array(buffer[(position + 4)..<(position + 4 + n)])
        position += 4 + n
        return block
    }

    /// The next document of a file written with `write(document:)`.
    func nextDocument() -> Document? {
        readBlock().map { RawDocument(trusted: $0).document() }
    }

    func next() -> ExternalSorter.Item? {
        guard let keyBytes = readBlock(), let docBytes = readBlock() else { return nil }
        let key = RawDocument(trusted: keyBytes).document().fieldValues
        return ExternalSorter.Item(key: key, document: RawDocument(trusted: docBytes))
    }
}
