import FolioBSON

// A `find` of one document by an exact `_id`, or of the first document with an exact value of
// a plainly indexed field, read from the message's bytes (this file) and answered with the
// reply's bytes (`CommandDispatcher.answer(_:RawPointRead...)`, RunsWhereItArrives.swift), on
// the event loop that read it or on the connection's queue. Built into the wire fuzzer with
// WireMessage.swift: whatever it accepts, WireCodec.parse must accept with the same meaning.
//
// The general path decodes the whole command into a `Document`, runs the dispatcher's checks
// and bookkeeping, plans the query, opens a snapshot and a cursor, builds the reply as a
// `Document` and encodes it: most of a point read's user-space CPU (BENCHMARKS.md, issue 28).
// This path does only what such a find needs: one validation pass over the body, a
// record-cache probe or one snapshot read (by `_id`) or the engine's own query with its plan
// (by an indexed field), and the reply written straight into bytes. Its reply is the general
// path's, byte for byte (RawPointReadTests compares them), and it keeps what the general path
// records: the session's last use, serverStatus's command and query counters, the
// collection's latency statistics, the telemetry, the cluster time's operation count and
// `metrics.queryExecutor`.
//
// It answers only the plainest form, and gives everything else to the general path,
// unchanged: a message of exactly one body section and no flags; a body of only `find`,
// `filter` (exactly `{field: v}` with v an int, long, finite double, string or ObjectId),
// `limit` (an int or long ≥ 0; exactly 1 unless the field is `_id`), `singleBatch`,
// `batchSize` (an int or long ≥ 2), `$db`, `lsid` (exactly `{id: UUID}`), `$clusterTime`,
// `$readPreference`, and the Stable API's `apiVersion: "1"`, `apiStrict` and
// `apiDeprecationErrors`, each at most once. By `_id`: on the event loop when memory holds the
// document now (StorageEngine.latestInMemory); otherwise on the connection's queue, which
// reads it through a snapshot (a missing document gets the empty batch the general path
// gives). By another field: a collection with a plain index that leads with it
// (RunsWhereItArrives.swift's rule), so the plan is an index seek. And a server with no access
// control, auditing, profiling, fail points, quota or log-every-operation setting, and not
// shutting down.

/// A point read parsed from an OP_MSG's bytes (nil for any other message): `{field: value}`
/// where the field is `_id`, or any other field with `limit: 1`.
package struct RawPointRead: Sendable {
    package let requestID: Int32
    package let database: String
    package let collection: String
    /// The filter's only field and its value.
    package let field: String
    package let value: BSON
    /// `singleBatch: true` was given.
    package let singleBatch: Bool
    /// The session, exactly `{id: UUID}`, when the command named one.
    package let lsid: BSON?

    /// The bytes of a whole OP_MSG; nil unless it is the plain point read described above.
    package init?(_ bytes: [UInt8]) {
        // Header (16 bytes), flags (4), section kind (1), then a body that ends the message.
        guard bytes.count >= 26, RawPointRead.int32(bytes, 0) == Int32(bytes.count),
              RawPointRead.int32(bytes, 12) == OpCode.message.rawValue, RawPointRead.int32(bytes, 16) == 0,
              bytes[20] == 0, RawPointRead.int32(bytes, 21) == Int32(bytes.count - 21),
              let body = try? RawDocument(validating: bytes, at: 21) else { return nil }
        var database: String?, collection: String?, field: String?, value: BSON?, lsid: BSON?, limit: Int64?
        var singleBatch = false, apiVersion = false, apiOptions = false
        var seen: [String] = []
        for element in body {
            let key = element.key
            guard !seen.contains(key) else { return nil }
            seen.append(key)
            let raw = element.value
            if seen.count == 1 {
                guard key == "find", raw.type == .string, let name = raw.stringValue else { return nil }
                collection = name
                continue
            }
            switch key {
            case "filter":
                guard raw.type == .document, let filter = raw.documentValue else { return nil }
                var fields = filter.makeIterator()
                guard let only = fields.next(), fields.next() == nil else { return nil }
                let name = only.key
                // An operator ($and, $where, ...) is no field; an empty name is refused by the general path.
                guard let first = name.utf8.first, first != UInt8(ascii: "$") else { return nil }
                switch only.type {
                case .int32, .int64, .string, .objectID: break
                case .double:
                    guard let d = only.value.doubleValue, d.isFinite else { return nil }
                default: return nil
                }
                field = name
                value = only.value.bson
            case "limit":
                guard let n = RawPointRead.integer(raw), n >= 0 else { return nil }
                limit = n
            case "batchSize":
                // batchSize 0 or 1 can leave a cursor open (or empty) on the general path.
                guard let n = RawPointRead.integer(raw), n >= 2 else { return nil }
            case "singleBatch":
                guard raw.type == .bool else { return nil }
                singleBatch = raw.boolValue == true
            case "$db":
                // (stringValue also reads symbols and code, which the general path refuses here.)
                guard raw.type == .string, let name = raw.stringValue else { return nil }
                database = name
            case "lsid":
                guard raw.type == .document, let session = raw.documentValue else { return nil }
                var fields = session.makeIterator()
                guard let only = fields.next(), fields.next() == nil, only.keyEquals("id"), case .binary(let b) = only.value.bson,
                      b.subtype == Binary.Subtype.uuid, b.data.count == 16 else { return nil }
                lsid = raw.bson
            case "$clusterTime", "$readPreference":
                // Neither changes what the general path answers (no access control here).
                guard raw.type == .document else { return nil }
            case "apiVersion":
                // The Stable API, as drivers configured with it send it on every command: find
                // and these fields are all in version 1, so it changes nothing here.
                guard raw.type == .string, raw.stringValue == "1" else { return nil }
                apiVersion = true
            case "apiStrict", "apiDeprecationErrors":
                guard raw.type == .bool else { return nil }
                apiOptions = true
            default:
                return nil
            }
        }
        // apiStrict or apiDeprecationErrors without apiVersion is an error for the general path.
        guard let database, let collection, let field, let value, apiVersion || !apiOptions else { return nil }
        // Another field than `_id` may match many documents: only the first is asked for.
        guard field == "_id" || limit == 1 else { return nil }
        self.requestID = RawPointRead.int32(bytes, 4)
        self.database = database
        self.collection = collection
        self.field = field
        self.value = value
        self.singleBatch = singleBatch
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
    /// the same collection, database, filter, session and `singleBatch` (the wire fuzzer and
    /// the tests check it).
    package func agrees(with header: MessageHeader, _ message: WireMessage) -> Bool {
        guard case .message(let msg) = message, msg.flags == 0, msg.sequences.isEmpty, header.compressorID == nil,
              header.requestID == requestID, msg.body.fieldNames.first == "find",
              case .string(collection)? = msg.body["find"], case .string(database)? = msg.body["$db"],
              case .document(let filter)? = msg.body["filter"], filter.count == 1, filter.element(at: 0).key == field else { return false }
        let given = filter.element(at: 0).value
        return given == value && given.type == value.type && msg.body["lsid"] == lsid
            && (msg.body["singleBatch"]?.boolValue ?? false) == singleBatch
    }
}
