// Document -> BSON bytes. One pass, lengths back-patched; no intermediate buffers.

extension Document {
    /// The document's BSON bytes.
    /// - Complexity: O(size of the encoding).
    public func bsonBytes() -> [UInt8] {
        var out = [UInt8]()
        out.reserveCapacity(estimatedEncodedSize())
        appendBSON(to: &out)
        return out
    }

    /// Appends the document's BSON encoding to `out`.
    public func appendBSON(to out: inout [UInt8]) {
        let start = out.count
        out.appendInt32LE(0)
        for i in 0..<keys.count {
            values[i].appendElement(key: keys[i], to: &out)
        }
        out.append(0)
        out.setInt32LE(Int32(truncatingIfNeeded: out.count - start), at: start)
    }

    /// A cheap upper-bound guess of the encoded size, used to reserve capacity.
    func estimatedEncodedSize() -> Int {
        var n = 5
        for i in 0..<keys.count {
            n += 2 + keys[i].utf8.count + values[i].estimatedEncodedSize()
        }
        return n
    }
}

extension BSON {
    func estimatedEncodedSize() -> Int {
        switch self {
        case .string(let s), .javascript(let s), .symbol(let s): return 5 + s.utf8.count
        case .document(let d): return d.estimatedEncodedSize()
        case .array(let a): return 5 + a.reduce(0) { $0 + 8 + $1.estimatedEncodedSize() }
        case .binary(let b): return 5 + b.data.count
        case .decimal128: return 16
        case .objectID: return 12
        case .javascriptWithScope(let c, let s): return 9 + c.utf8.count + s.estimatedEncodedSize()
        case .regex(let r): return 2 + r.pattern.utf8.count + r.options.utf8.count
        case .dbPointer(let ns, _): return 17 + ns.utf8.count
        default: return 8
        }
    }

    /// Appends `type byte, key cstring, value` to `out`.
    @inlinable
    public func appendElement(key: String, to out: inout [UInt8]) {
        out.append(type.rawValue)
        out.appendCString(key)
        appendValue(to: &out)
    }

    /// Appends an element whose key is an array index.
    @usableFromInline
    func appendElement(index: Int, to out: inout [UInt8]) {
        out.append(type.rawValue)
        appendDecimalIndex(index, to: &out)
        out.append(0)
        appendValue(to: &out)
    }

    /// Appends only the value bytes (no type byte, no key).
    @inlinable
    public func appendValue(to out: inout [UInt8]) {
        switch self {
        case .double(let d): out.appendUInt64LE(d.bitPattern)
        case .string(let s), .javascript(let s), .symbol(let s): out.appendBSONString(s)
        case .document(let d): d.appendBSON(to: &out)
        case .array(let a): BSON.appendArray(a, to: &out)
        case .binary(let b):
            if b.subtype == Binary.Subtype.binaryOld {
                out.appendInt32LE(Int32(truncatingIfNeeded: b.data.count + 4))
                out.append(b.subtype)
                out.appendInt32LE(Int32(truncatingIfNeeded: b.data.count))
            } else {
                out.appendInt32LE(Int32(truncatingIfNeeded: b.data.count))
                out.append(b.subtype)
            }
            out.append(contentsOf: b.data)
        case .undefined, .null, .minKey, .maxKey: break
        case .objectID(let o): withUnsafeBytes(of: o.bytes) { out.append(contentsOf: $0) }
        case .bool(let b): out.append(b ? 1 : 0)
        case .datetime(let ms): out.appendInt64LE(ms)
        case .regex(let r):
            out.appendCString(r.pattern)
            out.appendCString(r.options)
        case .dbPointer(let ns, let id):
            out.appendBSONString(ns)
            withUnsafeBytes(of: id.bytes) { out.append(contentsOf: $0) }
        case .javascriptWithScope(let code, let scope):
            let start = out.count
            out.appendInt32LE(0)
            out.appendBSONString(code)
            scope.appendBSON(to: &out)
            out.setInt32LE(Int32(truncatingIfNeeded: out.count - start), at: start)
        case .int32(let v): out.appendInt32LE(v)
        case .timestamp(let t): out.appendUInt64LE(t.rawValue)
        case .int64(let v): out.appendInt64LE(v)
        case .decimal128(let d):
            out.appendUInt64LE(d.low)
            out.appendUInt64LE(d.high)
        }
    }

    @usableFromInline
    static func appendArray(_ a: [BSON], to out: inout [UInt8]) {
        let start = out.count
        out.appendInt32LE(0)
        for (i, v) in a.enumerated() { v.appendElement(index: i, to: &out) }
        out.append(0)
        out.setInt32LE(Int32(truncatingIfNeeded: out.count - start), at: start)
    }
}

/// Appends the decimal digits of a non-negative array index without allocating.
@usableFromInline
func appendDecimalIndex(_ index: Int, to out: inout [UInt8]) {
    if index < 10 {
        out.append(UInt8(ascii: "0") + UInt8(index))
        return
    }
    var digits: (UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8,
                 UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8) =
        (0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0)
    var n = index
    var count = 0
    withUnsafeMutableBytes(of: &digits) { buf in
        while n > 0 {
            buf[count] = UInt8(ascii: "0") + UInt8(n % 10)
            n /= 10
            count += 1
        }
        var i = count - 1
        while i >= 0 {
            out.append(buf[i])
            i -= 1
        }
    }
}
