// Little-endian reads and writes over byte buffers, shared by the encoder, the raw views and
// the validator. Reads here are unchecked: callers have validated bounds first.

extension UnsafeBufferPointer<UInt8> {
    @inlinable @inline(__always)
    func readInt32LE(at offset: Int) -> Int32 {
        Int32(littleEndian: UnsafeRawPointer(baseAddress! + offset).loadUnaligned(as: Int32.self))
    }

    @inlinable @inline(__always)
    func readInt64LE(at offset: Int) -> Int64 {
        Int64(littleEndian: UnsafeRawPointer(baseAddress! + offset).loadUnaligned(as: Int64.self))
    }

    @inlinable @inline(__always)
    func readUInt64LE(at offset: Int) -> UInt64 {
        UInt64(littleEndian: UnsafeRawPointer(baseAddress! + offset).loadUnaligned(as: UInt64.self))
    }

    /// Offset of the first zero byte at or after `offset`, or nil before `end`.
    @inlinable @inline(__always)
    func indexOfZero(from offset: Int, end: Int) -> Int? {
        guard offset < end else { return nil }
        guard let p = memchrZero(baseAddress! + offset, end - offset) else { return nil }
        return p - baseAddress!
    }
}

@inlinable @inline(__always)
func memchrZero(_ p: UnsafePointer<UInt8>, _ n: Int) -> UnsafePointer<UInt8>? {
    var i = 0
    while i < n {
        if p[i] == 0 { return p + i }
        i += 1
    }
    return nil
}

extension Array where Element == UInt8 {
    @inlinable @inline(__always)
    mutating func appendInt32LE(_ v: Int32) {
        let u = UInt32(bitPattern: v)
        append(UInt8(truncatingIfNeeded: u))
        append(UInt8(truncatingIfNeeded: u >> 8))
        append(UInt8(truncatingIfNeeded: u >> 16))
        append(UInt8(truncatingIfNeeded: u >> 24))
    }

    @inlinable @inline(__always)
    mutating func appendUInt64LE(_ v: UInt64) {
        Swift.withUnsafeBytes(of: v.littleEndian) { append(contentsOf: $0) }
    }

    @inlinable @inline(__always)
    mutating func appendInt64LE(_ v: Int64) { appendUInt64LE(UInt64(bitPattern: v)) }

    /// Overwrites four bytes at `offset` with `v` little-endian (length back-patching).
    @inlinable @inline(__always)
    mutating func setInt32LE(_ v: Int32, at offset: Int) {
        let u = UInt32(bitPattern: v)
        self[offset] = UInt8(truncatingIfNeeded: u)
        self[offset + 1] = UInt8(truncatingIfNeeded: u >> 8)
        self[offset + 2] = UInt8(truncatingIfNeeded: u >> 16)
        self[offset + 3] = UInt8(truncatingIfNeeded: u >> 24)
    }

    /// Appends a string's UTF-8 bytes and a zero terminator (a BSON cstring).
    @inlinable @inline(__always)
    mutating func appendCString(_ s: String) {
        append(contentsOf: s.utf8)
        append(0)
    }

    /// Appends a BSON string: int32 length (bytes + 1), the bytes, a zero.
    @inlinable @inline(__always)
    mutating func appendBSONString(_ s: String) {
        let n = s.utf8.count
        appendInt32LE(Int32(truncatingIfNeeded: n + 1))
        append(contentsOf: s.utf8)
        append(0)
    }
}

/// Validates UTF-8 as RFC 3629 defines it (no overlongs, no surrogates, at most U+10FFFF).
@inlinable
func isValidUTF8(_ p: UnsafePointer<UInt8>, _ count: Int) -> Bool {
    var i = 0
    while i < count {
        let b0 = p[i]
        if b0 < 0x80 { i += 1; continue }
        if b0 < 0xC2 { return false }
        if b0 < 0xE0 {
            guard i + 1 < count, p[i + 1] & 0xC0 == 0x80 else { return false }
            i += 2
        } else if b0 < 0xF0 {
            guard i + 2 < count else { return false }
            let b1 = p[i + 1], b2 = p[i + 2]
            guard b1 & 0xC0 == 0x80, b2 & 0xC0 == 0x80 else { return false }
            if b0 == 0xE0 && b1 < 0xA0 { return false }
            if b0 == 0xED && b1 >= 0xA0 { return false }
            i += 3
        } else if b0 < 0xF5 {
            guard i + 3 < count else { return false }
            let b1 = p[i + 1], b2 = p[i + 2], b3 = p[i + 3]
            guard b1 & 0xC0 == 0x80, b2 & 0xC0 == 0x80, b3 & 0xC0 == 0x80 else { return false }
            if b0 == 0xF0 && b1 < 0x90 { return false }
            if b0 == 0xF4 && b1 >= 0x90 { return false }
            i += 4
        } else {
            return false
        }
    }
    return true
}

/// Byte-wise equality of `count` bytes.
@inlinable @inline(__always)
func bytesEqual(_ a: UnsafePointer<UInt8>, _ b: UnsafePointer<UInt8>?, _ count: Int) -> Bool {
    guard count > 0, let b else { return true }
    var i = 0
    while i < count {
        if a[i] != b[i] { return false }
        i += 1
    }
    return true
}

/// memcmp order of two byte buffers (a proper prefix sorts first). Shared by key
/// comparison in storage and raw string comparison in queries.
@inlinable
public func compareByteBuffers(_ a: UnsafeBufferPointer<UInt8>, _ b: UnsafeBufferPointer<UInt8>) -> Int {
    let n = min(a.count, b.count)
    var i = 0
    while i < n {
        if a[i] != b[i] { return a[i] < b[i] ? -1 : 1 }
        i += 1
    }
    return a.count == b.count ? 0 : (a.count < b.count ? -1 : 1)
}
