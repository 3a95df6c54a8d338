import FolioBSON

#if canImport(Glibc)
import Glibc
#endif

/// Array and set operators, the accumulators used as expressions (`{$sum: [..]}`),
/// trigonometry, `$rand`, `$bsonSize` and `$binarySize`.
enum ArrayOperators {
    static func register(into t: inout [String: ExpressionOperators.Operator]) {
        t["$concatArrays"] = .init(arity: nil) { args, _ throws(FolioError) in
            var out: [BSON] = []
            for a in args {
                guard let a, !a.isNullish else { return .null }
                guard case .array(let elements) = a else {
                    throw FolioError(ErrorCode(rawValue: 28664), "$concatArrays only supports arrays, not \(a.type.alias)")
                }
                out += elements
            }
            return .array(out)
        }
        t["$slice"] = .init(arity: (2, 3)) { args, _ throws(FolioError) in
            if Arguments.anyNullish(args) { return .null }
            guard case .array(let a) = args[0]! else {
                throw FolioError(ErrorCode(rawValue: 28724), "First argument to $slice must be an array, but is of type: \(args[0]!.type.alias)")
            }
            guard args[1]!.isNumber else {
                throw FolioError(ErrorCode(rawValue: 28725), "Second argument to $slice must be a numeric value, but is of type: \(args[1]!.type.alias)")
            }
            guard let first = args[1]!.exactInt64, Int32(exactly: first) != nil else {
                throw FolioError(ErrorCode(rawValue: 28726), "Second argument to $slice can't be represented as a 32-bit integer: \(args[1]!)")
            }
            let n = Int64(a.count)
            if args.count == 2 {
                if first >= 0 { return .array(Array(a.prefix(Int(min(first, n))))) }
                return .array(Array(a.suffix(Int(min(-first, n)))))
            }
            guard args[2]!.isNumber else {
                throw FolioError(ErrorCode(rawValue: 28727), "Third argument to $slice must be numeric, but is of type: \(args[2]!.type.alias)")
            }
            guard let count = args[2]!.exactInt64, Int32(exactly: count) != nil else {
                throw FolioError(ErrorCode(rawValue: 28728), "Third argument to $slice can't be represented as a 32-bit integer: \(args[2]!)")
            }
            guard count > 0 else {
                throw FolioError(ErrorCode(rawValue: 28729), "Third argument to $slice must be positive: \(count)")
            }
            let start = first < 0 ? max(0, n + first) : min(n, first)
            let end = min(n, start + count)
            return .array(Array(a[Int(start)..<Int(end)]))
        }
        t["$indexOfArray"] = .init(arity: (2, 4)) { args, _ throws(FolioError) in
            guard let v = args[0], !v.isNullish else { return .null }
            guard case .array(let a) = v else {
                throw FolioError(ErrorCode(rawValue: 40090), "$indexOfArray requires an array as a first argument, found: \(v.type.alias)")
            }
            let needle = args[1] ?? .null
            var start = 0, end = a.count
            for (i, label) in [(2, "starting"), (3, "ending")] where args.count > i {
                guard let b = args[i], b.isNumber, let n = b.exactInt64 else {
                    throw FolioError(ErrorCode(rawValue: 40096), "$indexOfArray requires an integral \(label) index, found a value of type: \(args[i]?.type.alias ?? "missing"), with value: \(args[i].map { "\($0)" } ?? "missing")")
                }
                guard n >= 0 else {
                    throw FolioError(ErrorCode(rawValue: 40097), "$indexOfArray requires a nonnegative \(label) index, found: \(n)")
                }
                if i == 2 { start = Int(min(n, Int64(Int32.max))) } else { end = min(end, Int(min(n, Int64(Int32.max)))) }
            }
            var i = start
            while i < end {
                if BSON.compare(a[i], needle) == 0 { return .int32(Int32(i)) }
                i += 1
            }
            return .int32(-1)
        }
        t["$range"] = .init(arity: (2, 3)) { args, _ throws(FolioError) in
            func integer(_ v: BSON?, _ what: String, _ typeCode: Int32, _ intCode: Int32) throws(FolioError) -> Int64 {
                guard let v, v.isNumber else {
                    throw FolioError(ErrorCode(rawValue: typeCode), "$range requires a numeric \(what), found value of type: \(v?.type.alias ?? "missing")")
                }
                guard let i = v.exactInt64, Int32(exactly: i) != nil else {
                    throw FolioError(ErrorCode(rawValue: intCode), "$range requires a \(what) that can be represented as a 32-bit integer, found value: \(v)")
                }
                return i
            }
            let start = try integer(args[0], "starting value", 34443, 34444)
            let end = try integer(args[1], "ending value", 34445, 34446)
            let step = args.count > 2 ? try integer(args[2], "step value", 34447, 34448) : 1
            guard step != 0 else { throw FolioError(ErrorCode(rawValue: 34449), "$range requires a non-zero step value") }
            // MongoDB's bound: 24 bytes of array plus 16 per element, under 100 MB. The three
            // values are 32-bit, so these Int64 sums cannot overflow.
            let steps = (end - start) / step
            let needed = 24 + (steps >= 0 ? 1 + steps : 0) * 16
            guard needed < Limits.maximumRangeBytes else {
                throw FolioError(.exceededMemoryLimit, "$range would use too much memory (\(needed) bytes) and cannot spill to disk. Memory limit: \(Limits.maximumRangeBytes) bytes")
            }
            var out: [BSON] = []
            out.reserveCapacity(Int(max(0, steps + 1)))
            var i = start
            while step > 0 ? i < end : i > end {
                out.append(.int32(Int32(truncatingIfNeeded: i)))
                i += step
            }
            return .array(out)
        }
        t["$reverseArray"] = .init(arity: (1, 1)) { args, _ throws(FolioError) in
            guard let v = args[0], !v.isNullish else { return .null }
            guard case .array(let a) = v else {
                throw FolioError(ErrorCode(rawValue: 34435), "The argument to $reverseArray must be an array, but was of type: \(v.type.alias)")
            }
            return .array(a.reversed())
        }
        for name in ["$first", "$last"] {
            t[name] = .init(arity: (1, 1)) { args, _ throws(FolioError) in
                guard let v = args[0], !v.isNullish else { return .null }
                guard case .array(let a) = v else {
                    throw FolioError(ErrorCode(rawValue: 28689), "\(name)'s argument must be an array, but is \(v.type.alias)")
                }
                return name == "$first" ? a.first : a.last
            }
        }
        t["$arrayToObject"] = .init(arity: (1, 1)) { args, _ throws(FolioError) in
            guard let v = args[0], !v.isNullish else { return .null }
            guard case .array(let a) = v else {
                throw FolioError(ErrorCode(rawValue: 40386), "$arrayToObject requires an array input, found: \(v.type.alias)")
            }
            var out = Document()
            guard let first = a.first else { return .document(out) }
            let pairs: Bool
            switch first {
            case .array: pairs = true
            case .document: pairs = false
            default:
                throw FolioError(ErrorCode(rawValue: 40398), "Unrecognised input type format for $arrayToObject: \(first.type.alias)")
            }
            for e in a {
                let key: BSON, value: BSON
                if pairs {
                    guard case .array(let p) = e else {
                        throw FolioError(ErrorCode(rawValue: 40396), "$arrayToObject requires a consistent input format. Elements must all be arrays or all be objects. Array was detected, now found: \(e.type.alias)")
                    }
                    guard p.count == 2 else {
                        throw FolioError(ErrorCode(rawValue: 40397), "$arrayToObject requires an array of size 2 arrays,found array of size: \(p.count)")
                    }
                    key = p[0]; value = p[1]
                    guard case .string = key else {
                        throw FolioError(ErrorCode(rawValue: 40395), "$arrayToObject requires an array of key-value pairs, where the key must be of type string. Found key type: \(key.type.alias)")
                    }
                } else {
                    guard case .document(let d) = e else {
                        throw FolioError(ErrorCode(rawValue: 40391), "$arrayToObject requires a consistent input format. Elements must all be arrays or all be objects. Object was detected, now found: \(e.type.alias)")
                    }
                    guard d.count == 2, let k = d["k"], let vv = d["v"] else {
                        throw FolioError(ErrorCode(rawValue: 40392), "$arrayToObject requires an object keys of 'k' and 'v'. Found incorrect number of keys:\(d.count)")
                    }
                    guard case .string = k else {
                        throw FolioError(ErrorCode(rawValue: 40394), "$arrayToObject requires an object with keys 'k' and 'v', where the value of 'k' must be of type string. Found type: \(k.type.alias)")
                    }
                    key = k; value = vv
                }
                let name = key.stringValue!
                if name.utf8.contains(0) {
                    throw FolioError(ErrorCode(rawValue: 4940400), "Key field cannot contain an embedded null byte")
                }
                out[name] = value
            }
            return .document(out)
        }
        t["$objectToArray"] = .init(arity: (1, 1)) { args, _ throws(FolioError) in
            guard let v = args[0], !v.isNullish else { return .null }
            guard case .document(let d) = v else {
                throw FolioError(ErrorCode(rawValue: 40390), "$objectToArray requires a document input, found: \(v.type.alias)")
            }
            return .array(d.map { ["k": .string($0.key), "v": $0.value] })
        }
        t["$zip"] = .init(arity: (1, 1), takesDocument: true) { args, _ throws(FolioError) in
            guard case .document(let spec)? = args[0] else {
                throw FolioError(ErrorCode(rawValue: 34460), "$zip only supports an object as an argument, found \(args[0]?.type.alias ?? "missing")")
            }
            for k in spec.fieldNames where !["inputs", "useLongestLength", "defaults"].contains(k) {
                throw FolioError(ErrorCode(rawValue: 34464), "$zip found an unknown argument: \(k)")
            }
            guard let inputsValue = spec["inputs"] else { throw FolioError(ErrorCode(rawValue: 34465), "$zip requires at least one input array") }
            guard case .array(let inputs) = inputsValue else {
                throw FolioError(ErrorCode(rawValue: 34461), "inputs must be an array of expressions, found \(inputsValue.type.alias)")
            }
            let longest = spec["useLongestLength"]?.isTruthy ?? false
            var arrays: [[BSON]] = []
            for i in inputs {
                if i.isNullish { return .null }
                guard case .array(let a) = i else {
                    throw FolioError(ErrorCode(rawValue: 34468), "$zip found a non-array expression in input: \(i)")
                }
                arrays.append(a)
            }
            var defaults: [BSON] = Array(repeating: .null, count: arrays.count)
            if let d = spec["defaults"], !d.isNullish {
                guard case .array(let given) = d else {
                    throw FolioError(ErrorCode(rawValue: 34462), "defaults must be an array of expressions, found \(d.type.alias)")
                }
                guard longest else { throw FolioError(ErrorCode(rawValue: 34466), "cannot specify defaults unless useLongestLength is true") }
                guard given.count == arrays.count else {
                    throw FolioError(ErrorCode(rawValue: 34467), "defaults and inputs must have the same length")
                }
                defaults = given
            }
            guard !arrays.isEmpty else { return .array([]) }
            let n = longest ? arrays.map(\.count).max()! : arrays.map(\.count).min()!
            return .array((0..<n).map { i in .array(arrays.indices.map { j in i < arrays[j].count ? arrays[j][i] : defaults[j] }) })
        }
        t["$sortArray"] = .init(arity: (1, 1), takesDocument: true) { args, _ throws(FolioError) in
            guard case .document(let spec)? = args[0] else {
                throw FolioError(ErrorCode(rawValue: 2942500), "$sortArray requires an object as an argument, found: \(args[0]?.type.alias ?? "missing")")
            }
            for k in spec.fieldNames where k != "input" && k != "sortBy" {
                throw FolioError(ErrorCode(rawValue: 2942501), "$sortArray found an unknown argument: \(k)")
            }
            guard let sortBy = spec["sortBy"] else { throw FolioError(ErrorCode(rawValue: 2942503), "$sortArray requires 'sortBy' to be specified") }
            guard let input = spec["input"], !input.isNullish else { return .null }
            guard case .array(let a) = input else {
                throw FolioError(ErrorCode(rawValue: 2942504), "The input argument to $sortArray must be an array, but was of type: \(input.type.alias)")
            }
            switch sortBy {
            case .document(let d):
                let spec = try SortSpec(parsing: d, allowMeta: false)
                let keyed = a.enumerated().map { (i, e) -> ([BSON], Int, BSON) in
                    (spec.keys.map { SortSpec.keyValue(e, path: $0.path, ascending: $0.ascending) }, i, e)
                }
                return .array(keyed.sorted { x, y in
                    let c = spec.compare(x.0, y.0)
                    return c != 0 ? c < 0 : x.1 < y.1
                }.map(\.2))
            case let v where v.isNumber && (v.asDouble == 1 || v.asDouble == -1):
                let ascending = v.asDouble == 1
                return .array(a.enumerated().sorted { x, y in
                    let c = BSON.compare(x.element, y.element)
                    return c != 0 ? (ascending ? c < 0 : c > 0) : x.offset < y.offset
                }.map(\.element))
            default:
                throw FolioError(ErrorCode(rawValue: 2942505), "$sortArray requires sortBy to be either 1, -1 or an object, found: \(sortBy)")
            }
        }
        for name in ["$firstN", "$lastN", "$maxN", "$minN"] {
            t[name] = .init(arity: (1, 1), takesDocument: true) { args, _ throws(FolioError) in
                guard case .document(let spec)? = args[0] else {
                    throw FolioError(ErrorCode(rawValue: 5787801), "specification must be an object; found \(args[0]?.type.alias ?? "missing")")
                }
                for k in spec.fieldNames where k != "n" && k != "input" {
                    throw FolioError(ErrorCode(rawValue: 5787901), "\(name) found an unknown argument: \(k)")
                }
                guard let nValue = spec["n"], nValue.isNumber, let n = nValue.exactInt64 else {
                    throw FolioError(ErrorCode(rawValue: 5787902), "Value for 'n' must be of integral type, but found \(spec["n"].map { "\($0)" } ?? "missing")")
                }
                guard n > 0 else { throw FolioError(ErrorCode(rawValue: 5787908), "'n' must be greater than 0, found \(n)") }
                guard let input = spec["input"], !input.isNullish else { return .null }
                guard case .array(let a) = input else {
                    throw FolioError(ErrorCode(rawValue: 5788200), "Input must be an array")
                }
                let k = Int(min(n, Int64(a.count)))
                switch name {
                case "$firstN": return .array(Array(a.prefix(k)))
                case "$lastN": return .array(Array(a.suffix(k)))
                default:
                    let values = a.filter { !$0.isNullish }
                    let sorted = values.sorted { name == "$maxN" ? BSON.compare($0, $1) > 0 : BSON.compare($0, $1) < 0 }
                    return .array(Array(sorted.prefix(Int(min(n, Int64(sorted.count))))))
                }
            }
        }
        registerSets(into: &t)
        registerAccumulatorExpressions(into: &t)
        registerMisc(into: &t)
    }

    // MARK: Sets

    static func registerSets(into t: inout [String: ExpressionOperators.Operator]) {
        @Sendable func arrays(_ args: [BSON?], _ name: String, _ code: Int32, nullable: Bool) throws(FolioError) -> [[BSON]]? {
            var out: [[BSON]] = []
            for a in args {
                if nullable, a == nil || a!.isNullish { return nil }
                guard case .array(let x)? = a else {
                    throw FolioError(ErrorCode(rawValue: code), "All operands of \(name) must be arrays. One argument is of type: \(a?.type.alias ?? "missing")")
                }
                out.append(x)
            }
            return out
        }
        @Sendable func unique(_ values: [BSON]) -> [BSON] {
            var seen = Set<[UInt8]>()
            return values.filter { seen.insert(KeyString.encode($0)).inserted }
        }
        @Sendable func keys(_ values: [BSON]) -> Set<[UInt8]> { Set(values.map { KeyString.encode($0) }) }
        t["$setUnion"] = .init(arity: nil) { args, _ throws(FolioError) in
            guard let all = try arrays(args, "$setUnion", 17043, nullable: true) else { return .null }
            return .array(unique(all.flatMap { $0 }))
        }
        t["$setIntersection"] = .init(arity: nil) { args, _ throws(FolioError) in
            guard let all = try arrays(args, "$setIntersection", 17047, nullable: true) else { return .null }
            guard var result = all.first.map(unique) else { return .array([]) }
            for other in all.dropFirst() {
                let k = keys(other)
                result = result.filter { k.contains(KeyString.encode($0)) }
            }
            return .array(result)
        }
        t["$setDifference"] = .init(arity: (2, 2)) { args, _ throws(FolioError) in
            if Arguments.anyNullish(args) { return .null }
            guard case .array(let a) = args[0]!, case .array(let b) = args[1]! else {
                let bad = args[0]!.type == .array ? args[1]! : args[0]!
                throw FolioError(ErrorCode(rawValue: args[0]!.type == .array ? 17049 : 17048), "both operands of $setDifference must be arrays. \(args[0]!.type == .array ? "Second" : "First") argument is of type: \(bad.type.alias)")
            }
            let k = keys(b)
            return .array(unique(a).filter { !k.contains(KeyString.encode($0)) })
        }
        t["$setEquals"] = .init(arity: (2, Int.max)) { args, _ throws(FolioError) in
            let all = try arrays(args, "$setEquals", 17044, nullable: false)!
            let first = keys(all[0])
            return .bool(all.dropFirst().allSatisfy { keys($0) == first })
        }
        t["$setIsSubset"] = .init(arity: (2, 2)) { args, _ throws(FolioError) in
            guard case .array(let a)? = args[0] else {
                throw FolioError(ErrorCode(rawValue: 17046), "both operands of $setIsSubset must be arrays. First argument is of type: \(args[0]?.type.alias ?? "missing")")
            }
            guard case .array(let b)? = args[1] else {
                throw FolioError(ErrorCode(rawValue: 17042), "both operands of $setIsSubset must be arrays. Second argument is of type: \(args[1]?.type.alias ?? "missing")")
            }
            return .bool(keys(a).isSubset(of: keys(b)))
        }
        for (name, code, any) in [("$anyElementTrue", Int32(17041), true), ("$allElementsTrue", Int32(17040), false)] {
            t[name] = .init(arity: (1, 1)) { args, _ throws(FolioError) in
                guard case .array(let a)? = args[0] else {
                    throw FolioError(ErrorCode(rawValue: code), "\(name)'s argument must be an array, but is \(args[0]?.type.alias ?? "missing")")
                }
                return .bool(any ? a.contains(where: \.isTruthy) : a.allSatisfy(\.isTruthy))
            }
        }
    }

    // MARK: Accumulators as expressions

    /// `$sum`, `$avg`, `$min`, `$max`, `$stdDevPop`, `$stdDevSamp` over one array argument
    /// (its elements) or several arguments (their values).
    static func registerAccumulatorExpressions(into t: inout [String: ExpressionOperators.Operator]) {
        let kinds: [(String, AccumulatorSpec.Kind)] = [("$sum", .sum), ("$avg", .avg), ("$min", .min), ("$max", .max),
                                                       ("$stdDevPop", .stdDevPop), ("$stdDevSamp", .stdDevSamp)]
        for (name, _) in kinds {
            t[name] = .init(arity: nil) { args, _ throws(FolioError) in
                var values: [BSON?] = args
                if args.count == 1, case .array(let a)? = args[0] { values = a }
                var state = try AccumulatorSpec(parsing: [name: .null], field: name, context: ParseContext())
                    .makeState(groupID: .null, context: EvaluationContext(root: Document()))
                for v in values { try state.add(value: v) }
                return state.result()
            }
        }
        for name in ["$median", "$percentile"] {
            t[name] = .init(arity: (1, 1), takesDocument: true) { args, _ throws(FolioError) in
                guard case .document(let spec)? = args[0] else {
                    throw FolioError(ErrorCode(rawValue: 7436100), "\(name) requires an object as an argument")
                }
                var literal = spec
                literal["input"] = .null
                var state = try AccumulatorSpec(parsing: [name: .document(literal)], field: name, context: ParseContext())
                    .makeState(groupID: .null, context: EvaluationContext(root: Document()))
                let input = spec["input"] ?? .null
                if case .array(let a) = input { for v in a { try state.add(value: v) } } else { try state.add(value: input) }
                return state.result()
            }
        }
    }

    // MARK: Trigonometry and the rest

    static func registerMisc(into t: inout [String: ExpressionOperators.Operator]) {
        let unbounded: [(String, @Sendable (Double) -> Double)] = [
            ("$sin", sin), ("$cos", cos), ("$tan", tan), ("$atan", atan), ("$sinh", sinh), ("$cosh", cosh), ("$tanh", tanh), ("$asinh", asinh),
            ("$degreesToRadians", { $0 * Double.pi / 180 }), ("$radiansToDegrees", { $0 * 180 / Double.pi }),
        ]
        for (name, f) in unbounded { t[name] = trig(name, nil, f) }
        t["$asin"] = trig("$asin", (-1, 1), asin)
        t["$acos"] = trig("$acos", (-1, 1), acos)
        t["$acosh"] = trig("$acosh", (1, .infinity), acosh)
        t["$atanh"] = trig("$atanh", (-1, 1), atanh)
        t["$atan2"] = .init(arity: (2, 2)) { args, _ throws(FolioError) in
            if Arguments.anyNullish(args) { return .null }
            let y = try Arguments.number(args[0], "$atan2"), x = try Arguments.number(args[1], "$atan2")
            let r = atan2(y.asDouble, x.asDouble)
            if max(y.rank, x.rank) == 3 { return .decimal128(Decimal128(r)) }
            return .double(r)
        }
        t["$rand"] = .init(arity: (0, 0)) { _, _ in .double(Double.random(in: 0..<1)) }
        t["$bsonSize"] = .init(arity: (1, 1)) { args, _ throws(FolioError) in
            guard let v = args[0], !v.isNullish else { return .null }
            guard case .document(let d) = v else {
                throw FolioError(ErrorCode(rawValue: 31393), "$bsonSize requires a document input, found: \(v.type.alias)")
            }
            return .int32(Int32(d.bsonBytes().count))
        }
        // A missing value hashes as null, as MongoDB does.
        t["$toHashedIndexKey"] = .init(arity: (1, 1)) { args, _ in .int64((args[0] ?? .null).hashedIndexKey) }
        t["$binarySize"] = .init(arity: (1, 1)) { args, _ throws(FolioError) in
            switch args[0] {
            case nil, .null?, .undefined?: return .null
            case .string(let s)?: return .int32(Int32(s.utf8.count))
            case .binary(let b)?: return .int32(Int32(b.data.count))
            case let v?:
                throw FolioError(ErrorCode(rawValue: 51276), "$binarySize requires a string or BinData argument, found: \(v.type.alias)")
            }
        }
    }

    static func trig(_ name: String, _ bounds: (Double, Double)?, _ f: @escaping @Sendable (Double) -> Double) -> ExpressionOperators.Operator {
        .init(arity: (1, 1)) { args, _ throws(FolioError) in
            guard let v = args[0], !v.isNullish else { return .null }
            let n = try Arguments.number(v, name)
            let x = n.asDouble
            if let (lo, hi) = bounds, !x.isNaN, x < lo || x > hi {
                throw FolioError(ErrorCode(rawValue: 50989), "cannot apply \(name) to \(v), value must be in [\(lo),\(hi)]")
            }
            if ["$sin", "$cos", "$tan"].contains(name), x.isInfinite {
                throw FolioError(ErrorCode(rawValue: 50989), "cannot apply \(name) to \(v), value must be in (-inf,inf)")
            }
            if case .decimal = n { return .decimal128(Decimal128(f(x))) }
            return .double(f(x))
        }
    }
}
