import FolioBSON

/// `$bucketAuto`: documents sorted by `groupBy`, cut into `buckets` groups of about equal
/// size (equal values never split), each `{_id: {min, max}, <output accumulators>}`.
public struct BucketAutoSpec: Sendable {
    public let groupBy: Expression
    public let buckets: Int
    public let output: [(String, AccumulatorSpec)]

    init(parsing argument: BSON, context: ParseContext) throws(FolioError) {
        guard case .document(let spec) = argument else {
            throw FolioError(ErrorCode(rawValue: 40240), "The argument to $bucketAuto must be an object, but found type: \(argument.type.alias).")
        }
        var groupBy: Expression?, buckets: Int?
        var output: [(String, AccumulatorSpec)]?
        for (k, v) in spec {
            switch k {
            case "groupBy":
                switch v {
                case .string(let s) where s.hasPrefix("$"): break
                case .document(let e) where e.count == 1 && e.fieldNames[0].hasPrefix("$"): break
                default:
                    throw FolioError(ErrorCode(rawValue: 40239), "The $bucketAuto 'groupBy' field must be defined as a $-prefixed path or an expression object, but found: \(v).")
                }
                groupBy = try Expression.parse(v, context: context)
            case "buckets":
                guard v.isNumber, let n = v.exactInt64, let small = Int32(exactly: n) else {
                    throw FolioError(ErrorCode(rawValue: 40241), "The $bucketAuto 'buckets' field must be a numeric value, but found type: \(v.type.alias).")
                }
                guard small > 0 else {
                    throw FolioError(ErrorCode(rawValue: 40243), "The $bucketAuto 'buckets' field must be greater than 0, but found: \(small).")
                }
                buckets = Int(small)
            case "output":
                guard case .document(let o) = v else {
                    throw FolioError(ErrorCode(rawValue: 40244), "The $bucketAuto 'output' field must be an object, but found type: \(v.type.alias).")
                }
                var parsed: [(String, AccumulatorSpec)] = []
                for (name, acc) in o { parsed.append((name, try AccumulatorSpec(parsing: acc, field: name, context: context))) }
                output = parsed
            case "granularity":
                throw FolioError(.commandNotSupported, "$bucketAuto 'granularity' is not supported yet")
            default:
                throw FolioError(ErrorCode(rawValue: 40245), "Unrecognized option to $bucketAuto: \(k).")
            }
        }
        guard let groupBy, let buckets else {
            throw FolioError(ErrorCode(rawValue: 40246), "$bucketAuto requires 'groupBy' and 'buckets' to be specified")
        }
        self.groupBy = groupBy
        self.buckets = buckets
        if let output {
            self.output = output
        } else {
            self.output = [("count", try AccumulatorSpec(parsing: ["$sum": .int32(1)], field: "count", context: context))]
        }
    }

    /// Buckets a complete input, `values[i]` being the `groupBy` value of `documents[i]`.
    public func buckets(_ items: [(BSON, Document)], variables: [String: BSON], now: Int64) throws(FolioError) -> [Document] {
        let sorted = items.enumerated().sorted { a, b in
            let c = BSON.compare(a.element.0, b.element.0)
            return c != 0 ? c < 0 : a.offset < b.offset
        }.map(\.element)
        guard !sorted.isEmpty else { return [] }
        var size = Int((Double(sorted.count) / Double(buckets)).rounded())
        if size < 1 { size = 1 }
        var ranges: [Range<Int>] = []
        var start = 0
        while start < sorted.count {
            var end: Int
            if ranges.count == buckets - 1 {
                end = sorted.count
            } else {
                end = min(sorted.count, start + size)
                while end < sorted.count && BSON.compare(sorted[end].0, sorted[end - 1].0) == 0 { end += 1 }
            }
            ranges.append(start..<end)
            start = end
        }
        var out: [Document] = []
        for (i, r) in ranges.enumerated() {
            let minValue = sorted[r.lowerBound].0
            let maxValue = i + 1 < ranges.count ? sorted[ranges[i + 1].lowerBound].0 : sorted[r.upperBound - 1].0
            let id: BSON = ["min": minValue, "max": maxValue]
            var states: [AccumulatorState] = []
            let base = EvaluationContext(root: Document(), variables: variables, now: now)
            for (_, spec) in output { states.append(try spec.makeState(groupID: id, context: base)) }
            for (_, doc) in sorted[r] {
                var c = base
                c.root = doc
                c.current = .document(doc)
                for j in states.indices { try states[j].add(c) }
            }
            var d: Document = ["_id": id]
            for (j, (name, _)) in output.enumerated() { d.append(name, states[j].result()) }
            out.append(d)
        }
        return out
    }
}
