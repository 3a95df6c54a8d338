import FolioBSON
import FolioGeo

/// A predicate an index can answer, in the planner's terms.
public enum IndexablePredicate: Sendable {
    /// `{a: v}`, `{a: {$eq: v}}`.
    case equality(BSON)
    /// `$gt/$gte/$lt/$lte`, one or both bounds (bounds stay within the operand's type bracket).
    case range(lower: BSON?, lowerInclusive: Bool, upper: BSON?, upperInclusive: Bool)
    /// `$in` values (point intervals); regexes in the list make it unindexable here.
    case inList([BSON])
    /// An anchored, case-sensitive regex: the scan is bounded by its literal prefix.
    case regexPrefix(String)
    /// `$exists`.
    case exists(Bool)
    /// `$elemMatch` on the path (the index may serve its inner predicates).
    case elemMatch
    /// `$geoWithin` / `$geoIntersects` (a 2dsphere index covers its region).
    case geo(GeoPredicate)
}

extension MatchExpression {
    /// The conjunction's indexable predicates per top-level path (of `$and` and implicit
    /// ANDs). Predicates not listed (negations, `$expr`, `$or` branches, ...) stay as filters.
    public var indexablePredicates: [(FieldPath, [IndexablePredicate])] {
        var out: [(FieldPath, [IndexablePredicate])] = []
        func add(_ path: FieldPath, _ p: IndexablePredicate) {
            if let i = out.firstIndex(where: { $0.0 == path }) { out[i].1.append(p) } else { out.append((path, [p])) }
        }
        func visit(_ e: MatchExpression) {
            switch e {
            case .and(let children): children.forEach(visit)
            case .path(let path, let predicates):
                for p in predicates {
                    switch p {
                    case .eq(let v): add(path, .equality(v))
                    case .gt(let v): add(path, .range(lower: v, lowerInclusive: false, upper: nil, upperInclusive: false))
                    case .gte(let v): add(path, .range(lower: v, lowerInclusive: true, upper: nil, upperInclusive: false))
                    case .lt(let v): add(path, .range(lower: nil, lowerInclusive: false, upper: v, upperInclusive: false))
                    case .lte(let v): add(path, .range(lower: nil, lowerInclusive: false, upper: v, upperInclusive: true))
                    case .in(let list) where list.regexes.isEmpty: add(path, .inList(list.values))
                    case .regex(let r): if let prefix = r.literalPrefix { add(path, .regexPrefix(prefix)) }
                    case .exists(let b): add(path, .exists(b))
                    case .elemMatchDocument, .elemMatchValue: add(path, .elemMatch)
                    case .geo(let g) where g.near == nil: add(path, .geo(g))
                    default: continue
                    }
                }
            default: return
            }
        }
        visit(self)
        return out
    }
}
