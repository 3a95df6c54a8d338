import FolioBSON
import FolioQuery
import FolioStorage
import FolioText

// `$text` queries, planned as MongoDB plans them: TEXT_MATCH over TEXT_OR over one IXSCAN of
// the text index per search term. TEXT_OR adds up each record's term scores from the index
// entries, fetches the records and applies the rest of the filter; TEXT_MATCH keeps the
// documents that have no negated term, every phrase and no negated phrase.

extension PlanBuilder {
    /// The plan of a query with `$text`.
    /// - Throws: 27 IndexNotFound without a text index; 2 for an unsupported `$language`;
    ///   291 when a compound text index's prefix fields have no equality in the filter.
    func textPlan(_ search: TextSearch) throws(FolioError) -> PlanStage {
        guard let index = entry.indexes.first(where: { $0.text != nil && !$0.building }), let spec = index.text else {
            throw FolioError(.indexNotFound, "text index required for $text query")
        }
        let languageName = search.language ?? spec.defaultLanguage.name
        guard let language = TextLanguage(named: languageName) else {
            throw FolioError(.badValue, TextLanguage.unsupported(languageName))
        }
        let textQuery = TextQuery(search: search.search, language: language, caseSensitive: search.caseSensitive,
                              diacriticSensitive: search.diacriticSensitive)
        var prefix: [UInt8] = []
        var printedPrefix = Document()
        for (i, field) in spec.extraBefore.enumerated() {
            guard let value = PlanBuilder.equality(on: field, in: query.filter.expression) else {
                throw FolioError(.noQueryExecutionPlans, "error processing query: planner returned error :: caused by :: failed to use text index to satisfy $text query (if text index is compound, are equality predicates given for all prefix fields?)")
            }
            KeyString.append(value, ascending: index.fields[i].ascending, to: &prefix)
            printedPrefix.append(field, value)
        }
        func scan(_ term: String) -> IndexScanStage {
            var key = prefix
            KeyString.append(.string(term), ascending: true, to: &key)
            return IndexScanStage(snapshot: snapshot, index: index, ranges: [KeyRange.prefix(key)], printedBounds: { Document() }, forward: false)
        }
        let scans = textQuery.termsForBounds.map(scan)
        // Negated words, when folded as the index folds them, are answered from the index too:
        // the records under a negated word's keys are left out before they are fetched,
        // where the matcher would tokenize every field of every candidate again. Not a word
        // some language's stop word turns into: the index leaves stop words out, the matcher
        // (as MongoDB's) does not, so a French document's "été" has no key yet excludes it
        // from a search for "-ete".
        let fromTheIndex = !textQuery.caseSensitive && !textQuery.diacriticSensitive
            ? Set(textQuery.negatedTerms).subtracting(StopWords.tokensOfStopWords) : []
        var matcher = TextMatcher(query: textQuery, spec: spec)
        matcher.negatedTermsCheckedElsewhere(fromTheIndex)
        let rest = query.filter.expression.withoutText
        let or = TextOrStage(children: scans, negatedScans: fromTheIndex.sorted().map(scan),
                             snapshot: snapshot, store: entry.recordStore, filter: Filter(rest))
        let needsScore = query.wantsTextScore || (query.sort?.needsTextScore ?? false) || (query.projection?.needsTextScore ?? false)
        let match = TextMatchStage(child: or, matcher: matcher, index: index, prefix: printedPrefix, attachScore: needsScore)
        return withSort(match)
    }

    /// `$text` in one branch of an `$or`: OR over the text branch's TEXT plan and an index
    /// scan for each other branch, then FETCH with the whole filter (MongoDB's plan). Documents
    /// that only another branch finds carry no score (their `{$meta: "textScore"}` is missing).
    /// - Throws: 291 when some other branch has no index that bounds it.
    func textOrPlan(_ branches: [MatchExpression], text: Int) throws(FolioError) -> PlanStage {
        var stages: [PlanStage] = []
        for (i, branch) in branches.enumerated() {
            if i == text, let search = branch.textSearch {
                var sub = query
                sub.filter = Filter(branch)
                sub.sort = nil
                sub.sortPattern = nil
                sub.sortLimit = 0
                sub.wantsTextScore = query.wantsTextScore || (query.sort?.needsTextScore ?? false) || (query.projection?.needsTextScore ?? false)
                stages.append(try PlanBuilder(entry: entry, snapshot: snapshot, query: sub).textPlan(search))
                continue
            }
            let predicates = PlanBuilder.predicates(branch)
            let indexes = predicates["_id"] == nil ? usableIndexes() : usableIndexes() + [entry.idIndex]
            let options = indexes.flatMap { accesses($0, predicates, forSort: false) }
            guard let best = options.max(by: { bounded($0) < bounded($1) }) else { throw MatchExpression.textUnderOrUnplannable }
            stages.append(scan(best))
        }
        let fetch = FetchStage(child: OrStage(branches: stages), snapshot: snapshot, store: entry.recordStore, filter: query.filter,
                               deduplicate: false)
        return withSort(fetch)
    }

    /// The value a filter pins `field` to by equality (at the top or under `$and`), if any.
    static func equality(on field: String, in e: MatchExpression) -> BSON? {
        switch e {
        case .and(let children): return children.lazy.compactMap { equality(on: field, in: $0) }.first
        case .path(let path, let predicates) where path.dotted == field:
            for p in predicates { if case .eq(let v) = p, v.arrayValue == nil { return v } }
            return nil
        default: return nil
        }
    }
}

/// Adds up the scores of the records the term scans find, leaves out those the negated terms'
/// scans find, then fetches each once and applies the filter's other predicates.
final class TextOrStage: PlanStage {
    let scans: [PlanStage]
    /// Scans of negated words (not children: explain shows TEXT_OR over the search's own
    /// terms, as MongoDB does).
    let negatedScans: [PlanStage]
    let snapshot: any StorageSnapshot
    let store: String
    let filter: Filter
    /// Each record once with its summed score, in record key order.
    private var hits: [(key: [UInt8], score: Double)] = []
    private var next = 0
    private var scanned = false
    private var fetched = 0

    init(children: [PlanStage], negatedScans: [PlanStage], snapshot: any StorageSnapshot, store: String, filter: Filter) {
        self.scans = children
        self.negatedScans = negatedScans
        self.snapshot = snapshot
        self.store = store
        self.filter = filter
    }

    override var children: [PlanStage] { scans }
    override var stageName: String { "TEXT_OR" }
    override var docsExamined: Int { fetched }
    override func plannerFields() -> Document {
        filter.expression.isTriviallyTrue ? Document() : ["filter": .document(filter.expression.explainForm)]
    }
    override func statsFields() -> Document { ["docsExamined": .int32(Int32(clamping: fetched))] }

    /// Past this many records a search reads them with the store's cursor.
    static let bulkFetches = 8_192

    private static func run(_ scan: PlanStage, _ body: (PlanRow) -> Void) throws(FolioError) {
        while true {
            switch try scan.work() {
            case .advanced(let row): body(row)
            case .needTime: continue
            case .eof: break
            }
            if scan.isEOF { break }
        }
    }

    override func doWork() throws(FolioError) -> WorkResult {
        if !scanned {
            // The scans run to the end first: a record's score is the sum over all its terms,
            // added in term order. Sorting the entries by record key (then by arrival) brings
            // each record's terms together — no hash table of every record found — and makes
            // the fetches below walk the record store in key order, as a bitmap heap scan does:
            // in index order they jump around a store larger than the cache (one word found in
            // 1,000,000 articles: 6.0 s in index order, see BENCHMARKS.md).
            var entries: [(key: [UInt8], arrival: Int, score: Double)] = []
            for scan in scans {
                try TextOrStage.run(scan) { entries.append(($0.recordKey, entries.count, $0.score ?? 0)) }
            }
            var excluded = Set<[UInt8]>()
            for scan in negatedScans { try TextOrStage.run(scan) { excluded.insert($0.recordKey) } }
            if !excluded.isEmpty { entries.removeAll { excluded.contains($0.key) } }
            if entries.count > 1 {
                entries.sort { a, b in
                    let c = compareKeys(a.key, b.key)
                    return c != 0 ? c < 0 : a.arrival < b.arrival
                }
            }
            hits.reserveCapacity(entries.count)
            for entry in entries {
                if let last = hits.last, last.key == entry.key {
                    hits[hits.count - 1].score = last.score + entry.score
                } else {
                    hits.append((entry.key, entry.score))
                }
            }
            scanned = true
            return .needTime
        }
        let key: [UInt8], score: Double, bytes: [UInt8]
        if hits.count > TextOrStage.bulkFetches {
            // Many records: walked in key order with the store's cursor, a chunk at a time,
            // instead of one lookup each (and past the record cache, which they would only
            // churn).
            if readPosition == readAhead.count { try readChunk() }
            guard readPosition < readAhead.count else { return .eof }
            let (hit, value) = readAhead[readPosition]
            readPosition += 1
            (key, score, bytes) = (hits[hit].key, hits[hit].score, value)
        } else {
            guard next < hits.count else { return .eof }
            (key, score) = hits[next]
            next += 1
            guard let value = try Folio_storage({ () throws(StorageError) in try snapshot.get(store, key) }) else { return .needTime }
            bytes = value
        }
        fetched += 1
        let document = RawDocument(trusted: bytes)
        guard filter.matches(document) else { return .needTime }
        return .advanced(PlanRow(recordKey: key, document: document, score: score))
    }

    /// Hits read ahead (their index in `hits`, the record's bytes), in key order.
    private var readAhead: [(Int, [UInt8])] = []
    private var readPosition = 0
    /// Records a chunk visits: doubled while most visited records are hits (dense results
    /// read on sequentially), halved while few are (sparse ones jump from hit to hit).
    private var chunk = 32

    /// Reads the records of the next hits: from the next hit's key, `chunk` records of the
    /// store, keeping those that are hits. Hits whose records are gone (deleted since the
    /// index was read, in another snapshot: never in this one) are passed over.
    private func readChunk() throws(FolioError) {
        readAhead.removeAll(keepingCapacity: true)
        readPosition = 0
        while readAhead.isEmpty && next < hits.count {
            var visited = 0
            var i = next
            let range = KeyRange(lower: hits[next].key, lowerInclusive: true, upper: hits[hits.count - 1].key, upperInclusive: true)
            let limit = chunk
            try Folio_storage { () throws(StorageError) in
                try snapshot.visit(store, range, limit: limit) { k, v in
                    visited += 1
                    while i < hits.count, hits[i].key.withUnsafeBufferPointer({ compareByteBuffers($0, k) }) < 0 { i += 1 }
                    if i < hits.count, hits[i].key.elementsEqual(k) {
                        readAhead.append((i, Array(v)))
                        i += 1
                    }
                    return i < hits.count
                }
            }
            // A chunk that ended early reached the last hit's key: no hit is left after it.
            next = visited < limit ? hits.count : i
            chunk = readAhead.count * 2 > visited ? min(chunk * 2, 1_024) : max(chunk / 2, 4)
        }
    }
}

/// Keeps the documents that satisfy the parts of the search the index cannot decide
/// (negations, phrases, case and diacritic sensitivity); attaches the score when the query
/// sorts or projects by it.
final class TextMatchStage: PlanStage {
    let child: PlanStage
    let matcher: TextMatcher
    let index: IndexDescriptor
    let prefix: Document
    let attachScore: Bool

    init(child: PlanStage, matcher: TextMatcher, index: IndexDescriptor, prefix: Document, attachScore: Bool) {
        self.child = child
        self.matcher = matcher
        self.index = index
        self.prefix = prefix
        self.attachScore = attachScore
    }

    override var children: [PlanStage] { [child] }
    override var stageName: String { "TEXT_MATCH" }

    /// `raw` with the score's hidden field appended as a double, written into the bytes
    /// (not decoded and encoded again).
    static func appendingScore(_ raw: RawDocument, _ score: Double) -> RawDocument {
        var bytes = raw.bytes
        bytes.removeLast()
        bytes.append(BSONType.double.rawValue)
        bytes.append(contentsOf: TextSearch.scoreField.utf8)
        bytes.append(0)
        withUnsafeBytes(of: score.bitPattern.littleEndian) { bytes.append(contentsOf: $0) }
        bytes.append(0)
        withUnsafeBytes(of: Int32(bytes.count).littleEndian) { bytes.replaceSubrange(0..<4, with: $0) }
        return RawDocument(trusted: bytes)
    }

    /// The document without the score's hidden field (as stored).
    static func withoutScore(_ raw: RawDocument) -> RawDocument {
        guard raw.lookup(TextSearch.scoreField) != nil else { return raw }
        var shown = raw.document()
        shown.removeValue(forKey: TextSearch.scoreField)
        return RawDocument(trusted: shown.bsonBytes())
    }
    override func plannerFields() -> Document {
        ["indexPrefix": .document(prefix), "indexName": .string(index.name),
         "parsedTextQuery": .document(matcher.query.explainDocument), "textIndexVersion": .int32(3)]
    }
    override func statsFields() -> Document { ["docsRejected": .int32(Int32(clamping: rejected))] }
    private var rejected = 0

    override func doWork() throws(FolioError) -> WorkResult {
        switch try child.work() {
        case .eof: return .eof
        case .needTime: return .needTime
        case .advanced(var row):
            guard let raw = row.document else { return .needTime }
            // Plain words the index decided already: nothing to decode.
            if !matcher.decidedByTheIndex {
                guard try matcher.matches(raw.document()) else {
                    rejected += 1
                    return .needTime
                }
            }
            if attachScore { row.document = TextMatchStage.appendingScore(raw, row.score ?? 0) }
            return .advanced(row)
        }
    }
}
