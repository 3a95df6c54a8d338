import FolioBSON
import FolioEngine
import FolioQuery

#if canImport(Glibc)
import Glibc
#endif

/// hostInfo, getLog, dbStats, collStats, validate, startSession, collMod.
enum DiagnosticCommands {
    @Sendable static func hostInfo(_ r: CommandRequest) throws(FolioError) -> Document {
        var name = [CChar](repeating: 0, count: 256)
        gethostname(&name, name.count)
        let cores = Int32(sysconf(Int32(_SC_NPROCESSORS_ONLN)))
        let pages = sysconf(Int32(_SC_PHYS_PAGES)), pageSize = sysconf(Int32(_SC_PAGESIZE))
        return ["system": ["currentTime": .datetime(Int64(ObjectID.currentSeconds()) * 1000),
                           "hostname": .string(String(decoding: name.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)),
                           "cpuAddrSize": .int32(64), "memSizeMB": .int64(Int64(pages * pageSize) >> 20),
                           "numCores": .int32(cores), "cpuArch": "x86_64"],
                "os": ["type": "Linux", "name": "Linux", "version": ""], "extra": [:]]
    }

    /// getLog: the recent lines of the server's log (`"global"`, up to 1,024) or the warnings
    /// logged while it started (`"startupWarnings"`), as the JSON lines the log writes.
    @Sendable static func getLog(_ r: CommandRequest) throws(FolioError) -> Document {
        try AdminCommands.adminOnly(r)
        switch r.argument.stringValue {
        case "*"?:
            return ["names": ["global", "startupWarnings"]]
        case "global"?:
            let recent = r.context.log.recent
            return ["totalLinesWritten": .int32(Int32(clamping: recent.total)), "log": .array(recent.lines.map(BSON.string))]
        case "startupWarnings"?:
            let lines = r.context.log.startupWarnings
            return ["totalLinesWritten": .int32(Int32(clamping: lines.count)), "log": .array(lines.map(BSON.string))]
        case let name?:
            throw FolioError(ErrorCode(rawValue: 96), "No log named '\(name)'")
        case nil:
            throw FolioError(.typeMismatch, "Argument to getLog must be of type String; found \(r.argument) of type \(r.argument.type.alias)")
        }
    }

    /// dbStats: counts and sizes summed over the database's collections (dataSize is the
    /// documents' BSON bytes, storageSize and indexSize what storage holds), divided by `scale`.
    @Sendable static func dbStats(_ r: CommandRequest) throws(FolioError) -> Document {
        let engine = r.engine
        let scale = try self.scale(r)
        var objects = 0, dataBytes = 0, storageBytes = 0, indexes = 0, indexBytes = 0
        let collections = engine.collections(in: r.database)
        for c in collections {
            let stats = try engine.statistics(try Namespace(database: r.database, collection: c.name))
            objects += stats.count
            dataBytes += stats.dataBytes
            storageBytes += stats.storageBytes
            indexes += stats.indexBytes.count
            indexBytes += stats.indexBytes.reduce(0) { $0 + $1.bytes }
        }
        let scaled = { (n: Int) -> BSON in .double(Double(n / scale)) }
        var out: Document = ["db": .string(r.database), "collections": .int64(Int64(collections.count)), "views": .int64(0),
                             "objects": .int64(Int64(objects)), "avgObjSize": .double(objects == 0 ? 0 : Double(dataBytes) / Double(objects)),
                             "dataSize": scaled(dataBytes), "storageSize": scaled(storageBytes), "indexes": .int64(Int64(indexes)),
                             "indexSize": scaled(indexBytes), "totalSize": scaled(storageBytes + indexBytes), "scaleFactor": .int64(Int64(scale))]
        if let quota = r.context.quotas.quota(r.database) {
            var q = quota.document
            q.append("usage", ["storageBytes": .int64(quota.maxStorageBytes == nil ? Int64(dataBytes) : r.context.quotas.storageBytes(r.database)),
                               "documents": .int64(Int64(objects))])
            out.append("quota", .document(q))
        }
        if !r.context.configuration.inMemory {
            var fs = statvfs()
            if statvfs(r.context.configuration.dataPath, &fs) == 0 {
                let total = Int(fs.f_blocks) * Int(fs.f_frsize), free = Int(fs.f_bfree) * Int(fs.f_frsize)
                out.append("fsUsedSize", scaled(total - free))
                out.append("fsTotalSize", scaled(total))
            }
        }
        return out
    }

    /// collStats: the collection's namespace and `$collStats`' storageStats (sizes divided by
    /// `scale`), as MongoDB 8.0 builds the command from the stage.
    @Sendable static func collStats(_ r: CommandRequest) throws(FolioError) -> Document {
        let ns = try r.namespace()
        guard r.engine.collectionExists(ns) else { throw FolioError(.namespaceNotFound, "Collection [\(ns)] not found.") }
        var out: Document = ["ns": .string(ns.description)]
        for (k, v) in try r.engine.storageStatistics(ns, scale: try scale(r)) { out.append(k, v) }
        return out
    }

    /// The `scale` option: a number of at least 1 (fractions dropped), 1 when absent.
    static func scale(_ r: CommandRequest) throws(FolioError) -> Int {
        guard let value = r.body["scale"], value.type != .null else { return 1 }
        guard let n = value.safeInt64 else {
            throw FolioError(.typeMismatch, "scale has to be a number")
        }
        guard n >= 1 else { throw FolioError(ErrorCode(rawValue: 51024), "BSON field 'scale' value must be >= 1, actual value '\(n)'") }
        return Int(n)
    }

    @Sendable static func validate(_ r: CommandRequest) throws(FolioError) -> Document {
        let ns = try r.namespace()
        let report = try r.engine.validate(ns)
        var keys = Document()
        for k in report.keysPerIndex { keys.append(k.name, .int64(Int64(k.keys))) }
        return ["ns": .string(ns.description), "nrecords": .int64(Int64(report.recordCount)), "nIndexes": .int32(Int32(report.keysPerIndex.count)),
                "keysPerIndex": .document(keys), "valid": .bool(report.isValid),
                "errors": .array(report.errors.map(BSON.string)), "warnings": []]
    }

    @Sendable static func startSession(_ r: CommandRequest) throws(FolioError) -> Document {
        var g = SystemRandomNumberGenerator()
        var id = (0..<16).map { _ in UInt8.random(in: 0...255, using: &g) }
        id[6] = (id[6] & 0x0F) | 0x40
        id[8] = (id[8] & 0x3F) | 0x80
        return ["id": ["id": .binary(Binary(subtype: Binary.Subtype.uuid, data: id))], "timeoutMinutes": .int32(30)]
    }

    /// collMod: validation options, a capped collection's limits, change streams' pre- and
    /// post-images, and an index's hidden / expireAfterSeconds; other options answer 115.
    @Sendable static func collMod(_ r: CommandRequest) throws(FolioError) -> Document {
        let ns = try r.namespace()
        if try Views.definition(ns, r.engine) != nil { return try Views.modify(ns, r) }
        var changes = Document()
        for (key, value) in r.body where !CommandRequest.genericFields.contains(key) && key != "collMod" {
            if key == "viewOn" || key == "pipeline" {
                throw FolioError(.invalidOptions, "option only supported on a view: \(key)")
            }
            guard ["validator", "validationLevel", "validationAction", "index", "cappedSize", "cappedMax",
                   "changeStreamPreAndPostImages"].contains(key) else {
                throw FolioError(.commandNotSupported, "collMod '\(key)' is not supported by Folio yet")
            }
            changes.append(key, value)
        }
        return try r.engine.modifyCollection(ns, changes)
    }

    /// Commands MongoDB has that later issues build: a precise refusal, never a fake success.
    static func notYet(_ what: String) -> CommandHandler {
        { (_: CommandRequest) throws(FolioError) -> Document in
            throw FolioError(.commandNotSupported, "\(what) is not supported by Folio yet")
        }
    }
}
