import FolioBSON

/// Comparison of a value in place against an owned operand, without decoding the common
/// types (numbers, strings, booleans, ObjectIds, dates).
enum RawComparison {
    /// `BSON.compare(raw.bson, operand)` with fast paths.
    @inline(__always)
    static func compare(_ raw: RawValue, _ operand: BSON) -> Int {
        switch (raw.type, operand) {
        case (.int32, .int32(let b)):
            let a = raw.int32Value!
            return a == b ? 0 : (a < b ? -1 : 1)
        case (.int32, .int64(let b)):
            let a = Int64(raw.int32Value!)
            return a == b ? 0 : (a < b ? -1 : 1)
        case (.int64, .int64(let b)):
            let a = raw.int64Value!
            return a == b ? 0 : (a < b ? -1 : 1)
        case (.double, .double(let b)):
            let a = raw.doubleValue!
            if a < b { return -1 }
            if a > b { return 1 }
            if a == b { return 0 }
            return BSON.compare(.double(a), .double(b))
        case (.string, .string(let s)):
            var s = s
            return raw.withStringBytes { a in s.withUTF8 { b in compareByteBuffers(a, b) } }
        case (.bool, .bool(let b)):
            let a = raw.boolValue!
            return a == b ? 0 : (!a ? -1 : 1)
        default:
            return BSON.compare(raw.bson, operand)
        }
    }

}
