#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

// The 64-bit hash MongoDB's hashed indexes, hashed sharding and `$toHashedIndexKey` use: MD5
// over a 4-byte seed (0), then per value its canonical type rank (int32), for elements
// inside documents and arrays the field name with its terminating NUL, and the value — any
// number as the int64 it truncates to, a document or array as its elements followed by the
// end-of-object marker (rank 0, no name), everything else as its BSON value bytes. The
// first 8 bytes of the digest, little-endian, are the hash.

extension BSON {
    /// MongoDB's hashed-index key of this value (`$toHashedIndexKey`).
    public var hashedIndexKey: Int64 {
        var md5 = MD5()
        md5.append(int32: 0)
        hashInto(&md5, name: nil)
        let digest = md5.finish()
        var v: UInt64 = 0
        for i in 0..<8 { v |= UInt64(digest[i]) << (8 * UInt64(i)) }
        return Int64(bitPattern: v)
    }

    private func hashInto(_ md5: inout MD5, name: String?) {
        md5.append(int32: Int32(type.canonicalRank))
        if let name {
            md5.append(Array(name.utf8))
            md5.append([0])
        }
        switch self {
        case .document(let d):
            for (k, v) in d { v.hashInto(&md5, name: k) }
            md5.append(int32: 0)
        case .array(let a):
            for (i, v) in a.enumerated() { v.hashInto(&md5, name: String(i)) }
            md5.append(int32: 0)
        case .double(let d):
            md5.append(int64: BSON.hashedInteger(d))
        case .int32(let i):
            md5.append(int64: Int64(i))
        case .int64(let i):
            md5.append(int64: i)
        case .decimal128:
            md5.append(int64: BSON.hashedInteger(asDouble ?? .nan))
        default:
            var bytes: [UInt8] = []
            appendValue(to: &bytes)
            md5.append(bytes)
        }
    }

    /// A double as the integer MongoDB hashes it by: truncated, saturated at the int64
    /// range, NaN as the smallest int64.
    static func hashedInteger(_ d: Double) -> Int64 {
        if d.isNaN { return .min }
        if d >= 9_223_372_036_854_775_808.0 { return .max }
        if d < -9_223_372_036_854_775_808.0 { return .min }
        return Int64(d)
    }
}

/// MD5 (RFC 1321), for the hashed-index key only (not for anything security-related).
struct MD5 {
    private var state: (UInt32, UInt32, UInt32, UInt32) = (0x67452301, 0xefcdab89, 0x98badcfe, 0x10325476)
    private var buffer: [UInt8] = []
    private var length: UInt64 = 0

    private static let shifts: [UInt32] = [7, 12, 17, 22, 7, 12, 17, 22, 7, 12, 17, 22, 7, 12, 17, 22,
                                           5, 9, 14, 20, 5, 9, 14, 20, 5, 9, 14, 20, 5, 9, 14, 20,
                                           4, 11, 16, 23, 4, 11, 16, 23, 4, 11, 16, 23, 4, 11, 16, 23,
                                           6, 10, 15, 21, 6, 10, 15, 21, 6, 10, 15, 21, 6, 10, 15, 21]
    /// floor(|sin(i + 1)| * 2^32).
    private static let constants: [UInt32] = (0..<64).map { UInt32(truncatingIfNeeded: Int64(abs(sin(Double($0 + 1))) * 4_294_967_296.0)) }

    mutating func append(int32 v: Int32) {
        let u = UInt32(bitPattern: v)
        append([UInt8(u & 0xFF), UInt8(u >> 8 & 0xFF), UInt8(u >> 16 & 0xFF), UInt8(u >> 24)])
    }

    mutating func append(int64 v: Int64) {
        let u = UInt64(bitPattern: v)
        append((0..<8).map { UInt8(u >> (8 * UInt64($0)) & 0xFF) })
    }

    mutating func append(_ bytes: [UInt8]) {
        length += UInt64(bytes.count)
        buffer.append(contentsOf: bytes)
        var offset = 0
        while buffer.count - offset >= 64 {
            compress(buffer[offset..<(offset + 64)])
            offset += 64
        }
        if offset > 0 { buffer.removeFirst(offset) }
    }

    mutating func finish() -> [UInt8] {
        let bits = length &* 8
        var tail: [UInt8] = [0x80]
        while (buffer.count + tail.count) % 64 != 56 { tail.append(0) }
        for i in 0..<8 { tail.append(UInt8(bits >> (8 * UInt64(i)) & 0xFF)) }
        let saved = length
        append(tail)
        length = saved
        var out: [UInt8] = []
        for word in [state.0, state.1, state.2, state.3] {
            for i in 0..<4 { out.append(UInt8(word >> (8 * UInt32(i)) & 0xFF)) }
        }
        return out
    }

    private mutating func compress(_ block: ArraySlice<UInt8>) {
        var m = [UInt32](repeating: 0, count: 16)
        let base = block.startIndex
        for i in 0..<16 {
            let j = base + i * 4
            m[i] = UInt32(block[j]) | UInt32(block[j + 1]) << 8 | UInt32(block[j + 2]) << 16 | UInt32(block[j + 3]) << 24
        }
        var (a, b, c, d) = state
        for i in 0..<64 {
            var f: UInt32
            let g: Int
            switch i {
            case 0..<16: f = (b & c) | (~b & d); g = i
            case 16..<32: f = (d & b) | (~d & c); g = (5 * i + 1) % 16
            case 32..<48: f = b ^ c ^ d; g = (3 * i + 5) % 16
            default: f = c ^ (b | ~d); g = (7 * i) % 16
            }
            f = f &+ a &+ MD5.constants[i] &+ m[g]
            a = d
            d = c
            c = b
            let s = MD5.shifts[i]
            b = b &+ (f << s | f >> (32 - s))
        }
        state = (state.0 &+ a, state.1 &+ b, state.2 &+ c, state.3 &+ d)
    }
}
