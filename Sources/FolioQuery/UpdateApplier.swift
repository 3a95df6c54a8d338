import FolioBSON

/// What an update needs beyond the document: whether this is an upsert's insert (so
/// `$setOnInsert` applies), the query (for the positional `$`), array filters, and the time.
public struct UpdateContext: Sendable {
    public var isUpsertInsert: Bool
    public var query: MatchExpression?
    public var arrayFilters: ArrayFilters
    /// Milliseconds since the epoch for `$currentDate` and `$$NOW`.
    public var now: Int64
    /// Variables for pipeline updates (`c`/`let`).
    public var constants: [String: BSON]

    public init(isUpsertInsert: Bool = false, query: MatchExpression? = nil, arrayFilters: ArrayFilters = ArrayFilters(),
                now: Int64? = nil, constants: [String: BSON] = [:]) {
        self.isUpsertInsert = isUpsertInsert
        self.query = query
        self.arrayFilters = arrayFilters
        self.now = now ?? Int64(ObjectID.currentSeconds()) * 1000
        self.constants = constants
    }
}

/// Parsed `arrayFilters`: identifier → filter on the element.
public struct ArrayFilters: Sendable {
    var filters: [String: MatchExpression]

    public init() { filters = [:] }

    /// Parses the `arrayFilters` array of an update.
    public init(parsing documents: [BSON]) throws(FolioError) {
        var filters: [String: MatchExpression] = [:]
        for entry in documents {
            guard case .document(let d) = entry else {
                throw FolioError(.typeMismatch, "Each array filter must be an object")
            }
            var identifier: String?
            for key in d.fieldNames {
                let root = String(key.split(separator: ".", maxSplits: 1, omittingEmptySubsequences: false)[0])
                if key.hasPrefix("$") { continue }
                if let identifier, identifier != root {
                    throw FolioError(.failedToParse, "Error parsing array filter :: caused by :: Expected a single top-level field name, found '\(identifier)' and '\(root)'")
                }
                identifier = root
            }
            guard let identifier else {
                throw FolioError(.failedToParse, "Cannot use an expression without a top-level field name in arrayFilters")
            }
            guard UpdatePath.isValidIdentifier(identifier) else {
                throw FolioError(.badValue, "Error parsing array filter :: caused by :: The top-level field name must be an alphanumeric string beginning with a lowercase letter, found '\(identifier)'")
            }
            if filters[identifier] != nil {
                throw FolioError.failedToParse("Found multiple array filters with the same top-level field name \(identifier)")
            }
            filters[identifier] = try MatchExpression(parsing: d)
        }
        self.filters = filters
    }

    func matches(_ identifier: String, _ element: BSON) -> Bool {
        filters[identifier]!.matches(Document([(identifier, element)]).raw)
    }
}

extension UpdateSpec {
    /// Applies the update to `document` in place. Returns whether the document changed
    /// (nModified counts only real changes).
    @discardableResult
    public func apply(to document: inout Document, context: UpdateContext = UpdateContext()) throws(FolioError) -> Bool {
        let original = document
        switch kind {
        case .replacement(let replacement):
            var result = replacement
            if let oldID = original["_id"] {
                if let newID = replacement["_id"], BSON.compare(newID, oldID) != 0 || newID.type != oldID.type {
                    throw FolioError(.immutableField, "After applying the update, the (immutable) field '_id' was found to have been altered to _id: \(newID)")
                }
                result.removeValue(forKey: "_id")
                result.insert("_id", oldID, at: 0)
            }
            document = result
        case .operators(let actions):
            for identifier in context.arrayFilters.filters.keys where !usedIdentifiers.contains(identifier) {
                throw FolioError(.failedToParse, "The array filter for identifier '\(identifier)' was not used in the update")
            }
            var applier = OperatorApplier(context: context, original: original)
            var working = document
            for action in actions { try applier.apply(action, to: &working) }
            document = working
            if !applier.changed { return false }
            if let oldID = original["_id"] {
                guard let newID = document["_id"] else {
                    throw FolioError(.immutableField, "Performing an update on the path '_id' would modify the immutable field '_id'")
                }
                if BSON.compare(newID, oldID) != 0 {
                    throw FolioError(.immutableField, "Performing an update on the path '_id' would modify the immutable field '_id'")
                }
            }
        case .pipeline(let stages):
            var current = document
            for stage in stages { current = try stage.apply(to: current, context: context) }
            if let oldID = original["_id"] {
                // A pipeline whose output drops _id keeps the original one, first.
                if current["_id"] == nil { current.insert("_id", oldID, at: 0) }
                guard let newID = current["_id"], BSON.compare(newID, oldID) == 0 else {
                    throw FolioError(.immutableField, "After applying the update, the (immutable) field '_id' was found to have been altered to _id: \(current["_id"] ?? .null)")
                }
            }
            document = current
        }
        return document != original
    }
}

/// Applies operator actions one by one.
struct OperatorApplier {
    let context: UpdateContext
    let original: Document
    /// Whether any operator changed a value (nModified counts only real changes).
    var changed = false

    init(context: UpdateContext, original: Document) {
        self.context = context
        self.original = original
    }

    func creates(_ op: UpdateOperation) -> Bool {
        switch op {
        case .unset, .pop, .pull, .pullAll, .rename, .renameTarget: return false
        case .setOnInsert: return context.isUpsertInsert
        default: return true
        }
    }

    mutating func apply(_ action: UpdateAction, to document: inout Document) throws(FolioError) {
        switch action.operation {
        case .renameTarget: return
        case .setOnInsert where !context.isUpsertInsert: return
        case .rename(let to):
            try rename(action.path, to, in: &document)
            return
        default: break
        }
        if action.path.elements.count == 1, case .field(let name) = action.path.elements[0] {
            // Top-level field: edit the document directly.
            let position = document.index(forKey: name)
            var slot = position.map { document.element(at: $0).value }
            if let position { document.setValue(.null, at: position) }
            try applyLeaf(&slot, action.operation, path: action.path)
            if let slot {
                if let position { document.setValue(slot, at: position) } else { document.append(name, slot) }
            } else if let position {
                document.removeValue(at: position)
            }
            return
        }
        // Move the document into the tree being edited so its storage stays uniquely referenced.
        var root = BSON.document(document)
        document = Document()
        try descend(&root, action.path.elements[...], action, prefix: [])
        if case .document(let d) = root { document = d }
    }

    mutating func rename(_ from: UpdatePath, _ to: UpdatePath, in document: inout Document) throws(FolioError) {
        let fromNames = from.elements.map(\.text), toNames = to.elements.map(\.text)
        guard let value = Self.lookupNoArrays(document, fromNames[...]) else {
            if Self.pathCrossesArray(document, fromNames[...]) {
                throw FolioError(.badValue, "The source field cannot be an array element, '\(from)' in doc with _id: \(document["_id"] ?? .null) has an array field called '\(fromNames[0])'")
            }
            return
        }
        if Self.pathCrossesArray(document, toNames[...]) {
            throw FolioError(.badValue, "The destination field cannot be an array element, '\(to)' in doc with _id: \(document["_id"] ?? .null) has an array field called '\(toNames[0])'")
        }
        var root = BSON.document(document)
        try descend(&root, from.elements[...], UpdateAction(path: from, operation: .unset), prefix: [])
        try descend(&root, to.elements[...], UpdateAction(path: to, operation: .set(value)), prefix: [])
        if case .document(let d) = root { document = d }
    }

    static func lookupNoArrays(_ d: Document, _ names: ArraySlice<String>) -> BSON? {
        guard let first = names.first, let v = d[first] else { return nil }
        if names.count == 1 { return v }
        guard case .document(let child) = v else { return nil }
        return lookupNoArrays(child, names.dropFirst())
    }

    static func pathCrossesArray(_ d: Document, _ names: ArraySlice<String>) -> Bool {
        guard let first = names.first, let v = d[first] else { return false }
        if case .array = v { return names.count > 0 }
        guard case .document(let child) = v, names.count > 1 else { return false }
        return pathCrossesArray(child, names.dropFirst())
    }

    /// Walks `container` along `path`, creating what the operator needs, and applies the
    /// operator at the end.
    mutating func descend(_ container: inout BSON, _ path: ArraySlice<UpdatePathElement>, _ action: UpdateAction,
                 prefix: [String]) throws(FolioError) {
        let element = path.first!
        let rest = path.dropFirst()
        switch element {
        case .positional, .allElements, .filtered:
            guard case .array(var array) = container else {
                if case .positional = element {
                    throw FolioError(.badValue, "The positional operator did not find the match needed from the query.")
                }
                throw FolioError(.badValue, "Cannot apply array updates to non-array element \(prefix.last ?? ""): \(container)")
            }
            let indexes: [Int]
            switch element {
            case .positional:
                guard let query = context.query, let i = PositionalMatcher.index(for: prefix, in: original, query: query) else {
                    throw FolioError(.badValue, "The positional operator did not find the match needed from the query.")
                }
                indexes = i < array.count ? [i] : []
            case .allElements: indexes = Array(array.indices)
            case .filtered(let id):
                guard context.arrayFilters.filters[id] != nil else {
                    throw FolioError(.badValue, "No array filter found for identifier '\(id)' in path '\(action.path)'")
                }
                indexes = array.indices.filter { context.arrayFilters.matches(id, array[$0]) }
            default: indexes = []
            }
            for i in indexes {
                if rest.isEmpty {
                    var slot: BSON? = array[i]
                    try applyLeaf(&slot, action.operation, path: action.path)
                    array[i] = slot ?? .null
                } else {
                    try descendInto(&array[i], rest, action, prefix: prefix + [String(i)])
                }
            }
            container = .array(array)
        case .field(let name):
            switch container {
            case .document(var d):
                container = .null
                let position = d.index(forKey: name)
                let existing = position.map { d.element(at: $0).value }
                if rest.isEmpty {
                    var slot = existing
                    if let position { d.setValue(.null, at: position) }
                    try applyLeaf(&slot, action.operation, path: action.path)
                    if let slot {
                        if let position { d.setValue(slot, at: position) } else { d.append(name, slot) }
                    } else if let position {
                        d.removeValue(at: position)
                    }
                } else if var child = existing, let position {
                    d.setValue(.null, at: position)
                    try descendInto(&child, rest, action, prefix: prefix + [name])
                    d.setValue(child, at: position)
                } else if creates(action.operation) {
                    var child = BSON.document(Document())
                    try descend(&child, rest, action, prefix: prefix + [name])
                    d.append(name, child)
                }
                container = .document(d)
            case .array(var array):
                guard let index = element.arrayIndex else {
                    guard creates(action.operation) else { return }
                    throw FolioError(.pathNotViable, "Cannot create field '\(name)' in element {\(prefix.last ?? ""): \(container)}")
                }
                if index >= array.count && !creates(action.operation) { return }
                container = .null
                if index >= array.count {
                    if index > array.count + 1_500_000 {
                        throw FolioError(.badValue, "can't backfill more than 1500000 elements")
                    }
                    array += [BSON](repeating: .null, count: index - array.count + 1)
                    if rest.isEmpty {
                        var slot: BSON? = nil
                        try applyLeaf(&slot, action.operation, path: action.path)
                        array[index] = slot ?? .null
                    } else {
                        var child = BSON.document(Document())
                        try descend(&child, rest, action, prefix: prefix + [name])
                        array[index] = child
                    }
                } else if rest.isEmpty {
                    var slot: BSON? = array[index]
                    try applyLeaf(&slot, action.operation, path: action.path)
                    // $unset of an array element leaves null in its place.
                    array[index] = slot ?? .null
                } else {
                    try descendInto(&array[index], rest, action, prefix: prefix + [name])
                }
                container = .array(array)
            default:
                guard creates(action.operation) else { return }
                throw FolioError(.pathNotViable, "Cannot create field '\(name)' in element {\(prefix.last ?? ""): \(container)}")
            }
        }
    }

    /// Continues into an existing child value.
    mutating func descendInto(_ child: inout BSON, _ rest: ArraySlice<UpdatePathElement>, _ action: UpdateAction,
                     prefix: [String]) throws(FolioError) {
        switch child {
        case .document, .array:
            try descend(&child, rest, action, prefix: prefix)
        default:
            switch rest.first! {
            case .positional:
                throw FolioError(.badValue, "The positional operator did not find the match needed from the query.")
            case .allElements, .filtered:
                throw FolioError(.badValue, "Cannot apply array updates to non-array element \(prefix.last ?? ""): \(child)")
            case .field:
                break
            }
            guard creates(action.operation) else { return }
            let name = rest.first!.text
            throw FolioError(.pathNotViable, "Cannot create field '\(name)' in element {\(prefix.last ?? ""): \(child)}")
        }
    }

    /// Applies an operator to one value (nil = absent; setting nil removes it).
    mutating func applyLeaf(_ slot: inout BSON?, _ op: UpdateOperation, path: UpdatePath) throws(FolioError) {
        switch op {
        case .push, .addToSet, .pull, .pullAll, .pop:
            // Array operators report their own changes (no copy of the old array to compare).
            try applyLeafValue(&slot, op, path: path)
        default:
            let before = slot
            try applyLeafValue(&slot, op, path: path)
            if !changed && before != slot { changed = true }
        }
    }

    mutating func applyLeafValue(_ slot: inout BSON?, _ op: UpdateOperation, path: UpdatePath) throws(FolioError) {
        var id: String { original["_id"].map { "{_id: \($0)}" } ?? "{}" }
        switch op {
        case .set(let v), .setOnInsert(let v): slot = v
        case .unset: slot = nil
        case .inc(let n):
            guard let current = slot else { slot = n; return }
            guard let a = Number(current), let b = Number(n) else {
                throw FolioError(.typeMismatch, "Cannot apply $inc to a value of non-numeric type. \(id) has the field '\(path.elements.last!.text)' of non-numeric type \(current.type.alias)")
            }
            slot = Number.add(a, b).bson
        case .mul(let n):
            guard let current = slot else {
                slot = Number.multiply(Number(n)!, .int32(0)).bson
                return
            }
            guard let a = Number(current), let b = Number(n) else {
                throw FolioError(.typeMismatch, "Cannot apply $mul to a value of non-numeric type. \(id) has the field '\(path.elements.last!.text)' of non-numeric type \(current.type.alias)")
            }
            slot = Number.multiply(a, b).bson
        case .min(let v):
            if let current = slot, BSON.compare(v, current) >= 0 { return }
            slot = v
        case .max(let v):
            if let current = slot, BSON.compare(v, current) <= 0 { return }
            slot = v
        case .currentDate(let timestamp):
            slot = timestamp ? .timestamp(Timestamp(seconds: UInt32(truncatingIfNeeded: context.now / 1000), increment: 1))
                             : .datetime(context.now)
        case .push(let spec):
            let existed = slot != nil
            var array = try existingArray(slot, path: path, id: id, op: "$push")
            let before = spec.sort != nil || spec.slice != nil ? array : []
            slot = nil
            var position = array.count
            if let p = spec.position {
                position = p < 0 ? max(0, array.count + Int(p)) : min(array.count, Int(p))
            }
            array.insert(contentsOf: spec.values, at: position)
            if let sort = spec.sort {
                switch sort {
                case .whole(let ascending):
                    array = Self.stableSorted(array) { ascending ? BSON.compare($0, $1) : BSON.compare($1, $0) }
                case .fields(let s):
                    let keyed: [(BSON, [BSON])] = array.map { element in (element, s.keys.map { k in SortSpec.keyValue(element, path: k.path, ascending: k.ascending) }) }
                    array = Self.stableSorted(keyed) { s.compare($0.1, $1.1) }.map(\.0)
                }
            }
            if let n = spec.slice {
                // magnitude: -Int64.min does not exist.
                if n >= 0 { array = Array(array.prefix(Int(n))) } else { array = Array(array.suffix(Int(clamping: n.magnitude))) }
            }
            // An empty $each still materializes a missing array; sort/slice may reorder or trim.
            if !existed || !spec.values.isEmpty || ((spec.sort != nil || spec.slice != nil) && before != array) { changed = true }
            slot = .array(array)
        case .addToSet(let values):
            let existed = slot != nil
            var array = try existingArray(slot, path: path, id: id, op: "$addToSet")
            slot = nil
            for v in values where !array.contains(where: { BSON.compare($0, v) == 0 && $0.type.canonicalRank == v.type.canonicalRank }) {
                array.append(v)
                changed = true
            }
            if !existed { changed = true }
            slot = .array(array)
        case .pop(let first):
            guard let current = slot else { return }
            guard case .array(var array) = current else {
                throw FolioError(.typeMismatch, "Path '\(path)' contains an element of non-array type '\(current.type.alias)'")
            }
            if array.isEmpty { return }
            if first { array.removeFirst() } else { array.removeLast() }
            changed = true
            slot = .array(array)
        case .pull(let condition):
            guard let current = slot else { return }
            guard case .array(let array) = current else {
                throw FolioError(.badValue, "Cannot apply $pull to a non-array value")
            }
            let kept = array.filter { !Self.pullMatches(condition, $0) }
            if kept.count != array.count { changed = true }
            slot = .array(kept)
        case .pullAll(let values):
            guard let current = slot else { return }
            guard case .array(let array) = current else {
                throw FolioError(.badValue, "Cannot apply $pullAll to a non-array value")
            }
            let kept = array.filter { e in !values.contains { BSON.compare($0, e) == 0 && $0.type.canonicalRank == e.type.canonicalRank } }
            if kept.count != array.count { changed = true }
            slot = .array(kept)
        case .bit(let operations):
            var value = slot ?? .int32(0)
            for (operation, operand) in operations {
                value = try Self.bitwise(value, operation, operand, path: path, id: id)
            }
            slot = value
        case .rename, .renameTarget:
            break
        }
    }

    func existingArray(_ slot: BSON?, path: UpdatePath, id: @autoclosure () -> String, op: String) throws(FolioError) -> [BSON] {
        guard let current = slot else { return [] }
        guard case .array(let a) = current else {
            throw FolioError(.badValue, "The field '\(path.elements.last!.text)' must be an array but is of type \(current.type.alias) in document \(id())")
        }
        return a
    }

    static func stableSorted<T>(_ items: [T], _ compare: (T, T) -> Int) -> [T] {
        items.enumerated().sorted { a, b in
            let c = compare(a.element, b.element)
            return c != 0 ? c < 0 : a.offset < b.offset
        }.map(\.element)
    }

    static func pullMatches(_ condition: PullCondition, _ element: BSON) -> Bool {
        switch condition {
        case .equals(let v):
            return BSON.compare(v, element) == 0 && v.type.canonicalRank == element.type.canonicalRank
        case .predicates(let predicates):
            let raw = Document([("v", element)]).raw.lookup("v")!
            return predicates.allSatisfy { $0.holds(for: .single(raw)) }
        case .query(let expression):
            guard case .document(let d) = element else { return false }
            return expression.matches(d)
        }
    }

    static func bitwise(_ value: BSON, _ operation: BitOperation, _ operand: BSON, path: UpdatePath, id: @autoclosure () -> String) throws(FolioError) -> BSON {
        func combine(_ a: Int64, _ b: Int64) -> Int64 {
            switch operation {
            case .and: return a & b
            case .or: return a | b
            case .xor: return a ^ b
            }
        }
        switch (value, operand) {
        case (.int32(let a), .int32(let b)): return .int32(Int32(truncatingIfNeeded: combine(Int64(a), Int64(b))))
        case (.int32(let a), .int64(let b)): return .int64(combine(Int64(a), b))
        case (.int64(let a), .int32(let b)): return .int64(combine(a, Int64(b)))
        case (.int64(let a), .int64(let b)): return .int64(combine(a, b))
        default:
            throw FolioError(.badValue, "Cannot apply $bit to a value of non-integral type.\(id()) has the field \(path.elements.last!.text) of non-integer type \(value.type.alias)")
        }
    }
}

/// Finds the array position the positional `$` stands for: the first element of the array
/// at `prefix` that satisfies the query's predicates on that array.
enum PositionalMatcher {
    static func index(for prefix: [String], in document: Document, query: MatchExpression) -> Int? {
        guard case .array(let array)? = resolveNoTraversal(document, prefix[...]) else { return nil }
        for (path, predicates) in leaves(query) where path.count >= prefix.count && Array(path.components.prefix(prefix.count)) == prefix {
            let rest = Array(path.components.dropFirst(prefix.count))
            for (i, element) in array.enumerated() {
                let holds: Bool
                if rest.isEmpty {
                    let raw = Document([("v", element)]).raw.lookup("v")!
                    holds = predicates.allSatisfy { p in
                        if case .elemMatchDocument(let e) = p, case .document(let d) = element { return e.matches(d) }
                        if case .elemMatchValue(let ps) = p { return ps.allSatisfy { $0.holds(for: .single(raw)) } }
                        return p.holds(for: .single(raw))
                    }
                } else if case .document(let d) = element {
                    let sub = FieldPath(components: rest)
                    holds = predicates.allSatisfy { $0.holds(for: .path(sub, d.raw)) }
                } else {
                    holds = false
                }
                if holds { return i }
            }
        }
        return nil
    }

    static func resolveNoTraversal(_ d: Document, _ names: ArraySlice<String>) -> BSON? {
        guard let first = names.first, let v = d[first] else { return nil }
        if names.count == 1 { return v }
        switch v {
        case .document(let child): return resolveNoTraversal(child, names.dropFirst())
        case .array(let a):
            guard let i = FieldPath.arrayIndex(names.dropFirst().first!), i < a.count else { return nil }
            if names.count == 2 { return a[i] }
            guard case .document(let child) = a[i] else { return nil }
            return resolveNoTraversal(child, names.dropFirst(2))
        default: return nil
        }
    }

    static func leaves(_ e: MatchExpression) -> [(FieldPath, [PathPredicate])] {
        switch e {
        case .path(let p, let predicates): return [(p, predicates)]
        case .and(let children): return children.flatMap(leaves)
        case .or(let children) where children.count == 1: return leaves(children[0])
        default: return []
        }
    }
}
