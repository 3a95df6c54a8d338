import FolioBSON

/// A `$vectorSearch` stage as Atlas Vector Search (MongoDB 8.2) takes it:
/// `{index, path, queryVector, numCandidates, limit, filter, exact}`. The engine answers it
/// from the collection's vector index (Engine.vectorSearch).
public struct VectorSearchSpec: Sendable {
    /// Where result documents carry their score (`{$meta: "vectorSearchScore"}`) through the
    /// pipeline: a top-level field no stored document can have, taken off at the end.
    public static let scoreField = "$__folioVectorSearchScore"
    static let scorePath = FieldPath(scoreField)
    /// Atlas's limit on numCandidates.
    public static let maximumCandidates: Int64 = 10_000

    public var index: String
    public var path: String
    public var queryVector: BSON
    public var numCandidates: Int
    public var limit: Int
    public var filter: Document?
    public var exact: Bool

    /// The operators a filter may use (Atlas's MQL subset on filter fields).
    static let filterOperators: Set<String> = ["$eq", "$ne", "$gt", "$gte", "$lt", "$lte", "$in", "$nin", "$exists", "$not"]

    public init(parsing argument: BSON) throws(FolioError) {
        guard case .document(let d) = argument else {
            throw FolioError(.failedToParse, "$vectorSearch value must be an object. Found: \(argument.type.alias)")
        }
        func missing(_ field: String) -> FolioError { FolioError(.failedToParse, "\"$vectorSearch.\(field)\" is required") }
        for (key, _) in d where !["index", "path", "queryVector", "numCandidates", "limit", "filter", "exact"].contains(key) {
            throw FolioError(.failedToParse, "\"$vectorSearch.\(key)\" is not allowed")
        }
        guard let limitValue = d["limit"] else { throw missing("limit") }
        guard limitValue.isNumber, let limit = limitValue.safeInt64 else {
            throw FolioError(ErrorCode(rawValue: 8575100), "Expected limit field to be a number in $vectorSearch")
        }
        guard limit > 0 else { throw FolioError(ErrorCode(rawValue: 7912700), "Expected limit to be positive") }
        guard case .string(let index)? = d["index"] else {
            throw d["index"] == nil ? missing("index") : FolioError(.typeMismatch, "\"$vectorSearch.index\" must be a string")
        }
        guard case .string(let path)? = d["path"] else {
            throw d["path"] == nil ? missing("path") : FolioError(.typeMismatch, "\"$vectorSearch.path\" must be a string")
        }
        guard let queryVector = d["queryVector"] else { throw missing("queryVector") }
        var exact = false
        if let e = d["exact"] {
            guard case .bool(let b) = e else { throw FolioError(.typeMismatch, "\"$vectorSearch.exact\" must be a boolean") }
            exact = b
        }
        var candidates = limit
        if let n = d["numCandidates"] {
            if exact { throw FolioError(.badValue, "\"$vectorSearch.numCandidates\" is not allowed when \"exact\" is true") }
            guard n.isNumber, let c = n.exactInt64 else {
                throw FolioError(.typeMismatch, "\"$vectorSearch.numCandidates\" must be an integer")
            }
            guard c <= VectorSearchSpec.maximumCandidates else {
                throw FolioError(.badValue, "\"$vectorSearch.numCandidates\" must be less than or equal to \(VectorSearchSpec.maximumCandidates)")
            }
            guard c >= limit else {
                throw FolioError(.badValue, "\"$vectorSearch.numCandidates\" must be greater than or equal to \"limit\"")
            }
            candidates = c
        } else if !exact {
            throw missing("numCandidates")
        } else {
            // Exact search examines every vector; `limit` is all it keeps. Atlas bounds it too.
            guard limit <= VectorSearchSpec.maximumCandidates else {
                throw FolioError(.badValue, "\"$vectorSearch.limit\" must be less than or equal to \(VectorSearchSpec.maximumCandidates)")
            }
        }
        var filter: Document?
        if let f = d["filter"] {
            guard case .document(let fd) = f else { throw FolioError(.typeMismatch, "\"$vectorSearch.filter\" must be a document") }
            try VectorSearchSpec.checkFilter(fd)
            filter = fd
        }
        self.index = index
        self.path = path
        self.queryVector = queryVector
        self.numCandidates = Int(candidates)
        self.limit = Int(limit)
        self.filter = filter
        self.exact = exact
    }

    /// The paths a filter names (each must be a filter field of the index).
    public static func filterPaths(_ filter: Document) -> [String] {
        var out: [String] = []
        for (key, value) in filter {
            if ["$and", "$or", "$nor"].contains(key), case .array(let items) = value {
                for case .document(let sub) in items { out += filterPaths(sub) }
            } else if !key.hasPrefix("$") {
                out.append(key)
            }
        }
        return out
    }

    /// Refuses what Atlas's filter does not take: operators beyond its subset, and values of
    /// types a filter field cannot index.
    static func checkFilter(_ filter: Document) throws(FolioError) {
        for (key, value) in filter {
            switch key {
            case "$and", "$or", "$nor":
                guard case .array(let items) = value, !items.isEmpty else {
                    throw FolioError(.badValue, "$vectorSearch filter: \(key) must be a nonempty array")
                }
                for item in items {
                    guard case .document(let sub) = item else { throw FolioError(.badValue, "$vectorSearch filter: \(key) entries must be documents") }
                    try checkFilter(sub)
                }
            case let op where op.hasPrefix("$"):
                throw FolioError(.badValue, "$vectorSearch filter: operator \(op) is not supported at the top level")
            default:
                try checkCondition(value, path: key)
            }
        }
    }

    private static func checkCondition(_ value: BSON, path: String) throws(FolioError) {
        if case .document(let d) = value, !d.isEmpty, d.element(at: 0).key.hasPrefix("$") {
            for (op, operand) in d {
                guard filterOperators.contains(op) else {
                    throw FolioError(.badValue, "$vectorSearch filter: operator \(op) is not supported; use $eq, $ne, $gt, $gte, $lt, $lte, $in, $nin, $exists or $not")
                }
                switch op {
                case "$in", "$nin":
                    guard case .array(let items) = operand else { throw FolioError(.badValue, "$vectorSearch filter: \(op) needs an array") }
                    for item in items { try checkValue(item, path: path) }
                case "$exists":
                    guard case .bool = operand else { throw FolioError(.badValue, "$vectorSearch filter: $exists needs a boolean") }
                case "$not":
                    try checkCondition(operand, path: path)
                default:
                    try checkValue(operand, path: path)
                }
            }
        } else {
            try checkValue(value, path: path)
        }
    }

    private static func checkValue(_ value: BSON, path: String) throws(FolioError) {
        switch value {
        case .bool, .datetime, .objectID, .int32, .int64, .double, .string, .null: return
        case .binary(let b) where b.subtype == Binary.Subtype.uuid: return
        default:
            throw FolioError(.badValue, "$vectorSearch filter: \(path) compares with a value of type \(value.type.alias); filters take booleans, dates, ObjectIds, numbers, strings, UUIDs and null")
        }
    }
}
