import FolioBSON

/// The checks MongoDB 7/8 makes on a document before storing it.
public enum InsertValidation {
    /// Validates a document about to be inserted (or the result of a replacement/upsert).
    /// - Throws: 53 InvalidIdField (array or undefined `_id`), 2 BadValue (regex `_id`),
    ///   52 DollarPrefixedFieldName (`$` keys inside `_id`), 10334 BSONObjectTooLarge,
    ///   15 Overflow for documents nested deeper than 100 levels.
    public static func validate(_ document: Document, encodedSize: Int? = nil) throws(FolioError) {
        if let id = document["_id"] {
            switch id {
            case .array: throw FolioError(.invalidIdField, "The '_id' value cannot be of type array")
            case .undefined: throw FolioError(.invalidIdField, "can't use a undefined for _id")
            case .regex: throw FolioError(.badValue, "can't use a regex for _id")
            case .document(let d): try checkNoDollarKeys(d, in: "_id")
            default: break
            }
        }
        let size = encodedSize ?? document.bsonBytes().count
        if size > Limits.maximumDocumentSizeBytes {
            throw FolioError(.bsonObjectTooLarge, "object to insert too large. size in bytes: \(size), max size: \(Limits.maximumDocumentSizeBytes)")
        }
        if depth(.document(document)) > Limits.maximumDocumentDepth {
            throw FolioError(.overflow, "Document exceeds maximum nesting depth of \(Limits.maximumDocumentDepth)")
        }
    }

    static func checkNoDollarKeys(_ d: Document, in field: String) throws(FolioError) {
        for (k, v) in d {
            if k.hasPrefix("$") {
                throw FolioError(.dollarPrefixedFieldName, "_id fields may not contain '$'-prefixed fields: \(k) is not valid for storage.")
            }
            if case .document(let inner) = v { try checkNoDollarKeys(inner, in: field) }
        }
    }

    static func depth(_ v: BSON) -> Int {
        switch v {
        case .document(let d): return 1 + (d.fieldValues.map(depth).max() ?? 0)
        case .array(let a): return 1 + (a.map(depth).max() ?? 0)
        default: return 0
        }
    }
}
