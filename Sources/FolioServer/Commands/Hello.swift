import FolioBSON
import FolioEngine
import FolioQuery

/// `hello` / `isMaster` / `ismaster`: the primary of a one-member replica set, MongoDB 8.0
/// (maxWireVersion 25), with the field types drivers read strictly (int32 sizes, booleans).
package enum HelloCommand {
    /// The command's three spellings.
    package static let names: Set<String> = ["hello", "isMaster", "ismaster"]

    @Sendable static func run(_ r: CommandRequest) throws(FolioError) -> Document {
        let c = r.context
        let client = r.body["client"]?.documentValue
        try c.connections.state(for: r.connection).withLock { (m) throws(FolioError) in try m.hello(client: client) }
        if let client {
            c.log.log(.info, .network, id: 51800, ctx: "conn\(r.connection.id)", "client metadata", attr: [
                "remote": .string(r.connection.remoteAddress), "client": .string("conn\(r.connection.id)"), "doc": .document(client)],
                quietable: true)
        }
        var d = reply(command: r.name, body: r.body, processID: c.processID, connectionID: r.connection.id,
                      address: c.advertisedAddress, setName: c.configuration.replicaSetName, opTime: c.clusterTime())
        // The mechanisms a user can authenticate with (`saslSupportedMechs: "db.user"`), so a
        // driver picks SCRAM-SHA-256 when it can; nothing for a user who does not exist.
        if case .string(let name)? = r.body["saslSupportedMechs"], let dot = name.firstIndex(of: "."),
           let user = try? c.access.users.find(user: String(name[name.index(after: dot)...]), db: String(name[..<dot])) {
            d.append("saslSupportedMechs", .array(user.mechanisms.map { .string($0.rawValue) }))
        }
        // The first SASL step in the handshake. As in MongoDB it is answered only for a user
        // who has credentials for the mechanism; otherwise it is left out of the reply and the
        // driver authenticates the usual way (and gets the error then).
        if case .document(let start)? = r.body["speculativeAuthenticate"] {
            let db = start["db"]?.stringValue ?? r.database
            let answer: Document?
            if start["saslStart"] != nil { answer = try? AuthenticationCommands.start(start, database: db, r, speculative: true) }
            else if start["authenticate"] != nil { answer = try? AuthenticationCommands.x509(start, database: db, r) }
            else { answer = nil }
            if let answer { d.append("speculativeAuthenticate", .document(answer)) }
        }
        return d
    }

    /// The reply fields (without `ok`); shared with the wire benchmark's no-op server so a
    /// driver sees the same topology from both.
    package static func reply(command: String, body: Document, processID: ObjectID, connectionID: Int32, address: String,
                      setName: String, opTime: Timestamp) -> Document {
        var d = Document()
        if body["helloOk"]?.isTruthy == true { d.append("helloOk", true) }
        d.append(command == "hello" ? "isWritablePrimary" : "ismaster", true)
        d.append("topologyVersion", ["processId": .objectID(processID), "counter": .int64(0)])
        d.append("maxBsonObjectSize", .int32(Int32(Limits.maximumDocumentSizeBytes)))
        d.append("maxMessageSizeBytes", .int32(Int32(Limits.maximumMessageSizeBytes)))
        d.append("maxWriteBatchSize", .int32(Int32(Limits.maximumWriteBatchCount)))
        d.append("localTime", .datetime(Int64(ObjectID.currentSeconds()) * 1000))
        d.append("logicalSessionTimeoutMinutes", .int32(30))
        d.append("connectionId", .int32(connectionID))
        d.append("minWireVersion", .int32(0))
        d.append("maxWireVersion", .int32(25))
        d.append("readOnly", false)
        // Compression: the client's offers Folio supports, in the client's order.
        if case .array(let offered)? = body["compression"] {
            let agreed = offered.compactMap(\.stringValue).filter { WireCodec.Compressor.supported[$0] != nil }
            if !agreed.isEmpty { d.append("compression", .array(agreed.map(BSON.string))) }
        }
        d.append("hosts", [.string(address)])
        d.append("setName", .string(setName))
        d.append("setVersion", .int32(1))
        d.append("secondary", false)
        d.append("primary", .string(address))
        d.append("me", .string(address))
        d.append("electionId", .objectID(ObjectID(hex: "7fffffff0000000000000001")!))
        let now = Int64(ObjectID.currentSeconds()) * 1000
        let op: Document = ["ts": .timestamp(opTime), "t": .int64(1)]
        d.append("lastWrite", ["opTime": .document(op), "lastWriteDate": .datetime(now),
                               "majorityOpTime": .document(op), "majorityWriteDate": .datetime(now)])
        return d
    }
}
