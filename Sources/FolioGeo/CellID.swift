// Cell ids of the S2 hierarchy, the keys a 2dsphere index stores (MongoDB's index version 3
// stores `S2CellId::id()` as a NumberLong). The sphere is projected onto the six faces of a
// cube; each face is cut into a quadtree 30 levels deep; cells are numbered along a Hilbert
// curve so that a cell's descendants are one contiguous range of ids. Written from the
// published description of S2 (the face projection, the quadratic u→s transform, the Hilbert
// order and the id layout: 3 face bits, 2 bits per level, then a trailing 1 bit).
//
// Why not Debian's libs2-dev (Google's S2, C++): the README's `swift run -c release folio serve`
// must build on a fresh machine with nothing installed, and libs2 is not there (libstemmer and
// PCRE2 are); it would also bring C++ interop and Abseil's headers into every build. The parts
// a 2dsphere index needs — cell ids, coverings, loop containment and validity, distances — are
// a few hundred lines, tested against S2's documented values and by differential tests.

/// An S2 cell id: face, position along the Hilbert curve and level in one 64-bit number.
public struct CellID: Sendable, Hashable, Comparable {
    public var id: UInt64
    public init(id: UInt64) { self.id = id }

    public static let maxLevel = 30
    static let posBits = 2 * maxLevel + 1
    static let maxSize = 1 << maxLevel

    public static func < (a: CellID, b: CellID) -> Bool { a.id < b.id }

    /// The cell of `face` at level 0.
    public static func face(_ face: Int) -> CellID { CellID(id: (UInt64(face) << posBits) + (1 << (posBits - 1))) }

    /// The level-30 cell holding `p`.
    public init(_ p: Point3) {
        let (face, u, v) = CellID.faceUV(p)
        let i = CellID.stToIJ(CellID.uvToST(u)), j = CellID.stToIJ(CellID.uvToST(v))
        self = CellID.fromFaceIJ(face, i, j)
    }

    public var face: Int { Int(id >> CellID.posBits) }
    /// The lowest set bit: its position gives the level.
    public var lsb: UInt64 { id & (~id &+ 1) }
    public var level: Int { CellID.maxLevel - (lsb.trailingZeroBitCount >> 1) }
    public var isLeaf: Bool { id & 1 == 1 }
    public var rangeMin: CellID { CellID(id: id - (lsb - 1)) }
    public var rangeMax: CellID { CellID(id: id + (lsb - 1)) }
    public func contains(_ other: CellID) -> Bool { other.id >= rangeMin.id && other.id <= rangeMax.id }
    public func intersects(_ other: CellID) -> Bool { other.rangeMin.id <= rangeMax.id && other.rangeMax.id >= rangeMin.id }

    static func lsb(forLevel level: Int) -> UInt64 { 1 << UInt64(2 * (maxLevel - level)) }

    /// The ancestor at `level` (not above this cell's level).
    public func parent(_ level: Int) -> CellID {
        let newLsb = CellID.lsb(forLevel: level)
        return CellID(id: (id & (~newLsb &+ 1)) | newLsb)
    }

    public var parent: CellID { parent(level - 1) }

    /// The four children, in Hilbert order.
    public var children: [CellID] {
        let childLsb = lsb >> 2
        var c = id - lsb + childLsb
        var out: [CellID] = []
        out.reserveCapacity(4)
        for _ in 0..<4 { out.append(CellID(id: c)); c += childLsb << 1 }
        return out
    }

    /// The id as the signed NumberLong an index key holds.
    public var indexKey: Int64 { Int64(bitPattern: id) }

    // MARK: - Projection

    /// The face a point projects onto (its largest coordinate's axis) and its (u, v) there.
    static func faceUV(_ p: Point3) -> (Int, Double, Double) {
        let ax = abs(p.x), ay = abs(p.y), az = abs(p.z)
        var face = ax >= ay ? (ax >= az ? 0 : 2) : (ay >= az ? 1 : 2)
        let c = face == 0 ? p.x : face == 1 ? p.y : p.z
        if c < 0 { face += 3 }
        switch face {
        case 0: return (0, p.y / p.x, p.z / p.x)
        case 1: return (1, -p.x / p.y, p.z / p.y)
        case 2: return (2, -p.x / p.z, -p.y / p.z)
        case 3: return (3, p.z / p.x, p.y / p.x)
        case 4: return (4, p.z / p.y, -p.x / p.y)
        default: return (5, -p.y / p.z, -p.x / p.z)
        }
    }

    /// The (unnormalised) point at (u, v) on `face`.
    static func faceUVToXYZ(_ face: Int, _ u: Double, _ v: Double) -> Point3 {
        switch face {
        case 0: return Point3(1, u, v)
        case 1: return Point3(-u, 1, v)
        case 2: return Point3(-u, -v, 1)
        case 3: return Point3(-1, -v, -u)
        case 4: return Point3(v, -1, -u)
        default: return Point3(v, u, -1)
        }
    }

    /// The quadratic transform that makes cells of one level nearly equal in area.
    static func uvToST(_ u: Double) -> Double { u >= 0 ? 0.5 * (1 + 3 * u).squareRoot() : 1 - 0.5 * (1 - 3 * u).squareRoot() }
    static func stToUV(_ s: Double) -> Double { s >= 0.5 ? (1.0 / 3) * (4 * s * s - 1) : (1.0 / 3) * (1 - 4 * (1 - s) * (1 - s)) }
    static func stToIJ(_ s: Double) -> Int { max(0, min(maxSize - 1, Int((Double(maxSize) * s).rounded(.down)))) }

    // MARK: - Hilbert order

    /// Swap and invert bits of the orientation.
    static let swapMask = 1, invertMask = 2
    /// (i, j) bits of each position along the curve, per orientation.
    static let posToIJ: [[Int]] = [[0, 1, 3, 2], [0, 2, 3, 1], [3, 2, 0, 1], [3, 1, 0, 2]]
    static let ijToPos: [[Int]] = [[0, 1, 3, 2], [0, 3, 1, 2], [2, 3, 1, 0], [2, 1, 3, 0]]
    static let posToOrientation = [swapMask, 0, 0, invertMask | swapMask]

    static func fromFaceIJ(_ face: Int, _ i: Int, _ j: Int) -> CellID {
        var orientation = face & swapMask
        var pos: UInt64 = 0
        for k in stride(from: maxLevel - 1, through: 0, by: -1) {
            let ij = ((i >> k) & 1) << 1 | ((j >> k) & 1)
            let p = ijToPos[orientation][ij]
            pos = pos << 2 | UInt64(p)
            orientation ^= posToOrientation[p]
        }
        return CellID(id: UInt64(face) << posBits | pos << 1 | 1)
    }

    /// The face and the (i, j) of the cell's lower-left leaf.
    func faceIJ() -> (face: Int, i: Int, j: Int) {
        var orientation = face & CellID.swapMask
        var i = 0, j = 0
        for k in 0..<CellID.maxLevel {
            let p = Int((id >> UInt64(CellID.posBits - 2 - 2 * k)) & 3)
            let ij = CellID.posToIJ[orientation][p]
            i = i << 1 | ij >> 1
            j = j << 1 | ij & 1
            orientation ^= CellID.posToOrientation[p]
        }
        let size = 1 << (CellID.maxLevel - level)
        return (face, i & ~(size - 1), j & ~(size - 1))
    }

    /// The cell's four corners (counter-clockwise) and its center, as unit vectors.
    public var vertices: (corners: (Point3, Point3, Point3, Point3), center: Point3) {
        let (face, i, j) = faceIJ()
        let size = 1 << (CellID.maxLevel - level)
        let scale = 1.0 / Double(CellID.maxSize)
        let u0 = CellID.stToUV(Double(i) * scale), u1 = CellID.stToUV(Double(i + size) * scale)
        let v0 = CellID.stToUV(Double(j) * scale), v1 = CellID.stToUV(Double(j + size) * scale)
        let corners = (CellID.faceUVToXYZ(face, u0, v0).normalized, CellID.faceUVToXYZ(face, u1, v0).normalized,
                       CellID.faceUVToXYZ(face, u1, v1).normalized, CellID.faceUVToXYZ(face, u0, v1).normalized)
        let center = CellID.faceUVToXYZ(face, CellID.stToUV(Double(2 * i + size) * 0.5 * scale),
                                        CellID.stToUV(Double(2 * j + size) * 0.5 * scale)).normalized
        return (corners, center)
    }
}
