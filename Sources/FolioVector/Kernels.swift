import CVectorKernels

// Distance kernels over contiguous float32 data (CVectorKernels: AVX2+FMA chosen at run
// time on x86-64, plain vectorizable loops elsewhere). The same functions serve exact search
// (a pass over the contiguous vectors of a graph) and the graph walk, so both rank alike.

/// Σ a[i]·b[i] over `n` floats (CVectorKernels: AVX2 and FMA when the processor has them).
@inline(__always)
public func dotProduct(_ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>, _ n: Int) -> Float {
    folio_dot(a, b, n)
}

/// Σ (a[i] − b[i])² over `n` floats.
@inline(__always)
public func squaredEuclidean(_ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>, _ n: Int) -> Float {
    folio_l2sq(a, b, n)
}

/// How a vector index compares vectors, as Atlas Vector Search names them.
public enum VectorSimilarity: String, Sendable, CaseIterable {
    case euclidean, cosine, dotProduct

    /// The graph's distance (smaller is nearer): squared Euclidean distance, or 1 − dot
    /// product (cosine works on vectors normalized when they are added).
    @inline(__always)
    public func distance(_ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>, _ n: Int) -> Float {
        switch self {
        case .euclidean: return squaredEuclidean(a, b, n)
        case .cosine, .dotProduct: return 1 - FolioVector.dotProduct(a, b, n)
        }
    }

    /// The score `{$meta: "vectorSearchScore"}` reports for a distance, as Atlas normalizes
    /// it (Lucene's similarity functions, which mongot uses): 1 / (1 + d²) for euclidean,
    /// (1 + cosine) / 2 and (1 + dot product) / 2 (at least 0) for the others.
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
