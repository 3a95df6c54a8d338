// Values as mongod prints them inside error messages.

/// Values printed the way mongod prints them in messages (`ObjectId('…')`, `"text"`).
public enum ShellFormat {
    public static func value(_ v: BSON) -> String {
        switch v {
        case .string(let s): return "\"" + s + "\""
        case .objectID(let o): return "ObjectId('\(o.hex)')"
        case .int32(let i): return String(i)
        case .int64(let i): return String(i)
        case .double(let d):
            let s = ExtendedJSON.formatDouble(d)
            return s.hasSuffix(".0") ? String(s.dropLast(2)) : s
        case .decimal128(let d): return "NumberDecimal(\"\(d)\")"
        case .bool(let b): return b ? "true" : "false"
        case .null: return "null"
        case .datetime(let ms): return "new Date(\(ms))"
        case .document(let d): return d.isEmpty ? "{}" : "{ " + d.map { "\($0.key): \(value($0.value))" }.joined(separator: ", ") + " }"
        case .array(let a): return "[ " + a.map(value).joined(separator: ", ") + " ]"
        default: return v.description
        }
    }
}

