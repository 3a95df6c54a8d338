import FolioBSON

/// Matching of actual results against the unified test format's expectations
/// (mongodb/specifications unified-test-format.md, "Evaluating Matches"): numbers by value
/// across int32/int64/double, extra fields allowed only in root documents, and the special
/// operators `$$exists`, `$$type`, `$$unsetOrMatches`.
public enum UnifiedMatcher {
    /// Why `actual` does not match `expected`, or nil when it does.
    public static func mismatch(_ expected: BSON, _ actual: BSON?, root: Bool = true, path: String = "") -> String? {
        if case .document(let e) = expected, let op = e.fieldNames.first, op.hasPrefix("$$"), e.count == 1 {
            let arg = e[op]!
            switch op {
            case "$$exists":
                return (actual != nil) == arg.isTruthyForTest ? nil : "\(path): $$exists \(arg) but got \(actual.map { "\($0)" } ?? "missing")"
            case "$$unsetOrMatches":
                guard let actual else { return nil }
                return mismatch(arg, actual, root: root, path: path)
            case "$$type":
                guard let actual else { return "\(path): missing, wanted type \(arg)" }
                let names: [String] = arg.arrayValue?.compactMap(\.stringValue) ?? [arg.stringValue ?? ""]
                return names.contains(actual.type.alias) || (names.contains("number") && actual.isNumber) ? nil : "\(path): type \(actual.type.alias) not in \(names)"
            default:
                return "\(path): unsupported special operator \(op)"
            }
        }
        guard let actual else { return "\(path): missing, wanted \(expected)" }
        switch (expected, actual) {
        case (.document(let e), .document(let a)):
            for (k, v) in e {
                if let m = mismatch(v, a[k], root: false, path: path + "." + k) { return m }
            }
            if !root {
                for k in a.fieldNames where e[k] == nil { return "\(path): unexpected field \(k)" }
            }
            return nil
        case (.array(let e), .array(let a)):
            guard e.count == a.count else { return "\(path): \(a.count) elements, wanted \(e.count): \(actual)" }
            for i in 0..<e.count {
                // Documents directly in a result array (find results) are root documents.
                if let m = mismatch(e[i], a[i], root: root, path: path + "[\(i)]") { return m }
            }
            return nil
        default:
            if expected.isNumber && actual.isNumber && expected.type != .decimal128 && actual.type != .decimal128 {
                return BSON.compare(expected, actual) == 0 ? nil : "\(path): \(actual) != \(expected)"
            }
            return expected == actual ? nil : "\(path): \(actual) != \(expected)"
        }
    }
}

extension BSON {
    var isTruthyForTest: Bool {
        switch self {
        case .bool(let b): return b
        case .int32(let i): return i != 0
        default: return true
        }
    }
}
