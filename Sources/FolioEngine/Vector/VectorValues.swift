import FolioBSON
import FolioQuery

// Reading vectors out of documents and queries: arrays of numbers, or BSON binary vectors
// (subtype 9: a dtype byte, a padding byte, then the values: int8, float32 little-endian,
// or packed bits, most significant first, the last byte's `padding` low bits unused).

enum VectorValues {
    static let int8: UInt8 = 0x03
    static let float32: UInt8 = 0x27
    static let packedBit: UInt8 = 0x10

    /// The vector a value holds, or why it holds none.
    static func parse(_ value: BSON) -> Result<[Float], FolioError> {
        switch value {
        case .array(let items):
            var out: [Float] = []
            out.reserveCapacity(items.count)
            for item in items {
                guard item.isNumber, let d = item.asDouble else {
                    return .failure(FolioError(.badValue, "a vector must hold only numbers, found \(item.type.alias)"))
                }
                let f = Float(d)
                guard f.isFinite else { return .failure(FolioError(.badValue, "a vector must hold finite float32 values, found \(d)")) }
                out.append(f)
            }
            return .success(out)
        case .binary(let b) where b.subtype == Binary.Subtype.vector:
            return binaryVector(b.data)
        default:
            return .failure(FolioError(.badValue, "a vector must be an array of numbers or a BSON vector (binary subtype 9), found \(value.type.alias)"))
        }
    }

    private static func binaryVector(_ data: [UInt8]) -> Result<[Float], FolioError> {
        guard data.count >= 2 else { return .failure(FolioError(.badValue, "a BSON vector needs its dtype and padding bytes")) }
        let dtype = data[0], padding = Int(data[1])
        let body = data[2...]
        switch dtype {
        case int8:
            guard padding == 0 else { return .failure(FolioError(.badValue, "an int8 BSON vector must have padding 0")) }
            return .success(body.map { Float(Int8(bitPattern: $0)) })
        case float32:
            guard padding == 0, body.count % 4 == 0 else {
                return .failure(FolioError(.badValue, "a float32 BSON vector must have padding 0 and a multiple of 4 bytes"))
            }
            var out: [Float] = []
            out.reserveCapacity(body.count / 4)
            var i = body.startIndex
            while i < body.endIndex {
                let bits = UInt32(body[i]) | UInt32(body[i + 1]) << 8 | UInt32(body[i + 2]) << 16 | UInt32(body[i + 3]) << 24
                let f = Float(bitPattern: bits)
                guard f.isFinite else { return .failure(FolioError(.badValue, "a vector must hold finite float32 values")) }
                out.append(f)
                i += 4
            }
            return .success(out)
        case packedBit:
            guard padding < 8, !(body.isEmpty && padding > 0) else {
                return .failure(FolioError(.badValue, "a packed-bit BSON vector's padding must be 0 to 7 (and 0 when empty)"))
            }
            var out: [Float] = []
            out.reserveCapacity(body.count * 8)
            for byte in body {
                for bit in (0..<8).reversed() { out.append(Float((byte >> bit) & 1)) }
            }
            out.removeLast(padding)
            return .success(out)
        default:
            return .failure(FolioError(.badValue, "unknown BSON vector dtype 0x\(String(dtype, radix: 16))"))
        }
    }

    /// The value at a dotted path (no array traversal: a vector field is one array).
    static func value(at path: [String], in document: Document) -> BSON? {
        var current: BSON = .document(document)
        for component in path {
            guard case .document(let d) = current, let next = d[component] else { return nil }
            current = next
        }
        return current
    }
}
