import FolioBSON
import FolioQuery
import FolioVector

// Search index definitions, as Atlas Vector Search takes them:
//   {name, type: "vectorSearch", definition: {fields: [
//       {type: "vector", path, numDimensions, similarity, quantization},
//       {type: "filter", path}]}}
// Only the vectorSearch type is served; Atlas Search's full-text "search" type is refused
// with 115, never stored and ignored.

/// A vector index's parsed definition.
public struct VectorIndexDefinition: Sendable, Equatable {
    public var path: String
    public var dimensions: Int
    public var similarity: VectorSimilarity
    public var quantization: VectorQuantization
    /// Paths `$vectorSearch`'s `filter` may name.
    public var filterPaths: [String]

    /// Atlas's limit on numDimensions.
    public static let maximumDimensions = 8192

    /// Parses `definition`, with errors that name the offending field as mongot's do.
    public init(parsing definition: Document) throws(FolioError) {
        func bad(_ message: String) -> FolioError { FolioError(.badValue, "Invalid index definition: \(message)") }
        for (key, _) in definition where key != "fields" {
            throw bad("\"\(key)\" is not a valid field of a vectorSearch index definition")
        }
        guard let fieldsValue = definition["fields"] else { throw bad("\"fields\" is required") }
        guard case .array(let fields) = fieldsValue else { throw bad("\"fields\" must be an array") }
        var vector: (String, Int, VectorSimilarity, VectorQuantization)?
        var filters: [String] = []
        var seen = Set<String>()
        for (i, value) in fields.enumerated() {
            let at = "fields[\(i)]"
            guard case .document(let field) = value else { throw bad("\"\(at)\" must be a document") }
            guard case .string(let type)? = field["type"] else { throw bad("\"\(at).type\" must be \"vector\" or \"filter\"") }
            guard case .string(let path)? = field["path"], !path.isEmpty else { throw bad("\"\(at).path\" must be a non-empty string") }
            if path.hasPrefix("$") || path.split(separator: ".", omittingEmptySubsequences: false).contains(where: \.isEmpty) {
                throw bad("\"\(at).path\" is not a valid field path: \(path)")
            }
            guard seen.insert(path).inserted else { throw bad("path \"\(path)\" is indexed more than once") }
            switch type {
            case "vector":
                for (key, _) in field where !["type", "path", "numDimensions", "similarity", "quantization", "hnswOptions"].contains(key) {
                    throw bad("\"\(at).\(key)\" is not a valid field of a vector field definition")
                }
                if field["hnswOptions"] != nil {
                    throw FolioError(.commandNotSupported, "\(at).hnswOptions is not supported: Folio's graph uses its own fixed parameters")
                }
                guard vector == nil else { throw bad("only one field of type \"vector\" is supported per index") }
                guard let n = field["numDimensions"], n.isNumber, let dims = n.exactInt64, dims >= 1,
                      dims <= Int64(VectorIndexDefinition.maximumDimensions) else {
                    throw bad("\"\(at).numDimensions\" must be an integer between 1 and \(VectorIndexDefinition.maximumDimensions)")
                }
                guard case .string(let s)? = field["similarity"], let similarity = VectorSimilarity(rawValue: s) else {
                    throw bad("\"\(at).similarity\" must be one of [euclidean, cosine, dotProduct]")
                }
                var quantization = VectorQuantization.none
                if let q = field["quantization"] {
                    guard case .string(let s) = q, let parsed = VectorQuantization(rawValue: s) else {
                        throw bad("\"\(at).quantization\" must be one of [none, scalar, binary]")
                    }
                    quantization = parsed
                }
                vector = (path, Int(dims), similarity, quantization)
            case "filter":
                for (key, _) in field where !["type", "path"].contains(key) {
                    throw bad("\"\(at).\(key)\" is not a valid field of a filter field definition")
                }
                filters.append(path)
            default:
                throw bad("\"\(at).type\" must be \"vector\" or \"filter\", not \"\(type)\"")
            }
        }
        guard let vector else { throw bad("a vectorSearch index needs one field of type \"vector\"") }
        (path, dimensions, similarity, quantization) = vector
        filterPaths = filters
    }
}

/// A search index as the catalog keeps it.
public struct SearchIndexDescriptor: Sendable, Equatable {
    /// Atlas's index id: 24 hexadecimal digits.
    public var id: String
    public var name: String
    public var type: String
    /// The latest definition, as given.
    public var definition: Document
    public var parsed: VectorIndexDefinition
    /// Version of the definition (0 at creation, +1 per updateSearchIndex).
    public var version: Int
    /// When the latest definition was given (milliseconds since the epoch).
    public var createdAt: Int64
    /// The store holding the index's graph (see VectorIndexStore).
    public var store: String

    static let storePrefix = "v."

    init(id: String, name: String, definition: Document, version: Int, createdAt: Int64, recordStore: String) throws(FolioError) {
        self.id = id
        self.name = name
        self.type = "vectorSearch"
        self.definition = definition
        self.parsed = try VectorIndexDefinition(parsing: definition)
        self.version = version
        self.createdAt = createdAt
        // A new store per definition version: an update builds beside the old graph.
        self.store = SearchIndexDescriptor.storePrefix + recordStore.dropFirst(CollectionEntry.recordStorePrefix.count) + "." + id + ".\(version)"
    }

    var catalogDocument: Document {
        ["id": .string(id), "name": .string(name), "type": .string(type), "definition": .document(definition),
         "version": .int64(Int64(version)), "createdAt": .int64(createdAt), "store": .string(store)]
    }

    init(catalogDocument d: Document) throws(FolioError) {
        guard case .string(let id)? = d["id"], case .string(let name)? = d["name"], case .document(let definition)? = d["definition"],
              case .int64(let version)? = d["version"], case .int64(let createdAt)? = d["createdAt"], case .string(let store)? = d["store"] else {
            throw FolioError(.internalError, "corrupt search index entry \(d)")
        }
        self.id = id
        self.name = name
        self.type = "vectorSearch"
        self.definition = definition
        self.parsed = try VectorIndexDefinition(parsing: definition)
        self.version = Int(version)
        self.createdAt = createdAt
        self.store = store
    }

    /// The document `$listSearchIndexes` returns, with the fields drivers and tools poll.
    var listing: Document {
        let latest: Document = ["version": .int64(Int64(version)), "createdAt": .datetime(createdAt)]
        return ["id": .string(id), "name": .string(name), "type": .string(type), "status": "READY", "queryable": true,
                "latestDefinitionVersion": .document(latest), "latestDefinition": .document(definition),
                "statusDetail": .array([.document(["hostname": "folio", "status": "READY", "queryable": true,
                                                    "mainIndex": .document(["status": "READY", "queryable": true,
                                                                            "definitionVersion": .document(latest),
                                                                            "definition": .document(definition)])])])]
    }
}
