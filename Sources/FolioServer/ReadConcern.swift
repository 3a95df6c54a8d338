import FolioBSON
import FolioQuery

/// A command's `readConcern`, checked before the command runs, so that none of its options is
/// accepted and then ignored.
///
/// On one member that commits every write before acknowledging it, every read sees all
/// acknowledged writes: `local`, `available`, `majority` and `linearizable` are all honoured by
/// reading the latest commit, and so is `afterClusterTime` (the cluster times Folio hands out
/// are for writes already committed; a later one answers 72, as MongoDB answers a time past
/// its clock; the dispatcher checks it). `snapshot` outside a transaction (find, aggregate and
/// distinct, as in MongoDB) reads one commit's snapshot, the latest or the one `atClusterTime`
/// names (Engine.snapshotRead; the dispatcher starts it).
struct ReadConcern: Sendable, Equatable {
    enum Level: String, Sendable {
        case local, available, majority, linearizable, snapshot
    }

    var level: Level?
    var afterClusterTime: Timestamp?
    var atClusterTime: Timestamp?

    /// Commands that read with a read concern of their own choosing (the others take only the
    /// default, `local`, as MongoDB's write commands outside transactions do).
    static let readCommands: Set<String> = ["find", "aggregate", "count", "distinct", "listCollections", "listIndexes",
                                            "listDatabases", "dbStats", "collStats", "explain"]
    /// Commands that read at a point in time outside transactions.
    static let snapshotCommands: Set<String> = ["find", "aggregate", "distinct"]

    init() {}

    /// Parses the field with MongoDB's IDL errors (14, 40415, 2).
    init(parsing value: BSON?) throws(FolioError) {
        guard let value, value.type != .null else { return }
        guard case .document(let d) = value else {
            throw FolioError(.typeMismatch, "BSON field 'readConcern' is the wrong type '\(value.type.alias)', expected type 'object'")
        }
        for (key, v) in d {
            switch key {
            case "level":
                guard case .string(let s) = v else {
                    throw FolioError(.typeMismatch, "BSON field 'readConcern.level' is the wrong type '\(v.type.alias)', expected type 'string'")
                }
                guard let l = Level(rawValue: s) else {
                    throw FolioError(.badValue, "Enumeration value '\(s)' for field 'readConcern.level' is not a valid value.")
                }
                level = l
            case "afterClusterTime", "atClusterTime":
                guard case .timestamp(let t) = v else {
                    throw FolioError(.typeMismatch, "BSON field 'readConcern.\(key)' is the wrong type '\(v.type.alias)', expected type 'timestamp'")
                }
                if key == "afterClusterTime" { afterClusterTime = t } else { atClusterTime = t }
            case "provenance":
                // Where a default came from (clientSupplied, implicitDefault, ...): no meaning here.
                continue
            default:
                throw FolioError(ErrorCode(rawValue: 40415), "BSON field 'readConcern.\(key)' is an unknown field.")
            }
        }
    }

    /// Whether `command` may run with this read concern; in a transaction, only its first
    /// command may give one, with a level a transaction can read at.
    func check(command: String, transaction: OperationSessionInfo? = nil) throws(FolioError) {
        if let transaction, transaction.autocommit != nil {
            guard level != nil || afterClusterTime != nil || atClusterTime != nil else { return }
            if transaction.startTransaction != true {
                throw FolioError(.invalidOptions, "Only the first command in a transaction may specify a readConcern")
            }
            if let level, ![.local, .majority, .snapshot].contains(level) {
                throw FolioError(.invalidOptions, "The readConcern level must be either 'local' (default), 'majority' or 'snapshot' in order to run in a transaction")
            }
            if atClusterTime != nil && level != .snapshot {
                throw FolioError(.invalidOptions, "readConcern.atClusterTime is only valid with readConcern level 'snapshot'")
            }
            return
        }
        if atClusterTime != nil && level != .snapshot {
            throw FolioError(.invalidOptions, "readConcern.atClusterTime is only valid with readConcern level 'snapshot'")
        }
        if atClusterTime != nil && afterClusterTime != nil {
            throw FolioError(.invalidOptions, "Can not specify both afterClusterTime and atClusterTime")
        }
        // A getMore reads as its cursor does, whatever it says (pymongo repeats a snapshot
        // session's read concern on it), as in MongoDB.
        guard let level, level != .local, command != "getMore" else { return }
        let supported = level == .snapshot ? ReadConcern.snapshotCommands : ReadConcern.readCommands
        guard supported.contains(command) else {
            throw FolioError(.invalidOptions, "Command \(command) does not support { readConcern: { level: \"\(level.rawValue)\" } }")
        }
    }
}
