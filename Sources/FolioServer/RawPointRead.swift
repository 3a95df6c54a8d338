import FolioBSON

// A `find` of one document by an exact `_id`, read from the message's bytes (this file) and
// answered with the reply's bytes (`CommandDispatcher.answer(_:RawPointRead...)`,
// RunsWhereItArrives.swift), on the event loop that read it. Built into the wire fuzzer with
// WireMessage.swift: whatever it accepts, WireCodec.parse must accept with the same meaning.
//
// The general path decodes the whole command into a `Document`, runs the dispatcher's checks
// and bookkeeping, plans the query, opens a snapshot and a cursor, builds the reply as a
// `Document` and encodes it: most of a point read's user-space CPU (BENCHMARKS.md, issue 28).
// This path does only what such a find needs: one validation pass over the body, a
// record-cache probe, and the reply written straight into bytes. Its reply is the general
// path's, byte for byte (RawPointReadTests compares them), and it keeps what the general path
// records: the session's last use, serverStatus's command and query counters, the
// collection's latency statistics, the telemetry, the cluster time's operation count and
// `metrics.queryExecutor` (one key, one document examined, as IDHACK counts).
//
// It answers only the plainest form, and gives everything else to the general path,
// unchanged: a message of exactly one body section and no flags; a body of only `find`,
// `filter` (exactly `{_id: v}` with v an int, long, double, string or ObjectId), `limit`
// (an int or long ≥ 0), `singleBatch`, `batchSize` (an int or long ≥ 2), `$db`, `lsid`
// (exactly `{id: UUID}`), `$clusterTime` and `$readPreference`, each at most once; an
// existing collection whose document memory holds now (StorageEngine.latestInMemory); and a
// server with no access control, auditing, profiling, fail points, quota or
// log-every-operation setting, and not shutting down. A document memory does not hold, or
// that does not exist, goes the general way, which reads it.

/// A point read by `_id` parsed from an OP_MSG's bytes (nil for any other message).
package struct RawPointRead: Sendable {
    package let requestID: Int32
    package let database: String
    package let collection: String
    package let id: BSON
    /// The session, exactly `{id: UUID}`, when the command named one.
    package let lsid: BSON?

    /// The bytes of a whole OP_MSG; nil unless it is the plain point read described above.
    package init?(_ bytes: [UInt8]) {
        // Header (16 bytes), flags (4), section kind (1), then a body that ends the message.
        guard bytes.count >= 26, RawPointRead.int32(bytes, 0) == Int32(bytes.count),
              RawPointRead.int32(bytes, 12) == OpCode.message.rawValue, RawPointRead.int32(bytes, 16) == 0,
              bytes[20] == 0, RawPointRead.int32(bytes, 21) == Int32(bytes.count - 21),
              let body = try? RawDocument(validating: bytes, at: 21) else { return nil }
        var database: String?, collection: String?, id: BSON?, lsid: BSON?
        var seen: [String] = []
        for element in body {
            let key = element.key
            guard !seen.contains(key) else { return nil }
            seen.append(key)
            let value = element.value
            if seen.count == 1 {
                guard key == "find", value.type == .string, let name = value.stringValue else { return nil }
                collection = name
                continue
            }
            switch key {
            case "filter":
                guard value.type == .document, let filter = value.documentValue else { return nil }
                var fields = filter.makeIterator()
                guard let only = fields.next(), fields.next() == nil, only.keyEquals("_id") else { return nil }
                switch only.type {
                case .int32, .int64, .string, .objectID: id = only.value.bson
                case .double:
                    guard let d = only.value.doubleValue, d.isFinite else { return nil }
                    id = only.value.bson
                default: return nil
                }
            case "limit":
                guard let n = RawPointRead.integer(value), n >= 0 else { return nil }
            case "batchSize":
                // batchSize 0 or 1 can leave a cursor open (or empty) on the general path.
                guard let n = RawPointRead.integer(value), n >= 2 else { return nil }
            case "singleBatch":
                guard value.type == .bool else { return nil }
            case "$db":
                // (stringValue also reads symbols and code, which the general path refuses here.)
                guard value.type == .string, let name = value.stringValue else { return nil }
                database = name
            case "lsid":
                guard value.type == .document, let session = value.documentValue else { return nil }
                var fields = session.makeIterator()
                guard let only = fields.next(), fields.next() == nil, only.keyEquals("id"), case .binary(let b) = only.value.bson,
                      b.subtype == Binary.Subtype.uuid, b.data.count == 16 else { return nil }
                lsid = value.bson
            case "$clusterTime", "$readPreference":
                // Neither changes what the general path answers (no access control here).
                guard value.type == .document else { return nil }
            default:
                return nil
            }
        }
        guard let database, let collection, let id else { return nil }
        self.requestID = RawPointRead.int32(bytes, 4)
        self.database = database
        self.collection = collection
        self.id = id
        self.lsid = lsid
    }

    static func int32(_ bytes: [UInt8], _ offset: Int) -> Int32 {
        Int32(bitPattern: UInt32(bytes[offset]) | UInt32(bytes[offset + 1]) << 8 | UInt32(bytes[offset + 2]) << 16 | UInt32(bytes[offset + 3]) << 24)
    }

    static func integer(_ value: RawValue) -> Int64? {
        switch value.type {
        case .int32: return value.int32Value.map(Int64.init)
        case .int64: return value.int64Value
        default: return nil
        }
    }
}

extension RawPointRead {
    /// Whether the general parser's reading of the same message is this one: a plain find of
    /// the same collection, database, `_id` and session (the wire fuzzer and the tests check it).
    package func agrees(with header: MessageHeader, _ message: WireMessage) -> Bool {
        guard case .message(let msg) = message, msg.flags == 0, msg.sequences.isEmpty, header.compressorID == nil,
              header.requestID == requestID, msg.body.fieldNames.first == "find",
              case .string(collection)? = msg.body["find"], case .string(database)? = msg.body["$db"],
              case .document(let filter)? = msg.body["filter"], filter.count == 1, let value = filter["_id"] else { return false }
        return value == id && value.type == id.type && msg.body["lsid"] == lsid
    }
}
