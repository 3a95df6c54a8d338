import Synchronization
// The toolchain's ICU (the one swift-corelibs-foundation links; see FolioCollation): canonical
// decompositions and case folding. Its C functions carry a `swift_` prefix.
import _FoundationICU
import FolioLocks

/// The Unicode rules of MongoDB's version 3 text tokenizer: which characters split words, how
/// letters are folded to one case, and how diacritics are taken off.
enum TextUnicode {
    /// Whether `c` separates words: White_Space, Dash, Hyphen, Quotation_Mark,
    /// Terminal_Punctuation, Pattern_Syntax or Sentence_Terminal — except the apostrophe in English.
    static func isDelimiter(_ c: Unicode.Scalar, keepApostrophe: Bool) -> Bool {
        if c == "'" { return !keepApostrophe }
        if c.value < 0x80 { return asciiDelimiters[Int(c.value)] }
        return isDelimiterProperty(c)
    }

    private static func isDelimiterProperty(_ c: Unicode.Scalar) -> Bool {
        let p = c.properties
        return p.isWhitespace || p.isDash || p.isQuotationMark || p.isTerminalPunctuation || p.isPatternSyntax
            || p.isSentenceTerminal || hyphens.contains(c.value)
    }

    /// The Hyphen property's characters (PropList.txt; Swift has no property for it).
    private static let hyphens: Set<UInt32> = [0x002D, 0x00AD, 0x058A, 0x1806, 0x2010, 0x2011, 0x2E17, 0x30FB, 0xFE63, 0xFF0D, 0xFF65]

    private static let asciiDelimiters: [Bool] = (0..<0x80).map { isDelimiterProperty(Unicode.Scalar(UInt8($0))) }

    /// Simple case folding (Turkish: I to ı, İ to i).
    static func fold(_ c: Unicode.Scalar, turkish: Bool) -> Unicode.Scalar {
        if c.value < 0x80 {
            if turkish && c == "I" { return "\u{131}" }
            return (c.value >= 0x41 && c.value <= 0x5A) ? Unicode.Scalar(c.value + 0x20)! : c
        }
        let folded = swift_u_foldCase(UChar32(bitPattern: c.value), turkish ? UInt32(U_FOLD_CASE_EXCLUDE_SPECIAL_I) : UInt32(U_FOLD_CASE_DEFAULT))
        return Unicode.Scalar(UInt32(bitPattern: folded)) ?? c
    }

    /// `c` without its diacritics: nil for a diacritic itself (it is dropped), the letter a
    /// composed character is made of when taking its diacritics off leaves one character, `c`
    /// otherwise. ASCII comes from a table; other scalars are worked out once (Unicode's
    /// properties and ICU's decompositions are slow next to a lookup) and cached.
    static func removingDiacritics(_ c: Unicode.Scalar) -> Unicode.Scalar? {
        if c.value < 0x80 { return asciiDiacritics[Int(c.value)] ? nil : c }
        if let known = diacriticCache.withLock({ $0[c.value] }) { return known == dropped ? nil : Unicode.Scalar(known) }
        let mapped = c.properties.isDiacritic ? nil : (c.value < 0xC0 ? c : computeRemovingDiacritics(c))
        diacriticCache.withLock { $0[c.value] = mapped?.value ?? dropped }
        return mapped
    }

    /// The cache's mark for a diacritic (not a scalar value).
    private static let dropped: UInt32 = .max
    private static let diacriticCache = Locked<[UInt32: UInt32]>([:])
    private static let asciiDiacritics: [Bool] = (0..<0x80).map { Unicode.Scalar(UInt8($0)).properties.isDiacritic }

    private static func computeRemovingDiacritics(_ c: Unicode.Scalar) -> Unicode.Scalar {
        var status = U_ZERO_ERROR
        guard let nfd = swift_unorm2_getNFDInstance(&status), status.rawValue <= 0 else { return c }
        var buffer = [UChar](repeating: 0, count: 32)
        let length = swift_unorm2_getDecomposition(nfd, UChar32(bitPattern: c.value), &buffer, Int32(buffer.count), &status)
        guard length > 0, status.rawValue <= 0 else { return c }
        let kept = String(decoding: buffer[0..<Int(length)], as: UTF16.self).unicodeScalars.filter { !$0.properties.isDiacritic }
        guard var composed = kept.first else { return c }
        guard let nfc = swift_unorm2_getNFCInstance(&status), status.rawValue <= 0 else { return c }
        for next in kept.dropFirst() {
            let pair = swift_unorm2_composePair(nfc, UChar32(bitPattern: composed.value), UChar32(bitPattern: next.value))
            guard pair >= 0, let scalar = Unicode.Scalar(UInt32(pair)) else { return c }
            composed = scalar
        }
        return composed
    }

    /// Folds case (unless `caseSensitive`) and removes diacritics (unless `diacriticSensitive`).
    /// Written as UTF-8 bytes: ASCII, most of what is indexed, takes one table lookup a byte.
    static func normalize(_ s: Substring.UnicodeScalarView, turkish: Bool, caseSensitive: Bool, diacriticSensitive: Bool) -> String {
        var out: [UInt8] = []
        out.reserveCapacity(Substring(s).utf8.count)
        for c in s {
            if c.value < 0x80 && !(turkish && c == "I" && !caseSensitive) {
                let byte = caseSensitive ? UInt8(c.value) : asciiLower[Int(c.value)]
                if diacriticSensitive || !asciiDiacritics[Int(byte)] { out.append(byte) }
                continue
            }
            let folded = caseSensitive ? c : fold(c, turkish: turkish)
            guard let plain = diacriticSensitive ? folded : removingDiacritics(folded) else { continue }
            UTF8.encode(plain) { out.append($0) }
        }
        return String(decoding: out, as: UTF8.self)
    }

    private static let asciiLower: [UInt8] = (0..<0x80).map { UInt8(fold(Unicode.Scalar(UInt8($0)), turkish: false).value) }
}
