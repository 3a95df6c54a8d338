import FolioBSON

/// The document an upsert starts from: the query's equality fields (`{a: 1}`, `{a: {$eq: 1}}`,
/// inside `$and`, dotted paths become sub-documents), `_id` first.
public enum UpsertSeed {
    public static func document(from filter: Document) throws(FolioError) -> Document {
        var seed = Document()
        try collect(filter, into: &seed)
        if let id = seed.removeValue(forKey: "_id") { seed.insert("_id", id, at: 0) }
        return seed
    }

    static func collect(_ filter: Document, into seed: inout Document) throws(FolioError) {
        for (key, value) in filter {
            if key == "$and", case .array(let entries) = value {
                for case .document(let d) in entries { try collect(d, into: &seed) }
                continue
            }
            if key.hasPrefix("$") { continue }
            let equal: BSON?
            switch value {
            case .document(let d) where d.fieldNames.first?.hasPrefix("$") == true:
                equal = d["$eq"]
            case .regex:
                equal = nil
            default:
                equal = value
            }
            guard let equal else { continue }
            let path = FieldPath(key)
            if path.count > 1, case .some = seed[path.components[0]], !isDocumentPrefix(seed, path.components[...]) {
                throw FolioError(.notSingleValueField, "cannot infer query fields to set, path '\(key)' is matched twice")
            }
            if path.count == 1, seed[key] != nil {
                throw FolioError(.notSingleValueField, "cannot infer query fields to set, path '\(key)' is matched twice")
            }
            seed = DocumentPaths.setting(path.components[...], to: equal, in: seed)
        }
    }

    static func isDocumentPrefix(_ d: Document, _ path: ArraySlice<String>) -> Bool {
        guard let first = path.first else { return false }
        guard let v = d[first] else { return true }
        guard case .document(let child) = v, path.count > 1 else { return false }
        return isDocumentPrefix(child, path.dropFirst())
    }
}
