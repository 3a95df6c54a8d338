import FolioBSON
import FolioQuery
// The toolchain's ICU (the one swift-corelibs-foundation links): every Linux machine with the
// Swift toolchain has it, with collation data for every locale MongoDB lists. Its C functions
// carry a `swift_` prefix. It is an underscored module, so it is used here and nowhere else.
import _FoundationICU

/// A MongoDB collation over ICU: `{locale, caseLevel, caseFirst, strength, numericOrdering,
/// alternate, maxVariable, normalization, backwards}`.
///
/// @unchecked Sendable: the UCollator is configured once in `init` and afterwards only read
/// (`ucol_getSortKey` is safe to call concurrently on one collator).
public final class ICUCollator: Collator, @unchecked Sendable {
    private let collator: OpaquePointer
    public let specification: Document

    /// The ICU version MongoDB 8.0 reports in collation specifications. Folio's ICU is newer;
    /// the version is reported as MongoDB's so specifications round-trip between the two.
    static let reportedVersion = "57.1"

    /// Builds the collator of a collation specification; nil for `{locale: "simple"}`.
    /// - Throws: MongoDB's errors for a malformed specification (14, 40414, 40415, 2, 9).
    public static func make(_ spec: Document) throws(FolioError) -> ICUCollator? {
        let options = try Options(parsing: spec)
        if options.locale == "simple" {
            guard spec.count == 1 else {
                throw FolioError(.badValue, "If 'locale' is set to 'simple', no other fields may be specified")
            }
            return nil
        }
        return try ICUCollator(options, spec: spec)
    }

    private init(_ options: Options, spec: Document) throws(FolioError) {
        let locale = options.locale
        if locale.isEmpty { throw .badValue("Field 'locale' cannot be the empty string in: \(spec)") }
        if locale.utf8.contains(0) { throw .badValue("Field 'locale' cannot contain null byte. Collation spec: \(spec)") }
        var status = U_ZERO_ERROR
        guard let c = swift_ucol_open(locale, &status), status.rawValue <= 0 else {
            throw FolioError(.badValue, "Field 'locale' is invalid in: \(spec)")
        }
        // MongoDB's rule: the locale ICU considers valid for the collator must be the one asked
        // for (an unknown "xx" falls back to root and is refused).
        var s = U_ZERO_ERROR
        let valid = swift_ucol_getLocaleByType(c, ULOC_VALID_LOCALE, &s).map { String(cString: $0) } ?? ""
        guard valid == locale else {
            swift_ucol_close(c)
            let hint = valid.isEmpty || valid == "root" ? "" : ". Did you mean '\(valid)'?"
            throw FolioError(.badValue, "Field 'locale' is invalid in: \(spec)\(hint)")
        }
        collator = c
        func set(_ attribute: UColAttribute, _ value: UColAttributeValue) {
            var s = U_ZERO_ERROR
            swift_ucol_setAttribute(c, attribute, value, &s)
        }
        func get(_ attribute: UColAttribute) -> UColAttributeValue {
            var s = U_ZERO_ERROR
            return swift_ucol_getAttribute(c, attribute, &s)
        }
        if let v = options.caseLevel { set(UCOL_CASE_LEVEL, v ? UCOL_ON : UCOL_OFF) }
        if let v = options.caseFirst { set(UCOL_CASE_FIRST, v == "upper" ? UCOL_UPPER_FIRST : v == "lower" ? UCOL_LOWER_FIRST : UCOL_OFF) }
        if let v = options.strength {
            let levels: [UColAttributeValue] = [UCOL_PRIMARY, UCOL_SECONDARY, UCOL_TERTIARY, UCOL_QUATERNARY, UCOL_IDENTICAL]
            set(UCOL_STRENGTH, levels[v - 1])
        }
        if let v = options.numericOrdering { set(UCOL_NUMERIC_COLLATION, v ? UCOL_ON : UCOL_OFF) }
        if let v = options.alternate { set(UCOL_ALTERNATE_HANDLING, v == "shifted" ? UCOL_SHIFTED : UCOL_NON_IGNORABLE) }
        if let v = options.maxVariable {
            var s = U_ZERO_ERROR
            swift_ucol_setMaxVariable(c, v == "space" ? UCOL_REORDER_CODE_SPACE : UCOL_REORDER_CODE_PUNCTUATION, &s)
        }
        if let v = options.normalization { set(UCOL_NORMALIZATION_MODE, v ? UCOL_ON : UCOL_OFF) }
        if let v = options.backwards { set(UCOL_FRENCH_COLLATION, v ? UCOL_ON : UCOL_OFF) }

        let strengths: [UColAttributeValue: Int32] = [UCOL_PRIMARY: 1, UCOL_SECONDARY: 2, UCOL_TERTIARY: 3, UCOL_QUATERNARY: 4, UCOL_IDENTICAL: 5]
        let strength = strengths[get(UCOL_STRENGTH)] ?? 3
        let caseLevel = get(UCOL_CASE_LEVEL) == UCOL_ON
        let caseFirst = get(UCOL_CASE_FIRST)
        let backwards = get(UCOL_FRENCH_COLLATION) == UCOL_ON
        let full: Document = [
            "locale": .string(locale),
            "caseLevel": .bool(caseLevel),
            "caseFirst": .string(caseFirst == UCOL_UPPER_FIRST ? "upper" : caseFirst == UCOL_LOWER_FIRST ? "lower" : "off"),
            "strength": .int32(strength),
            "numericOrdering": .bool(get(UCOL_NUMERIC_COLLATION) == UCOL_ON),
            "alternate": .string(get(UCOL_ALTERNATE_HANDLING) == UCOL_SHIFTED ? "shifted" : "non-ignorable"),
            "maxVariable": .string(swift_ucol_getMaxVariable(c) == UCOL_REORDER_CODE_SPACE ? "space" : "punct"),
            "normalization": .bool(get(UCOL_NORMALIZATION_MODE) == UCOL_ON),
            "backwards": .bool(backwards),
            "version": .string(ICUCollator.reportedVersion),
        ]
        specification = full
        // MongoDB refuses combinations that cannot have an effect.
        if backwards && strength == 1 {
            throw .badValue("'backwards' is invalid with 'strength' of 1 in: \(full)")
        }
        if caseFirst != UCOL_OFF && !caseLevel && strength <= 2 {
            throw .badValue("'caseFirst' is invalid unless 'caseLevel' is on or 'strength' is greater than 2 in: \(full)")
        }
    }

    deinit { swift_ucol_close(collator) }

    public func comparisonKey(_ string: String) -> String {
        let units = string.utf16.count
        return withUnsafeTemporaryAllocation(of: UInt16.self, capacity: max(units, 1)) { utf16 -> String in
            _ = utf16.initialize(from: string.utf16)
            let count = Int32(clamping: units)
            return withUnsafeTemporaryAllocation(of: UInt8.self, capacity: 512) { small -> String in
                let n = Int(swift_ucol_getSortKey(collator, utf16.baseAddress, count, small.baseAddress, 512))
                if n <= 512 { return collationKeyString(sortKeyBytes: UnsafeBufferPointer(rebasing: small[..<n])) }
                var large = [UInt8](repeating: 0, count: n)
                _ = swift_ucol_getSortKey(collator, utf16.baseAddress, count, &large, Int32(n))
                return collationKeyString(sortKeyBytes: large)
            }
        }
    }

    public func compare(utf8 a: UnsafeBufferPointer<UInt8>, _ b: UnsafeBufferPointer<UInt8>) -> Int {
        var status = U_ZERO_ERROR
        let r = a.withMemoryRebound(to: CChar.self) { x in
            b.withMemoryRebound(to: CChar.self) { y in
                swift_ucol_strcollUTF8(collator, x.baseAddress, Int32(clamping: x.count), y.baseAddress, Int32(clamping: y.count), &status)
            }
        }
        return Int(r.rawValue)
    }

    /// The fields of a specification, type-checked (values not given stay nil: the locale's
    /// defaults apply).
    struct Options {
        var locale = ""
        var caseLevel: Bool?
        var caseFirst: String?
        var strength: Int?
        var numericOrdering: Bool?
        var alternate: String?
        var maxVariable: String?
        var normalization: Bool?
        var backwards: Bool?

        init(parsing spec: Document) throws(FolioError) {
            var sawLocale = false
            for (key, value) in spec {
                switch key {
                case "locale":
                    locale = try Options.string(key, value)
                    sawLocale = true
                case "caseLevel": caseLevel = try Options.bool(key, value)
                case "caseFirst": caseFirst = try Options.choice(key, value, ["upper", "lower", "off"])
                case "strength":
                    guard value.isNumber, let d = value.asDouble, d.rounded() == d, abs(d) < 1e9 else {
                        throw FolioError(.typeMismatch, "BSON field 'Collation.strength' is the wrong type '\(value.type.alias)', expected types '[long, int, decimal, double]'")
                    }
                    guard d >= 1 && d <= 5 else {
                        throw FolioError(.failedToParse, "Field 'strength' must be an integer 1 through 5. Got: \(Int(d))")
                    }
                    strength = Int(d)
                case "numericOrdering": numericOrdering = try Options.bool(key, value)
                case "alternate": alternate = try Options.choice(key, value, ["non-ignorable", "shifted"])
                case "maxVariable": maxVariable = try Options.choice(key, value, ["punct", "space"])
                case "normalization": normalization = try Options.bool(key, value)
                case "backwards": backwards = try Options.bool(key, value)
                case "version": _ = try Options.string(key, value)
                default:
                    throw FolioError(.idlUnknownField, "BSON field 'Collation.\(key)' is an unknown field.")
                }
            }
            guard sawLocale else {
                throw FolioError(.idlFailedToParse, "BSON field 'Collation.locale' is missing but a required field")
            }
        }

        static func string(_ key: String, _ value: BSON) throws(FolioError) -> String {
            guard case .string(let s) = value else {
                throw FolioError(.typeMismatch, "BSON field 'Collation.\(key)' is the wrong type '\(value.type.alias)', expected type 'string'")
            }
            return s
        }

        static func bool(_ key: String, _ value: BSON) throws(FolioError) -> Bool {
            guard case .bool(let b) = value else {
                throw FolioError(.typeMismatch, "BSON field 'Collation.\(key)' is the wrong type '\(value.type.alias)', expected type 'bool'")
            }
            return b
        }

        static func choice(_ key: String, _ value: BSON, _ allowed: [String]) throws(FolioError) -> String {
            let s = try string(key, value)
            guard allowed.contains(s) else {
                throw FolioError(.badValue, "Enumeration value '\(s)' for field 'Collation.\(key)' is not a valid value.")
            }
            return s
        }
    }
}
