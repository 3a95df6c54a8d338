// KeyString: an order-preserving byte encoding of BSON values, for record keys and index keys.
//
// Invariant: for any values a and b, memcmp order of encode(a) and encode(b) equals
// BSON.compare(a, b) (and equal values encode to identical bytes, so 1, 1.0 and
// NumberDecimal("1.00") are one key). Every encoding is self-delimiting and prefix-free,
// which makes concatenation (compound keys, then the record key) order-preserving too,
// and byte inversion of a prefix-free code reverses its order (descending fields).
//
// Layout of one value: a type tag (by canonical rank) followed by a body:
//   numbers     tag, class (NaN < -Inf < negative < zero < positive < +Inf); finite non-zero
//               values as 0.d1d2...dn × 10^p: UInt16 BE (p + 0x8000), digit pairs as
//               (10*d1 + d2 + 1), terminator 0x00; negatives invert these bytes.
//   strings     bytes with 0x00 escaped as 00 FF, terminated by 00 00 (symbol shares the tag)
//   documents   per field: value tag, escaped name, value body; then 0x00
//   arrays      per element: tag, body; then 0x00
//   binary      UInt32 BE length, subtype, bytes
//   ObjectId 12 bytes; bool 1 byte; date Int64 BE with the sign bit flipped;
//   timestamp UInt64 BE; regex escaped pattern and options; dbPointer length, bytes, oid;
//   code escaped text; code with scope escaped text then the scope as a document body.
// Cost: one append per byte; numbers with fractional parts expand their exact decimal form.

/// Order-preserving encoding of BSON values.
public enum KeyString {
    enum Tag {
        static let minKey: UInt8 = 0x0A
        static let undefined: UInt8 = 0x0F
        static let null: UInt8 = 0x14
        static let number: UInt8 = 0x1E
        static let string: UInt8 = 0x28
        static let document: UInt8 = 0x32
        static let array: UInt8 = 0x3C
        static let binary: UInt8 = 0x46
        static let objectID: UInt8 = 0x50
        static let bool: UInt8 = 0x5A
        static let datetime: UInt8 = 0x64
        static let timestamp: UInt8 = 0x6E
        static let regex: UInt8 = 0x78
        static let dbPointer: UInt8 = 0x82
        static let javascript: UInt8 = 0x8C
        static let javascriptWithScope: UInt8 = 0x96
        static let maxKey: UInt8 = 0xF0
    }

    enum NumberClass {
        static let nan: UInt8 = 0x01
        static let negativeInfinity: UInt8 = 0x02
        static let negative: UInt8 = 0x03
        static let zero: UInt8 = 0x04
        static let positive: UInt8 = 0x05
        static let positiveInfinity: UInt8 = 0x06
    }

    /// The encoding of one value, ascending.
    public static func encode(_ value: BSON) -> [UInt8] {
        var out = [UInt8]()
        out.reserveCapacity(16)
        append(value, to: &out)
        return out
    }

    /// The encoding of a compound key: each value ascending or descending as `ascending[i]` says
    /// (all ascending when nil).
    public static func encode(_ values: [BSON], ascending: [Bool]? = nil) -> [UInt8] {
        var out = [UInt8]()
        out.reserveCapacity(16 * values.count)
        for (i, v) in values.enumerated() {
            append(v, ascending: ascending?[i] ?? true, to: &out)
        }
        return out
    }

    /// Appends a value's encoding; a descending field is the bitwise inverse.
    public static func append(_ value: BSON, ascending: Bool = true, to out: inout [UInt8]) {
        let start = out.count
        appendValue(value, to: &out)
        if !ascending { invert(&out, from: start) }
    }

    static func invert(_ out: inout [UInt8], from start: Int) {
        for i in start..<out.count { out[i] = ~out[i] }
    }

    static func tag(_ type: BSONType) -> UInt8 {
        switch type {
        case .minKey: return Tag.minKey
        case .undefined: return Tag.undefined
        case .null: return Tag.null
        case .double, .int32, .int64, .decimal128: return Tag.number
        case .string, .symbol: return Tag.string
        case .document: return Tag.document
        case .array: return Tag.array
        case .binary: return Tag.binary
        case .objectID: return Tag.objectID
        case .bool: return Tag.bool
        case .datetime: return Tag.datetime
        case .timestamp: return Tag.timestamp
        case .regex: return Tag.regex
        case .dbPointer: return Tag.dbPointer
        case .javascript: return Tag.javascript
        case .javascriptWithScope: return Tag.javascriptWithScope
        case .maxKey: return Tag.maxKey
        }
    }

    static func appendValue(_ value: BSON, to out: inout [UInt8]) {
        out.append(tag(value.type))
        appendBody(value, to: &out)
    }

    static func appendBody(_ value: BSON, to out: inout [UInt8]) {
        switch value {
        case .minKey, .maxKey, .null, .undefined: break
        case .int32(let v): appendInteger(Int64(v), to: &out)
        case .int64(let v): appendInteger(v, to: &out)
        case .double(let d): appendDouble(d, to: &out)
        case .decimal128(let d): appendDecimal(d, to: &out)
        case .string(let s), .symbol(let s), .javascript(let s): appendEscaped(s, to: &out)
        case .document(let doc): appendDocumentBody(doc, to: &out)
        case .array(let elements):
            for e in elements { appendValue(e, to: &out) }
            out.append(0)
        case .binary(let b):
            appendUInt32BE(UInt32(truncatingIfNeeded: b.data.count), to: &out)
            out.append(b.subtype)
            out.append(contentsOf: b.data)
        case .objectID(let o): withUnsafeBytes(of: o.bytes) { out.append(contentsOf: $0) }
        case .bool(let b): out.append(b ? 1 : 0)
        case .datetime(let ms): appendUInt64BE(UInt64(bitPattern: ms) ^ (1 << 63), to: &out)
        case .timestamp(let t): appendUInt64BE(t.rawValue, to: &out)
        case .regex(let r):
            appendEscaped(r.pattern, to: &out)
            appendEscaped(r.sortedOptions, to: &out)
        case .dbPointer(let ns, let id):
            appendUInt32BE(UInt32(truncatingIfNeeded: ns.utf8.count), to: &out)
            out.append(contentsOf: ns.utf8)
            withUnsafeBytes(of: id.bytes) { out.append(contentsOf: $0) }
        case .javascriptWithScope(let code, let scope):
            appendEscaped(code, to: &out)
            appendDocumentBody(scope, to: &out)
        }
    }

    static func appendDocumentBody(_ doc: Document, to out: inout [UInt8]) {
        for (k, v) in doc {
            out.append(tag(v.type))
            appendEscaped(k, to: &out)
            appendBody(v, to: &out)
        }
        out.append(0)
    }

    static func appendEscaped(_ s: String, to out: inout [UInt8]) {
        for b in s.utf8 {
            out.append(b)
            if b == 0 { out.append(0xFF) }
        }
        out.append(0)
        out.append(0)
    }

    static func appendUInt32BE(_ v: UInt32, to out: inout [UInt8]) {
        out.append(UInt8(v >> 24)); out.append(UInt8((v >> 16) & 0xFF))
        out.append(UInt8((v >> 8) & 0xFF)); out.append(UInt8(v & 0xFF))
    }

    static func appendUInt64BE(_ v: UInt64, to out: inout [UInt8]) {
        withUnsafeBytes(of: v.bigEndian) { out.append(contentsOf: $0) }
    }

    // MARK: Numbers

    static func appendInteger(_ v: Int64, to out: inout [UInt8]) {
        if v == 0 { out.append(NumberClass.zero); return }
        // Digits of the magnitude, least significant first, into a fixed buffer.
        var digits: (UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8,
                     UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8) =
            (0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0)
        var m = v.magnitude
        var n = 0
        withUnsafeMutableBytes(of: &digits) { buf in
            while m > 0 {
                buf[n] = UInt8(m % 10)
                m /= 10
                n += 1
            }
            var low = 0
            while buf[low] == 0 { low += 1 }
            // Most significant first: buf[n-1] ... buf[low].
            let start = out.count
            out.append(v < 0 ? NumberClass.negative : NumberClass.positive)
            let bodyStart = out.count
            let exponent = UInt16(truncatingIfNeeded: n + 0x8000)
            out.append(UInt8(exponent >> 8)); out.append(UInt8(exponent & 0xFF))
            var i = n - 1
            while i >= low {
                let d1 = buf[i]
                let d2: UInt8 = i - 1 >= low ? buf[i - 1] : 0
                out.append(d1 * 10 + d2 + 1)
                i -= 2
            }
            out.append(0)
            if v < 0 { invert(&out, from: bodyStart) }
            _ = start
        }
    }

    static func appendDouble(_ d: Double, to out: inout [UInt8]) {
        if d.isNaN { out.append(NumberClass.nan); return }
        if d.isInfinite { out.append(d < 0 ? NumberClass.negativeInfinity : NumberClass.positiveInfinity); return }
        if d.rounded(.towardZero) == d && abs(d) < 9.2e18 {
            appendInteger(Int64(d), to: &out)
            return
        }
        appendExact(ExactDecimal(d)!, to: &out)
    }

    static func appendDecimal(_ d: Decimal128, to out: inout [UInt8]) {
        switch d.parts {
        case .nan: out.append(NumberClass.nan)
        case .infinity(let negative): out.append(negative ? NumberClass.negativeInfinity : NumberClass.positiveInfinity)
        case .finite: appendExact(ExactDecimal(d)!, to: &out)
        }
    }

    static func appendExact(_ e: ExactDecimal, to out: inout [UInt8]) {
        if e.isZero { out.append(NumberClass.zero); return }
        out.append(e.negative ? NumberClass.negative : NumberClass.positive)
        let bodyStart = out.count
        let exponent = UInt16(truncatingIfNeeded: e.pointPosition + 0x8000)
        out.append(UInt8(exponent >> 8)); out.append(UInt8(exponent & 0xFF))
        var i = 0
        while i < e.digits.count {
            let d1 = e.digits[i]
            let d2: UInt8 = i + 1 < e.digits.count ? e.digits[i + 1] : 0
            out.append(d1 * 10 + d2 + 1)
            i += 2
        }
        out.append(0)
        if e.negative { invert(&out, from: bodyStart) }
    }
}
