import FolioBSON
import FolioGeo
import FolioQuery
import FolioText

// Secondary indexes: what the catalog stores about one, how a createIndexes specification is
// validated into one, and which keys a document contributes to it.
//
// Layout of an index store: key = KeyString of the indexed values (each field ascending or
// inverted for descending) followed by the record key (KeyString of `_id`), value = the
// record key. KeyString is prefix-free, so the field part of a key is a prefix that a range
// scan can bound exactly, and the record key makes every entry unique. A unique index
// checks that no entry with the same field part belongs to another record.

/// One field of an index key pattern.
public struct IndexField: Sendable, Equatable {
    public var path: FieldPath
    public var ascending: Bool
    /// `"hashed"`: the key holds the value's 64-bit hash (`BSON.hashedIndexKey`), which
    /// answers equality only.
    public var hashed = false
    /// `"2dsphere"`: the keys are the S2 cell ids covering the field's geometry.
    public var geo = false
    /// `"2d"`: the keys are the flat grid hashes of the field's legacy coordinate pairs.
    public var planar = false
}

/// A secondary index as the catalog keeps it.
public struct IndexDescriptor: Sendable, Equatable {
    public static func == (a: IndexDescriptor, b: IndexDescriptor) -> Bool { a.catalogDocument == b.catalogDocument }

    public var name: String
    /// The key pattern exactly as given (`{a: 1, b: -1}`), echoed by listIndexes and explain.
    public var keyPattern: Document
    public var fields: [IndexField]
    public var unique: Bool
    public var sparse: Bool
    public var hidden: Bool
    public var partialFilter: Document?
    /// The partial filter, parsed once.
    var partialExpression: MatchExpression?
    /// `expireAfterSeconds` (a TTL index), as given.
    public var expireAfterSeconds: BSON?
    /// Options echoed by listIndexes in the order given (unique, sparse, background, ...).
    public var options: Document
    /// The storage store holding the entries.
    public var store: String
    /// Whether some document has produced more than one key (an array on an indexed path).
    public var isMultikey: Bool
    /// A wildcard index (`{"$**": 1}`, `{"a.$**": 1}`): what it indexes.
    public var wildcard: WildcardSpec?
    /// The paths of a wildcard index where some document had an array.
    public var multikeyPaths: Set<String> = []
    /// Whether entry values carry what restores the key's values exactly (see
    /// `IndexEntryValue`). Indexes created before this format have bare record keys.
    public var typedEntries = false
    /// A text index (`{field: "text"}`): its weights, languages and compound fields. Its keys
    /// are (prefix fields, term, score, suffix fields); entry values are the record key
    /// followed by the score as 8 bytes (`TextIndexEntry`).
    public var text: TextIndexSpec?
    /// A 2dsphere index: the levels its coverings use.
    public var geo: GeoIndexSpec?
    /// A 2d index: its grid (`bits`, `min`, `max`).
    public var planar: PlanarGrid?
    /// Being built while writes go on (IndexBuild.swift): writers keep it up to date, but no
    /// query uses it, listIndexes does not show it, and a restart drops it.
    public var building = false

    /// The specification listIndexes reports: `{v: 2, key, name, ...options}`.
    public var specification: Document {
        var d: Document = ["v": .int32(2), "key": .document(keyPattern), "name": .string(name)]
        for (k, v) in options { d.append(k, v) }
        return d
    }

    /// The catalog's form (the specification plus storage facts).
    var catalogDocument: Document {
        var d = specification
        d.append("$store", .string(store))
        d.append("$multikey", .bool(isMultikey))
        if !multikeyPaths.isEmpty { d.append("$multikeyPaths", .array(multikeyPaths.sorted().map(BSON.string))) }
        if typedEntries { d.append("$typed", true) }
        if building { d.append("$building", true) }
        return d
    }

    init(catalogDocument d: Document) throws(FolioError) {
        guard case .string(let store)? = d["$store"] else { throw FolioError(.internalError, "corrupt index entry \(d)") }
        var spec = Document()
        for (k, v) in d where !k.hasPrefix("$") && k != "v" { spec.append(k, v) }
        self = try IndexDescriptor(specification: spec, store: store)
        isMultikey = d["$multikey"]?.isTruthy ?? false
        multikeyPaths = Set((d["$multikeyPaths"]?.arrayValue ?? []).compactMap(\.stringValue))
        typedEntries = d["$typed"]?.isTruthy ?? false
        building = d["$building"]?.isTruthy ?? false
    }

    /// Validates one createIndexes specification (`{key, name, unique, ...}`).
    /// - Throws: 9 (missing key/name), 67 CannotCreateIndex (bad key pattern or option mix),
    ///   197 InvalidIndexSpecificationOption (unknown field), 14 TypeMismatch.
    public init(specification given: Document, store: String) throws(FolioError) {
        var spec = given
        var textSpec: TextIndexSpec?
        if let key = given["key"]?.documentValue, key.contains(where: { $0.key == "_fts" || $0.value.stringValue == "text" }) {
            spec = try TextIndexSpec.normalize(given)
            textSpec = try TextIndexSpec(normalized: spec)
        }
        guard let keyValue = spec["key"] else {
            throw FolioError(.failedToParse, "The 'key' field is a required property of an index specification")
        }
        guard case .document(let key) = keyValue else {
            throw FolioError(.typeMismatch, "The field 'key' must be an object, but got \(keyValue.type.alias)")
        }
        guard let nameValue = spec["name"] else {
            throw FolioError(.failedToParse, "The 'name' field is a required property of an index specification")
        }
        guard case .string(let name) = nameValue else {
            throw FolioError(.typeMismatch, "The field 'name' must be a string, but got \(nameValue.type.alias)")
        }
        if name.isEmpty { throw FolioError(.cannotCreateIndex, "The index name cannot be empty") }
        if key.isEmpty { throw FolioError(.cannotCreateIndex, "Index keys cannot be empty.") }
        if key.count > IndexDescriptor.maximumFields {
            throw FolioError(.cannotCreateIndex, "Index key pattern has \(key.count) fields; an index may have at most \(IndexDescriptor.maximumFields)")
        }
        var fields: [IndexField] = []
        let wildcardRoot = key.fieldNames.first { $0 == "$**" || $0.hasSuffix(".$**") }
        if wildcardRoot != nil, key.count > 1 {
            throw FolioError(.commandNotSupported, "compound wildcard indexes are not supported by Folio yet")
        }
        for (path, direction) in key {
            if path == wildcardRoot {
                guard direction.isNumber, let d = direction.asDouble, d != 0, !d.isNaN else {
                    if case .string(let kind) = direction, kind != "wildcard" {
                        throw FolioError(.commandNotSupported, "'\(kind)' indexes are not supported by Folio yet")
                    }
                    throw FolioError(.cannotCreateIndex, "Values in the index key pattern can't be 0 or NaN. Bad value: \(ShellFormat.value(direction))")
                }
                let root = IndexDescriptor.wildcardRoot(path)
                if !root.isEmpty && root.split(separator: ".", omittingEmptySubsequences: false).contains(where: { $0.isEmpty || $0.hasPrefix("$") }) {
                    throw FolioError(.cannotCreateIndex, "Index key contains an illegal field name: '\(path)'.")
                }
                fields.append(IndexField(path: FieldPath(path), ascending: d > 0))
                continue
            }
            if path.isEmpty { throw FolioError(.cannotCreateIndex, "Index key contains an illegal field name: field name starts with '$'.") }
            if textSpec != nil && (path == "_fts" || path == "_ftsx") {
                fields.append(IndexField(path: FieldPath(path), ascending: true))
                continue
            }
            switch direction {
            case .int32, .int64, .double, .decimal128:
                let d = direction.asDouble ?? 0
                if d == 0 || d.isNaN {
                    throw FolioError(.cannotCreateIndex, "Values in the index key pattern can't be 0 or NaN. Bad value: \(ShellFormat.value(direction))")
                }
                fields.append(IndexField(path: FieldPath(path), ascending: d > 0))
            case .string(let kind):
                switch kind {
                case "hashed":
                    fields.append(IndexField(path: FieldPath(path), ascending: true, hashed: true))
                case "2dsphere":
                    fields.append(IndexField(path: FieldPath(path), ascending: true, geo: true))
                case "2d":
                    if fields.contains(where: \.planar) { throw FolioError(ErrorCode(rawValue: 16800), "can't have 2 geo fields") }
                    if !fields.isEmpty { throw FolioError(ErrorCode(rawValue: 16801), "2d has to be first in index") }
                    fields.append(IndexField(path: FieldPath(path), ascending: true, planar: true))
                case "text", "geoHaystack", "wildcard", "columnstore":
                    throw FolioError(.commandNotSupported, "'\(kind)' indexes are not supported by Folio yet")
                default:
                    throw FolioError(.cannotCreateIndex, "Unknown index plugin '\(kind)'")
                }
            default:
                throw FolioError(.cannotCreateIndex, "Values in v:2 index key pattern cannot be of type \(direction.type.alias). Only numbers > 0, numbers < 0, and strings are allowed.")
            }
            if path.hasPrefix("$") || path.split(separator: ".", omittingEmptySubsequences: false).contains(where: { $0.isEmpty || $0.hasPrefix("$") }) {
                throw FolioError(.cannotCreateIndex, "Index key contains an illegal field name: '\(path)'.")
            }
        }
        let hashedCount = fields.filter(\.hashed).count
        if hashedCount > 1 {
            throw FolioError(ErrorCode(rawValue: 31303), "A maximum of one index field is allowed to be hashed but found \(hashedCount) for 'key' \(ShellFormat.value(.document(key)))")
        }
        if Set(fields.map(\.path.dotted)).count != fields.count {
            throw FolioError(.cannotCreateIndex, "Error in specification \(ShellFormat.value(.document(spec))) :: caused by :: The field '\(fields.map(\.path.dotted).first { p in fields.filter { $0.path.dotted == p }.count > 1 }!)' appears more than once in the index key pattern")
        }
        var options = Document()
        var unique = false, sparse = false, hidden = false
        var partial: Document?
        var partialExpression: MatchExpression?
        var ttl: BSON?
        var wildcardProjection: Document?
        for (k, v) in spec {
            switch k {
            case "key", "name", "v", "ns": continue
            case "unique", "sparse", "hidden", "background":
                guard v.isNumber || v.type == .bool else {
                    throw FolioError(.typeMismatch, "The field '\(k)' must be a boolean, but got \(v.type.alias)")
                }
                let on = v.isTruthy
                if k == "unique" { unique = on; if on { options.append(k, true) } }
                if k == "sparse" { sparse = on; if on { options.append(k, true) } }
                if k == "hidden" { hidden = on; if on { options.append(k, true) } }
                if k == "background" { options.append(k, v) }
            case "partialFilterExpression":
                guard case .document(let f) = v else {
                    throw FolioError(.typeMismatch, "The field 'partialFilterExpression' must be an object, but got \(v.type.alias)")
                }
                partialExpression = try MatchExpression(parsing: f)
                if partialExpression?.containsText == true {
                    throw FolioError(.cannotCreateIndex, "Expression not supported in partial index: $text")
                }
                partial = f
                options.append(k, v)
            case "expireAfterSeconds":
                guard let seconds = v.asDouble else {
                    throw FolioError(.cannotCreateIndex, "TTL index 'expireAfterSeconds' option must be numeric, but received a type of '\(v.type.alias)'. Index spec: \(ShellFormat.value(.document(spec)))")
                }
                if seconds < 0 || seconds > 2_147_483_647 || seconds.isNaN {
                    throw FolioError(.cannotCreateIndex, "TTL index 'expireAfterSeconds' option must be within an acceptable range, try a lower number. Index spec: \(ShellFormat.value(.document(spec)))")
                }
                ttl = v
                options.append(k, v)
            case "collation":
                throw FolioError(.commandNotSupported, "indexes with a collation are not supported by Folio yet")
            case "wildcardProjection":
                guard wildcardRoot != nil else {
                    throw FolioError(.badValue, "The field 'wildcardProjection' is only allowed in an 'wildcard' index")
                }
                guard case .document(let p) = v else {
                    throw FolioError(.typeMismatch, "The field 'wildcardProjection' must be a non-empty object, but got \(v.type.alias)")
                }
                if wildcardRoot != "$**" {
                    throw FolioError(.failedToParse, "The field 'wildcardProjection' is only allowed when 'key' is {\"$**\": ±1}")
                }
                if p.isEmpty { throw FolioError(.failedToParse, "The 'wildcardProjection' field can't be an empty object") }
                wildcardProjection = p
                options.append(k, v)
            case "weights", "default_language", "language_override", "textIndexVersion":
                // Text options on another kind of index are refused, not stored doing nothing.
                guard textSpec != nil else {
                    throw FolioError(.commandNotSupported, "index option '\(k)' is not supported by Folio yet")
                }
                options.append(k, v)
            case "2dsphereIndexVersion", "finestIndexedLevel", "coarsestIndexedLevel":
                guard fields.contains(where: \.geo) else {
                    throw FolioError(.commandNotSupported, "index option '\(k)' is not supported by Folio yet")
                }
                options.append(k, v)
            case "bits", "min", "max":
                guard key.contains(where: { $0.value.stringValue == "2d" }) else {
                    throw FolioError(.commandNotSupported, "index option '\(k)' is not supported by Folio yet")
                }
                options.append(k, v)
            case "storageEngine", "prepareUnique", "clustered":
                throw FolioError(.commandNotSupported, "index option '\(k)' is not supported by Folio yet")
            default:
                throw FolioError(.invalidIndexSpecificationOption, "The field '\(k)' is not valid for an index specification. Specification: \(ShellFormat.value(.document(spec)))")
            }
        }
        if fields.contains(where: \.geo) {
            if textSpec != nil || fields.contains(where: \.hashed) {
                throw FolioError(.cannotCreateIndex, "Can't use more than one index plugin for a single index.")
            }
            if unique { throw FolioError(.commandNotSupported, "unique 2dsphere indexes are not supported by Folio") }
            if options["2dsphereIndexVersion"] == nil { options.append("2dsphereIndexVersion", .int32(3)) }
        }
        let geoSpec = fields.contains(where: \.geo) ? try GeoIndexSpec(options: options) : nil
        var planarGrid: PlanarGrid?
        if fields.contains(where: \.planar) {
            if geoSpec != nil || textSpec != nil || fields.contains(where: \.hashed) {
                throw FolioError(.cannotCreateIndex, "Can't use more than one index plugin for a single index.")
            }
            if unique { throw FolioError(.commandNotSupported, "unique 2d indexes are not supported by Folio") }
            planarGrid = try PlanarGrid(options: options)
        }
        if textSpec != nil && unique {
            throw FolioError(.commandNotSupported, "unique text indexes are not supported by Folio")
        }
        if unique && fields.contains(where: \.hashed) {
            throw FolioError(ErrorCode(rawValue: 16764), "Currently hashed indexes cannot guarantee uniqueness. Use a regular index.")
        }
        if wildcardRoot != nil {
            for (option, on) in [("unique", unique), ("sparse", sparse)] where on {
                throw FolioError(.cannotCreateIndex, "Index type 'wildcard' does not support the \(option) option")
            }
            if ttl != nil { throw FolioError(.cannotCreateIndex, "Index type 'wildcard' cannot be a TTL index") }
        }
        if sparse && partial != nil {
            throw FolioError(.cannotCreateIndex, "cannot mix \"partialFilterExpression\" and \"sparse\" options")
        }
        if name == "_id_" || (fields.count == 1 && fields[0].path.dotted == "_id") {
            if hidden { throw FolioError(.badValue, "can't hide _id index") }
            if unique || sparse || partial != nil || ttl != nil {
                throw FolioError(.invalidIndexSpecificationOption, "The field '\(unique ? "unique" : sparse ? "sparse" : partial != nil ? "partialFilterExpression" : "expireAfterSeconds")' is not valid for an _id index specification. Specification: \(ShellFormat.value(.document(spec)))")
            }
        }
        self.name = name
        self.keyPattern = key
        self.fields = fields
        self.unique = unique
        self.sparse = sparse
        self.hidden = hidden
        self.partialFilter = partial
        self.partialExpression = partialExpression
        self.expireAfterSeconds = ttl
        self.options = options
        self.store = store
        self.isMultikey = false
        if let wildcardRoot {
            self.wildcard = try WildcardSpec(root: IndexDescriptor.wildcardRoot(wildcardRoot), projection: wildcardProjection)
        }
        self.text = textSpec
        self.geo = geoSpec
        self.planar = planarGrid
        // Hashed, wildcard, text and geo keys cannot give their documents' values back: no need to type them.
        self.typedEntries = wildcard == nil && textSpec == nil && geoSpec == nil && planarGrid == nil && !fields.contains(where: \.hashed)
    }

    /// The subtree a wildcard key names: `a.b` for `a.b.$**`, empty for `$**`.
    static func wildcardRoot(_ key: String) -> String { key == "$**" ? "" : String(key.dropLast(4)) }

    /// Whether two descriptors describe the same index apart from the name (85 vs 86).
    func sameOptions(as other: IndexDescriptor) -> Bool {
        text == other.text && geo == other.geo && planar == other.planar && unique == other.unique && sparse == other.sparse && partialFilter == other.partialFilter
            && expireAfterSeconds?.asDouble == other.expireAfterSeconds?.asDouble && hidden == other.hidden
    }

    /// The key pattern's values compared by direction only (`{a: 1}` and `{a: 1.0}` are one).
    func sameKey(as other: IndexDescriptor) -> Bool {
        fields == other.fields && wildcard?.projectionSpec == other.wildcard?.projectionSpec
    }
}

/// The keys one document contributes to an index.
struct IndexKeys {
    /// Field parts of the keys (without the record key), deduplicated, in key order.
    var keys: [[UInt8]]
    /// Whether an indexed path went through an array.
    var isMultikey: Bool
    /// The indexed values per key (for the duplicate-key error), parallel to `keys`.
    var values: [[BSON]]
    /// Wildcard indexes: the paths where an array was traversed.
    var multikeyPaths: [String] = []
    /// Whether entry values carry trailers (a typed index).
    var typed = false
    /// Typed indexes: what follows the record key in each key's entry value, parallel to
    /// `keys`; empty when every key's values are plain (each trailer is then 0x00).
    var trailers: [[UInt8]] = []

    /// The trailer of key `i` (typed indexes).
    func trailer(_ i: Int) -> [UInt8] { trailers.isEmpty ? IndexEntryValue.plainTrailer : trailers[i] }

    /// The entry value of key `i` for the record `recordKey`.
    func entryValue(_ i: Int, _ recordKey: [UInt8]) -> [UInt8] { typed ? recordKey + trailer(i) : recordKey }

    /// The keys whose entries `next` keeps as they are: same key and, for typed indexes, same
    /// trailer (1 and 1.0 share a key, not a value).
    func unchanged(in next: IndexKeys) -> Set<[UInt8]> {
        // The common case, one key before and after, needs no lookup table.
        if keys.count == 1 && next.keys.count == 1 {
            return keys[0] == next.keys[0] && (!typed || trailer(0) == next.trailer(0)) ? [keys[0]] : []
        }
        let positions = Dictionary(next.keys.enumerated().map { ($1, $0) }, uniquingKeysWith: { a, _ in a })
        var out = Set<[UInt8]>()
        for (i, k) in keys.enumerated() {
            if let j = positions[k], !typed || trailer(i) == next.trailer(j) { out.insert(k) }
        }
        return out
    }
}

extension IndexDescriptor {
    /// MongoDB's limit on the fields of a compound key pattern.
    static let maximumFields = 32

    /// Upper bound on keys one document may produce (a guard against cartesian blow-up).
    static let maximumKeysPerDocument = 100_000

    /// The keys a writer puts or removes for `document`. An index being built while writes go
    /// on that cannot take the document (parallel arrays, a bad geometry, …) gets none
    /// instead of failing the write, as in MongoDB: the writer notes the record as touched,
    /// and the build reads it again and fails if it still cannot (IndexBuild.swift). (No
    /// keys were put for such a document, so none are removed either.)
    func writerKeys(for document: Document) throws(FolioError) -> IndexKeys {
        guard building else { return try keys(for: document) }
        return (try? keys(for: document)) ?? IndexKeys(keys: [], isMultikey: false, values: [])
    }

    /// The keys `document` contributes: none when a sparse index finds no indexed field or
    /// the partial filter rejects it.
    /// - Throws: 171 CannotIndexParallelArrays when two fields go through different arrays.
    func keys(for document: Document) throws(FolioError) -> IndexKeys {
        if let filter = partialExpression, !filter.matches(document) { return IndexKeys(keys: [], isMultikey: false, values: []) }
        if let wildcard { return try wildcard.keys(for: document, ascending: fields.last!.ascending) }
        if let text { return try textKeys(document, text) }
        var perField: [[BSON]] = []
        var arrayPrefix: [String?] = []
        var allMissing = true
        // Bit i: field i is missing (at most `maximumFields` fields).
        var missing: UInt64 = 0
        var geoMultikey = false
        for (i, field) in fields.enumerated() {
            if let values = try spatialKeyValues(field, document) {
                // 2dsphere and 2d indexes skip documents without a location.
                if values.isEmpty { return IndexKeys(keys: [], isMultikey: false, values: []) }
                if values.count > 1 { geoMultikey = true }
                allMissing = false
                perField.append(values)
                arrayPrefix.append(nil)
                continue
            }
            var collector = KeyValueCollector()
            collector.collect(.document(document), field.path.components, 0)
            if !collector.values.isEmpty { allMissing = false }
            if collector.values.isEmpty { missing |= 1 << UInt64(i) }
            if field.hashed {
                if collector.firstArrayPrefix != nil {
                    throw FolioError(ErrorCode(rawValue: 16766), "hashed indexes do not currently support array values. Found array at path: \(collector.firstArrayPrefix!)")
                }
                perField.append([.int64((collector.values.first ?? .null).hashedIndexKey)])
                arrayPrefix.append(nil)
                continue
            }
            perField.append(collector.values.isEmpty ? [.null] : collector.values)
            arrayPrefix.append(collector.firstArrayPrefix)
        }
        if sparse && allMissing { return IndexKeys(keys: [], isMultikey: false, values: []) }
        let arrays = arrayPrefix.enumerated().compactMap { i, p in p.map { (i, $0) } }
        if let first = arrays.first, let other = arrays.first(where: { $0.1 != first.1 }) {
            throw FolioError(.cannotIndexParallelArrays, "cannot index parallel arrays [\(other.1)] [\(first.1)]")
        }
        // The common case, one value per field: one key, no combinations.
        if perField.allSatisfy({ $0.count == 1 }) {
            var key: [UInt8] = []
            key.reserveCapacity(24 * fields.count)
            for (i, v) in perField.enumerated() { KeyString.append(v[0], ascending: fields[i].ascending, to: &key) }
            let values = perField.map { $0[0] }
            return IndexKeys(keys: [key], isMultikey: !arrays.isEmpty || geoMultikey, values: [values], typed: typedEntries,
                             trailers: IndexEntryValue.trailers(typedEntries, [values], missing: missing))
        }
        var combos: [[BSON]] = [[]]
        for values in perField {
            var next: [[BSON]] = []
            next.reserveCapacity(combos.count * values.count)
            for c in combos { for v in values { next.append(c + [v]) } }
            combos = next
            if combos.count > IndexDescriptor.maximumKeysPerDocument {
                throw FolioError(.cannotCreateIndex, "a document produces more than \(IndexDescriptor.maximumKeysPerDocument) keys for index '\(name)'")
            }
        }
        var seen = Set<[UInt8]>()
        var keys: [[UInt8]] = []
        var values: [[BSON]] = []
        for combo in combos {
            var key: [UInt8] = []
            for (i, v) in combo.enumerated() { KeyString.append(v, ascending: fields[i].ascending, to: &key) }
            if seen.insert(key).inserted {
                keys.append(key)
                values.append(combo)
            }
        }
        return IndexKeys(keys: keys, isMultikey: !arrays.isEmpty || geoMultikey, values: values, typed: typedEntries,
                         trailers: IndexEntryValue.trailers(typedEntries, values, missing: missing))
    }

    /// A 2dsphere or 2d field's key values (cells, grid hashes); nil for other fields.
    func spatialKeyValues(_ field: IndexField, _ document: Document) throws(FolioError) -> [BSON]? {
        if field.geo, let geo { return try geo.keyValues(document, field.path) }
        if field.planar, let planar { return try planar.keyValues(document, field.path) }
        return nil
    }

    /// The record key an entry value of this index starts with.
    func recordKey(fromValue value: [UInt8]) -> [UInt8] {
        if text != nil { return TextIndexEntry.recordKey(value) }
        return typedEntries ? IndexEntryValue.recordKey(value) : value
    }

    /// A text index's keys: one per term of the document, (prefix values, term, score, suffix
    /// values); none for a document without indexed text (text indexes are sparse).
    func textKeys(_ document: Document, _ spec: TextIndexSpec) throws(FolioError) -> IndexKeys {
        let scores = try spec.termScores(document)
        if scores.isEmpty { return IndexKeys(keys: [], isMultikey: false, values: []) }
        func single(_ path: String) throws(FolioError) -> BSON {
            var collector = KeyValueCollector()
            collector.collect(.document(document), FieldPath(path).components, 0)
            if let prefix = collector.firstArrayPrefix {
                throw FolioError(ErrorCode(rawValue: 16675), "cannot have a multi-key as a prefix to a text index; found an array at \(prefix)")
            }
            return collector.values.first ?? .null
        }
        let before = try spec.extraBefore.map { (p) throws(FolioError) in try single(p) }
        let after = try spec.extraAfter.map { (p) throws(FolioError) in try single(p) }
        let ascending = fields.map(\.ascending)
        var keys: [[UInt8]] = [], values: [[BSON]] = [], trailers: [[UInt8]] = []
        for (term, score) in scores.sorted(by: { $0.key < $1.key }) {
            let row = before + [.string(term), .double(score)] + after
            var key: [UInt8] = []
            for (i, v) in row.enumerated() { KeyString.append(v, ascending: ascending[i], to: &key) }
            keys.append(key)
            values.append(row)
            trailers.append(TextIndexEntry.scoreBytes(score))
        }
        return IndexKeys(keys: keys, isMultikey: true, values: values, typed: true, trailers: trailers)
    }
}

/// The value of a typed index entry: the record key, then a trailer that says how to get
/// the indexed values back. The trailer is one byte 0x00 when every value is plain (decoding
/// the key gives it back exactly: `KeyString.isPlain`) and no field is missing; otherwise it
/// is a BSON document of the values by field position (a missing field is absent), its
/// length as UInt32 little-endian, and 0x01.
enum IndexEntryValue {
    static let plainTrailer: [UInt8] = [0]

    /// The trailers of keys with these values (`IndexKeys.trailers`): none for an untyped
    /// index or when every value is plain and present.
    static func trailers(_ typed: Bool, _ values: [[BSON]], missing: UInt64) -> [[UInt8]] {
        if !typed || (missing == 0 && values.allSatisfy { $0.allSatisfy(KeyString.isPlain) }) { return [] }
        return values.map { trailer($0, missing: missing) }
    }

    static func trailer(_ values: [BSON], missing: UInt64) -> [UInt8] {
        if missing == 0 && values.allSatisfy(KeyString.isPlain) { return plainTrailer }
        var d = Document()
        for (i, v) in values.enumerated() where missing & (1 << UInt64(i)) == 0 { d.append(String(i), v) }
        var out = d.bsonBytes()
        let n = UInt32(out.count)
        out += [UInt8(n & 0xFF), UInt8((n >> 8) & 0xFF), UInt8((n >> 16) & 0xFF), UInt8(n >> 24), 1]
        return out
    }

    /// The length of the trailer at the end of `value`.
    static func trailerLength(_ value: UnsafeRawBufferPointer) -> Int {
        guard let last = value.last, last == 1, value.count >= 5 else { return value.isEmpty ? 0 : 1 }
        let c = value.count
        let n = Int(value[c - 5]) | Int(value[c - 4]) << 8 | Int(value[c - 3]) << 16 | Int(value[c - 2]) << 24
        return min(c, n + 5)
    }

    static func recordKey(_ value: [UInt8]) -> [UInt8] {
        let n = value.withUnsafeBytes(trailerLength)
        return Array(value[..<(value.count - n)])
    }

    /// The indexed values of an entry, in key-pattern order (nil for a missing field), or nil
    /// when they cannot be restored (a malformed entry).
    static func values(key: UnsafeRawBufferPointer, value: UnsafeRawBufferPointer, fields: [IndexField]) -> [BSON?]? {
        let n = trailerLength(value)
        if n > 1 {
            let start = value.count - n
            guard let d = try? RawDocument(validating: Array(value[start..<(value.count - 5)])).document() else { return nil }
            return fields.indices.map { d[String($0)] }
        }
        var position = 0
        var out: [BSON?] = []
        for f in fields {
            guard let v = KeyString.decodePlain(key, at: &position, ascending: f.ascending) else { return nil }
            out.append(v)
        }
        return out
    }
}

/// Collects the values at a path the way the matcher sees them: arrays on the way are
/// traversed (elements that are documents continue the path; a numeric component also
/// selects the element at that position), a terminal array contributes its elements, and an
/// empty terminal array contributes `undefined` (so `{a: []}` has a key that no range hits).
struct KeyValueCollector {
    var values: [BSON] = []
    var firstArrayPrefix: String?

    /// Duplicates are kept here and removed when the keys are formed.
    mutating func add(_ v: BSON) { values.append(v) }

    mutating func noteArray(_ components: [String], _ depth: Int) {
        if firstArrayPrefix == nil { firstArrayPrefix = components[..<depth].joined(separator: ".") }
    }

    mutating func collect(_ value: BSON, _ components: [String], _ depth: Int) {
        if depth == components.count {
            if case .array(let elements) = value {
                noteArray(components, depth)
                if elements.isEmpty { add(.undefined) }
                for e in elements { add(e) }
            } else {
                add(value)
            }
            return
        }
        switch value {
        case .document(let d):
            if let v = d[components[depth]] { collect(v, components, depth + 1) }
        case .array(let elements):
            noteArray(components, depth)
            for e in elements {
                if case .document = e { collect(e, components, depth) }
            }
            if let position = Int(components[depth]), position >= 0, position < elements.count,
               String(position) == components[depth] {
                collect(elements[position], components, depth + 1)
            }
        default:
            return
        }
    }
}

/// A text index entry's value: the record key, then the term's score as a little-endian
/// Float64 (so a scan sums scores without decoding keys or fetching documents).
enum TextIndexEntry {
    static func scoreBytes(_ score: Double) -> [UInt8] {
        withUnsafeBytes(of: score.bitPattern.littleEndian) { Array($0) }
    }

    static func recordKey(_ value: [UInt8]) -> [UInt8] { value.count >= 8 ? Array(value.dropLast(8)) : value }

    static func score(_ value: [UInt8]) -> Double {
        guard value.count >= 8 else { return 0 }
        var bits: UInt64 = 0
        for (i, b) in value.suffix(8).enumerated() { bits |= UInt64(b) << (8 * UInt64(i)) }
        return Double(bitPattern: bits)
    }
}
