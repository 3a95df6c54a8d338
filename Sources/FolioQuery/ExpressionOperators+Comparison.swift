import FolioBSON

/// `$eq $ne $gt $gte $lt $lte $cmp` (compare across types by BSON order; missing is null)
/// and `$not`.
enum ComparisonOperators {
    static func register(into t: inout [String: ExpressionOperators.Operator]) {
        let cases: [(String, @Sendable (Int) -> Bool)] = [
            ("$eq", { $0 == 0 }), ("$ne", { $0 != 0 }), ("$gt", { $0 > 0 }),
            ("$gte", { $0 >= 0 }), ("$lt", { $0 < 0 }), ("$lte", { $0 <= 0 }),
        ]
        for (name, accept) in cases {
            t[name] = .init(arity: (2, 2)) { args, _ in
                .bool(accept(BSON.compare(args[0] ?? .null, args[1] ?? .null)))
            }
        }
        t["$cmp"] = .init(arity: (2, 2)) { args, _ in
            let c = BSON.compare(args[0] ?? .null, args[1] ?? .null)
            return .int32(c < 0 ? -1 : (c > 0 ? 1 : 0))
        }
        t["$not"] = .init(arity: (1, 1)) { args, _ in .bool(!(args[0]?.isTruthy ?? false)) }
    }
}

/// A few array and string operators the core needs (`$size`, `$in`, `$concat`, ...); the
/// aggregation issue adds the rest.
enum CoreArrayAndStringOperators {
    static func register(into t: inout [String: ExpressionOperators.Operator]) {
        t["$size"] = .init(arity: (1, 1)) { args, _ throws(FolioError) in
            guard case .array(let a)? = args[0] else {
                throw FolioError(ErrorCode(rawValue: 17124), "The argument to $size must be an array. Type of argument is: \(args[0]?.type.alias ?? "missing")")
            }
            return .int32(Int32(a.count))
        }
        t["$isArray"] = .init(arity: (1, 1)) { args, _ in
            if case .array? = args[0] { return .bool(true) }
            return .bool(false)
        }
        t["$in"] = .init(arity: (2, 2)) { args, _ throws(FolioError) in
            guard case .array(let a)? = args[1] else {
                throw FolioError(ErrorCode(rawValue: 40081), "$in requires an array as a second argument, found: \(args[1]?.type.alias ?? "missing")")
            }
            let needle = args[0] ?? .null
            return .bool(a.contains { BSON.compare($0, needle) == 0 })
        }
        t["$arrayElemAt"] = .init(arity: (2, 2)) { args, _ throws(FolioError) in
            if Arguments.anyNullish(args) { return .null }
            guard case .array(let a) = args[0]! else {
                throw FolioError(ErrorCode(rawValue: 28689), "$arrayElemAt's first argument must be an array, but is \(args[0]!.type.alias)")
            }
            guard args[1]!.isNumber, let i = args[1]!.exactInt64 else {
                throw FolioError(ErrorCode(rawValue: 28691), "$arrayElemAt's second argument must be a numeric value")
            }
            let index = i < 0 ? Int64(a.count) + i : i
            return index >= 0 && index < a.count ? a[Int(index)] : nil
        }
        t["$concat"] = .init(arity: nil) { args, _ throws(FolioError) in
            var out = ""
            for a in args {
                guard let a, !a.isNullish else { return .null }
                guard case .string(let s) = a else {
                    throw FolioError(ErrorCode(rawValue: 16702), "$concat only supports strings, not \(a.type.alias)")
                }
                out += s
            }
            return .string(out)
        }
        t["$toLower"] = caseMapping("$toLower") { $0.lowercasedASCII() }
        t["$toUpper"] = caseMapping("$toUpper") { $0.uppercasedASCII() }
    }

    static func caseMapping(_ name: String, _ f: @escaping @Sendable (String) -> String) -> ExpressionOperators.Operator {
        .init(arity: (1, 1)) { args, _ throws(FolioError) in
            guard let v = args[0], !v.isNullish else { return .string("") }
            return .string(f(try TypeOperators.stringForm(v, name)))
        }
    }
}

extension String {
    /// MongoDB's $toLower/$toUpper map ASCII letters only.
    func lowercasedASCII() -> String {
        String(decoding: utf8.map { $0 >= 0x41 && $0 <= 0x5A ? $0 + 32 : $0 }, as: UTF8.self)
    }

    func uppercasedASCII() -> String {
        String(decoding: utf8.map { $0 >= 0x61 && $0 <= 0x7A ? $0 - 32 : $0 }, as: UTF8.self)
    }
}
