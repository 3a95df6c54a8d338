import FolioBSON
import FolioQuery
import FolioStorage
import FolioVector

// Search index management (createSearchIndexes, $listSearchIndexes, updateSearchIndex,
// dropSearchIndex) and `$vectorSearch`. Indexes are built inside the command's storage
// transaction, so one that is listed is complete ("READY", queryable) and one whose build
// failed leaves nothing behind.

extension Engine {
    /// Creates search indexes: `{name, type, definition}` each (name "default" and type
    /// "search" when absent, as the drivers and Atlas take them). Returns each one's id and name.
    /// - Throws: 26 NamespaceNotFound, 68 IndexAlreadyExists, 115 for Atlas Search's "search"
    ///   type, 2 BadValue for definitions Atlas refuses, 263 in a transaction.
    public func createSearchIndexes(_ ns: Namespace, _ specifications: [Document]) throws(FolioError) -> [(id: String, name: String)] {
        guard let registry = vectorIndexes else {
            throw FolioError(.operationNotSupportedInTransaction, "Cannot run 'createSearchIndexes' in a multi-document transaction.")
        }
        var requested: [(name: String, definition: Document)] = []
        for spec in specifications {
            for (key, _) in spec where !["name", "type", "definition"].contains(key) {
                throw FolioError(ErrorCode(rawValue: 40415), "BSON field 'createSearchIndexes.indexes.\(key)' is an unknown field.")
            }
            var name = "default"
            if let n = spec["name"] {
                guard case .string(let s) = n else {
                    throw FolioError(.typeMismatch, "BSON field 'createSearchIndexes.indexes.name' is the wrong type '\(n.type.alias)', expected type 'string'")
                }
                name = s
            }
            var type = "search"
            if let t = spec["type"] {
                guard case .string(let s) = t else {
                    throw FolioError(.typeMismatch, "BSON field 'createSearchIndexes.indexes.type' is the wrong type '\(t.type.alias)', expected type 'string'")
                }
                type = s
            }
            guard let d = spec["definition"] else {
                throw FolioError(ErrorCode(rawValue: 40414), "BSON field 'createSearchIndexes.indexes.definition' is missing but a required field")
            }
            guard case .document(let definition) = d else {
                throw FolioError(.typeMismatch, "BSON field 'createSearchIndexes.indexes.definition' is the wrong type '\(d.type.alias)', expected type 'object'")
            }
            switch type {
            case "vectorSearch": break
            case "search":
                throw FolioError(.commandNotSupported, "Atlas Search indexes (type \"search\", for $search) are not supported by Folio; vector indexes (type \"vectorSearch\") are")
            default:
                throw FolioError(.badValue, "Invalid index type: \"\(type)\"; expected \"search\" or \"vectorSearch\"")
            }
            _ = try VectorIndexDefinition(parsing: definition)
            if requested.contains(where: { $0.name == name }) {
                throw FolioError(.indexAlreadyExists, "Duplicate index name \"\(name)\" in the request")
            }
            requested.append((name, definition))
        }
        return try folio {
            try committer.write(durable: true) { txn -> [(id: String, name: String)] in
                guard var entry = self.entry(ns) else {
                    throw FolioError(.namespaceNotFound, "Collection '\(ns)' does not exist.")
                }
                var created: [(id: String, name: String)] = []
                for (name, definition) in requested {
                    if entry.searchIndexes.contains(where: { $0.name == name }) {
                        throw FolioError(.indexAlreadyExists, "Index \(name) already exists.")
                    }
                    let id = ObjectID().hex
                    let descriptor = try SearchIndexDescriptor(id: id, name: name, definition: definition, version: 0,
                                                               createdAt: Int64(ObjectID.currentSeconds()) * 1000, recordStore: entry.recordStore)
                    try self.buildVectorIndex(descriptor, entry, registry, txn)
                    entry.searchIndexes.append(descriptor)
                    created.append((id, name))
                }
                try self.saveEntry(entry, txn)
                return created
            }
        }
    }

    /// Builds a vector index's graph over the collection and writes its store; the state is
    /// installed at once (the writes that follow in this batch keep it current) and taken
    /// out again if the write does not commit.
    private func buildVectorIndex(_ descriptor: SearchIndexDescriptor, _ entry: CollectionEntry, _ registry: VectorIndexRegistry,
                                  _ txn: any StorageWriteTransaction) throws {
        try txn.createStore(descriptor.store)
        let state = try VectorIndexState(descriptor)
        try state.build(from: entry.recordStore, txn)
        registry.watch(entry.recordStore)
        registry.install(state)
        (txn as? CountingTransaction)?.addUndo([{ registry.forget(descriptor.store) }])
    }

    /// The documents `$listSearchIndexes` returns: every search index, or the one with this
    /// id or name; none for a collection that does not exist.
    public func listSearchIndexes(_ ns: Namespace, id: String? = nil, name: String? = nil) -> [Document] {
        guard let entry = entry(ns) else { return [] }
        return entry.searchIndexes.filter { (id == nil || $0.id == id) && (name == nil || $0.name == name) }.map(\.listing)
    }

    /// Replaces a search index's definition, rebuilding its graph beside the old one.
    /// - Throws: 26 NamespaceNotFound, 27 IndexNotFound, 2 BadValue.
    public func updateSearchIndex(_ ns: Namespace, id: String?, name: String?, definition: Document) throws(FolioError) {
        guard let registry = vectorIndexes else {
            throw FolioError(.operationNotSupportedInTransaction, "Cannot run 'updateSearchIndex' in a multi-document transaction.")
        }
        _ = try VectorIndexDefinition(parsing: definition)
        try folio {
            try committer.write(durable: true) { txn in
                guard var entry = self.entry(ns) else { throw FolioError(.namespaceNotFound, "Collection '\(ns)' does not exist.") }
                let i = try Engine.searchIndexPosition(entry, id: id, name: name)
                let old = entry.searchIndexes[i]
                let descriptor = try SearchIndexDescriptor(id: old.id, name: old.name, definition: definition, version: old.version + 1,
                                                           createdAt: Int64(ObjectID.currentSeconds()) * 1000, recordStore: entry.recordStore)
                try txn.dropStore(old.store)
                try self.buildVectorIndex(descriptor, entry, registry, txn)
                entry.searchIndexes[i] = descriptor
                try self.saveEntry(entry, txn)
                registry.forget(old.store)
            }
        }
    }

    /// Drops a search index.
    /// - Throws: 26 NamespaceNotFound, 27 IndexNotFound.
    public func dropSearchIndex(_ ns: Namespace, id: String?, name: String?) throws(FolioError) {
        guard let registry = vectorIndexes else {
            throw FolioError(.operationNotSupportedInTransaction, "Cannot run 'dropSearchIndex' in a multi-document transaction.")
        }
        try folio {
            try committer.write(durable: true) { txn in
                guard var entry = self.entry(ns) else { throw FolioError(.namespaceNotFound, "Collection '\(ns)' does not exist.") }
                let i = try Engine.searchIndexPosition(entry, id: id, name: name)
                let old = entry.searchIndexes.remove(at: i)
                try txn.dropStore(old.store)
                try self.saveEntry(entry, txn)
                registry.forget(old.store)
            }
        }
    }

    static func searchIndexPosition(_ entry: CollectionEntry, id: String?, name: String?) throws(FolioError) -> Int {
        guard let i = entry.searchIndexes.firstIndex(where: { (id == nil || $0.id == id) && (name == nil || $0.name == name) }) else {
            throw FolioError(.indexNotFound, "Index \(name ?? id ?? "") not found for collection \(entry.namespace)")
        }
        return i
    }

    /// What explain says of a `$vectorSearch`: the index, how it searches (the HNSW graph, or
    /// every vector when `exact`), the graph's size, and past queryPlanner what it returned.
    func explainVectorSearch(_ spec: VectorSearchSpec, _ ns: Namespace, verbosity: ExplainVerbosity) throws(FolioError) -> Document {
        guard let registry = vectorIndexes, let entry = entry(ns),
              let descriptor = entry.searchIndexes.first(where: { $0.name == spec.index }) else {
            return ["plan": "EOF", "reason": "no such collection or search index"]
        }
        let snapshot = try Folio_storage { () throws(StorageError) in try storage.snapshot() }
        defer { snapshot.close() }
        let state = try folio { try registry.state(descriptor) { snapshot } }
        let (nodes, live) = state.read { (state.graph.count, state.graph.liveCount) }
        var out: Document = ["plan": spec.exact ? "EXACT" : "HNSW", "index": .string(descriptor.name), "indexID": .string(descriptor.id),
                             "similarity": .string(descriptor.parsed.similarity.rawValue),
                             "quantization": .string(descriptor.parsed.quantization.rawValue),
                             "graphNodes": .int64(Int64(nodes)), "liveVectors": .int64(Int64(live))]
        if !spec.exact { out.append("numCandidates", .int64(Int64(spec.numCandidates))) }
        if descriptor.parsed.quantization != .none {
            // Quantized graphs keep codes, not vectors: candidates are rescored from the stored
            // float32 vectors, and `exact` scans those instead of the graph.
            out.append("rescoredFrom", .string("stored float32 vectors"))
        }
        if verbosity != .queryPlanner {
            out.append("nReturned", .int64(Int64(try vectorSearch(spec, ns, limitHint: nil).count)))
        }
        return out
    }

    /// Runs a `$vectorSearch`: the index's `limit` nearest documents (nearest first), each with
    /// its score in `VectorSearchSpec.scoreField`. `limitHint` (a `$limit` right after) lowers
    /// what is fetched. A missing collection or index gives no documents, as Atlas does.
    func vectorSearch(_ spec: VectorSearchSpec, _ ns: Namespace, limitHint: Int?) throws(FolioError) -> [Document] {
        guard let registry = vectorIndexes else {
            throw FolioError(.operationNotSupportedInTransaction, "$vectorSearch is not allowed in a multi-document transaction or a snapshot read")
        }
        guard let entry = entry(ns), let descriptor = entry.searchIndexes.first(where: { $0.name == spec.index }) else { return [] }
        let definition = descriptor.parsed
        guard spec.path == definition.path else {
            throw FolioError(.badValue, "Path '\(spec.path)' needs to be indexed as vector")
        }
        var query: [Float]
        switch VectorValues.parse(spec.queryVector) {
        case .success(let v): query = v
        case .failure(let e): throw FolioError(.badValue, "\"$vectorSearch.queryVector\": \(e.message)")
        }
        guard query.count == definition.dimensions else {
            throw FolioError(.badValue, "vector field is indexed with \(definition.dimensions) dimensions but queried with \(query.count)")
        }
        if definition.similarity.normalizes, !normalize(&query) {
            throw FolioError(.badValue, "\"$vectorSearch.queryVector\" cannot be a zero vector with cosine similarity")
        }
        var filter: Filter?
        if let f = spec.filter {
            for path in VectorSearchSpec.filterPaths(f) where !definition.filterPaths.contains(path) {
                throw FolioError(.badValue, "Path '\(path)' needs to be indexed as filter")
            }
            filter = try Filter(parsing: f)
        }
        let k = min(spec.limit, limitHint ?? spec.limit)
        let snapshot = try Folio_storage { () throws(StorageError) in try storage.snapshot() }
        defer { snapshot.close() }
        let similarity = definition.similarity
        let found: [(key: [UInt8], score: Float)]
        if definition.quantization != .none && spec.exact {
            // Exact search over full-fidelity vectors, as Atlas's ENN: the graph holds only codes.
            found = try exactSearchStored(descriptor, query, k: k, filter: filter, snapshot)
        } else {
            let state = try folio { try registry.state(descriptor) { snapshot } }
            // A quantized walk keeps all numCandidates for rescoring; its distances only rank.
            let walkK = definition.quantization == .none ? k : max(k, spec.numCandidates)
            let nearest: [(node: UInt32, key: [UInt8], distance: Float)] = state.read {
                let graph = state.graph
                let accept: ((UInt32) -> Bool)? = filter.map { filter in
                    { node in
                        guard let values = VectorIndexState.filterValues(graph.attributes(node)) else { return filter.matches(Document()) }
                        return filter.matches(values)
                    }
                }
                let nearest = query.withUnsafeBufferPointer { q in
                    spec.exact ? graph.exactSearch(q, k: walkK, accept: accept) : graph.search(q, k: walkK, ef: spec.numCandidates, accept: accept)
                }
                return nearest.map { ($0.node, VectorIndexState.recordKey(graph.attributes($0.node)), $0.distance) }
            }
            if definition.quantization == .none {
                found = nearest.map { ($0.key, similarity.score(distance: $0.distance)) }
            } else {
                found = try rescore(descriptor, query, nearest, k: k, snapshot)
            }
        }
        var out: [Document] = []
        out.reserveCapacity(found.count)
        for (key, score) in found {
            guard let bytes = try Folio_storage({ () throws(StorageError) in try snapshot.get(entry.recordStore, key) }) else { continue }
            var d = try Folio_document(bytes)
            d.append(VectorSearchSpec.scoreField, .double(Double(score)))
            out.append(d)
        }
        return out
    }

    /// A quantized walk's candidates ranked again by their full vectors (the index's node
    /// records as the reader's snapshot has them; a node the snapshot lacks belongs to a write
    /// not yet committed and is left out): the `k` nearest with their exact scores.
    private func rescore(_ descriptor: SearchIndexDescriptor, _ query: [Float], _ candidates: [(node: UInt32, key: [UInt8], distance: Float)],
                         k: Int, _ snapshot: any StorageSnapshot) throws(FolioError) -> [(key: [UInt8], score: Float)] {
        let dims = descriptor.parsed.dimensions, similarity = descriptor.parsed.similarity
        var best = NearestK<[UInt8]>(k)
        var distance = StoredVectorDistance(query, similarity: similarity)
        for c in candidates {
            guard let value = try Folio_storage({ () throws(StorageError) in try snapshot.get(descriptor.store, VectorStoreKeys.node(c.node)) }),
                  value.count >= 2 + dims * 4 else { continue }
            best.offer(value.withUnsafeBufferPointer { distance(toRecord: $0) }, c.key)
        }
        return best.sorted().map { ($0.item, similarity.score(distance: $0.distance)) }
    }

    /// Exact search over the full vectors in an index's node records (a quantized index, whose
    /// graph holds only codes): one pass over the store, the filter matched on each node's
    /// stored filter values.
    private func exactSearchStored(_ descriptor: SearchIndexDescriptor, _ query: [Float], k: Int, filter: Filter?,
                                   _ snapshot: any StorageSnapshot) throws(FolioError) -> [(key: [UInt8], score: Float)] {
        let dims = descriptor.parsed.dimensions, similarity = descriptor.parsed.similarity
        var best = NearestK<[UInt8]>(k)
        var corrupt = false
        var distance = StoredVectorDistance(query, similarity: similarity)
        try Folio_storage { () throws(StorageError) in
            _ = try snapshot.visit(descriptor.store, .prefix([1]), limit: nil) { _, value in
                guard value.count >= 6 + dims * 4 else {
                    corrupt = true
                    return false
                }
                if value[1] != 0 { return true }
                let d = distance(toRecord: value)
                guard best.admits(d) else { return true }
                let attributes = Array(value[(2 + dims * 4)...])
                if let filter {
                    let values = VectorIndexState.filterValues(attributes)
                    guard values.map({ filter.matches($0) }) ?? filter.matches(Document()) else { return true }
                }
                best.offer(d, VectorIndexState.recordKey(attributes))
                return true
            }
        }
        if corrupt { throw FolioError(.internalError, "data corruption: vector index \(descriptor.name) has a truncated node record") }
        return best.sorted().map { ($0.item, similarity.score(distance: $0.distance)) }
    }
}

/// Distances from a query to the full vectors of node records (rescoring, exact search of a
/// quantized index), through one scratch buffer instead of an array per record.
struct StoredVectorDistance {
    let query: [Float]
    let similarity: VectorSimilarity
    private var scratch: [Float]

    init(_ query: [Float], similarity: VectorSimilarity) {
        self.query = query
        self.similarity = similarity
        scratch = [Float](repeating: 0, count: query.count)
    }

    /// The distance to a node record's vector (the caller checked the record's length).
    mutating func callAsFunction(toRecord value: UnsafeBufferPointer<UInt8>) -> Float {
        let dims = query.count, similarity = self.similarity
        scratch.withUnsafeMutableBufferPointer { VectorStoreKeys.copyVector(value, into: $0) }
        return query.withUnsafeBufferPointer { q in
            scratch.withUnsafeBufferPointer { similarity.distance(q.baseAddress!, $0.baseAddress!, dims) }
        }
    }
}
