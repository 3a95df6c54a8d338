// BSON -> Extended JSON v2.

extension ExtendedJSON {
    /// The Extended JSON text of a document.
    public static func string(from document: Document, mode: Mode = .relaxed) -> String {
        json(from: .document(document), mode: mode).text
    }

    /// The Extended JSON form of a value.
    public static func json(from value: BSON, mode: Mode) -> JSONValue {
        func wrap(_ key: String, _ v: JSONValue) -> JSONValue { .object([(key, v)]) }
        switch value {
        case .double(let d):
            if mode == .relaxed && d.isFinite { return .number(formatDouble(d)) }
            return wrap("$numberDouble", .string(formatDouble(d)))
        case .string(let s): return .string(s)
        case .document(let doc):
            return .object(doc.map { ($0.key, json(from: $0.value, mode: mode)) })
        case .array(let a): return .array(a.map { json(from: $0, mode: mode) })
        case .binary(let b):
            return wrap("$binary", .object([("base64", .string(Base64.encode(b.data))),
                                            ("subType", .string(hexByte(b.subtype)))]))
        case .undefined: return wrap("$undefined", .bool(true))
        case .objectID(let o): return wrap("$oid", .string(o.hex))
        case .bool(let b): return .bool(b)
        case .datetime(let ms):
            if mode == .relaxed && ms >= 0 && ms <= 253_402_300_799_999 {
                return wrap("$date", .string(CivilTime(millisecondsSinceEpoch: ms).iso8601))
            }
            return wrap("$date", wrap("$numberLong", .string(String(ms))))
        case .null: return .null
        case .regex(let r):
            return wrap("$regularExpression", .object([("pattern", .string(r.pattern)),
                                                       ("options", .string(r.sortedOptions))]))
        case .dbPointer(let ns, let id):
            return wrap("$dbPointer", .object([("$ref", .string(ns)), ("$id", wrap("$oid", .string(id.hex)))]))
        case .javascript(let code): return wrap("$code", .string(code))
        case .symbol(let s): return wrap("$symbol", .string(s))
        case .javascriptWithScope(let code, let scope):
            return .object([("$code", .string(code)), ("$scope", json(from: .document(scope), mode: mode))])
        case .int32(let v):
            return mode == .relaxed ? .number(String(v)) : wrap("$numberInt", .string(String(v)))
        case .timestamp(let t):
            return wrap("$timestamp", .object([("t", .number(String(t.seconds))), ("i", .number(String(t.increment)))]))
        case .int64(let v):
            return mode == .relaxed ? .number(String(v)) : wrap("$numberLong", .string(String(v)))
        case .decimal128(let d): return wrap("$numberDecimal", .string(d.description))
        case .minKey: return wrap("$minKey", .number("1"))
        case .maxKey: return wrap("$maxKey", .number("1"))
        }
    }

    static func hexByte(_ b: UInt8) -> String {
        let digits = Array("0123456789abcdef")
        return String([digits[Int(b >> 4)], digits[Int(b & 0xF)]])
    }

    /// Shortest round-tripping text with a mandatory fraction or exponent, `E` for exponents:
    /// `1.0`, `-0.0`, `1.2345678921232E+18`, `Infinity`, `NaN`.
    public static func formatDouble(_ d: Double) -> String {
        if d.isNaN { return "NaN" }
        if d.isInfinite { return d < 0 ? "-Infinity" : "Infinity" }
        var s = d.description
        if let e = s.firstIndex(of: "e") {
            var mantissa = String(s[..<e])
            var exponent = String(s[s.index(after: e)...])
            if !mantissa.contains(".") { mantissa += ".0" }
            if !exponent.hasPrefix("-") && !exponent.hasPrefix("+") { exponent = "+" + exponent }
            s = mantissa + "E" + exponent
        } else if !s.contains(".") {
            s += ".0"
        }
        return s
    }
}

extension Document: CustomStringConvertible {
    /// Relaxed Extended JSON.
    public var description: String { ExtendedJSON.string(from: self, mode: .relaxed) }
}

extension BSON: CustomStringConvertible {
    /// Relaxed Extended JSON of the value.
    public var description: String { ExtendedJSON.json(from: self, mode: .relaxed).text }
}
