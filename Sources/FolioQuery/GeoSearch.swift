// Where geo operators may appear in a filter, and the filter's `$near` for the planner.

import FolioBSON
import FolioGeo

extension MatchExpression {
    /// The filter's `$near`/`$nearSphere` and its path (at the top, or under the top `$and`).
    public var nearSearch: (path: FieldPath, predicate: GeoPredicate)? {
        switch self {
        case .path(let path, let predicates):
            for case .geo(let g) in predicates where g.near != nil { return (path, g) }
            return nil
        case .and(let children): return children.lazy.compactMap(\.nearSearch).first
        default: return nil
        }
    }

    /// The filter without its `$near` (what the documents a near search finds must also match).
    public var withoutNear: MatchExpression {
        switch self {
        case .path(let path, let predicates):
            let kept = predicates.filter { if case .geo(let g) = $0, g.near != nil { return false }; return true }
            return kept.isEmpty ? .alwaysTrue : .path(path, kept)
        case .and(let children): return .and(children.map(\.withoutNear))
        default: return self
        }
    }

    /// `$near` at most once, and only where a near search can answer it: not under `$or`,
    /// `$nor`, `$not` or `$elemMatch` (MongoDB's BadValue).
    func checkNearPlacement() throws(FolioError) {
        var count = 0
        func nested(_ predicates: [PathPredicate]) -> Bool {
            predicates.contains { p in
                switch p {
                case .geo(let g): return g.near != nil
                case .not(let inner), .elemMatchValue(let inner), .all(let inner): return nested(inner)
                case .elemMatchDocument(let e): return e.containsNear
                default: return false
                }
            }
        }
        func walk(_ e: MatchExpression, top: Bool) throws(FolioError) {
            switch e {
            case .path(_, let predicates):
                for p in predicates {
                    if case .geo(let g) = p, g.near != nil {
                        count += 1
                        if count > 1 { throw FolioError(.badValue, "Too many geoNear expressions") }
                        if !top { throw FolioError(.badValue, "geoNear must be top-level expr") }
                    } else if nested([p]) {
                        throw FolioError(.badValue, "geoNear must be top-level expr")
                    }
                }
            case .and(let children): for c in children { try walk(c, top: top) }
            case .or(let children), .nor(let children): for c in children { try walk(c, top: false) }
            default: break
            }
        }
        try walk(self, top: true)
    }

    /// Whether a `$near`/`$nearSphere` appears anywhere.
    public var containsNear: Bool {
        switch self {
        case .path(_, let predicates):
            return predicates.contains { p in
                if case .geo(let g) = p { return g.near != nil }
                if case .elemMatchDocument(let e) = p { return e.containsNear }
                return false
            }
        case .and(let c), .or(let c), .nor(let c): return c.contains(where: \.containsNear)
        default: return false
        }
    }
}
