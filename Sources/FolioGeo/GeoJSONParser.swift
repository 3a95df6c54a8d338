// GeoJSON and legacy coordinate pairs, parsed and validated as MongoDB's GeoParser does:
// the same checks in the same order with the same messages (they reach clients inside
// 16755 "Can't extract geo keys" on writes and BadValue 2 in queries).

import FolioBSON

/// Why a value is not a valid geometry (MongoDB's reason text).
public struct GeoError: Error, Sendable, Equatable {
    public var message: String
    public init(_ message: String) { self.message = message }
}

/// Polygon validation compares pairs of edges; past this many comparisons a polygon is
/// refused instead of making its writer wait (a hostile ring of 400,000 vertices whose edges
/// all overlap in one axis would need 10^11).
public enum GeoLimits {
    public static let maximumEdgeComparisons = 50_000_000
}

public enum GeoJSONParser {
    static let crs84 = "urn:ogc:def:crs:OGC:1.3:CRS84", epsg4326 = "EPSG:4326"
    static let strictWinding = "urn:x-mongodb:crs:strictwinding:EPSG:4326"

    /// The value of a document's field as a stored geometry: GeoJSON, or a legacy pair
    /// (`[x, y]`, `{x: 1, y: 2}`; stored pairs may carry more fields).
    public static func parseStored(_ value: BSON) throws(GeoError) -> Geometry {
        switch value {
        case .array:
            return .point(try parseFlatPoint(value, extraFields: true), legacy: true)
        case .document(let d):
            if let name = d.fieldNames.first, let first = d[name], first.isNumber {
                return .point(try parseFlatPoint(value, extraFields: true), legacy: true)
            }
            return try parseGeoJSON(d, allowBigPolygon: false)
        default:
            throw GeoError("Point must be an array or object")
        }
    }

    /// A legacy pair's first two numbers (`x`, `y`), finite.
    public static func parseFlatPoint(_ value: BSON, extraFields: Bool = false) throws(GeoError) -> GeoPoint {
        let values: [BSON]
        switch value {
        case .array(let a): values = a
        case .document(let d): values = d.map(\.value)
        default: throw GeoError("Point must be an array or object")
        }
        guard values.count >= 1, let x = values[0].asDouble, values[0].isNumber else { throw GeoError("Point must only contain numeric elements") }
        guard values.count >= 2, let y = values[1].asDouble, values[1].isNumber else { throw GeoError("Point must only contain numeric elements") }
        if !extraFields && values.count > 2 { throw GeoError("Point must only contain two numeric elements") }
        if !x.isFinite || !y.isFinite { throw GeoError("Point coordinates must be finite numbers") }
        return GeoPoint(x: x, y: y)
    }

    /// A point on the sphere: longitude in [-180, 180], latitude in [-90, 90].
    static func sphericalPoint(_ value: BSON) throws(GeoError) -> GeoPoint {
        guard case .array = value else { throw GeoError("GeoJSON coordinates must be an array") }
        let p = try parseFlatPoint(value, extraFields: true)
        try checkLngLat(p)
        return p
    }

    static func checkLngLat(_ p: GeoPoint) throws(GeoError) {
        if !(abs(p.x) <= 180 && abs(p.y) <= 90) {
            throw GeoError("longitude/latitude is out of bounds, lng: \(format(p.x)) lat: \(format(p.y))")
        }
    }

    static func format(_ d: Double) -> String { ShellFormat.value(.double(d)) }

    /// `{type, coordinates}` or `{type: "GeometryCollection", geometries}`.
    public static func parseGeoJSON(_ d: Document, allowBigPolygon: Bool) throws(GeoError) -> Geometry {
        guard case .string(let type)? = d["type"] else {
            throw GeoError("unknown GeoJSON type: \(ShellFormat.value(.document(d)))")
        }
        let strict = try crs(d, polygon: type == "Polygon" && allowBigPolygon)
        let coordinates = d["coordinates"] ?? .null
        switch type {
        case "Point":
            let p = try parseGeoJSONPoint(coordinates)
            return .point(p, legacy: false)
        case "LineString":
            return .lineString(try line(coordinates))
        case "Polygon":
            if strict { return .polygon(try bigPolygon(coordinates)) }
            return .polygon(try polygon(coordinates))
        case "MultiPoint":
            let points = try coordinateArray(coordinates)
            if points.isEmpty { throw GeoError("MultiPoint coordinates must have at least 1 element") }
            return .multiPoint(points)
        case "MultiLineString":
            guard case .array(let lines) = coordinates else { throw GeoError("MultiLineString coordinates must be an array") }
            if lines.isEmpty { throw GeoError("MultiLineString coordinates must have at least 1 element") }
            var out: [Polyline] = []
            for l in lines { out.append(try line(l)) }
            return .multiLineString(out)
        case "MultiPolygon":
            guard case .array(let polygons) = coordinates else { throw GeoError("MultiPolygon coordinates must be an array") }
            if polygons.isEmpty { throw GeoError("MultiPolygon coordinates must have at least 1 element") }
            var out: [Polygon] = []
            for p in polygons { out.append(try polygon(p)) }
            return .multiPolygon(out)
        case "GeometryCollection":
            guard case .array(let geometries) = d["geometries"] ?? .null else { throw GeoError("GeometryCollection geometries must be an array") }
            if geometries.isEmpty { throw GeoError("GeometryCollection geometries must have at least 1 element") }
            var out: [Geometry] = []
            for (i, g) in geometries.enumerated() {
                guard case .document(let gd) = g else { throw GeoError("Element \(i) of \"geometries\" is not an object") }
                if gd["type"]?.stringValue == "GeometryCollection" {
                    throw GeoError("GeometryCollections cannot be nested: \(ShellFormat.value(g))")
                }
                guard let t = gd["type"]?.stringValue, ["Point", "LineString", "Polygon", "MultiPoint", "MultiLineString", "MultiPolygon"].contains(t) else {
                    throw GeoError("Unknown GeoJSON type: \(ShellFormat.value(g))")
                }
                out.append(try parseGeoJSON(gd, allowBigPolygon: false))
            }
            return .collection(out)
        default:
            throw GeoError("unknown GeoJSON type: \(ShellFormat.value(.document(d)))")
        }
    }

    static func parseGeoJSONPoint(_ coordinates: BSON) throws(GeoError) -> GeoPoint {
        guard case .array = coordinates else { throw GeoError("Point must be an array or object") }
        let p = try parseFlatPoint(coordinates, extraFields: true)
        try checkLngLat(p)
        return p
    }

    /// The `crs` member: absent or a WGS84 name (false), or MongoDB's strict winding (true,
    /// polygons in queries only).
    static func crs(_ d: Document, polygon: Bool) throws(GeoError) -> Bool {
        guard let value = d["crs"] else { return false }
        guard case .document(let crs) = value else { throw GeoError("GeoJSON CRS must be an object") }
        guard crs["type"]?.stringValue == "name" else { throw GeoError("GeoJSON CRS must have field \"type\": \"name\"") }
        guard case .document(let properties)? = crs["properties"] else { throw GeoError("CRS must have field \"properties\" which is an object") }
        guard case .string(let name)? = properties["name"] else { throw GeoError("In CRS, \"properties.name\" must be a string") }
        if name == crs84 || name == epsg4326 { return false }
        if name == strictWinding {
            if !polygon { throw GeoError("Strict winding order is only supported by polygon") }
            return true
        }
        throw GeoError("Unknown CRS name: \(name)")
    }

    static func coordinateArray(_ value: BSON) throws(GeoError) -> [GeoPoint] {
        guard case .array(let items) = value else { throw GeoError("GeoJSON coordinates must be an array of coordinates") }
        var out: [GeoPoint] = []
        out.reserveCapacity(items.count)
        for item in items { out.append(try sphericalPoint(item)) }
        return out
    }

    /// Consecutive equal vertices collapse into one.
    static func withoutRepeats(_ points: [Point3]) -> [Point3] {
        var out: [Point3] = []
        out.reserveCapacity(points.count)
        for p in points where out.last != p { out.append(p) }
        return out
    }

    static func line(_ value: BSON) throws(GeoError) -> Polyline {
        let vertices = withoutRepeats(try coordinateArray(value).map(\.point))
        if vertices.count < 2 {
            throw GeoError("GeoJSON LineString must have at least 2 vertices: \(ShellFormat.value(value))")
        }
        for i in 0..<(vertices.count - 1) where vertices[i] == -vertices[i + 1] {
            throw GeoError("GeoJSON LineString is not valid: Vertices \(i) and \(i + 1) are antipodal \(ShellFormat.value(value))")
        }
        return Polyline(vertices)
    }

    /// A ring's vertices: closed, repeats removed, the closing vertex dropped, at least 3.
    static func ring(_ value: BSON) throws(GeoError) -> [Point3] {
        let points = try coordinateArray(value).map(\.point)
        if points.isEmpty { throw GeoError("Loop has no vertices: \(ShellFormat.value(value))") }
        if points[0] != points[points.count - 1] { throw GeoError("Loop is not closed: \(ShellFormat.value(value))") }
        var vertices = withoutRepeats(points)
        vertices.removeLast()
        if vertices.count < 3 { throw GeoError("Loop must have at least 3 different vertices: \(ShellFormat.value(value))") }
        return vertices
    }

    static func polygon(_ value: BSON) throws(GeoError) -> Polygon {
        guard case .array(let rings) = value else { throw GeoError("Polygon coordinates must be an array") }
        var loops: [Loop] = []
        for r in rings {
            let vertices = try ring(r)
            if let problem = LoopValidation.problem(vertices) {
                throw GeoError("Loop is not valid: \(ShellFormat.value(r)) \(problem)")
            }
            let loop = Loop(vertices, normalize: true)
            if let shell = loops.first, !LoopValidation.contains(shell, loop) {
                throw GeoError("Secondary loops not contained by first exterior loop - secondary loops must be holes: \(ShellFormat.value(r)) first loop: \(ShellFormat.value(rings[0]))")
            }
            loops.append(loop)
        }
        if loops.isEmpty { throw GeoError("Polygon has no loops.") }
        if let problem = LoopValidation.holesProblem(Array(loops.dropFirst())) {
            throw GeoError("Polygon isn't valid: \(problem) \(ShellFormat.value(value))")
        }
        return Polygon(shell: loops[0], holes: Array(loops.dropFirst()))
    }

    /// A big polygon: one ring whose inside is on its left, however large.
    static func bigPolygon(_ value: BSON) throws(GeoError) -> Polygon {
        guard case .array(let rings) = value else { throw GeoError("Coordinates of polygon must be an array") }
        if rings.count != 1 { throw GeoError("Only one simple loop is allowed in a big polygon: \(ShellFormat.value(value))") }
        let vertices = try ring(rings[0])
        if let problem = LoopValidation.problem(vertices) {
            throw GeoError("Loop is not valid: \(ShellFormat.value(value)) \(problem)")
        }
        return Polygon(shell: Loop(vertices, normalize: false), holes: [])
    }
}
