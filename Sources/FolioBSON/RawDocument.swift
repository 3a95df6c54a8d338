/// A read-only view over the bytes of a BSON document that has been validated once.
///
/// Lookups and iteration read the bytes in place: no element is decoded until asked for,
/// and iterating allocates nothing per element. Sub-documents and arrays are views over the
/// same storage.
public struct RawDocument: Sendable {
    /// The buffer holding the document (possibly inside a larger message).
    public let storage: [UInt8]
    /// Offset of the document's length prefix in `storage`.
    public let start: Int
    /// The document's length in bytes, as its prefix states.
    public let byteCount: Int

    /// Validates `bytes` as exactly one BSON document and wraps them.
    /// - Throws: `BSONError` with the offset of the first problem.
    public init(validating bytes: [UInt8], maximumDepth: Int = Limits.maximumValidationDepth) throws(BSONError) {
        let length = try BSONValidator.validateTopLevel(bytes, maximumDepth: maximumDepth)
        self.storage = bytes
        self.start = 0
        self.byteCount = length
    }

    /// Validates the document that starts at `offset` inside a larger buffer; the buffer may
    /// continue after it.
    public init(validating bytes: [UInt8], at offset: Int, maximumDepth: Int = Limits.maximumValidationDepth) throws(BSONError) {
        let length = try BSONValidator.validateEmbedded(bytes, at: offset, maximumDepth: maximumDepth)
        self.storage = bytes
        self.start = offset
        self.byteCount = length
    }

    /// Wraps bytes already known to be valid (produced by the encoder, or validated before).
    public init(trusted bytes: [UInt8]) {
        self.storage = bytes
        self.start = 0
        self.byteCount = bytes.count
    }

    /// Wraps a document known to be valid that starts at `offset` inside a larger buffer
    /// (its length prefix says where it ends), without copying it out.
    public init(trusted bytes: [UInt8], at offset: Int) {
        let n = Int(UInt32(bytes[offset]) | UInt32(bytes[offset + 1]) << 8 | UInt32(bytes[offset + 2]) << 16 | UInt32(bytes[offset + 3]) << 24)
        self.init(storage: bytes, start: offset, byteCount: n)
    }

    @usableFromInline
    init(storage: [UInt8], start: Int, byteCount: Int) {
        self.storage = storage
        self.start = start
        self.byteCount = byteCount
    }

    /// The document's bytes (a copy when the view sits inside a larger buffer).
    public var bytes: [UInt8] {
        if start == 0 && byteCount == storage.count { return storage }
        return Array(storage[start..<start + byteCount])
    }

    /// Whether the document has no fields.
    public var isEmpty: Bool { byteCount <= 5 }
}

/// One element of a raw document or array: its type, key and value bytes, in place.
public struct RawElement: Sendable {
    public let type: BSONType
    @usableFromInline let storage: [UInt8]
    @usableFromInline let keyStart: Int
    @usableFromInline let keyLength: Int
    /// The value, in place.
    public let value: RawValue

    @usableFromInline
    init(type: BSONType, storage: [UInt8], keyStart: Int, keyLength: Int, value: RawValue) {
        self.type = type
        self.storage = storage
        self.keyStart = keyStart
        self.keyLength = keyLength
        self.value = value
    }

    /// The field name (allocates a String).
    public var key: String {
        storage.withUnsafeBufferPointer { buf in
            String(decoding: UnsafeBufferPointer(rebasing: buf[keyStart..<keyStart + keyLength]), as: UTF8.self)
        }
    }

    /// Compares the field name with `name` byte-wise, without allocating.
    @inlinable
    public func keyEquals(_ name: String) -> Bool {
        var name = name
        return name.withUTF8 { n in
            guard n.count == keyLength else { return false }
            return storage.withUnsafeBufferPointer { buf in
                bytesEqual(buf.baseAddress! + keyStart, n.baseAddress, n.count)
            }
        }
    }

    /// Calls `body` with the key's bytes, without allocating.
    @inlinable
    public func withKeyBytes<R>(_ body: (UnsafeBufferPointer<UInt8>) throws -> R) rethrows -> R {
        try storage.withUnsafeBufferPointer { buf in
            try body(UnsafeBufferPointer(rebasing: buf[keyStart..<keyStart + keyLength]))
        }
    }
}

extension RawDocument: Sequence {
    /// Iterates the elements in order without allocating per element.
    public struct Iterator: IteratorProtocol {
        @usableFromInline let storage: [UInt8]
        @usableFromInline var position: Int
        @usableFromInline let end: Int

        @inlinable
        public mutating func next() -> RawElement? {
            guard position < end else { return nil }
            let element: RawElement? = storage.withUnsafeBufferPointer { buf in
                let typeByte = buf[position]
                if typeByte == 0 { return nil }
                let type = BSONType(rawValue: typeByte)!
                let keyStart = position + 1
                var keyEnd = keyStart
                while buf[keyEnd] != 0 { keyEnd += 1 }
                let valueStart = keyEnd + 1
                let length = rawValueLength(type, buf, valueStart)
                position = valueStart + length
                return RawElement(type: type, storage: storage, keyStart: keyStart, keyLength: keyEnd - keyStart,
                                  value: RawValue(type: type, storage: storage, offset: valueStart, length: length))
            }
            if element == nil { position = end }
            return element
        }
    }

    public func makeIterator() -> Iterator {
        Iterator(storage: storage, position: start + 4, end: start + byteCount - 1)
    }

    /// Number of fields (a full scan).
    public var count: Int {
        var n = 0
        forEachElement { _, _, _ in n += 1 }
        return n
    }

    /// Visits every element with its key bytes and value, never allocating.
    /// Return `false` from `body` to stop.
    @inlinable
    public func forEachElement(_ body: (BSONType, UnsafeBufferPointer<UInt8>, RawValue) -> Void) {
        forEachElementInPlace { type, key, offset, length in
            body(type, key, RawValue(type: type, storage: storage, offset: offset, length: length))
        }
    }

    /// Visits every element with its type, key bytes, and its value's offset in `storage` and
    /// length, without even a value view (which would retain the bytes once per element).
    @inlinable
    public func forEachElementInPlace(_ body: (BSONType, UnsafeBufferPointer<UInt8>, Int, Int) -> Void) {
        storage.withUnsafeBufferPointer { buf in
            var p = start + 4
            let end = start + byteCount - 1
            while p < end {
                let type = BSONType(rawValue: buf[p])!
                let keyStart = p + 1
                var keyEnd = keyStart
                while buf[keyEnd] != 0 { keyEnd += 1 }
                let valueStart = keyEnd + 1
                let length = rawValueLength(type, buf, valueStart)
                body(type, UnsafeBufferPointer(rebasing: buf[keyStart..<keyEnd]), valueStart, length)
                p = valueStart + length
            }
        }
    }
}

/// Length in bytes of a value whose type byte is `typeByte` (validated) at `offset`.
@inlinable @inline(__always)
public func rawValueLength(typeByte: UInt8, _ base: UnsafePointer<UInt8>, _ offset: Int) -> Int {
    switch typeByte {
    case 0x01, 0x09, 0x11, 0x12: return 8
    case 0x10: return 4
    case 0x07: return 12
    case 0x08: return 1
    case 0x13: return 16
    case 0x06, 0x0A, 0xFF, 0x7F: return 0
    case 0x02, 0x0D, 0x0E:
        return 4 + Int(Int32(littleEndian: UnsafeRawPointer(base + offset).loadUnaligned(as: Int32.self)))
    case 0x03, 0x04, 0x0F:
        return Int(Int32(littleEndian: UnsafeRawPointer(base + offset).loadUnaligned(as: Int32.self)))
    case 0x05:
        return 5 + Int(Int32(littleEndian: UnsafeRawPointer(base + offset).loadUnaligned(as: Int32.self)))
    case 0x0C:
        return 16 + Int(Int32(littleEndian: UnsafeRawPointer(base + offset).loadUnaligned(as: Int32.self)))
    default:
        // Regex: two cstrings.
        var p = offset
        while base[p] != 0 { p += 1 }
        p += 1
        while base[p] != 0 { p += 1 }
        return p + 1 - offset
    }
}

/// Length in bytes of a value of `type` starting at `offset` in a validated buffer.
@inlinable @inline(__always)
func rawValueLength(_ type: BSONType, _ buf: UnsafeBufferPointer<UInt8>, _ offset: Int) -> Int {
    switch type {
    case .double, .datetime, .timestamp, .int64: return 8
    case .string, .javascript, .symbol: return 4 + Int(buf.readInt32LE(at: offset))
    case .document, .array, .javascriptWithScope: return Int(buf.readInt32LE(at: offset))
    case .binary: return 5 + Int(buf.readInt32LE(at: offset))
    case .undefined, .null, .minKey, .maxKey: return 0
    case .objectID: return 12
    case .bool: return 1
    case .regex:
        var p = offset
        while buf[p] != 0 { p += 1 }
        p += 1
        while buf[p] != 0 { p += 1 }
        return p + 1 - offset
    case .dbPointer: return 4 + Int(buf.readInt32LE(at: offset)) + 12
    case .int32: return 4
    case .decimal128: return 16
    }
}

/// Finds a top-level key in the validated document at `start` (terminator at `end`):
/// the type byte and the offset of the value. Tests the first key byte before comparing.
@inlinable @inline(__always)
public func rawLookup(_ base: UnsafePointer<UInt8>, start: Int, end: Int, key k: UnsafeBufferPointer<UInt8>) -> (UInt8, Int)? {
    let kn = k.count
    let first: UInt8 = kn > 0 ? k[0] : 0
    var p = start + 4
    while p < end {
        let typeByte = base[p]
        var q = p + 1
        if base[q] == first {
            var i = 0
            while i < kn && base[q + i] == k[i] { i += 1 }
            if i == kn && base[q + kn] == 0 { return (typeByte, q + kn + 1) }
            q += i
        }
        while base[q] != 0 { q += 1 }
        p = q + 1 + rawValueLength(typeByte: typeByte, base, q + 1)
    }
    return nil
}

/// The value of a top-level field of a validated document held in borrowed bytes, decoded
/// straight from them (nil when the field is absent).
public func rawTopLevelValue(_ document: UnsafeBufferPointer<UInt8>, key: UnsafeBufferPointer<UInt8>) -> BSON? {
    guard let base = document.baseAddress, document.count >= 5,
          let (typeByte, offset) = rawLookup(base, start: 0, end: document.count - 1, key: key),
          let type = BSONType(rawValue: typeByte) else { return nil }
    return BSONDecoding.decodeValue(type, document, offset)
}

extension RawDocument {
    /// Whether encoding the decoded document gives back exactly these bytes, so a writer may
    /// keep them as they are instead of encoding again: every array numbers its elements
    /// 0, 1, 2, … and no value is of a kind the encoder may spell differently (regular
    /// expressions, old binary, DBPointer, code with scope, symbol, undefined). A walk over
    /// the bytes that allocates nothing.
    public var encodesAsItself: Bool {
        storage.withUnsafeBufferPointer { RawDocument.encodesAsItself($0, start, isArray: false) }
    }

    static func encodesAsItself(_ buf: UnsafeBufferPointer<UInt8>, _ start: Int, isArray: Bool) -> Bool {
        let end = start + Int(buf.readInt32LE(at: start)) - 1
        var p = start + 4
        var position = 0
        while p < end {
            guard let type = BSONType(rawValue: buf[p]) else { return false }
            let keyStart = p + 1
            var keyEnd = keyStart
            while buf[keyEnd] != 0 { keyEnd += 1 }
            if isArray && !isDecimal(position, buf, keyStart, keyEnd) { return false }
            let valueStart = keyEnd + 1
            switch type {
            case .regex, .dbPointer, .javascriptWithScope, .symbol, .undefined:
                return false
            case .binary where buf[valueStart + 4] == 0x02:
                return false
            case .document, .array:
                guard encodesAsItself(buf, valueStart, isArray: type == .array) else { return false }
            default:
                break
            }
            p = valueStart + rawValueLength(type, buf, valueStart)
            position += 1
        }
        return true
    }

    /// Whether the key bytes `buf[from..<to]` spell `n` in decimal, as an encoder writes it.
    static func isDecimal(_ n: Int, _ buf: UnsafeBufferPointer<UInt8>, _ from: Int, _ to: Int) -> Bool {
        var rest = n
        var q = to
        repeat {
            q -= 1
            guard q >= from, buf[q] == UInt8(ascii: "0") + UInt8(rest % 10) else { return false }
            rest /= 10
        } while rest > 0
        return q == from
    }
}
