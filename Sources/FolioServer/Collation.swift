import FolioBSON
import FolioQuery

/// Collations. Folio compares strings by their UTF-8 bytes — MongoDB's "simple" collation —
/// and has no locale-aware comparison yet, so a command asking for any other collation is
/// refused with 115 instead of silently answering with binary comparisons.
enum Collation {
    static let fields: Set<String> = ["locale", "caseLevel", "caseFirst", "strength", "numericOrdering", "alternate",
                                      "maxVariable", "normalization", "backwards", "version"]

    /// Checks every `collation` a command carries: its own, its update/delete statements',
    /// its bulkWrite operations' and an explained command's.
    static func check(_ body: Document, command: String) throws(FolioError) {
        try checkOne(body["collation"], command: command)
        for key in ["updates", "deletes", "ops"] {
            guard case .array(let statements)? = body[key] else { continue }
            for case .document(let s) in statements { try checkOne(s["collation"], command: command) }
        }
        if command == "explain", case .document(let inner)? = body["explain"], let name = inner.fieldNames.first {
            try check(inner, command: name)
        }
    }

    static func checkOne(_ value: BSON?, command: String) throws(FolioError) {
        guard let value, value.type != .null else { return }
        guard case .document(let spec) = value else {
            throw FolioError(.typeMismatch, "BSON field '\(command).collation' is the wrong type '\(value.type.alias)', expected type 'object'")
        }
        for k in spec.fieldNames where !fields.contains(k) {
            throw FolioError(ErrorCode(rawValue: 40415), "BSON field 'Collation.\(k)' is an unknown field.")
        }
        guard let locale = spec["locale"] else {
            throw FolioError(ErrorCode(rawValue: 40414), "BSON field 'Collation.locale' is missing but a required field")
        }
        guard case .string(let name) = locale else {
            throw FolioError(.typeMismatch, "BSON field 'Collation.locale' is the wrong type '\(locale.type.alias)', expected type 'string'")
        }
        if name == "simple" {
            guard spec.count == 1 else {
                throw FolioError(.badValue, "If 'locale' is set to 'simple', no other fields may be specified")
            }
            return
        }
        throw FolioError(.commandNotSupported, "collation {locale: \"\(name)\"} is not supported by Folio yet; only the simple (binary) collation is")
    }
}
