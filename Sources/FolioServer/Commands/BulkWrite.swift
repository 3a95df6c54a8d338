import FolioBSON
import FolioEngine
import FolioQuery

/// The 8.0 `bulkWrite` command (client-level bulk write across namespaces): `ops` and
/// `nsInfo` (usually document sequences), ordered or not, per-operation results in a
/// cursor, and int32 summary counts (Node reads them with getInt).
enum BulkWriteCommand {
    @Sendable static func run(_ r: CommandRequest) throws(FolioError) -> Document {
        guard r.database == "admin" else {
            throw FolioError(.unauthorized, "bulkWrite may only be run against the admin database.")
        }
        guard case .array(let ops)? = r.body["ops"], case .array(let nsInfo)? = r.body["nsInfo"] else {
            throw FolioError(ErrorCode(rawValue: 40414), "BSON field 'bulkWrite.ops' and 'bulkWrite.nsInfo' are required")
        }
        let namespaces = try nsInfo.map { entry throws(FolioError) -> Namespace in
            guard case .document(let d) = entry, case .string(let ns)? = d["ns"] else {
                throw FolioError(.typeMismatch, "nsInfo entries need an 'ns' string")
            }
            return try Namespace(parsing: ns)
        }
        let ordered = r.transaction != nil || (r.bool("ordered") ?? true)
        let errorsOnly = r.bool("errorsOnly") ?? false
        let constants = try r.letVariables()
        let retryable = try r.retryableWrite(statements: ops.count)
        var options = WriteOptions(ordered: true, durable: try r.durable(), bypassDocumentValidation: r.bool("bypassDocumentValidation") ?? false)
        let engine = r.engine
        var results: [BSON] = []
        var nErrors = 0, nInserted = 0, nUpserted = 0, nMatched = 0, nModified = 0, nDeleted = 0
        for (idx, opValue) in ops.enumerated() {
            guard case .document(let op) = opValue, let kind = op.fieldNames.first,
                  let nsIndex = op[kind]?.exactInt64, nsIndex >= 0, Int(nsIndex) < namespaces.count else {
                throw FolioError(.badValue, "invalid bulkWrite operation at index \(idx)")
            }
            let ns = namespaces[Int(nsIndex)]
            if try Views.definition(ns, engine) != nil { throw Views.notACollection(ns) }
            options.retryable = retryable?.statement(idx)
            var entry: Document = ["ok": .double(1), "idx": .int32(Int32(idx))]
            var failure: FolioError?
            switch kind {
            case "insert":
                guard case .document(let d)? = op["document"] else { throw FolioError(.badValue, "insert needs a document") }
                let res = try engine.insert(ns, [d], options: options)
                if let e = res.writeErrors.first { failure = e.error } else { nInserted += 1; entry.append("n", .int32(1)) }
            case "update":
                guard let mods = op["updateMods"] else { throw FolioError(.badValue, "update needs updateMods") }
                let statement = UpdateStatement(filter: op["filter"]?.documentValue ?? Document(), update: mods,
                                                upsert: op["upsert"]?.isTruthy ?? false, multi: op["multi"]?.isTruthy ?? false,
                                                arrayFilters: op["arrayFilters"]?.arrayValue, sort: op["sort"]?.documentValue,
                                                constants: constants,
                                                collation: try CommandRequest.document(op["collation"], field: "bulkWrite.ops.collation"))
                let res = try engine.update(ns, [statement], options: options)
                if let e = res.writeErrors.first {
                    failure = e.error
                } else {
                    nMatched += res.matched
                    nModified += res.modified
                    entry.append("n", .int32(Int32(res.matched + res.upserted.count)))
                    entry.append("nModified", .int32(Int32(res.modified)))
                    if let up = res.upserted.first {
                        nUpserted += 1
                        entry.append("upserted", ["_id": up.id])
                    }
                }
            case "delete":
                let statement = DeleteStatement(filter: op["filter"]?.documentValue ?? Document(),
                                                limitOne: !(op["multi"]?.isTruthy ?? false), constants: constants,
                                                collation: try CommandRequest.document(op["collation"], field: "bulkWrite.ops.collation"))
                let res = try engine.delete(ns, [statement], options: options)
                if let e = res.writeErrors.first { failure = e.error } else { nDeleted += res.deleted; entry.append("n", .int32(Int32(res.deleted))) }
            default:
                throw FolioError(.badValue, "Unrecognized bulkWrite operation: \(kind)")
            }
            if let failure {
                nErrors += 1
                var err: Document = ["ok": .double(0), "idx": .int32(Int32(idx)), "code": .int32(failure.code.rawValue),
                                     "codeName": .string(failure.codeName), "errmsg": .string(failure.message)]
                for (k, v) in failure.extraFields { err.append(k, v) }
                results.append(.document(err))
                if ordered { break }
            } else if !errorsOnly {
                results.append(.document(entry))
            }
        }
        return ["cursor": ["id": .int64(0), "firstBatch": .array(results), "ns": "admin.$cmd.bulkWrite"],
                "nErrors": .int32(Int32(nErrors)), "nInserted": .int32(Int32(nInserted)), "nUpserted": .int32(Int32(nUpserted)),
                "nMatched": .int32(Int32(nMatched)), "nModified": .int32(Int32(nModified)), "nDeleted": .int32(Int32(nDeleted))]
    }
}
