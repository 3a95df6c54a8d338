import CZlib

/// zlib (RFC 1950) streams for OP_COMPRESSED, through the system libz.
enum Zlib {
    /// Inflates exactly `expectedSize` bytes; anything else is an error (a lying size, a
    /// truncated or corrupt stream, trailing data).
    static func inflate(_ input: ArraySlice<UInt8>, expectedSize: Int) throws(WireError) -> [UInt8] {
        var output = [UInt8](repeating: 0, count: max(expectedSize, 1))
        var produced = 0
        let status: Int32 = input.withUnsafeBufferPointer { src in
            output.withUnsafeMutableBufferPointer { dst in
                var stream = z_stream()
                guard inflateInit_(&stream, ZLIB_VERSION, Int32(MemoryLayout<z_stream>.size)) == Z_OK else { return Z_MEM_ERROR }
                defer { inflateEnd(&stream) }
                stream.next_in = UnsafeMutablePointer(mutating: src.baseAddress)
                stream.avail_in = uInt(src.count)
                stream.next_out = dst.baseAddress
                stream.avail_out = uInt(expectedSize)
                let r = CZlib.inflate(&stream, Z_FINISH)
                produced = Int(stream.total_out)
                if r == Z_STREAM_END && stream.avail_in != 0 { return Z_DATA_ERROR }
                return r
            }
        }
        guard status == Z_STREAM_END, produced == expectedSize else {
            throw .invalidCompression("zlib stream is corrupt or its size does not match (status \(status))")
        }
        output.removeLast(output.count - expectedSize)
        return output
    }

    /// Deflates `input`; nil only if zlib cannot allocate its state.
    static func deflate(_ input: ArraySlice<UInt8>) -> [UInt8]? {
        var capacity = compressBound(uLong(input.count))
        var output = [UInt8](repeating: 0, count: Int(capacity))
        let status = input.withUnsafeBufferPointer { src in
            output.withUnsafeMutableBufferPointer { dst in
                compress2(dst.baseAddress, &capacity, src.baseAddress, uLong(src.count), Z_DEFAULT_COMPRESSION)
            }
        }
        guard status == Z_OK else { return nil }
        output.removeLast(output.count - Int(capacity))
        return output
    }
}
