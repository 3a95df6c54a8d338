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

    @Sendable static func getLog(_ r: CommandRequest) throws(FolioError) -> Document {
        if r.argument.stringValue == "*" { return ["names": ["global", "startupWarnings"]] }
        return ["totalLinesWritten": .int32(0), "log": []]
    }

    @Sendable static func dbStats(_ r: CommandRequest) throws(FolioError) -> Document {
        let engine = r.context.engine
        var objects = 0
        let collections = engine.collections(in: r.database)
        var indexes = 0
        for c in collections {
            let ns = try Namespace(database: r.database, collection: c.name)
            objects += try engine.estimatedCount(ns)
            indexes += 1 + engine.indexes(ns).count
        }
        return ["db": .string(r.database), "collections": .int64(Int64(collections.count)), "views": .int64(0),
                "objects": .int64(Int64(objects)), "avgObjSize": .double(0), "dataSize": .double(0), "storageSize": .double(0),
                "indexes": .int64(Int64(indexes)), "indexSize": .double(0), "totalSize": .double(0), "scaleFactor": .int32(1)]
    }

    @Sendable static func collStats(_ r: CommandRequest) throws(FolioError) -> Document {
        let ns = try r.namespace()
        guard r.context.engine.collectionExists(ns) else { throw FolioError(.namespaceNotFound, "Collection [\(ns)] not found.") }
        let count = try r.context.engine.estimatedCount(ns)
        let sizes = try r.context.engine.indexSizes(ns)
        var indexSizes = Document()
        for s in sizes { indexSizes.append(s.name, .int64(Int64(s.bytes))) }
        return ["ns": .string(ns.description), "count": .int64(Int64(count)), "size": .int64(0), "storageSize": .int64(0),
                "totalIndexSize": .int64(Int64(sizes.reduce(0) { $0 + $1.bytes })), "indexSizes": .document(indexSizes),
                "avgObjSize": .int64(0), "nindexes": .int32(Int32(sizes.count)), "capped": false]
    }

    @Sendable static func validate(_ r: CommandRequest) throws(FolioError) -> Document {
        let ns = try r.namespace()
        let report = try r.context.engine.validate(ns)
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

    /// collMod: validation options and an index's hidden / expireAfterSeconds; other
    /// options (viewOn, pipeline, changeStreamPreAndPostImages, ...) answer 115.
    @Sendable static func collMod(_ r: CommandRequest) throws(FolioError) -> Document {
        let ns = try r.namespace()
        var changes = Document()
        for (key, value) in r.body where !CommandRequest.genericFields.contains(key) && key != "collMod" {
            guard ["validator", "validationLevel", "validationAction", "index"].contains(key) else {
                throw FolioError(.commandNotSupported, "collMod '\(key)' is not supported by Folio yet")
            }
            changes.append(key, value)
        }
        return try r.context.engine.modifyCollection(ns, changes)
    }

    /// Commands MongoDB has that later issues build: a precise refusal, never a fake success.
    static func notYet(_ what: String) -> CommandHandler {
        { (_: CommandRequest) throws(FolioError) -> Document in
            throw FolioError(.commandNotSupported, "\(what) is not supported by Folio yet")
        }
    }
}
