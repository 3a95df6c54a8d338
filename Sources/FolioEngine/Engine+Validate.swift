import FolioBSON
import FolioQuery
import FolioStorage

/// The outcome of validating a collection (the `validate` command reports it).
public struct ValidationReport: Sendable {
    public var recordCount = 0
    /// Entries per index, `_id_` first.
    public var keysPerIndex: [(name: String, keys: Int)] = []
    public var errors: [String] = []
    public var isValid: Bool { errors.isEmpty }
}

extension Engine {
    /// Checks every record of a collection: its bytes are valid BSON, it has an `_id`, and
    /// its key is the KeyString of that `_id` (the record store is the `_id` index, so this
    /// is the `_id` index check), and every secondary index holds exactly the keys its
    /// documents produce: none missing, none extra, each pointing at its record.
    public func validate(_ ns: Namespace) throws(FolioError) -> ValidationReport {
        var report = ValidationReport()
        guard var entry = entry(ns) else { throw FolioError(.namespaceNotFound, "Collection \(ns) does not exist") }
        // An index still being built holds only part of its keys (MongoDB's validate skips it too).
        entry.indexes.removeAll { $0.building }
        let snapshot = try Folio_storage { () throws(StorageError) in try storage.snapshot() }
        defer { snapshot.close() }
        var expected = Array(repeating: [[UInt8]: [UInt8]](), count: entry.indexes.count)
        try folio {
            try Engine.forEachRecord(snapshot, entry.recordStore) { key, raw in
                report.recordCount += 1
                guard let valid = try? RawDocument(validating: raw.bytes) else {
                    report.errors.append("record \(report.recordCount) is not valid BSON")
                    return true
                }
                guard let id = valid.lookup("_id")?.bson else {
                    report.errors.append("record \(report.recordCount) has no _id")
                    return true
                }
                if KeyString.encode(id) != key {
                    report.errors.append("record key does not match _id \(id)")
                }
                let document = valid.document()
                for (i, index) in entry.indexes.enumerated() {
                    do throws(FolioError) {
                        let keys = try index.keys(for: document)
                        for (j, k) in keys.keys.enumerated() { expected[i][k + key] = keys.entryValue(j, key) }
                    } catch {
                        report.errors.append("index \(index.name): document \(id) produces no valid keys: \(error.message)")
                    }
                }
                return true
            }
            report.keysPerIndex = [("_id_", report.recordCount)]
            for (i, index) in entry.indexes.enumerated() {
                var count = 0
                var stray = 0
                try snapshot.visit(index.store, .all, limit: nil) { key, value in
                    count += 1
                    let k = Array(key)
                    if expected[i].removeValue(forKey: k)?.elementsEqual(value) != true { stray += 1 }
                    return true
                }
                report.keysPerIndex.append((index.name, count))
                if stray > 0 { report.errors.append("index \(index.name) has \(stray) entries no document produces") }
                if !expected[i].isEmpty { report.errors.append("index \(index.name) is missing \(expected[i].count) keys") }
            }
            if entry.capped != nil { report.errors += try cappedOrderErrors(entry, snapshot) }
        }
        return report
    }
}

/// What dbStats and collStats report of one collection.
public struct CollectionStatistics: Sendable {
    /// Documents in the collection.
    public var count = 0
    /// The sum of the documents' BSON sizes (MongoDB's dataSize).
    public var dataBytes = 0
    /// What the documents take in storage, pages included (MongoDB's storageSize).
    public var storageBytes = 0
    /// Each index's size in storage, `_id_` first (its keys live in the record store, so its
    /// size is the keys' bytes).
    public var indexBytes: [(name: String, bytes: Int)] = []
}

extension Engine {
    /// `$collStats`' storageStats (what the collStats command also reports): the collection's
    /// count and sizes, sizes divided by `scale`, avgObjSize in bytes, counts as MongoDB's
    /// appendNumber writes them (int32 when they fit).
    public func storageStatistics(_ ns: Namespace, scale: Int) throws(FolioError) -> Document {
        let stats = try statistics(ns)
        func number(_ n: Int) -> BSON { Int32(exactly: n).map(BSON.int32) ?? .int64(Int64(n)) }
        var indexSizes = Document()
        for (name, bytes) in stats.indexBytes { indexSizes.append(name, number(bytes / scale)) }
        let indexTotal = stats.indexBytes.reduce(0) { $0 + $1.bytes }
        let capped = entry(ns)?.capped
        var out: Document = ["size": number(stats.dataBytes / scale), "count": number(stats.count),
                             "avgObjSize": number(stats.count == 0 ? 0 : stats.dataBytes / stats.count), "numOrphanDocs": .int32(0),
                             "storageSize": number(stats.storageBytes / scale), "capped": .bool(capped != nil)]
        if let capped {
            out.append("max", number(Int(capped.max ?? 0)))
            out.append("maxSize", number(Int(capped.size) / scale))
        }
        let rest: Document = ["nindexes": .int32(Int32(clamping: stats.indexBytes.count)), "indexBuilds": [],
                              "totalIndexSize": number(indexTotal / scale), "totalSize": number((stats.storageBytes + indexTotal) / scale),
                              "indexSizes": .document(indexSizes), "scaleFactor": .int32(Int32(clamping: scale))]
        for (k, v) in rest { out.append(k, v) }
        return out
    }

    /// Counts and sizes of one collection, read from one snapshot (one pass over its records).
    public func statistics(_ ns: Namespace) throws(FolioError) -> CollectionStatistics {
        var out = CollectionStatistics()
        guard let entry = entry(ns) else { return out }
        let snapshot = try Folio_storage { () throws(StorageError) in try storage.snapshot() }
        defer { snapshot.close() }
        try Folio_storage { () throws(StorageError) in
            var idBytes = 0
            try snapshot.visit(entry.recordStore, .all, limit: nil) { key, value in
                out.count += 1
                out.dataBytes += value.count
                idBytes += key.count
                return true
            }
            out.storageBytes = try snapshot.storageBytes(entry.recordStore)
            out.indexBytes.append(("_id_", idBytes))
            for index in entry.indexes where !index.building { out.indexBytes.append((index.name, try snapshot.storageBytes(index.store))) }
        }
        return out
    }
}
