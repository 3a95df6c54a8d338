import FolioBSON
import FolioCollation
import FolioQuery

extension Engine {
    /// The collator of a request's `collation` document (nil: binary comparison, MongoDB's
    /// "simple" collation).
    /// - Throws: MongoDB's errors for a malformed or unknown collation.
    public static func collator(_ collation: Document?) throws(FolioError) -> (any Collator)? {
        guard let collation else { return nil }
        return try ICUCollator.make(collation)
    }
}

extension SortSpec {
    /// A request's sort document under its collation; nil for none or `{}`.
    static func parsing(_ spec: Document?, collator: (any Collator)?) throws(FolioError) -> SortSpec? {
        guard let spec, !spec.isEmpty else { return nil }
        return try SortSpec(parsing: spec, collator: collator)
    }
}
