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

    @inline(__always)
    static func compareByteBuffers(_ a: UnsafeBufferPointer<UInt8>, _ b: UnsafeBufferPointer<UInt8>) -> Int {
        let n = min(a.count, b.count)
        var i = 0
        while i < n {
            if a[i] != b[i] { return a[i] < b[i] ? -1 : 1 }
            i += 1
        }
        return a.count == b.count ? 0 : (a.count < b.count ? -1 : 1)
    }
}
