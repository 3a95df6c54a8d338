import FolioBSON
import FolioEngine
import FolioQuery

/// Shared shaping of write replies: `n`, `writeErrors` with index/code/codeName/errmsg and
/// the duplicate-key fields.
enum WriteReply {
    static func errors(_ errors: [WriteError]) -> BSON {
        .array(errors.map { e in
            var d: Document = ["index": .int32(Int32(e.index)), "code": .int32(e.error.code.rawValue),
                               "codeName": .string(e.error.codeName), "errmsg": .string(e.error.message)]
            for (k, v) in e.error.extraFields { d.append(k, v) }
            return .document(d)
        })
    }

    /// A statement's `hint` (absent, null and `{}` mean none).
    static func hint(_ v: BSON?) -> BSON? {
        guard let v, v.type != .null, v.documentValue?.isEmpty != true else { return nil }
        return v
    }

    static func options(_ r: CommandRequest, statements: Int) throws(FolioError) -> WriteOptions {
        // In a transaction the first error ends the batch, ordered or not (and aborts it).
        WriteOptions(ordered: r.transaction != nil || (r.bool("ordered") ?? true), durable: try r.durable(),
                     bypassDocumentValidation: r.bool("bypassDocumentValidation") ?? false,
                     retryable: try r.retryableWrite(statements: statements))
    }

    static func statements(_ r: CommandRequest, _ key: String) throws(FolioError) -> [Document] {
        guard case .array(let items)? = r.body[key] else {
            throw FolioError(ErrorCode(rawValue: 40414), "BSON field '\(r.name).\(key)' is missing but a required field")
        }
        guard items.count <= Limits.maximumWriteBatchCount else {
            throw FolioError(.invalidLength, "Write batch sizes must be between 1 and \(Limits.maximumWriteBatchCount). Got \(items.count) operations.")
        }
        var out: [Document] = []
        for item in items {
            guard case .document(let d) = item else {
                throw FolioError(.typeMismatch, "BSON field '\(r.name).\(key)' is the wrong type '\(item.type.alias)', expected type 'object'")
            }
            out.append(d)
        }
        return out
    }
}

enum InsertCommand {
    @Sendable static func run(_ r: CommandRequest) throws(FolioError) -> Document {
        let ns = try r.namespace()
        let documents = try WriteReply.statements(r, "documents")
        // Documents that came as a document sequence are stored as the bytes they arrived in
        // when those are what encoding them would give (see Engine.insert(_:_:received:options:)).
        let received = r.sequences["documents"].flatMap { $0.count == documents.count ? $0 : nil }
        let result = try r.engine.insert(ns, documents, received: received, options: try WriteReply.options(r, statements: documents.count))
        var d: Document = ["n": .int32(Int32(result.insertedCount))]
        if !result.writeErrors.isEmpty { d.append("writeErrors", WriteReply.errors(result.writeErrors)) }
        return d
    }
}

enum UpdateCommand {
    @Sendable static func run(_ r: CommandRequest) throws(FolioError) -> Document {
        let ns = try r.namespace()
        let statements = try self.statements(r)
        let result = try r.engine.update(ns, statements, options: try WriteReply.options(r, statements: statements.count))
        var d: Document = ["n": .int32(Int32(result.matched + result.upserted.count)), "nModified": .int32(Int32(result.modified))]
        if !result.upserted.isEmpty {
            d.append("upserted", .array(result.upserted.map { .document(["index": .int32(Int32($0.index)), "_id": $0.id]) }))
        }
        if !result.writeErrors.isEmpty { d.append("writeErrors", WriteReply.errors(result.writeErrors)) }
        return d
    }

    static func statements(_ r: CommandRequest) throws(FolioError) -> [UpdateStatement] {
        let constants = try r.letVariables()
        var statements: [UpdateStatement] = []
        for s in try WriteReply.statements(r, "updates") {
            guard let u = s["u"] else { throw FolioError(ErrorCode(rawValue: 40414), "BSON field 'update.updates.u' is missing but a required field") }
            var vars = constants
            if case .document(let c)? = s["c"] { for (k, v) in c { vars[k] = v } }
            statements.append(UpdateStatement(filter: s["q"]?.documentValue ?? Document(), update: u,
                                              upsert: s["upsert"]?.isTruthy ?? false, multi: s["multi"]?.isTruthy ?? false,
                                              arrayFilters: s["arrayFilters"]?.arrayValue, sort: s["sort"]?.documentValue,
                                              constants: vars, hint: WriteReply.hint(s["hint"]),
                                              collation: try CommandRequest.document(s["collation"], field: "update.updates.collation")))
        }
        return statements
    }
}

enum DeleteCommand {
    @Sendable static func run(_ r: CommandRequest) throws(FolioError) -> Document {
        let ns = try r.namespace()
        let statements = try statements(r)
        let result = try r.engine.delete(ns, statements, options: try WriteReply.options(r, statements: statements.count))
        var d: Document = ["n": .int32(Int32(result.deleted))]
        if !result.writeErrors.isEmpty { d.append("writeErrors", WriteReply.errors(result.writeErrors)) }
        return d
    }

    static func statements(_ r: CommandRequest) throws(FolioError) -> [DeleteStatement] {
        let constants = try r.letVariables()
        var statements: [DeleteStatement] = []
        for s in try WriteReply.statements(r, "deletes") {
            guard let limit = s["limit"]?.exactInt64, limit == 0 || limit == 1 else {
                throw FolioError(.failedToParse, "The limit field in delete objects must be 0 or 1. Got \(s["limit"] ?? .null)")
            }
            statements.append(DeleteStatement(filter: s["q"]?.documentValue ?? Document(), limitOne: limit == 1, constants: constants,
                                              hint: WriteReply.hint(s["hint"]),
                                              collation: try CommandRequest.document(s["collation"], field: "delete.deletes.collation")))
        }
        return statements
    }
}

enum FindAndModifyCommand {
    @Sendable static func run(_ r: CommandRequest) throws(FolioError) -> Document {
        let ns = try r.namespace()
        let request = try self.request(r)
        let result = try r.engine.findAndModify(ns, request, durable: try r.durable(), retryable: try r.retryableWrite(statements: 1))
        var lastError: Document = ["n": .int32(Int32(result.matched))]
        if request.remove == false { lastError.append("updatedExisting", .bool(result.updatedExisting)) }
        if let id = result.upsertedID { lastError.append("upserted", id) }
        return ["lastErrorObject": .document(lastError), "value": result.value.map(BSON.document) ?? .null]
    }

    static func request(_ r: CommandRequest) throws(FolioError) -> FindAndModifyRequest {
        var request = FindAndModifyRequest(filter: try r.document("query") ?? Document(), sort: try r.document("sort"),
                                           remove: r.bool("remove") ?? false, update: r.body["update"],
                                           returnNew: r.bool("new") ?? false, fields: try r.document("fields"),
                                           upsert: r.bool("upsert") ?? false, arrayFilters: r.body["arrayFilters"]?.arrayValue,
                                           constants: try r.letVariables())
        request.hint = WriteReply.hint(r.body["hint"])
        request.bypassDocumentValidation = r.bool("bypassDocumentValidation") ?? false
        request.collation = try r.document("collation")
        return request
    }
}
