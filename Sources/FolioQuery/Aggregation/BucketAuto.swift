import FolioBSON

/// `$bucketAuto`: documents sorted by `groupBy`, cut into `buckets` groups of about equal
/// size (equal values never split), each `{_id: {min, max}, <output accumulators>}`.
public struct BucketAutoSpec: Sendable {
    public let groupBy: Expression
    public let buckets: Int
    public let output: [(String, AccumulatorSpec)]
    public let granularity: Granularity?

    init(parsing argument: BSON, context: ParseContext) throws(FolioError) {
        guard case .document(let spec) = argument else {
            throw FolioError(ErrorCode(rawValue: 40240), "The argument to $bucketAuto must be an object, but found type: \(argument.type.alias).")
        }
        var groupBy: Expression?, buckets: Int?, granularity: Granularity?
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
                guard v.isNumber else {
                    throw FolioError(ErrorCode(rawValue: 40241), "The $bucketAuto 'buckets' field must be a numeric value, but found type: \(v.type.alias).")
                }
                guard let n = v.exactInt64, let small = Int32(exactly: n) else {
                    throw FolioError(ErrorCode(rawValue: 40242), "The $bucketAuto 'buckets' field must be representable as a 32-bit integer, but found \(v.asDouble ?? .nan)")
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
                guard case .string(let name) = v else {
                    throw FolioError(ErrorCode(rawValue: 40261), "The $bucketAuto 'granularity' field must be a string, but found type: \(v.type.alias).")
                }
                granularity = try Granularity(name: name)
            default:
                throw FolioError(ErrorCode(rawValue: 40245), "Unrecognized option to $bucketAuto: \(k).")
            }
        }
        guard let groupBy, let buckets else {
            throw FolioError(ErrorCode(rawValue: 40246), "$bucketAuto requires 'groupBy' and 'buckets' to be specified")
        }
        self.groupBy = groupBy
        self.buckets = buckets
        self.granularity = granularity
        if let output {
            self.output = output
        } else {
            self.output = [("count", try AccumulatorSpec(parsing: ["$sum": .int32(1)], field: "count", context: context))]
        }
    }

    /// The value a document is bucketed by: `groupBy`, missing as null; with a granularity
    /// a non-negative number (40258, 40259 for NaN, 40260).
    public func key(_ context: EvaluationContext) throws(FolioError) -> BSON {
        let v = try groupBy.evaluate(context)
        if granularity != nil {
            guard let v, v.isNumber, let d = v.asDouble else {
                throw FolioError(ErrorCode(rawValue: 40258), "$bucketAuto can specify a 'granularity' with numeric boundaries only, but found a value with type: \(v?.type.alias ?? "missing")")
            }
            if d.isNaN { throw FolioError(ErrorCode(rawValue: 40259), "$bucketAuto can specify a 'granularity' with numeric boundaries only, but found a NaN") }
            if d < 0 { throw FolioError(ErrorCode(rawValue: 40260), "$bucketAuto can specify a 'granularity' with non-negative numbers only, but found a negative number") }
        }
        return v ?? .null
    }

    /// Cuts a sorted input into buckets, one call per bucket, as MongoDB does: about
    /// round(count / buckets) documents each (the last takes the rest), equal values never
    /// split; a bucket's max is the next bucket's min. With a granularity, boundaries are the
    /// series values around them and a bucket absorbs the values below its rounded-up max.
    public struct Cutter {
        let spec: BucketAutoSpec
        let approximateSize: Int
        let variables: [String: BSON]
        let now: Int64
        var bucketNumber = 0
        var pending: (BSON, Document)?
        var previousMax: BSON?

        /// `count` is the number of documents the sorted input holds.
        public init(_ spec: BucketAutoSpec, count: Int, variables: [String: BSON], now: Int64) {
            self.spec = spec
            approximateSize = max(1, Int((Double(count) / Double(spec.buckets)).rounded()))
            self.variables = variables
            self.now = now
        }

        /// The next bucket, pulling (key, document) pairs in key order from `pull`.
        public mutating func next(_ pull: () throws(FolioError) -> (BSON, Document)?) throws(FolioError) -> Document? {
            guard bucketNumber < spec.buckets else { return nil }
            bucketNumber += 1
            var head = pending
            if head == nil { head = try pull() }
            guard let first = head else { return nil }
            pending = nil
            let base = EvaluationContext(root: Document(), variables: variables, now: now)
            var states: [AccumulatorState] = []
            for (_, acc) in spec.output { states.append(try acc.makeState(groupID: .null, context: base)) }
            var maxValue = first.0
            func add(_ entry: (BSON, Document)) throws(FolioError) {
                maxValue = entry.0
                var c = base
                c.root = entry.1
                c.current = .document(entry.1)
                for j in states.indices { try states[j].add(c) }
            }
            var minValue = first.0
            // With a granularity a bucket starts where the previous one ended.
            if let g = spec.granularity {
                if let previousMax { minValue = previousMax } else { minValue = try g.roundDown(first.0) }
            }
            try add(first)
            let isLast = bucketNumber == spec.buckets
            var taken = 1
            while taken < approximateSize || isLast, let e = try pull() {
                try add(e)
                taken += 1
            }
            var next = try pull()
            if let g = spec.granularity {
                let boundary = try g.roundUp(maxValue)
                while let n = next, BSON.compare(boundary, n.0) > 0 || BSON.compare(maxValue, n.0) == 0 {
                    try add(n)
                    next = try pull()
                }
                if boundary.asDouble == 0, let n = next {
                    maxValue = try g.roundDown(n.0)
                } else {
                    maxValue = boundary
                }
            } else {
                while let n = next, BSON.compare(maxValue, n.0) == 0 {
                    try add(n)
                    next = try pull()
                }
                if let n = next { maxValue = n.0 }
            }
            pending = next
            previousMax = maxValue
            var d: Document = ["_id": ["min": minValue, "max": maxValue]]
            for (j, (name, _)) in spec.output.enumerated() { d.append(name, states[j].result()) }
            return d
        }
    }
}
