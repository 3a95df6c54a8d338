import FolioBSON

// Update diffs as MongoDB's oplog records them since 5.0 (`{$v: 2, diff: ...}`), and the
// `updateDescription` a change stream derives from one.
//
// A document diff has up to four kinds of fields: `d` (fields removed: `{name: false}`),
// `u` (fields whose value changed: `{name: value}`), `i` (fields added: `{name: value}`),
// and `s<name>` (a sub-diff of an embedded document or array). An array diff has `a: true`,
// `l: <new length>` when the array shrank, `u<index>` (an element's new value) and
// `s<index>` (a sub-diff of an element).
//
// Differences from MongoDB: MongoDB logs a modifier update from the paths its operators
// named (`$set: {a: {...}}` logs `a` whole); this diff compares the two versions, so it
// names the innermost fields that changed (`a.c`). Applying either gives the same document.

public enum DocumentDiff {
    /// The diff that turns `before` into `after` (nil when they are equal).
    public static func compute(_ before: Document, _ after: Document) -> Document? {
        let d = objectDiff(before, after)
        return d.isEmpty ? nil : d
    }

    static func objectDiff(_ before: Document, _ after: Document) -> Document {
        var deleted = Document(), updated = Document(), inserted = Document(), sub = Document()
        for (name, _) in before where after[name] == nil { deleted.append(name, .bool(false)) }
        for (name, value) in after {
            guard let old = before[name] else {
                inserted.append(name, value)
                continue
            }
            if old == value { continue }
            switch (old, value) {
            case (.document(let a), .document(let b)):
                sub.append("s" + name, .document(objectDiff(a, b)))
            case (.array(let a), .array(let b)):
                sub.append("s" + name, .document(arrayDiff(a, b)))
            default:
                updated.append(name, value)
            }
        }
        var diff = Document()
        if !deleted.isEmpty { diff.append("d", .document(deleted)) }
        if !updated.isEmpty { diff.append("u", .document(updated)) }
        if !inserted.isEmpty { diff.append("i", .document(inserted)) }
        for (k, v) in sub { diff.append(k, v) }
        return diff
    }

    static func arrayDiff(_ before: [BSON], _ after: [BSON]) -> Document {
        var diff: Document = ["a": .bool(true)]
        if after.count < before.count { diff.append("l", .int32(Int32(clamping: after.count))) }
        for (i, value) in after.enumerated() {
            guard i < before.count else {
                diff.append("u\(i)", value)
                continue
            }
            let old = before[i]
            if old == value { continue }
            switch (old, value) {
            case (.document(let a), .document(let b)): diff.append("s\(i)", .document(objectDiff(a, b)))
            case (.array(let a), .array(let b)): diff.append("s\(i)", .document(arrayDiff(a, b)))
            default: diff.append("u\(i)", value)
            }
        }
        return diff
    }

    /// A change stream's `updateDescription` for a diff: `updatedFields` and `removedFields`
    /// by dotted path, `truncatedArrays` (`{field, newSize}`), and with `disambiguate` the
    /// `disambiguatedPaths` of paths a reader could not split by dots alone (a field name that
    /// is a number or holds a dot), their array indexes as integers.
    public static func updateDescription(_ diff: Document, disambiguate: Bool) -> Document {
        var walk = DescriptionWalk()
        walk.object(diff, path: [])
        var d: Document = ["updatedFields": .document(walk.updated), "removedFields": .array(walk.removed),
                           "truncatedArrays": .array(walk.truncated)]
        if disambiguate { d.append("disambiguatedPaths", .document(walk.disambiguated)) }
        return d
    }

    private enum Component {
        case field(String)
        case index(Int)

        var text: String {
            switch self {
            case .field(let s): return s
            case .index(let i): return String(i)
            }
        }
    }

    private struct DescriptionWalk {
        var updated = Document(), removed: [BSON] = [], truncated: [BSON] = [], disambiguated = Document()

        mutating func note(_ path: [Component]) -> String {
            let dotted = path.map(\.text).joined(separator: ".")
            let ambiguous = path.contains { c in
                switch c {
                case .index: return false
                case .field(let s): return s.contains(".") || (!s.isEmpty && s.allSatisfy(\.isASCIIDigit))
                }
            }
            if ambiguous {
                disambiguated.append(dotted, .array(path.map { c -> BSON in
                    switch c {
                    case .field(let s): return .string(s)
                    case .index(let i): return .int32(Int32(clamping: i))
                    }
                }))
            }
            return dotted
        }

        mutating func object(_ diff: Document, path: [Component]) {
            if case .document(let d)? = diff["d"] { for (k, _) in d { removed.append(.string(note(path + [.field(k)]))) } }
            for section in ["u", "i"] {
                if case .document(let u)? = diff[section] { for (k, v) in u { updated.append(note(path + [.field(k)]), v) } }
            }
            for (k, v) in diff where k.hasPrefix("s") && k.count > 1 {
                guard case .document(let sub) = v else { continue }
                let child = path + [.field(String(k.dropFirst()))]
                if sub["a"] == .bool(true) { array(sub, path: child) } else { object(sub, path: child) }
            }
        }

        mutating func array(_ diff: Document, path: [Component]) {
            if let l = diff["l"], let n = l.safeInt64 {
                truncated.append(.document(["field": .string(note(path)), "newSize": .int32(Int32(clamping: n))]))
            }
            for (k, v) in diff {
                guard k.count > 1, let i = Int(k.dropFirst()) else { continue }
                let child = path + [.index(i)]
                if k.hasPrefix("u") {
                    updated.append(note(child), v)
                } else if k.hasPrefix("s"), case .document(let sub) = v {
                    if sub["a"] == .bool(true) { array(sub, path: child) } else { object(sub, path: child) }
                }
            }
        }
    }
}

private extension Character {
    var isASCIIDigit: Bool { isASCII && isNumber }
}
