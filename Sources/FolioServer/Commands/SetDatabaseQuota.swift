import FolioBSON
import FolioEngine
import FolioQuery

/// `setDatabaseQuota` (Folio's own command, on admin): `{setDatabaseQuota: "<db>",
/// maxStorageBytes, maxDocuments, maxConnectionsPerUser, maxOperationsPerSecond}`; each limit a
/// positive integer, or null/0 for none; a command with no limits removes the quota. dbStats
/// shows the quota and the usage it is checked against.
enum QuotaCommands {
    @Sendable static func setDatabaseQuota(_ r: CommandRequest) throws(FolioError) -> Document {
        try AdminCommands.adminOnly(r)
        guard case .string(let db) = r.argument else {
            throw FolioError(.typeMismatch, "setDatabaseQuota takes the database's name")
        }
        try Namespace.validateDatabase(db)
        for key in r.body.fieldNames where key != "setDatabaseQuota" && !DatabaseQuota.fields.contains(key)
            && !CommandRequest.genericFields.contains(key) {
            throw FolioError(ErrorCode(rawValue: 40415), "BSON field 'setDatabaseQuota.\(key)' is an unknown field.")
        }
        let quota = try DatabaseQuota(parsing: r.body)
        try r.context.quotas.set(db, quota)
        return ["quota": .document(quota.document)]
    }
}
