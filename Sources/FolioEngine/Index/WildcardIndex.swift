import FolioBSON
import FolioQuery

// Wildcard indexes: `{"$**": 1}` indexes every field of every document (`_id` only when the
// projection asks for it), `{"a.$**": 1}` every field under `a`, and `wildcardProjection`
// chooses the paths of a `$**` index by inclusion or exclusion.
//
// Keys (as MongoDB builds them): the projected document is walked; each leaf contributes
// the key (dotted path, value). Array elements are walked under the array's own path (no
// positions), an array inside an array is a value, an empty array is `undefined` and an
// empty document `{}`; fields whose names contain a dot are skipped. The paths where an
// array was walked are the index's multikey paths.
//
// A query uses the index through one path at a time: the planner expands it into a
// two-field index `{$_path: 1, <path>: 1}` whose first field is pinned to the path, so
// bounds, scans and explain work as for an ordinary compound index.

/// What a wildcard index covers.
public struct WildcardSpec: Sendable {
    /// `a.b` for `{"a.b.$**": 1}`; nil for `$**`.
    public let root: FieldPath?
    /// The `wildcardProjection` as given.
    public let projectionSpec: Document?
    /// The projection applied before walking (nil: the whole document without `_id`).
    let projection: Projection?
    /// The projection's paths, flattened, with inclusion (true) or exclusion.
    let rules: [(path: [String], include: Bool)]
    let isInclusion: Bool
    let includesID: Bool

    /// - Throws: the projection's parse errors; 9 FailedToParse for values other than
    ///   inclusions and exclusions.
    init(root: String, projection spec: Document?) throws(FolioError) {
        var rules: [(path: [String], include: Bool)] = []
        func flatten(_ d: Document, _ prefix: [String]) throws(FolioError) {
            for (k, v) in d {
                let path = prefix + FieldPath(k).components
                if case .document(let nested) = v, !nested.isEmpty, !(nested.fieldNames.first?.hasPrefix("$") ?? false) {
                    try flatten(nested, path)
                } else if v.isNumber || v.type == .bool {
                    rules.append((path, v.isTruthy))
                } else {
                    throw FolioError(.failedToParse, "The 'wildcardProjection' may only contain inclusions and exclusions, but '\(path.joined(separator: "."))' is \(ShellFormat.value(v))")
                }
            }
        }
        if root.isEmpty {
            self.root = nil
            self.projectionSpec = spec
            if let spec {
                try flatten(spec, [])
                var full = spec
                // `_id` is left out unless the projection names it.
                if !rules.contains(where: { $0.path[0] == "_id" }) { full.append("_id", .int32(0)) }
                projection = try Projection(parsing: full, findOperators: false)
            } else {
                projection = nil
            }
        } else {
            self.root = FieldPath(root)
            self.projectionSpec = nil
            rules = [(FieldPath(root).components, true)]
            projection = try Projection(parsing: [root: .int32(1), "_id": .int32(0)], findOperators: false)
        }
        let nonID = rules.filter { $0.path != ["_id"] }
        isInclusion = nonID.first?.include ?? (rules.first { $0.path == ["_id"] }?.include ?? false)
        includesID = rules.contains { $0.path == ["_id"] && $0.include }
        self.rules = nonID
    }

    /// Whether the index holds the keys of `path` (and of everything under it).
    func admits(_ path: FieldPath) -> Bool {
        let c = path.components
        func under(_ r: [String]) -> Bool { c.count >= r.count && Array(c[..<r.count]) == r }
        if c.first == "_id" && root == nil { return includesID }
        if isInclusion { return rules.contains { under($0.path) } }
        return !rules.contains { under($0.path) }
    }

    /// The keys of one document.
    func keys(for document: Document, ascending: Bool) throws(FolioError) -> IndexKeys {
        var walker = WildcardWalker()
        if let projection {
            walker.walk(try projection.apply(to: document), prefix: "", skipID: false)
        } else {
            walker.walk(document, prefix: "", skipID: true)
        }
        if walker.entries.count > IndexDescriptor.maximumKeysPerDocument {
            throw FolioError(.cannotCreateIndex, "a document produces more than \(IndexDescriptor.maximumKeysPerDocument) wildcard index keys")
        }
        var seen = Set<[UInt8]>()
        var out = IndexKeys(keys: [], isMultikey: !walker.multikeyPaths.isEmpty, values: [], multikeyPaths: walker.multikeyPaths)
        for (path, value) in walker.entries {
            var key = KeyString.encode(.string(path))
            KeyString.append(value, ascending: ascending, to: &key)
            if seen.insert(key).inserted {
                out.keys.append(key)
                out.values.append([.string(path), value])
            }
        }
        return out
    }
}

/// Walks a (projected) document into wildcard (path, value) leaves.
struct WildcardWalker {
    var entries: [(String, BSON)] = []
    var multikeyPaths: [String] = []

    mutating func walk(_ document: Document, prefix: String, skipID: Bool) {
        for (name, value) in document {
            if name.utf8.contains(UInt8(ascii: ".")) || (skipID && name == "_id") { continue }
            visit(value, prefix.isEmpty ? name : prefix + "." + name, inArray: false)
        }
    }

    mutating func visit(_ value: BSON, _ path: String, inArray: Bool) {
        switch value {
        case .array(let elements):
            // An array inside an array is indexed as a value, not walked.
            if inArray { entries.append((path, value)); return }
            if !multikeyPaths.contains(path) { multikeyPaths.append(path) }
            if elements.isEmpty { entries.append((path, .undefined)); return }
            for e in elements { visit(e, path, inArray: true) }
        case .document(let d):
            if d.isEmpty { entries.append((path, value)); return }
            walk(d, prefix: path, skipID: false)
        default:
            entries.append((path, value))
        }
    }
}

extension IndexDescriptor {
    /// The name of the first field of an expanded wildcard index.
    static let wildcardPathField = "$_path"

    /// Whether this is a wildcard index expanded for one path (planning only).
    var isWildcardExpansion: Bool { wildcard != nil && fields.count == 2 }

    /// The wildcard index seen as `{$_path: 1, <path>: ±1}` for a query on `path`. It is
    /// multikey when the path or one of its prefixes held an array.
    func wildcardExpansion(for path: FieldPath) -> IndexDescriptor {
        var e = self
        let ascending = fields.last!.ascending
        e.fields = [IndexField(path: FieldPath(IndexDescriptor.wildcardPathField), ascending: true),
                    IndexField(path: path, ascending: ascending)]
        e.keyPattern = [IndexDescriptor.wildcardPathField: .int32(1), path.dotted: .int32(ascending ? 1 : -1)]
        e.isMultikey = !e.wildcardMultikeyPrefixes.isEmpty
        return e
    }

    /// The multikey prefixes of an expanded wildcard index's path (explain's multiKeyPaths).
    var wildcardMultikeyPrefixes: [String] {
        guard isWildcardExpansion else { return [] }
        let c = fields[1].path.components
        return c.indices.map { c[...$0].joined(separator: ".") }.filter { multikeyPaths.contains($0) }
    }
}
