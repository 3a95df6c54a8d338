import FolioBSON
import FolioQuery

/// The fields MongoDB 8.0's IDL defines for the commands applications send most, so a field
/// a command does not know (a misspelled `sort`, an option of a later version) answers 40415
/// as MongoDB's does, instead of being accepted and ignored. Commands not listed here are not
/// checked field by field (their handlers check what they read).
enum CommandFields {
    /// Each checked command's own fields (its first field included): those Folio honours, and
    /// those that change nothing on one member (`oplogReplay`, `readOnce`, `commitQuorum`, ...).
    /// Internal fields of routers and replication whose meaning Folio does not have
    /// (`needsMerge`, `collectionUUID`, `$_resumeAfter`, ...) are left out, so they are refused.
    static let known: [String: Set<String>] = [
        "find": ["find", "filter", "projection", "sort", "hint", "skip", "limit", "batchSize", "singleBatch", "max", "min",
                 "returnKey", "showRecordId", "tailable", "awaitData", "oplogReplay", "noCursorTimeout", "allowPartialResults",
                 "collation", "allowDiskUse", "let", "readOnce", "includeQueryStatsMetrics"],
        "aggregate": ["aggregate", "pipeline", "explain", "allowDiskUse", "cursor", "bypassDocumentValidation", "collation", "hint",
                      "let", "includeQueryStatsMetrics"],
        "count": ["count", "query", "limit", "skip", "hint", "collation", "fields"],
        "distinct": ["distinct", "key", "query", "collation", "hint"],
        "insert": ["insert", "documents", "ordered", "bypassDocumentValidation", "stmtId", "stmtIds"],
        "update": ["update", "updates", "ordered", "bypassDocumentValidation", "let", "stmtId", "stmtIds"],
        "delete": ["delete", "deletes", "ordered", "bypassDocumentValidation", "let", "stmtId", "stmtIds"],
        "findAndModify": ["findAndModify", "findandmodify", "query", "fields", "sort", "remove", "update", "new", "upsert",
                          "bypassDocumentValidation", "collation", "arrayFilters", "hint", "let", "stmtId"],
        "getMore": ["getMore", "collection", "batchSize", "includeQueryStatsMetrics"],
        "listCollections": ["listCollections", "filter", "nameOnly", "authorizedCollections", "cursor"],
        "listIndexes": ["listIndexes", "cursor"],
        "createIndexes": ["createIndexes", "indexes", "commitQuorum"],
        "drop": ["drop"],
    ]

    /// 40415 for a field `command` does not know.
    static func check(_ body: Document, command: String) throws(FolioError) {
        guard let fields = known[command] else { return }
        for key in body.fieldNames where !fields.contains(key) && !CommandRequest.genericFields.contains(key) {
            throw FolioError(ErrorCode(rawValue: 40415), "BSON field '\(command).\(key)' is an unknown field.")
        }
    }
}
