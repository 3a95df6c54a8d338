// MongoDB Extended JSON v2 (canonical and relaxed), both directions, plus the legacy v1
// forms the specification still accepts ({$binary, $type}, {$regex, $options}). A bare number
// under $date is rejected, as the corpus requires.

/// Extended JSON conversion.
public enum ExtendedJSON {
    /// Output flavour.
    public enum Mode: Sendable {
        /// Type-preserving: every number wrapped.
        case canonical
        /// Readable: int32/int64/finite doubles as JSON numbers, dates as ISO-8601 when in 1970...9999.
        case relaxed
    }

    /// Parses Extended JSON text into a document.
    /// - Throws: `BSONError` of kind `.parse` naming the problem.
    public static func document(from text: String) throws(BSONError) -> Document {
        guard case .document(let d) = try value(from: JSONValue.parse(text)) else {
            throw BSONError(.parse("top-level Extended JSON value is not an object"))
        }
        return d
    }

    /// Converts parsed JSON into a BSON value, recognising type wrappers.
    public static func value(from json: JSONValue) throws(BSONError) -> BSON {
        switch json {
        case .string(let s): return .string(s)
        case .bool(let b): return .bool(b)
        case .null: return .null
        case .number(let text): return try number(text)
        case .array(let elements):
            var out = [BSON]()
            out.reserveCapacity(elements.count)
            for e in elements { out.append(try value(from: e)) }
            return .array(out)
        case .object(let members):
            if let wrapped = try wrapper(members) { return wrapped }
            var doc = Document()
            doc.reserveCapacity(members.count)
            for (k, v) in members {
                guard !k.utf8.contains(0) else { throw fail("key contains a null byte") }
                doc.append(k, try value(from: v))
            }
            return .document(doc)
        }
    }

    static func fail(_ message: String) -> BSONError { BSONError(.parse("Extended JSON: \(message)")) }

    /// A relaxed JSON number: int32, then int64, then double.
    static func number(_ text: String) throws(BSONError) -> BSON {
        let isInteger = !text.contains(where: { $0 == "." || $0 == "e" || $0 == "E" })
        if isInteger {
            if let v = Int32(text) { return .int32(v) }
            if let v = Int64(text) { return .int64(v) }
        }
        guard let d = Double(text) else { throw fail("bad number \(text)") }
        return .double(d)
    }

    // MARK: - Type wrappers

    static func wrapper(_ members: [(String, JSONValue)]) throws(BSONError) -> BSON? {
        guard let first = members.first?.0, first.hasPrefix("$") else { return nil }
        let keys = Set(members.map(\.0))
        func only(_ expected: Set<String>) throws(BSONError) {
            guard keys == expected, members.count == expected.count else { throw fail("unexpected keys with \(first)") }
        }
        func member(_ name: String) -> JSONValue? { members.first { $0.0 == name }?.1 }
        func string(_ name: String) throws(BSONError) -> String {
            guard case .string(let s)? = member(name) else { throw fail("\(name) must be a string") }
            return s
        }

        if keys.contains("$numberInt") {
            try only(["$numberInt"])
            let s = try string("$numberInt")
            guard isIntegerText(s), let v = Int32(s) else { throw fail("bad $numberInt") }
            return .int32(v)
        }
        if keys.contains("$numberLong") {
            try only(["$numberLong"])
            let s = try string("$numberLong")
            guard isIntegerText(s), let v = Int64(s) else { throw fail("bad $numberLong") }
            return .int64(v)
        }
        if keys.contains("$numberDouble") {
            try only(["$numberDouble"])
            let s = try string("$numberDouble")
            switch s {
            case "Infinity": return .double(.infinity)
            case "-Infinity": return .double(-.infinity)
            case "NaN": return .double(.nan)
            default:
                guard case .number = (try? JSONValue.parse(s)) ?? .null, let d = Double(s) else { throw fail("bad $numberDouble") }
                return .double(d)
            }
        }
        if keys.contains("$numberDecimal") {
            try only(["$numberDecimal"])
            guard let d = Decimal128(try string("$numberDecimal")) else { throw fail("bad $numberDecimal") }
            return .decimal128(d)
        }
        if keys.contains("$oid") {
            try only(["$oid"])
            guard let o = ObjectID(hex: try string("$oid")) else { throw fail("bad $oid") }
            return .objectID(o)
        }
        if keys.contains("$symbol") {
            try only(["$symbol"])
            return .symbol(try string("$symbol"))
        }
        if keys.contains("$code") {
            if keys.contains("$scope") {
                try only(["$code", "$scope"])
                guard case .object? = member("$scope"), case .document(let scope) = try value(from: member("$scope")!) else {
                    throw fail("$scope must be an object")
                }
                return .javascriptWithScope(code: try string("$code"), scope: scope)
            }
            try only(["$code"])
            return .javascript(try string("$code"))
        }
        if keys.contains("$binary") { return try binary(members, keys) }
        if keys.contains("$uuid") {
            try only(["$uuid"])
            guard let bytes = uuidBytes(try string("$uuid")) else { throw fail("bad $uuid") }
            return .binary(Binary(subtype: Binary.Subtype.uuid, data: bytes))
        }
        if keys.contains("$regularExpression") {
            try only(["$regularExpression"])
            guard case .object(let inner)? = member("$regularExpression"), inner.count == 2,
                  case .string(let pattern)? = inner.first(where: { $0.0 == "pattern" })?.1,
                  case .string(let options)? = inner.first(where: { $0.0 == "options" })?.1
            else { throw fail("bad $regularExpression") }
            return try regex(pattern, options)
        }
        if keys.contains("$regex"), case .string(let pattern)? = member("$regex") {
            // Legacy {$regex, $options}; a $regex whose value is not a string is a query operator.
            if keys == ["$regex", "$options"], case .string(let options)? = member("$options") {
                return try regex(pattern, options)
            }
            if keys == ["$regex"] { return try regex(pattern, "") }
            return nil
        }
        if keys.contains("$timestamp") {
            try only(["$timestamp"])
            guard case .object(let inner)? = member("$timestamp"), inner.count == 2,
                  case .number(let t)? = inner.first(where: { $0.0 == "t" })?.1,
                  case .number(let i)? = inner.first(where: { $0.0 == "i" })?.1,
                  let tv = UInt32(t), let iv = UInt32(i)
            else { throw fail("bad $timestamp") }
            return .timestamp(Timestamp(seconds: tv, increment: iv))
        }
        if keys.contains("$date") {
            try only(["$date"])
            switch member("$date")! {
            case .object(let inner):
                guard case .int64(let ms) = try value(from: .object(inner)) else { throw fail("bad $date") }
                return .datetime(ms)
            case .string(let s):
                guard let ms = CivilTime.parseISO8601(s) else { throw fail("bad $date string") }
                return .datetime(ms)
            default:
                throw fail("bad $date")
            }
        }
        if keys.contains("$minKey") {
            try only(["$minKey"])
            guard case .number("1")? = member("$minKey") else { throw fail("bad $minKey") }
            return .minKey
        }
        if keys.contains("$maxKey") {
            try only(["$maxKey"])
            guard case .number("1")? = member("$maxKey") else { throw fail("bad $maxKey") }
            return .maxKey
        }
        if keys.contains("$undefined") {
            try only(["$undefined"])
            guard case .bool(true)? = member("$undefined") else { throw fail("bad $undefined") }
            return .undefined
        }
        if keys.contains("$dbPointer") {
            try only(["$dbPointer"])
            guard case .object(let inner)? = member("$dbPointer"), inner.count == 2,
                  case .string(let ns)? = inner.first(where: { $0.0 == "$ref" })?.1,
                  let idJSON = inner.first(where: { $0.0 == "$id" })?.1,
                  case .objectID(let id) = try value(from: idJSON)
            else { throw fail("bad $dbPointer") }
            return .dbPointer(namespace: ns, id: id)
        }
        return nil
    }

    static func isIntegerText(_ s: String) -> Bool {
        var body = Substring(s)
        if body.first == "-" { body = body.dropFirst() }
        return !body.isEmpty && body.allSatisfy { $0.isASCII && $0.isNumber }
    }

    static func regex(_ pattern: String, _ options: String) throws(BSONError) -> BSON {
        guard !pattern.utf8.contains(0), !options.utf8.contains(0) else { throw fail("null byte in regular expression") }
        return .regex(BSONRegex(pattern: pattern, options: String(options.sorted())))
    }

    static func binary(_ members: [(String, JSONValue)], _ keys: Set<String>) throws(BSONError) -> BSON {
        let value = members.first { $0.0 == "$binary" }!.1
        let base64: String, subtypeText: String
        if case .object(let inner) = value {
            guard keys == ["$binary"], inner.count == 2,
                  case .string(let b)? = inner.first(where: { $0.0 == "base64" })?.1,
                  case .string(let t)? = inner.first(where: { $0.0 == "subType" })?.1
            else { throw fail("bad $binary") }
            base64 = b
            subtypeText = t
        } else if case .string(let b) = value, keys == ["$binary", "$type"],
                  case .string(let t)? = members.first(where: { $0.0 == "$type" })?.1 {
            base64 = b
            subtypeText = t
        } else {
            throw fail("bad $binary")
        }
        guard (1...2).contains(subtypeText.count), let subtype = UInt8(subtypeText, radix: 16),
              let data = Base64.decode(base64) else { throw fail("bad $binary") }
        if subtype == Binary.Subtype.uuid || subtype == Binary.Subtype.uuidOld {
            guard data.count == 16 else { throw fail("UUID binary must be 16 bytes") }
        }
        return .binary(Binary(subtype: subtype, data: data))
    }

    /// `xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx` to 16 bytes.
    static func uuidBytes(_ text: String) -> [UInt8]? {
        let b = Array(text.utf8)
        guard b.count == 36 else { return nil }
        var out = [UInt8]()
        var i = 0
        while i < 36 {
            if i == 8 || i == 13 || i == 18 || i == 23 {
                guard b[i] == UInt8(ascii: "-") else { return nil }
                i += 1
                continue
            }
            guard let hi = hexValue(b[i]), i + 1 < 36, let lo = hexValue(b[i + 1]) else { return nil }
            out.append(hi << 4 | lo)
            i += 2
        }
        return out.count == 16 ? out : nil
    }
}

extension Array where Element == UInt8 {
    /// A UUID's canonical text form (8-4-4-4-12 hex digits; other lengths as plain hex), for
    /// messages.
    public var uuidString: String {
        var out = ""
        for (i, byte) in enumerated() {
            if count == 16 && [4, 6, 8, 10].contains(i) { out += "-" }
            out += String(byte >> 4, radix: 16) + String(byte & 0xF, radix: 16)
        }
        return out
    }
}
