// MongoDB 8.0's operator, stage and option names, as its manual lists them: the vocabulary
// the command generator builds hostile requests from. Names Folio does not implement are
// here on purpose — they must be refused with an error, never crash.

/// MongoDB's names, grouped by where they appear.
public enum MongoNames {
    /// Query (match) operators, `{field: {$op: ...}}` and top level.
    public static let queryOperators = [
        "$eq", "$ne", "$gt", "$gte", "$lt", "$lte", "$in", "$nin", "$and", "$or", "$nor", "$not",
        "$exists", "$type", "$expr", "$jsonSchema", "$mod", "$regex", "$options", "$text", "$where",
        "$geoIntersects", "$geoWithin", "$near", "$nearSphere", "$all", "$elemMatch", "$size",
        "$bitsAllClear", "$bitsAllSet", "$bitsAnyClear", "$bitsAnySet", "$comment", "$sampleRate",
        "$box", "$center", "$centerSphere", "$geometry", "$maxDistance", "$minDistance", "$polygon",
        "$search", "$language", "$caseSensitive", "$diacriticSensitive", "$alwaysTrue", "$alwaysFalse",
    ]

    /// Aggregation expression operators.
    public static let expressionOperators = [
        "$abs", "$add", "$ceil", "$divide", "$exp", "$floor", "$ln", "$log", "$log10", "$mod", "$multiply",
        "$pow", "$round", "$sqrt", "$subtract", "$trunc", "$arrayElemAt", "$arrayToObject", "$concatArrays",
        "$filter", "$first", "$firstN", "$in", "$indexOfArray", "$isArray", "$last", "$lastN", "$map", "$maxN",
        "$minN", "$objectToArray", "$range", "$reduce", "$reverseArray", "$size", "$slice", "$sortArray", "$zip",
        "$bitAnd", "$bitNot", "$bitOr", "$bitXor", "$and", "$not", "$or", "$cmp", "$eq", "$gt", "$gte", "$lt",
        "$lte", "$ne", "$cond", "$ifNull", "$switch", "$binarySize", "$bsonSize", "$function", "$accumulator",
        "$let", "$literal", "$getField", "$rand", "$sampleRate", "$mergeObjects", "$setField", "$unsetField",
        "$allElementsTrue", "$anyElementTrue", "$setDifference", "$setEquals", "$setIntersection",
        "$setIsSubset", "$setUnion", "$concat", "$dateAdd", "$dateDiff", "$dateFromParts", "$dateFromString",
        "$dateSubtract", "$dateToParts", "$dateToString", "$dateTrunc", "$dayOfMonth", "$dayOfWeek",
        "$dayOfYear", "$hour", "$isoDayOfWeek", "$isoWeek", "$isoWeekYear", "$millisecond", "$minute",
        "$month", "$second", "$week", "$year", "$indexOfBytes", "$indexOfCP", "$ltrim", "$regexFind",
        "$regexFindAll", "$regexMatch", "$replaceOne", "$replaceAll", "$rtrim", "$split", "$strLenBytes",
        "$strLenCP", "$strcasecmp", "$substr", "$substrBytes", "$substrCP", "$toLower", "$toString", "$trim",
        "$toUpper", "$meta", "$sin", "$cos", "$tan", "$asin", "$acos", "$atan", "$atan2", "$asinh", "$acosh",
        "$atanh", "$sinh", "$cosh", "$tanh", "$degreesToRadians", "$radiansToDegrees", "$convert",
        "$isNumber", "$toBool", "$toDate", "$toDecimal", "$toDouble", "$toInt", "$toLong", "$toObjectId",
        "$type", "$toUUID", "$avg", "$max", "$min", "$sum", "$stdDevPop", "$stdDevSamp", "$median",
        "$percentile", "$tsIncrement", "$tsSecond", "$toHashedIndexKey", "$top", "$topN", "$bottom",
        "$bottomN",
    ]

    /// `$group` accumulators.
    public static let accumulators = [
        "$accumulator", "$addToSet", "$avg", "$bottom", "$bottomN", "$count", "$first", "$firstN", "$last",
        "$lastN", "$max", "$maxN", "$median", "$mergeObjects", "$min", "$minN", "$percentile", "$push",
        "$stdDevPop", "$stdDevSamp", "$sum", "$top", "$topN",
    ]

    /// `$setWindowFields` functions beyond the accumulators.
    public static let windowFunctions = accumulators + [
        "$covariancePop", "$covarianceSamp", "$denseRank", "$derivative", "$documentNumber", "$expMovingAvg",
        "$integral", "$linearFill", "$locf", "$rank", "$shift",
    ]

    /// Aggregation stages.
    public static let stages = [
        "$addFields", "$bucket", "$bucketAuto", "$changeStream", "$changeStreamSplitLargeEvent", "$collStats",
        "$count", "$currentOp", "$densify", "$documents", "$facet", "$fill", "$geoNear", "$graphLookup",
        "$group", "$indexStats", "$limit", "$listLocalSessions", "$listSampledQueries", "$listSearchIndexes",
        "$listSessions", "$lookup", "$match", "$merge", "$out", "$planCacheStats", "$project",
        "$querySettings", "$redact", "$replaceRoot", "$replaceWith", "$sample", "$search", "$searchMeta",
        "$set", "$setWindowFields", "$skip", "$sort", "$sortByCount", "$unionWith", "$unset", "$unwind",
        "$vectorSearch",
    ]

    /// Update operators and their modifiers.
    public static let updateOperators = [
        "$currentDate", "$inc", "$min", "$max", "$mul", "$rename", "$set", "$setOnInsert", "$unset",
        "$addToSet", "$pop", "$pull", "$push", "$pullAll", "$bit",
    ]
    public static let pushModifiers = ["$each", "$position", "$slice", "$sort"]

    /// The named arguments of the operators that take a document, so generated calls reach
    /// past the argument checks into the arithmetic.
    public static let namedArguments: [String: [String]] = [
        "$dateAdd": ["startDate", "unit", "amount", "timezone"], "$dateSubtract": ["startDate", "unit", "amount", "timezone"],
        "$dateDiff": ["startDate", "endDate", "unit", "timezone", "startOfWeek"],
        "$dateTrunc": ["date", "unit", "binSize", "timezone", "startOfWeek"],
        "$dateFromParts": ["year", "month", "day", "hour", "minute", "second", "millisecond", "timezone"],
        "$dateToParts": ["date", "timezone", "iso8601"], "$dateToString": ["date", "format", "timezone", "onNull"],
        "$dateFromString": ["dateString", "format", "timezone", "onError", "onNull"],
        "$regexFind": ["input", "regex", "options"], "$regexFindAll": ["input", "regex", "options"],
        "$regexMatch": ["input", "regex", "options"], "$replaceOne": ["input", "find", "replacement"],
        "$replaceAll": ["input", "find", "replacement"], "$trim": ["input", "chars"], "$ltrim": ["input", "chars"],
        "$rtrim": ["input", "chars"], "$sortArray": ["input", "sortBy"], "$firstN": ["input", "n"], "$lastN": ["input", "n"],
        "$maxN": ["input", "n"], "$minN": ["input", "n"], "$zip": ["inputs", "useLongestLength", "defaults"],
        "$getField": ["field", "input"], "$setField": ["field", "input", "value"], "$unsetField": ["field", "input"],
        "$convert": ["input", "to", "onError", "onNull"], "$median": ["input", "method"],
        "$percentile": ["input", "p", "method"], "$top": ["output", "sortBy"], "$bottom": ["output", "sortBy"],
        "$topN": ["output", "sortBy", "n"], "$bottomN": ["output", "sortBy", "n"], "$dayOfWeek": ["date", "timezone"],
        "$isoWeek": ["date", "timezone"], "$week": ["date", "timezone"], "$hour": ["date", "timezone"],
    ]

    /// Sub-fields that stages and operators take (used as option names).
    public static let optionNames = [
        "input", "as", "in", "cond", "limit", "initialValue", "vars", "if", "then", "else", "branches",
        "case", "default", "inputs", "useLongestLength", "defaults", "n", "sortBy", "output", "field",
        "value", "find", "replacement", "regex", "options", "chars", "date", "format", "timezone",
        "onNull", "onError", "to", "unit", "amount", "startDate", "endDate", "binSize", "startOfWeek",
        "year", "month", "day", "hour", "minute", "second", "millisecond", "isoWeekYear", "isoWeek",
        "isoDayOfWeek", "dateString", "iso8601", "p", "method", "size", "from", "localField",
        "foreignField", "pipeline", "let", "coll", "startWith", "connectFromField", "connectToField",
        "maxDepth", "depthField", "restrictSearchWithMatch", "groupBy", "boundaries", "buckets",
        "granularity", "partitionBy", "partitionByFields", "range", "step", "bounds", "window",
        "documents", "path", "includeArrayIndex", "preserveNullAndEmptyArrays", "newRoot", "into", "on",
        "whenMatched", "whenNotMatched", "db", "key", "near", "distanceField", "spherical", "_id",
    ]
}
