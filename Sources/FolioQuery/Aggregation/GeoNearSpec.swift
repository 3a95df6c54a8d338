import FolioBSON
import FolioGeo

/// `$geoNear`: a near search over the collection's 2dsphere index (as MongoDB runs it: the
/// `query` plus `{key: {$nearSphere | $near: near, $minDistance, $maxDistance}}`), each
/// document given its distance (times `distanceMultiplier`) and, with `includeLocs`, the
/// location measured to.
public struct GeoNearSpec: Sendable {
    public var predicate: GeoPredicate
    public var near: NearQuery
    public var distanceField: FieldPath
    public var includeLocs: FieldPath?
    public var distanceMultiplier: Double
    public var query: MatchExpression
    /// `key`: the indexed path to search (nil: the collection's only geo index decides).
    public var key: String?
    public var options: Document

    public init(parsing options: Document, constants: [String: BSON], collator: (any Collator)?) throws(FolioError) {
        self.options = options
        if options["limit"] != nil { throw FolioError(ErrorCode(rawValue: 50858), "$geoNear no longer supports the 'limit' parameter. Use a $limit stage instead.") }
        if options["num"] != nil { throw FolioError(ErrorCode(rawValue: 50857), "$geoNear no longer supports the 'num' parameter. Use a $limit stage instead.") }
        if options["start"] != nil { throw FolioError(ErrorCode(rawValue: 50856), "$geoNear no longer supports the 'start' argument.") }
        guard let nearValue = options["near"] else { throw FolioError(ErrorCode(rawValue: 5860400), "$geoNear requires a 'near' argument") }
        guard case .string(let distanceField) = options["distanceField"] ?? .null else {
            throw FolioError(ErrorCode(rawValue: 16606), "$geoNear requires a 'distanceField' option as a String")
        }
        self.distanceField = FieldPath(distanceField)
        func number(_ name: String) throws(FolioError) -> Double? {
            guard let v = options[name] else { return nil }
            guard v.isNumber, let d = v.asDouble else { throw FolioError(.typeMismatch, "\(name) must be a number") }
            if !(d >= 0) { throw FolioError(.badValue, "\(name) must be nonnegative") }
            return d
        }
        let maxDistance = try number("maxDistance"), minDistance = try number("minDistance")
        distanceMultiplier = try number("distanceMultiplier") ?? 1
        if let q = options["query"] {
            guard case .document(let d) = q else { throw FolioError(.typeMismatch, "query must be an object") }
            query = try MatchExpression(parsing: d, constants: constants, collator: collator)
            if query.containsNear {
                throw FolioError(.badValue, "$geoNear 'query' may not contain $near or $nearSphere")
            }
        } else {
            query = .alwaysTrue
        }
        let spherical = options["spherical"]?.isTruthy ?? false
        if let l = options["includeLocs"] {
            guard case .string(let s) = l else { throw FolioError(ErrorCode(rawValue: 16607), "$geoNear requires that 'includeLocs' option is a String") }
            includeLocs = FieldPath(s)
        }
        if let k = options["key"] {
            guard case .string(let s) = k else {
                throw FolioError(.typeMismatch, "$geoNear parameter 'key' must be of type string but found type: \(k.type.alias)")
            }
            if s.isEmpty { throw FolioError(.badValue, "$geoNear parameter 'key' cannot be the empty string") }
            key = s
        }
        var operators = Document()
        switch nearValue {
        case .document, .array: operators.append(spherical ? "$nearSphere" : "$near", nearValue)
        default: throw FolioError(ErrorCode(rawValue: 5860401), "$geoNear requires near argument to be a GeoJSON object or a legacy point(array)")
        }
        if let minDistance { operators.append("$minDistance", .double(minDistance)) }
        if let maxDistance { operators.append("$maxDistance", .double(maxDistance)) }
        if case .document(let d) = nearValue, d["type"] != nil {
            // A GeoJSON point goes under `$geometry`, as the query form writes it.
            operators = [spherical ? "$nearSphere" : "$near": .document(["$geometry": nearValue])]
            if let minDistance { operators.append("$minDistance", .double(minDistance)) }
            if let maxDistance { operators.append("$maxDistance", .double(maxDistance)) }
        }
        predicate = try MatchParser.geo { () throws(GeoError) in try GeoPredicate.near(operators) }
        near = predicate.near!
    }

    /// The filter of the search over the index on `path`.
    public func filter(path: FieldPath) -> MatchExpression {
        .and([query, .path(path, [.geo(predicate)])])
    }
}
