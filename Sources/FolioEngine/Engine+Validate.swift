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
        guard let entry = entry(ns) else { throw FolioError(.namespaceNotFound, "Collection \(ns) does not exist") }
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
        }
        return report
    }
}

extension Engine {
    /// Index names with their entry counts and sizes in bytes (collStats, $indexStats).
    public func indexSizes(_ ns: Namespace) throws(FolioError) -> [(name: String, entries: Int, bytes: Int)] {
        guard let entry = entry(ns) else { return [] }
        let snapshot = try Folio_storage { () throws(StorageError) in try storage.snapshot() }
        defer { snapshot.close() }
        var out: [(String, Int, Int)] = []
        var idBytes = 0, idCount = 0
        try Folio_storage { () throws(StorageError) in
            try snapshot.visit(entry.recordStore, .all, limit: nil) { key, _ in idCount += 1; idBytes += key.count; return true }
            out.append(("_id_", idCount, idBytes))
            for index in entry.indexes {
                var n = 0, bytes = 0
                try snapshot.visit(index.store, .all, limit: nil) { key, value in n += 1; bytes += key.count + value.count; return true }
                out.append((index.name, n, bytes))
            }
        }
        return out
    }
}
