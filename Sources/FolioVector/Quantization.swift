import CVectorKernels

// How a graph keeps its vectors in memory, as Atlas Vector Search's `quantization` names it:
//
//   none    float32, 4 bytes a dimension.
//   scalar  one byte a dimension: each vector's values mapped onto 256 equal steps between its
//           own minimum and maximum, with (minimum, step, ‖x̂‖²) beside the bytes, about a
//           quarter of float32's memory. The walk compares the float query with the codes
//           (asymmetric: q·x̂ = min·Σq + step·Σ qᵢcᵢ), which loses little.
//   binary  one bit a dimension: set when the value is greater than 0 (Atlas's midpoint), 1/32
//           of float32's memory. The walk compares bit strings by Hamming distance.
//
// Quantized graphs rank approximately; the caller rescores the walk's candidates with the
// full-fidelity vectors it keeps elsewhere (the engine: the index's node records in storage),
// as Atlas does, so scores and the final order come from float32 arithmetic.
//
// Scalar ranges are per vector, not per dimension over the collection as Atlas describes its
// own: a per-vector range needs no calibration pass, never goes stale as documents arrive (a
// collection-wide range must be recomputed, and every code rewritten, when new vectors fall
// outside it), and is at least as precise for embeddings, whose values share one scale.

/// How a vector index keeps its vectors in memory.
public enum VectorQuantization: String, Sendable, CaseIterable {
    case none, scalar, binary
}

/// Encodes vectors into a graph's per-node codes and compares codes with prepared queries.
struct VectorCodec {
    let quantization: VectorQuantization
    let dimensions: Int
    let euclidean: Bool
    /// Bytes per node, a multiple of 8 so every code is aligned for its loads.
    let stride: Int
    /// 64-bit words of a binary code.
    let words: Int

    /// Scalar codes start with three floats: minimum, step, ‖x̂‖².
    static let scalarHeader = 12

    init(_ quantization: VectorQuantization, dimensions: Int, similarity: VectorSimilarity) {
        self.quantization = quantization
        self.dimensions = dimensions
        self.euclidean = similarity == .euclidean
        words = (dimensions + 63) / 64
        let bytes: Int
        switch quantization {
        case .none: bytes = dimensions * 4
        case .scalar: bytes = VectorCodec.scalarHeader + dimensions
        case .binary: bytes = words * 8
        }
        stride = (bytes + 7) & ~7
    }

    /// Writes `v`'s code at `out`.
    func encode(_ v: UnsafePointer<Float>, into out: UnsafeMutableRawPointer) {
        let n = dimensions
        switch quantization {
        case .none:
            out.copyMemory(from: v, byteCount: n * 4)
        case .scalar:
            var lo = v[0], hi = v[0]
            for i in 1..<max(n, 1) { lo = min(lo, v[i]); hi = max(hi, v[i]) }
            let step = (hi - lo) / 255
            let bytes = (out + VectorCodec.scalarHeader).assumingMemoryBound(to: UInt8.self)
            var norm2: Float = 0
            for i in 0..<n {
                let c: UInt8 = step > 0 ? UInt8(max(0, min(255, ((v[i] - lo) / step).rounded()))) : 0
                bytes[i] = c
                let x = lo + step * Float(c)
                norm2 += x * x
            }
            out.storeBytes(of: lo, toByteOffset: 0, as: Float.self)
            out.storeBytes(of: step, toByteOffset: 4, as: Float.self)
            out.storeBytes(of: norm2, toByteOffset: 8, as: Float.self)
        case .binary:
            let w = out.assumingMemoryBound(to: UInt64.self)
            w.update(repeating: 0, count: words)
            for i in 0..<n where v[i] > 0 { w[i >> 6] |= 1 << UInt64(i & 63) }
        }
    }

    /// The vector a code stands for (exact for `none`; for `binary`, ±1 per dimension).
    func decode(_ code: UnsafeRawPointer, into out: UnsafeMutablePointer<Float>) {
        let n = dimensions
        switch quantization {
        case .none:
            out.update(from: code.assumingMemoryBound(to: Float.self), count: n)
        case .scalar:
            let lo = code.load(as: Float.self), step = code.load(fromByteOffset: 4, as: Float.self)
            let bytes = (code + VectorCodec.scalarHeader).assumingMemoryBound(to: UInt8.self)
            for i in 0..<n { out[i] = lo + step * Float(bytes[i]) }
        case .binary:
            let w = code.assumingMemoryBound(to: UInt64.self)
            for i in 0..<n { out[i] = w[i >> 6] >> UInt64(i & 63) & 1 == 1 ? 1 : -1 }
        }
    }

    /// A query as the walk compares it with codes: the float vector for none and scalar
    /// (with Σq and ‖q‖² for scalar), the bit string for binary. Storage is owned by the caller
    /// (`withQuery`), so the walk's inner loop touches no reference counts.
    struct Query {
        var floats: UnsafePointer<Float>?
        var bits: UnsafePointer<UInt64>?
        var sum: Float = 0
        var norm2: Float = 0
    }

    /// Prepares `v` as a query for the length of `body`.
    func withQuery<R>(_ v: UnsafePointer<Float>, _ body: (Query) throws -> R) rethrows -> R {
        switch quantization {
        case .none:
            return try body(Query(floats: v))
        case .scalar:
            var sum: Float = 0
            for i in 0..<dimensions { sum += v[i] }
            return try body(Query(floats: v, sum: sum, norm2: dotProduct(v, v, dimensions)))
        case .binary:
            let raw = UnsafeMutableRawPointer.allocate(byteCount: stride, alignment: 8)
            defer { raw.deallocate() }
            encode(v, into: raw)
            return try body(Query(floats: v, bits: UnsafePointer(raw.assumingMemoryBound(to: UInt64.self))))
        }
    }

    /// A stored node's code as a query (the writer comparing nodes with each other).
    func withQuery<R>(code: UnsafeRawPointer, _ body: (Query) throws -> R) rethrows -> R {
        switch quantization {
        case .none:
            return try withQuery(code.assumingMemoryBound(to: Float.self), body)
        case .scalar:
            let v = UnsafeMutablePointer<Float>.allocate(capacity: dimensions)
            defer { v.deallocate() }
            decode(code, into: v)
            return try withQuery(UnsafePointer(v), body)
        case .binary:
            return try body(Query(bits: code.assumingMemoryBound(to: UInt64.self)))
        }
    }

    /// The walk's distance (smaller is nearer) between a prepared query and a code.
    @inline(__always)
    func distance(_ q: Query, _ code: UnsafeRawPointer) -> Float {
        switch quantization {
        case .none:
            let v = code.assumingMemoryBound(to: Float.self)
            return euclidean ? squaredEuclidean(q.floats!, v, dimensions) : 1 - dotProduct(q.floats!, v, dimensions)
        case .scalar:
            let lo = code.load(as: Float.self), step = code.load(fromByteOffset: 4, as: Float.self)
            let dot = lo * q.sum + step * folio_dot_u8(q.floats!, (code + VectorCodec.scalarHeader).assumingMemoryBound(to: UInt8.self), dimensions)
            return euclidean ? max(q.norm2 - 2 * dot + code.load(fromByteOffset: 8, as: Float.self), 0) : 1 - dot
        case .binary:
            return Float(folio_hamming(q.bits!, code.assumingMemoryBound(to: UInt64.self), words))
        }
    }
}
