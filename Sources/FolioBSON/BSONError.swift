/// Why a sequence of bytes is not valid BSON, or why a value cannot be converted.
///
/// Decoding never traps on untrusted input: every failure is one of these, with the byte
/// offset where the problem was found.
public struct BSONError: Error, Sendable, Equatable, CustomStringConvertible {
    /// The closed set of reasons.
    public enum Kind: Sendable, Equatable {
        /// The input ended before a length or value said it would.
        case truncated
        /// A length prefix is negative, too small, or disagrees with the bytes.
        case invalidLength
        /// A document or array is not terminated by a zero byte where its length says.
        case missingTerminator
        /// An element has a type byte that BSON does not define.
        case unknownType(UInt8)
        /// A string or key is not valid UTF-8.
        case invalidUTF8
        /// A boolean byte other than 0 or 1.
        case invalidBoolean(UInt8)
        /// Documents nested deeper than the limit.
        case nestingTooDeep
        /// A value that is structurally wrong (binary subtype 2 length, code-with-scope sizes, ...).
        case invalidValue(String)
        /// Extended JSON or other text that does not parse.
        case parse(String)
        /// A document larger than the allowed size.
        case tooLarge
        /// A Codable value that cannot be mapped to or from BSON.
        case codable(String)
    }

    public var kind: Kind
    /// Offset in the input where the problem was detected (0 when not applicable).
    public var offset: Int

    public init(_ kind: Kind, offset: Int = 0) {
        self.kind = kind
        self.offset = offset
    }

    public var description: String {
        switch kind {
        case .truncated: return "BSON truncated at offset \(offset)"
        case .invalidLength: return "invalid BSON length at offset \(offset)"
        case .missingTerminator: return "BSON document not terminated at offset \(offset)"
        case .unknownType(let t): return "unknown BSON type 0x\(String(t, radix: 16)) at offset \(offset)"
        case .invalidUTF8: return "invalid UTF-8 in BSON string at offset \(offset)"
        case .invalidBoolean(let b): return "invalid BSON boolean \(b) at offset \(offset)"
        case .nestingTooDeep: return "BSON nesting too deep at offset \(offset)"
        case .invalidValue(let m): return "invalid BSON value at offset \(offset): \(m)"
        case .parse(let m): return "parse error: \(m)"
        case .tooLarge: return "BSON document too large"
        case .codable(let m): return "BSON Codable error: \(m)"
        }
    }
}
