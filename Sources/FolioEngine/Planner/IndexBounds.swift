import FolioBSON
import FolioQuery
import FolioStorage

// Index bounds: from a filter's indexable predicates to the key ranges an index scan reads.
//
// Each field gets a list of intervals in ascending KeyString space. A bound is a byte string
// and an inclusivity; a complete value encoding bounds exactly that value, and a bare type
// tag or a literal regex prefix bounds every key that starts with it (a type bracket, a
// prefix). Descending fields invert the bytes and swap the ends. Compound ranges are the
// cartesian product of the leading point fields, then the first non-point field's
// intervals; later fields are left to the fetch filter.
//
// Correctness rests on one rule: bounds are never narrower than what the filter matches
// (the filter always runs again on the fetched document). So multikey fields never
// intersect two range predicates, array and null operands on multikey indexes are not
// bounded, and operands whose type brackets are unusual are left unbounded.

/// One end of an interval.
struct KeyBound: Equatable {
    var bytes: [UInt8]
    var inclusive: Bool
}

/// An interval of one index field, ascending, with MongoDB's printed form.
struct FieldInterval {
    var lower: KeyBound?
    var upper: KeyBound?
    /// A single complete value (`[v, v]`): later fields can be compounded after it.
    var isPoint: Bool
    /// Whether null (and so missing fields) falls inside.
    var includesNull: Bool
    var lowerText: String
    var upperText: String
    /// How the upper end prints when it differs from the bound (a prefix prints as `[p, q)`).
    var upperPrintedInclusive: Bool?

    static let all = FieldInterval(lower: nil, upper: nil, isPoint: false, includesNull: true, lowerText: "MinKey", upperText: "MaxKey",
                                   upperPrintedInclusive: nil)

    static func point(_ v: BSON) -> FieldInterval {
        let b = KeyString.encode(v)
        let t = BoundText.value(v)
        return FieldInterval(lower: KeyBound(bytes: b, inclusive: true), upper: KeyBound(bytes: b, inclusive: true),
                             isPoint: true, includesNull: v.type == .null, lowerText: t, upperText: t, upperPrintedInclusive: nil)
    }

    /// The printed interval in scan order for a field of this direction.
    func text(ascending: Bool) -> String {
        let li = lower?.inclusive ?? true, ui = upperPrintedInclusive ?? upper?.inclusive ?? true
        if ascending { return (li ? "[" : "(") + lowerText + ", " + upperText + (ui ? "]" : ")") }
        return (ui ? "[" : "(") + upperText + ", " + lowerText + (li ? "]" : ")")
    }
}

/// MongoDB's printed bounds (`inf.0`, `"a"`, `ObjectId('…')`).
enum BoundText {
    static func value(_ v: BSON) -> String {
        switch v {
        case .double(let d) where d.isInfinite: return d < 0 ? "-inf.0" : "inf.0"
        case .double(let d) where d.isNaN: return "nan.0"
        case .double(let d) where d.rounded() == d && abs(d) < 1e15: return String(Int64(d)) + ".0"
        case .minKey: return "MinKey"
        case .maxKey: return "MaxKey"
        case .undefined: return "undefined"
        default: return ShellFormat.value(v)
        }
    }

    /// The lowest and highest printed values of a type bracket.
    static func bracket(_ type: BSONType) -> (String, String) {
        switch type {
        case .double, .int32, .int64, .decimal128: return ("-inf.0", "inf.0")
        case .string, .symbol: return ("\"\"", "{}")
        case .document: return ("{}", "[]")
        case .objectID: return ("ObjectId('000000000000000000000000')", "ObjectId('ffffffffffffffffffffffff')")
        case .datetime: return ("new Date(-9223372036854775808)", "new Date(9223372036854775807)")
        case .bool: return ("false", "true")
        case .timestamp: return ("Timestamp(0, 0)", "Timestamp(4294967295, 4294967295)")
        case .binary: return ("BinData(0, )", "BinData(128, )")
        default: return ("MinKey", "MaxKey")
        }
    }
}

enum IndexBounds {
    /// Operand types whose range predicates stay inside one KeyString tag.
    static func boundable(_ v: BSON) -> Bool {
        switch v.type {
        case .double, .int32, .int64, .decimal128, .string, .symbol, .objectID, .datetime, .bool, .timestamp, .binary, .document:
            return true
        default:
            return false
        }
    }

    /// The intervals one field's predicates allow, or nil when they do not bound it.
    static func intervals(_ predicates: [IndexablePredicate], multikey: Bool) -> [FieldInterval]? {
        for case .equality(let v) in predicates {
            if v.type == .array || v.type == .regex || (multikey && (v.type == .null || v.type == .undefined)) { continue }
            return [.point(v)]
        }
        for case .inList(let values) in predicates {
            if values.contains(where: { $0.type == .array || $0.type == .regex || (multikey && ($0.type == .null || $0.type == .undefined)) }) { continue }
            var seen = Set<[UInt8]>()
            let points = values.filter { seen.insert(KeyString.encode($0)).inserted }
                .sorted { compareKeys(KeyString.encode($0), KeyString.encode($1)) < 0 }
            return points.map(FieldInterval.point)
        }
        var range: FieldInterval?
        for case .range(let lower, let lowerInclusive, let upper, let upperInclusive) in predicates {
            let operand = lower ?? upper!
            guard boundable(operand) else { continue }
            let tag = KeyString.encode(operand)[0]
            let (lowText, highText) = BoundText.bracket(operand.type)
            // MongoDB ends the string and object brackets at the next type's least value, which
            // it prints as an open bound (`["a", {})`).
            var next = range ?? FieldInterval(lower: KeyBound(bytes: [tag], inclusive: true), upper: KeyBound(bytes: [tag], inclusive: true),
                                              isPoint: false, includesNull: false, lowerText: lowText, upperText: highText,
                                              upperPrintedInclusive: ["{}", "[]"].contains(highText) ? false : nil)
            // A second range narrows the first only within one type bracket, and never on a
            // multikey field (one element may satisfy each bound).
            if range != nil && (multikey || next.lower!.bytes.first != tag) { continue }
            if let lower {
                let b = KeyBound(bytes: KeyString.encode(lower), inclusive: lowerInclusive)
                if range == nil || tighterLower(b, than: next.lower!) { next.lower = b; next.lowerText = BoundText.value(lower) }
            }
            if let upper {
                let b = KeyBound(bytes: KeyString.encode(upper), inclusive: upperInclusive)
                if range == nil || tighterUpper(b, than: next.upper!) {
                    next.upper = b
                    next.upperText = BoundText.value(upper)
                    next.upperPrintedInclusive = nil
                }
            }
            range = next
        }
        if let range { return [range] }
        for case .regexPrefix(let prefix) in predicates {
            var bytes = [KeyString.encode(.string(""))[0]]
            for b in prefix.utf8 {
                bytes.append(b)
                if b == 0 { bytes.append(0xFF) }
            }
            var successor = Array(prefix.unicodeScalars)
            let upperText: String
            if let last = successor.popLast(), let next = Unicode.Scalar(last.value + 1) {
                upperText = BoundText.value(.string(String(String.UnicodeScalarView(successor)) + String(next)))
            } else {
                upperText = "{}"
            }
            return [FieldInterval(lower: KeyBound(bytes: bytes, inclusive: true), upper: KeyBound(bytes: bytes, inclusive: true),
                                  isPoint: false, includesNull: false, lowerText: BoundText.value(.string(prefix)),
                                  upperText: upperText, upperPrintedInclusive: false)]
        }
        return nil
    }

    /// The intervals of a hashed field: equality and `$in` become points of the operands'
    /// hashes (the fetch filter weeds out collisions); ranges and prefixes cannot be answered.
    static func hashedIntervals(_ predicates: [IndexablePredicate]) -> [FieldInterval]? {
        func hashable(_ v: BSON) -> Bool { v.type != .array && v.type != .regex }
        func point(_ v: BSON) -> FieldInterval {
            var p = FieldInterval.point(.int64(v.hashedIndexKey))
            p.includesNull = v.type == .null
            return p
        }
        for case .equality(let v) in predicates where hashable(v) { return [point(v)] }
        for case .inList(let values) in predicates where values.allSatisfy(hashable) {
            return values.map(point).sorted { compareKeys($0.lower!.bytes, $1.lower!.bytes) < 0 }
                .reduce(into: []) { out, p in if out.last?.lower != p.lower { out.append(p) } }
        }
        return nil
    }

    /// The bounds of a wildcard index expanded for `path`: `$_path` pinned to the path and
    /// the value bounded as in an ordinary index. Predicates a wildcard index cannot answer
    /// (null, documents, arrays: a document's fields are keyed under their own paths) are
    /// left to the filter; `$exists: true` alone scans the path and every path under it.
    /// Nil when nothing bounds the path.
    static func wildcardIntervals(_ path: String, _ predicates: [IndexablePredicate], multikey: Bool) -> [[FieldInterval]?]? {
        func answerable(_ v: BSON) -> Bool {
            ![.null, .undefined, .array, .document, .regex, .minKey, .maxKey].contains(v.type)
        }
        let usable = predicates.filter { p in
            switch p {
            case .equality(let v): return answerable(v)
            case .inList(let values): return values.allSatisfy(answerable)
            case .range(let lower, _, let upper, _): return answerable(lower ?? upper!)
            case .regexPrefix: return true
            default: return false
            }
        }
        let pathPoint = FieldInterval.point(.string(path))
        if let values = intervals(usable, multikey: multikey), !values.contains(where: \.includesNull) {
            return [[pathPoint], values]
        }
        guard predicates.contains(where: { if case .exists(true) = $0 { return true }; return false }) else { return nil }
        let below = FieldInterval(lower: KeyBound(bytes: KeyString.encode(.string(path + ".")), inclusive: true),
                                  upper: KeyBound(bytes: KeyString.encode(.string(path + "/")), inclusive: false),
                                  isPoint: false, includesNull: false, lowerText: BoundText.value(.string(path + ".")),
                                  upperText: BoundText.value(.string(path + "/")), upperPrintedInclusive: nil)
        return [[pathPoint, below], [.all]]
    }

    /// Whether a field's bounds match exactly the values its predicates accept: a single
    /// equality or `$in` of plain values, or ranges within one type bracket (only one range
    /// on a multikey field, where ranges are not intersected).
    static func exact(_ predicates: [IndexablePredicate], multikey: Bool) -> Bool {
        func plain(_ v: BSON) -> Bool {
            if case .double(let d) = v, d.isNaN { return false }
            return boundable(v) && v.type != .document
        }
        if predicates.count == 1 {
            if case .equality(let v) = predicates[0] { return plain(v) }
            if case .inList(let values) = predicates[0] { return !values.isEmpty && values.allSatisfy(plain) }
        }
        var tag: UInt8?
        for p in predicates {
            guard case .range(let lower, _, let upper, _) = p, let v = lower ?? upper, plain(v) else { return false }
            let t = KeyString.encode(v)[0]
            if let tag, tag != t { return false }
            tag = t
        }
        return predicates.count == 1 || !multikey
    }

    static func tighterLower(_ a: KeyBound, than b: KeyBound) -> Bool {
        let c = compareKeys(a.bytes, b.bytes)
        return c > 0 || (c == 0 && !a.inclusive)
    }

    static func tighterUpper(_ a: KeyBound, than b: KeyBound) -> Bool {
        // A bare tag bound covers its whole bracket, so any value bound is tighter.
        if b.bytes.count == 1 { return true }
        let c = compareKeys(a.bytes, b.bytes)
        return c < 0 || (c == 0 && !a.inclusive)
    }

    /// The bounds per field as explain prints them (`indexBounds`), in ascending key order.
    /// Only explain needs them: scans keep the inputs and print on demand.
    static func printed(_ fields: [IndexField], _ perField: [[FieldInterval]?]) -> Document {
        var printed = Document()
        for (i, f) in fields.enumerated() {
            let intervals = perField[i] ?? [.all]
            let ordered = f.ascending ? intervals : intervals.reversed()
            printed.append(f.path.dotted, .array(ordered.map { .string($0.text(ascending: f.ascending)) }))
        }
        return printed
    }

    /// The key ranges of an index scan, in ascending key order.
    static func ranges(_ fields: [IndexField], _ perField: [[FieldInterval]?]) -> [KeyRange] {
        var prefixes: [[UInt8]] = [[]]
        var ranges: [KeyRange] = []
        var closed = false
        for (i, f) in fields.enumerated() {
            guard let intervals = perField[i] else { break }
            if intervals.allSatisfy(\.isPoint) && prefixes.count * intervals.count <= 4096 {
                prefixes = prefixes.flatMap { p in intervals.map { p + directed($0.lower!.bytes, f.ascending) } }
                continue
            }
            for p in prefixes {
                for interval in intervals {
                    var lower = interval.lower, upper = interval.upper
                    if !f.ascending {
                        (lower, upper) = (upper.map { KeyBound(bytes: directed($0.bytes, false), inclusive: $0.inclusive) },
                                          lower.map { KeyBound(bytes: directed($0.bytes, false), inclusive: $0.inclusive) })
                    }
                    ranges.append(range(prefix: p, lower: lower, upper: upper))
                }
            }
            closed = true
            break
        }
        if !closed { ranges = prefixes.map { range(prefix: $0, lower: nil, upper: nil) } }
        ranges.sort { a, b in
            guard let x = a.lower else { return b.lower != nil }
            guard let y = b.lower else { return false }
            return compareKeys(x, y) < 0
        }
        return ranges
    }

    static func directed(_ bytes: [UInt8], _ ascending: Bool) -> [UInt8] { ascending ? bytes : bytes.map { ~$0 } }

    /// The key range for keys starting with `prefix` whose next field lies between the bounds.
    static func range(prefix p: [UInt8], lower: KeyBound?, upper: KeyBound?) -> KeyRange {
        var r = KeyRange()
        if let lower {
            if lower.inclusive { r.lower = p + lower.bytes } else { r.lower = KeyRange.successor(ofPrefix: p + lower.bytes) }
            r.lowerInclusive = true
        } else {
            r.lower = p.isEmpty ? nil : p
        }
        if let upper {
            if upper.inclusive { r.upper = KeyRange.successor(ofPrefix: p + upper.bytes) } else { r.upper = p + upper.bytes }
        } else {
            r.upper = p.isEmpty ? nil : KeyRange.successor(ofPrefix: p)
        }
        r.upperInclusive = false
        return r
    }
}
