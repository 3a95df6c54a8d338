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
    func advance(_ v: BSON) -> BSON {
        switch (v, unit) {
        case (.datetime(let ms), let unit?):
            let n = step.exactInt64!
            if let perUnit = DateOperators.unitMilliseconds(unit) { return .datetime(ms + n * perUnit) }
            let months = n * (unit == .year ? 12 : (unit == .quarter ? 3 : 1))
            return .datetime(DateOperators.addMonths(ms, months, zone: .utc))
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

    /// Densifies a complete input.
    public func apply(_ input: [Document]) throws(FolioError) -> [Document] {
        // Documents without the field pass through first, as MongoDB emits them.
        var passthrough: [Document] = []
        var partitions: [[UInt8]: (key: [BSON], docs: [(BSON, Document)])] = [:]
        var order: [[UInt8]] = []
        var globalLow: BSON?, globalHigh: BSON?
        for d in input {
            guard let v = DocumentPaths.value(field.components[...], in: d), try valueOK(v) else {
                passthrough.append(d)
                continue
            }
            let key = partitionByFields.map { DocumentPaths.value($0.components[...], in: d) ?? .null }
            let k = KeyString.encode(key)
            if partitions[k] == nil { order.append(k); partitions[k] = (key, []) }
            partitions[k]!.docs.append((v, d))
            if globalLow.map({ BSON.compare(v, $0) < 0 }) ?? true { globalLow = v }
            if globalHigh.map({ BSON.compare(v, $0) > 0 }) ?? true { globalHigh = v }
        }
        if partitions.isEmpty, case .explicit = bounds, partitionByFields.isEmpty {
            order.append(KeyString.encode([BSON]()))
            partitions[order[0]] = ([], [])
        }
        var out = passthrough
        var generated = 0
        order.sort { $0.lexicographicallyPrecedes($1) }
        for k in order {
            let key = partitions[k]!.key
            var docs = partitions[k]!.docs
            docs.sort { BSON.compare($0.0, $1.0) < 0 }
            let low: BSON, high: BSON, highInclusive: Bool
            switch bounds {
            case .full: low = globalLow ?? .null; high = globalHigh ?? .null; highInclusive = true
            case .partition: low = docs.first!.0; high = docs.last!.0; highInclusive = true
            case .explicit(let a, let b): low = a; high = b; highInclusive = false
            }
            var next = low
            var i = 0
            func emit(_ v: BSON) throws(FolioError) {
                generated += 1
                if generated > DensifySpec.maximumGenerated {
                    throw FolioError(ErrorCode(rawValue: 5897900), "Generated \(generated) documents in $densify, which is over the limit of \(DensifySpec.maximumGenerated)")
                }
                var d = DocumentPaths.setting(field.components[...], to: v, in: Document())
                for (j, p) in partitionByFields.enumerated() {
                    d = DocumentPaths.setting(p.components[...], to: key[j], in: d)
                }
                out.append(d)
            }
            // Walk the grid and the sorted documents together.
            while true {
                let inRange = highInclusive ? BSON.compare(next, high) <= 0 : BSON.compare(next, high) < 0
                while i < docs.count && BSON.compare(docs[i].0, next) < 0 {
                    out.append(docs[i].1); i += 1
                }
                guard inRange else { break }
                if i < docs.count && BSON.compare(docs[i].0, next) == 0 {
                    // An existing document sits on the grid point.
                } else {
                    try emit(next)
                }
                next = advance(next)
            }
            while i < docs.count { out.append(docs[i].1); i += 1 }
        }
        return out
    }
}
