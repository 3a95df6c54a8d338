import Dispatch
import FolioBSON
import FolioEngine
import FolioQuery
import Synchronization
#if canImport(Glibc)
import Glibc
#endif

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

    /// getParameter: `{getParameter: 1, <name>: 1, ...}`, `{getParameter: "*"}`, and
    /// `{getParameter: {allParameters, showDetails}, ...}` (details: value, settableAtRuntime,
    /// settableAtStartup).
    @Sendable static func getParameter(_ r: CommandRequest) throws(FolioError) -> Document {
        try adminOnly(r)
        var all = r.argument.stringValue == "*", details = false
        if case .document(let options) = r.argument {
            all = options["allParameters"]?.isTruthy == true
            details = options["showDetails"]?.isTruthy == true
        }
        var d = Document()
        for (name, parameter) in ServerParameters.all where all || r.body[name] != nil {
            let value = parameter.get(r.context.parameters)
            d.append(name, details ? ["value": value, "settableAtRuntime": .bool(parameter.set != nil), "settableAtStartup": true] : value)
        }
        if d.isEmpty { throw FolioError(.invalidOptions, "no option found to get") }
        return d
    }

    /// setParameter: `{setParameter: 1, <name>: <value>}` changes a runtime parameter and
    /// answers its previous value as `was`.
    @Sendable static func setParameter(_ r: CommandRequest) throws(FolioError) -> Document {
        try adminOnly(r)
        var was: BSON?
        for (name, value) in r.body where name != r.name && !CommandRequest.genericFields.contains(name) {
            guard let parameter = ServerParameters.parameter(name) else {
                throw FolioError(.invalidOptions, "attempted to set unrecognized parameter [\(name)], use help:true to see options ")
            }
            guard let set = parameter.set else {
                throw FolioError(.illegalOperation, "not allowed to change [\(name)] at runtime")
            }
            was = parameter.get(r.context.parameters)
            try set(r.context.parameters, value)
        }
        guard let was else { throw FolioError(.invalidOptions, "no option found to set, use help:true to see options ") }
        return ["was": was]
    }

    /// `{shutdown: 1, force, timeoutSecs}`: shuts the server down gracefully (running commands
    /// get up to timeoutSecs, 15 by default, to end) and, as MongoDB, closes the connection
    /// instead of answering. A one-member replica set has no secondary to wait for, so
    /// `force` changes nothing.
    @Sendable static func shutdown(_ r: CommandRequest) throws(FolioError) -> Document {
        try adminOnly(r)
        var seconds: Int64 = 15
        if let t = r.body["timeoutSecs"], t.type != .null {
            guard let n = t.safeInt64 else {
                throw FolioError(.typeMismatch, "BSON field 'shutdown.timeoutSecs' is the wrong type '\(t.type.alias)', expected types '[long, int, decimal, double]'")
            }
            seconds = max(0, min(n, 24 * 3600))
        }
        if let force = r.body["force"], force.type != .null, force.boolValue == nil, !force.isNumber {
            throw FolioError(.typeMismatch, "BSON field 'shutdown.force' is the wrong type '\(force.type.alias)', expected type 'bool'")
        }
        guard let handler = r.context.shutdownHandler.withLock({ $0 }) else {
            throw FolioError(.illegalOperation, "shutdown is not available: this server core is not running a wire server")
        }
        r.rawBatch?.closeConnection = true
        let timeout = Duration.seconds(seconds)
        DispatchQueue.global().async { handler(timeout) }
        return [:]
    }

    /// profile: a database's profiling level (0 off, 1 slow or filtered operations, 2 all;
    /// -1 reads the settings) and `filter`, and the server's `slowms` and `sampleRate`, which
    /// the slow query log shares. Answers the settings before the change (Profiler.swift).
    @Sendable static func profile(_ r: CommandRequest) throws(FolioError) -> Document {
        guard let level = r.argument.exactInt64, r.argument.isNumber, (-1...2).contains(level) else {
            throw FolioError(.badValue, "Invalid profiling level: \(r.argument)")
        }
        var slowms: Int64?
        if let v = r.body["slowms"], v.type != .null {
            guard v.isNumber, let n = v.safeInt64 else { throw FolioError(.typeMismatch, "BSON field 'profile.slowms' is the wrong type '\(v.type.alias)', expected types '[long, int, decimal, double]'") }
            slowms = n
        }
        var sampleRate: Double?
        if let v = r.body["sampleRate"], v.type != .null {
            guard let d = v.asDouble, v.isNumber, (0...1).contains(d) else {
                throw FolioError(.badValue, "'sampleRate' must be between 0.0 and 1.0 inclusive")
            }
            sampleRate = d
        }
        // `filter`: a query on profile documents, or "unset" to remove it.
        var filter: (document: Document, expression: MatchExpression)??
        switch r.body["filter"] {
        case nil, .null?: filter = nil
        case .string("unset")?: filter = .some(nil)
        case .document(let d)?: filter = .some((d, try MatchExpression(parsing: d)))
        case let v?:
            throw FolioError(.typeMismatch, "BSON field 'profile.filter' is the wrong type '\(v.type.alias)', expected types '[string, object]'")
        }
        let previous = r.context.log.slowOperations.withLock { current -> (milliseconds: Int64, sampleRate: Double) in
            let old = current
            if let slowms { current.milliseconds = slowms }
            if let sampleRate { current.sampleRate = sampleRate }
            return old
        }
        let old = r.context.profiler.set(r.database, level: level < 0 ? nil : Int(level), filter: filter)
        var reply: Document = ["was": .int32(Int32(old.level)), "slowms": .int32(Int32(clamping: previous.milliseconds)),
                               "sampleRate": .double(previous.sampleRate)]
        if let f = old.filter { reply.append("filter", .document(f.document)) }
        if r.context.profiler.settings(r.database).filter != nil {
            reply.append("note", "When a filter expression is set, slowms and sampleRate are not used for profiling and slow-query log lines.")
        }
        return reply
    }

    static func adminOnly(_ r: CommandRequest) throws(FolioError) {
        guard r.database == "admin" else {
            throw FolioError(.unauthorized, "\(r.name) may only be run against the admin database.")
        }
    }

    /// replSetGetStatus: the one-member replica set's state, its op times all the latest
    /// commit's (the change log's newest entry), as MongoDB reports a primary without
    /// secondaries.
    @Sendable static func replSetGetStatus(_ r: CommandRequest) throws(FolioError) -> Document {
        try adminOnly(r)
        let c = r.context
        let now = Int64(ObjectID.currentSeconds()) * 1000
        let latest = c.engine.clusterTime
        let op: Document = ["ts": .timestamp(latest), "t": .int64(1)]
        let wall = BSON.datetime(Int64(latest.seconds) * 1000)
        let started = Timestamp(seconds: UInt32(clamping: c.startedAtMilliseconds / 1000), increment: 1)
        let member: Document = [
            "_id": .int32(0), "name": .string(c.advertisedAddress), "health": .double(1), "state": .int32(1), "stateStr": "PRIMARY",
            "uptime": .int32(Int32(clamping: (now - c.startedAtMilliseconds) / 1000)), "optime": .document(op), "optimeDate": wall,
            "lastAppliedWallTime": wall, "lastDurableWallTime": wall, "syncSourceHost": "", "syncSourceId": .int32(-1),
            "infoMessage": "", "electionTime": .timestamp(started), "electionDate": .datetime(Int64(started.seconds) * 1000),
            "configVersion": .int32(1), "configTerm": .int32(1), "self": true, "lastHeartbeatMessage": "",
        ]
        return [
            "set": .string(c.configuration.replicaSetName), "date": .datetime(now), "myState": .int32(1), "term": .int64(1),
            "syncSourceHost": "", "syncSourceId": .int32(-1), "heartbeatIntervalMillis": .int64(2000), "majorityVoteCount": .int32(1),
            "writeMajorityCount": .int32(1), "votingMembersCount": .int32(1), "writableVotingMembersCount": .int32(1),
            "optimes": ["lastCommittedOpTime": .document(op), "lastCommittedWallTime": wall, "readConcernMajorityOpTime": .document(op),
                        "appliedOpTime": .document(op), "durableOpTime": .document(op), "lastAppliedWallTime": wall,
                        "lastDurableWallTime": wall],
            "members": [.document(member)],
        ]
    }

    /// replSetResizeOplog: the change log's largest size (`size`, in MB, 990 MB to 1 PB) and
    /// its minimum retention (`minRetentionHours`, ≥ 0), as MongoDB's oplog takes them; the
    /// next trim (each second) applies them.
    @Sendable static func replSetResizeOplog(_ r: CommandRequest) throws(FolioError) -> Document {
        try adminOnly(r)
        var retention = r.engine.changeLogRetention
        for (k, v) in r.body where k != "replSetResizeOplog" && !CommandRequest.genericFields.contains(k) {
            switch k {
            case "size":
                guard let mb = v.asDouble, v.isNumber else {
                    throw FolioError(.typeMismatch, "BSON field 'replSetResizeOplog.size' is the wrong type '\(v.type.alias)', expected types '[double, int, long, decimal]'")
                }
                guard mb >= 990, mb <= 1024 * 1024 * 1024 else {
                    throw FolioError(.invalidOptions, "Invalid replSetResizeOplog size: \(mb) MB. Oplog size must be between 990 MB and 1 PB.")
                }
                retention.maxBytes = Int(mb * 1024 * 1024)
            case "minRetentionHours":
                guard let hours = v.asDouble, v.isNumber else {
                    throw FolioError(.typeMismatch, "BSON field 'replSetResizeOplog.minRetentionHours' is the wrong type '\(v.type.alias)', expected types '[double, int, long, decimal]'")
                }
                guard hours >= 0 else { throw FolioError(.badValue, "minRetentionHours must be >= 0") }
                retention.minRetentionHours = hours
            default:
                throw FolioError(ErrorCode(rawValue: 40415), "BSON field 'replSetResizeOplog.\(k)' is an unknown field.")
            }
        }
        if r.body["size"] == nil && r.body["minRetentionHours"] == nil {
            throw FolioError(.invalidOptions, "replSetResizeOplog expects oplog size or minimum retention hours to be set")
        }
        r.engine.changeLogRetention = retention
        return [:]
    }

    @Sendable static func getCmdLineOpts(_ r: CommandRequest) throws(FolioError) -> Document {
        let c = r.context.configuration
        return ["argv": ["folio", "serve"],
                "parsed": ["net": ["port": .int32(Int32(c.port)), "bindIp": .string(c.bindAddress)],
                           "replication": ["replSet": .string(c.replicaSetName)], "storage": ["dbPath": .string(c.dataPath)]]]
    }

    @Sendable static func whatsMyURI(_ r: CommandRequest) throws(FolioError) -> Document { ["you": .string(r.connection.remoteAddress)] }

    /// rotateCertificates: new connections use the certificate files as they are now (those
    /// open keep their session).
    @Sendable static func rotateCertificates(_ r: CommandRequest) throws(FolioError) -> Document {
        try adminOnly(r)
        guard let tls = r.context.tls.withLock({ $0 }) else {
            throw FolioError(.invalidSSLConfiguration, "rotateCertificates needs TLS (--tls-mode)")
        }
        do {
            try tls.reload()
        } catch {
            throw FolioError(.invalidSSLConfiguration, "Certificate rotation failed: \(error)")
        }
        r.context.log.log(.info, .network, id: 4913400, ctx: "conn\(r.connection.id)", "Certificates were rotated", attr: [:])
        return [:]
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
            // Under access control a user ends only their own sessions.
            keys = r.context.sessions.owned(keys, by: r.authorization?.ownerKey)
        }
        r.context.sessions.end(keys)
        r.context.cursors.kill(sessions: keys)
        r.context.transactions.end(r.name == "killAllSessions" ? nil : keys)
        return [:]
    }

    /// serverStatus: the process, its connections and traffic, operation counters, per-command
    /// counts, memory, cursors, TTL passes and the catalog. A section given as 0/false in the
    /// command (`{serverStatus: 1, metrics: 0}`) is left out, as MongoDB does.
    @Sendable static func serverStatus(_ r: CommandRequest) throws(FolioError) -> Document {
        let c = r.context
        let now = Int64(ObjectID.currentSeconds()) * 1000
        let uptime = now - c.startedAtMilliseconds
        var out: Document = ["host": .string(c.advertisedAddress), "version": "8.0.0", "process": "mongod",
                             "pid": .int64(Int64(getpid())), "uptime": .double(Double(uptime / 1000)),
                             "uptimeMillis": .int64(uptime), "uptimeEstimate": .int64(uptime / 1000), "localTime": .datetime(now)]
        let active = Set(c.operations.all.map(\.connection.id)).count
        let ttl = (c.engine.ttlStatistics.passes.load(ordering: .relaxed), c.engine.ttlStatistics.deletedDocuments.load(ordering: .relaxed))
        var sections = c.metrics.sections(cursors: c.cursors, activeConnections: active, ttl: ttl)
        if let i = sections.firstIndex(where: { $0.0 == "metrics" }) {
            // What query plans examined, and how many sorted in memory (scanAndOrder).
            let q = c.engine.queryStatistics
            func load(_ a: borrowing Atomic<Int64>) -> BSON { .int64(a.load(ordering: .relaxed)) }
            let scans = q.collectionScans.load(ordering: .relaxed)
            sections[i].1.append("operation", ["scanAndOrder": load(q.blockingSorts)])
            sections[i].1.append("queryExecutor", [
                "scanned": load(q.keysExamined), "scannedObjects": load(q.documentsExamined),
                "collectionScans": ["nonTailable": .int64(scans - q.tailableCollectionScans.load(ordering: .relaxed)), "total": .int64(scans)]])
        }
        sections.insert(("globalLock", globalLock(c, uptimeMilliseconds: uptime)), at: 0)
        sections.append(("storageEngine", ["name": .string(c.configuration.inMemory ? "memory" : "sqlite"),
                                           "supportsCommittedReads": true, "persistent": .bool(!c.configuration.inMemory)]))
        sections.append(("catalogStats", catalogStatistics(c.engine)))
        let retries = c.engine.retryStatistics, txns = c.engine.transactionStatistics
        let open = Int64(c.engine.openTransactions.transactions), running = Int64(c.transactions.active)
        sections.append(("transactions", ["retriedCommandsCount": .int64(retries.retriedCommands.load(ordering: .relaxed)),
                                          "retriedStatementsCount": .int64(retries.retriedStatements.load(ordering: .relaxed)),
                                          "transactionsCollectionWriteCount": .int64(retries.historyWrites.load(ordering: .relaxed)),
                                          "currentActive": .int64(running), "currentInactive": .int64(max(0, open - running)),
                                          "currentOpen": .int64(open),
                                          "totalAborted": .int64(txns.aborted.load(ordering: .relaxed)),
                                          "totalCommitted": .int64(txns.committed.load(ordering: .relaxed)),
                                          "totalStarted": .int64(txns.started.load(ordering: .relaxed))]))
        for (name, section) in sections {
            if let wanted = r.body[name], !wanted.isTruthy { continue }
            out.append(name, .document(section))
        }
        return out
    }

    /// globalLock as mongostat reads it (qrw/arw): Folio has no global lock, so the queue is
    /// the writes waiting for their group commit (readers never wait: they read snapshots) and
    /// the active clients are the commands running now, writers being the write commands.
    static func globalLock(_ c: ServerContext, uptimeMilliseconds: Int64) -> Document {
        let running = c.operations.all
        let writers = running.filter { WriteConcern.writeCommands.contains($0.commandName) }.count
        let queued = c.engine.queuedWrites
        func n(_ v: Int) -> BSON { .int32(Int32(clamping: v)) }
        return ["totalTime": .int64(uptimeMilliseconds * 1000),
                "currentQueue": ["total": n(queued), "readers": n(0), "writers": n(queued)],
                "activeClients": ["total": n(running.count), "readers": n(running.count - writers), "writers": n(writers)]]
    }

    /// catalogStats: user collections, capped ones and views, and the internal ones (those of
    /// admin, config and local, and `system.*` collections such as system.views and
    /// system.profile).
    static func catalogStatistics(_ engine: Engine) -> Document {
        var collections = 0, capped = 0, system = 0, views = 0, internalViews = 0
        for database in engine.databaseNames() {
            let internalDatabase = ["admin", "config", "local"].contains(database)
            for info in engine.collections(in: database) {
                if internalDatabase || info.name.hasPrefix("system.") { system += 1; continue }
                collections += 1
                if CappedLimits(options: info.options) != nil { capped += 1 }
            }
            let n = (try? Views.list(database, engine).count) ?? 0
            if internalDatabase { internalViews += n } else { views += n }
        }
        func n(_ v: Int) -> BSON { .int32(Int32(clamping: v)) }
        return ["collections": n(collections), "capped": n(capped), "clustered": n(0), "timeseries": n(0), "views": n(views),
                "internalCollections": n(system), "internalViews": n(internalViews)]
    }
}
