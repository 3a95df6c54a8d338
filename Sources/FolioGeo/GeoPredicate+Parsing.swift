// Parsing of the geo operators' operands, with MongoDB's messages (all BadValue, code 2).

import FolioBSON

extension GeoPredicate {
    /// `{$geoWithin: {$geometry | $box | $polygon | $center | $centerSphere: ...}}`.
    public static func within(_ operand: BSON) throws(GeoError) -> GeoPredicate {
        guard case .document(let d) = operand, !d.isEmpty else { throw GeoError("$geoWithin must be an object") }
        var region: WithinRegion?
        for (shape, value) in d {
            if shape == "$uniqueDocs" { continue }
            if region != nil { throw GeoError("can't parse extra field: \(shape)") }
            switch shape {
            case "$geometry":
                guard case .document(let g) = value else { throw GeoError("$geometry must be a GeoJSON object: \(ShellFormat.value(value))") }
                let geometry = try GeoJSONParser.parseGeoJSON(g, allowBigPolygon: true)
                switch geometry {
                case .polygon, .multiPolygon: region = .geometry(geometry)
                default: throw GeoError("$geoWithin not supported with provided geometry: \(ShellFormat.value(operand))")
                }
            case "$box":
                let points = try flatPoints(value)
                guard points.count == 2 else { throw GeoError("Point must be an array or object") }
                region = .box(minX: min(points[0].x, points[1].x), minY: min(points[0].y, points[1].y),
                              maxX: max(points[0].x, points[1].x), maxY: max(points[0].y, points[1].y))
            case "$polygon":
                let points = try flatPoints(value)
                if points.count < 3 { throw GeoError("Polygon must have at least 3 points") }
                region = .flatPolygon(points)
            case "$center", "$centerSphere":
                let items = try elements(value)
                guard items.count >= 2 else { throw GeoError(items.isEmpty ? "Point must be an array or object" : "radius must be a non-negative number") }
                let center = try GeoJSONParser.parseFlatPoint(items[0])
                guard items[1].isNumber, let radius = items[1].asDouble, radius >= 0 else { throw GeoError("radius must be a non-negative number") }
                if items.count > 2 { throw GeoError("Only 2 fields allowed for circular region") }
                if shape == "$center" {
                    region = .circle(center, radius: radius)
                } else {
                    try GeoJSONParser.checkLngLat(center)
                    region = .cap(Cap(center: center.point, radius: radius))
                }
            default:
                throw GeoError("unknown geo specifier: \(shape): \(ShellFormat.value(value))")
            }
        }
        guard let region else { throw GeoError("$geoWithin must be an object") }
        return GeoPredicate(kind: .within(region), name: "$geoWithin", form: d)
    }

    /// `{$geoIntersects: {$geometry: GeoJSON}}`.
    public static func intersects(_ operand: BSON) throws(GeoError) -> GeoPredicate {
        guard case .document(let d) = operand, case .document(let g)? = d["$geometry"], d.count == 1 else {
            throw GeoError("$geoIntersect not supported with provided geometry: \(ShellFormat.value(operand))")
        }
        let geometry = try GeoJSONParser.parseGeoJSON(g, allowBigPolygon: true)
        return GeoPredicate(kind: .intersects(geometry), name: "$geoIntersects", form: d)
    }

    /// `$near` / `$nearSphere` from a field's operator document (`$maxDistance` and
    /// `$minDistance` may sit beside the operator, or inside it with `$geometry`).
    public static func near(_ operators: Document) throws(GeoError) -> GeoPredicate {
        let name = operators["$nearSphere"] != nil ? "$nearSphere" : "$near"
        guard let operand = operators[name] else { throw GeoError("$maxDistance needs $near or $nearSphere") }
        if operators["$near"] != nil && operators["$nearSphere"] != nil { throw GeoError("duplicate $near and $nearSphere") }
        var maxDistance: Double?, minDistance: Double?
        func distance(_ key: String, _ v: BSON) throws(GeoError) -> Double {
            guard v.isNumber, let d = v.asDouble else { throw GeoError("\(key) must be a number") }
            if !(d >= 0) { throw GeoError("\(key) must be non-negative") }
            return d
        }
        for (k, v) in operators where k != name {
            switch k {
            case "$maxDistance": maxDistance = try distance(k, v)
            case "$minDistance": minDistance = try distance(k, v)
            default: throw GeoError("invalid argument in geo near query: \(k)")
            }
        }
        let query: NearQuery
        if case .document(let d) = operand, let g = d["$geometry"] {
            guard case .document(let point) = g, point["type"]?.stringValue == "Point" else {
                throw GeoError("$near requires a point, given \(ShellFormat.value(g))")
            }
            let geometry = try GeoJSONParser.parseGeoJSON(point, allowBigPolygon: false)
            guard case .point(let p, _) = geometry else { throw GeoError("$near requires a point, given \(ShellFormat.value(g))") }
            for (k, v) in d where k != "$geometry" {
                switch k {
                case "$maxDistance": maxDistance = try distance(k, v)
                case "$minDistance": minDistance = try distance(k, v)
                default: throw GeoError("invalid argument in geo near query: \(k)")
                }
            }
            query = NearQuery(point: p, isGeoJSON: true, spherical: true, maxDistance: maxDistance, minDistance: minDistance)
        } else {
            let p = try GeoJSONParser.parseFlatPoint(operand)
            query = NearQuery(point: p, isGeoJSON: false, spherical: name == "$nearSphere", maxDistance: maxDistance, minDistance: minDistance)
        }
        return GeoPredicate(kind: .near(query), name: name, form: operators)
    }

    static func elements(_ value: BSON) throws(GeoError) -> [BSON] {
        switch value {
        case .array(let a): return a
        case .document(let d): return d.map(\.value)
        default: throw GeoError("Point must be an array or object")
        }
    }

    static func flatPoints(_ value: BSON) throws(GeoError) -> [GeoPoint] {
        var out: [GeoPoint] = []
        for e in try elements(value) { out.append(try GeoJSONParser.parseFlatPoint(e)) }
        return out
    }
}
