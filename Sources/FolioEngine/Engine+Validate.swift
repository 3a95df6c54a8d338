import FolioBSON
import FolioQuery
import FolioStorage

/// The outcome of validating a collection (the `validate` command reports it).
public struct ValidationReport: Sendable {
    public var recordCount = 0
    public var errors: [String] = []
    public var isValid: Bool { errors.isEmpty }
}

extension Engine {
    /// Checks every record of a collection: its bytes are valid BSON, it has an `_id`, and
    /// its key is the KeyString of that `_id` (the record store is the `_id` index, so this
    /// is the index-agrees-with-collection check; secondary indexes join with issue 6).
    public func validate(_ ns: Namespace) throws(FolioError) -> ValidationReport {
        var report = ValidationReport()
        guard let entry = entry(ns) else { throw FolioError(.namespaceNotFound, "Collection \(ns) does not exist") }
        let snapshot = try Folio_storage { () throws(StorageError) in try storage.snapshot() }
        defer { snapshot.close() }
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
                return true
            }
        }
        return report
    }
}
