import FolioBSON
import FolioEngine
import FolioQuery

/// listDatabases, listCollections, create, drop, dropDatabase, renameCollection.
enum CatalogCommands {
    @Sendable static func listDatabases(_ r: CommandRequest) throws(FolioError) -> Document {
        let engine = r.engine
        let filter = try r.document("filter").map { f throws(FolioError) in try MatchExpression(parsing: f) }
        var databases: [BSON] = []
        // Under access control, a user without the listDatabases action sees the databases
        // their privileges reach (MongoDB's authorizedDatabases, on by default for them).
        var visible: ((String) -> Bool)? = nil
        if let auth = r.authorization, !auth.isAuthorized(.listDatabases, on: .cluster) {
            if r.body["authorizedDatabases"]?.isTruthy == false { throw CommandAccess.unauthorized(r) }
            visible = { auth.hasAnyPrivilege(onDatabase: $0) }
        }
        for name in engine.databaseNames() where visible?(name) ?? true {
            let entry: Document = ["name": .string(name), "sizeOnDisk": .int64(0), "empty": false]
            if let filter, !filter.matches(entry) { continue }
            databases.append(r.bool("nameOnly") == true ? .document(["name": .string(name)]) : .document(entry))
        }
        var out: Document = ["databases": .array(databases)]
        if r.bool("nameOnly") != true {
            out.append("totalSize", .int64(engine.sizeOnDiskBytes))
            out.append("totalSizeMb", .int64(engine.sizeOnDiskBytes >> 20))
        }
        return out
    }

    @Sendable static func listCollections(_ r: CommandRequest) throws(FolioError) -> Document {
        let filter = try r.document("filter").map { f throws(FolioError) in try MatchExpression(parsing: f) }
        var out: [BSON] = []
        // authorizedCollections (with nameOnly): a user without listCollections sees the
        // collections their privileges name.
        var visible: ((String) -> Bool)? = nil
        if let auth = r.authorization, !auth.isAuthorized(.listCollections, on: .database(r.database)) {
            visible = { auth.hasAnyPrivilege(onCollection: $0, db: r.database) }
        }
        for info in r.engine.collections(in: r.database) where visible?(info.name) ?? true {
            var entry: Document = ["name": .string(info.name), "type": "collection", "options": .document(info.options),
                                   "info": ["readOnly": false, "uuid": .binary(Binary(subtype: Binary.Subtype.uuid, data: info.uuid))],
                                   "idIndex": ["v": .int32(2), "key": ["_id": .int32(1)], "name": "_id_"]]
            if let filter, !filter.matches(entry) { continue }
            if r.bool("nameOnly") == true { entry = ["name": .string(info.name), "type": "collection"] }
            out.append(.document(entry))
        }
        for (name, var entry) in try Views.list(r.database, r.engine) where visible?(name) ?? true {
            if let filter, !filter.matches(entry) { continue }
            if r.bool("nameOnly") == true { entry = ["name": .string(name), "type": "view"] }
            out.append(.document(entry))
        }
        return FindCommand.firstBatch(out, namespace: "\(r.database).$cmd.listCollections")
    }

    /// The options MongoDB 8.0's create takes; any other field is IDL's 40415, not stored.
    static let createOptions: Set<String> = ["capped", "size", "max", "storageEngine", "validator", "validationLevel",
                                             "validationAction", "indexOptionDefaults", "viewOn", "pipeline", "collation",
                                             "timeseries", "expireAfterSeconds", "clusteredIndex", "changeStreamPreAndPostImages",
                                             "encryptedFields", "idIndex", "autoIndexId", "flags", "temp"]

    @Sendable static func create(_ r: CommandRequest) throws(FolioError) -> Document {
        let ns = try r.namespace()
        var options = Document()
        for (k, v) in r.body where k != "create" && !CommandRequest.genericFields.contains(k) {
            guard createOptions.contains(k) else { throw FolioError(ErrorCode(rawValue: 40415), "BSON field 'create.\(k)' is an unknown field.") }
            options.append(k, v)
        }
        if options["viewOn"] != nil { return try Views.create(ns, options: options, r) }
        if let validator = options["validator"] { try r.api.check(expressions: validator) }
        // Capped collections are outside API version 1 (after the checks of their options).
        if CappedLimits(options: try Engine.cappedOptions(options)) != nil, r.api.strict == true {
            throw FolioError(.apiStrictError, "The 'capped' option is not allowed with apiStrict:true in API Version 1")
        }
        if options["expireAfterSeconds"] != nil && options["timeseries"] == nil && options["clusteredIndex"] == nil {
            throw FolioError(.invalidOptions, "'expireAfterSeconds' is only supported on time-series collections or clustered collections")
        }
        if options["pipeline"] != nil {
            throw FolioError(.invalidOptions, "'pipeline' requires 'viewOn' to also be specified")
        }
        if try Views.definition(ns, r.engine) != nil { throw FolioError(.namespaceExists, "Namespace \(ns) already exists") }
        for unsupported in ["timeseries", "clusteredIndex", "encryptedFields"] where options[unsupported] != nil {
            throw FolioError(.commandNotSupported, "create with '\(unsupported)' is not supported by Folio yet")
        }
        try r.engine.createCollection(ns, options: options)
        return [:]
    }

    @Sendable static func drop(_ r: CommandRequest) throws(FolioError) -> Document {
        let ns = try r.namespace()
        if try Views.definition(ns, r.engine) != nil { return try Views.drop(ns, r) }
        let indexes = r.engine.indexes(ns).count + 1
        guard try r.engine.dropCollection(ns) else {
            throw FolioError(.namespaceNotFound, "ns not found")
        }
        return ["nIndexesWas": .int32(Int32(indexes)), "ns": .string(ns.description)]
    }

    @Sendable static func dropDatabase(_ r: CommandRequest) throws(FolioError) -> Document {
        try r.engine.dropDatabase(r.database)
        return ["dropped": .string(r.database)]
    }

    /// convertToCapped's and cloneCollectionAsCapped's `size` (required, a positive number).
    static func cappedSize(_ r: CommandRequest) throws(FolioError) -> Int64 {
        guard let v = r.body["size"], v.type != .null else {
            throw FolioError(ErrorCode(rawValue: 40414), "BSON field '\(r.name).size' is missing but a required field")
        }
        guard v.isNumber, let size = v.safeInt64 else {
            throw FolioError(.typeMismatch, "BSON field '\(r.name).size' is the wrong type '\(v.type.alias)', expected types '[long, int, decimal, double]'")
        }
        return size
    }

    /// convertToCapped: the collection becomes a capped one of `size` bytes, keeping the newest
    /// documents that fit (in its natural order) and only its `_id` index, as in MongoDB.
    @Sendable static func convertToCapped(_ r: CommandRequest) throws(FolioError) -> Document {
        try r.engine.convertToCapped(try r.namespace(), size: try cappedSize(r))
        return [:]
    }

    /// cloneCollectionAsCapped: a capped copy of `size` bytes under `toCollection`.
    @Sendable static func cloneCollectionAsCapped(_ r: CommandRequest) throws(FolioError) -> Document {
        guard case .string(let to)? = r.body["toCollection"] else {
            throw FolioError(ErrorCode(rawValue: 40414), "BSON field 'cloneCollectionAsCapped.toCollection' is missing but a required field")
        }
        let target = try Namespace(database: r.database, collection: to)
        if try Views.definition(target, r.engine) != nil { throw FolioError(.namespaceExists, "Collection \(target) already exists.") }
        try r.engine.cloneAsCapped(try r.namespace(), to: target, size: try cappedSize(r))
        return [:]
    }

    @Sendable static func renameCollection(_ r: CommandRequest) throws(FolioError) -> Document {
        guard r.database == "admin" else { throw FolioError(.unauthorized, "renameCollection may only be run against the admin database.") }
        guard case .string(let from)? = r.body["renameCollection"], case .string(let to)? = r.body["to"] else {
            throw FolioError(.typeMismatch, "renameCollection and to must be strings")
        }
        let source = try Namespace(parsing: from), target = try Namespace(parsing: to)
        if try Views.definition(source, r.engine) != nil { throw Views.notACollection(source) }
        if try Views.definition(target, r.engine) != nil { throw FolioError(.namespaceExists, "Target namespace \(target) is a view") }
        try r.engine.renameCollection(source, to: target, dropTarget: r.bool("dropTarget") ?? false)
        return [:]
    }
}
