import FolioBSON

/// `$setWindowFields`: partitions, a sort within each, and output fields computed over a
/// window of neighbouring documents (by position or by sort-key range) or by rank.
public struct WindowSpec: Sendable {
    public let partitionBy: Expression?
    public let sortBy: SortSpec?
    public let outputs: [WindowOutput]

    public struct WindowOutput: Sendable {
        let path: FieldPath
        let function: WindowFunction
        let window: WindowBounds?
    }

    enum WindowFunction: Sendable {
        case accumulator(AccumulatorSpec)
        case rank, denseRank, documentNumber
        case shift(output: Expression, by: Int, defaultValue: BSON)
        case locf(Expression)
        case linearFill(Expression)
        case derivative(Expression, unitMilliseconds: Int64?)
        case integral(Expression, unitMilliseconds: Int64?)
        case expMovingAvg(Expression, alpha: Double)
        case covariance(Expression, Expression, sample: Bool)
    }

    enum Bound: Sendable, Equatable {
        case unbounded, current
        case offset(Double)
    }

    struct WindowBounds: Sendable {
        let byRange: Bool
        let lower: Bound
        let upper: Bound
        let unitMilliseconds: Int64?
    }

    init(parsing argument: BSON, context: ParseContext) throws(FolioError) {
        guard case .document(let spec) = argument else {
            throw FolioError(.failedToParse, "the $setWindowFields stage specification must be an object, found \(argument.type.alias)")
        }
        var partition: Expression?
        var sort: SortSpec?
        var outputSpec: Document?
        for (k, v) in spec {
            switch k {
            case "partitionBy":
                if case .document(let d) = v, d.count > 1 || !(d.fieldNames.first?.hasPrefix("$") ?? true) {
                    throw FolioError(.typeMismatch, "An expression that evaluates to a document cannot be used as partitionBy")
                }
                partition = try Expression.parse(v, context: context)
            case "sortBy":
                guard case .document(let d) = v else {
                    throw FolioError(.typeMismatch, "BSON field '$setWindowFields.sortBy' is the wrong type '\(v.type.alias)', expected type 'object'")
                }
                sort = try SortSpec(parsing: d, allowMeta: false, collator: context.collator)
            case "output":
                guard case .document(let d) = v else {
                    throw FolioError(.typeMismatch, "BSON field '$setWindowFields.output' is the wrong type '\(v.type.alias)', expected type 'object'")
                }
                outputSpec = d
            default:
                throw FolioError(ErrorCode(rawValue: 40415), "BSON field '$setWindowFields.\(k)' is an unknown field.")
            }
        }
        guard let outputSpec else {
            throw FolioError(ErrorCode(rawValue: 40414), "BSON field '$setWindowFields.output' is missing but a required field")
        }
        var outputs: [WindowOutput] = []
        for (field, value) in outputSpec {
            if field.hasPrefix("$") {
                throw FolioError(ErrorCode(rawValue: 16410), "FieldPath field names may not start with '$'. Consider using $getField or $setField.")
            }
            outputs.append(try WindowSpec.parseOutput(field, value, sortBy: sort, context: context))
        }
        partitionBy = partition
        sortBy = sort
        self.outputs = outputs
    }

    static func parseOutput(_ field: String, _ value: BSON, sortBy: SortSpec?, context: ParseContext) throws(FolioError) -> WindowOutput {
        guard case .document(let d) = value else {
            throw FolioError(.failedToParse, "Window function found an unknown argument: \(field)")
        }
        var functionName: String?, argument: BSON = .null, windowValue: BSON?
        for (k, v) in d {
            if k == "window" { windowValue = v; continue }
            guard functionName == nil else {
                throw FolioError(.failedToParse, "Window function found an unknown argument: \(k)")
            }
            functionName = k
            argument = v
        }
        guard let name = functionName else {
            throw FolioError(.failedToParse, "Expected a window function for output field '\(field)'")
        }
        let window = try windowValue.map { w throws(FolioError) in try parseWindow(w, sortBy: sortBy) }
        func requireSingleSort(_ what: String) throws(FolioError) {
            guard let sortBy, sortBy.keys.count == 1 else {
                throw FolioError(ErrorCode(rawValue: 5371602), "\(what) must be specified with a top level sortBy expression with exactly one element")
            }
        }
        func noWindow() throws(FolioError) {
            if window != nil { throw FolioError(ErrorCode(rawValue: 5371601), "Rank style window functions take no other arguments") }
        }
        func unit(_ spec: Document) throws(FolioError) -> Int64? {
            guard let u = spec["unit"] else { return nil }
            guard case .string(let s) = u, let ms = unitMilliseconds(s) else {
                throw FolioError(ErrorCode(rawValue: 5490704), "unit must be 'week' or smaller, found \(u)")
            }
            return ms
        }
        let function: WindowFunction
        switch name {
        case "$rank", "$denseRank", "$documentNumber":
            try requireSingleSort(name)
            try noWindow()
            function = name == "$rank" ? .rank : (name == "$denseRank" ? .denseRank : .documentNumber)
        case "$shift":
            guard case .document(let s) = argument, let output = s["output"], let by = s["by"], by.isNumber, let n = by.exactInt64 else {
                throw FolioError(.failedToParse, "$shift requires 'output' and an integral 'by'")
            }
            if sortBy == nil { throw FolioError(ErrorCode(rawValue: 5371602), "$shift must be specified with a top level sortBy expression") }
            try noWindow()
            function = .shift(output: try Expression.parse(output, context: context), by: Int(n), defaultValue: s["default"] ?? .null)
        case "$locf":
            try noWindow()
            function = .locf(try Expression.parse(argument, context: context))
        case "$linearFill":
            try requireSingleSort("$linearFill")
            try noWindow()
            function = .linearFill(try Expression.parse(argument, context: context))
        case "$derivative", "$integral":
            guard case .document(let s) = argument, let input = s["input"] else {
                throw FolioError(.failedToParse, "\(name) requires an 'input' expression")
            }
            try requireSingleSort(name)
            let e = try Expression.parse(input, context: context)
            if name == "$derivative" {
                guard window != nil else { throw FolioError(.failedToParse, "$derivative requires explicit window bounds") }
                function = .derivative(e, unitMilliseconds: try unit(s))
            } else {
                function = .integral(e, unitMilliseconds: try unit(s))
            }
        case "$expMovingAvg":
            guard case .document(let s) = argument, let input = s["input"] else {
                throw FolioError(.failedToParse, "$expMovingAvg requires an 'input' expression")
            }
            if sortBy == nil { throw FolioError(.failedToParse, "$expMovingAvg requires an explicit 'sortBy'") }
            try noWindow()
            let alpha: Double
            if let n = s["N"] {
                guard n.isNumber, let count = n.exactInt64, count > 0 else {
                    throw FolioError(.failedToParse, "'N' field must be an integer greater than zero, but found \(n)")
                }
                alpha = 2.0 / (Double(count) + 1)
            } else if let a = s["alpha"] {
                guard let x = a.asDouble, a.isNumber, x > 0, x < 1 else {
                    throw FolioError(.failedToParse, "'alpha' must be between 0 and 1 (exclusive), found alpha: \(a)")
                }
                alpha = x
            } else {
                throw FolioError(.failedToParse, "$expMovingAvg requires exactly one of 'N' and 'alpha'")
            }
            function = .expMovingAvg(try Expression.parse(input, context: context), alpha: alpha)
        case "$covariancePop", "$covarianceSamp":
            guard case .array(let pair) = argument, pair.count == 2 else {
                throw FolioError(.failedToParse, "\(name) requires an array of two expressions")
            }
            function = .covariance(try Expression.parse(pair[0], context: context), try Expression.parse(pair[1], context: context),
                                   sample: name == "$covarianceSamp")
        default:
            guard AccumulatorSpec.Kind(rawValue: name) != nil, name != "$mergeObjects" else {
                throw FolioError(.failedToParse, "Unrecognized window function, \(name)")
            }
            function = .accumulator(try AccumulatorSpec(parsing: [name: argument], field: field, context: context))
        }
        return WindowOutput(path: FieldPath(field), function: function, window: window)
    }

    static func unitMilliseconds(_ s: String) -> Int64? {
        ["week": 604_800_000, "day": 86_400_000, "hour": 3_600_000, "minute": 60_000, "second": 1000, "millisecond": 1][s]
    }

    static func parseWindow(_ value: BSON, sortBy: SortSpec?) throws(FolioError) -> WindowBounds {
        guard case .document(let w) = value else {
            throw FolioError(.failedToParse, "'window' field must be an object")
        }
        for k in w.fieldNames where !["documents", "range", "unit"].contains(k) {
            throw FolioError(.failedToParse, "'window' found an unknown argument: \(k)")
        }
        let byRange = w["range"] != nil
        if byRange && w["documents"] != nil {
            throw FolioError(.failedToParse, "Window bounds can specify either 'documents' or 'range', not both")
        }
        guard case .array(let bounds)? = w["documents"] ?? w["range"], bounds.count == 2 else {
            throw FolioError(.failedToParse, "Window bounds must be a 2-element array")
        }
        func bound(_ b: BSON) throws(FolioError) -> Bound {
            switch b {
            case .string("unbounded"): return .unbounded
            case .string("current"): return .current
            case let v where v.isNumber:
                if !byRange, v.exactInt64 == nil {
                    throw FolioError(.failedToParse, "Numeric document-based bounds must be an integer")
                }
                return .offset(v.asDouble ?? 0)
            default:
                throw FolioError(.failedToParse, "Window bounds must be 'unbounded', 'current', or a number")
            }
        }
        let lower = try bound(bounds[0]), upper = try bound(bounds[1])
        func position(_ b: Bound, _ isLower: Bool) -> Double {
            switch b { case .unbounded: return isLower ? -.infinity : .infinity; case .current: return 0; case .offset(let x): return x }
        }
        if position(lower, true) > position(upper, false) {
            throw FolioError(ErrorCode(rawValue: 5339900), "Lower bound must not exceed upper bound")
        }
        var unit: Int64?
        if let u = w["unit"] {
            guard byRange else { throw FolioError(.failedToParse, "Window bounds can only specify 'unit' with range-based bounds") }
            guard case .string(let s) = u, let ms = unitMilliseconds(s) else {
                throw FolioError(.failedToParse, "'unit' must be a time unit of a week or smaller, found \(u)")
            }
            unit = ms
        }
        if byRange {
            guard let sortBy, sortBy.keys.count == 1 else {
                throw FolioError(ErrorCode(rawValue: 5339902), "Range-based window require sortBy a single field")
            }
        }
        return WindowBounds(byRange: byRange, lower: lower, upper: upper, unitMilliseconds: unit)
    }

    // MARK: Evaluation

    /// The partition key of a document.
    public func partitionKey(_ context: EvaluationContext) throws(FolioError) -> BSON {
        try partitionBy?.evaluate(context) ?? .null
    }

    /// Computes every output over one partition, already in `sortBy` order.
    public func apply(partition docs: [Document], now: Int64) throws(FolioError) -> [Document] {
        var out = docs
        OperationInterrupt.beginDocument()
        let contexts = docs.map { EvaluationContext(root: $0, variables: [:], now: now) }
        let sortValues: [BSON] = sortBy.map { s in docs.map { SortSpec.keyValue(.document($0), path: s.keys[0].path, ascending: s.keys[0].ascending) } } ?? []
        for output in outputs {
            let values = try compute(output, docs: docs, contexts: contexts, sortValues: sortValues)
            for i in docs.indices {
                out[i] = DocumentPaths.setting(output.path.components[...], to: values[i], in: out[i])
            }
        }
        return out
    }

    func compute(_ output: WindowOutput, docs: [Document], contexts: [EvaluationContext], sortValues: [BSON]) throws(FolioError) -> [BSON?] {
        let n = docs.count
        switch output.function {
        case .documentNumber:
            return (0..<n).map { .int32(Int32($0 + 1)) }
        case .rank, .denseRank:
            let keys = docs.map { sortBy!.sortKey(for: $0) }
            var result: [BSON?] = []
            var rank = 0, dense = 0
            for i in 0..<n {
                if i == 0 || sortBy!.compare(keys[i], keys[i - 1]) != 0 {
                    rank = i + 1
                    dense += 1
                }
                result.append(.int32(Int32(output.function.isRank ? rank : dense)))
            }
            return result
        case .shift(let e, let by, let defaultValue):
            var result: [BSON?] = []
            for i in 0..<n {
                let j = i.addingSaturated(by)
                result.append(j >= 0 && j < n ? (try e.evaluate(contexts[j]) ?? .null) : defaultValue)
            }
            return result
        case .locf(let e):
            var last: BSON = .null
            var result: [BSON?] = []
            for c in contexts {
                if let v = try e.evaluate(c), !v.isNullish { last = v }
                result.append(last)
            }
            return result
        case .linearFill(let e):
            for i in sortValues.indices.dropFirst() where BSON.compare(sortValues[i], sortValues[i - 1]) == 0 {
                throw FolioError(ErrorCode(rawValue: 6050106), "There can be no repeated values in the sort field")
            }
            var values: [BSON?] = []
            for c in contexts { values.append(try e.evaluate(c)) }
            var result = values.map { v -> BSON? in v.flatMap { $0.isNullish ? nil : $0 } ?? .null }
            var previous: Int?
            for i in 0..<n where !(values[i]?.isNullish ?? true) {
                if let p = previous, i - p > 1, let y0 = values[p]?.asDouble, let y1 = values[i]?.asDouble,
                   let x0 = WindowSpec.numeric(sortValues[p]), let x1 = WindowSpec.numeric(sortValues[i]), x1 != x0 {
                    for k in (p + 1)..<i {
                        guard let x = WindowSpec.numeric(sortValues[k]) else { continue }
                        result[k] = .double(y0 + (y1 - y0) * (x - x0) / (x1 - x0))
                    }
                }
                previous = i
            }
            return result
        case .expMovingAvg(let e, let alpha):
            var average: Double?
            var result: [BSON?] = []
            for c in contexts {
                if let v = try e.evaluate(c), let x = v.asDouble, v.isNumber {
                    average = average.map { alpha * x + (1 - alpha) * $0 } ?? x
                    result.append(.double(average!))
                } else {
                    result.append(.null)
                }
            }
            return result
        case .accumulator, .derivative, .integral, .covariance:
            let window = output.window ?? WindowBounds(byRange: false, lower: .unbounded, upper: .unbounded, unitMilliseconds: nil)
            var result: [BSON?] = []
            result.reserveCapacity(n)
            // A window that starts at the partition's first document grows monotonically:
            // accumulate incrementally instead of recomputing each window.
            var running: AccumulatorState?
            var runningEnd = 0
            for i in 0..<n {
                // Each window may span the partition (quadratic work), and every output of a
                // $push or $addToSet is a new array: poll, and count them toward the bound on
                // what evaluation builds (the partition's documents are evaluated together).
                if let last = result.last, let value = last { try OperationInterrupt.charge(result: value, by: "$setWindowFields") }
                try OperationInterrupt.check()
                let (lo, hi) = try bounds(window, at: i, count: n, sortValues: sortValues)
                if case .accumulator(let spec) = output.function {
                    if window.lower == .unbounded && !window.byRange {
                        if running == nil { running = try spec.makeState(groupID: .null, context: contexts[0]) }
                        while runningEnd < hi { try running!.add(contexts[runningEnd]); runningEnd += 1 }
                        result.append(lo < hi ? running!.result() : WindowSpec.emptyResult(spec))
                        continue
                    }
                    var state = try spec.makeState(groupID: .null, context: contexts[i])
                    for j in lo..<max(lo, hi) { try state.add(contexts[j]) }
                    result.append(lo < hi ? state.result() : WindowSpec.emptyResult(spec))
                } else {
                    result.append(try windowFunction(output.function, lo, hi, contexts, sortValues))
                }
            }
            return result
        }
    }

    static func emptyResult(_ spec: AccumulatorSpec) -> BSON {
        switch spec.kind {
        case .sum, .count: return .int32(0)
        case .push, .addToSet, .firstN, .lastN, .maxN, .minN, .topN, .bottomN: return .array([])
        default: return .null
        }
    }

    /// The half-open range of partition positions in document `i`'s window.
    func bounds(_ w: WindowBounds, at i: Int, count n: Int, sortValues: [BSON]) throws(FolioError) -> (Int, Int) {
        if !w.byRange {
            func position(_ b: Bound, lower: Bool) -> Int {
                switch b {
                case .unbounded: return lower ? 0 : n
                case .current: return lower ? i : i + 1
                case .offset(let x):
                    // x is a whole number of documents, possibly ±2^63: clamp, never trap.
                    let k = Int(Int64.clamping(x))
                    return lower ? max(0, min(n, i.addingSaturated(k))) : max(0, min(n, i.addingSaturated(k).addingSaturated(1)))
                }
            }
            return (position(w.lower, lower: true), max(position(w.lower, lower: true), position(w.upper, lower: false)))
        }
        guard let here = WindowSpec.numeric(sortValues[i]) else {
            throw FolioError(ErrorCode(rawValue: 5429413), "Invalid range: Expected the sortBy field to be a number or a date, but it was \(sortValues[i].type.alias)")
        }
        // Offsets follow the sort direction: with a descending sort, "preceding" is larger.
        let scale = Double(w.unitMilliseconds ?? 1) * (sortBy!.keys[0].ascending ? 1 : -1)
        func value(_ b: Bound) -> Double? {
            switch b { case .unbounded: return nil; case .current: return here; case .offset(let x): return here + x * scale }
        }
        let a = value(w.lower), b = value(w.upper)
        let low = [a, b].compactMap { $0 }.min(), high = [a, b].compactMap { $0 }.max()
        func inside(_ j: Int) -> Bool {
            guard let v = WindowSpec.numeric(sortValues[j]) else { return false }
            if w.lower != .unbounded && w.upper != .unbounded { return v >= low! && v <= high! }
            if w.lower == .unbounded && w.upper == .unbounded { return true }
            let bound = (a ?? b)!
            // One side open: everything on the unbounded side of the other bound.
            let ascending = sortBy!.keys[0].ascending
            let openTowardsStart = w.lower == .unbounded
            return openTowardsStart == ascending ? v <= bound : v >= bound
        }
        guard let first = (0..<n).first(where: inside) else { return (0, 0) }
        var last = first
        while last + 1 < n && inside(last + 1) { last += 1 }
        return (first, last + 1)
    }

    static func numeric(_ v: BSON) -> Double? {
        if case .datetime(let ms) = v { return Double(ms) }
        return v.isNumber ? v.asDouble : nil
    }

    func windowFunction(_ f: WindowFunction, _ lo: Int, _ hi: Int, _ contexts: [EvaluationContext], _ sortValues: [BSON]) throws(FolioError) -> BSON? {
        guard lo < hi else { return .null }
        switch f {
        case .derivative(let e, let unit):
            guard hi - lo >= 2, let y0 = try e.evaluate(contexts[lo])?.asDouble, let y1 = try e.evaluate(contexts[hi - 1])?.asDouble,
                  let x0 = WindowSpec.numeric(sortValues[lo]), let x1 = WindowSpec.numeric(sortValues[hi - 1]), x1 != x0 else { return .null }
            return .double((y1 - y0) / ((x1 - x0) / Double(unit ?? 1)))
        case .integral(let e, let unit):
            var total = 0.0
            var previous: (Double, Double)?
            for j in lo..<hi {
                guard let y = try e.evaluate(contexts[j])?.asDouble, let x = WindowSpec.numeric(sortValues[j]) else { continue }
                if let (px, py) = previous { total += (x - px) / Double(unit ?? 1) * (y + py) / 2 }
                previous = (x, y)
            }
            return .double(total)
        case .covariance(let a, let b, let sample):
            var xs: [Double] = [], ys: [Double] = []
            for j in lo..<hi {
                guard let x = try a.evaluate(contexts[j]), x.isNumber, let y = try b.evaluate(contexts[j]), y.isNumber else { continue }
                xs.append(x.asDouble!); ys.append(y.asDouble!)
            }
            let count = Double(xs.count)
            guard count > (sample ? 1 : 0) else { return .null }
            let mx = xs.reduce(0, +) / count, my = ys.reduce(0, +) / count
            let s = zip(xs, ys).reduce(0.0) { $0 + ($1.0 - mx) * ($1.1 - my) }
            return .double(s / (sample ? count - 1 : count))
        default:
            return .null
        }
    }
}

extension WindowSpec.WindowFunction {
    var isRank: Bool { if case .rank = self { return true }; return false }
}
