/// A BSON value in place inside validated bytes.
public struct RawValue: Sendable {
    public let type: BSONType
    @usableFromInline let storage: [UInt8]
    /// Offset of the value's first byte in `storage`.
    @usableFromInline let offset: Int
    /// Length of the value in bytes.
    @usableFromInline let length: Int

    @inlinable
    init(type: BSONType, storage: [UInt8], offset: Int, length: Int) {
        self.type = type
        self.storage = storage
        self.offset = offset
        self.length = length
    }

    /// Calls `body` with the value's bytes.
    @inlinable
    public func withBytes<R>(_ body: (UnsafeBufferPointer<UInt8>) throws -> R) rethrows -> R {
        try storage.withUnsafeBufferPointer { try body(UnsafeBufferPointer(rebasing: $0[offset..<offset + length])) }
    }

    public var doubleValue: Double? {
        guard type == .double else { return nil }
        return storage.withUnsafeBufferPointer { Double(bitPattern: $0.readUInt64LE(at: offset)) }
    }

    public var int32Value: Int32? {
        guard type == .int32 else { return nil }
        return storage.withUnsafeBufferPointer { $0.readInt32LE(at: offset) }
    }

    public var int64Value: Int64? {
        guard type == .int64 else { return nil }
        return storage.withUnsafeBufferPointer { $0.readInt64LE(at: offset) }
    }

    public var boolValue: Bool? {
        guard type == .bool else { return nil }
        return storage[offset] != 0
    }

    /// For string, symbol and JavaScript values: the text (allocates).
    public var stringValue: String? {
        switch type {
        case .string, .symbol, .javascript:
            return withStringBytes { String(decoding: $0, as: UTF8.self) }
        default: return nil
        }
    }

    /// Calls `body` with the UTF-8 bytes of a string-like value (without its terminator).
    @inlinable
    public func withStringBytes<R>(_ body: (UnsafeBufferPointer<UInt8>) throws -> R) rethrows -> R {
        try storage.withUnsafeBufferPointer { buf in
            let n = Int(buf.readInt32LE(at: offset)) - 1
            return try body(UnsafeBufferPointer(rebasing: buf[offset + 4..<offset + 4 + n]))
        }
    }

    /// For documents and arrays: a view over the nested document (arrays are documents
    /// whose keys are "0", "1", ...).
    public var documentValue: RawDocument? {
        guard type == .document || type == .array else { return nil }
        return RawDocument(storage: storage, start: offset, byteCount: length)
    }

    /// Decodes the value into an owned `BSON`.
    public var bson: BSON {
        storage.withUnsafeBufferPointer { BSONDecoding.decodeValue(type, $0, offset) }
    }
}

extension RawDocument {
    /// The value of the first top-level field named `key`, read in place.
    /// - Complexity: O(n) in the bytes before the field.
    @inlinable
    public func lookup(_ key: String) -> RawValue? {
        var key = key
        return key.withUTF8 { lookup(keyBytes: $0) }
    }

    /// The value of the first top-level field whose name is `keyBytes`.
    @inlinable
    public func lookup(keyBytes k: UnsafeBufferPointer<UInt8>) -> RawValue? {
        storage.withUnsafeBufferPointer { buf -> RawValue? in
            guard let (typeByte, valueStart) = rawLookup(buf.baseAddress!, start: start, end: start + byteCount - 1, key: k) else {
                return nil
            }
            let type = BSONType(rawValue: typeByte)!
            return RawValue(type: type, storage: storage, offset: valueStart, length: rawValueLength(type, buf, valueStart))
        }
    }

    /// The value at a dotted path (`a.b.0.c`): each component names a field of a document
    /// or, for arrays, a position. No implicit traversal of arrays: that is the query
    /// language's business.
    public func lookup(path: String) -> RawValue? {
        var current: RawDocument = self
        var components = path.split(separator: ".", omittingEmptySubsequences: false)[...]
        while let first = components.popFirst() {
            var name = String(first)
            guard let value = name.withUTF8({ current.lookup(keyBytes: $0) }) else { return nil }
            if components.isEmpty { return value }
            guard let next = value.documentValue else { return nil }
            current = next
        }
        return nil
    }

    /// Decodes into an owned `Document`.
    public func document() -> Document {
        storage.withUnsafeBufferPointer { BSONDecoding.decodeDocument($0, start) }
    }

    /// The value of a top-level field, decoded.
    public subscript(key: String) -> BSON? { lookup(key)?.bson }

    /// Decodes only the named top-level fields (in document order), skipping the rest
    /// without decoding them. One pass over the bytes: keys are compared in place with the
    /// wanted names (no element views, no key strings), and a match takes the wanted name as
    /// its key. This runs once per document an aggregation reads (its fields' dependencies) or
    /// sorts.
    public func document(onlyFields fields: [String]) -> Document {
        var out = Document()
        out.reserveCapacity(fields.count)
        forEachElementInPlace { type, key, offset, length in
            for field in fields where field.utf8.count == key.count && field.utf8.elementsEqual(key) {
                out.append(field, RawValue(type: type, storage: storage, offset: offset, length: length).bson)
                break
            }
        }
        return out
    }
}

extension Document {
    /// Decodes untrusted BSON bytes (validating them first).
    public init(bsonBytes bytes: [UInt8]) throws(BSONError) {
        self = try RawDocument(validating: bytes).document()
    }

    /// A raw view of the document's encoding.
    public var raw: RawDocument { RawDocument(trusted: bsonBytes()) }
}

/// Decoding of validated bytes into owned values.
@usableFromInline
enum BSONDecoding {
    @usableFromInline
    static func decodeDocument(_ buf: UnsafeBufferPointer<UInt8>, _ start: Int) -> Document {
        var doc = Document()
        let length = Int(buf.readInt32LE(at: start))
        let end = start + length - 1
        var p = start + 4
        while p < end {
            let type = BSONType(rawValue: buf[p])!
            let keyStart = p + 1
            var keyEnd = keyStart
            while buf[keyEnd] != 0 { keyEnd += 1 }
            let key = String(decoding: UnsafeBufferPointer(rebasing: buf[keyStart..<keyEnd]), as: UTF8.self)
            let valueStart = keyEnd + 1
            doc.append(key, decodeValue(type, buf, valueStart))
            p = valueStart + rawValueLength(type, buf, valueStart)
        }
        return doc
    }

    static func decodeArray(_ buf: UnsafeBufferPointer<UInt8>, _ start: Int) -> [BSON] {
        var out = [BSON]()
        let length = Int(buf.readInt32LE(at: start))
        let end = start + length - 1
        var p = start + 4
        while p < end {
            let type = BSONType(rawValue: buf[p])!
            var keyEnd = p + 1
            while buf[keyEnd] != 0 { keyEnd += 1 }
            let valueStart = keyEnd + 1
            out.append(decodeValue(type, buf, valueStart))
            p = valueStart + rawValueLength(type, buf, valueStart)
        }
        return out
    }

    static func string(_ buf: UnsafeBufferPointer<UInt8>, _ offset: Int) -> String {
        let n = Int(buf.readInt32LE(at: offset)) - 1
        return String(decoding: UnsafeBufferPointer(rebasing: buf[offset + 4..<offset + 4 + n]), as: UTF8.self)
    }

    static func cString(_ buf: UnsafeBufferPointer<UInt8>, _ offset: Int) -> (String, Int) {
        var e = offset
        while buf[e] != 0 { e += 1 }
        return (String(decoding: UnsafeBufferPointer(rebasing: buf[offset..<e]), as: UTF8.self), e + 1)
    }

    static func objectID(_ buf: UnsafeBufferPointer<UInt8>, _ o: Int) -> ObjectID {
        ObjectID(bytes: (buf[o], buf[o + 1], buf[o + 2], buf[o + 3], buf[o + 4], buf[o + 5],
                         buf[o + 6], buf[o + 7], buf[o + 8], buf[o + 9], buf[o + 10], buf[o + 11]))
    }

    @usableFromInline
    static func decodeValue(_ type: BSONType, _ buf: UnsafeBufferPointer<UInt8>, _ o: Int) -> BSON {
        switch type {
        case .double: return .double(Double(bitPattern: buf.readUInt64LE(at: o)))
        case .string: return .string(string(buf, o))
        case .document: return .document(decodeDocument(buf, o))
        case .array: return .array(decodeArray(buf, o))
        case .binary:
            var n = Int(buf.readInt32LE(at: o))
            let subtype = buf[o + 4]
            var dataStart = o + 5
            if subtype == Binary.Subtype.binaryOld {
                n = Int(buf.readInt32LE(at: o + 5))
                dataStart += 4
            }
            return .binary(Binary(subtype: subtype, data: Array(buf[dataStart..<dataStart + n])))
        case .undefined: return .undefined
        case .objectID: return .objectID(objectID(buf, o))
        case .bool: return .bool(buf[o] != 0)
        case .datetime: return .datetime(buf.readInt64LE(at: o))
        case .null: return .null
        case .regex:
            let (pattern, next) = cString(buf, o)
            let (options, _) = cString(buf, next)
            return .regex(BSONRegex(pattern: pattern, options: options))
        case .dbPointer:
            let ns = string(buf, o)
            let n = Int(buf.readInt32LE(at: o))
            return .dbPointer(namespace: ns, id: objectID(buf, o + 4 + n))
        case .javascript: return .javascript(string(buf, o))
        case .symbol: return .symbol(string(buf, o))
        case .javascriptWithScope:
            let code = string(buf, o + 4)
            let codeLength = Int(buf.readInt32LE(at: o + 4))
            return .javascriptWithScope(code: code, scope: decodeDocument(buf, o + 8 + codeLength))
        case .int32: return .int32(buf.readInt32LE(at: o))
        case .timestamp: return .timestamp(Timestamp(rawValue: buf.readUInt64LE(at: o)))
        case .int64: return .int64(buf.readInt64LE(at: o))
        case .decimal128: return .decimal128(Decimal128(low: buf.readUInt64LE(at: o), high: buf.readUInt64LE(at: o + 8)))
        case .minKey: return .minKey
        case .maxKey: return .maxKey
        }
    }
}
