// Validation of untrusted BSON bytes. Every check happens here, once; the raw views that
// read validated bytes afterwards never re-check bounds.
//
// Checks: every length prefix is in range and agrees with its terminator; every document
// and array ends with 0x00 exactly where its length says; type bytes are defined; keys and
// strings are valid UTF-8 and terminated; booleans are 0 or 1; binary subtype 2 carries a
// consistent inner length; code-with-scope sizes add up; nesting is bounded.

enum BSONValidator {
    /// Validates a buffer that must hold exactly one document. Returns its length.
    static func validateTopLevel(_ bytes: [UInt8], maximumDepth: Int) throws(BSONError) -> Int {
        let length = try validateEmbedded(bytes, at: 0, maximumDepth: maximumDepth)
        guard length == bytes.count else { throw BSONError(.invalidLength, offset: 0) }
        return length
    }

    /// Validates the document at `offset`; the buffer may hold more after it.
    static func validateEmbedded(_ bytes: [UInt8], at offset: Int, maximumDepth: Int) throws(BSONError) -> Int {
        try bytes.withUnsafeBufferPointer { (buf) throws(BSONError) -> Int in
            try validateDocument(buf, offset, buf.count, depth: 1, maximumDepth: maximumDepth)
        }
    }

    /// Validates a document starting at `start` that must end at or before `limit`.
    /// Returns its length.
    static func validateDocument(_ buf: UnsafeBufferPointer<UInt8>, _ start: Int, _ limit: Int,
                                 depth: Int, maximumDepth: Int) throws(BSONError) -> Int {
        guard depth <= maximumDepth else { throw BSONError(.nestingTooDeep, offset: start) }
        guard start >= 0, limit - start >= 4 else { throw BSONError(.truncated, offset: start) }
        let length = Int(buf.readInt32LE(at: start))
        guard length >= 5 else { throw BSONError(.invalidLength, offset: start) }
        guard length <= limit - start else { throw BSONError(.truncated, offset: start) }
        let end = start + length - 1
        guard buf[end] == 0 else { throw BSONError(.missingTerminator, offset: end) }
        var p = start + 4
        while p < end {
            let typeByte = buf[p]
            guard let type = BSONType(rawValue: typeByte) else { throw BSONError(.unknownType(typeByte), offset: p) }
            let keyStart = p + 1
            guard let keyEnd = buf.indexOfZero(from: keyStart, end: end) else { throw BSONError(.truncated, offset: keyStart) }
            guard isValidUTF8(buf.baseAddress! + keyStart, keyEnd - keyStart) else {
                throw BSONError(.invalidUTF8, offset: keyStart)
            }
            p = try validateValue(type, buf, keyEnd + 1, end, depth: depth, maximumDepth: maximumDepth)
        }
        guard p == end else { throw BSONError(.invalidLength, offset: p) }
        return length
    }

    /// Validates one value at `o` that must end at or before `end`; returns the offset after it.
    static func validateValue(_ type: BSONType, _ buf: UnsafeBufferPointer<UInt8>, _ o: Int, _ end: Int,
                              depth: Int, maximumDepth: Int) throws(BSONError) -> Int {
        func need(_ n: Int) throws(BSONError) {
            guard n >= 0, end - o >= n else { throw BSONError(.truncated, offset: o) }
        }
        switch type {
        case .double, .datetime, .timestamp, .int64:
            try need(8); return o + 8
        case .int32:
            try need(4); return o + 4
        case .decimal128:
            try need(16); return o + 16
        case .objectID:
            try need(12); return o + 12
        case .undefined, .null, .minKey, .maxKey:
            return o
        case .bool:
            try need(1)
            guard buf[o] <= 1 else { throw BSONError(.invalidBoolean(buf[o]), offset: o) }
            return o + 1
        case .string, .javascript, .symbol:
            return try validateString(buf, o, end)
        case .document, .array:
            let n = try validateDocument(buf, o, end, depth: depth + 1, maximumDepth: maximumDepth)
            return o + n
        case .binary:
            try need(5)
            let n = Int(buf.readInt32LE(at: o))
            guard n >= 0 else { throw BSONError(.invalidLength, offset: o) }
            try need(5 + n)
            if buf[o + 4] == Binary.Subtype.binaryOld {
                guard n >= 4, Int(buf.readInt32LE(at: o + 5)) == n - 4 else {
                    throw BSONError(.invalidValue("binary subtype 2 inner length"), offset: o)
                }
            }
            return o + 5 + n
        case .regex:
            guard let e1 = buf.indexOfZero(from: o, end: end) else { throw BSONError(.truncated, offset: o) }
            guard let e2 = buf.indexOfZero(from: e1 + 1, end: end) else { throw BSONError(.truncated, offset: e1 + 1) }
            guard isValidUTF8(buf.baseAddress! + o, e1 - o), isValidUTF8(buf.baseAddress! + e1 + 1, e2 - e1 - 1) else {
                throw BSONError(.invalidUTF8, offset: o)
            }
            return e2 + 1
        case .dbPointer:
            let afterString = try validateString(buf, o, end)
            guard end - afterString >= 12 else { throw BSONError(.truncated, offset: afterString) }
            return afterString + 12
        case .javascriptWithScope:
            try need(4)
            let total = Int(buf.readInt32LE(at: o))
            // int32 total, string (>= 5 bytes), document (>= 5 bytes)
            guard total >= 14 else { throw BSONError(.invalidLength, offset: o) }
            try need(total)
            let afterCode = try validateString(buf, o + 4, o + total)
            let scopeLength = try validateDocument(buf, afterCode, o + total, depth: depth + 1, maximumDepth: maximumDepth)
            guard afterCode + scopeLength == o + total else { throw BSONError(.invalidLength, offset: o) }
            return o + total
        }
    }

    /// Validates a BSON string (int32 length including the terminator, bytes, 0x00).
    static func validateString(_ buf: UnsafeBufferPointer<UInt8>, _ o: Int, _ end: Int) throws(BSONError) -> Int {
        guard end - o >= 4 else { throw BSONError(.truncated, offset: o) }
        let n = Int(buf.readInt32LE(at: o))
        guard n >= 1 else { throw BSONError(.invalidLength, offset: o) }
        guard n <= end - o - 4 else { throw BSONError(.truncated, offset: o) }
        guard buf[o + 4 + n - 1] == 0 else { throw BSONError(.missingTerminator, offset: o + 4 + n - 1) }
        guard isValidUTF8(buf.baseAddress! + o + 4, n - 1) else { throw BSONError(.invalidUTF8, offset: o + 4) }
        return o + 4 + n
    }
}
