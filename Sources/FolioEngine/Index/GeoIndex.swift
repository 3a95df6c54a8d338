import FolioBSON
import FolioGeo
import FolioQuery
import FolioStorage

// 2dsphere indexes (MongoDB's index version 3). A document's geometry is keyed by the S2
// cells covering it, each as the NumberLong of its id: a point by its level-30 leaf cell, any
// other geometry by a covering of at most about 20 cells between `coarsestIndexedLevel`
// (default 2, ~2,000 km) and `finestIndexedLevel` (default 16, ~110 m), the defaults
// MongoDB derives from its Earth radius. A query region is covered the same way down to the
// leaf level; its index bounds are each covering cell's range of descendants plus each
// covering cell's ancestors from the finest indexed level up to the coarsest (cells that may
// hold a geometry reaching into the region). The fetched documents are matched exactly
// afterwards.

/// A 2dsphere index's covering levels.
public struct GeoIndexSpec: Sendable, Equatable {
    public var coarsestLevel = 2
    public var finestLevel = 16
    public static let maxCellsInCovering = 20
    /// Cells of a query region's covering.
    static let queryCells = 24

    init(options: Document) throws(FolioError) {
        if let v = options["2dsphereIndexVersion"] {
            guard v.isNumber, let n = v.asDouble, n == 3 else {
                throw FolioError(.commandNotSupported, "2dsphereIndexVersion \(ShellFormat.value(v)) is not supported by Folio: only version 3")
            }
        }
        func level(_ name: String) throws(FolioError) -> Int? {
            guard let v = options[name] else { return nil }
            // Any integral number; the range checks below refuse what is not a level.
            guard v.isNumber, let n = v.exactInt64 else {
                throw FolioError(.typeMismatch, "\(name) must be an integer, but got \(v.type.alias)")
            }
            return Int(clamping: n)
        }
        if let c = try level("coarsestIndexedLevel") { coarsestLevel = c }
        if let f = try level("finestIndexedLevel") { finestLevel = f }
        if coarsestLevel < 0 { throw FolioError(ErrorCode(rawValue: 16747), "coarsestIndexedLevel must be >= 0") }
        if finestLevel > 30 { throw FolioError(ErrorCode(rawValue: 16748), "finestIndexedLevel must be <= 30") }
        if finestLevel < coarsestLevel { throw FolioError(ErrorCode(rawValue: 16749), "finestIndexedLevel must be >= coarsestIndexedLevel") }
    }

    /// The cells a stored geometry is keyed by.
    func cells(_ g: Geometry) -> [CellID] {
        if case .point(let p, _) = g { return [CellID(p.point)] }
        return Coverer(minLevel: coarsestLevel, maxLevel: finestLevel, maxCells: GeoIndexSpec.maxCellsInCovering).covering(g)
    }

    /// The key values of `document`'s geometry at `path`: none when the field is missing or
    /// null (2dsphere indexes skip such documents).
    /// - Throws: 16755 when a value is not a valid geometry.
    func keyValues(_ document: Document, _ path: FieldPath) throws(FolioError) -> [BSON] {
        var found: [BSON] = []
        GeoIndexSpec.collect(.document(document), path.components[...], &found)
        var cells = Set<CellID>()
        for value in found where value.type != .null && value.type != .undefined {
            do {
                for c in self.cells(try GeoJSONParser.parseStored(value)) { cells.insert(c) }
            } catch {
                throw FolioError(ErrorCode(rawValue: 16755), "Can't extract geo keys: \(ShellFormat.value(.document(document)))  \(error.message)")
            }
        }
        return cells.sorted().map { .int64($0.indexKey) }
    }

    /// The values at a path; arrays on the way are traversed, and an array at the end is one
    /// geometry when it is a coordinate pair, else a list of geometries.
    static func collect(_ value: BSON, _ components: ArraySlice<String>, _ out: inout [BSON]) {
        guard let first = components.first else {
            if case .array(let items) = value, !(items.count >= 2 && items[0].isNumber) {
                out.append(contentsOf: items)
            } else {
                out.append(value)
            }
            return
        }
        switch value {
        case .document(let d): if let v = d[first] { collect(v, components.dropFirst(), &out) }
        case .array(let items): for item in items { collect(item, components, &out) }
        default: return
        }
    }

    /// The intervals of the index field for a `$geoWithin`/`$geoIntersects` region, in key order.
    func intervals(_ region: any CoverableRegion) -> [FieldInterval] {
        cellRanges(region).map { lo, hi in
            FieldInterval(lower: KeyBound(bytes: KeyString.encode(.int64(lo)), inclusive: true),
                          upper: KeyBound(bytes: KeyString.encode(.int64(hi)), inclusive: true),
                          isPoint: lo == hi, includesNull: false, lowerText: String(lo), upperText: String(hi), upperPrintedInclusive: nil)
        }
    }

    /// The key ranges of an index whose only field is the geo field (what a near search's
    /// bands scan, without the printed bounds).
    func keyRanges(_ region: any CoverableRegion) -> [KeyRange] {
        cellRanges(region).map { lo, hi in
            KeyRange(lower: KeyString.encode(.int64(lo)), lowerInclusive: true,
                     upper: KeyRange.successor(ofPrefix: KeyString.encode(.int64(hi))), upperInclusive: false)
        }
    }

    /// The cell id ranges (inclusive) a region's covering and its ancestors make, merged.
    func cellRanges(_ region: any CoverableRegion) -> [(Int64, Int64)] {
        let covering = Coverer(minLevel: coarsestLevel, maxLevel: CellID.maxLevel, maxCells: GeoIndexSpec.queryCells).covering(region)
        var ranges: [(Int64, Int64)] = covering.map { ($0.rangeMin.indexKey, $0.rangeMax.indexKey) }
        // Only levels a stored covering uses can hold an ancestor's key (points are keyed at
        // level 30, inside the ranges). Neighbouring covering cells share most ancestors: the
        // merge below folds the repeats.
        for c in covering where c.level > coarsestLevel {
            for level in coarsestLevel..<min(c.level, finestLevel + 1) {
                let a = c.parent(level).indexKey
                ranges.append((a, a))
            }
        }
        ranges.sort { $0.0 < $1.0 }
        var merged: [(Int64, Int64)] = []
        for r in ranges {
            if let last = merged.last, r.0 <= last.1 &+ 1, r.0 >= last.0 {
                merged[merged.count - 1].1 = max(last.1, r.1)
            } else {
                merged.append(r)
            }
        }
        return merged
    }
}

// 2d indexes: legacy coordinate pairs on MongoDB's flat grid (see FolioGeo/PlanarCells.swift).
// A document is keyed by each pair at the path (an array of pairs is a multi-location
// document); one without the field is not indexed. Queries: `$geoWithin` with `$box`,
// `$polygon`, `$center` and `$centerSphere` scan the grid cells of the shape's bounding box;
// `$near` on a pair measures flat distances, `$nearSphere` radians.
extension PlanarGrid {
    init(options: Document) throws(FolioError) {
        func number(_ name: String, _ fallback: Double) throws(FolioError) -> Double {
            guard let v = options[name] else { return fallback }
            guard v.isNumber, let d = v.asDouble, d.isFinite else {
                throw FolioError(.typeMismatch, "\(name) must be a number, but got \(v.type.alias)")
            }
            return d
        }
        let bits = try number("bits", 26)
        if !(bits > 0 && bits <= 32) { throw FolioError(ErrorCode(rawValue: 16803), "bits in geo index must be between 1 and 32") }
        let min = try number("min", -180), max = try number("max", 180)
        if !(min < max) || !(max - min).isFinite {
            throw FolioError(.badValue, "max must be greater than min in 2d index, min: \(min) max: \(max)")
        }
        // MongoDB truncates a fractional `bits` (static_cast); the check above keeps it in (0, 32].
        self.init(bits: Int(Int64.checked(bits) ?? 0), min: min, max: max)
    }

    /// The pairs at `path` as hash keys.
    /// - Throws: 16804 for a value that is not a pair or an array of pairs; 13027 for a pair
    ///   outside [min, max].
    func keyValues(_ document: Document, _ path: FieldPath) throws(FolioError) -> [BSON] {
        var found: [BSON] = []
        GeoIndexSpec.collect(.document(document), path.components[...], &found)
        var keys = Set<Int64>()
        for value in found {
            guard value.type == .array || value.type == .document else { continue }
            guard let p = try? GeoJSONParser.parseFlatPoint(value, extraFields: true), value.documentValue?["type"] == nil else {
                throw FolioError(ErrorCode(rawValue: 16804), "location object expected, location array not in correct format")
            }
            guard let k = key(x: p.x, y: p.y) else {
                throw FolioError(ErrorCode(rawValue: 13027), "point not in interval of [ \(ShellFormat.value(.double(min))), \(ShellFormat.value(.double(max))) ) :: caused by :: { \(ShellFormat.value(.double(p.x))), \(ShellFormat.value(.double(p.y))) }")
            }
            keys.insert(k)
        }
        return keys.sorted().map(BSON.int64)
    }

    /// Index intervals from hash ranges.
    static func intervals(_ ranges: [(Int64, Int64)]) -> [FieldInterval] {
        ranges.map { lo, hi in
            FieldInterval(lower: KeyBound(bytes: KeyString.encode(.int64(lo)), inclusive: true),
                          upper: KeyBound(bytes: KeyString.encode(.int64(hi)), inclusive: true),
                          isPoint: lo == hi, includesNull: false, lowerText: String(lo), upperText: String(hi), upperPrintedInclusive: nil)
        }
    }
}

extension GeoPredicate {
    /// The flat box a 2d index scans for this predicate (nil: the index cannot answer it).
    var planarBounds: PlanarBox? {
        guard case .within(let region) = kind else { return nil }
        switch region {
        case .box(let x0, let y0, let x1, let y1): return PlanarBox(minX: x0, minY: y0, maxX: x1, maxY: y1)
        case .flatPolygon(let ps):
            return PlanarBox(minX: ps.map(\.x).min()!, minY: ps.map(\.y).min()!, maxX: ps.map(\.x).max()!, maxY: ps.map(\.y).max()!)
        case .circle(let c, let r): return PlanarBox(minX: c.x - r, minY: c.y - r, maxX: c.x + r, maxY: c.y + r)
        case .cap(let cap): return PlanarBox.degrees(around: cap.center, radius: cap.radius)
        case .geometry: return nil
        }
    }
}
