import FolioBSON
import FolioEngine
import FolioQuery

/// createSearchIndexes, updateSearchIndex and dropSearchIndex, as the drivers'
/// create_search_index / update_search_index / drop_search_index send them
/// ($listSearchIndexes is an aggregation stage).
enum SearchIndexCommands {
    @Sendable static func create(_ r: CommandRequest) throws(FolioError) -> Document {
        let ns = try r.namespace()
        let specs = try r.documents("indexes")
        let created = try r.engine.createSearchIndexes(ns, specs)
        return ["indexesCreated": .array(created.map { .document(["id": .string($0.id), "name": .string($0.name)]) })]
    }

    @Sendable static func update(_ r: CommandRequest) throws(FolioError) -> Document {
        let ns = try r.namespace()
        let (id, name) = try target(r, "updateSearchIndex")
        guard let d = r.body["definition"] else {
            throw FolioError(ErrorCode(rawValue: 40414), "BSON field 'updateSearchIndex.definition' is missing but a required field")
        }
        guard case .document(let definition) = d else {
            throw FolioError(.typeMismatch, "BSON field 'updateSearchIndex.definition' is the wrong type '\(d.type.alias)', expected type 'object'")
        }
        try r.engine.updateSearchIndex(ns, id: id, name: name, definition: definition)
        return [:]
    }

    @Sendable static func drop(_ r: CommandRequest) throws(FolioError) -> Document {
        let ns = try r.namespace()
        let (id, name) = try target(r, "dropSearchIndex")
        try r.engine.dropSearchIndex(ns, id: id, name: name)
        return [:]
    }

    /// The index a command names: `id` or `name`, exactly one.
    private static func target(_ r: CommandRequest, _ command: String) throws(FolioError) -> (String?, String?) {
        var out: [String: String] = [:]
        for key in ["id", "name"] {
            guard let v = r.body[key] else { continue }
            guard case .string(let s) = v else {
                throw FolioError(.typeMismatch, "BSON field '\(command).\(key)' is the wrong type '\(v.type.alias)', expected type 'string'")
            }
            out[key] = s
        }
        if out.count == 2 { throw FolioError(.invalidOptions, "Cannot set both 'name' and 'id'.") }
        if out.isEmpty { throw FolioError(.invalidOptions, "Either 'name' or 'id' must be specified.") }
        return (out["id"], out["name"])
    }
}
