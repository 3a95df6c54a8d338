import FolioBSON

/// A `$group` (or window) accumulator as parsed: `{field: {$sum: <expression>}}`.
public struct AccumulatorSpec: Sendable {
    public enum Kind: String, Sendable, CaseIterable {
        case sum = "$sum", avg = "$avg", min = "$min", max = "$max", first = "$first", last = "$last"
        case push = "$push", addToSet = "$addToSet", mergeObjects = "$mergeObjects"
        case stdDevPop = "$stdDevPop", stdDevSamp = "$stdDevSamp", count = "$count"
        case top = "$top", bottom = "$bottom", topN = "$topN", bottomN = "$bottomN"
        case firstN = "$firstN", lastN = "$lastN", maxN = "$maxN", minN = "$minN"
        case median = "$median", percentile = "$percentile"
    }

    public let kind: Kind
    /// The value fed per document (`input` / `output` for the N-forms).
    let input: Expression
    /// `n` of the N-forms, evaluated once per group against the group's `_id`.
    let n: Expression?
    /// `sortBy` of `$top`/`$bottom`/N.
    let sortBy: SortSpec?
    /// `p` of `$percentile` (validated constants).
    let percentiles: [Double]
    /// The collation `$min`, `$max`, `$addToSet` and the sorted forms compare strings by.
    let collator: (any Collator)?

    /// Parses `{$op: argument}`.
    /// - Throws: 15952 for an unknown accumulator, 40237-style errors for a malformed one.
    public init(parsing value: BSON, field: String, context: ParseContext) throws(FolioError) {
        guard case .document(let d) = value, d.count == 1 else {
            throw FolioError(ErrorCode(rawValue: 40234), "The field '\(field)' must be an accumulator object")
        }
        let (name, argument) = d.element(at: 0)
        guard let kind = Kind(rawValue: name) else {
            if name.hasPrefix("$") {
                throw FolioError(ErrorCode(rawValue: 15952), "Unknown group operator '\(name)'")
            }
            throw FolioError(ErrorCode(rawValue: 40234), "The field '\(field)' must be an accumulator object")
        }
        self.kind = kind
        self.collator = context.collator
        var n: Expression?
        var sortBy: SortSpec?
        var percentiles: [Double] = []
        switch kind {
        case .count:
            guard case .document(let empty) = argument, empty.isEmpty else {
                throw FolioError(.typeMismatch, "$count takes no arguments, i.e. $count:{}")
            }
            input = .constant(.int32(1))
        case .topN, .bottomN, .top, .bottom, .firstN, .lastN, .maxN, .minN, .median, .percentile:
            guard case .document(let spec) = argument else {
                throw FolioError(ErrorCode(rawValue: 5787801), "specification must be an object; found \(argument.type.alias)")
            }
            let usesSort = [.top, .bottom, .topN, .bottomN].contains(kind)
            let usesN = [.topN, .bottomN, .firstN, .lastN, .maxN, .minN].contains(kind)
            let inputName = usesSort ? "output" : "input"
            var allowed: Set<String> = [inputName]
            if usesSort { allowed.insert("sortBy") }
            if usesN { allowed.insert("n") }
            if kind == .median || kind == .percentile { allowed.insert("method") }
            if kind == .percentile { allowed.insert("p") }
            for k in spec.fieldNames where !allowed.contains(k) {
                throw FolioError(ErrorCode(rawValue: 5787901), "\(name) found an unknown argument: \(k)")
            }
            guard let inputValue = spec[inputName] else {
                throw FolioError(ErrorCode(rawValue: 5787907), "\(name) requires an '\(inputName)' field")
            }
            input = try Expression.parse(inputValue, context: context)
            if usesN {
                guard let nValue = spec["n"] else { throw FolioError(ErrorCode(rawValue: 5787906), "\(name) requires an 'n' field") }
                n = try Expression.parse(nValue, context: context)
            }
            if usesSort {
                guard case .document(let s)? = spec["sortBy"] else {
                    throw FolioError(ErrorCode(rawValue: 5788005), "\(name) requires a 'sortBy' field of type object")
                }
                sortBy = try SortSpec(parsing: s, collator: context.collator)
            }
            if kind == .median || kind == .percentile {
                guard case .string(let method)? = spec["method"] else {
                    throw FolioError(ErrorCode(rawValue: 40414), "BSON field '\(name).method' is missing but a required field")
                }
                guard ["approximate", "discrete", "continuous"].contains(method) else {
                    throw FolioError(.badValue, "Currently only 'approximate' can be used as percentile 'method'")
                }
            }
            if kind == .percentile {
                guard case .array(let ps)? = spec["p"], !ps.isEmpty else {
                    throw FolioError(ErrorCode(rawValue: 7750301), "$percentile 'p' must be an array of numbers from [0.0, 1.0], but found: \(spec["p"].map { "\($0)" } ?? "missing")")
                }
                for p in ps {
                    guard let x = p.asDouble, p.isNumber, x >= 0, x <= 1 else {
                        throw FolioError(ErrorCode(rawValue: 7750301), "$percentile 'p' must be an array of numbers from [0.0, 1.0], but found: \(p)")
                    }
                    percentiles.append(x)
                }
            } else if kind == .median {
                percentiles = [0.5]
            }
        default:
            if case .array(let a) = argument, kind != .push, kind != .addToSet {
                guard a.count == 1 else {
                    throw FolioError(ErrorCode(rawValue: 40237), "The \(name) accumulator is a unary operator")
                }
                input = try Expression.parse(a[0], context: context)
            } else if case .array = argument {
                throw FolioError(ErrorCode(rawValue: 40237), "The \(name) accumulator is a unary operator")
            } else {
                input = try Expression.parse(argument, context: context)
            }
        }
        self.n = n
        self.sortBy = sortBy
        self.percentiles = percentiles
    }

    /// The input as a constant or top-level field, when that is all this accumulator reads
    /// of a document (not `$top`/`$bottom` and their N forms, no `n`).
    var topLevelInput: TopLevelInput? {
        guard sortBy == nil, n == nil, ![.top, .bottom, .topN, .bottomN].contains(kind) else { return nil }
        return TopLevelInput(input)
    }

    /// A fresh state for one group. `groupID` feeds `n` expressions.
    public func makeState(groupID: BSON, context: EvaluationContext) throws(FolioError) -> AccumulatorState {
        var limit = 0
        if let n {
            var c = context
            c.current = .document(["_id": groupID])
            let value = try n.evaluate(c) ?? .null
            guard value.isNumber, let i = value.exactInt64 else {
                throw FolioError(ErrorCode(rawValue: 5787902), "Value for 'n' must be of integral type, but found \(value)")
            }
            guard i > 0 else { throw FolioError(ErrorCode(rawValue: 5787908), "'n' must be greater than 0, found \(i)") }
            limit = Int(clamping: i)
        }
        return AccumulatorState(spec: self, limit: limit)
    }
}

/// The running state of one accumulator in one group.
public struct AccumulatorState: Sendable {
    let spec: AccumulatorSpec
    let limit: Int
    var count: Int64 = 0
    var sum = NumericSum()
    var value: BSON?
    /// `$min`/`$max`: `value` as compared (its comparison key under a collation).
    var comparedValue: BSON?
    var values: [BSON] = []
    /// `$addToSet`: encoded keys seen.
    var seen: Set<[UInt8]> = []
    var sortedValues: [([BSON], BSON)] = []
    var mean = 0.0, m2 = 0.0
    /// Approximate bytes held (for the 100 MB limit of blocking stages).
    public private(set) var memoryBytes = 0

    init(spec: AccumulatorSpec, limit: Int) {
        self.spec = spec
        self.limit = limit
    }

    /// Processes one document.
    public mutating func add(_ context: EvaluationContext) throws(FolioError) {
        let v = try spec.input.evaluate(context)
        switch spec.kind {
        case .top, .bottom, .topN, .bottomN:
            let key = spec.sortBy!.sortKey(for: context.root)
            try addSorted(key, v ?? .null)
        default:
            try add(value: v)
        }
    }

    /// Processes one value (nil = missing).
    public mutating func add(value v: BSON?) throws(FolioError) {
        switch spec.kind {
        case .sum, .count:
            if let v, let n = Number(v) { sum.add(n) }
        case .avg:
            if let v, let n = Number(v) { sum.add(n); count += 1 }
        case .min, .max:
            guard let v, !v.isNullish else { return }
            let compared = v.collated(spec.collator)
            if let current = comparedValue {
                let c = BSON.compare(compared, current)
                guard spec.kind == .min ? c < 0 : c > 0 else { return }
            }
            value = v
            comparedValue = compared
        case .first:
            if count == 0 { value = v ?? .null }
            count += 1
        case .last:
            value = v ?? .null
        case .push:
            guard let v else { return }
            values.append(v)
            memoryBytes += v.approximateByteSize
            try checkMemory()
        case .addToSet:
            guard let v else { return }
            if seen.insert(KeyString.encode(v.collated(spec.collator))).inserted {
                values.append(v)
                memoryBytes += v.approximateByteSize
                try checkMemory()
            }
        case .mergeObjects:
            guard let v, !v.isNullish else { return }
            guard case .document(let d) = v else {
                throw FolioError(ErrorCode(rawValue: 40400), "$mergeObjects requires object inputs, but input \(v) is of type \(v.type.alias)")
            }
            var out = value.flatMap { if case .document(let m) = $0 { return m } else { return nil } } ?? Document()
            for (k, x) in d { out[k] = x }
            value = .document(out)
        case .stdDevPop, .stdDevSamp:
            guard let v, let n = Number(v) else { return }
            count += 1
            let x = n.asDouble
            let delta = x - mean
            mean += delta / Double(count)
            m2 += delta * (x - mean)
        case .firstN:
            if values.count < limit { values.append(v ?? .null) }
        case .lastN:
            values.append(v ?? .null)
            if values.count > limit { values.removeFirst() }
        case .maxN, .minN:
            guard let v, !v.isNullish else { return }
            values.append(v)
            if values.count > limit * 2 + 16 { trimExtremes() }
        case .median, .percentile:
            guard let v, let n = Number(v) else { return }
            values.append(.double(n.asDouble))
            memoryBytes += 16
            try checkMemory()
        case .top, .bottom, .topN, .bottomN:
            break
        }
    }

    mutating func addSorted(_ key: [BSON], _ output: BSON) throws(FolioError) {
        sortedValues.append((key, output))
        let keep = spec.kind == .top || spec.kind == .bottom ? 1 : limit
        if sortedValues.count > keep * 2 + 16 { trimSorted(keep) }
    }

    mutating func trimSorted(_ keep: Int) {
        let spec = self.spec.sortBy!
        let top = self.spec.kind == .top || self.spec.kind == .topN
        let ordered = sortedValues.enumerated().sorted { a, b in
            let c = spec.compare(a.element.0, b.element.0)
            return c != 0 ? (top ? c < 0 : c > 0) : (top ? a.offset < b.offset : a.offset > b.offset)
        }.map(\.element)
        sortedValues = Array(ordered.prefix(keep))
        if !top { sortedValues.reverse() }
    }

    mutating func trimExtremes() {
        let ordered = values.sorted { spec.kind == .maxN ? BSON.compare($0, $1) > 0 : BSON.compare($0, $1) < 0 }
        values = Array(ordered.prefix(limit))
    }

    func checkMemory() throws(FolioError) {
        if memoryBytes > Limits.blockingStageMemoryBytes {
            throw FolioError(.exceededMemoryLimit, "\(spec.kind.rawValue) used too much memory and cannot spill to disk. Memory limit: \(Limits.blockingStageMemoryBytes) bytes")
        }
    }

    /// The accumulated value.
    public func result() -> BSON {
        switch spec.kind {
        case .sum, .count: return sum.result
        case .avg:
            guard count > 0 else { return .null }
            return sum.average(count)
        case .min, .max: return value ?? .null
        case .first, .last: return value ?? .null
        case .push, .addToSet: return .array(values)
        case .mergeObjects: return value ?? .document(Document())
        case .stdDevPop:
            guard count > 0 else { return .null }
            return .double((m2 / Double(count)).squareRoot())
        case .stdDevSamp:
            guard count > 1 else { return .null }
            return .double((m2 / Double(count - 1)).squareRoot())
        case .firstN, .lastN: return .array(values)
        case .maxN, .minN:
            let ordered = values.sorted { spec.kind == .maxN ? BSON.compare($0, $1) > 0 : BSON.compare($0, $1) < 0 }
            return .array(Array(ordered.prefix(limit)))
        case .top, .bottom, .topN, .bottomN:
            var copy = self
            let single = spec.kind == .top || spec.kind == .bottom
            copy.trimSorted(single ? 1 : limit)
            if spec.kind == .bottom || spec.kind == .bottomN { copy.sortedValues.reverse() }
            let outputs = copy.sortedValues.map(\.1)
            if spec.kind == .bottomN || spec.kind == .bottom { return single ? outputs.first ?? .null : .array(outputs.reversed()) }
            return single ? outputs.first ?? .null : .array(outputs)
        case .median, .percentile:
            let sorted = values.compactMap(\.asDouble).sorted()
            let results: [BSON] = spec.percentiles.map { p in
                guard !sorted.isEmpty else { return .null }
                let rank = Int((p * Double(sorted.count)).rounded(.up)) - 1
                return .double(sorted[Swift.max(0, Swift.min(sorted.count - 1, rank))])
            }
            return spec.kind == .median ? results[0] : .array(results)
        }
    }
}

/// `$sum`/`$avg` arithmetic: integers stay integers until they overflow (then double),
/// doubles are summed with compensation (as MongoDB's double-double sum), decimals exactly.
struct NumericSum: Sendable {
    var integer: Int64 = 0
    var sawLong = false
    var integerOverflowed = false
    var doubleSum = 0.0
    var compensation = 0.0
    var sawDouble = false
    var decimal: Decimal128?

    mutating func add(_ n: Number) {
        switch n {
        case .int32(let i): addInteger(Int64(i))
        case .int64(let i): sawLong = true; addInteger(i)
        case .double(let d): sawDouble = true; addDouble(d)
        case .decimal(let d): decimal = (decimal ?? Decimal128(Int32(0))).adding(d)
        }
    }

    mutating func addInteger(_ i: Int64) {
        if integerOverflowed { addDouble(Double(i)); return }
        let (s, o) = integer.addingReportingOverflow(i)
        if o {
            integerOverflowed = true
            addDouble(Double(integer))
            addDouble(Double(i))
            integer = 0
        } else {
            integer = s
        }
    }

    mutating func addDouble(_ d: Double) {
        let t = doubleSum + d
        if abs(doubleSum) >= abs(d) { compensation += (doubleSum - t) + d } else { compensation += (d - t) + doubleSum }
        doubleSum = t
    }

    var doubleTotal: Double { doubleSum + compensation + Double(integer) }

    var result: BSON {
        if let decimal {
            return .decimal128(decimal.adding(sawDouble ? Decimal128(doubleSum + compensation) : Decimal128(Int32(0))).adding(Decimal128(integer)))
        }
        if sawDouble || integerOverflowed { return .double(doubleTotal) }
        if !sawLong, let small = Int32(exactly: integer) { return .int32(small) }
        return .int64(integer)
    }

    func average(_ count: Int64) -> BSON {
        if let decimal {
            let total = decimal.adding(sawDouble ? Decimal128(doubleSum + compensation) : Decimal128(Int32(0))).adding(Decimal128(integer))
            return .decimal128(total.dividing(by: Decimal128(count)))
        }
        return .double(doubleTotal / Double(count))
    }
}

extension BSON {
    /// A rough in-memory size, for the memory budgets of blocking stages.
    public var approximateByteSize: Int {
        switch self {
        case .string(let s): return s.utf8.count + 16
        case .document(let d): return d.approximateByteSize
        case .array(let a): return a.reduce(16) { $0 + $1.approximateByteSize }
        case .binary(let b): return b.data.count + 16
        default: return 16
        }
    }
}

extension Document {
    /// A rough in-memory size, for the memory budgets of blocking stages.
    public var approximateByteSize: Int { fieldValues.reduce(16) { $0 + $1.approximateByteSize } + count * 16 }
}
