/// A BSON timestamp: seconds and an increment, compared as one unsigned 64-bit number.
public struct Timestamp: Sendable, Hashable, Comparable, CustomStringConvertible {
    public var seconds: UInt32
    public var increment: UInt32

    public init(seconds: UInt32, increment: UInt32) {
        self.seconds = seconds
        self.increment = increment
    }

    /// The value as stored: seconds in the high 32 bits.
    public init(rawValue: UInt64) {
        seconds = UInt32(truncatingIfNeeded: rawValue >> 32)
        increment = UInt32(truncatingIfNeeded: rawValue)
    }

    public var rawValue: UInt64 { UInt64(seconds) << 32 | UInt64(increment) }

    public static func < (lhs: Timestamp, rhs: Timestamp) -> Bool { lhs.rawValue < rhs.rawValue }

    public var description: String { "Timestamp(\(seconds), \(increment))" }
}

/// BSON binary data with its subtype.
public struct Binary: Sendable, Hashable {
    /// Well-known subtypes.
    public enum Subtype {
        public static let generic: UInt8 = 0x00
        public static let function: UInt8 = 0x01
        public static let binaryOld: UInt8 = 0x02
        public static let uuidOld: UInt8 = 0x03
        public static let uuid: UInt8 = 0x04
        public static let md5: UInt8 = 0x05
        public static let encrypted: UInt8 = 0x06
        public static let column: UInt8 = 0x07
        public static let sensitive: UInt8 = 0x08
        public static let vector: UInt8 = 0x09
    }

    public var subtype: UInt8
    public var data: [UInt8]

    public init(subtype: UInt8 = Subtype.generic, data: [UInt8]) {
        self.subtype = subtype
        self.data = data
    }
}

/// A BSON regular expression: pattern and option letters.
public struct BSONRegex: Sendable, Hashable {
    public var pattern: String
    /// Option letters, kept sorted alphabetically as BSON requires.
    public private(set) var options: String

    public init(pattern: String, options: String = "") {
        self.pattern = pattern
        self.options = options.count > 1 ? String(options.sorted()) : options
    }

    /// The options (already sorted; kept for callers that want to say so).
    public var sortedOptions: String { options }
}
