import FolioBSON
import FolioGeo
import FolioQuery
import FolioStorage

// `$near`, `$nearSphere` and the `$geoNear` stage: documents in order of distance, answered
// incrementally from a 2dsphere index (MongoDB's GEO_NEAR_2DSPHERE).
//
// The search reads the index in bands: rings around the query point, each covered by cells
// and scanned as key ranges. After a band whose outer radius is r, every document within r
// has been seen, so the pending ones within r come out in distance order; the others wait for
// a later band. Bands double (quadruple while empty) from about 6 m, start at
// `$minDistance` and stop at `$maxDistance` or the far side of the Earth. A limit stops the
// search after the bands it needs.

extension PlanBuilder {
    /// The plan of a query with `$near`/`$nearSphere` on `path`.
    /// - Throws: 291 NoQueryExecutionPlans without a 2dsphere index on the path (or for a flat
    ///   `$near` on a legacy pair, which needs a 2d index).
    func nearPlan(_ path: FieldPath, _ predicate: GeoPredicate) throws(FolioError) -> PlanStage {
        // GeoJSON points search a 2dsphere index; flat `$near` on a pair a 2d index; a pair
        // with `$nearSphere` either (2dsphere first).
        let sphereIndex = usableGeoIndexes.first { i in i.geo != nil && i.fields.contains { $0.geo && $0.path == path } }
        let planarIndex = usableGeoIndexes.first { i in i.planar != nil && i.fields[0].path == path }
        guard let near = predicate.near,
              let index = near.isGeoJSON ? sphereIndex : near.spherical ? sphereIndex ?? planarIndex : planarIndex else {
            throw FolioError(.noQueryExecutionPlans, "error processing query: \(ShellFormat.value(.document(query.filter.expression.explainForm))) planner returned error :: caused by :: unable to find index for $geoNear query")
        }
        let rest = Filter(query.filter.expression.withoutNear)
        let stage = GeoNearStage(snapshot: snapshot, recordStore: entry.recordStore, index: index, path: path, near: near,
                                 otherBounds: bounds(index, conjunction), filter: rest, attachDistance: query.wantsGeoDistance)
        return withSort(stage)
    }

    var usableGeoIndexes: [IndexDescriptor] { entry.indexes.filter { !$0.hidden && !$0.building && ($0.geo != nil || $0.planar != nil) } }
}

/// The hidden fields a near search attaches for `$geoNear` (taken off by the stage that reads them).
enum GeoNearFields {
    static let distance = "$__folioGeoDistance"
    static let location = "$__folioGeoLocation"
}

final class GeoNearStage: PlanStage {
    struct Pending {
        var distance: Double
        var sequence: Int
        var row: PlanRow
        var location: BSON
    }

    let snapshot: any StorageSnapshot
    let recordStore: String
    let index: IndexDescriptor
    let path: FieldPath
    let near: NearQuery
    let otherBounds: [[FieldInterval]?]
    let filter: Filter
    let attachDistance: Bool
    /// Radians (flat grid units for a flat `$near` on a 2d index).
    let minRadius: Double, maxRadius: Double
    private var inner: Double
    private var outer: Double
    /// Every document within this distance has been seen (the outer radius of the last band read).
    private var covered = -1.0
    private var searched = false
    private var seen = Set<[UInt8]>()
    /// Found, not yet returned, in distance order from `pendingHead` on.
    private var pending: [Pending] = []
    private var pendingHead = 0
    private var sequence = 0
    private var examinedKeys = 0, examinedDocs = 0

    init(snapshot: any StorageSnapshot, recordStore: String, index: IndexDescriptor, path: FieldPath, near: NearQuery,
         otherBounds: [[FieldInterval]?], filter: Filter, attachDistance: Bool) {
        self.snapshot = snapshot
        self.recordStore = recordStore
        self.index = index
        self.path = path
        self.near = near
        self.otherBounds = otherBounds
        self.filter = filter
        self.attachDistance = attachDistance
        minRadius = (near.minDistance ?? 0) / near.unitsPerRadian
        if let grid = index.planar, !near.spherical {
            // Flat distances, in the grid's units: the search ends at its diagonal.
            maxRadius = min((grid.max - grid.min) * 1.5, near.maxDistance ?? .infinity)
            inner = minRadius
            outer = min(maxRadius, minRadius + (grid.max - grid.min) / Double(1 << min(grid.bits, 20)))
        } else {
            maxRadius = min(.pi, (near.maxDistance ?? .infinity) / near.unitsPerRadian)
            inner = minRadius
            outer = min(maxRadius, minRadius + 1e-6)
        }
    }

    override var stageName: String { index.planar != nil ? "GEO_NEAR_2D" : "GEO_NEAR_2DSPHERE" }
    override var summaryParts: [String] { [stageName + " " + ShellFormat.value(.document(index.keyPattern))] }
    override var indexNames: [String] { [index.name] }
    override var keysExamined: Int { examinedKeys }
    override var docsExamined: Int { examinedDocs }
    override func plannerFields() -> Document {
        ["keyPattern": .document(index.keyPattern), "indexName": .string(index.name), "indexVersion": .int32(2)]
    }
    override func statsFields() -> Document {
        ["keysExamined": .int32(Int32(clamping: examinedKeys)), "docsExamined": .int32(Int32(clamping: examinedDocs))]
    }

    override func doWork() throws(FolioError) -> WorkResult {
        if pendingHead < pending.count, pending[pendingHead].distance <= covered || searched {
            let first = pending[pendingHead]
            pendingHead += 1
            // Returned entries are dropped in bulk, not one shift of the array each.
            if pendingHead >= 1024 && pendingHead * 2 >= pending.count {
                pending.removeFirst(pendingHead)
                pendingHead = 0
            }
            var row = first.row
            if attachDistance, let raw = row.document {
                var d = raw.document()
                d.append(GeoNearFields.distance, .double(first.distance))
                d.append(GeoNearFields.location, first.location)
                row.document = RawDocument(trusted: d.bsonBytes())
            }
            return .advanced(row)
        }
        if searched { return .eof }
        let found = try scanBand()
        covered = outer
        // Past the band just read: the next one, wider; the search ends at the limit.
        if outer >= maxRadius {
            searched = true
        } else {
            let width = outer - inner
            inner = outer
            outer = min(maxRadius, outer + width * (found == 0 ? 4 : 2))
        }
        return .needTime
    }

    /// Reads the index entries of the band [inner, outer] and queues their new documents.
    /// Returns the number queued.
    func scanBand() throws(FolioError) -> Int {
        let ranges: [KeyRange]
        if let grid = index.planar {
            let cells = near.spherical ? grid.ranges(PlanarBox.degrees(around: near.point.point, radius: outer))
                : grid.ranges(x: near.point.x, y: near.point.y, inner: inner, outer: outer)
            var perField = otherBounds
            perField[0] = PlanarGrid.intervals(cells)
            for i in 1..<index.fields.count where perField[i] == nil { perField[i] = [.all] }
            ranges = IndexBounds.ranges(index.fields, perField)
        } else if let geo = index.geo, index.fields.count == 1 {
            let region = Annulus(center: near.point.point, innerRadius: inner, outerRadius: outer)
            ranges = geo.keyRanges(region)
        } else if let geo = index.geo {
            let region = Annulus(center: near.point.point, innerRadius: inner, outerRadius: outer)
            var perField = otherBounds
            for (i, f) in index.fields.enumerated() {
                if f.geo { perField[i] = f.path == path ? geo.intervals(region) : nil }
                else if perField[i] == nil { perField[i] = [.all] }
            }
            ranges = IndexBounds.ranges(index.fields, perField)
        } else {
            return 0
        }
        var found: [Pending] = []
        for range in ranges {
            let entries = try Folio_storage { () throws(StorageError) in try snapshot.scan(index.store, range, reverse: false, limit: nil) }
            examinedKeys += entries.count
            for entry in entries {
                let recordKey = index.recordKey(fromValue: entry.value)
                guard seen.insert(recordKey).inserted else { continue }
                guard let bytes = try Folio_storage({ () throws(StorageError) in try snapshot.get(recordStore, recordKey) }) else { continue }
                examinedDocs += 1
                let raw = RawDocument(trusted: bytes)
                guard filter.matches(raw), let (distance, location) = nearest(raw) else { continue }
                if distance < minRadius || distance > maxRadius { continue }
                found.append(Pending(distance: distance, sequence: sequence, row: PlanRow(recordKey: recordKey, document: raw), location: location))
                sequence += 1
            }
        }
        queue(found)
        return found.count
    }

    /// The distance (radians) from the query point to the document's nearest geometry at the
    /// path, and that geometry's value.
    func nearest(_ raw: RawDocument) -> (Double, BSON)? {
        var values: [BSON] = []
        if path.count == 1 {
            guard let v = raw.lookup(path.components[0]) else { return nil }
            GeoIndexSpec.collect(v.bson, [][...], &values)
        } else {
            GeoIndexSpec.collect(.document(raw.document()), path.components[...], &values)
        }
        var best: (Double, BSON)?
        let flat = index.planar != nil && !near.spherical
        for v in values {
            guard let g = try? GeoJSONParser.parseStored(v) else { continue }
            let d: Double
            if flat {
                // Flat distance between coordinate pairs (only points sit in a 2d index).
                guard case .point(let p, _) = g else { continue }
                d = ((p.x - near.point.x) * (p.x - near.point.x) + (p.y - near.point.y) * (p.y - near.point.y)).squareRoot()
            } else {
                d = g.distance(from: near.point.point)
            }
            if best == nil || d < best!.0 { best = (d, v) }
        }
        return best
    }

    /// Merges a band's finds (sorted once) into the waiting ones: linear, whatever the band's size.
    func queue(_ found: [Pending]) {
        if found.isEmpty { return }
        func before(_ a: Pending, _ b: Pending) -> Bool { a.distance < b.distance || (a.distance == b.distance && a.sequence < b.sequence) }
        let new = found.sorted(by: before)
        var merged: [Pending] = []
        merged.reserveCapacity(pending.count - pendingHead + new.count)
        var i = pendingHead, j = 0
        while i < pending.count || j < new.count {
            if j == new.count || (i < pending.count && before(pending[i], new[j])) {
                merged.append(pending[i]); i += 1
            } else {
                merged.append(new[j]); j += 1
            }
        }
        pending = merged
        pendingHead = 0
    }
}
