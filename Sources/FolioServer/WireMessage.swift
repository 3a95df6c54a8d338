import FolioBSON

// The MongoDB wire protocol, as pure values and parsers (no networking here).
//
// Header: int32 messageLength, int32 requestID, int32 responseTo, int32 opCode (little-endian).
// OP_MSG (2013): uint32 flagBits, sections (kind 0: one body document; kind 1: int32 size,
//   cstring identifier, documents), optional CRC-32C checksum when flag bit 0 is set.
// OP_QUERY (2004): int32 flags, cstring collection, int32 skip, int32 return, query doc
//   [, fields doc]: accepted only for the legacy hello handshake.
// OP_COMPRESSED (2012): int32 originalOpcode, int32 uncompressedSize, uint8 compressorId,
//   compressed bytes of the original message after its header. zlib (2) and noop (0) are
//   accepted; the reply goes back compressed the same way.

/// Wire opcodes Folio knows.
public enum OpCode: Int32, Sendable {
    case reply = 1
    case update = 2001
    case insert = 2002
    case query = 2004
    case getMore = 2005
    case delete = 2006
    case killCursors = 2007
    case compressed = 2012
    case message = 2013
}

/// A message header.
public struct MessageHeader: Sendable, Equatable {
    public var length: Int32
    public var requestID: Int32
    public var responseTo: Int32
    public var opCode: Int32
    /// Set when the message arrived in OP_COMPRESSED: the compressor to answer with.
    public var compressorID: UInt8? = nil

    public static let size = 16
}

/// Why bytes from a client are not a valid message. The connection is closed after these,
/// except where a reply can still be sent.
public enum WireError: Error, Sendable, Equatable {
    case invalidLength(Int32)
    case truncated
    case unsupportedOpCode(Int32)
    case illegalFlags(UInt32)
    case checksumMismatch
    case invalidSection(String)
    case invalidCompression(String)
    case invalidBSON(String)
}

/// A parsed OP_MSG.
public struct OpMsg: Sendable {
    public var flags: UInt32
    /// The command body with document sequences merged in as arrays.
    public var body: Document
    /// The documents of each document sequence as they arrived (views into the message),
    /// in the order of the arrays merged into `body`: an insert stores them without encoding
    /// them again.
    public var sequences: [String: [RawDocument]] = [:]
    public var moreToCome: Bool { flags & OpMsg.moreToComeFlag != 0 }
    public var exhaustAllowed: Bool { flags & OpMsg.exhaustAllowedFlag != 0 }

    public static let checksumPresentFlag: UInt32 = 1 << 0
    public static let moreToComeFlag: UInt32 = 1 << 1
    public static let exhaustAllowedFlag: UInt32 = 1 << 16
}

/// A parsed legacy OP_QUERY (handshake only).
public struct OpQuery: Sendable {
    public var flags: Int32
    public var collection: String
    public var query: Document
}

/// A parsed message.
public enum WireMessage: Sendable {
    case message(OpMsg)
    case query(OpQuery)
}

public enum WireCodec {
    /// Reads a header from the first 16 bytes; checks the length bounds.
    public static func header(_ bytes: UnsafeRawBufferPointer) throws(WireError) -> MessageHeader {
        guard bytes.count >= MessageHeader.size else { throw .truncated }
        func int(_ o: Int) -> Int32 { Int32(littleEndian: bytes.loadUnaligned(fromByteOffset: o, as: Int32.self)) }
        let h = MessageHeader(length: int(0), requestID: int(4), responseTo: int(8), opCode: int(12))
        guard h.length >= Int32(MessageHeader.size), Int(h.length) <= Limits.maximumMessageSizeBytes else {
            throw .invalidLength(h.length)
        }
        return h
    }

    /// Parses a complete message (header included).
    public static func parse(_ bytes: [UInt8]) throws(WireError) -> (MessageHeader, WireMessage) {
        guard bytes.count >= MessageHeader.size else { throw .truncated }
        let h = MessageHeader(length: try readInt32(bytes, 0), requestID: try readInt32(bytes, 4),
                              responseTo: try readInt32(bytes, 8), opCode: try readInt32(bytes, 12))
        guard h.length >= Int32(MessageHeader.size), Int(h.length) <= Limits.maximumMessageSizeBytes else {
            throw .invalidLength(h.length)
        }
        guard Int(h.length) == bytes.count else { throw .invalidLength(h.length) }
        switch h.opCode {
        case OpCode.message.rawValue: return (h, .message(try parseMessage(bytes)))
        case OpCode.query.rawValue: return (h, .query(try parseQuery(bytes)))
        case OpCode.compressed.rawValue:
            let (inner, compressor) = try decompress(bytes, header: h)
            var (innerHeader, message) = try parse(inner)
            if innerHeader.compressorID != nil { throw .invalidCompression("nested OP_COMPRESSED") }
            innerHeader.compressorID = compressor
            return (innerHeader, message)
        default: throw .unsupportedOpCode(h.opCode)
        }
    }

    /// Compressor ids of the wire protocol.
    public enum Compressor {
        public static let noop: UInt8 = 0
        public static let snappy: UInt8 = 1
        public static let zlib: UInt8 = 2
        public static let zstd: UInt8 = 3
        /// What Folio negotiates in hello, by name.
        public static let supported: [String: UInt8] = ["zlib": zlib]
    }

    /// The original message inside an OP_COMPRESSED, rebuilt with its own header.
    static func decompress(_ bytes: [UInt8], header h: MessageHeader) throws(WireError) -> ([UInt8], UInt8) {
        let originalOpCode = try readInt32(bytes, 16)
        let size = try readInt32(bytes, 20)
        guard bytes.count > 24 else { throw .truncated }
        let compressor = bytes[24]
        guard originalOpCode != OpCode.compressed.rawValue else { throw .invalidCompression("nested OP_COMPRESSED") }
        guard size >= 0, Int(size) <= Limits.maximumMessageSizeBytes - MessageHeader.size else {
            throw .invalidCompression("uncompressed size \(size) out of range")
        }
        let payload = bytes[25...]
        var body: [UInt8]
        switch compressor {
        case Compressor.noop:
            body = Array(payload)
        case Compressor.zlib:
            body = try Zlib.inflate(payload, expectedSize: Int(size))
        default:
            throw .invalidCompression("unsupported compressor \(compressor)")
        }
        guard body.count == Int(size) else { throw .invalidCompression("uncompressed size does not match") }
        var out: [UInt8] = []
        out.reserveCapacity(MessageHeader.size + body.count)
        appendInt32(&out, Int32(MessageHeader.size + body.count))
        appendInt32(&out, h.requestID)
        appendInt32(&out, h.responseTo)
        appendInt32(&out, originalOpCode)
        out += body
        return (out, compressor)
    }

    /// Wraps a complete reply in OP_COMPRESSED with `compressor` (zlib; noop if zlib fails).
    public static func compress(_ message: [UInt8], compressor requested: UInt8) -> [UInt8] {
        let body = message[MessageHeader.size...]
        var compressor = Compressor.noop
        var payload = Array(body)
        if requested == Compressor.zlib, let deflated = Zlib.deflate(body) {
            compressor = Compressor.zlib
            payload = deflated
        }
        var out: [UInt8] = []
        out.reserveCapacity(25 + payload.count)
        appendInt32(&out, 0)
        out += message[4..<12]
        appendInt32(&out, OpCode.compressed.rawValue)
        out += message[12..<16]
        appendInt32(&out, Int32(body.count))
        out.append(compressor)
        out += payload
        patchLength(&out)
        return out
    }

    static func readInt32(_ bytes: [UInt8], _ o: Int) throws(WireError) -> Int32 {
        guard o + 4 <= bytes.count else { throw .truncated }
        return Int32(bytes[o]) | Int32(bytes[o + 1]) << 8 | Int32(bytes[o + 2]) << 16 | Int32(bytes[o + 3]) << 24
    }

    /// The document at `offset`, which must end by `limit`. Validated in place: copying the
    /// rest of the message for each document of a sequence made large messages quadratic.
    static func document(_ bytes: [UInt8], at offset: Int, limit: Int) throws(WireError) -> (Document, Int) {
        let raw = try rawDocument(bytes, at: offset, limit: limit)
        return (raw.document(), raw.byteCount)
    }

    /// The validated view of the document at `offset`, which must end by `limit`.
    static func rawDocument(_ bytes: [UInt8], at offset: Int, limit: Int) throws(WireError) -> RawDocument {
        guard offset + 4 <= limit else { throw .truncated }
        let declared = Int(try readInt32(bytes, offset))
        guard declared >= 5, declared <= limit - offset else { throw .invalidBSON("document length \(declared) at offset \(offset) runs past its section") }
        let raw: RawDocument
        do throws(BSONError) {
            raw = try RawDocument(validating: bytes, at: offset)
        } catch {
            throw .invalidBSON(error.description)
        }
        return raw
    }

    static func parseMessage(_ bytes: [UInt8]) throws(WireError) -> OpMsg {
        var o = MessageHeader.size
        let flags = UInt32(bitPattern: try readInt32(bytes, o))
        o += 4
        // Bits 0-15 are required: any we do not know makes the message unreadable.
        let known: UInt32 = OpMsg.checksumPresentFlag | OpMsg.moreToComeFlag
        if flags & 0xFFFF & ~known != 0 { throw .illegalFlags(flags) }
        var end = bytes.count
        if flags & OpMsg.checksumPresentFlag != 0 {
            guard end - o >= 4 else { throw .truncated }
            end -= 4
            let expected = UInt32(bitPattern: try readInt32(bytes, end))
            guard CRC32C.checksum(bytes[0..<end]) == expected else { throw .checksumMismatch }
        }
        var body: Document?
        var sequences: [(String, [BSON])] = []
        var raws: [String: [RawDocument]] = [:]
        while o < end {
            let kind = bytes[o]
            o += 1
            switch kind {
            case 0:
                guard body == nil else { throw .invalidSection("more than one body section") }
                let (d, n) = try document(bytes, at: o, limit: end)
                body = d
                o += n
            case 1:
                let size = Int(try readInt32(bytes, o))
                guard size >= 5, o + size <= end else { throw .invalidSection("bad document sequence size") }
                let sectionEnd = o + size
                var p = o + 4
                guard let zero = bytes[p..<sectionEnd].firstIndex(of: 0) else { throw .invalidSection("unterminated identifier") }
                let identifier = String(decoding: bytes[p..<zero], as: UTF8.self)
                p = zero + 1
                var docs: [BSON] = []
                var raw: [RawDocument] = []
                while p < sectionEnd {
                    let r = try rawDocument(bytes, at: p, limit: sectionEnd)
                    docs.append(.document(r.document()))
                    raw.append(r)
                    p += r.byteCount
                }
                if sequences.contains(where: { $0.0 == identifier }) { throw .invalidSection("duplicate document sequence \(identifier)") }
                sequences.append((identifier, docs))
                raws[identifier] = raw
                o = sectionEnd
            default:
                throw .invalidSection("unknown section kind \(kind)")
            }
        }
        guard var merged = body else { throw .invalidSection("no body section") }
        for (identifier, docs) in sequences {
            if merged[identifier] != nil { throw .invalidSection("\(identifier) given both in the body and as a document sequence") }
            merged.append(identifier, .array(docs))
        }
        return OpMsg(flags: flags, body: merged, sequences: raws)
    }

    static func parseQuery(_ bytes: [UInt8]) throws(WireError) -> OpQuery {
        var o = MessageHeader.size
        let flags = try readInt32(bytes, o)
        o += 4
        guard let zero = bytes[o...].firstIndex(of: 0) else { throw .truncated }
        let collection = String(decoding: bytes[o..<zero], as: UTF8.self)
        o = zero + 1 + 8
        let (query, _) = try document(bytes, at: o, limit: bytes.count)
        return OpQuery(flags: flags, collection: collection, query: query)
    }

    /// An OP_MSG reply: flags 0 (or moreToCome when streaming), one body section, no checksum.
    /// With `batch`, `body` is a cursor reply whose `cursor.firstBatch` (or `nextBatch`) is an
    /// empty placeholder: the batch's bytes are written there as they are.
    public static func messageReply(requestID: Int32, responseTo: Int32, body: Document, batch: [RawDocument]? = nil,
                                    moreToCome: Bool = false) -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(256 + (batch?.reduce(0) { $0 + $1.byteCount + 8 } ?? 0))
        appendHeader(&out, requestID: requestID, responseTo: responseTo, opCode: .message)
        appendInt32(&out, Int32(bitPattern: moreToCome ? OpMsg.moreToComeFlag : 0))
        out.append(0)
        if let batch {
            appendCursorReply(body, batch: batch, to: &out)
        } else {
            body.appendBSON(to: &out)
        }
        patchLength(&out)
        return out
    }

    /// Encodes `body` like `Document.appendBSON`, except that its `cursor` document's batch
    /// array is `batch`.
    static func appendCursorReply(_ body: Document, batch: [RawDocument], to out: inout [UInt8]) {
        appendDocument(body, to: &out) { key, value, out in
            guard key == "cursor", case .document(let cursor) = value else { return false }
            appendKey(BSONType.document, key, to: &out)
            appendDocument(cursor, to: &out) { key, _, out in
                guard key == "firstBatch" || key == "nextBatch" else { return false }
                appendKey(BSONType.array, key, to: &out)
                let start = out.count
                appendInt32(&out, 0)
                for (i, document) in batch.enumerated() {
                    appendKey(BSONType.document, String(i), to: &out)
                    out.append(contentsOf: document.storage[document.start..<document.start + document.byteCount])
                }
                out.append(0)
                patchLength(&out, at: start)
                return true
            }
            return true
        }
    }

    /// Encodes a document's fields in order; `write` may write a field itself (returning true).
    private static func appendDocument(_ d: Document, to out: inout [UInt8],
                                       write: (String, BSON, inout [UInt8]) -> Bool) {
        let start = out.count
        appendInt32(&out, 0)
        for i in 0..<d.count {
            let (key, value) = d.element(at: i)
            if !write(key, value, &out) { value.appendElement(key: key, to: &out) }
        }
        out.append(0)
        patchLength(&out, at: start)
    }

    private static func appendKey(_ type: BSONType, _ key: String, to out: inout [UInt8]) {
        out.append(type.rawValue)
        out.append(contentsOf: key.utf8)
        out.append(0)
    }

    /// An OP_REPLY answering a legacy OP_QUERY (AwaitCapable set, one document).
    public static func queryReply(requestID: Int32, responseTo: Int32, document: Document, queryFailure: Bool = false) -> [UInt8] {
        var out: [UInt8] = []
        appendHeader(&out, requestID: requestID, responseTo: responseTo, opCode: .reply)
        appendInt32(&out, queryFailure ? 2 | 8 : 8)
        out.append(contentsOf: [UInt8](repeating: 0, count: 8))
        appendInt32(&out, 0)
        appendInt32(&out, 1)
        document.appendBSON(to: &out)
        patchLength(&out)
        return out
    }

    static func appendHeader(_ out: inout [UInt8], requestID: Int32, responseTo: Int32, opCode: OpCode) {
        appendInt32(&out, 0)
        appendInt32(&out, requestID)
        appendInt32(&out, responseTo)
        appendInt32(&out, opCode.rawValue)
    }

    static func appendInt32(_ out: inout [UInt8], _ v: Int32) {
        withUnsafeBytes(of: v.littleEndian) { out.append(contentsOf: $0) }
    }

    /// Writes the length of what runs from `start` to the end of `out` at `start`.
    static func patchLength(_ out: inout [UInt8], at start: Int = 0) {
        let n = Int32(out.count - start).littleEndian
        withUnsafeBytes(of: n) { b in for i in 0..<4 { out[start + i] = b[i] } }
    }
}

/// CRC-32C (Castagnoli), the OP_MSG checksum.
public enum CRC32C {
    static let table: [UInt32] = (0..<256).map { i -> UInt32 in
        var c = UInt32(i)
        for _ in 0..<8 { c = c & 1 != 0 ? (c >> 1) ^ 0x82F6_3B78 : c >> 1 }
        return c
    }

    public static func checksum<C: Collection>(_ bytes: C) -> UInt32 where C.Element == UInt8 {
        var crc: UInt32 = 0xFFFF_FFFF
        for b in bytes { crc = table[Int((crc ^ UInt32(b)) & 0xFF)] ^ (crc >> 8) }
        return crc ^ 0xFFFF_FFFF
    }
}
