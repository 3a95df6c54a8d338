import FolioBSON

/// String operators: substrings by bytes and code points, lengths, searches, splits,
/// trims, case-insensitive comparison, replacements and regular expressions.
enum StringOperators {
    static func register(into t: inout [String: ExpressionOperators.Operator]) {
        t["$strLenBytes"] = .init(arity: (1, 1)) { args, _ throws(FolioError) in
            guard case .string(let s)? = args[0] else {
                throw FolioError(ErrorCode(rawValue: 34473), "$strLenBytes requires a string argument, found: \(args[0]?.type.alias ?? "missing")")
            }
            return .int32(Int32(s.utf8.count))
        }
        t["$strLenCP"] = .init(arity: (1, 1)) { args, _ throws(FolioError) in
            guard case .string(let s)? = args[0] else {
                throw FolioError(ErrorCode(rawValue: 34471), "$strLenCP requires a string argument, found: \(args[0]?.type.alias ?? "missing")")
            }
            return .int32(Int32(s.unicodeScalars.count))
        }
        t["$substrBytes"] = .init(arity: (3, 3)) { args, _ throws(FolioError) in try substrBytes(args, "$substrBytes") }
        t["$substr"] = .init(arity: (3, 3)) { args, _ throws(FolioError) in try substrBytes(args, "$substrBytes") }
        t["$substrCP"] = .init(arity: (3, 3)) { args, _ throws(FolioError) in
            guard let v = args[0], !v.isNullish else { return .string("") }
            let s = try TypeOperators.stringForm(v, "$substrCP")
            guard let startValue = args[1], startValue.isNumber, let start = try integral(startValue) else {
                throw FolioError(ErrorCode(rawValue: 34450), "$substrCP: starting index must be a numeric type (is BSON type \(args[1]?.type.alias ?? "missing"))")
            }
            guard let lengthValue = args[2], lengthValue.isNumber, let length = try integral(lengthValue) else {
                throw FolioError(ErrorCode(rawValue: 34452), "$substrCP: length must be a numeric type (is BSON type \(args[2]?.type.alias ?? "missing"))")
            }
            guard start >= 0 else { throw FolioError(ErrorCode(rawValue: 34455), "$substrCP: the starting index must be nonnegative integer.") }
            guard length >= 0 else { throw FolioError(ErrorCode(rawValue: 34454), "$substrCP: length must be a nonnegative integer.") }
            let scalars = Array(s.unicodeScalars)
            let lo = min(Int(start), scalars.count), hi = min(scalars.count, lo + Int(min(length, Int64(Int32.max))))
            var out = String.UnicodeScalarView()
            out.append(contentsOf: scalars[lo..<hi])
            return .string(String(out))
        }
        t["$indexOfBytes"] = .init(arity: (2, 4)) { args, _ throws(FolioError) in try indexOf(args, "$indexOfBytes", codePoints: false) }
        t["$indexOfCP"] = .init(arity: (2, 4)) { args, _ throws(FolioError) in try indexOf(args, "$indexOfCP", codePoints: true) }
        t["$split"] = .init(arity: (2, 2)) { args, _ throws(FolioError) in
            if Arguments.anyNullish(args) { return .null }
            guard case .string(let s) = args[0]! else {
                throw FolioError(ErrorCode(rawValue: 40085), "$split requires an expression that evaluates to a string as a first argument, found: \(args[0]!.type.alias)")
            }
            guard case .string(let d) = args[1]! else {
                throw FolioError(ErrorCode(rawValue: 40086), "$split requires an expression that evaluates to a string as a second argument, found: \(args[1]!.type.alias)")
            }
            guard !d.isEmpty else { throw FolioError(ErrorCode(rawValue: 40087), "$split requires a non-empty separator") }
            return .array(splitBytes(Array(s.utf8), Array(d.utf8)).map { .string(String(decoding: $0, as: UTF8.self)) })
        }
        for (name, sides) in [("$trim", (true, true)), ("$ltrim", (true, false)), ("$rtrim", (false, true))] {
            t[name] = .init(arity: (1, 1), takesDocument: true) { args, _ throws(FolioError) in
                guard case .document(let spec)? = args[0] else {
                    throw FolioError(ErrorCode(rawValue: 50696), "\(name) only supports an object as an argument, found: \(args[0]?.type.alias ?? "missing")")
                }
                for k in spec.fieldNames where k != "input" && k != "chars" {
                    throw FolioError(ErrorCode(rawValue: 50694), "\(name) found an unknown argument: \(k)")
                }
                guard spec.index(forKey: "input") != nil else {
                    throw FolioError(ErrorCode(rawValue: 50695), "\(name) requires an 'input' field")
                }
                guard let input = spec["input"], !input.isNullish else { return .null }
                guard case .string(let s) = input else {
                    throw FolioError(ErrorCode(rawValue: 50699), "\(name) requires its input to be a string, got \(input) (of type \(input.type.alias)) instead.")
                }
                var characters: Set<Unicode.Scalar> = [" ", "\t", "\n", "\u{0B}", "\u{0C}", "\r", "\0", "\u{A0}", "\u{1680}", "\u{2000}", "\u{2001}", "\u{2002}",
                                                       "\u{2003}", "\u{2004}", "\u{2005}", "\u{2006}", "\u{2007}", "\u{2008}", "\u{2009}", "\u{200A}"]
                if let chars = spec["chars"] {
                    if chars.isNullish { return .null }
                    guard case .string(let c) = chars else {
                        throw FolioError(ErrorCode(rawValue: 50700), "\(name) requires 'chars' to be a string, got \(chars) (of type \(chars.type.alias)) instead.")
                    }
                    characters = Set(c.unicodeScalars)
                }
                var scalars = Array(s.unicodeScalars)[...]
                if sides.0 { while let f = scalars.first, characters.contains(f) { scalars = scalars.dropFirst() } }
                if sides.1 { while let l = scalars.last, characters.contains(l) { scalars = scalars.dropLast() } }
                var out = String.UnicodeScalarView()
                out.append(contentsOf: scalars)
                return .string(String(out))
            }
        }
        t["$strcasecmp"] = .init(arity: (2, 2)) { args, _ throws(FolioError) in
            let a = try args[0].map { v throws(FolioError) in v.isNullish ? "" : try TypeOperators.stringForm(v, "$strcasecmp") } ?? ""
            let b = try args[1].map { v throws(FolioError) in v.isNullish ? "" : try TypeOperators.stringForm(v, "$strcasecmp") } ?? ""
            let c = compareUTF8(a.uppercasedASCII(), b.uppercasedASCII())
            return .int32(c < 0 ? -1 : (c > 0 ? 1 : 0))
        }
        for (name, all) in [("$replaceOne", false), ("$replaceAll", true)] {
            t[name] = .init(arity: (1, 1), takesDocument: true) { args, _ throws(FolioError) in
                guard case .document(let spec)? = args[0] else {
                    throw FolioError(ErrorCode(rawValue: 51751), "\(name) requires an object as an argument, found: \(args[0]?.type.alias ?? "missing")")
                }
                for k in spec.fieldNames where !["input", "find", "replacement"].contains(k) {
                    throw FolioError(ErrorCode(rawValue: 51750), "\(name) found an unknown argument: \(k)")
                }
                var values: [String?] = []
                for k in ["input", "find", "replacement"] {
                    guard spec.index(forKey: k) != nil else {
                        throw FolioError(ErrorCode(rawValue: 51749 - (k == "find" ? 1 : (k == "replacement" ? 2 : 0))), "\(name) requires '\(k)' to be specified")
                    }
                    let v = spec[k]!
                    if v.isNullish { values.append(nil); continue }
                    guard case .string(let s) = v else {
                        throw FolioError(ErrorCode(rawValue: 51746 - (k == "find" ? 1 : (k == "replacement" ? 2 : 0))), "\(name) requires that '\(k)' be a string, found: \(v)")
                    }
                    values.append(s)
                }
                guard let input = values[0], let find = values[1], let replacement = values[2] else { return .null }
                return .string(replace(input, find, replacement, all: all))
            }
        }
        t["$regexMatch"] = .init(arity: (1, 1), takesDocument: true) { args, _ throws(FolioError) in
            guard let (regex, input) = try regexArguments(args[0], "$regexMatch") else { return .bool(false) }
            return .bool(!(try regexFindAll(regex, input, limit: 1, "$regexMatch")).isEmpty)
        }
        t["$regexFind"] = .init(arity: (1, 1), takesDocument: true) { args, _ throws(FolioError) in
            guard let (regex, input) = try regexArguments(args[0], "$regexFind") else { return .null }
            return try regexFindAll(regex, input, limit: 1, "$regexFind").first ?? .null
        }
        t["$regexFindAll"] = .init(arity: (1, 1), takesDocument: true) { args, _ throws(FolioError) in
            guard let (regex, input) = try regexArguments(args[0], "$regexFindAll") else { return .array([]) }
            return .array(try regexFindAll(regex, input, limit: .max, "$regexFindAll"))
        }
    }

    /// A number as a long the way MongoDB's `coerceToLong` makes one: fractions dropped,
    /// NaN and values beyond a long refused (31109).
    static func integral(_ v: BSON) throws(FolioError) -> Int64? {
        if let i = v.exactInt64 { return i }
        guard let d = v.asDouble else { return nil }
        guard let i = Int64.checked(d) else {
            throw FolioError(ErrorCode(rawValue: 31109), "Can't coerce out of range value \(v) to long")
        }
        return i
    }

    static func substrBytes(_ args: [BSON?], _ name: String) throws(FolioError) -> BSON? {
        guard let v = args[0], !v.isNullish else { return .string("") }
        let s = try TypeOperators.stringForm(v, name)
        guard let startValue = args[1], startValue.isNumber, let start = try integral(startValue) else {
            throw FolioError(ErrorCode(rawValue: 16034), "\(name):  starting index must be a numeric type (is BSON type \(args[1]?.type.alias ?? "missing"))")
        }
        guard let lengthValue = args[2], lengthValue.isNumber, let length = try integral(lengthValue) else {
            throw FolioError(ErrorCode(rawValue: 16035), "\(name):  length must be a numeric type (is BSON type \(args[2]?.type.alias ?? "missing"))")
        }
        let bytes = Array(s.utf8)
        guard start >= 0, start < bytes.count else { return .string("") }
        let lo = Int(start)
        let hi = length < 0 ? bytes.count : min(bytes.count, lo + Int(min(length, Int64(Int32.max))))
        func isContinuation(_ i: Int) -> Bool { i < bytes.count && bytes[i] & 0xC0 == 0x80 }
        if isContinuation(lo) {
            throw FolioError(ErrorCode(rawValue: 28656), "\(name):  Invalid range, starting index is a UTF-8 continuation byte.")
        }
        if isContinuation(hi) {
            throw FolioError(ErrorCode(rawValue: 28657), "\(name):  Invalid range, ending index is in the middle of a UTF-8 character.")
        }
        return .string(String(decoding: bytes[lo..<hi], as: UTF8.self))
    }

    static func indexOf(_ args: [BSON?], _ name: String, codePoints: Bool) throws(FolioError) -> BSON? {
        guard let haystack = args[0], !haystack.isNullish else { return .null }
        guard case .string(let s) = haystack else {
            throw FolioError(ErrorCode(rawValue: 40091), "\(name) requires a string as the first argument, found: \(haystack.type.alias)")
        }
        guard case .string(let needle)? = args[1] else {
            throw FolioError(ErrorCode(rawValue: 40092), "\(name) requires a string as the second argument, found: \(args[1]?.type.alias ?? "missing")")
        }
        let units: [UInt32] = codePoints ? s.unicodeScalars.map(\.value) : s.utf8.map(UInt32.init)
        let target: [UInt32] = codePoints ? needle.unicodeScalars.map(\.value) : needle.utf8.map(UInt32.init)
        var start = 0, end = units.count
        if args.count > 2 {
            guard let v = args[2], v.isNumber, let n = v.exactInt64 else {
                throw FolioError(ErrorCode(rawValue: 40096), "\(name) requires an integral starting index, found a value of type: \(args[2]?.type.alias ?? "missing")")
            }
            guard n >= 0 else { throw FolioError(ErrorCode(rawValue: 40097), "\(name) requires a nonnegative starting index, found: \(n)") }
            start = Int(min(n, Int64(Int32.max)))
        }
        if args.count > 3 {
            guard let v = args[3], v.isNumber, let n = v.exactInt64 else {
                throw FolioError(ErrorCode(rawValue: 40096), "\(name) requires an integral ending index, found a value of type: \(args[3]?.type.alias ?? "missing")")
            }
            guard n >= 0 else { throw FolioError(ErrorCode(rawValue: 40097), "\(name) requires a nonnegative ending index, found: \(n)") }
            end = min(end, Int(min(n, Int64(Int32.max))))
        }
        guard start <= end else { return .int32(-1) }
        if target.isEmpty { return start <= units.count ? .int32(Int32(start)) : .int32(-1) }
        var i = start
        while i + target.count <= end {
            if units[i] == target[0] && Array(units[i..<(i + target.count)]) == target { return .int32(Int32(i)) }
            i += 1
        }
        return .int32(-1)
    }

    static func splitBytes(_ s: [UInt8], _ d: [UInt8]) -> [ArraySlice<UInt8>] {
        var out: [ArraySlice<UInt8>] = []
        var start = 0, i = 0
        while i + d.count <= s.count {
            if s[i] == d[0] && s[i..<(i + d.count)].elementsEqual(d) {
                out.append(s[start..<i])
                i += d.count
                start = i
            } else {
                i += 1
            }
        }
        out.append(s[start...])
        return out
    }

    static func replace(_ input: String, _ find: String, _ replacement: String, all: Bool) -> String {
        let s = Array(input.utf8), f = Array(find.utf8), r = Array(replacement.utf8)
        if f.isEmpty {
            // An empty search string matches before every character (once for $replaceOne).
            if !all { return replacement + input }
            var out: [UInt8] = r
            for scalar in input.unicodeScalars {
                out += Array(String(scalar).utf8)
                out += r
            }
            return String(decoding: out, as: UTF8.self)
        }
        var out: [UInt8] = []
        var i = 0
        var replaced = false
        while i < s.count {
            if (all || !replaced) && i + f.count <= s.count && s[i..<(i + f.count)].elementsEqual(f) {
                out += r
                i += f.count
                replaced = true
            } else {
                out.append(s[i])
                i += 1
            }
        }
        return String(decoding: out, as: UTF8.self)
    }

    /// Validates `{input, regex, options}`; nil when the input is null or missing.
    static func regexArguments(_ argument: BSON?, _ name: String) throws(FolioError) -> (MongoRegex, String)? {
        guard case .document(let spec)? = argument else {
            throw FolioError(ErrorCode(rawValue: 51103), "\(name) expects an object of named arguments but found: \(argument?.type.alias ?? "missing")")
        }
        for k in spec.fieldNames where !["input", "regex", "options"].contains(k) {
            throw FolioError(ErrorCode(rawValue: 31024), "\(name) found an unknown argument: \(k)")
        }
        var pattern: String?
        var options = ""
        switch spec["regex"] {
        case .string(let p)?: pattern = p
        case .regex(let r)?: pattern = r.pattern; options = r.options
        case nil, .null?, .undefined?: pattern = nil
        case let v?:
            throw FolioError(ErrorCode(rawValue: 51105), "\(name) needs 'regex' to be of type string or regex, found: \(v.type.alias)")
        }
        if let o = spec["options"], !o.isNullish {
            guard case .string(let s) = o else {
                throw FolioError(ErrorCode(rawValue: 51106), "\(name) needs 'options' to be of type string, found: \(o.type.alias)")
            }
            if !options.isEmpty && !s.isEmpty {
                throw FolioError(ErrorCode(rawValue: 51107), "\(name) found regex option(s) specified in both 'regex' and 'option' fields")
            }
            options += s
        }
        for c in options where !"imsux".contains(c) {
            throw FolioError(ErrorCode(rawValue: 51108), "\(name) invalid flag in regex options: \(c)")
        }
        let input: String?
        switch spec["input"] {
        case .string(let s)?: input = s
        case nil, .null?, .undefined?: input = nil
        case _?:
            throw FolioError(ErrorCode(rawValue: 51104), "\(name) needs 'input' to be of type string")
        }
        guard let pattern else { return nil }
        if pattern.utf8.contains(0) {
            throw FolioError(ErrorCode(rawValue: 51109), "\(name) regular expression cannot contain an embedded null byte")
        }
        let regex: MongoRegex
        do {
            regex = try MongoRegex(pattern: pattern, options: options)
        } catch {
            throw FolioError(ErrorCode(rawValue: 51111), "Invalid Regex in \(name): \(error.message)")
        }
        guard let input else { return nil }
        return (regex, input)
    }

    /// `{match, idx, captures}` documents, `idx` in code points.
    /// - Throws: 51156 when PCRE2 gives up (its match limit), as MongoDB does for these
    ///   operators; the running operation's interrupt between matches.
    static func regexFindAll(_ regex: MongoRegex, _ input: String, limit: Int, _ name: String) throws(FolioError) -> [BSON] {
        let bytes = Array(input.utf8)
        var out: [BSON] = []
        var start = 0
        // Code points before `counted`, advanced as matches move right (linear overall).
        var counted = 0, codePointsBefore = 0
        func codePoints(_ byteOffset: Int) -> Int {
            while counted < byteOffset {
                if bytes[counted] & 0xC0 != 0x80 { codePointsBefore += 1 }
                counted += 1
            }
            return codePointsBefore
        }
        let failure: FolioError? = bytes.withUnsafeBufferPointer { buffer -> FolioError? in
            while out.count < limit && start <= bytes.count {
                if out.count % OperationInterrupt.pollInterval == OperationInterrupt.pollInterval - 1 {
                    do throws(FolioError) { try OperationInterrupt.check() } catch { return error }
                }
                let found: MongoRegex.Match?
                do throws(MongoRegex.MatchFailure) { found = try regex.firstMatch(in: buffer, from: start) } catch {
                    return FolioError(ErrorCode(rawValue: 51156), "Error occurred while executing the regular expression in \(name). Result code: \(error.message)")
                }
                guard let m = found else { break }
                let text = String(decoding: bytes[m.range], as: UTF8.self)
                let captures: [BSON] = m.captures.map { r in r.map { .string(String(decoding: bytes[$0], as: UTF8.self)) } ?? .null }
                out.append(["match": .string(text), "idx": .int32(Int32(codePoints(m.range.lowerBound))), "captures": .array(captures)])
                if m.range.isEmpty {
                    // Step over one whole character after an empty match.
                    var next = m.range.upperBound + 1
                    while next < bytes.count && bytes[next] & 0xC0 == 0x80 { next += 1 }
                    start = next
                } else {
                    start = m.range.upperBound
                }
            }
            return nil
        }
        if let failure { throw failure }
        return out
    }
}
