import FolioBSON
import FolioEngine
import FolioQuery

/// ping, buildInfo, getParameter, getCmdLineOpts, whatsmyuri, connectionStatus, the session
/// commands, serverStatus.
enum AdminCommands {
    @Sendable static func ping(_ r: CommandRequest) throws(FolioError) -> Document { [:] }

    @Sendable static func buildInfo(_ r: CommandRequest) throws(FolioError) -> Document {
        ["version": "8.0.0", "gitVersion": "folio", "versionArray": [.int32(8), .int32(0), .int32(0), .int32(0)],
         "modules": [], "allocator": "system", "javascriptEngine": "none", "sysInfo": "deprecated", "bits": .int32(64),
         "debug": false, "maxBsonObjectSize": .int32(Int32(Limits.maximumDocumentSizeBytes)),
         "storageEngines": ["sqlite", "memory"], "openssl": ["running": "disabled"], "buildEnvironment": [:]]
    }

    @Sendable static func getParameter(_ r: CommandRequest) throws(FolioError) -> Document {
        var d = Document()
        let all = r.argument.stringValue == "*"
        if all || r.body["featureCompatibilityVersion"] != nil { d.append("featureCompatibilityVersion", ["version": "8.0"]) }
        if all || r.body["authenticationMechanisms"] != nil { d.append("authenticationMechanisms", ["SCRAM-SHA-1", "SCRAM-SHA-256"]) }
        if all || r.body["transactionLifetimeLimitSeconds"] != nil { d.append("transactionLifetimeLimitSeconds", .int32(60)) }
        if d.isEmpty { throw FolioError(.invalidOptions, "no option found to get") }
        return d
    }

    @Sendable static func getCmdLineOpts(_ r: CommandRequest) throws(FolioError) -> Document {
        let c = r.context.configuration
        return ["argv": ["folio", "serve"],
                "parsed": ["net": ["port": .int32(Int32(c.port)), "bindIp": .string(c.bindAddress)],
                           "replication": ["replSet": .string(c.replicaSetName)], "storage": ["dbPath": .string(c.dataPath)]]]
    }

    @Sendable static func whatsMyURI(_ r: CommandRequest) throws(FolioError) -> Document { ["you": .string(r.connection.remoteAddress)] }

    @Sendable static func connectionStatus(_ r: CommandRequest) throws(FolioError) -> Document {
        ["authInfo": ["authenticatedUsers": [], "authenticatedUserRoles": []]]
    }

    /// endSessions / killSessions end the listed sessions and kill their cursors;
    /// killAllSessions ends every session; refreshSessions only marks them used.
    @Sendable static func sessions(_ r: CommandRequest) throws(FolioError) -> Document {
        var keys = Set<[UInt8]>()
        switch r.name {
        case "refreshSessions":
            if case .array(let lsids) = r.argument { for lsid in lsids { r.context.sessions.touch(lsid) } }
            return [:]
        case "killAllSessions":
            keys = Set(r.context.sessions.sessions.withLock { Array($0.keys) })
        default:
            guard case .array(let ids) = r.argument else {
                throw FolioError(.typeMismatch, "BSON field '\(r.name).\(r.name)' is the wrong type '\(r.argument.type.alias)', expected type 'array'")
            }
            for id in ids { if let k = SessionRegistry.key(id) { keys.insert(k) } }
        }
        r.context.sessions.end(keys)
        r.context.cursors.kill(sessions: keys)
        return [:]
    }

    @Sendable static func serverStatus(_ r: CommandRequest) throws(FolioError) -> Document {
        let c = r.context
        let uptime = (Int64(ObjectID.currentSeconds()) * 1000 - c.startedAtMilliseconds)
        return ["host": .string(c.advertisedAddress), "version": "8.0.0", "process": "mongod", "uptime": .double(Double(uptime) / 1000),
                "uptimeMillis": .int64(uptime), "localTime": .datetime(Int64(ObjectID.currentSeconds()) * 1000),
                "connections": ["current": .int32(0), "available": .int32(1_000_000)],
                "storageEngine": ["name": .string(c.configuration.inMemory ? "memory" : "sqlite")],
                "metrics": ["cursor": ["open": ["total": .int64(Int64(c.cursors.count))]]]]
    }
}
