import FolioBSON
import FolioGeo
import FolioQuery

extension Engine {
    /// The `$geoNear` stage over a collection: a near search on its 2dsphere index (the one
    /// `key` names, or its only one), each document given its distance and location.
    /// - Throws: 27 IndexNotFound without a geo index, or with several and no `key`.
    func geoNear(_ spec: GeoNearSpec, _ ns: Namespace, hint: BSON?, limit: Int, environment env: PipelineEnvironment) throws(FolioError) -> any DocumentStream {
        let geoPaths = (entry(ns)?.indexes ?? []).filter { ($0.geo != nil || $0.planar != nil) && !$0.hidden && !$0.building }
            .flatMap { $0.fields.filter { $0.geo || $0.planar }.map(\.path.dotted) }
        let path: String
        if let key = spec.key {
            path = key
        } else {
            let distinct = Array(Set(geoPaths))
            guard let only = distinct.first else {
                throw FolioError(.indexNotFound, "$geoNear requires a 2d or 2dsphere index, but none were found")
            }
            if distinct.count > 1 {
                throw FolioError(.indexNotFound, "There is more than one geo index on \(ns); unsure which to use for $geoNear")
            }
            path = only
        }
        let cursor = try find(ns, filter: Filter(spec.filter(path: FieldPath(path))), limit: limit, hint: hint, allowDiskUse: env.allowDiskUse,
                              deadline: env.deadline, sortMemoryLimitBytes: env.sortMemoryBytes, geoDistance: true)
        let scale = spec.near.unitsPerRadian * spec.distanceMultiplier
        return MapStream(CursorStream(cursor, fields: nil)) { d in
            var out = d
            let radians = out.removeValue(forKey: GeoNearFields.distance)?.asDouble ?? 0
            let location = out.removeValue(forKey: GeoNearFields.location)
            out = DocumentPaths.setting(spec.distanceField.components[...], to: .double(radians * scale), in: out)
            if let includeLocs = spec.includeLocs, let location {
                out = DocumentPaths.setting(includeLocs.components[...], to: location, in: out)
            }
            return out
        }
    }
}
