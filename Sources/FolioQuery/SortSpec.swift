import FolioBSON

/// A sort specification (`{a: 1, "b.c": -1}`), with MongoDB's sort-key rules: missing
/// sorts as null, an array contributes its smallest element ascending and its largest
/// descending, an empty array sorts before null.
public struct SortSpec: Sendable {
    public struct Key: Sendable {
        public let path: FieldPath
        public let ascending: Bool
        /// `{$meta: "textScore"}` and friends.
        public let meta: String?

        public init(path: FieldPath, ascending: Bool, meta: String? = nil) {
            self.path = path
            self.ascending = ascending
            self.meta = meta
        }

        /// Where the key's value is read: `{$meta: "textScore"}` reads the hidden field the text
        /// stages attach (its values are sorted higher first), other keys their path.
        public var valuePath: FieldPath {
            switch meta {
            case "textScore": return TextSearch.scorePath
            case "vectorSearchScore": return VectorSearchSpec.scorePath
            default: return path
            }
        }
    }

    public let keys: [Key]
    /// The collation strings sort by (nil: binary). Sort keys then hold comparison keys.
    public let collator: (any Collator)?

    /// Parses a sort document, to sort under `collator` (nil: binary).
    /// - Throws: 15974/15975 (bad direction values) or `errorCode` for structural problems.
    public init(parsing spec: Document, allowMeta: Bool = true, errorCode: ErrorCode = .badValue,
                collator: (any Collator)? = nil) throws(FolioError) {
        var keys: [Key] = []
        for (field, value) in spec {
            if field.isEmpty { throw FolioError(.location15974, "FieldPath cannot be constructed with empty string") }
            switch value {
            case .document(let d):
                guard allowMeta, d.count == 1, case .string(let name)? = d["$meta"] else {
                    throw FolioError(.location15974, "Illegal key in $sort specification: \(field): \(value)")
                }
                guard ["textScore", "searchScore", "randVal", "indexKey", "vectorSearchScore"].contains(name) else {
                    throw FolioError(ErrorCode(rawValue: 31138), "Illegal $meta sort: \(value)")
                }
                keys.append(Key(path: FieldPath(field), ascending: false, meta: name))
            default:
                guard value.isNumber, let n = value.asDouble else {
                    throw FolioError(.location15974, "Illegal key in $sort specification: \(field): \(value)")
                }
                guard n == 1 || n == -1 else {
                    throw FolioError(.location15975, "$sort key ordering must be 1 (for ascending) or -1 (for descending)")
                }
                keys.append(Key(path: FieldPath(field), ascending: n == 1, meta: nil))
            }
        }
        if keys.isEmpty { throw FolioError(.location15976, "$sort stage must have at least one sort key") }
        self.keys = keys
        self.collator = collator
    }

    public init(keys: [Key], collator: (any Collator)? = nil) {
        self.keys = keys
        self.collator = collator
    }

    /// Whether the sort orders by a text query's score.
    public var needsTextScore: Bool { keys.contains { $0.meta == "textScore" } }

    /// The sort key of a document: one value per key.
    public func sortKey(for document: Document) -> [BSON] {
        keys.map { SortSpec.keyValue(.document(document), path: $0.valuePath, ascending: $0.ascending, collator: collator) }
    }

    /// Compares two sort keys.
    public func compare(_ a: [BSON], _ b: [BSON]) -> Int {
        for (i, key) in keys.enumerated() {
            let c = BSON.compare(a[i], b[i])
            if c != 0 { return key.ascending ? c : -c }
        }
        return 0
    }

    /// The value one key contributes for a document (or any value, for `$push`'s `$sort`).
    /// Under a collation the key is the comparison key of the value that sorts first.
    public static func keyValue(_ root: BSON, path: FieldPath, ascending: Bool, collator: (any Collator)? = nil) -> BSON {
        var values: [BSON] = []
        var sawEmptyArray = false
        collect(root, path.components[...], path.indexes[...], &values, &sawEmptyArray, top: true)
        if values.isEmpty { return sawEmptyArray ? .undefined : .null }
        if let collator { values = values.map { $0.collationKey(collator) } }
        return BSON.arraySortKey(values, ascending: ascending)
    }

    static func collect(_ value: BSON, _ components: ArraySlice<String>, _ indexes: ArraySlice<Int?>,
                        _ out: inout [BSON], _ sawEmptyArray: inout Bool, top: Bool) {
        guard let first = components.first else {
            if case .array(let a) = value, !top {
                if a.isEmpty { sawEmptyArray = true }
                out.append(contentsOf: a)
            } else {
                out.append(value)
            }
            return
        }
        switch value {
        case .document(let d):
            guard let child = d[first] else { out.append(.null); return }
            if components.count == 1, case .array(let a) = child {
                if a.isEmpty { sawEmptyArray = true }
                out.append(contentsOf: a)
                return
            }
            collect(child, components.dropFirst(), indexes.dropFirst(), &out, &sawEmptyArray, top: false)
        case .array(let a):
            if let index = indexes.first!, index < a.count {
                collect(a[index], components.dropFirst(), indexes.dropFirst(), &out, &sawEmptyArray, top: false)
            }
            for e in a {
                if case .document = e { collect(e, components, indexes, &out, &sawEmptyArray, top: false) }
            }
            if a.isEmpty { sawEmptyArray = true }
        default:
            out.append(.null)
        }
    }
}
