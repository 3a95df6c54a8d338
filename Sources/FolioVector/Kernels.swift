// Distance kernels over contiguous float32 data.
//
// Written with SIMD8 accumulators so the compiler emits packed multiply-adds (AVX2 on this
// machine's x86-64, NEON on arm64) without intrinsics; two accumulators hide the add latency.
// The same functions serve exact search (a pass over the contiguous vectors of a graph) and
// the graph walk, so both rank identically.

/// Σ a[i]·b[i] over `n` floats.
@inlinable
public func dotProduct(_ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>, _ n: Int) -> Float {
    var i = 0
    var s0 = SIMD8<Float>(repeating: 0), s1 = SIMD8<Float>(repeating: 0)
    let ra = UnsafeRawPointer(a), rb = UnsafeRawPointer(b)
    while i + 16 <= n {
        let a0 = ra.loadUnaligned(fromByteOffset: i &* 4, as: SIMD8<Float>.self)
        let b0 = rb.loadUnaligned(fromByteOffset: i &* 4, as: SIMD8<Float>.self)
        let a1 = ra.loadUnaligned(fromByteOffset: (i &+ 8) &* 4, as: SIMD8<Float>.self)
        let b1 = rb.loadUnaligned(fromByteOffset: (i &+ 8) &* 4, as: SIMD8<Float>.self)
        s0.addProduct(a0, b0)
        s1.addProduct(a1, b1)
        i &+= 16
    }
    if i + 8 <= n {
        s0.addProduct(ra.loadUnaligned(fromByteOffset: i &* 4, as: SIMD8<Float>.self),
                      rb.loadUnaligned(fromByteOffset: i &* 4, as: SIMD8<Float>.self))
        i &+= 8
    }
    var s = (s0 + s1).sum()
    while i < n {
        s += a[i] * b[i]
        i &+= 1
    }
    return s
}

/// Σ (a[i] − b[i])² over `n` floats.
@inlinable
public func squaredEuclidean(_ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>, _ n: Int) -> Float {
    var i = 0
    var s0 = SIMD8<Float>(repeating: 0), s1 = SIMD8<Float>(repeating: 0)
    let ra = UnsafeRawPointer(a), rb = UnsafeRawPointer(b)
    while i + 16 <= n {
        let d0 = ra.loadUnaligned(fromByteOffset: i &* 4, as: SIMD8<Float>.self)
            - rb.loadUnaligned(fromByteOffset: i &* 4, as: SIMD8<Float>.self)
        let d1 = ra.loadUnaligned(fromByteOffset: (i &+ 8) &* 4, as: SIMD8<Float>.self)
            - rb.loadUnaligned(fromByteOffset: (i &+ 8) &* 4, as: SIMD8<Float>.self)
        s0.addProduct(d0, d0)
        s1.addProduct(d1, d1)
        i &+= 16
    }
    if i + 8 <= n {
        let d = ra.loadUnaligned(fromByteOffset: i &* 4, as: SIMD8<Float>.self)
            - rb.loadUnaligned(fromByteOffset: i &* 4, as: SIMD8<Float>.self)
        s0.addProduct(d, d)
        i &+= 8
    }
    var s = (s0 + s1).sum()
    while i < n {
        let d = a[i] - b[i]
        s += d * d
        i &+= 1
    }
    return s
}

extension SIMD8 where Scalar == Float {
    @inlinable @inline(__always)
    mutating func addProduct(_ a: SIMD8<Float>, _ b: SIMD8<Float>) {
        self = self.addingProduct(a, b)
    }
}

/// How a vector index compares vectors, as Atlas Vector Search names them.
public enum VectorSimilarity: String, Sendable, CaseIterable {
    case euclidean, cosine, dotProduct

    /// The graph's distance (smaller is nearer): squared Euclidean distance, or 1 − dot
    /// product (cosine works on vectors normalized when they are added).
    @inlinable
    public func distance(_ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>, _ n: Int) -> Float {
        switch self {
        case .euclidean: return squaredEuclidean(a, b, n)
        case .cosine, .dotProduct: return 1 - FolioVector.dotProduct(a, b, n)
        }
    }

    /// The score `{$meta: "vectorSearchScore"}` reports for a distance, as Atlas normalizes
    /// it (Lucene's similarity functions, which mongot uses): 1 / (1 + d²) for euclidean,
    /// (1 + cosine) / 2 and (1 + dot product) / 2 (at least 0) for the others.
    @inlinable
    public func score(distance: Float) -> Float {
        switch self {
        case .euclidean: return 1 / (1 + distance)
        case .cosine, .dotProduct: return max((1 + (1 - distance)) / 2, 0)
        }
    }

    /// Whether vectors are normalized to unit length before they are stored or compared.
    public var normalizes: Bool { self == .cosine }
}

/// Scales `v` to unit length in place; false (and `v` unchanged) for a zero or non-finite vector.
@discardableResult
public func normalize(_ v: inout [Float]) -> Bool {
    let norm2 = v.withUnsafeBufferPointer { dotProduct($0.baseAddress!, $0.baseAddress!, $0.count) }
    guard norm2 > 0, norm2.isFinite else { return false }
    let inv = 1 / norm2.squareRoot()
    for i in v.indices { v[i] *= inv }
    return true
}
