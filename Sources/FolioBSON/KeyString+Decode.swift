// Reading values back out of KeyString keys (covered queries).
//
// KeyString keeps order, not types: 1, 1.0 and NumberLong(1) are one key. A value is
// "plain" when decoding its encoding gives it back exactly — int32s, int64s outside the
// int32 range, non-integral doubles and infinities, strings, ObjectIds, booleans, dates,
// timestamps, binary data, null, MinKey, MaxKey, undefined. Other values (integral doubles,
// small int64s, decimals, documents, arrays, symbols, regexes, code, NaN) need their
// original BSON stored beside the key to be reproduced (MongoDB keeps "type bits" for the
// same reason).

extension KeyString {
    /// Whether `decode` reproduces `value` exactly from its encoding.
    public static func isPlain(_ value: BSON) -> Bool {
        switch value {
        case .int32, .string, .objectID, .bool, .datetime, .timestamp, .binary, .null, .minKey, .maxKey, .undefined:
            return true
        case .int64(let v):
            return Int32(exactly: v) == nil
        case .double(let d):
            return d.isInfinite || (!d.isNaN && d.rounded(.towardZero) != d)
        default:
            return false
        }
    }

    /// Decodes the plain value starting at `position` (its bytes inverted when the field is
    /// descending) and moves `position` past it. Nil for a value that is not plain or bytes
    /// that are not a KeyString encoding.
    public static func decodePlain(_ bytes: UnsafeRawBufferPointer, at position: inout Int, ascending: Bool) -> BSON? {
        var reader = Reader(bytes: bytes, position: position, flip: ascending ? 0 : 0xFF)
        guard let v = reader.value() else { return nil }
        position = reader.position
        return v
    }

    struct Reader {
        let bytes: UnsafeRawBufferPointer
        var position: Int
        var flip: UInt8

        mutating func byte() -> UInt8? {
            guard position < bytes.count else { return nil }
            defer { position += 1 }
            return bytes[position] ^ flip
        }

        mutating func uint(_ count: Int) -> UInt64? {
            var v: UInt64 = 0
            for _ in 0..<count {
                guard let b = byte() else { return nil }
                v = v << 8 | UInt64(b)
            }
            return v
        }

        mutating func value() -> BSON? {
            guard let tag = byte() else { return nil }
            switch tag {
            case Tag.minKey: return .minKey
            case Tag.maxKey: return .maxKey
            case Tag.null: return .null
            case Tag.undefined: return .undefined
            case Tag.number: return number()
            case Tag.string: return escaped().map(BSON.string)
            case Tag.objectID:
                var raw: [UInt8] = []
                for _ in 0..<12 { guard let b = byte() else { return nil }; raw.append(b) }
                return ObjectID(byteArray: raw).map(BSON.objectID)
            case Tag.bool:
                guard let b = byte(), b <= 1 else { return nil }
                return .bool(b == 1)
            case Tag.datetime:
                return uint(8).map { .datetime(Int64(bitPattern: $0 ^ (1 << 63))) }
            case Tag.timestamp:
                return uint(8).map { .timestamp(Timestamp(rawValue: $0)) }
            case Tag.binary:
                guard let length = uint(4), let subtype = byte(), Int(length) <= bytes.count - position else { return nil }
                var data: [UInt8] = []
                data.reserveCapacity(Int(length))
                for _ in 0..<Int(length) { data.append(byte()!) }
                return .binary(Binary(subtype: subtype, data: data))
            default:
                return nil
            }
        }

        /// A string body: 00 FF is a NUL byte, 00 00 ends it.
        mutating func escaped() -> String? {
            var utf8: [UInt8] = []
            while let b = byte() {
                if b != 0 { utf8.append(b); continue }
                guard let next = byte() else { return nil }
                if next == 0 { return String(validating: utf8, as: UTF8.self) }
                guard next == 0xFF else { return nil }
                utf8.append(0)
            }
            return nil
        }

        mutating func number() -> BSON? {
            guard let numberClass = byte() else { return nil }
            switch numberClass {
            case NumberClass.nan: return .double(.nan)
            case NumberClass.negativeInfinity: return .double(-.infinity)
            case NumberClass.positiveInfinity: return .double(.infinity)
            case NumberClass.zero: return .int32(0)
            case NumberClass.negative, NumberClass.positive: break
            default: return nil
            }
            let negative = numberClass == NumberClass.negative
            // A negative number's body is stored inverted.
            if negative { flip ^= 0xFF }
            defer { if negative { flip ^= 0xFF } }
            guard let e = uint(2) else { return nil }
            let point = Int(e) - 0x8000
            var digits: [UInt8] = []
            while true {
                guard let pair = byte() else { return nil }
                if pair == 0 { break }
                guard pair <= 100 else { return nil }
                digits.append((pair - 1) / 10)
                digits.append((pair - 1) % 10)
            }
            while digits.last == 0 { digits.removeLast() }
            guard !digits.isEmpty else { return nil }
            if point >= digits.count && point <= 19 {
                var magnitude: UInt64 = 0
                for d in digits {
                    let (m, o1) = magnitude.multipliedReportingOverflow(by: 10)
                    let (s, o2) = m.addingReportingOverflow(UInt64(d))
                    if o1 || o2 { return nil }
                    magnitude = s
                }
                for _ in digits.count..<point {
                    let (m, o) = magnitude.multipliedReportingOverflow(by: 10)
                    if o { return nil }
                    magnitude = m
                }
                if negative {
                    if magnitude == UInt64(Int64.max) + 1 { return .int64(.min) }
                    guard let v = Int64(exactly: magnitude) else { return nil }
                    return Int32(exactly: -v).map(BSON.int32) ?? .int64(-v)
                }
                guard let v = Int64(exactly: magnitude) else { return nil }
                return Int32(exactly: v).map(BSON.int32) ?? .int64(v)
            }
            // 0.d1d2… × 10^point, read back through the shortest exact decimal text.
            let text = (negative ? "-0." : "0.") + digits.map { String($0) }.joined() + "e" + String(point)
            return Double(text).map(BSON.double)
        }
    }
}
