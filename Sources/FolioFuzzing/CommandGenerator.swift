import FolioBSON

/// Builds hostile but well-formed commands: real command names with their real options,
/// filters, pipelines, updates and projections made of MongoDB's operator names, and values
/// from `HostileValues` where a number, a path or a spec is expected. Seeded: the same seed
/// gives the same commands.
public struct CommandGenerator {
    public var random: FuzzRandom
    /// Collections the sandbox fills (see `CommandSandbox`), plus names that do not exist or
    /// are not valid.
    static let collections = ["t", "t", "t", "u", "v", "missing", "", "system.x", "$bad"]
    static let paths = ["a", "b", "c", "d", "d.e", "d.f", "arr", "arr.x", "arr.0", "c.0", "date", "s", "_id", "a.b.c",
                        "missing", "arr.$", "c.$[]", "arr.$[e].x", "", "$a", "a..b", "x.0.0"]

    public init(seed: UInt64) { random = FuzzRandom(seed: seed) }

    // MARK: commands

    /// One command document (with `$db`).
    public mutating func command() -> Document {
        let maker = random.pick(CommandGenerator.commandMakers)
        var d = maker(&self)
        if d["$db"] == nil { d.append("$db", "fuzz") }
        if random.chance(0.05) { d.append(random.pick(["maxTimeMS", "comment", "readConcern", "let", "collation"]), hostile()) }
        if random.chance(0.05) {
            // The Stable API's generic fields, plausible or hostile.
            d.append("apiVersion", random.chance(0.7) ? "1" : hostile())
            if random.chance(0.5) { d.append("apiStrict", random.chance(0.7) ? .bool(random.chance(0.5)) : hostile()) }
            if random.chance(0.3) { d.append("apiDeprecationErrors", random.chance(0.7) ? .bool(random.chance(0.5)) : hostile()) }
        }
        if random.chance(0.08) {
            // Session fields: retryable writes with few sessions and transaction numbers (so
            // retries, older numbers and statement ids meet), or hostile shapes.
            let id = BSON.binary(Binary(subtype: Binary.Subtype.uuid, data: [UInt8](repeating: UInt8(random.pick(0...2)), count: 16)))
            d.append("lsid", random.chance(0.85) ? ["id": id] : hostile())
            d.append("txnNumber", random.chance(0.85) ? .int64(Int64(random.pick(0...3))) : hostile())
            if random.chance(0.2) { d.append("stmtId", random.chance(0.5) ? .int32(Int32(random.pick(-1...3))) : hostile()) }
            if random.chance(0.1) { d.append("stmtIds", random.chance(0.5) ? [.int32(0), .int32(0)] : hostile()) }
            if random.chance(0.05) { d.append("autocommit", random.chance(0.5) ? .bool(false) : hostile()) }
        }
        return d
    }

    static let commandMakers: [@Sendable (inout CommandGenerator) -> Document] = [
        { $0.find() }, { $0.find() }, { $0.aggregate() }, { $0.aggregate() }, { $0.aggregate() },
        { $0.update() }, { $0.update() }, { $0.delete() }, { $0.insert() }, { $0.findAndModify() },
        { $0.count() }, { $0.distinct() }, { $0.createIndexes() }, { $0.collMod() }, { $0.bulkWrite() },
        { $0.create() }, { g in ["dropIndexes": g.collectionName(), "index": g.random.chance(0.5) ? "*" : g.hostile()] },
        { g in ["explain": .document(g.random.chance(0.5) ? g.find() : g.aggregate()), "verbosity": g.random.pick(["queryPlanner", "executionStats", "allPlansExecution"])] },
        { g in
            // Server parameters (the sandbox is fresh for every input, so a setting lasts one run).
            let name = g.random.pick(["internalQueryMaxBlockingSortMemoryUsageBytes", "cursorTimeoutMillis", "ttlMonitorSleepSecs",
                                      "ttlMonitorEnabled", "enableTestCommands", "notAParameter"])
            return g.random.chance(0.5) ? ["setParameter": 1, .init(name): g.random.chance(0.5) ? g.number() : g.hostile(), "$db": "admin"]
                : ["getParameter": g.random.chance(0.3) ? "*" : g.hostile(), .init(name): 1, "$db": "admin"]
        },
        { g in ["serverStatus": 1, "metrics": g.random.chance(0.5) ? 0 : g.hostile(), "$db": "admin"] },
        { $0.sasl() }, { $0.userManagement() },
        { g in [g.random.pick(["dbStats", "collStats"]): g.random.chance(0.5) ? g.collectionName() : 1, "scale": g.random.chance(0.5) ? g.number() : g.hostile()] },
    ]

    /// saslStart / saslContinue with SCRAM messages that are nearly right (the SCRAM parser's
    /// hostile input) or hostile values.
    mutating func sasl() -> Document {
        let db: BSON = .string(random.pick(["admin", "fuzz"]))
        func payload(_ g: inout CommandGenerator, _ parts: [String]) -> BSON {
            var text = parts.joined(separator: ",")
            if g.random.chance(0.2) { text = String(text.prefix(g.random.smallCount(text.count + 1))) }
            var bytes = Array(text.utf8)
            if g.random.chance(0.1), !bytes.isEmpty { bytes[g.random.pick(0...(bytes.count - 1))] = UInt8(g.random.pick(0...255)) }
            return g.random.chance(0.9) ? .binary(Binary(data: bytes)) : (g.random.chance(0.5) ? .string(text) : g.hostile())
        }
        if random.chance(0.5) {
            let parts = [random.pick(["n", "y", "p=tls-unique", "", "x"]), random.pick(["", "a=fuzz", "a=u=2Cx"]),
                         random.pick(["n=fuzz", "n=root", "n=", "n=a=3Db=2C", "n==ZZ", "n=\u{0}"]),
                         random.pick(["r=clientnonce", "r=", "r=\u{7f}", "m=ext"]), random.pick(["", "m=x", "e=1"])]
            let mechanism: BSON = random.chance(0.9) ? .string(random.pick(["SCRAM-SHA-256", "SCRAM-SHA-1", "PLAIN", ""])) : hostile()
            var d: Document = ["saslStart": 1, "mechanism": mechanism, "payload": payload(&self, parts), "$db": db]
            if random.chance(0.5) { d.append("options", ["skipEmptyExchange": .bool(random.chance(0.5))]) }
            return d
        }
        let proof = random.pick(["p=", "p=AAAA", "p=" + String(repeating: "A", count: 27) + "=",
                                 "p=" + String(repeating: "A", count: 43) + "=", "p=!!"])
        let parts = [random.pick(["c=biws", "c=eSws", "c=", "c=xyz"]), random.pick(["r=clientnonce", "r=", "r=other"]), proof]
        let id: BSON = random.chance(0.8) ? .int32(Int32(random.pick(0...2))) : hostile()
        return ["saslContinue": 1, "conversationId": id, "payload": payload(&self, random.chance(0.1) ? [] : parts), "$db": db]
    }

    /// The user commands with plausible and hostile arguments.
    mutating func userManagement() -> Document {
        let user: BSON = random.chance(0.8) ? .string(random.pick(["fuzz", "root", "", "a.b", "x@y"])) : hostile()
        let role: BSON = random.pick(["read", "readWrite", "root", "nope", ["role": "dbOwner", "db": "fuzz"], ["role": 1]])
        let roles: BSON = random.chance(0.8) ? .array([role]) : hostile()
        switch random.pick(0...8) {
        case 0:
            let pwd: BSON = random.chance(0.8) ? .string(random.pick(["pw", "", "\u{00A0}x", "\u{E000}"])) : hostile()
            var d: Document = ["createUser": user, "pwd": pwd, "roles": roles]
            if random.chance(0.2) { d.append("mechanisms", random.chance(0.5) ? ["SCRAM-SHA-1"] : hostile()) }
            if random.chance(0.2) { d.append("digestPassword", random.chance(0.5) ? false : hostile()) }
            if random.chance(0.1) { d.append("customData", hostile()) }
            return d
        case 1: return ["updateUser": user, .init(random.pick(["pwd", "roles", "customData", "mechanisms"])): random.chance(0.5) ? roles : hostile()]
        case 2: return ["dropUser": user]
        case 3: return ["usersInfo": random.chance(0.5) ? user : hostile(), "showPrivileges": .bool(random.chance(0.5))]
        case 4: return [.init(random.pick(["grantRolesToUser", "revokeRolesFromUser"])): user, "roles": roles]
        case 5: return ["rolesInfo": random.chance(0.5) ? role : hostile(), "showPrivileges": .bool(random.chance(0.5)), "showBuiltinRoles": true]
        case 6:
            let limit: BSON = random.chance(0.7) ? .int32(Int32(random.pick(0...3))) : hostile()
            return ["setDatabaseQuota": random.chance(0.9) ? "fuzz" : hostile(),
                    .init(random.pick(["maxDocuments", "maxStorageBytes", "maxOperationsPerSecond", "maxConnectionsPerUser"])): limit,
                    "$db": "admin"]
        case 7:
            return [.init(random.pick(["createRole", "grantPrivilegesToRole", "grantRolesToRole", "dropRole"])): random.chance(0.8) ? "r" : hostile(),
                    "privileges": random.chance(0.7) ? [["resource": ["db": "fuzz", "collection": "t"], "actions": ["find"]]] : hostile(),
                    "roles": roles]
        default: return ["dropAllUsersFromDatabase": 1]
        }
    }

    mutating func collectionName() -> BSON {
        random.chance(0.97) ? .string(random.pick(CommandGenerator.collections)) : hostile()
    }

    /// `value` most of the time, a hostile value otherwise.
    mutating func or(_ value: BSON, hostileChance: Double = 0.15) -> BSON {
        random.chance(hostileChance) ? hostile() : value
    }

    /// An array of `n` values made by `make`.
    mutating func list(_ n: Int, _ make: (inout CommandGenerator) -> BSON) -> BSON {
        var out: [BSON] = []
        for _ in 0..<n { out.append(make(&self)) }
        return .array(out)
    }

    mutating func hostile() -> BSON { HostileValues.any(&random) }

    /// A number from the interesting ones (small counts mostly, extremes sometimes).
    mutating func number() -> BSON {
        random.chance(0.6) ? .int32(Int32(random.smallCount(20))) : random.pick(HostileValues.scalars.filter(\.isNumber))
    }

    /// Adds each option with probability `p`, valued by `make`.
    mutating func options(_ d: inout Document, _ names: [String], p: Double = 0.3, _ make: (inout CommandGenerator, String) -> BSON) {
        for n in names where random.chance(p) { d.append(n, make(&self, n)) }
    }

    mutating func find() -> Document {
        var d: Document = ["find": collectionName()]
        options(&d, ["filter", "sort", "projection", "skip", "limit", "batchSize", "hint", "singleBatch", "min", "max",
                     "returnKey", "showRecordId", "allowDiskUse", "let", "collation", "maxTimeMS", "tailable", "awaitData"]) { g, n in
            g.findOption(n)
        }
        return d
    }

    mutating func findOption(_ name: String) -> BSON {
        switch name {
        case "filter": return or(filter(depth: 3))
        case "sort": return or(sort())
        case "projection": return or(projection())
        case "hint": return or(random.chance(0.5) ? .string(random.pick(["a_1", "b_1_a_-1", "_id_", "nope"])) : sort())
        case "min", "max": return or(["a": number()])
        case "let": return or(.document(["x": expression(depth: 2)]))
        case "collation": return or(["locale": .string(random.pick(["en", "simple", "fr", "xx"])), "strength": number()])
        case "skip", "limit", "batchSize", "maxTimeMS": return number()
        default: return or(.bool(random.chance(0.5)))
        }
    }

    mutating func aggregate() -> Document {
        var stages: [BSON] = []
        // Change streams: options, hostile resume tokens (malformed, from the future, of an
        // invalidate) and the stages that may follow.
        if random.chance(0.1) { stages.append(.document(["$changeStream": or(changeStreamOptions())])) }
        for _ in 0..<random.smallCount(5) { stages.append(or(.document(stage(depth: 2)), hostileChance: 0.05)) }
        var d: Document = ["aggregate": random.chance(0.1) ? .int32(1) : collectionName(), "pipeline": .array(stages)]
        d.append("cursor", random.chance(0.9) ? .document(["batchSize": number()]) : hostile())
        options(&d, ["allowDiskUse", "maxTimeMS", "let", "collation", "hint", "explain", "bypassDocumentValidation"], p: 0.15) { g, n in
            g.findOption(n)
        }
        return d
    }

    mutating func changeStreamOptions() -> BSON {
        var d = Document()
        options(&d, ["fullDocument", "fullDocumentBeforeChange", "resumeAfter", "startAfter", "startAtOperationTime",
                     "showExpandedEvents", "allChangesForCluster", "bogus"], p: 0.3) { g, n in
            switch n {
            case "fullDocument": return g.or(.string(g.random.pick(["default", "updateLookup", "whenAvailable", "required", "x"])))
            case "fullDocumentBeforeChange": return g.or(.string(g.random.pick(["off", "whenAvailable", "required", ""])))
            case "resumeAfter", "startAfter":
                let hex = g.random.pick(["826B11B43C00000003000000000000000001", "82FFFFFFFF00000000000000000000000001",
                                         "826B11B43C00000003000000000000000002", "82", "zz", "", String(repeating: "8", count: 4096)])
                return g.or(.document(["_data": .string(hex)]))
            case "startAtOperationTime":
                return g.or(.timestamp(Timestamp(seconds: g.random.pick([0, 1, 1_796_000_000, .max]), increment: 1)))
            default: return g.or(.bool(g.random.chance(0.5)))
            }
        }
        return .document(d)
    }

    mutating func update() -> Document {
        var statements: [BSON] = []
        for _ in 0..<max(1, random.smallCount(3)) {
            var s: Document = ["q": or(filter(depth: 2)), "u": or(random.chance(0.75) ? updateSpec() : updatePipeline())]
            options(&s, ["upsert", "multi", "arrayFilters", "hint", "collation", "c"]) { g, n in
                switch n {
                case "arrayFilters": return g.or(.array([g.filter(depth: 2, prefix: "e.")]))
                case "hint": return g.findOption("hint")
                case "collation": return g.findOption("collation")
                case "c": return g.or(.document(["x": g.expression(depth: 1)]))
                default: return g.or(.bool(g.random.chance(0.5)))
                }
            }
            statements.append(.document(s))
        }
        var d: Document = ["update": collectionName(), "updates": .array(statements)]
        options(&d, ["ordered", "bypassDocumentValidation", "let"], p: 0.2) { g, n in g.findOption(n) }
        return d
    }

    mutating func delete() -> Document {
        var statements: [BSON] = []
        for _ in 0..<max(1, random.smallCount(3)) {
            var s: Document = ["q": or(filter(depth: 2)), "limit": or(.int32(Int32(random.smallCount(1))))]
            options(&s, ["hint", "collation"]) { g, n in g.findOption(n) }
            statements.append(.document(s))
        }
        return ["delete": collectionName(), "deletes": .array(statements), "ordered": .bool(random.chance(0.5))]
    }

    mutating func insert() -> Document {
        var docs: [BSON] = []
        for _ in 0..<max(1, random.smallCount(4)) { docs.append(or(.document(document()), hostileChance: 0.05)) }
        return ["insert": collectionName(), "documents": .array(docs), "ordered": .bool(random.chance(0.5))]
    }

    mutating func findAndModify() -> Document {
        var d: Document = ["findAndModify": collectionName(), "query": or(filter(depth: 2))]
        if random.chance(0.3) { d.append("remove", true) } else {
            d.append("update", or(random.chance(0.7) ? updateSpec() : updatePipeline()))
        }
        options(&d, ["sort", "new", "fields", "upsert", "arrayFilters", "hint", "collation", "let", "maxTimeMS"]) { g, n in
            switch n {
            case "fields": return g.or(g.projection())
            case "new", "upsert": return g.or(.bool(g.random.chance(0.5)))
            case "arrayFilters": return g.or(.array([g.filter(depth: 1, prefix: "e.")]))
            default: return g.findOption(n)
            }
        }
        return d
    }

    mutating func count() -> Document {
        var d: Document = ["count": collectionName()]
        options(&d, ["query", "skip", "limit", "hint", "collation", "maxTimeMS"]) { g, n in g.findOption(n == "query" ? "filter" : n) }
        return d
    }

    mutating func distinct() -> Document {
        var d: Document = ["distinct": collectionName(), "key": or(.string(random.pick(CommandGenerator.paths)))]
        options(&d, ["query", "collation", "maxTimeMS", "hint"]) { g, n in g.findOption(n == "query" ? "filter" : n) }
        return d
    }

    mutating func createIndexes() -> Document {
        var specs: [BSON] = []
        for i in 0..<max(1, random.smallCount(2)) {
            var key = Document()
            for _ in 0..<max(1, random.smallCount(3)) {
                key[random.pick(CommandGenerator.paths + ["$**", "d.$**"])] =
                    random.chance(0.7) ? .int32(random.chance(0.5) ? 1 : -1) : or(.string(random.pick(["hashed", "text", "2dsphere", "2d", "wildcard"])), hostileChance: 0.4)
            }
            var spec: Document = ["key": .document(key), "name": .string("fz\(i)_\(random.next() % 1000)")]
            options(&spec, ["unique", "sparse", "partialFilterExpression", "expireAfterSeconds", "hidden", "collation",
                            "wildcardProjection", "weights", "default_language", "bits", "min", "max", "v"], p: 0.15) { g, n in
                switch n {
                case "partialFilterExpression": return g.or(g.filter(depth: 1))
                case "wildcardProjection": return g.or(g.projection())
                case "collation": return g.findOption(n)
                case "unique", "sparse", "hidden": return g.or(.bool(g.random.chance(0.5)))
                default: return g.number()
                }
            }
            specs.append(.document(spec))
        }
        return ["createIndexes": collectionName(), "indexes": .array(specs)]
    }

    mutating func collMod() -> Document {
        var d: Document = ["collMod": collectionName()]
        switch random.next() % 4 {
        case 0: d.append("validator", or(filter(depth: 2)))
        case 1: d.append("validationLevel", or(.string(random.pick(["off", "strict", "moderate"]))))
        case 2: d.append("index", or(["keyPattern": ["a": 1], "hidden": .bool(random.chance(0.5))]))
        default: d.append("index", or(["name": "date_1", "expireAfterSeconds": number()]))
        }
        return d
    }

    mutating func bulkWrite() -> Document {
        var ops: [BSON] = []
        for _ in 0..<max(1, random.smallCount(4)) {
            switch random.next() % 3 {
            case 0: ops.append(["insert": or(.int32(0)), "document": .document(document())])
            case 1: ops.append(["update": or(.int32(0)), "filter": filter(depth: 1), "updateMods": or(updateSpec()),
                                "multi": .bool(random.chance(0.5)), "upsert": .bool(random.chance(0.2))])
            default: ops.append(["delete": or(.int32(0)), "filter": filter(depth: 1), "multi": .bool(random.chance(0.5))])
            }
        }
        return ["bulkWrite": 1, "ops": .array(ops), "nsInfo": [["ns": or(.string("fuzz.\(random.pick(["t", "u", "v"]))"))]],
                "ordered": .bool(random.chance(0.5)), "$db": "admin"]
    }

    mutating func create() -> Document {
        var d: Document = ["create": .string("c\(random.next() % 4)")]
        options(&d, ["capped", "size", "max", "validator", "validationLevel", "viewOn", "pipeline", "collation", "timeseries",
                     "clusteredIndex", "expireAfterSeconds"], p: 0.2) { g, n in
            switch n {
            case "validator": return g.or(g.filter(depth: 2))
            case "pipeline": return g.or(.array([.document(g.stage(depth: 1))]))
            case "collation": return g.findOption(n)
            case "viewOn": return g.collectionName()
            default: return g.number()
            }
        }
        return d
    }

    // MARK: documents, filters, sorts, projections

    /// A document to store: the sandbox's field names with hostile values.
    mutating func document() -> Document {
        var d = Document()
        if random.chance(0.5) { d.append("_id", or(.int32(Int32(1000 + random.smallCount(100))))) }
        for _ in 0..<random.smallCount(5) {
            d[random.pick(["a", "b", "c", "d", "arr", "date", "s", "x"])] = random.chance(0.5) ? number() : hostile()
        }
        return d
    }

    /// A filter (match expression). `prefix` names array-filter identifiers (`e.`).
    public mutating func filter(depth: Int, prefix: String = "") -> BSON {
        var d = Document()
        for _ in 0..<max(1, random.smallCount(3)) {
            if depth > 0 && random.chance(0.2) {
                let op = random.pick(["$and", "$or", "$nor"])
                d[op] = list(random.smallCount(3)) { $0.filter(depth: depth - 1, prefix: prefix) }
            } else if random.chance(0.1) {
                d["$expr"] = expression(depth: depth)
            } else if random.chance(0.04) {
                d[random.pick(["$text", "$where", "$comment", "$jsonSchema", "$sampleRate", "$alwaysTrue"])] = hostile()
            } else {
                let path = prefix.isEmpty ? random.pick(CommandGenerator.paths) : prefix + random.pick(["x", "a", ""])
                d[path] = random.chance(0.3) ? or(number()) : .document(predicate(depth: depth))
            }
        }
        return .document(d)
    }

    /// `{$op: value}` for one field.
    mutating func predicate(depth: Int) -> Document {
        let op = random.pick(MongoNames.queryOperators)
        let value: BSON
        switch op {
        case "$in", "$nin", "$all": value = or(list(random.smallCount(4)) { $0.random.chance(0.5) ? $0.number() : $0.hostile() })
        case "$elemMatch": value = depth > 0 ? filter(depth: depth - 1) : hostile()
        case "$not": value = depth > 0 ? or(.document(predicate(depth: depth - 1))) : hostile()
        case "$mod": value = or(.array([number(), number()]))
        case "$regex": value = or(.string(random.pick(["^a", "(a+)+$", "[", "a|b", "\\w+", ".*"])))
        case "$size", "$bitsAllSet", "$bitsAnyClear", "$bitsAllClear", "$bitsAnySet": value = random.chance(0.5) ? number() : hostile()
        case "$type": value = or(.string(random.pick(["number", "string", "array", "double", "long"])))
        default: value = random.chance(0.5) ? number() : hostile()
        }
        var d: Document = [op: value]
        if op == "$regex" && random.chance(0.3) { d.append("$options", or(.string(random.pick(["i", "m", "six", "q"])))) }
        return d
    }

    mutating func sort() -> BSON {
        var d = Document()
        for _ in 0..<max(1, random.smallCount(3)) {
            d[random.pick(CommandGenerator.paths)] = random.chance(0.8) ? .int32(random.chance(0.5) ? 1 : -1)
                : or(["$meta": .string(random.pick(["textScore", "randVal", "searchScore"]))], hostileChance: 0.5)
        }
        return .document(d)
    }

    mutating func projection() -> BSON {
        var d = Document()
        for _ in 0..<max(1, random.smallCount(3)) {
            let path = random.pick(CommandGenerator.paths)
            switch random.next() % 6 {
            case 0: d[path] = .int32(Int32(random.next() % 2))
            case 1: d[path] = ["$slice": random.chance(0.5) ? number() : .array([number(), number()])]
            case 2: d[path] = ["$elemMatch": filter(depth: 1)]
            case 3: d[path] = expression(depth: 2)
            case 4: d[path] = ["$meta": or(.string("textScore"))]
            default: d[path] = hostile()
            }
        }
        return .document(d)
    }

    // MARK: updates

    mutating func updateSpec() -> BSON {
        var d = Document()
        for _ in 0..<max(1, random.smallCount(3)) {
            let op = random.pick(MongoNames.updateOperators)
            var fields = Document()
            for _ in 0..<max(1, random.smallCount(2)) {
                fields[random.pick(CommandGenerator.paths)] = updateValue(op)
            }
            d[op] = random.chance(0.95) ? .document(fields) : hostile()
        }
        if random.chance(0.05) { return .document(document()) }  // a replacement
        return .document(d)
    }

    mutating func updateValue(_ op: String) -> BSON {
        switch op {
        case "$push", "$addToSet":
            guard random.chance(0.5) else { return hostile() }
            var m: Document = ["$each": or(list(random.smallCount(4)) { $0.number() })]
            for name in ["$position", "$slice", "$sort"] where random.chance(0.4) {
                m[name] = name == "$sort" && random.chance(0.5) ? sort() : number()
            }
            return .document(m)
        case "$pull": return random.chance(0.5) ? filter(depth: 1) : hostile()
        case "$bit": return or(.document(Document([(random.pick(["and", "or", "xor", "nand"]), number())])))
        case "$rename": return or(.string(random.pick(CommandGenerator.paths)))
        case "$currentDate": return or(["$type": .string(random.pick(["date", "timestamp", "x"]))])
        case "$pop": return or(.int32(random.chance(0.5) ? 1 : -1))
        default: return random.chance(0.5) ? number() : hostile()
        }
    }

    mutating func updatePipeline() -> BSON {
        list(max(1, random.smallCount(3))) { g in
            let name = g.random.pick(["$set", "$addFields", "$unset", "$project", "$replaceRoot", "$replaceWith", "$match"])
            return .document(g.stage(named: name, depth: 1))
        }
    }

    // MARK: aggregation

    /// An aggregation expression.
    public mutating func expression(depth: Int) -> BSON {
        if depth <= 0 || random.chance(0.25) {
            switch random.next() % 4 {
            case 0: return .string("$" + random.pick(CommandGenerator.paths.filter { !$0.isEmpty && !$0.hasPrefix("$") }))
            case 1: return .string(random.pick(["$$ROOT", "$$CURRENT", "$$NOW", "$$this", "$$value", "$$x", "$$REMOVE"]))
            case 2: return number()
            default: return hostile()
            }
        }
        let op = random.pick(MongoNames.expressionOperators)
        switch op {
        case "$map", "$filter":
            var spec: Document = ["input": arrayExpression(depth: depth - 1), "as": or("x"),
                                  op == "$map" ? "in" : "cond": expression(depth: depth - 1)]
            if op == "$filter" && random.chance(0.3) { spec.append("limit", number()) }
            return [op: .document(spec)]
        case "$reduce":
            return [op: ["input": arrayExpression(depth: depth - 1), "initialValue": expression(depth: depth - 1),
                         "in": expression(depth: depth - 1)]]
        case "$let":
            return [op: ["vars": ["x": expression(depth: depth - 1)], "in": expression(depth: depth - 1)]]
        case "$cond":
            return [op: .array([expression(depth: depth - 1), expression(depth: depth - 1), expression(depth: depth - 1)])]
        case "$switch":
            return [op: ["branches": [["case": expression(depth: depth - 1), "then": expression(depth: depth - 1)]],
                         "default": expression(depth: depth - 1)]]
        case "$range":
            return [op: list(Int.random(in: 2...3, using: &random)) { $0.random.chance(0.6) ? $0.number() : $0.expression(depth: depth - 1) }]
        default:
            if let names = MongoNames.namedArguments[op], random.chance(0.8) {
                var spec = Document()
                for name in names where random.chance(0.85) { spec[name] = namedArgument(name, depth: depth - 1) }
                return [op: .document(spec)]
            }
            if random.chance(0.3) {
                // The named-argument form many operators take.
                var spec = Document()
                for _ in 0..<max(1, random.smallCount(3)) {
                    spec[random.pick(MongoNames.optionNames)] = expression(depth: depth - 1)
                }
                return [op: .document(spec)]
            }
            return [op: list(random.smallCount(3)) { $0.expression(depth: depth - 1) }]
        }
    }

    /// A plausible value for a named argument (most of the time), else any expression.
    mutating func namedArgument(_ name: String, depth: Int) -> BSON {
        if random.chance(0.2) { return random.chance(0.5) ? hostile() : expression(depth: depth) }
        switch name {
        case "unit": return .string(random.pick(["year", "quarter", "month", "week", "day", "hour", "minute", "second", "millisecond", "x"]))
        case "timezone": return .string(random.pick(["UTC", "+14:00", "-12", "America/New_York", "Asia/Kathmandu", "bogus", "+99:99"]))
        case "startOfWeek": return .string(random.pick(["monday", "sun", "SATURDAY", "x"]))
        case "date", "startDate", "endDate":
            return random.chance(0.6) ? .datetime(random.pick([Int64.min, .max, 0, -1, 1_700_000_000_000, -62_135_596_800_000, 253_402_300_800_000]))
                : .string(random.pick(["$date", "$_id", "$$NOW"]))
        case "format": return .string(random.pick(["%Y-%m-%d", "%H:%M:%S.%L%z", "%G-W%V-%u", "%", "%Q", "%Y%Y%Y%Y", ""]))
        case "dateString": return .string(random.pick(["2024-02-30", "0000-01-01T00:00:00Z", "292278994-08-17", "2024-01-01T00:00:00.123456789+14:00", "x", ""]))
        case "regex": return .string(random.pick(["", "(a+)+$", "a*", "[", "é", "\\d+", "(?=a)"]))
        case "options": return .string(random.pick(["", "i", "imsx", "q"]))
        case "to": return .string(random.pick(["int", "long", "double", "decimal", "date", "string", "bool", "objectId", "binData", "x"]))
        case "sortBy": return sort()
        case "n", "amount", "binSize", "year", "month", "day", "hour", "minute", "second", "millisecond", "p":
            return name == "p" ? list(1 + random.smallCount(2)) { $0.number() } : number()
        case "input", "inputs", "defaults": return name == "input" && random.chance(0.3) ? .string("$s") : arrayExpression(depth: depth)
        case "find", "replacement", "chars", "field": return .string(random.pick(["", "a", "ab", "$", "é", "x.y", "\u{0}"]))
        default: return expression(depth: depth)
        }
    }

    mutating func arrayExpression(depth: Int) -> BSON {
        switch random.next() % 4 {
        case 0: return .string(random.pick(["$c", "$arr", "$d.f", "$missing"]))
        case 1: return ["$range": [number(), number(), or(.int32(1))]]
        case 2: return list(random.smallCount(4)) { $0.number() }
        default: return expression(depth: depth)
        }
    }

    /// One stage, of a random kind.
    public mutating func stage(depth: Int) -> Document {
        stage(named: random.pick(MongoNames.stages + ["$match", "$group", "$project", "$sort", "$lookup", "$unwind", "$addFields"]),
              depth: depth)
    }

    mutating func stage(named name: String, depth: Int) -> Document {
        let spec: BSON
        switch name {
        case "$match": spec = or(filter(depth: depth))
        case "$project", "$addFields", "$set": spec = or(projection())
        case "$unset": spec = or(.string(random.pick(CommandGenerator.paths)))
        case "$sort": spec = or(sort())
        case "$limit", "$skip": spec = number()
        case "$sample": spec = or(["size": number()])
        case "$count", "$sortByCount": spec = or(.string(random.pick(["n", "$a", "$b"])))
        case "$unwind":
            spec = or(random.chance(0.5) ? .string("$" + random.pick(["c", "arr", "d.f", "a"]))
                      : ["path": "$arr", "includeArrayIndex": "i", "preserveNullAndEmptyArrays": .bool(random.chance(0.5))])
        case "$group":
            var g: Document = ["_id": expression(depth: depth)]
            for i in 0..<random.smallCount(3) {
                g["f\(i)"] = [random.pick(MongoNames.accumulators): accumulatorArgument(depth: depth)]
            }
            spec = or(.document(g), hostileChance: 0.05)
        case "$bucket":
            spec = or(["groupBy": expression(depth: depth), "boundaries": .array([number(), number(), number()]),
                       "default": hostile()])
        case "$bucketAuto":
            spec = or(["groupBy": expression(depth: depth), "buckets": number(),
                       "granularity": .string(random.pick(["R5", "E12", "POWERSOF2", "1-2-5", "x"]))])
        case "$replaceRoot": spec = or(["newRoot": expression(depth: depth)])
        case "$replaceWith", "$redact": spec = expression(depth: depth)
        case "$lookup":
            var l: Document = ["from": collectionName(), "as": "j"]
            if random.chance(0.5) { l.append("localField", "a"); l.append("foreignField", "a") }
            if random.chance(0.5) || l["localField"] == nil {
                l.append("pipeline", .array(depth > 0 ? [.document(stage(depth: depth - 1))] : []))
                if random.chance(0.5) { l.append("let", ["x": expression(depth: 1)]) }
            }
            spec = or(.document(l), hostileChance: 0.05)
        case "$graphLookup":
            spec = or(["from": collectionName(), "startWith": expression(depth: 1), "connectFromField": "a",
                       "connectToField": "b", "as": "g", "maxDepth": number()])
        case "$unionWith":
            spec = or(["coll": collectionName(), "pipeline": .array(depth > 0 ? [.document(stage(depth: depth - 1))] : [])])
        case "$facet":
            spec = or(["x": .array(depth > 0 ? [.document(stage(depth: depth - 1))] : []), "y": []])
        case "$densify":
            spec = or(["field": or("a"), "range": ["step": number(), "bounds": random.chance(0.5) ? "full" : .array([number(), number()])]])
        case "$fill":
            spec = or(["sortBy": sort(), "output": ["a": [random.pick(["method", "value"]): random.chance(0.5) ? "linear" : expression(depth: 1)]]])
        case "$setWindowFields":
            var output = Document()
            output["w"] = [random.pick(MongoNames.windowFunctions): accumulatorArgument(depth: depth),
                           "window": random.chance(0.5) ? ["documents": .array([number(), number()])] : ["range": .array([number(), number()])]]
            spec = or(["partitionBy": expression(depth: 1), "sortBy": sort(), "output": .document(output)])
        case "$documents": spec = or(list(random.smallCount(3)) { .document($0.document()) })
        case "$out", "$merge": spec = or(.string(random.pick(["o1", "t", "system.x", ""])))
        default: spec = hostile()
        }
        return [name: spec]
    }

    mutating func accumulatorArgument(depth: Int) -> BSON {
        switch random.next() % 3 {
        case 0: return expression(depth: depth)
        case 1: return ["input": expression(depth: depth), "n": number(), "sortBy": sort(), "p": .array([number()]),
                        "method": "approximate", "output": expression(depth: 1), "by": number(), "default": hostile()]
        default: return hostile()
        }
    }
}
