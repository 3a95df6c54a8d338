// BSON -> Codable, the inverse of BSONEncoder's mapping.
import Foundation

/// Decodes `Decodable` values from BSON documents.
///
/// Numbers convert between BSON's numeric types when the value fits exactly (an int64 `5`
/// decodes into `Int32`, a double `2.0` into `Int`); anything else is a type mismatch.
///
/// ```swift
/// let user = try BSONDecoder().decode(User.self, from: doc)
/// ```
public struct BSONDecoder: Sendable {
    public init() {}

    public func decode<T: Decodable>(_ type: T.Type, from document: Document) throws -> T {
        try decode(type, fromValue: .document(document))
    }

    /// Decodes from stored bytes: a struct's fields are read from them as it asks for them,
    /// without building the whole document first.
    public func decode<T: Decodable>(_ type: T.Type, from raw: RawDocument) throws -> T {
        try DecoderImpl(raw: raw, codingPath: []).decodeValue(type)
    }

    public func decode<T: Decodable>(_ type: T.Type, fromValue value: BSON) throws -> T {
        try DecoderImpl(value: value, codingPath: []).decodeValue(type)
    }
}

struct DecoderImpl: Decoder {
    private let stored: BSON
    /// A document still in its bytes (the top level of `decode(_:from: RawDocument)`).
    private let raw: RawDocument?
    /// The container's path and this value's key in it, joined only when asked for (an
    /// error, a nested container): most values never need their path.
    private let parentPath: [any CodingKey]
    private let key: (any CodingKey)?
    var codingPath: [any CodingKey] { key.map { parentPath + [$0] } ?? parentPath }
    var userInfo: [CodingUserInfoKey: Any] { [:] }

    init(value: BSON, codingPath: [any CodingKey], key: (any CodingKey)? = nil) {
        stored = value
        raw = nil
        parentPath = codingPath
        self.key = key
    }

    init(raw: RawDocument, codingPath: [any CodingKey]) {
        stored = .null
        self.raw = raw
        parentPath = codingPath
        key = nil
    }

    var value: BSON { raw.map { .document($0.document()) } ?? stored }

    func mismatch(_ expected: String) -> DecodingError {
        .typeMismatch(Any.self, .init(codingPath: codingPath, debugDescription: "expected \(expected), found BSON \(value.type.alias)"))
    }

    func container<Key: CodingKey>(keyedBy type: Key.Type) throws -> KeyedDecodingContainer<Key> {
        if let raw { return KeyedDecodingContainer(KeyedContainer<Key>(fields: .raw(raw), codingPath: codingPath)) }
        guard case .document(let d) = stored else { throw mismatch("a document") }
        return KeyedDecodingContainer(KeyedContainer<Key>(fields: .document(d), codingPath: codingPath))
    }

    func unkeyedContainer() throws -> any UnkeyedDecodingContainer {
        guard case .array(let a) = value else { throw mismatch("an array") }
        return UnkeyedContainer(elements: a, codingPath: codingPath)
    }

    func singleValueContainer() throws -> any SingleValueDecodingContainer { self }

    func decodeValue<T: Decodable>(_ type: T.Type) throws -> T {
        if let native = try decodeNative(type) { return native }
        return try T(from: self)
    }

    /// Types with a direct BSON form (the common ones tested first, by metatype identity:
    /// cheaper than a chain of dynamic casts).
    func decodeNative<T>(_ type: T.Type) throws -> T? {
        let id = ObjectIdentifier(type)
        if id == ObjectIdentifier(String.self) { return try decode(String.self) as? T }
        if id == ObjectIdentifier(Int.self) { return try integer(Int.self) as? T }
        if id == ObjectIdentifier(Double.self) { return try decode(Double.self) as? T }
        if id == ObjectIdentifier(Bool.self) { return try decode(Bool.self) as? T }
        if id == ObjectIdentifier(Int64.self) { return try integer(Int64.self) as? T }
        if id == ObjectIdentifier(Int32.self) { return try integer(Int32.self) as? T }
        if id == ObjectIdentifier(Date.self) {
            guard case .datetime(let ms) = value else { throw mismatch("a date") }
            return Date(timeIntervalSince1970: Double(ms) / 1000) as? T
        }
        switch type {
        case is BSON.Type: return value as? T
        case is Document.Type:
            guard case .document(let d) = value else { throw mismatch("a document") }
            return d as? T
        case is ObjectID.Type:
            guard case .objectID(let o) = value else { throw mismatch("an ObjectId") }
            return o as? T
        case is Decimal128.Type:
            guard case .decimal128(let d) = value else { throw mismatch("a decimal") }
            return d as? T
        case is Timestamp.Type:
            guard case .timestamp(let t) = value else { throw mismatch("a timestamp") }
            return t as? T
        case is Binary.Type:
            guard case .binary(let b) = value else { throw mismatch("binary data") }
            return b as? T
        case is BSONRegex.Type:
            guard case .regex(let r) = value else { throw mismatch("a regular expression") }
            return r as? T
        case is Data.Type:
            guard case .binary(let b) = value else { throw mismatch("binary data") }
            return Data(b.data) as? T
        case is Decimal.Type:
            switch value {
            case .decimal128(let d):
                guard let v = Decimal(string: d.description, locale: Locale(identifier: "en_US_POSIX")) else { throw mismatch("a decimal Foundation can hold") }
                return v as? T
            case .int32(let i): return Decimal(i) as? T
            case .int64(let i): return Decimal(i) as? T
            case .double(let d): return Decimal(d) as? T
            default: throw mismatch("a decimal")
            }
        case is UUID.Type:
            guard case .binary(let b) = value, b.subtype == Binary.Subtype.uuid || b.subtype == Binary.Subtype.uuidOld,
                  b.data.count == 16 else { throw mismatch("a UUID (binary subtype 4)") }
            let d = b.data
            return UUID(uuid: (d[0], d[1], d[2], d[3], d[4], d[5], d[6], d[7], d[8], d[9], d[10], d[11], d[12], d[13], d[14], d[15])) as? T
        default: return nil
        }
    }

    func integer<I: FixedWidthInteger>(_ type: I.Type) throws -> I {
        let result: I?
        switch value {
        case .int32(let v): result = I(exactly: v)
        case .int64(let v): result = I(exactly: v)
        case .double(let d): result = d.rounded(.towardZero) == d ? I(exactly: d) : nil
        case .decimal128(let d): result = d.int64Value(rounding: .exact).flatMap { I(exactly: $0) }
        default: throw mismatch("an integer")
        }
        guard let r = result else {
            throw DecodingError.dataCorrupted(.init(codingPath: codingPath, debugDescription: "\(value) does not fit in \(I.self)"))
        }
        return r
    }

    struct KeyedContainer<Key: CodingKey>: KeyedDecodingContainerProtocol {
        /// The fields: a document, or a document's bytes read field by field.
        enum Fields {
            case document(Document)
            case raw(RawDocument)
        }
        let fields: Fields
        var codingPath: [any CodingKey]
        var allKeys: [Key] {
            switch fields {
            case .document(let d): return d.fieldNames.compactMap { Key(stringValue: $0) }
            case .raw(let r): return r.map(\.key).compactMap { Key(stringValue: $0) }
            }
        }

        func field(_ key: Key) -> BSON? {
            switch fields {
            case .document(let d): return d[key.stringValue]
            case .raw(let r): return r.lookup(key.stringValue)?.bson
            }
        }

        func contains(_ key: Key) -> Bool { field(key) != nil }

        func child(_ key: Key) throws -> DecoderImpl {
            guard let v = field(key) else {
                throw DecodingError.keyNotFound(key, .init(codingPath: codingPath, debugDescription: "no field \"\(key.stringValue)\""))
            }
            return DecoderImpl(value: v, codingPath: codingPath, key: key)
        }

        func decodeNil(forKey key: Key) throws -> Bool {
            guard let v = field(key) else { return true }
            return v == .null || v == .undefined
        }
        func decode<T: Decodable>(_ type: T.Type, forKey key: Key) throws -> T { try child(key).decodeValue(type) }
        // The common scalars without a child decoder (whose coding path is an allocation).
        func decode(_ type: String.Type, forKey key: Key) throws -> String {
            if case .string(let s)? = field(key) { return s }
            return try child(key).decode(type)
        }
        func decode(_ type: Double.Type, forKey key: Key) throws -> Double {
            if case .double(let d)? = field(key) { return d }
            return try child(key).decode(type)
        }
        func decode(_ type: Bool.Type, forKey key: Key) throws -> Bool {
            if case .bool(let b)? = field(key) { return b }
            return try child(key).decode(type)
        }
        func decode(_ type: Int.Type, forKey key: Key) throws -> Int {
            switch field(key) {
            case .int64(let v)?: if let i = Int(exactly: v) { return i }; return try child(key).decode(type)
            case .int32(let v)?: return Int(v)
            default: return try child(key).decode(type)
            }
        }
        func decode(_ type: Int64.Type, forKey key: Key) throws -> Int64 {
            switch field(key) {
            case .int64(let v)?: return v
            case .int32(let v)?: return Int64(v)
            default: return try child(key).decode(type)
            }
        }
        func nestedContainer<NestedKey: CodingKey>(keyedBy type: NestedKey.Type, forKey key: Key) throws
            -> KeyedDecodingContainer<NestedKey> { try child(key).container(keyedBy: type) }
        func nestedUnkeyedContainer(forKey key: Key) throws -> any UnkeyedDecodingContainer {
            try child(key).unkeyedContainer()
        }
        func superDecoder() throws -> any Decoder { try child(Key(stringValue: "super")!) }
        func superDecoder(forKey key: Key) throws -> any Decoder { try child(key) }
    }

    struct UnkeyedContainer: UnkeyedDecodingContainer {
        let elements: [BSON]
        var codingPath: [any CodingKey]
        var currentIndex = 0
        var count: Int? { elements.count }
        var isAtEnd: Bool { currentIndex >= elements.count }

        init(elements: [BSON], codingPath: [any CodingKey]) {
            self.elements = elements
            self.codingPath = codingPath
        }

        mutating func next() throws -> DecoderImpl {
            guard !isAtEnd else {
                throw DecodingError.valueNotFound(Any.self, .init(codingPath: codingPath, debugDescription: "array exhausted"))
            }
            defer { currentIndex += 1 }
            return DecoderImpl(value: elements[currentIndex], codingPath: codingPath, key: IndexKey(currentIndex))
        }

        mutating func decodeNil() throws -> Bool {
            guard !isAtEnd else { return false }
            if elements[currentIndex] == .null { currentIndex += 1; return true }
            return false
        }
        mutating func decode<T: Decodable>(_ type: T.Type) throws -> T { try next().decodeValue(type) }
        mutating func nestedContainer<NestedKey: CodingKey>(keyedBy type: NestedKey.Type) throws -> KeyedDecodingContainer<NestedKey> {
            try next().container(keyedBy: type)
        }
        mutating func nestedUnkeyedContainer() throws -> any UnkeyedDecodingContainer { try next().unkeyedContainer() }
        mutating func superDecoder() throws -> any Decoder { try next() }
    }
}

extension DecoderImpl: SingleValueDecodingContainer {
    func decodeNil() -> Bool { value == .null || value == .undefined }
    func decode(_ type: Bool.Type) throws -> Bool {
        guard case .bool(let b) = value else { throw mismatch("a boolean") }
        return b
    }
    func decode(_ type: String.Type) throws -> String {
        switch value {
        case .string(let s), .symbol(let s): return s
        default: throw mismatch("a string")
        }
    }
    func decode(_ type: Double.Type) throws -> Double {
        guard let d = value.asDouble else { throw mismatch("a number") }
        return d
    }
    func decode(_ type: Float.Type) throws -> Float { Float(try decode(Double.self)) }
    func decode(_ type: Int.Type) throws -> Int { try integer(Int.self) }
    func decode(_ type: Int8.Type) throws -> Int8 { try integer(Int8.self) }
    func decode(_ type: Int16.Type) throws -> Int16 { try integer(Int16.self) }
    func decode(_ type: Int32.Type) throws -> Int32 { try integer(Int32.self) }
    func decode(_ type: Int64.Type) throws -> Int64 { try integer(Int64.self) }
    func decode(_ type: UInt.Type) throws -> UInt { try integer(UInt.self) }
    func decode(_ type: UInt8.Type) throws -> UInt8 { try integer(UInt8.self) }
    func decode(_ type: UInt16.Type) throws -> UInt16 { try integer(UInt16.self) }
    func decode(_ type: UInt32.Type) throws -> UInt32 { try integer(UInt32.self) }
    func decode(_ type: UInt64.Type) throws -> UInt64 { try integer(UInt64.self) }
    func decode<T: Decodable>(_ type: T.Type) throws -> T { try decodeValue(type) }
}
