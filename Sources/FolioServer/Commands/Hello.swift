import FolioBSON
import FolioEngine
import FolioQuery

/// `hello` / `isMaster` / `ismaster`: the primary of a one-member replica set, MongoDB 8.0
/// (maxWireVersion 25), with the field types drivers read strictly (int32 sizes, booleans).
enum HelloCommand {
    @Sendable static func run(_ r: CommandRequest) throws(FolioError) -> Document {
        let c = r.context
        var d = Document()
        if r.body["helloOk"]?.isTruthy == true { d.append("helloOk", true) }
        d.append(r.name == "hello" ? "isWritablePrimary" : "ismaster", true)
        d.append("topologyVersion", ["processId": .objectID(c.processID), "counter": .int64(0)])
        d.append("maxBsonObjectSize", .int32(Int32(Limits.maximumDocumentSizeBytes)))
        d.append("maxMessageSizeBytes", .int32(Int32(Limits.maximumMessageSizeBytes)))
        d.append("maxWriteBatchSize", .int32(Int32(Limits.maximumWriteBatchCount)))
        d.append("localTime", .datetime(Int64(ObjectID.currentSeconds()) * 1000))
        d.append("logicalSessionTimeoutMinutes", .int32(30))
        d.append("connectionId", .int32(r.connection.id))
        d.append("minWireVersion", .int32(0))
        d.append("maxWireVersion", .int32(25))
        d.append("readOnly", false)
        // Compression: the client's offers Folio supports, in the client's order.
        if case .array(let offered)? = r.body["compression"] {
            let agreed = offered.compactMap(\.stringValue).filter { WireCodec.Compressor.supported[$0] != nil }
            if !agreed.isEmpty { d.append("compression", .array(agreed.map(BSON.string))) }
        }
        d.append("hosts", [.string(c.advertisedAddress)])
        d.append("setName", .string(c.configuration.replicaSetName))
        d.append("setVersion", .int32(1))
        d.append("secondary", false)
        d.append("primary", .string(c.advertisedAddress))
        d.append("me", .string(c.advertisedAddress))
        d.append("electionId", .objectID(ObjectID(hex: "7fffffff0000000000000001")!))
        let now = Int64(ObjectID.currentSeconds()) * 1000
        let opTime: Document = ["ts": .timestamp(c.clusterTime()), "t": .int64(1)]
        d.append("lastWrite", ["opTime": .document(opTime), "lastWriteDate": .datetime(now),
                               "majorityOpTime": .document(opTime), "majorityWriteDate": .datetime(now)])
        return d
    }
}
