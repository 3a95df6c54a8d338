import FolioBSON

/// A parsed aggregation pipeline: stages in order, each validated with MongoDB's errors.
/// Execution (collection access, spilling, `$lookup`, `$out`) belongs to the engine; this
/// type and its stages are pure.
public struct AggregationPipeline: Sendable {
    public var stages: [AggregationStage]

    public init(stages: [AggregationStage]) { self.stages = stages }

    /// Parses a pipeline. `constants` are the command's `let` variables (and `$lookup`'s);
    /// `nested` marks a `$lookup`/`$facet`/`$unionWith` sub-pipeline.
    /// `collator` is the command's collation (nil: binary).
    public init(parsing pipeline: [BSON], constants: [String: BSON] = [:], nested: Nesting = .top,
                collator: (any Collator)? = nil) throws(FolioError) {
        var stages: [AggregationStage] = []
        for (i, value) in pipeline.enumerated() {
            guard case .document(let d) = value else {
                throw FolioError(.typeMismatch, "Each element of the 'pipeline' array must be an object")
            }
            let parsed = try AggregationStage.parse(d, constants: constants, nested: nested, collator: collator)
            for stage in parsed {
                if nested == .facet, !stage.allowedInFacet {
                    throw FolioError(ErrorCode(rawValue: 40600), "\(stage.name) is not allowed to be used within a $facet stage")
                }
                if stage.isWriteStage && i != pipeline.count - 1 {
                    throw FolioError(ErrorCode(rawValue: 40601), "\(stage.name) can only be the final stage in the pipeline")
                }
                if stage.isWriteStage && nested != .top {
                    throw FolioError(ErrorCode(rawValue: 51047), "\(stage.name) is not allowed within a $lookup's sub-pipeline")
                }
                // `$text` needs the collection's text index: only a first `$match` reaches it
                // (the stages after it see documents, not the collection).
                if case .match(let m) = stage, m.containsText, i != 0 || nested == .lookup || nested == .facet {
                    throw FolioError(ErrorCode(rawValue: 17313), "$match with $text is only allowed as the first pipeline stage")
                }
                if stage.mustBeFirst && i != 0 {
                    throw FolioError(ErrorCode(rawValue: 40602), "\(stage.name) is only valid as the first stage in a pipeline")
                }
            }
            stages += parsed
        }
        self.stages = stages
    }

    /// Whether a stage is a `$match` with `$text` (which only a collection's text index answers).
    public var matchesText: Bool {
        stages.contains { if case .match(let m) = $0 { m.containsText } else { false } }
    }

    public enum Nesting: Sendable { case top, lookup, facet, unionWith }

    /// Whether the last stage writes ($out/$merge).
    public var writes: Bool { stages.last?.isWriteStage ?? false }
}

/// One stage. `$count`, `$bucket` and `$sortByCount` parse into the stages MongoDB
/// rewrites them to (`$group` + `$project`/`$sort`), as its explain shows.
public enum AggregationStage: Sendable {
    case match(MatchExpression)
    case project(Projection)
    case addFields(ComputedFields)
    case unset([FieldPath])
    case group(GroupSpec)
    case sort(SortSpec, limit: Int64?)
    case limit(Int64)
    case skip(Int64)
    case unwind(UnwindSpec)
    case lookup(LookupSpec)
    case graphLookup(GraphLookupSpec)
    case facet([(String, AggregationPipeline)])
    case bucketAuto(BucketAutoSpec)
    case setWindowFields(WindowSpec)
    case densify(DensifySpec)
    case replaceRoot(Expression, stageName: String)
    case sample(Int64)
    case unionWith(collection: String?, pipeline: [BSON])
    case out(database: String?, collection: String)
    case merge(MergeSpec)
    case redact(Expression)
    case documents(Expression)
    /// Stages answered by the engine from its own state ($collStats, $indexStats, $currentOp, $listLocalSessions).
    case system(String, Document)
    case geoNear(GeoNearSpec)
    case vectorSearch(VectorSearchSpec)

    public var name: String {
        switch self {
        case .match: return "$match"
        case .project: return "$project"
        case .addFields: return "$addFields"
        case .unset: return "$unset"
        case .group: return "$group"
        case .sort: return "$sort"
        case .limit: return "$limit"
        case .skip: return "$skip"
        case .unwind: return "$unwind"
        case .lookup: return "$lookup"
        case .graphLookup: return "$graphLookup"
        case .facet: return "$facet"
        case .bucketAuto: return "$bucketAuto"
        case .setWindowFields: return "$setWindowFields"
        case .densify: return "$densify"
        case .replaceRoot(_, let n): return n
        case .sample: return "$sample"
        case .unionWith: return "$unionWith"
        case .out: return "$out"
        case .merge: return "$merge"
        case .redact: return "$redact"
        case .documents: return "$documents"
        case .system(let n, _): return n
        case .geoNear: return "$geoNear"
        case .vectorSearch: return "$vectorSearch"
        }
    }

    var isWriteStage: Bool {
        switch self { case .out, .merge: return true; default: return false }
    }

    var mustBeFirst: Bool {
        switch self {
        case .documents: return true
        case .system: return true
        case .geoNear: return true
        default: return false
        }
    }

    var allowedInFacet: Bool {
        switch self {
        case .out, .merge, .facet, .documents, .system, .unionWith: return false
        default: return true
        }
    }

    static let unsupported: [String: String] = [
        "$changeStreamSplitLargeEvent": "splitting large change events is not supported yet",
        "$search": "$search is an Atlas Search stage, not available in Folio",
        "$searchMeta": "$searchMeta is an Atlas Search stage, not available in Folio",
        "$planCacheStats": "the plan cache is not exposed yet",
        "$querySettings": "query settings are not supported",
        "$queryStats": "$queryStats is not supported",
        "$shardedDataDistribution": "Folio is not sharded",
        "$listSampledQueries": "Folio is not sharded",
    ]

    // MARK: Parsing

    /// Parses one stage document (one field: the stage name).
    static func parse(_ d: Document, constants: [String: BSON], nested: AggregationPipeline.Nesting,
                      variables: Set<String> = [], collator: (any Collator)? = nil) throws(FolioError) -> [AggregationStage] {
        guard d.count == 1 else {
            throw FolioError(.location40323, "A pipeline stage specification object must contain exactly one field.")
        }
        let (name, argument) = d.element(at: 0)
        let context = ParseContext(variables: variables, constants: constants, collator: collator)
        switch name {
        case "$geoNear":
            guard case .document(let options) = argument else {
                throw FolioError(ErrorCode(rawValue: 10065), "invalid parameter: expected an object ($geoNear)")
            }
            return [.geoNear(try GeoNearSpec(parsing: options, constants: constants, collator: collator))]
        case "$match":
            guard case .document(let filter) = argument else {
                throw FolioError(ErrorCode(rawValue: 15959), "the match filter must be an expression in an object")
            }
            if filter.index(forKey: "$where") != nil {
                throw FolioError(.badValue, "$where is not allowed inside of a $match aggregation expression")
            }
            let match = try MatchExpression(parsing: filter, constants: constants, collator: collator)
            if match.containsNear {
                throw FolioError(ErrorCode(rawValue: 5626500), "$geoNear, $near, and $nearSphere are not allowed in this context, as these operators require sorting geospatial data. If you do not need sort, consider using $geoWithin instead.")
            }
            return [.match(match)]
        case "$project":
            guard case .document(let spec) = argument else {
                throw FolioError(.location15969, "$project specification must be an object")
            }
            guard !spec.isEmpty else {
                throw FolioError(ErrorCode(rawValue: 51272), "Invalid $project :: caused by :: projection specification must have at least one field")
            }
            return [.project(try Projection(parsing: spec, findOperators: false, context: context))]
        case "$addFields", "$set":
            guard case .document(let spec) = argument else {
                throw FolioError(ErrorCode(rawValue: 40272), "\(name) specification stage must be an object, got \(argument.type.alias)")
            }
            return [.addFields(try ComputedFields(parsing: spec, context: context))]
        case "$unset":
            return [.unset(try parseUnset(argument))]
        case "$group":
            return [.group(try GroupSpec(parsing: argument, context: context))]
        case "$sort":
            guard case .document(let spec) = argument else {
                throw FolioError(.location15973, "the $sort key specification must be an object")
            }
            return [.sort(try SortSpec(parsing: spec, errorCode: .location15974, collator: collator), limit: nil)]
        case "$limit":
            guard argument.isNumber, let n = argument.exactInt64 else {
                throw FolioError(ErrorCode(rawValue: 15957), "the limit must be specified as a number")
            }
            guard n > 0 else { throw FolioError(ErrorCode(rawValue: 15958), "the limit must be positive") }
            return [.limit(n)]
        case "$skip":
            guard argument.isNumber, let n = argument.exactInt64 else {
                throw FolioError(ErrorCode(rawValue: 15972), "Argument to $skip must be a number")
            }
            guard n >= 0 else { throw FolioError(ErrorCode(rawValue: 15956), "Argument to $skip cannot be negative") }
            return [.skip(n)]
        case "$count":
            guard case .string(let field) = argument, !field.isEmpty else {
                throw FolioError(ErrorCode(rawValue: 40156), "the count field must be a non-empty string")
            }
            if field.hasPrefix("$") { throw FolioError(ErrorCode(rawValue: 40158), "the count field cannot be a $-prefixed path") }
            if field.contains(".") { throw FolioError(ErrorCode(rawValue: 40160), "the count field cannot contain '.'") }
            let group = try GroupSpec(parsing: .document(["_id": .null, field: ["$sum": .int32(1)]]), context: context)
            return [.group(group), .project(try Projection(parsing: ["_id": .int32(0)], findOperators: false))]
        case "$sortByCount":
            let idExpression: BSON
            switch argument {
            case .string(let s) where s.hasPrefix("$"): idExpression = argument
            case .document(let e) where e.count == 1 && e.fieldNames[0].hasPrefix("$"): idExpression = argument
            default:
                throw FolioError(ErrorCode(rawValue: 40148), "the sortKey specification must be an object or a string that starts with $")
            }
            let group = try GroupSpec(parsing: .document(["_id": idExpression, "count": ["$sum": .int32(1)]]), context: context)
            return [.group(group), .sort(try SortSpec(parsing: ["count": .int32(-1)]), limit: nil)]
        case "$bucket":
            return try parseBucket(argument, context: context)
        case "$bucketAuto":
            return [.bucketAuto(try BucketAutoSpec(parsing: argument, context: context))]
        case "$unwind":
            return [.unwind(try UnwindSpec(parsing: argument))]
        case "$setWindowFields":
            return [.setWindowFields(try WindowSpec(parsing: argument, context: context))]
        case "$fill":
            return try parseFill(argument, context: context)
        case "$densify":
            return [.densify(try DensifySpec(parsing: argument))]
        case "$lookup":
            return [.lookup(try LookupSpec(parsing: argument, constants: constants, collator: collator))]
        case "$graphLookup":
            return [.graphLookup(try GraphLookupSpec(parsing: argument, context: context))]
        case "$facet":
            guard case .document(let spec) = argument, !spec.isEmpty else {
                throw FolioError(ErrorCode(rawValue: 40169), "the $facet specification must be a non-empty object")
            }
            var facets: [(String, AggregationPipeline)] = []
            for (field, value) in spec {
                guard !field.isEmpty, !field.hasPrefix("$"), !field.contains(".") else {
                    throw FolioError(ErrorCode(rawValue: 40353), "FieldPath field names may not start with '$'.")
                }
                guard case .array(let stages) = value else {
                    throw FolioError(ErrorCode(rawValue: 40170), "arguments to $facet must be arrays, \(field) is type \(value.type.alias)")
                }
                facets.append((field, try AggregationPipeline(parsing: stages, constants: constants, nested: .facet, collator: collator)))
            }
            return [.facet(facets)]
        case "$replaceRoot":
            guard case .document(let spec) = argument else {
                throw FolioError(ErrorCode(rawValue: 40228), "expected an object as specification for $replaceRoot stage, got \(argument.type.alias)")
            }
            for k in spec.fieldNames where k != "newRoot" {
                throw FolioError(ErrorCode(rawValue: 40415), "BSON field '$replaceRoot.\(k)' is an unknown field.")
            }
            guard let root = spec["newRoot"] else {
                throw FolioError(ErrorCode(rawValue: 40414), "BSON field '$replaceRoot.newRoot' is missing but a required field")
            }
            return [.replaceRoot(try Expression.parse(root, context: context), stageName: "$replaceRoot")]
        case "$replaceWith":
            return [.replaceRoot(try Expression.parse(argument, context: context), stageName: "$replaceWith")]
        case "$sample":
            guard case .document(let spec) = argument else {
                throw FolioError(ErrorCode(rawValue: 28745), "the $sample stage specification must be an object")
            }
            for k in spec.fieldNames where k != "size" {
                throw FolioError(ErrorCode(rawValue: 28748), "unrecognized option to $sample: \(k)")
            }
            guard let size = spec["size"] else { throw FolioError(ErrorCode(rawValue: 28749), "$sample stage must specify a size") }
            // safeNumberLong, as MongoDB: NaN samples nothing, 1e300 everything.
            guard let n = size.safeInt64 else { throw FolioError(ErrorCode(rawValue: 28746), "size argument to $sample must be a number") }
            guard n >= 0 else { throw FolioError(ErrorCode(rawValue: 28747), "size argument to $sample must not be negative") }
            return [.sample(n)]
        case "$unionWith":
            switch argument {
            case .string(let coll):
                return [.unionWith(collection: coll, pipeline: [])]
            case .document(let spec):
                for k in spec.fieldNames where k != "coll" && k != "pipeline" {
                    throw FolioError(ErrorCode(rawValue: 40415), "BSON field '$unionWith.\(k)' is an unknown field.")
                }
                var pipeline: [BSON] = []
                if let p = spec["pipeline"] {
                    guard case .array(let a) = p else {
                        throw FolioError(.typeMismatch, "BSON field '$unionWith.pipeline' is the wrong type '\(p.type.alias)', expected type 'array'")
                    }
                    pipeline = a
                    _ = try AggregationPipeline(parsing: a, constants: constants, nested: .unionWith, collator: collator)
                }
                let coll = spec["coll"]?.stringValue
                if coll == nil {
                    guard let first = pipeline.first, case .document(let s) = first, s.fieldNames.first == "$documents" else {
                        throw FolioError(.failedToParse, "$unionWith stage without explicit collection must have a pipeline with $documents as first stage")
                    }
                }
                return [.unionWith(collection: coll, pipeline: pipeline)]
            default:
                throw FolioError(.failedToParse, "the $unionWith stage specification must be an object or string, but found \(argument.type.alias)")
            }
        case "$out":
            switch argument {
            case .string(let coll):
                return [.out(database: nil, collection: coll)]
            case .document(let spec):
                guard case .string(let coll)? = spec["coll"] else {
                    throw FolioError(ErrorCode(rawValue: 16990), "$out stage requires a 'coll' field")
                }
                if spec["timeseries"] != nil {
                    throw FolioError(.commandNotSupported, "$out to a time-series collection is not supported")
                }
                return [.out(database: spec["db"]?.stringValue, collection: coll)]
            default:
                throw FolioError(ErrorCode(rawValue: 16990), "$out only supports a string or object argument, not \(argument.type.alias)")
            }
        case "$merge":
            return [.merge(try MergeSpec(parsing: argument, constants: constants))]
        case "$redact":
            return [.redact(try Expression.parse(argument, context: context))]
        case "$documents":
            return [.documents(try Expression.parse(argument, context: context))]
        case "$vectorSearch":
            return [.vectorSearch(try VectorSearchSpec(parsing: argument))]
        case "$listSearchIndexes":
            guard case .document(let spec) = argument else {
                throw FolioError(.failedToParse, "The $listSearchIndexes stage specification must be an object. Found: \(argument.type.alias)")
            }
            for (key, value) in spec {
                guard key == "id" || key == "name" else {
                    throw FolioError(ErrorCode(rawValue: 40415), "BSON field '$listSearchIndexes.\(key)' is an unknown field.")
                }
                guard case .string = value else {
                    throw FolioError(.typeMismatch, "BSON field '$listSearchIndexes.\(key)' is the wrong type '\(value.type.alias)', expected type 'string'")
                }
            }
            if spec["id"] != nil && spec["name"] != nil {
                throw FolioError(.invalidOptions, "Cannot set both 'name' and 'id' for $listSearchIndexes.")
            }
            return [.system(name, spec)]
        case "$collStats", "$indexStats", "$currentOp", "$listLocalSessions", "$listSessions":
            guard case .document(let spec) = argument else {
                throw FolioError(.failedToParse, "\(name) must take a nested object but found: \(argument)")
            }
            return [.system(name, spec)]
        case "$changeStream":
            // The server opens a change stream when it comes first (Engine.watch).
            throw FolioError(ErrorCode(rawValue: 40602), "$changeStream is only valid as the first stage in a pipeline")
        default:
            if let reason = unsupported[name] {
                throw FolioError(.commandNotSupported, "\(name): \(reason)")
            }
            throw FolioError(ErrorCode(rawValue: 40324), "Unrecognized pipeline stage name: '\(name)'")
        }
    }

    /// `$fill` is `$setWindowFields` with `$locf`/`$linearFill` for the `method` outputs,
    /// then `$addFields` with `$ifNull` for the `value` outputs, as MongoDB rewrites it.
    static func parseFill(_ argument: BSON, context: ParseContext) throws(FolioError) -> [AggregationStage] {
        guard case .document(let spec) = argument else {
            throw FolioError(.failedToParse, "$fill specification must be an object, found \(argument.type.alias)")
        }
        for k in spec.fieldNames where !["sortBy", "partitionBy", "partitionByFields", "output"].contains(k) {
            throw FolioError(ErrorCode(rawValue: 40415), "BSON field '$fill.\(k)' is an unknown field.")
        }
        if spec["partitionBy"] != nil && spec["partitionByFields"] != nil {
            throw FolioError(ErrorCode(rawValue: 6050204), "Maximum one of 'partitionBy' and 'partitionByFields' can be specified in '$fill'")
        }
        guard case .document(let output)? = spec["output"] else {
            throw FolioError(ErrorCode(rawValue: 40414), "BSON field '$fill.output' is missing but a required field")
        }
        var windowOutputs = Document()
        var valueFields = Document()
        for (field, v) in output {
            guard case .document(let o) = v, o.count == 1 else {
                throw FolioError(ErrorCode(rawValue: 6050203), "Exactly one of 'value' and 'method' must be specified in $fill output field '\(field)'")
            }
            if let value = o["value"] {
                valueFields[field] = ["$ifNull": [.string("$" + field), value]]
            } else if case .string(let method)? = o["method"] {
                switch method {
                case "locf": windowOutputs[field] = ["$locf": .string("$" + field)]
                case "linear": windowOutputs[field] = ["$linearFill": .string("$" + field)]
                default:
                    throw FolioError(ErrorCode(rawValue: 6050202), "Method must be either 'locf' or 'linear', found: \(method)")
                }
            } else {
                throw FolioError(ErrorCode(rawValue: 6050203), "Exactly one of 'value' and 'method' must be specified in $fill output field '\(field)'")
            }
        }
        var stages: [AggregationStage] = []
        if !windowOutputs.isEmpty {
            var window: Document = ["output": .document(windowOutputs)]
            if let sortBy = spec["sortBy"] { window["sortBy"] = sortBy }
            if let partitionBy = spec["partitionBy"] { window["partitionBy"] = partitionBy }
            if case .array(let names)? = spec["partitionByFields"] {
                var fields = Document()
                for n in names {
                    guard case .string(let name) = n else {
                        throw FolioError(.typeMismatch, "'partitionByFields' must be an array of strings")
                    }
                    fields[name] = .string("$" + name)
                }
                window["partitionBy"] = ["$mergeObjects": [.document(fields)]]
            }
            stages.append(.setWindowFields(try WindowSpec(parsing: .document(window), context: context)))
        } else if spec["sortBy"] != nil {
            stages.append(.sort(try SortSpec(parsing: spec["sortBy"]!.documentValue ?? [:]), limit: nil))
        }
        if !valueFields.isEmpty {
            stages.append(.addFields(try ComputedFields(parsing: valueFields, context: context)))
        }
        return stages
    }

    static func parseUnset(_ argument: BSON) throws(FolioError) -> [FieldPath] {
        let names: [BSON]
        if case .array(let a) = argument {
            guard !a.isEmpty else {
                throw FolioError(ErrorCode(rawValue: 31119), "$unset specification must be a string or an array with at least one field")
            }
            names = a
        } else {
            names = [argument]
        }
        var paths: [FieldPath] = []
        for n in names {
            guard case .string(let s) = n, !s.isEmpty else {
                throw FolioError(ErrorCode(rawValue: 31120), "$unset specification must be a string or an array containing only string values")
            }
            if s.hasPrefix("$") {
                throw FolioError(ErrorCode(rawValue: 16410), "FieldPath field names may not start with '$'. Consider using $getField or $setField.")
            }
            paths.append(FieldPath(s))
        }
        return paths
    }

    /// `$bucket` is `$group` on a `$switch` over the boundaries, then `$sort` by `_id`.
    static func parseBucket(_ argument: BSON, context: ParseContext) throws(FolioError) -> [AggregationStage] {
        guard case .document(let spec) = argument else {
            throw FolioError(ErrorCode(rawValue: 40201), "Argument to $bucket stage must be an object, but found type: \(argument.type.alias).")
        }
        for k in spec.fieldNames where !["groupBy", "boundaries", "default", "output"].contains(k) {
            throw FolioError(ErrorCode(rawValue: 40197), "Unrecognized option to $bucket: \(k).")
        }
        guard let groupBy = spec["groupBy"], case .array(let boundaries)? = spec["boundaries"] else {
            throw FolioError(ErrorCode(rawValue: 40198), "$bucket requires 'groupBy' and 'boundaries' to be specified.")
        }
        switch groupBy {
        case .string(let s) where s.hasPrefix("$"): break
        case .document(let e) where e.count == 1 && e.fieldNames[0].hasPrefix("$"): break
        default:
            throw FolioError(ErrorCode(rawValue: 40202), "The $bucket 'groupBy' field must be defined as a $-prefixed path or an expression, but found: \(groupBy).")
        }
        guard boundaries.count >= 2 else {
            throw FolioError(ErrorCode(rawValue: 40192), "The $bucket 'boundaries' field must have at least 2 values, but found \(boundaries.count) value(s).")
        }
        for i in 1..<boundaries.count {
            let a = boundaries[i - 1], b = boundaries[i]
            guard a.type.canonicalRank == b.type.canonicalRank else {
                throw FolioError(ErrorCode(rawValue: 40193), "All values in the the 'boundaries' option to $bucket must have the same type. Found conflicting types \(a.type.alias) and \(b.type.alias).")
            }
            guard BSON.compare(a, b) < 0 else {
                throw FolioError(ErrorCode(rawValue: 40194), "The 'boundaries' option to $bucket must be sorted, but elements \(i - 1) and \(i) are not in ascending order (\(a) is not less than \(b)).")
            }
        }
        let defaultValue = spec["default"]
        if let d = defaultValue, BSON.compare(d, boundaries[0]) >= 0 && BSON.compare(d, boundaries.last!) < 0 && d.type.canonicalRank == boundaries[0].type.canonicalRank {
            throw FolioError(ErrorCode(rawValue: 40199), "The $bucket 'default' field must be less than the lowest boundary or greater than or equal to the highest boundary.")
        }
        var branches: [BSON] = []
        for i in 0..<(boundaries.count - 1) {
            branches.append(["case": ["$and": [["$gte": [groupBy, ["$literal": boundaries[i]]]],
                                                ["$lt": [groupBy, ["$literal": boundaries[i + 1]]]]]],
                             "then": ["$literal": boundaries[i]]])
        }
        var switchSpec: Document = ["branches": .array(branches)]
        if let defaultValue { switchSpec["default"] = ["$literal": defaultValue] }
        var groupSpec: Document = ["_id": ["$switch": .document(switchSpec)]]
        if case .document(let output)? = spec["output"] {
            for (k, v) in output { groupSpec[k] = v }
        } else if let output = spec["output"] {
            throw FolioError(ErrorCode(rawValue: 40196), "The $bucket 'output' field must be an object, but found type: \(output.type.alias).")
        } else {
            groupSpec["count"] = ["$sum": .int32(1)]
        }
        let group = try GroupSpec(parsing: .document(groupSpec), context: context, bucketSwitch: true)
        return [.group(group), .sort(try SortSpec(parsing: ["_id": .int32(1)]), limit: nil)]
    }
}

/// `$addFields`/`$set`: computed fields, with nested objects merged into existing
/// sub-documents (and into each document of an array), as MongoDB does.
public struct ComputedFields: Sendable {
    public let fields: [(FieldPath, Expression)]

    public init(parsing spec: Document, context: ParseContext) throws(FolioError) {
        var out: [(FieldPath, Expression)] = []
        try ComputedFields.flatten(spec, prefix: [], context: context, into: &out)
        fields = out
    }

    public init(fields: [(FieldPath, Expression)]) { self.fields = fields }

    static func flatten(_ spec: Document, prefix: [String], context: ParseContext, into out: inout [(FieldPath, Expression)]) throws(FolioError) {
        for (key, value) in spec {
            if key.isEmpty { throw FolioError(ErrorCode(rawValue: 40352), "FieldPath cannot be constructed with empty string") }
            if key.hasPrefix("$") {
                throw FolioError(ErrorCode(rawValue: 16410), "FieldPath field names may not start with '$'. Consider using $getField or $setField.")
            }
            let path = prefix + FieldPath(key).components
            if path.contains(where: \.isEmpty) {
                throw FolioError(ErrorCode(rawValue: 15998), "FieldPath field names may not be empty strings.")
            }
            if case .document(let d) = value, !d.isEmpty, !(d.fieldNames.first?.hasPrefix("$") ?? false) {
                try flatten(d, prefix: path, context: context, into: &out)
            } else {
                out.append((FieldPath(components: path), try Expression.parse(value, context: context)))
            }
        }
    }

    /// Applies the fields, each evaluated against the input document.
    public func apply(to document: Document, context: EvaluationContext) throws(FolioError) -> Document {
        var out = document
        for (path, e) in fields {
            out = DocumentPaths.setting(path.components[...], to: try e.evaluate(context), in: out)
        }
        return out
    }
}

/// `$group`.
public struct GroupSpec: Sendable {
    public let id: Expression
    public let accumulators: [(String, AccumulatorSpec)]
    /// The `_id` came from `$bucket` (a missing default raises 40066 with `$bucket`'s message).
    let bucketSwitch: Bool
    /// The collation group keys compare by: `_id`s equal under it share a group, which keeps
    /// the first `_id` seen.
    public let collator: (any Collator)?

    public init(parsing argument: BSON, context: ParseContext, bucketSwitch: Bool = false) throws(FolioError) {
        guard case .document(let spec) = argument else {
            throw FolioError(ErrorCode(rawValue: 15947), "a group's fields must be specified in an object")
        }
        guard let idValue = spec["_id"] else {
            throw FolioError(ErrorCode(rawValue: 15955), "a group specification must include an _id")
        }
        if case .document(let d) = idValue, d.count > 1, d.fieldNames.contains(where: { $0.hasPrefix("$") }) {
            throw FolioError(.location15983, "an expression specification must contain exactly one field, the name of the expression. Found \(d.count) fields in \(d)")
        }
        id = try Expression.parse(idValue, context: context)
        var accumulators: [(String, AccumulatorSpec)] = []
        for (field, value) in spec where field != "_id" {
            if field.hasPrefix("$") {
                throw FolioError(ErrorCode(rawValue: 40236), "The field name '\(field)' cannot be an operator name")
            }
            if field.contains(".") {
                throw FolioError(ErrorCode(rawValue: 40235), "The field name '\(field)' cannot contain '.'")
            }
            accumulators.append((field, try AccumulatorSpec(parsing: value, field: field, context: context)))
        }
        self.accumulators = accumulators
        self.bucketSwitch = bucketSwitch
        self.collator = context.collator
        let inputs = accumulators.compactMap { $0.1.topLevelInput }
        if let idInput = TopLevelInput(id), inputs.count == accumulators.count {
            topLevelInputs = (idInput, inputs)
        } else {
            topLevelInputs = nil
        }
    }

    /// What the group reads of each document when that is only top-level fields and
    /// constants (`_id: "$cat"`, `_id: {c: "$cat", t: "$type"}`, `$sum: 1`, `$sum: "$sid"`):
    /// its `_id`'s input, then each accumulator's. Nil when any is another expression, or an
    /// accumulator needs the whole document (`$top`, `$bottom` and their N forms) or an `n`.
    /// Such a group reads its values from the stored bytes, with no document decoded and no
    /// expression evaluated.
    public let topLevelInputs: (id: TopLevelInput, accumulators: [TopLevelInput])?

    /// The group key of a document: its `_id` value (missing is null).
    public func key(_ context: EvaluationContext) throws(FolioError) -> BSON {
        do {
            return try id.evaluate(context) ?? .null
        } catch where bucketSwitch && error.code.rawValue == 40066 {
            throw FolioError(ErrorCode(rawValue: 40066), "$switch could not find a matching branch for an input, and no default was specified.")
        }
    }
}

/// An expression that is a constant, a top-level field path (`"$a"`), or an object of such
/// expressions (`{a: "$a", t: "x"}`): its value in a stored document is the constant, the
/// field's first value (nil when missing), or the object of its fields' values without the
/// missing ones, as `Expression.evaluate` gives them with the document as `$$CURRENT`.
public indirect enum TopLevelInput: Sendable {
    case constant(BSON)
    case field(String)
    case object([(String, TopLevelInput)])

    init?(_ expression: Expression) {
        switch expression {
        case .constant(let v): self = .constant(v)
        case .fieldPath(let path) where path.components.count == 1: self = .field(path.components[0])
        case .object(let fields):
            var inputs: [(String, TopLevelInput)] = []
            for (name, e) in fields {
                guard let input = TopLevelInput(e) else { return nil }
                inputs.append((name, input))
            }
            self = .object(inputs)
        default: return nil
        }
    }

    public func value(in document: RawDocument) -> BSON? {
        switch self {
        case .constant(let v): return v
        case .field(let name): return document.lookup(name)?.bson
        case .object(let fields):
            // (An object literal's memory charge is left out: its values are the document's own.)
            var d = Document()
            for (name, input) in fields {
                if let v = input.value(in: document) { d.append(name, v) }
            }
            return .document(d)
        }
    }
}

/// `$unwind`.
public struct UnwindSpec: Sendable {
    public let path: FieldPath
    public let includeArrayIndex: FieldPath?
    public let preserveNullAndEmptyArrays: Bool

    init(parsing argument: BSON) throws(FolioError) {
        var pathValue: BSON
        var index: FieldPath?
        var preserve = false
        switch argument {
        case .string: pathValue = argument
        case .document(let spec):
            guard let p = spec["path"] else { throw FolioError(ErrorCode(rawValue: 28812), "no path specified to $unwind stage") }
            pathValue = p
            for (k, v) in spec where k != "path" {
                switch k {
                case "includeArrayIndex":
                    guard case .string(let s) = v, !s.isEmpty else {
                        throw FolioError(ErrorCode(rawValue: 28810), "expected a non-empty string for the includeArrayIndex  option to $unwind stage")
                    }
                    if s.hasPrefix("$") {
                        throw FolioError(ErrorCode(rawValue: 28822), "includeArrayIndex option to $unwind stage should not be prefixed with a '$': \(s)")
                    }
                    index = FieldPath(s)
                case "preserveNullAndEmptyArrays":
                    guard case .bool(let b) = v else {
                        throw FolioError(ErrorCode(rawValue: 28809), "expected a boolean for the preserveNullAndEmptyArrays option to $unwind stage")
                    }
                    preserve = b
                default:
                    throw FolioError(ErrorCode(rawValue: 28811), "unrecognized option to $unwind stage")
                }
            }
        default:
            throw FolioError(ErrorCode(rawValue: 15981), "expected either a string or an object as specification for $unwind stage, got \(argument.type.alias)")
        }
        guard case .string(let s) = pathValue else {
            throw FolioError(ErrorCode(rawValue: 28808), "expected a string as the path for $unwind stage, got \(pathValue.type.alias)")
        }
        guard s.hasPrefix("$"), s.count > 1 else {
            throw FolioError(ErrorCode(rawValue: 28818), "path option to $unwind stage should be prefixed with a '$': \(s)")
        }
        path = FieldPath(String(s.dropFirst()))
        includeArrayIndex = index
        preserveNullAndEmptyArrays = preserve
    }

    /// The documents one input produces.
    public func apply(_ document: Document) -> [Document] {
        let value = DocumentPaths.value(path.components[...], in: document)
        func withIndex(_ d: Document, _ i: BSON) -> Document {
            guard let includeArrayIndex else { return d }
            return DocumentPaths.setting(includeArrayIndex.components[...], to: i, in: d)
        }
        switch value {
        case .array(let elements)?:
            if elements.isEmpty {
                guard preserveNullAndEmptyArrays else { return [] }
                return [withIndex(DocumentPaths.setting(path.components[...], to: nil, in: document), .null)]
            }
            return elements.enumerated().map { i, e in
                withIndex(DocumentPaths.setting(path.components[...], to: e, in: document), .int64(Int64(i)))
            }
        case nil, .null?:
            return preserveNullAndEmptyArrays ? [withIndex(document, .null)] : []
        case .some:
            return [withIndex(document, .null)]
        }
    }
}

/// `$lookup`: equality on `localField`/`foreignField`, a `let` + `pipeline`, or both.
public struct LookupSpec: Sendable {
    public let from: String?
    public let fromDatabase: String?
    public let localField: FieldPath?
    public let foreignField: FieldPath?
    public let `as`: FieldPath
    public let letVariables: [(String, Expression)]
    public let pipeline: [BSON]
    let constants: [String: BSON]
    /// The command's collation: `localField`/`foreignField` equality and the sub-pipeline use it.
    public let collator: (any Collator)?

    init(parsing argument: BSON, constants: [String: BSON], collator: (any Collator)?) throws(FolioError) {
        guard case .document(let spec) = argument else {
            throw FolioError(.failedToParse, "the $lookup specification must be an Object, but found \(argument.type.alias)")
        }
        var from: String?, fromDB: String?, local: FieldPath?, foreign: FieldPath?, asPath: FieldPath?
        var lets: [(String, Expression)] = []
        var pipeline: [BSON]?
        for (k, v) in spec {
            switch k {
            case "from":
                switch v {
                case .string(let s): from = s
                case .document(let d):
                    guard case .string(let db)? = d["db"], case .string(let c)? = d["coll"] else {
                        throw FolioError(.failedToParse, "$lookup 'from' must have 'db' and 'coll'")
                    }
                    from = c; fromDB = db
                default:
                    throw FolioError(.failedToParse, "$lookup 'from' field must be a string or an object, but found \(v.type.alias)")
                }
            case "localField", "foreignField", "as":
                guard case .string(let s) = v else {
                    throw FolioError(.failedToParse, "$lookup argument '\(k)' must be a string, found \(v): \(v.type.alias)")
                }
                if s.hasPrefix("$") { throw FolioError(ErrorCode(rawValue: 16410), "FieldPath field names may not start with '$'. Consider using $getField or $setField.") }
                if s.isEmpty { throw FolioError(ErrorCode(rawValue: 40352), "FieldPath cannot be constructed with empty string") }
                if k == "localField" { local = FieldPath(s) } else if k == "foreignField" { foreign = FieldPath(s) } else { asPath = FieldPath(s) }
            case "let":
                guard case .document(let d) = v else {
                    throw FolioError(.failedToParse, "$lookup argument 'let' must be an object, is type \(v.type.alias)")
                }
                for (name, e) in d { lets.append((name, try Expression.parse(e, context: ParseContext(constants: constants, collator: collator)))) }
            case "pipeline":
                guard case .array(let a) = v else {
                    throw FolioError(.failedToParse, "$lookup argument 'pipeline' must be an array, is type \(v.type.alias)")
                }
                pipeline = a
            default:
                throw FolioError(.failedToParse, "unknown argument to $lookup: \(k)")
            }
        }
        guard let asPath else { throw FolioError(.failedToParse, "must specify 'as' field for a $lookup") }
        if (local == nil) != (foreign == nil) {
            throw FolioError(.failedToParse, "$lookup requires both or neither of 'localField' and 'foreignField' to be specified")
        }
        if local == nil && pipeline == nil {
            throw FolioError(.failedToParse, "$lookup requires either 'pipeline' or both 'localField' and 'foreignField' to be specified")
        }
        if from == nil {
            guard let first = pipeline?.first, case .document(let s) = first, s.fieldNames.first == "$documents" else {
                throw FolioError(.failedToParse, "must specify 'from' field for a $lookup")
            }
        }
        var probe = constants
        for (name, _) in lets { probe[name] = .null }
        if let pipeline { _ = try AggregationPipeline(parsing: pipeline, constants: probe, nested: .lookup, collator: collator) }
        self.from = from
        self.fromDatabase = fromDB
        self.localField = local
        self.foreignField = foreign
        self.as = asPath
        self.letVariables = lets
        self.pipeline = pipeline ?? []
        self.constants = constants
        self.collator = collator
    }

    /// The sub-pipeline for one local document, with its `let` variables bound.
    public func pipeline(for context: EvaluationContext) throws(FolioError) -> AggregationPipeline {
        var bound = constants
        for (name, e) in letVariables { bound[name] = try e.evaluate(context) ?? .null }
        return try AggregationPipeline(parsing: pipeline, constants: bound, nested: .lookup, collator: collator)
    }

    /// The values of `localField` in a document (arrays expanded; missing is null).
    public func localValues(_ document: Document) -> [BSON] {
        guard let localField else { return [] }
        let values = DocumentPaths.allValues(.document(document), localField.components[...])
        return values.isEmpty ? [.null] : values
    }
}

/// `$graphLookup`.
public struct GraphLookupSpec: Sendable {
    public let from: String
    public let startWith: Expression
    public let connectFromField: FieldPath
    public let connectToField: FieldPath
    public let `as`: String
    public let maxDepth: Int64?
    public let depthField: FieldPath?
    public let restrictSearchWithMatch: Document?

    init(parsing argument: BSON, context: ParseContext) throws(FolioError) {
        guard case .document(let spec) = argument else {
            throw FolioError(.failedToParse, "the $graphLookup stage specification must be an object, but found \(argument.type.alias)")
        }
        var from: String?, start: Expression?, fromField: FieldPath?, toField: FieldPath?, asName: String?
        var maxDepth: Int64?, depth: FieldPath?, restrict: Document?
        for (k, v) in spec {
            switch k {
            case "from":
                guard case .string(let s) = v else { throw FolioError(.failedToParse, "from must be a string") }
                from = s
            case "startWith": start = try Expression.parse(v, context: context)
            case "connectFromField", "connectToField", "as", "depthField":
                guard case .string(let s) = v, !s.isEmpty else {
                    throw FolioError(ErrorCode(rawValue: 40103), "expected string as argument for \(k), found: \(v)")
                }
                if s.hasPrefix("$") { throw FolioError(ErrorCode(rawValue: 16410), "FieldPath field names may not start with '$'.") }
                switch k {
                case "connectFromField": fromField = FieldPath(s)
                case "connectToField": toField = FieldPath(s)
                case "as": asName = s
                default: depth = FieldPath(s)
                }
            case "maxDepth":
                guard v.isNumber, let n = v.exactInt64 else {
                    throw FolioError(ErrorCode(rawValue: 40100), "maxDepth must be numeric, found type: \(v.type.alias)")
                }
                guard n >= 0 else { throw FolioError(ErrorCode(rawValue: 40101), "maxDepth requires a nonnegative argument, found: \(n)") }
                maxDepth = n
            case "restrictSearchWithMatch":
                guard case .document(let d) = v else {
                    throw FolioError(ErrorCode(rawValue: 40185), "restrictSearchWithMatch must be an object, found \(v.type.alias)")
                }
                _ = try MatchExpression(parsing: d, constants: context.constants)
                restrict = d
            default:
                throw FolioError(ErrorCode(rawValue: 40104), "Unknown argument to $graphLookup: \(k)")
            }
        }
        guard let from, let start, let fromField, let toField, let asName else {
            throw FolioError(ErrorCode(rawValue: 40105), "from, as, startWith, connectFromField and connectToField must all be specified")
        }
        self.from = from
        self.startWith = start
        self.connectFromField = fromField
        self.connectToField = toField
        self.as = asName
        self.maxDepth = maxDepth
        self.depthField = depth
        self.restrictSearchWithMatch = restrict
    }
}

/// `$merge`.
public struct MergeSpec: Sendable {
    public enum WhenMatched: Sendable {
        case replace, keepExisting, merge, fail
        case pipeline([BSON])

        var isPipeline: Bool { if case .pipeline = self { return true }; return false }
    }
    public enum WhenNotMatched: String, Sendable { case insert, discard, fail }

    public let database: String?
    public let collection: String
    public let on: [FieldPath]?
    public let whenMatched: WhenMatched
    public let whenNotMatched: WhenNotMatched
    public let letVariables: [(String, Expression)]?

    init(parsing argument: BSON, constants: [String: BSON]) throws(FolioError) {
        switch argument {
        case .string(let coll):
            database = nil; collection = coll; on = nil; whenMatched = .merge; whenNotMatched = .insert; letVariables = nil
            return
        case .document(let spec):
            var db: String?, coll: String?
            var on: [FieldPath]?
            var matched: WhenMatched = .merge
            var notMatched: WhenNotMatched = .insert
            var lets: [(String, Expression)]?
            for (k, v) in spec {
                switch k {
                case "into":
                    switch v {
                    case .string(let s): coll = s
                    case .document(let d):
                        coll = d["coll"]?.stringValue
                        db = d["db"]?.stringValue
                        guard coll != nil else { throw FolioError(ErrorCode(rawValue: 40414), "BSON field 'into.coll' is missing but a required field") }
                    default:
                        throw FolioError(ErrorCode(rawValue: 51178), "$merge 'into' field  must be either a string or an object, but found \(v.type.alias)")
                    }
                case "on":
                    let names: [BSON]
                    if case .array(let a) = v { names = a } else { names = [v] }
                    var paths: [FieldPath] = []
                    for n in names {
                        guard case .string(let s) = n else {
                            throw FolioError(ErrorCode(rawValue: 51134), "$merge 'on' array elements must be strings, but found \(n.type.alias)")
                        }
                        paths.append(FieldPath(s))
                    }
                    guard !paths.isEmpty else { throw FolioError(ErrorCode(rawValue: 51187), "If explicitly specifying $merge 'on', must include at least one field") }
                    on = paths
                case "whenMatched":
                    switch v {
                    case .string("replace"): matched = .replace
                    case .string("keepExisting"): matched = .keepExisting
                    case .string("merge"): matched = .merge
                    case .string("fail"): matched = .fail
                    case .string("pipeline"):
                        throw FolioError(.badValue, "Enumeration value 'pipeline' for field 'whenMatched' is not a valid value.")
                    case .array(let stages):
                        _ = try UpdatePipelineStage.parse(stages, variables: ["new"])
                        matched = .pipeline(stages)
                    default:
                        throw FolioError(.badValue, "Enumeration value '\(v)' for field 'whenMatched' is not a valid value.")
                    }
                case "whenNotMatched":
                    guard case .string(let s) = v, let m = WhenNotMatched(rawValue: s) else {
                        throw FolioError(.badValue, "Enumeration value '\(v)' for field 'whenNotMatched' is not a valid value.")
                    }
                    notMatched = m
                case "let":
                    guard case .document(let d) = v else {
                        throw FolioError(.typeMismatch, "BSON field '$merge.let' is the wrong type '\(v.type.alias)', expected type 'object'")
                    }
                    var parsed: [(String, Expression)] = []
                    for (name, e) in d { parsed.append((name, try Expression.parse(e, context: ParseContext(constants: constants)))) }
                    lets = parsed
                default:
                    throw FolioError(ErrorCode(rawValue: 40415), "BSON field '$merge.\(k)' is an unknown field.")
                }
            }
            guard let coll else { throw FolioError(ErrorCode(rawValue: 40414), "BSON field '$merge.into' is missing but a required field") }
            if lets != nil, !matched.isPipeline {
                throw FolioError(ErrorCode(rawValue: 51199), "Cannot use 'let' variables with 'whenMatched: \(matched)' mode")
            }
            database = db; collection = coll; self.on = on; whenMatched = matched; whenNotMatched = notMatched; letVariables = lets
        default:
            throw FolioError(ErrorCode(rawValue: 51182), "$merge only supports a string or object argument, but found \(argument.type.alias)")
        }
    }
}

extension DocumentPaths {
    /// The value at a dotted path through sub-documents only (no array traversal).
    public static func value(_ path: ArraySlice<String>, in document: Document) -> BSON? {
        guard let first = path.first, let v = document[first] else { return nil }
        if path.count == 1 { return v }
        guard case .document(let child) = v else { return nil }
        return value(path.dropFirst(), in: child)
    }

    /// Every value a path reaches, descending arrays element-wise and expanding an array at the end.
    public static func allValues(_ value: BSON, _ path: ArraySlice<String>) -> [BSON] {
        guard let first = path.first else {
            if case .array(let a) = value { return a }
            return [value]
        }
        switch value {
        case .document(let d): return d[first].map { allValues($0, path.dropFirst()) } ?? []
        case .array(let a):
            if let i = FieldPath.arrayIndex(first), i < a.count, !a.contains(where: { if case .document = $0 { return true }; return false }) {
                return allValues(a[i], path.dropFirst())
            }
            return a.flatMap { allValues($0, path) }
        default: return []
        }
    }
}
