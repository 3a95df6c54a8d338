#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A 12-byte BSON ObjectId: 4-byte big-endian seconds, 5 bytes random per process,
/// 3-byte big-endian counter (the BSON ObjectId specification).
public struct ObjectID: Sendable, Hashable, Comparable, CustomStringConvertible {
    /// The raw bytes, big-endian as stored.
    public var bytes: (UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8)

    public init(bytes: (UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8)) {
        self.bytes = bytes
    }

    /// Creates an ObjectId from exactly 12 bytes.
    public init?<C: Collection>(byteArray: C) where C.Element == UInt8 {
        guard byteArray.count == 12 else { return nil }
        var b = [UInt8](byteArray)
        self.bytes = (b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7], b[8], b[9], b[10], b[11])
        b.removeAll()
    }

    /// A new, unique ObjectId for the current time.
    public init() {
        let seconds = UInt32(truncatingIfNeeded: ObjectID.currentSeconds())
        let counter = ObjectIDGenerator.shared.nextCounter()
        let r = ObjectIDGenerator.shared.processRandom
        bytes = (UInt8(seconds >> 24), UInt8((seconds >> 16) & 0xFF), UInt8((seconds >> 8) & 0xFF), UInt8(seconds & 0xFF),
                 r.0, r.1, r.2, r.3, r.4,
                 UInt8((counter >> 16) & 0xFF), UInt8((counter >> 8) & 0xFF), UInt8(counter & 0xFF))
    }

    /// Parses 24 hexadecimal digits (either case).
    public init?(hex: String) {
        let utf8 = Array(hex.utf8)
        guard utf8.count == 24 else { return nil }
        var out = [UInt8](repeating: 0, count: 12)
        for i in 0..<12 {
            guard let hi = hexValue(utf8[2 * i]), let lo = hexValue(utf8[2 * i + 1]) else { return nil }
            out[i] = hi << 4 | lo
        }
        self.init(byteArray: out)
    }

    /// The 12 bytes as an array.
    public var byteArray: [UInt8] {
        withUnsafeBytes(of: bytes) { Array($0) }
    }

    /// Seconds since the Unix epoch encoded in the first four bytes.
    public var timestampSeconds: UInt32 {
        UInt32(bytes.0) << 24 | UInt32(bytes.1) << 16 | UInt32(bytes.2) << 8 | UInt32(bytes.3)
    }

    /// 24 lowercase hexadecimal digits.
    public var hex: String {
        let digits: [UInt8] = Array("0123456789abcdef".utf8)
        var out = [UInt8]()
        out.reserveCapacity(24)
        for b in byteArray {
            out.append(digits[Int(b >> 4)])
            out.append(digits[Int(b & 0xF)])
        }
        return String(decoding: out, as: UTF8.self)
    }

    public var description: String { "ObjectId(\"\(hex)\")" }

    public static func == (lhs: ObjectID, rhs: ObjectID) -> Bool {
        withUnsafeBytes(of: lhs.bytes) { l in withUnsafeBytes(of: rhs.bytes) { r in l.elementsEqual(r) } }
    }

    public func hash(into hasher: inout Hasher) {
        withUnsafeBytes(of: bytes) { hasher.combine(bytes: $0) }
    }

    public static func < (lhs: ObjectID, rhs: ObjectID) -> Bool {
        withUnsafeBytes(of: lhs.bytes) { l in withUnsafeBytes(of: rhs.bytes) { r in l.lexicographicallyPrecedes(r) } }
    }

    /// Seconds since the Unix epoch, from the system clock.
    public static func currentSeconds() -> Int {
        var ts = timespec()
        clock_gettime(CLOCK_REALTIME, &ts)
        return ts.tv_sec
    }
}

@inline(__always)
func hexValue(_ c: UInt8) -> UInt8? {
    switch c {
    case UInt8(ascii: "0")...UInt8(ascii: "9"): return c - UInt8(ascii: "0")
    case UInt8(ascii: "a")...UInt8(ascii: "f"): return c - UInt8(ascii: "a") + 10
    case UInt8(ascii: "A")...UInt8(ascii: "F"): return c - UInt8(ascii: "A") + 10
    default: return nil
    }
}

/// Process-wide ObjectId state: the 5 random bytes chosen once per process and the counter
/// that starts at a random value.
final class ObjectIDGenerator: Sendable {
    static let shared = ObjectIDGenerator()
    let processRandom: (UInt8, UInt8, UInt8, UInt8, UInt8)
    private let counter: AtomicCounter

    private init() {
        var g = SystemRandomNumberGenerator()
        let r = g.next() as UInt64
        processRandom = (UInt8(r & 0xFF), UInt8((r >> 8) & 0xFF), UInt8((r >> 16) & 0xFF),
                         UInt8((r >> 24) & 0xFF), UInt8((r >> 32) & 0xFF))
        counter = AtomicCounter(UInt32(truncatingIfNeeded: g.next() as UInt64) & 0xFF_FFFF)
    }

    func nextCounter() -> UInt32 { counter.next() & 0xFF_FFFF }
}
