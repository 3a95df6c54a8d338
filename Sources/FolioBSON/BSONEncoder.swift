// Codable -> BSON. Foundation is imported here only for Date, Data, UUID and Decimal, which
// Codable users expect to map to BSON dates, binaries and decimals.
import Foundation

/// Encodes `Encodable` values into BSON documents.
///
/// Mapping: `Date` → date (milliseconds), `Data` → binary subtype 0, `UUID` → binary
/// subtype 4, Foundation's `Decimal` → decimal128 (when its digits fit 34), `ObjectID`/`Decimal128`/`Timestamp`/`Binary`/`BSONRegex`/`Document`/`BSON` as
/// themselves, `Int` → int32 when it fits and int64 otherwise, `Int64` → int64, `Float` and
/// `Double` → double, `nil` optionals are omitted from keyed containers.
///
/// ```swift
/// struct User: Codable { var _id: ObjectID; var name: String }
/// let doc = try BSONEncoder().encode(User(_id: ObjectID(), name: "ada"))
/// ```
public struct BSONEncoder: Sendable {
    public init() {}

    /// Encodes a value whose encoding is a keyed container (a struct or class) as a document.
    /// - Throws: `BSONError` of kind `.codable` when the value is not document-shaped.
    public func encode<T: Encodable>(_ value: T) throws -> Document {
        guard case .document(let d) = try encodeValue(value) else {
            throw BSONError(.codable("top-level value of \(T.self) is not a document"))
        }
        return d
    }

    /// Encodes any value into a BSON value.
    public func encodeValue<T: Encodable>(_ value: T) throws -> BSON {
        if let native = try nativeBSON(value) { return native }
        let encoder = EncoderImpl(codingPath: [])
        try value.encode(to: encoder)
        guard let node = encoder.node else { return .document(Document()) }
        return node.finish()
    }
}

/// Values with a direct BSON form, bypassing their `Encodable` implementation.
func nativeBSON(_ value: Any) throws -> BSON? {
    switch value {
    case let v as BSON: return v
    case let v as Document: return .document(v)
    case let v as ObjectID: return .objectID(v)
    case let v as Decimal128: return .decimal128(v)
    case let v as Timestamp: return .timestamp(v)
    case let v as Binary: return .binary(v)
    case let v as BSONRegex: return .regex(v)
    case let v as Date:
        // To the microsecond first: 1_700_000_000.123 s is 1_700_000_000_122.9998 ms in
        // binary floating point, and must still store as ...123 ms. Then down to the
        // millisecond, as the drivers truncate.
        return .datetime(Int64(((v.timeIntervalSince1970 * 1_000_000).rounded() / 1000).rounded(.down)))
    case let v as Data: return .binary(Binary(subtype: Binary.Subtype.generic, data: [UInt8](v)))
    case let v as UUID: return .binary(Binary(subtype: Binary.Subtype.uuid, data: withUnsafeBytes(of: v.uuid) { Array($0) }))
    case let v as Decimal:
        guard let d = Decimal128(v.description) else {
            throw BSONError(.codable("Decimal \(v) does not fit a decimal128 (34 significant digits)"))
        }
        return .decimal128(d)
    default: return nil
    }
}

/// A node under construction; containers are reference types so nested encoders can fill them.
final class EncodingNode {
    enum Kind {
        case value(BSON)
        case document([(String, EncodingNode)])
        case array([EncodingNode])
    }
    var kind: Kind

    init(_ kind: Kind) { self.kind = kind }

    func finish() -> BSON {
        switch kind {
        case .value(let v): return v
        case .document(let fields):
            var d = Document()
            d.reserveCapacity(fields.count)
            for (k, n) in fields { d.append(k, n.finish()) }
            return .document(d)
        case .array(let elements): return .array(elements.map { $0.finish() })
        }
    }
}

final class EncoderImpl: Encoder {
    var codingPath: [any CodingKey]
    var userInfo: [CodingUserInfoKey: Any] { [:] }
    var node: EncodingNode?

    init(codingPath: [any CodingKey]) { self.codingPath = codingPath }

    func container<Key: CodingKey>(keyedBy type: Key.Type) -> KeyedEncodingContainer<Key> {
        if node == nil { node = EncodingNode(.document([])) }
        return KeyedEncodingContainer(KeyedContainer<Key>(node: node!, codingPath: codingPath))
    }

    func unkeyedContainer() -> any UnkeyedEncodingContainer {
        if node == nil { node = EncodingNode(.array([])) }
        return UnkeyedContainer(node: node!, codingPath: codingPath)
    }

    func singleValueContainer() -> any SingleValueEncodingContainer {
        SingleContainer(encoder: self)
    }

    /// Encodes a child value into a fresh node.
    static func encodeChild<T: Encodable>(_ value: T, codingPath: [any CodingKey]) throws -> EncodingNode {
        if let native = try nativeBSON(value) { return EncodingNode(.value(native)) }
        let encoder = EncoderImpl(codingPath: codingPath)
        try value.encode(to: encoder)
        return encoder.node ?? EncodingNode(.document([]))
    }

    struct KeyedContainer<Key: CodingKey>: KeyedEncodingContainerProtocol {
        let node: EncodingNode
        var codingPath: [any CodingKey]

        func set(_ key: Key, _ child: EncodingNode) {
            guard case .document(var fields) = node.kind else { return }
            if let i = fields.firstIndex(where: { $0.0 == key.stringValue }) { fields[i].1 = child } else {
                fields.append((key.stringValue, child))
            }
            node.kind = .document(fields)
        }

        mutating func encodeNil(forKey key: Key) throws { set(key, EncodingNode(.value(.null))) }
        mutating func encode<T: Encodable>(_ value: T, forKey key: Key) throws {
            set(key, try EncoderImpl.encodeChild(value, codingPath: codingPath + [key]))
        }
        mutating func nestedContainer<NestedKey: CodingKey>(keyedBy keyType: NestedKey.Type, forKey key: Key)
            -> KeyedEncodingContainer<NestedKey> {
            let child = EncodingNode(.document([]))
            set(key, child)
            return KeyedEncodingContainer(KeyedContainer<NestedKey>(node: child, codingPath: codingPath + [key]))
        }
        mutating func nestedUnkeyedContainer(forKey key: Key) -> any UnkeyedEncodingContainer {
            let child = EncodingNode(.array([]))
            set(key, child)
            return UnkeyedContainer(node: child, codingPath: codingPath + [key])
        }
        mutating func superEncoder() -> any Encoder { superEncoder(forKey: Key(stringValue: "super")!) }
        mutating func superEncoder(forKey key: Key) -> any Encoder {
            let encoder = EncoderImpl(codingPath: codingPath + [key])
            let child = EncodingNode(.document([]))
            encoder.node = child
            set(key, child)
            return encoder
        }
    }

    struct UnkeyedContainer: UnkeyedEncodingContainer {
        let node: EncodingNode
        var codingPath: [any CodingKey]
        var count: Int {
            if case .array(let a) = node.kind { return a.count }
            return 0
        }

        func append(_ child: EncodingNode) {
            guard case .array(var elements) = node.kind else { return }
            elements.append(child)
            node.kind = .array(elements)
        }

        mutating func encodeNil() throws { append(EncodingNode(.value(.null))) }
        mutating func encode<T: Encodable>(_ value: T) throws {
            append(try EncoderImpl.encodeChild(value, codingPath: codingPath + [IndexKey(count)]))
        }
        mutating func nestedContainer<NestedKey: CodingKey>(keyedBy keyType: NestedKey.Type) -> KeyedEncodingContainer<NestedKey> {
            let child = EncodingNode(.document([]))
            append(child)
            return KeyedEncodingContainer(KeyedContainer<NestedKey>(node: child, codingPath: codingPath))
        }
        mutating func nestedUnkeyedContainer() -> any UnkeyedEncodingContainer {
            let child = EncodingNode(.array([]))
            append(child)
            return UnkeyedContainer(node: child, codingPath: codingPath)
        }
        mutating func superEncoder() -> any Encoder {
            let encoder = EncoderImpl(codingPath: codingPath)
            let child = EncodingNode(.document([]))
            encoder.node = child
            append(child)
            return encoder
        }
    }

    struct SingleContainer: SingleValueEncodingContainer {
        let encoder: EncoderImpl
        var codingPath: [any CodingKey] { encoder.codingPath }

        func put(_ v: BSON) { encoder.node = EncodingNode(.value(v)) }
        mutating func encodeNil() throws { put(.null) }
        mutating func encode(_ value: Bool) throws { put(.bool(value)) }
        mutating func encode(_ value: String) throws { put(.string(value)) }
        mutating func encode(_ value: Double) throws { put(.double(value)) }
        mutating func encode(_ value: Float) throws { put(.double(Double(value))) }
        mutating func encode(_ value: Int) throws { put(Int32(exactly: value).map(BSON.int32) ?? .int64(Int64(value))) }
        mutating func encode(_ value: Int8) throws { put(.int32(Int32(value))) }
        mutating func encode(_ value: Int16) throws { put(.int32(Int32(value))) }
        mutating func encode(_ value: Int32) throws { put(.int32(value)) }
        mutating func encode(_ value: Int64) throws { put(.int64(value)) }
        mutating func encode(_ value: UInt) throws { put(try unsigned(UInt64(value))) }
        mutating func encode(_ value: UInt8) throws { put(.int32(Int32(value))) }
        mutating func encode(_ value: UInt16) throws { put(.int32(Int32(value))) }
        mutating func encode(_ value: UInt32) throws { put(Int32(exactly: value).map(BSON.int32) ?? .int64(Int64(value))) }
        mutating func encode(_ value: UInt64) throws { put(try unsigned(value)) }
        mutating func encode<T: Encodable>(_ value: T) throws {
            encoder.node = try EncoderImpl.encodeChild(value, codingPath: codingPath)
        }

        func unsigned(_ v: UInt64) throws -> BSON {
            guard let i = Int64(exactly: v) else {
                throw BSONError(.codable("\(v) does not fit in a BSON int64"))
            }
            return Int32(exactly: i).map(BSON.int32) ?? .int64(i)
        }
    }
}

/// A coding key for array positions.
struct IndexKey: CodingKey {
    var stringValue: String
    var intValue: Int?
    init(_ index: Int) { stringValue = String(index); intValue = index }
    init?(stringValue: String) { self.stringValue = stringValue; intValue = Int(stringValue) }
    init?(intValue: Int) { self.init(intValue) }
}
