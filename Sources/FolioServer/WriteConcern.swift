import FolioBSON
import FolioQuery

/// A command's `writeConcern`, checked before the command runs and answered after it, so that
/// no client is told its write reached more than it did.
///
/// Folio is one member: `w: 0`, `w: 1` and `w: "majority"` are satisfied by the commit
/// (`majority` and `j: true` also sync it to disk first, see `durable`). A numeric `w` above 1
/// or a tag set cannot be: the write is applied and the reply carries MongoDB's write concern
/// error (100 UnsatisfiableWriteConcern, 79 UnknownReplWriteConcern), as a one-member replica
/// set answers.
struct WriteConcern: Sendable, Equatable {
    enum W: Sendable, Equatable {
        case nodes(Int64)
        case majority
        case tag(String)
    }

    var w: W?
    var journal: Bool?
    var fsync: Bool?
    var timeoutMilliseconds: Int64?

    /// Commands that write, and so answer their write concern.
    static let writeCommands: Set<String> = ["insert", "update", "delete", "findAndModify", "bulkWrite", "create", "drop",
                                             "dropDatabase", "createIndexes", "dropIndexes", "renameCollection", "collMod",
                                             "convertToCapped", "cloneCollectionAsCapped",
                                             "commitTransaction", "abortTransaction"]

    init() {}

    /// Parses the field with MongoDB's errors (14 for a non-object, 9 for a bad `w`).
    init(parsing value: BSON?) throws(FolioError) {
        guard let value, value.type != .null else { return }
        guard case .document(let d) = value else {
            throw FolioError(.typeMismatch, "BSON field 'writeConcern' is the wrong type '\(value.type.alias)', expected type 'object'")
        }
        if let v = d["w"] {
            switch v {
            case .string(let s): w = s == "majority" ? .majority : .tag(s)
            default:
                guard v.isNumber, let n = v.exactInt64 else { throw FolioError(.failedToParse, "w has to be a number or a string") }
                guard (0...50).contains(n) else {
                    throw FolioError(.failedToParse, "w has to be a non-negative number and not greater than 50; found: \(n)")
                }
                w = .nodes(n)
            }
        }
        for (key, target) in [("j", \WriteConcern.journal), ("fsync", \WriteConcern.fsync)] {
            guard let v = d[key] else { continue }
            guard v.type == .bool || v.isNumber else {
                throw FolioError(.typeMismatch, "BSON field 'writeConcern.\(key)' is the wrong type '\(v.type.alias)', expected types '[bool, long, int, decimal, double]'")
            }
            self[keyPath: target] = v.isTruthy
        }
        if let v = d["wtimeout"] {
            guard v.isNumber, let n = v.safeInt64 else {
                throw FolioError(.typeMismatch, "BSON field 'writeConcern.wtimeout' is the wrong type '\(v.type.alias)', expected types '[long, int, decimal, double]'")
            }
            timeoutMilliseconds = n
        }
        if w == .nodes(0) && journal == true {
            throw FolioError(.invalidOptions, "cannot use 'j' option with a w:0 write concern")
        }
    }

    /// Whether the write must be on disk before the reply (`j: true`, `fsync: true`, or
    /// `w: "majority"`, which implies the journal on a replica set).
    var durable: Bool { journal == true || fsync == true || w == .majority }

    /// The write concern error a one-member set reports after applying the write, if any.
    var unsatisfied: (code: ErrorCode, message: String)? {
        switch w {
        case .nodes(let n) where n > 1: return (.unsatisfiableWriteConcern, "Not enough data-bearing nodes")
        case .tag(let tag): return (.unknownReplWriteConcern, "No write concern mode named '\(tag)' found in replica set configuration")
        default: return nil
        }
    }
}
