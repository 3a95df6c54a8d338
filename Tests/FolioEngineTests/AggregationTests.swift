import Testing
import FolioBSON
import FolioQuery
@testable import FolioEngine

/// One table row: input documents, a pipeline, and the exact output (types included, as
/// Extended JSON: `1` is int32, `1.0` double, `{"$numberLong": "1"}` int64) or an error code.
struct AggregationCase: CustomStringConvertible, Sendable, ExpressibleByStringLiteral {
    let json: String
    var description: String { json }
    init(stringLiteral value: String) { json = value }
}

func aggregate(_ json: String, engine: Engine? = nil) throws -> (output: [BSON]?, code: Int32?, expected: BSON) {
    let row = try ExtendedJSON.document(from: json)
    let engine = try engine ?? Engine.inMemory()
    let ns = try Namespace(database: "agg", collection: "c")
    if case .array(let docs)? = row["in"], !docs.isEmpty {
        _ = try engine.insert(ns, docs.compactMap(\.documentValue))
    }
    if case .array(let docs)? = row["other"], !docs.isEmpty {
        _ = try engine.insert(try Namespace(database: "agg", collection: "other"), docs.compactMap(\.documentValue))
    }
    guard case .array(let pipeline)? = row["p"] else { throw FolioError(.badValue, "row without p") }
    switch run(engine, AggregateRequest(pipeline: pipeline)) {
    case .success(let docs): return (docs.map(BSON.document), nil, row["out"] ?? row["error"]!)
    case .failure(let error): return (nil, error.code.rawValue, row["out"] ?? row["error"]!)
    }
}

/// Runs `pipeline` with a 16 KiB blocking-stage budget: with allowDiskUse it must give
/// `expected` (as in memory), without it fail with 292.
func expectSpilledResults(_ engine: Engine, _ pipeline: [BSON], _ expected: [Document],
                          sourceLocation: SourceLocation = #_sourceLocation) throws {
    var small = AggregateRequest(pipeline: pipeline)
    small.blockingStageMemoryBytes = 16 << 10
    let spilled = try engine.aggregate(database: "agg", collection: "c", small).all().map { $0.document() }
    #expect(spilled == expected, sourceLocation: sourceLocation)
    small.allowDiskUse = false
    expect292(engine, small, sourceLocation: sourceLocation)
}

/// Expects `request` to fail with 292 (over the memory budget without allowDiskUse).
func expect292(_ engine: Engine, _ request: AggregateRequest, sourceLocation: SourceLocation = #_sourceLocation) {
    if case .failure(let error) = run(engine, request) {
        #expect(error.code == .queryExceededMemoryLimitNoDiskUseAllowed, sourceLocation: sourceLocation)
    } else {
        Issue.record("expected 292", sourceLocation: sourceLocation)
    }
}

func run(_ engine: Engine, _ request: AggregateRequest) -> Result<[Document], FolioError> {
    do throws(FolioError) {
        return .success(try engine.aggregate(database: "agg", collection: "c", request).all().map { $0.document() })
    } catch {
        return .failure(error)
    }
}

let stageCases: [AggregationCase] = [
    // $match, $project, $addFields/$set, $unset
    #"{"in": [{"_id": 1, "a": 1}, {"_id": 2, "a": 2}], "p": [{"$match": {"a": {"$gt": 1}}}], "out": [{"_id": 2, "a": 2}]}"#,
    #"{"in": [{"_id": 1, "a": 1, "b": 2}], "p": [{"$project": {"b": 1, "c": {"$add": ["$a", "$b"]}}}], "out": [{"_id": 1, "b": 2, "c": 3}]}"#,
    #"{"in": [{"_id": 1, "a": {"x": 1}}], "p": [{"$addFields": {"a": {"y": 2}, "b.c": 3}}], "out": [{"_id": 1, "a": {"x": 1, "y": 2}, "b": {"c": 3}}]}"#,
    #"{"in": [{"_id": 1, "a": [{"x": 1}, {"x": 2}]}], "p": [{"$set": {"a.y": "$_id"}}], "out": [{"_id": 1, "a": [{"x": 1, "y": 1}, {"x": 2, "y": 1}]}]}"#,
    #"{"in": [{"_id": 1, "a": 1, "b": 2}], "p": [{"$set": {"a": "$$REMOVE"}}], "out": [{"_id": 1, "b": 2}]}"#,
    #"{"in": [{"_id": 1, "a": 1, "b": {"c": 1, "d": 2}}], "p": [{"$unset": ["a", "b.c"]}], "out": [{"_id": 1, "b": {"d": 2}}]}"#,
    #"{"in": [], "p": [{"$project": {}}], "error": 51272}"#,
    #"{"in": [], "p": [{"$unset": []}], "error": 31119}"#,
    // $group with every kind of key and the common accumulators
    #"{"in": [{"_id": 1, "k": "a", "v": 1}, {"_id": 2, "k": "b", "v": 2.5}, {"_id": 3, "k": "a", "v": {"$numberLong": "3"}}], "p": [{"$group": {"_id": "$k", "s": {"$sum": "$v"}, "n": {"$sum": 1}, "avg": {"$avg": "$v"}, "min": {"$min": "$v"}, "max": {"$max": "$v"}, "f": {"$first": "$_id"}, "l": {"$last": "$_id"}, "p": {"$push": "$v"}, "c": {"$count": {}}}}, {"$sort": {"_id": 1}}], "out": [{"_id": "a", "s": {"$numberLong": "4"}, "n": 2, "avg": 2.0, "min": 1, "max": {"$numberLong": "3"}, "f": 1, "l": 3, "p": [1, {"$numberLong": "3"}], "c": 2}, {"_id": "b", "s": 2.5, "n": 1, "avg": 2.5, "min": 2.5, "max": 2.5, "f": 2, "l": 2, "p": [2.5], "c": 1}]}"#,
    #"{"in": [{"_id": 1, "v": 1}, {"_id": 2, "v": 1.0}, {"_id": 3, "v": {"$numberLong": "1"}}], "p": [{"$group": {"_id": "$v", "n": {"$sum": 1}}}], "out": [{"_id": 1, "n": 3}]}"#,
    #"{"in": [{"_id": 1}, {"_id": 2, "k": null}], "p": [{"$group": {"_id": "$k", "n": {"$sum": 1}}}], "out": [{"_id": null, "n": 2}]}"#,
    #"{"in": [{"_id": 1, "a": 1, "b": 2}], "p": [{"$group": {"_id": {"x": "$a", "y": "$b"}, "set": {"$addToSet": "$a"}}}], "out": [{"_id": {"x": 1, "y": 2}, "set": [1]}]}"#,
    #"{"in": [{"_id": 1, "v": 2147483647}, {"_id": 2, "v": 1}], "p": [{"$group": {"_id": null, "s": {"$sum": "$v"}}}], "out": [{"_id": null, "s": {"$numberLong": "2147483648"}}]}"#,
    #"{"in": [{"_id": 1, "v": "x"}], "p": [{"$group": {"_id": null, "s": {"$sum": "$v"}, "a": {"$avg": "$v"}, "sd": {"$stdDevSamp": "$v"}}}], "out": [{"_id": null, "s": 0, "a": null, "sd": null}]}"#,
    #"{"in": [{"_id": 1, "v": 2}, {"_id": 2, "v": 4}, {"_id": 3, "v": 4}, {"_id": 4, "v": 5}], "p": [{"$group": {"_id": null, "pop": {"$stdDevPop": "$v"}, "top": {"$topN": {"n": 2, "sortBy": {"v": -1, "_id": 1}, "output": "$_id"}}, "bottom": {"$bottom": {"sortBy": {"v": -1}, "output": "$_id"}}, "fn": {"$firstN": {"n": 2, "input": "$v"}}, "mx": {"$maxN": {"n": 2, "input": "$v"}}, "med": {"$median": {"input": "$v", "method": "approximate"}}}}], "out": [{"_id": null, "pop": 1.0897247358851685, "top": [4, 2], "bottom": 1, "fn": [2, 4], "mx": [5, 4], "med": 4.0}]}"#,
    #"{"in": [{"_id": 1, "a": {"x": 1}}, {"_id": 2, "a": {"y": 2}}], "p": [{"$group": {"_id": null, "m": {"$mergeObjects": "$a"}}}], "out": [{"_id": null, "m": {"x": 1, "y": 2}}]}"#,
    #"{"in": [], "p": [{"$group": {"n": {"$sum": 1}}}], "error": 15955}"#,
    #"{"in": [], "p": [{"$group": {"_id": null, "n": {"$bogus": 1}}}], "error": 15952}"#,
    #"{"in": [], "p": [{"$group": {"_id": null, "a.b": {"$sum": 1}}}], "error": 40235}"#,
    // $sort, $limit, $skip, $count, $sortByCount
    #"{"in": [{"_id": 1, "a": 3}, {"_id": 2, "a": 1}, {"_id": 3, "a": 2}, {"_id": 4}], "p": [{"$sort": {"a": -1}}, {"$limit": 2}], "out": [{"_id": 1, "a": 3}, {"_id": 3, "a": 2}]}"#,
    #"{"in": [{"_id": 1, "a": 3}, {"_id": 2, "a": 1}, {"_id": 3, "a": 2}, {"_id": 4}], "p": [{"$sort": {"a": 1}}, {"$skip": 1}, {"$limit": 2}], "out": [{"_id": 2, "a": 1}, {"_id": 3, "a": 2}]}"#,
    #"{"in": [{"_id": 1}, {"_id": 2}], "p": [{"$count": "total"}], "out": [{"total": 2}]}"#,
    #"{"in": [], "p": [{"$count": "total"}], "out": []}"#,
    #"{"in": [{"_id": 1, "t": "x"}, {"_id": 2, "t": "y"}, {"_id": 3, "t": "x"}], "p": [{"$sortByCount": "$t"}], "out": [{"_id": "x", "count": 2}, {"_id": "y", "count": 1}]}"#,
    #"{"in": [], "p": [{"$limit": 0}], "error": 15958}"#,
    #"{"in": [], "p": [{"$skip": -1}], "error": 15956}"#,
    #"{"in": [], "p": [{"$count": "$x"}], "error": 40158}"#,
    #"{"in": [], "p": [{"$sort": {"a": 2}}], "error": 15975}"#,
    // $unwind
    #"{"in": [{"_id": 1, "a": [1, 2]}, {"_id": 2, "a": []}, {"_id": 3}, {"_id": 4, "a": 5}], "p": [{"$unwind": "$a"}], "out": [{"_id": 1, "a": 1}, {"_id": 1, "a": 2}, {"_id": 4, "a": 5}]}"#,
    #"{"in": [{"_id": 1, "a": [1]}, {"_id": 2, "a": []}, {"_id": 3, "a": null}], "p": [{"$unwind": {"path": "$a", "includeArrayIndex": "i", "preserveNullAndEmptyArrays": true}}], "out": [{"_id": 1, "a": 1, "i": {"$numberLong": "0"}}, {"_id": 2, "i": null}, {"_id": 3, "a": null, "i": null}]}"#,
    #"{"in": [], "p": [{"$unwind": "a"}], "error": 28818}"#,
    // $bucket, $bucketAuto, $facet, $replaceRoot, $redact
    #"{"in": [{"_id": 1, "p": 5}, {"_id": 2, "p": 15}, {"_id": 3, "p": 50}], "p": [{"$bucket": {"groupBy": "$p", "boundaries": [0, 10, 20], "default": "big", "output": {"n": {"$sum": 1}, "ids": {"$push": "$_id"}}}}], "out": [{"_id": 0, "n": 1, "ids": [1]}, {"_id": 10, "n": 1, "ids": [2]}, {"_id": "big", "n": 1, "ids": [3]}]}"#,
    #"{"in": [{"_id": 1, "p": 50}], "p": [{"$bucket": {"groupBy": "$p", "boundaries": [0, 10]}}], "error": 40066}"#,
    #"{"in": [], "p": [{"$bucket": {"groupBy": "$p", "boundaries": [10, 0]}}], "error": 40194}"#,
    #"{"in": [{"_id": 1, "v": 1}, {"_id": 2, "v": 2}, {"_id": 3, "v": 3}, {"_id": 4, "v": 4}], "p": [{"$bucketAuto": {"groupBy": "$v", "buckets": 2}}], "out": [{"_id": {"min": 1, "max": 3}, "count": 2}, {"_id": {"min": 3, "max": 4}, "count": 2}]}"#,
    // $bucketAuto granularity: boundaries from the series, computed as MongoDB does (0.68 is 68 × 0.01)
    #"{"in": [{"v": 1}, {"v": 2}, {"v": 3}, {"v": 4}, {"v": 5}, {"v": 6}, {"v": 7}, {"v": 8}, {"v": 9}, {"v": 10}], "p": [{"$bucketAuto": {"groupBy": "$v", "buckets": 3, "granularity": "E6"}}], "out": [{"_id": {"min": 0.68, "max": 3.3000000000000003}, "count": 3}, {"_id": {"min": 3.3000000000000003, "max": 6.800000000000001}, "count": 3}, {"_id": {"min": 6.800000000000001, "max": 15.0}, "count": 4}]}"#,
    #"{"in": [{"v": 1}, {"v": 3}, {"v": 5}, {"v": 8}, {"v": 20}], "p": [{"$bucketAuto": {"groupBy": "$v", "buckets": 2, "granularity": "POWERSOF2", "output": {"vs": {"$push": "$v"}}}}], "out": [{"_id": {"min": 0.5, "max": 8}, "vs": [1, 3, 5]}, {"_id": {"min": 8, "max": 32}, "vs": [8, 20]}]}"#,
    #"{"in": [{"v": 0}, {"v": 0}, {"v": 1}, {"v": 2}], "p": [{"$bucketAuto": {"groupBy": "$v", "buckets": 2, "granularity": "R5"}}], "out": [{"_id": {"min": 0, "max": 0.63}, "count": 2}, {"_id": {"min": 0.63, "max": 2.5}, "count": 2}]}"#,
    #"{"in": [{"_id": 1}], "p": [{"$bucketAuto": {"groupBy": {"$reduce": {"input": [], "initialValue": 4.940656484124654e-324, "in": {"$size": ["$$value"]}}}, "buckets": {"$numberLong": "8"}, "granularity": "R80"}}], "out": [{"_id": {"min": 0.0, "max": 1.02e-321}, "count": 1}]}"#,
    #"{"in": [{"v": 150}, {"v": 210}, {"v": 950}], "p": [{"$bucketAuto": {"groupBy": "$v", "buckets": 2, "granularity": "1-2-5"}}], "out": [{"_id": {"min": 100.0, "max": 500.0}, "count": 2}, {"_id": {"min": 500.0, "max": 1000.0}, "count": 1}]}"#,
    #"{"in": [{"v": "x"}], "p": [{"$bucketAuto": {"groupBy": "$v", "buckets": 2, "granularity": "R5"}}], "error": 40258}"#,
    #"{"in": [{"v": -1}], "p": [{"$bucketAuto": {"groupBy": "$v", "buckets": 2, "granularity": "R5"}}], "error": 40260}"#,
    #"{"in": [], "p": [{"$bucketAuto": {"groupBy": "$v", "buckets": 2, "granularity": "R7"}}], "error": 40257}"#,
    #"{"in": [], "p": [{"$bucketAuto": {"groupBy": "$v", "buckets": 2, "granularity": 5}}], "error": 40261}"#,
    #"{"in": [], "p": [{"$bucketAuto": {"groupBy": "$v", "buckets": 2.5}}], "error": 40242}"#,
    #"{"in": [{"_id": 1, "v": 1}, {"_id": 2, "v": 2}], "p": [{"$facet": {"n": [{"$count": "c"}], "first": [{"$limit": 1}, {"$project": {"_id": 1}}]}}], "out": [{"n": [{"c": 2}], "first": [{"_id": 1}]}]}"#,
    #"{"in": [], "p": [{"$facet": {"x": [{"$out": "y"}]}}], "error": 40600}"#,
    #"{"in": [{"_id": 1, "a": {"b": 2}}], "p": [{"$replaceRoot": {"newRoot": "$a"}}], "out": [{"b": 2}]}"#,
    #"{"in": [{"_id": 1, "a": 5}], "p": [{"$replaceWith": "$a"}], "error": 40228}"#,
    #"{"in": [{"_id": 1, "level": 1, "sub": {"level": 5, "x": 1}, "keep": {"y": 2}}], "p": [{"$redact": {"$cond": [{"$gt": [{"$ifNull": ["$level", 0]}, 3]}, "$$PRUNE", "$$DESCEND"]}}], "out": [{"_id": 1, "level": 1, "keep": {"y": 2}}]}"#,
    // $lookup (equality, pipeline, both), $unionWith, $graphLookup
    #"{"in": [{"_id": 1, "k": "a"}, {"_id": 2, "k": ["a", "b"]}, {"_id": 3}], "other": [{"_id": 10, "f": "a"}, {"_id": 11, "f": "b"}, {"_id": 12}], "p": [{"$lookup": {"from": "other", "localField": "k", "foreignField": "f", "as": "j"}}, {"$project": {"j._id": 1}}], "out": [{"_id": 1, "j": [{"_id": 10}]}, {"_id": 2, "j": [{"_id": 10}, {"_id": 11}]}, {"_id": 3, "j": [{"_id": 12}]}]}"#,
    #"{"in": [{"_id": 1, "min": 11}], "other": [{"_id": 10}, {"_id": 11}, {"_id": 12}], "p": [{"$lookup": {"from": "other", "let": {"m": "$min"}, "pipeline": [{"$match": {"$expr": {"$gte": ["$_id", "$$m"]}}}, {"$sort": {"_id": -1}}], "as": "j"}}], "out": [{"_id": 1, "min": 11, "j": [{"_id": 12}, {"_id": 11}]}]}"#,
    #"{"in": [{"_id": 1, "k": "a"}], "other": [{"_id": 10, "f": "a", "n": 1}, {"_id": 11, "f": "a", "n": 5}], "p": [{"$lookup": {"from": "other", "localField": "k", "foreignField": "f", "pipeline": [{"$match": {"n": {"$gt": 2}}}], "as": "j"}}], "out": [{"_id": 1, "k": "a", "j": [{"_id": 11, "f": "a", "n": 5}]}]}"#,
    #"{"in": [{"_id": 1}], "p": [{"$lookup": {"from": "other", "localField": "k", "as": "j"}}], "error": 9}"#,
    #"{"in": [{"_id": 1}], "other": [{"_id": 2}], "p": [{"$unionWith": {"coll": "other", "pipeline": [{"$set": {"u": true}}]}}], "out": [{"_id": 1}, {"_id": 2, "u": true}]}"#,
    #"{"in": [{"_id": 1, "boss": "b"}], "other": [{"_id": "b", "reportsTo": "c"}, {"_id": "c", "reportsTo": "d"}, {"_id": "d"}], "p": [{"$graphLookup": {"from": "other", "startWith": "$boss", "connectFromField": "reportsTo", "connectToField": "_id", "as": "chain", "depthField": "depth", "maxDepth": 1}}, {"$project": {"chain._id": 1, "chain.depth": 1}}], "out": [{"_id": 1, "chain": [{"_id": "b", "depth": {"$numberLong": "0"}}, {"_id": "c", "depth": {"$numberLong": "1"}}]}]}"#,
    // $setWindowFields
    #"{"in": [{"_id": 1, "g": "a", "v": 1}, {"_id": 2, "g": "a", "v": 2}, {"_id": 3, "g": "b", "v": 5}, {"_id": 4, "g": "a", "v": 3}], "p": [{"$setWindowFields": {"partitionBy": "$g", "sortBy": {"_id": 1}, "output": {"run": {"$sum": "$v", "window": {"documents": ["unbounded", "current"]}}, "rank": {"$rank": {}}, "total": {"$sum": "$v"}}}}], "out": [{"_id": 1, "g": "a", "v": 1, "run": 1, "rank": 1, "total": 6}, {"_id": 2, "g": "a", "v": 2, "run": 3, "rank": 2, "total": 6}, {"_id": 4, "g": "a", "v": 3, "run": 6, "rank": 3, "total": 6}, {"_id": 3, "g": "b", "v": 5, "run": 5, "rank": 1, "total": 5}]}"#,
    #"{"in": [{"_id": 1, "v": 1}, {"_id": 2, "v": 2}, {"_id": 3, "v": 3}], "p": [{"$setWindowFields": {"sortBy": {"_id": 1}, "output": {"avg": {"$avg": "$v", "window": {"documents": [-1, 1]}}, "next": {"$shift": {"output": "$v", "by": 1, "default": "none"}}, "n": {"$documentNumber": {}}}}}], "out": [{"_id": 1, "v": 1, "avg": 1.5, "next": 2, "n": 1}, {"_id": 2, "v": 2, "avg": 2.0, "next": 3, "n": 2}, {"_id": 3, "v": 3, "avg": 2.5, "next": "none", "n": 3}]}"#,
    #"{"in": [{"_id": 1, "s": 10, "v": 1}, {"_id": 2, "s": 10}, {"_id": 3, "s": 20, "v": null}, {"_id": 4, "s": 30, "v": 4}], "p": [{"$setWindowFields": {"sortBy": {"s": 1}, "output": {"dense": {"$denseRank": {}}, "rank": {"$rank": {}}, "filled": {"$locf": "$v"}}}}], "out": [{"_id": 1, "s": 10, "v": 1, "dense": 1, "rank": 1, "filled": 1}, {"_id": 2, "s": 10, "dense": 1, "rank": 1, "filled": 1}, {"_id": 3, "s": 20, "v": null, "dense": 2, "rank": 3, "filled": 1}, {"_id": 4, "s": 30, "v": 4, "dense": 3, "rank": 4, "filled": 4}]}"#,
    #"{"in": [{"_id": 1, "s": 10, "v": 1}, {"_id": 2, "s": 15}, {"_id": 3, "s": 20, "v": null}, {"_id": 4, "s": 30, "v": 4}], "p": [{"$setWindowFields": {"sortBy": {"s": 1}, "output": {"lin": {"$linearFill": "$v"}}}}], "out": [{"_id": 1, "s": 10, "v": 1, "lin": 1}, {"_id": 2, "s": 15, "lin": 1.75}, {"_id": 3, "s": 20, "v": null, "lin": 2.5}, {"_id": 4, "s": 30, "v": 4, "lin": 4}]}"#,
    #"{"in": [{"_id": 1, "s": 10, "v": 1}, {"_id": 2, "s": 10}], "p": [{"$setWindowFields": {"sortBy": {"s": 1}, "output": {"lin": {"$linearFill": "$v"}}}}], "error": 6050106}"#,
    #"{"in": [{"_id": 1, "t": 1, "v": 1}, {"_id": 2, "t": 2, "v": 10}, {"_id": 3, "t": 5, "v": 100}], "p": [{"$setWindowFields": {"sortBy": {"t": 1}, "output": {"r": {"$sum": "$v", "window": {"range": [-2, 0]}}, "i": {"$integral": {"input": "$t"}, "window": {"documents": ["unbounded", "current"]}}}}}], "out": [{"_id": 1, "t": 1, "v": 1, "r": 1, "i": 0.0}, {"_id": 2, "t": 2, "v": 10, "r": 11, "i": 1.5}, {"_id": 3, "t": 5, "v": 100, "r": 100, "i": 12.0}]}"#,
    #"{"in": [], "p": [{"$setWindowFields": {"output": {"r": {"$rank": {}}}}}], "error": 5371602}"#,
    #"{"in": [], "p": [{"$setWindowFields": {"sortBy": {"a": 1}, "output": {"r": {"$bogus": {}}}}}], "error": 9}"#,
    #"{"in": [{"_id": 1, "t": 1, "a": 1, "b": "x"}, {"_id": 2, "t": 2}, {"_id": 3, "t": 3, "a": 3, "b": null}], "p": [{"$fill": {"sortBy": {"t": 1}, "output": {"a": {"method": "linear"}, "b": {"value": "none"}}}}], "out": [{"_id": 1, "t": 1, "a": 1, "b": "x"}, {"_id": 2, "t": 2, "a": 2.0, "b": "none"}, {"_id": 3, "t": 3, "a": 3, "b": "none"}]}"#,
    #"{"in": [{"_id": 1, "g": 1, "a": 5}, {"_id": 2, "g": 2}, {"_id": 3, "g": 1}], "p": [{"$fill": {"sortBy": {"_id": 1}, "partitionByFields": ["g"], "output": {"a": {"method": "locf"}}}}], "out": [{"_id": 1, "g": 1, "a": 5}, {"_id": 3, "g": 1, "a": 5}, {"_id": 2, "g": 2, "a": null}]}"#,
    #"{"in": [{"_id": 1, "x": 1}, {"_id": 2, "x": 4}, {"_id": 3}], "p": [{"$densify": {"field": "x", "range": {"step": 1, "bounds": "full"}}}, {"$project": {"_id": 0}}], "out": [{}, {"x": 1}, {"x": 2}, {"x": 3}, {"x": 4}]}"#,
    #"{"in": [{"_id": 1, "g": "a", "x": 2}, {"_id": 2, "g": "b", "x": 0}], "p": [{"$densify": {"field": "x", "partitionByFields": ["g"], "range": {"step": 1, "bounds": [0, 2]}}}, {"$project": {"_id": 0}}], "out": [{"x": 0, "g": "a"}, {"x": 1, "g": "a"}, {"g": "a", "x": 2}, {"g": "b", "x": 0}, {"x": 1, "g": "b"}]}"#,
    #"{"in": [{"_id": 1, "t": {"$date": "2024-01-31T00:00:00Z"}}, {"_id": 2, "t": {"$date": "2024-04-30T00:00:00Z"}}], "p": [{"$densify": {"field": "t", "range": {"step": 1, "unit": "month", "bounds": "full"}}}, {"$project": {"_id": 0}}], "out": [{"t": {"$date": "2024-01-31T00:00:00Z"}}, {"t": {"$date": "2024-02-29T00:00:00Z"}}, {"t": {"$date": "2024-03-29T00:00:00Z"}}, {"t": {"$date": "2024-04-29T00:00:00Z"}}, {"t": {"$date": "2024-04-30T00:00:00Z"}}]}"#,
    #"{"in": [], "p": [{"$densify": {"field": "x", "range": {"step": 0, "bounds": "full"}}}], "error": 5733401}"#,
    // $documents in a sub-pipeline, $sample size, unknown and unsupported stages
    #"{"in": [{"_id": 1}], "p": [{"$unionWith": {"pipeline": [{"$documents": [{"x": 1}]}]}}], "out": [{"_id": 1}, {"x": 1}]}"#,
    #"{"in": [{"_id": 1}, {"_id": 2}, {"_id": 3}], "p": [{"$sample": {"size": 2}}, {"$count": "n"}], "out": [{"n": 2}]}"#,
    #"{"in": [], "p": [{"$bogus": {}}], "error": 40324}"#,
    #"{"in": [], "p": [{"$match": {}}, {"$changeStream": {}}], "error": 40602}"#,
    #"{"in": [], "p": [{"$out": "x"}, {"$match": {}}], "error": 40601}"#,
    #"{"in": [], "p": [{"$match": {}, "$sort": {"a": 1}}], "error": 40323}"#,
]

let expressionCases: [AggregationCase] = [
    #"{"in": [{"_id": 1, "s": "Hello World", "a": [3, 1, 2]}], "p": [{"$project": {"_id": 0, "split": {"$split": ["$s", " "]}, "sub": {"$substrCP": ["$s", 1, 3]}, "len": {"$strLenBytes": "$s"}, "idx": {"$indexOfBytes": ["$s", "o"]}, "up": {"$toUpper": "$s"}, "rep": {"$replaceOne": {"input": "$s", "find": "o", "replacement": "0"}}, "trim": {"$rtrim": {"input": "xx--", "chars": "-"}}, "cmp": {"$strcasecmp": ["a", "A"]}}}], "out": [{"split": ["Hello", "World"], "sub": "ell", "len": 11, "idx": 4, "up": "HELLO WORLD", "rep": "Hell0 World", "trim": "xx", "cmp": 0}]}"#,
    #"{"in": [{"_id": 1, "s": "a1b22"}], "p": [{"$project": {"_id": 0, "m": {"$regexMatch": {"input": "$s", "regex": "\\d"}}, "f": {"$regexFind": {"input": "$s", "regex": "(\\d)+"}}, "all": {"$regexFindAll": {"input": "$s", "regex": "\\d+"}}}}], "out": [{"m": true, "f": {"match": "1", "idx": 1, "captures": ["1"]}, "all": [{"match": "1", "idx": 1, "captures": []}, {"match": "22", "idx": 3, "captures": []}]}]}"#,
    #"{"in": [{"_id": 1, "a": [3, 1, 2]}], "p": [{"$project": {"_id": 0, "sl": {"$slice": ["$a", 1, 5]}, "rev": {"$reverseArray": "$a"}, "sorted": {"$sortArray": {"input": "$a", "sortBy": 1}}, "io": {"$indexOfArray": ["$a", 2]}, "r": {"$range": [5, 0, -2]}, "z": {"$zip": {"inputs": ["$a", ["x", "y"]]}}, "cat": {"$concatArrays": ["$a", [4]]}, "first": {"$first": "$a"}, "o": {"$arrayToObject": [[{"k": "p", "v": 1}]]}, "in": {"$in": [2, "$a"]}}}], "out": [{"sl": [1, 2], "rev": [2, 1, 3], "sorted": [1, 2, 3], "io": 2, "r": [5, 3, 1], "z": [[3, "x"], [1, "y"]], "cat": [3, 1, 2, 4], "first": 3, "o": {"p": 1}, "in": true}]}"#,
    #"{"in": [{"_id": 1}], "p": [{"$project": {"_id": 0, "u": {"$setUnion": [[1, 2], [2, 3]]}, "i": {"$setIntersection": [[1, 2], [2, 3]]}, "d": {"$setDifference": [[1, 2], [2]]}, "e": {"$setEquals": [[1, 2], [2, 1, 1]]}, "s": {"$setIsSubset": [[1], [1, 2]]}, "any": {"$anyElementTrue": [[0, false, 1]]}, "all": {"$allElementsTrue": [[1, true]]}}}], "out": [{"u": [1, 2, 3], "i": [2], "d": [1], "e": true, "s": true, "any": true, "all": true}]}"#,
    #"{"in": [{"_id": 1, "d": {"$date": "2024-03-05T14:07:09.123Z"}}], "p": [{"$project": {"_id": 0, "s": {"$dateToString": {"date": "$d", "format": "%Y/%m/%d %H:%M:%S.%L %j %u %V"}}, "y": {"$year": "$d"}, "dow": {"$dayOfWeek": "$d"}, "wy": {"$isoWeekYear": "$d"}, "tz": {"$hour": {"date": "$d", "timezone": "Asia/Kolkata"}}, "add": {"$dateAdd": {"startDate": "$d", "unit": "month", "amount": -3}}, "diff": {"$dateDiff": {"startDate": {"$date": "2024-01-31T00:00:00Z"}, "endDate": "$d", "unit": "month"}}, "trunc": {"$dateTrunc": {"date": "$d", "unit": "quarter"}}, "parts": {"$dateToParts": {"date": "$d"}}}}], "out": [{"s": "2024/03/05 14:07:09.123 065 2 10", "y": 2024, "dow": 3, "wy": {"$numberLong": "2024"}, "tz": 19, "add": {"$date": "2023-12-05T14:07:09.123Z"}, "diff": {"$numberLong": "2"}, "trunc": {"$date": "2024-01-01T00:00:00Z"}, "parts": {"year": 2024, "month": 3, "day": 5, "hour": 14, "minute": 7, "second": 9, "millisecond": 123}}]}"#,
    #"{"in": [{"_id": 1}], "p": [{"$project": {"_id": 0, "a": {"$dateFromString": {"dateString": "2017-02-08T12:10:40.787+02:00"}}, "b": {"$dateFromString": {"dateString": "06/15/2018", "format": "%m/%d/%Y", "timezone": "-05:00"}}, "c": {"$dateFromParts": {"year": 2017, "month": 14, "day": 1}}, "d": {"$dateFromString": {"dateString": "nope", "onError": "bad"}}, "e": {"$dateFromParts": {"isoWeekYear": 2024, "isoWeek": 1, "isoDayOfWeek": 1}}}}], "out": [{"a": {"$date": "2017-02-08T10:10:40.787Z"}, "b": {"$date": "2018-06-15T05:00:00Z"}, "c": {"$date": "2018-02-01T00:00:00Z"}, "d": "bad", "e": {"$date": "2024-01-01T00:00:00Z"}}]}"#,
    #"{"in": [{"_id": 1, "a": [1, 2, 3, 4]}], "p": [{"$project": {"_id": 0, "s": {"$sum": "$a"}, "s2": {"$sum": [1, 2.5]}, "avg": {"$avg": "$a"}, "mx": {"$max": [1, "$a"]}, "mn": {"$min": "$a"}, "sd": {"$stdDevSamp": "$a"}, "ln": {"$firstN": {"n": 2, "input": "$a"}}}}], "out": [{"s": 10, "s2": 3.5, "avg": 2.5, "mx": [1, 2, 3, 4], "mn": 1, "sd": 1.2909944487358056, "ln": [1, 2]}]}"#,
    #"{"in": [{"_id": 1}], "p": [{"$project": {"x": {"$split": [1, "a"]}}}], "error": 40085}"#,
    #"{"in": [{"_id": 1}], "p": [{"$project": {"x": {"$dateToString": {"date": {"$date": "2024-01-01T00:00:00Z"}, "format": "%Q"}}}}], "error": 18536}"#,
    #"{"in": [{"_id": 1}], "p": [{"$project": {"x": {"$year": {"date": {"$date": "2024-01-01T00:00:00Z"}, "timezone": "Mars/Olympus"}}}}], "error": 40485}"#,
    #"{"in": [{"_id": 1}], "p": [{"$project": {"x": {"$setUnion": [[1], 2]}}}], "error": 17043}"#,
    #"{"in": [{"_id": 1}], "p": [{"$project": {"x": {"$range": [0, 5, 0]}}}], "error": 34449}"#,
    #"{"in": [{"_id": 1}], "p": [{"$project": {"x": {"$year": "abc"}}}], "error": 16006}"#,
]

@Suite struct AggregationTableTests {
    @Test(arguments: stageCases)
    func stages(_ c: AggregationCase) throws { try check(c) }

    @Test(arguments: expressionCases)
    func expressions(_ c: AggregationCase) throws { try check(c) }

    func check(_ c: AggregationCase) throws {
        let (output, code, expected) = try aggregate(c.json)
        switch expected {
        case .array(let docs):
            #expect(code == nil, "failed with \(code ?? 0)")
            #expect(output.map { BSON.array($0) } == .array(docs), "got \(output.map { "\(BSON.array($0))" } ?? "error")")
        default:
            #expect(code == Int32(expected.exactInt64 ?? 0), "got \(output.map { "\(BSON.array($0))" } ?? "code \(code ?? 0)")")
        }
    }
}

@Suite struct AggregationWriteTests {
    @Test func outReplacesTheTargetAtomically() throws {
        let engine = try Engine.inMemory()
        let source = try Namespace(database: "agg", collection: "c")
        let target = try Namespace(database: "agg", collection: "t")
        _ = try engine.insert(source, [["_id": 1, "k": "a"], ["_id": 2, "k": "b"], ["_id": 3, "k": "a"]])
        _ = try engine.insert(target, [["_id": "old"]])
        let cursor = try engine.aggregate(database: "agg", collection: "c", AggregateRequest(pipeline: [
            ["$group": ["_id": "$k", "n": ["$sum": 1]]], ["$sort": ["_id": 1]], ["$out": "t"],
        ]))
        #expect(try cursor.all().isEmpty)
        #expect(try docs(engine.find(target, FindRequest(sort: ["_id": 1]))) == [["_id": "a", "n": 2], ["_id": "b", "n": 1]])
        #expect(engine.collections(in: "agg").map(\.name).sorted() == ["c", "t"])
        // A failing $out (duplicate _id) leaves the target as it was and no temporary collection.
        guard case .failure = run(engine, AggregateRequest(pipeline: [["$project": ["_id": 0]], ["$set": ["_id": 1]], ["$out": "t"]])) else {
            Issue.record("a duplicate _id must fail $out")
            return
        }
        #expect(try docs(engine.find(target, FindRequest(sort: ["_id": 1]))).count == 2)
        #expect(engine.collections(in: "agg").map(\.name).sorted() == ["c", "t"])
    }

    @Test func mergeModes() throws {
        let engine = try Engine.inMemory()
        let target = try Namespace(database: "agg", collection: "t")
        _ = try engine.insert(try Namespace(database: "agg", collection: "c"), [["_id": 1, "v": 10], ["_id": 2, "v": 20]])
        _ = try engine.insert(target, [["_id": 1, "v": 0, "keep": true]])
        func merge(_ spec: Document) throws {
            if case .failure(let e) = run(engine, AggregateRequest(pipeline: [["$merge": .document(spec)]])) { throw e }
        }
        try merge(["into": "t", "whenMatched": "merge", "whenNotMatched": "insert"])
        #expect(try docs(engine.find(target, FindRequest(sort: ["_id": 1]))) == [["_id": 1, "v": 10, "keep": true], ["_id": 2, "v": 20]])
        try merge(["into": "t", "whenMatched": "replace", "whenNotMatched": "discard"])
        #expect(try docs(engine.find(target, FindRequest(sort: ["_id": 1]))) == [["_id": 1, "v": 10], ["_id": 2, "v": 20]])
        try merge(["into": "t", "whenMatched": [["$set": ["v": ["$add": ["$v", "$$new.v"]]]]], "whenNotMatched": "discard"])
        #expect(try docs(engine.find(target, FindRequest(sort: ["_id": 1]))) == [["_id": 1, "v": 20], ["_id": 2, "v": 40]])
        #expect(throws: FolioError.self) { try merge(["into": "t", "whenMatched": "fail"]) }
        #expect(throws: FolioError.self) { try merge(["into": "t", "on": "v"]) }
    }

    /// $merge writes 1,000 results per commit: over several batches the outcome is what one
    /// result at a time gives, results with the same `_id` apply in order, and the first
    /// failing result stops the stage with the results before it written.
    @Test func mergeInBatchesKeepsOrderAndStopsAtTheFirstFailure() throws {
        let engine = try Engine.inMemory()
        let source = try Namespace(database: "agg", collection: "c"), target = try Namespace(database: "agg", collection: "t")
        let n = Engine.mergeBatchDocuments * 2 + 300
        _ = try engine.insert(source, (0..<n).map { ["_id": .int32(Int32($0)), "k": .int32(Int32($0 % 7)), "v": .int32(Int32($0))] })
        // Grouped by k: every result of one k merges into the same target document in turn.
        let byK: [BSON] = [["$sort": ["_id": 1]], ["$project": ["_id": "$k", "last": "$v"]],
                           ["$merge": ["into": "t", "whenMatched": "merge", "whenNotMatched": "insert"]]]
        _ = try engine.aggregate(database: "agg", collection: "c", AggregateRequest(pipeline: byK)).all()
        let merged = try docs(engine.find(target, FindRequest(sort: ["_id": 1])))
        #expect(merged == (0..<7).map { k in ["_id": .int32(Int32(k)), "last": .int32(Int32((n - 1 - k) / 7 * 7 + k))] })
        // whenMatched: fail, with one result already in the target part way through the second batch.
        let failing = Int32(Engine.mergeBatchDocuments + 500)
        let other = try Namespace(database: "agg", collection: "u")
        _ = try engine.insert(other, [["_id": .int32(failing), "v": -1]])
        let result = run(engine, AggregateRequest(pipeline: [["$sort": ["_id": 1]], ["$merge": ["into": "u", "whenMatched": "fail"]]]))
        guard case .failure(let error) = result else { Issue.record("whenMatched: fail must fail"); return }
        #expect(error.code == .duplicateKey && error.message.hasPrefix("$merge with whenMatched: fail found an existing document") && error.message.contains("\(failing)"), "\(error)")
        #expect(try engine.estimatedCount(other) == Int(failing) + 1)
        #expect(try docs(engine.find(other, FindRequest(filter: ["_id": .int32(failing)]))).first?["v"] == -1)
    }

    @Test func dollarSortMemoryLimitWithoutDiskUse() throws {
        let engine = try Engine.inMemory()
        let big = String(repeating: "x", count: 1_000_000)
        _ = try engine.insert(try Namespace(database: "agg", collection: "c"), (0..<120).map { ["_id": .int32(Int32($0)), "s": .string(big)] })
        if case .failure(let error) = run(engine, AggregateRequest(pipeline: [["$sort": ["s": 1, "_id": -1]]], allowDiskUse: false)) {
            #expect(error.code == .queryExceededMemoryLimitNoDiskUseAllowed)
        } else {
            Issue.record("expected 292")
        }
        let sorted = try engine.aggregate(database: "agg", collection: "c", AggregateRequest(pipeline: [["$sort": ["s": 1, "_id": -1]], ["$project": ["s": 0]]])).all()
        #expect(sorted.count == 120 && sorted.first?.document()["_id"] == 119)
    }

    /// A `$group` over a collection that reads only top-level fields and constants reads them
    /// from the stored bytes (GroupSpec.topLevelInputs): the same groups, values and types as
    /// evaluating its expressions over decoded documents, in memory and spilled.
    @Test func groupsOfTopLevelFieldsReadStoredBytesAndAgreeWithEvaluation() throws {
        let engine = try Engine.inMemory()
        let ns = try Namespace(database: "agg", collection: "c")
        let keys: [BSON?] = ["a", 1, 1.0, .int64(2), .null, nil, [1, 2], ["x": 1], "b"]
        let values: [BSON?] = [1, .int64(5), 2.5, "s", nil, .null, .decimal128(Decimal128("1.5")!), [3], .int64(.max)]
        _ = try engine.insert(ns, (0..<900).map { i in
            var d: Document = ["_id": .int32(Int32(i))]
            if let k = keys[i % keys.count] { d.append("k", k) }
            if let v = values[(i / 3) % values.count] { d.append("v", v) }
            return d
        })
        let group: BSON = ["_id": "$k", "n": ["$sum": 1], "total": ["$sum": "$v"], "avg": ["$avg": "$v"], "min": ["$min": "$v"],
                           "max": ["$max": "$v"], "first": ["$first": "$v"], "last": ["$last": "$v"], "all": ["$push": "$v"],
                           "set": ["$addToSet": "$k"], "count": ["$count": [:]], "c": ["$first": "const"]]
        #expect(try GroupSpec(parsing: group, context: ParseContext()).topLevelInputs != nil)
        #expect(try GroupSpec(parsing: ["_id": "$k.x", "n": ["$sum": 1]], context: ParseContext()).topLevelInputs == nil)
        #expect(try GroupSpec(parsing: ["_id": "$k", "n": ["$sum": "$$ROOT"]], context: ParseContext()).topLevelInputs == nil)
        #expect(try GroupSpec(parsing: ["_id": ["a": "$k", "b": ["$toString": "$k"]]], context: ParseContext()).topLevelInputs == nil)
        for (n, pipeline): (Int, [BSON]) in [[["$group": group], ["$sort": ["_id": 1]]],
                                 [["$match": ["_id": ["$gte": 100]]], ["$group": ["_id": nil, "n": ["$sum": 1], "s": ["$sum": "$v"]]]],
                                 [["$group": ["_id": ["k": "$k", "t": "x", "m": "$missing", "in": ["v": "$v"]], "n": ["$sum": 1]]],
                                  ["$sort": ["_id": 1]]]].enumerated() {
            let stored = try engine.aggregate(database: "agg", collection: "c", AggregateRequest(pipeline: pipeline)).all().map { $0.document() }
            // A stage before the group makes it evaluate over decoded documents.
            let evaluated = try engine.aggregate(database: "agg", collection: "c", AggregateRequest(pipeline: [["$set": ["zz": 1]]] + pipeline))
                .all().map { $0.document() }
            // (Compared as bytes: field order and types too.)
            #expect(!stored.isEmpty && stored.map { $0.bsonBytes() } == evaluated.map { $0.bsonBytes() })
            // (Only the first holds enough groups to outgrow the budget.)
            if n == 0 { try expectSpilledResults(engine, pipeline, stored) }
        }
    }

    @Test func groupSpillsByPartitioningAndAgreesWithTheInMemoryGroup() throws {
        let engine = try Engine.inMemory()
        let ns = try Namespace(database: "agg", collection: "c")
        // 6,000 documents in 2,000 groups; each group's documents are spread over the input.
        _ = try engine.insert(ns, (0..<6_000).map { i in
            ["_id": .int32(Int32(i)), "k": .string("key\(i % 2_000)"), "v": .int32(Int32(i)), "w": .double(Double(i) / 4)]
        })
        let pipeline: [BSON] = [["$group": ["_id": "$k", "n": ["$sum": 1], "total": ["$sum": "$v"], "avg": ["$avg": "$w"],
                                            "first": ["$first": "$v"], "last": ["$last": "$v"], "all": ["$push": "$v"],
                                            "top": ["$top": ["sortBy": ["v": -1], "output": "$v"]]]],
                                ["$sort": ["_id": 1]]]
        let expected = try engine.aggregate(database: "agg", collection: "c", AggregateRequest(pipeline: pipeline)).all().map { $0.document() }
        #expect(expected.count == 2_000 && expected[0] == ["_id": "key0", "n": 3, "total": 6_000, "avg": 500.0, "first": 0,
                                                           "last": 4_000, "all": [0, 2_000, 4_000], "top": 4_000])
        // A 16 KiB budget holds ~100 groups: the rest spill into partitions, which overflow
        // again and split (recursively) until each fits.
        try expectSpilledResults(engine, pipeline, expected)
    }

    /// $bucketAuto, $setWindowFields, $densify and $facet sort or buffer their input through
    /// temporary files past the budget: the same results as in memory, 292 without allowDiskUse.
    @Test(arguments: [
        [["$bucketAuto": ["groupBy": "$v", "buckets": 7, "output": ["n": ["$sum": 1], "ids": ["$push": "$_id"], "last": ["$last": "$w"]]]]],
        [["$bucketAuto": ["groupBy": ["$ifNull": ["$v", 0]], "buckets": 5, "granularity": "R10"]]],
        [["$setWindowFields": ["partitionBy": "$g", "sortBy": ["v": -1],
                               "output": ["run": ["$sum": "$v", "window": ["documents": ["unbounded", "current"]]], "r": ["$rank": [:]]]]]],
        [["$densify": ["field": "v", "partitionByFields": ["g"], "range": ["step": 1, "bounds": "partition"]]], ["$project": ["w": 0]]],
        [["$densify": ["field": "v", "range": ["step": 2, "bounds": [100, 140]]]], ["$project": ["w": 0]]],
        [["$facet": ["count": [["$count": "n"]], "page": [["$sort": ["v": 1, "_id": 1]], ["$skip": 10], ["$limit": 3]],
                     "byG": [["$group": ["_id": "$g", "n": ["$sum": 1]]], ["$sort": ["_id": 1]]]]]],
    ] as [[BSON]])
    func blockingStagesSpillAndAgreeWithMemory(_ pipeline: [BSON]) throws {
        let engine = try Engine.inMemory()
        let ns = try Namespace(database: "agg", collection: "c")
        // 3,000 documents of ~100 bytes (300 KB) against a 16 KiB budget: many runs.
        _ = try engine.insert(ns, (0..<3_000).map { i in
            let v: BSON = i % 10 == 3 ? .null : .int32(Int32((i * 7919) % 997))
            return ["_id": .int32(Int32(i)), "g": .string("g\(i % 40)"), "v": v, "w": .string(String(repeating: "w", count: 60))]
        })
        let expected = try engine.aggregate(database: "agg", collection: "c", AggregateRequest(pipeline: pipeline)).all().map { $0.document() }
        #expect(!expected.isEmpty)
        try expectSpilledResults(engine, pipeline, expected)
    }

    @Test func aWindowPartitionLargerThanTheBudgetFails() throws {
        let engine = try Engine.inMemory()
        _ = try engine.insert(try Namespace(database: "agg", collection: "c"), (0..<500).map { i in
            ["_id": .int32(Int32(i)), "w": .string(String(repeating: "w", count: 100))]
        })
        var request = AggregateRequest(pipeline: [["$setWindowFields": ["sortBy": ["_id": 1], "output": ["n": ["$documentNumber": [:]]]]]])
        request.blockingStageMemoryBytes = 16 << 10
        if case .failure(let error) = run(engine, request) {
            #expect(error.code.rawValue == 5414201)
        } else {
            Issue.record("expected 5414201")
        }
    }
}

/// The evaluation bound and killOp reach window functions (issue 27): a $push over an
/// unbounded window of a large partition builds n² values.
@Suite struct WindowFieldsBoundTests {
    @Test func unboundedPushWindowsAreBounded() throws {
        let engine = try Engine.inMemory()
        let ns = try Namespace(database: "agg", collection: "w")
        _ = try engine.insert(ns, (0..<2_000).map { ["_id": .int32(Int32($0))] })
        let pipeline: [BSON] = [["$setWindowFields": ["sortBy": ["_id": 1], "output": [
            "all": ["$push": "$_id", "window": ["documents": ["unbounded", "unbounded"]]]]]]]
        let run = { (interrupt: OperationInterrupt) -> Result<Int, FolioError> in
            OperationInterrupt.$current.withValue(interrupt) {
                do throws(FolioError) {
                    return .success(try engine.aggregate(database: "agg", collection: "w", AggregateRequest(pipeline: pipeline)).all().count)
                } catch { return .failure(error) }
            }
        }
        guard case .failure(let error) = run(OperationInterrupt(maximumEvaluationBytes: 8 << 20)) else {
            Issue.record("2,000 arrays of 2,000 values built past an 8 MB bound"); return
        }
        #expect(error.code == .exceededMemoryLimit)
        let killed = OperationInterrupt()
        killed.kill()
        guard case .failure(let interrupted) = run(killed) else { Issue.record("not interrupted"); return }
        #expect(interrupted.code == .interrupted)
        guard case .success(let count) = run(OperationInterrupt()) else { Issue.record("the default bound refused 100 MB"); return }
        #expect(count == 2_000)
    }
}
