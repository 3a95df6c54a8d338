import FolioBSON
import FolioQuery

/// A command's Stable API parameters (`apiVersion`, `apiStrict`, `apiDeprecationErrors`),
/// parsed and enforced as MongoDB 8.0 does: a client that declares API version 1 with
/// `strict: true` gets APIStrictError (323) for any command or stage outside the version
/// instead of having it run.
struct APIParameters: Equatable, Sendable {
    var version: String?
    var strict: Bool?
    var deprecationErrors: Bool?

    /// No parameters declared (the server's default, API version 1 without strictness).
    init() {}

    /// The parameters of a command body; 14 TypeMismatch for values of the wrong type.
    init(parsing body: Document) throws(FolioError) {
        version = try APIParameters.field(body, "apiVersion", expected: "string") { v in v.stringValue }
        strict = try APIParameters.field(body, "apiStrict", expected: "boolean") { v in v.boolValue }
        deprecationErrors = try APIParameters.field(body, "apiDeprecationErrors", expected: "boolean") { v in v.boolValue }
    }

    private static func field<T>(_ body: Document, _ key: String, expected: String, _ read: (BSON) -> T?) throws(FolioError) -> T? {
        guard let v = body[key], v.type != .null else { return nil }
        guard let value = read(v) else {
            throw FolioError(.typeMismatch, "BSON field '\(key)' is the wrong type '\(v.type.alias)', expected type '\(expected)'")
        }
        return value
    }

    /// Checks the parameters against the command they came with (MongoDB's
    /// validateAPIParameters): 4886600 without a version, 322 for a version other than "1",
    /// 323 for a command outside the version under `apiStrict: true`. No command of
    /// version 1 is deprecated, so `apiDeprecationErrors` never fails one. `canonical` is the
    /// command's own name (MongoDB reports aliases by it).
    func check(command canonical: String) throws(FolioError) {
        if strict != nil || deprecationErrors != nil, version == nil {
            throw FolioError(ErrorCode(rawValue: 4886600), "Provided apiStrict and/or apiDeprecationErrors without passing apiVersion")
        }
        guard let version else { return }
        guard version == "1" else {
            throw FolioError(.apiVersionError, version == "2" ? "Cannot accept API version 2" : "API version must be \"1\"")
        }
        if strict == true, !APIParameters.version1Commands.contains(canonical) {
            throw FolioError(.apiStrictError, "Provided apiStrict:true, but the command \(canonical) is not in API Version 1. Information on supported commands and migrations in API Version 1 can be found at https://dochub.mongodb.org/core/manual-versioned-api.")
        }
    }

    /// 323 under `apiStrict: true` for a field of a version 1 command that is not itself in
    /// the version (MongoDB's IDL `unstable` fields: present at all, whatever its value).
    func check(command canonical: String, body: Document) throws(FolioError) {
        guard strict == true, let unstable = APIParameters.unstableFields[canonical] else { return }
        for key in body.fieldNames where unstable.contains(key) {
            throw FolioError(.apiStrictError, "BSON field '\(canonical).\(key)' is not allowed with apiStrict:true.")
        }
    }

    /// Refuses, under `apiStrict: true`, the expression operators MongoDB never allows in API
    /// version 1, wherever they appear in `value` (a filter, projection or stage).
    func check(expressions value: BSON) throws(FolioError) {
        guard strict == true, let version else { return }
        switch value {
        case .document(let d):
            for (key, v) in d {
                if APIParameters.expressionsNeverInVersion1.contains(key) {
                    throw FolioError(.apiStrictError, "\(key) is not allowed with 'apiStrict: true' in API Version \(version)")
                }
                try check(expressions: v)
            }
        case .array(let items):
            for item in items { try check(expressions: item) }
        default:
            break
        }
    }

    /// Refuses, under `apiStrict: true`, the stages MongoDB never allows in API version 1,
    /// wherever they appear (sub-pipelines of $facet, $lookup and $unionWith included).
    func check(pipeline: [BSON]) throws(FolioError) {
        guard strict == true, let version else { return }
        try check(expressions: .array(pipeline))
        for case .document(let stage) in pipeline {
            guard let name = stage.fieldNames.first, let spec = stage[name] else { continue }
            if APIParameters.stagesNeverInVersion1.contains(name) {
                throw FolioError(.apiStrictError, "\(name) is not allowed with 'apiStrict: true' in API Version \(version)")
            }
            switch (name, spec) {
            case ("$facet", .document(let facets)):
                for case (_, .array(let sub)) in facets { try check(pipeline: sub) }
            case ("$lookup", .document(let d)), ("$unionWith", .document(let d)):
                if case .array(let sub)? = d["pipeline"] { try check(pipeline: sub) }
            default:
                break
            }
        }
    }

    /// The parameters as MongoDB prints them in APIMismatchError (347).
    var description: String {
        var parts: [String] = []
        if let version { parts.append("apiVersion: \"\(version)\"") }
        if let strict { parts.append("apiStrict: \(strict)") }
        if let deprecationErrors { parts.append("apiDeprecationErrors: \(deprecationErrors)") }
        return parts.isEmpty ? "{}" : "{ " + parts.joined(separator: ", ") + " }"
    }

    /// A getMore must declare what the command that opened its cursor declared.
    func checkGetMore(cursorOpenedWith opened: APIParameters) throws(FolioError) {
        guard self != opened else { return }
        throw FolioError(.apiMismatchError, "API parameter mismatch: getMore used params \(description), the cursor-creating command used \(opened.description)")
    }

    /// The commands of API version 1 (MongoDB 8.0's `apiVersions()` of each command; the
    /// command table says which).
    static let version1Commands = CommandTable.names(with: .apiVersion1)

    /// Fields of version 1 commands that are outside the version (MongoDB 8.0's IDL marks
    /// them `unstable`; jstests/core/query/api/api_version_unstable_fields.js).
    static let unstableFields: [String: Set<String>] = [
        "find": ["min", "max", "returnKey", "noCursorTimeout", "showRecordId", "tailable", "oplogReplay", "awaitData",
                 "readOnce", "$_requestResumeToken", "$_resumeAfter"],
        "aggregate": ["explain", "isMapReduceCommand", "runtimeConstants", "collectionUUID", "$_requestReshardingResumeToken"],
        "create": ["autoIndexId"],
    ]

    /// Expression operators registered with `AllowedWithApiStrict::kNeverInVersion1` in
    /// MongoDB 8.0 that Folio has (the approximate percentiles, as accumulators and expressions).
    static let expressionsNeverInVersion1: Set<String> = ["$median", "$percentile"]

    /// Stages registered with `AllowedWithApiStrict::kNeverInVersion1` in MongoDB 8.0.
    static let stagesNeverInVersion1: Set<String> = [
        "$collStats", "$currentOp", "$indexStats", "$listLocalSessions", "$listSessions", "$planCacheStats",
        "$listCatalog", "$listSearchIndexes", "$search", "$searchMeta", "$vectorSearch", "$queryStats",
        "$listSampledQueries", "$querySettings", "$shardedDataDistribution", "$listClusterCatalog",
    ]
}
