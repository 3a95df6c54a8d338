/// A string comparison other than byte order: a collation (FolioCollation builds ICU's).
///
/// Folio compares under a collation the way MongoDB builds collated index keys: every string
/// (and symbol) in the values compared is replaced by its comparison key — a string whose
/// UTF-8 bytes sort as the collation sorts the original — and the keyed values are then
/// compared, grouped and sorted by the ordinary binary rules. Two strings are equal under the
/// collation exactly when their keys are equal.
public protocol Collator: AnyObject, Sendable {
    /// The comparison key of `string`.
    func comparisonKey(_ string: String) -> String
    /// Three-way comparison of two UTF-8 strings (no key is built: cheaper for one comparison).
    func compare(utf8 a: UnsafeBufferPointer<UInt8>, _ b: UnsafeBufferPointer<UInt8>) -> Int
    /// The collation as MongoDB reports it (every field, defaults filled in).
    var specification: Document { get }
}

extension BSON {
    /// The value with every string and symbol (in documents and arrays too) replaced by its
    /// comparison key under `collator`; other values are returned unchanged.
    public func collationKey(_ collator: any Collator) -> BSON {
        switch self {
        case .string(let s): return .string(collator.comparisonKey(s))
        case .symbol(let s): return .symbol(collator.comparisonKey(s))
        case .document(let d):
            var out = Document()
            for (k, v) in d { out.append(k, v.collationKey(collator)) }
            return .document(out)
        case .array(let a): return .array(a.map { $0.collationKey(collator) })
        default: return self
        }
    }

    /// Whether a collation can change how the value compares (it holds a string or a symbol).
    public var containsStrings: Bool {
        switch self {
        case .string, .symbol: return true
        case .document(let d): return d.contains { $0.value.containsStrings }
        case .array(let a): return a.contains { $0.containsStrings }
        default: return false
        }
    }

    /// `collationKey` when a collator is given.
    @inlinable
    public func collated(_ collator: (any Collator)?) -> BSON {
        guard let collator else { return self }
        return collationKey(collator)
    }
}

/// A comparison key made from collation sort-key bytes: each byte becomes the scalar of the
/// same value (U+0001...U+00FF; sort keys hold no zero byte), so the key's UTF-8 sorts
/// exactly as the bytes do.
public func collationKeyString<C: Collection>(sortKeyBytes bytes: C) -> String where C.Element == UInt8 {
    String(unsafeUninitializedCapacity: bytes.count * 2) { out in
        var n = 0
        for b in bytes where b != 0 {
            if b < 0x80 {
                out[n] = b
                n += 1
            } else {
                out[n] = 0xC0 | (b >> 6)
                out[n + 1] = 0x80 | (b & 0x3F)
                n += 2
            }
        }
        return n
    }
}
