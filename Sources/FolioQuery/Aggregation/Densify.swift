import FolioBSON

/// `$densify`: fills gaps in a numeric or date field with new documents, step by step,
/// over explicit bounds, the whole input ("full") or each partition ("partition").
public struct DensifySpec: Sendable {
    public let field: FieldPath
    public let partitionByFields: [FieldPath]
    let step: BSON
    /// Milliseconds per step unit, or months for month/quarter/year; nil for numbers.
    let unit: DateOperators.Unit?
    let bounds: Bounds

    enum Bounds: Sendable { case full, partition, explicit(BSON, BSON) }

    /// MongoDB's internalQueryMaxAllowedDensifyDocs.
    static let maximumGenerated = 500_000

    init(parsing argument: BSON) throws(FolioError) {
        guard case .document(let spec) = argument else {
            throw FolioError(.failedToParse, "$densify specification must be an object")
        }
        for k in spec.fieldNames where !["field", "partitionByFields", "range"].contains(k) {
            throw FolioError(ErrorCode(rawValue: 40415), "BSON field '$densify.\(k)' is an unknown field.")
        }
        guard case .string(let f)? = spec["field"] else {
            throw FolioError(ErrorCode(rawValue: 40414), "BSON field '$densify.field' is missing but a required field")
        }
        if f.hasPrefix("$") { throw FolioError(ErrorCode(rawValue: 16410), "FieldPath field names may not start with '$'.") }
        field = FieldPath(f)
        var partitions: [FieldPath] = []
        if case .array(let names)? = spec["partitionByFields"] {
            for n in names {
                guard case .string(let s) = n else { throw FolioError(.typeMismatch, "partitionByFields must be strings") }
                partitions.append(FieldPath(s))
            }
        }
        partitionByFields = partitions
        guard case .document(let range)? = spec["range"] else {
            throw FolioError(ErrorCode(rawValue: 40414), "BSON field '$densify.range' is missing but a required field")
        }
        guard let step = range["step"], step.isNumber, let stepValue = step.asDouble, stepValue > 0 else {
            throw FolioError(ErrorCode(rawValue: 5733401), "the step parameter in a range statement must be a strictly positive numeric value")
        }
        self.step = step
        if let u = range["unit"] {
            guard case .string(let name) = u, let unit = DateOperators.Unit(rawValue: name) else {
                throw FolioError(.failedToParse, "unknown time unit value: \(u)")
            }
            guard step.exactInt64 != nil else {
                throw FolioError(ErrorCode(rawValue: 5733413), "The step parameter in a range statement must be a whole number when densifying a date range")
            }
            self.unit = unit
        } else {
            unit = nil
        }
        switch range["bounds"] {
        case .string("full")?: bounds = .full
        case .string("partition")?: bounds = .partition
        case .array(let b)? where b.count == 2:
            let valid = unit == nil ? b.allSatisfy(\.isNumber) : b.allSatisfy { $0.type == .datetime }
            guard valid else {
                throw FolioError(ErrorCode(rawValue: 5733402), "a bounding array must contain either both dates or both numeric types")
            }
            guard BSON.compare(b[0], b[1]) <= 0 else {
                throw FolioError(ErrorCode(rawValue: 5733403), "a bounding array in a range statement must have the lower bound first")
            }
            bounds = .explicit(b[0], b[1])
        default:
            throw FolioError(ErrorCode(rawValue: 5946802), "the bounds in a range statement must be the string 'full', 'partition', or an ascending array of two numbers or two dates")
        }
        if case .partition = bounds, partitions.isEmpty {
            throw FolioError(ErrorCode(rawValue: 5733408), "one may not specify the bounds as 'partition' without specifying a non-empty array of partitionByFields")
        }
    }

    /// The next value on the step grid.
    /// - Throws: 15 Overflow when a date step leaves the date range.
    func advance(_ v: BSON) throws(FolioError) -> BSON {
        switch (v, unit) {
        case (.datetime(let ms), let unit?):
            let n = step.exactInt64!
            let overflow = FolioError(.overflow, "$densify: date overflow")
            if let perUnit = DateOperators.unitMilliseconds(unit) {
                guard case (let delta, false) = n.multipliedReportingOverflow(by: perUnit),
                      case (let next, false) = ms.addingReportingOverflow(delta) else { throw overflow }
                return .datetime(next)
            }
            guard case (let months, false) = n.multipliedReportingOverflow(by: unit == .year ? 12 : (unit == .quarter ? 3 : 1)),
                  let next = DateOperators.addMonths(ms, months, zone: .utc) else { throw overflow }
            return .datetime(next)
        default:
            return Number.add(Number(v)!, Number(step)!).bson
        }
    }

    func valueOK(_ v: BSON) throws(FolioError) -> Bool {
        if v.isNullish { return false }
        if unit == nil {
            guard v.isNumber else {
                throw FolioError(ErrorCode(rawValue: 5733201), "Densify field type must be numeric with numeric bounds")
            }
        } else {
            guard v.type == .datetime else {
                throw FolioError(ErrorCode(rawValue: 5733201), "Densify field type must be a date when a unit is given")
            }
        }
        return true
    }

    /// The order densification walks a document in: documents without a numeric (or date)
    /// value first, in input order, then by partition (each `partitionByFields` value,
    /// missing as null) and value. Sort ascending by this key, stably, before `Walker`.
    public func sortKey(_ d: Document) throws(FolioError) -> [BSON] {
        guard let v = DocumentPaths.value(field.components[...], in: d), try valueOK(v) else {
            return [.int32(0)] + Array(repeating: .null, count: partitionByFields.count + 1)
        }
        return [.int32(1)] + partitionByFields.map { DocumentPaths.value($0.components[...], in: d) ?? .null } + [v]
    }

    /// The number of values in a sort key.
    public var sortKeyCount: Int { partitionByFields.count + 2 }

    /// Densifies documents arriving in `sortKey` order, one at a time, emitting them and the
    /// generated documents between them. `low`/`high` are the smallest and largest values of
    /// the whole input (used by "full" bounds).
    public struct Walker {
        let spec: DensifySpec
        let low: BSON?, high: BSON?
        var partition: [BSON]?
        var next: BSON = .null
        var generated = 0

        public init(_ spec: DensifySpec, low: BSON?, high: BSON?) {
            self.spec = spec
            self.low = low
            self.high = high
        }

        /// Whether grid point `v` is inside the bounds (a partition's own range is open above
        /// until it ends: points beyond its last value are never reached).
        func inRange(_ v: BSON) -> Bool {
            switch spec.bounds {
            case .full: return BSON.compare(v, high ?? .null) <= 0
            case .partition: return true
            case .explicit(_, let b): return BSON.compare(v, b) < 0
            }
        }

        public mutating func add(_ d: Document, key: [BSON], into out: inout [Document]) throws(FolioError) {
            guard case .int32(1) = key[0] else { out.append(d); return }
            let p = Array(key[1..<(key.count - 1)])
            let v = key[key.count - 1]
            if partition == nil || zip(partition!, p).contains(where: { BSON.compare($0, $1) != 0 }) {
                try closePartition(into: &out)
                partition = p
                switch spec.bounds {
                case .full: next = low ?? .null
                case .partition: next = v
                case .explicit(let a, _): next = a
                }
            }
            while BSON.compare(next, v) < 0 && inRange(next) {
                try emit(next, into: &out)
                next = try spec.advance(next)
            }
            // A document sitting on a grid point stands for it.
            if BSON.compare(next, v) == 0 && inRange(next) { next = try spec.advance(next) }
            out.append(d)
        }

        /// Ends the input: the rest of the last partition's range (or, with explicit bounds,
        /// no partition fields and no document with a value, the whole range).
        public mutating func finish(into out: inout [Document]) throws(FolioError) {
            if partition == nil, case .explicit(let a, _) = spec.bounds, spec.partitionByFields.isEmpty {
                partition = []
                next = a
            }
            try closePartition(into: &out)
        }

        mutating func closePartition(into out: inout [Document]) throws(FolioError) {
            guard partition != nil else { return }
            if case .partition = spec.bounds {} else {
                while inRange(next) {
                    try emit(next, into: &out)
                    next = try spec.advance(next)
                }
            }
            partition = nil
        }

        mutating func emit(_ v: BSON, into out: inout [Document]) throws(FolioError) {
            generated += 1
            if generated > DensifySpec.maximumGenerated {
                throw FolioError(ErrorCode(rawValue: 5897900), "Generated \(generated) documents in $densify, which is over the limit of \(DensifySpec.maximumGenerated)")
            }
            var d = DocumentPaths.setting(spec.field.components[...], to: v, in: Document())
            for (j, p) in spec.partitionByFields.enumerated() {
                d = DocumentPaths.setting(p.components[...], to: partition![j], in: d)
            }
            out.append(d)
        }
    }
}
