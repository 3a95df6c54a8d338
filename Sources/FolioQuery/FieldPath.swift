import FolioBSON

/// A dotted path (`a.b.0.c`) split once into components. A component made only of digits
/// (without a leading zero) is also an array index.
public struct FieldPath: Sendable, Hashable, CustomStringConvertible {
    public let components: [String]
    /// For each component, its value as an array index when it is one.
    public let indexes: [Int?]

    public init(_ dotted: String) {
        components = dotted.split(separator: ".", omittingEmptySubsequences: false).map(String.init)
        indexes = components.map(FieldPath.arrayIndex)
    }

    public init(components: [String]) {
        self.components = components
        indexes = components.map(FieldPath.arrayIndex)
    }

    /// The path as written.
    public var dotted: String { components.joined(separator: ".") }
    public var description: String { dotted }
    public var count: Int { components.count }

    /// `"0"`, `"12"` are indexes; `"01"`, `"-1"`, `""` are not.
    static func arrayIndex(_ s: String) -> Int? {
        guard let first = s.utf8.first, s.utf8.allSatisfy({ $0 >= 0x30 && $0 <= 0x39 }) else { return nil }
        if first == 0x30 && s.utf8.count > 1 { return nil }
        return Int(s)
    }

    /// Whether `other` equals this path or starts with it (`a` is a prefix of `a.b`).
    public func isPrefix(of other: FieldPath) -> Bool {
        components.count <= other.components.count && zip(components, other.components).allSatisfy { $0.utf8.elementsEqual($1.utf8) }
    }

    public func appending(_ component: String) -> FieldPath { FieldPath(components: components + [component]) }
    public func dropFirst() -> FieldPath { FieldPath(components: Array(components.dropFirst())) }
}

/// What a path yields for matching.
public enum PathValue {
    /// The path reaches nothing here (a document without the field).
    case missing
    /// A value at the path, or one element of an array at the end of the path.
    case value(RawValue)
    /// An array that is the value at the end of the path (its elements follow as `.value`).
    case wholeArray(RawValue)
}

extension FieldPath {
    /// Visits every value the path reaches in `document` with MongoDB's implicit array
    /// traversal: arrays along the way are descended element by element (and by position
    /// when the component is a number); an array at the end yields itself and its elements.
    /// When nothing at all is reached, visits `.missing` once. Return `true` from `visit` to
    /// stop early; the function returns whether it was stopped.
    @discardableResult
    public func forEachValue(in document: RawDocument, _ visit: (PathValue) -> Bool) -> Bool {
        var emitted = false
        let stopped = step(document, 0, &emitted, visit)
        if !stopped && !emitted { return visit(.missing) }
        return stopped
    }

    private func step(_ doc: RawDocument, _ i: Int, _ emitted: inout Bool, _ visit: (PathValue) -> Bool) -> Bool {
        guard let v = doc.lookup(components[i]) else {
            emitted = true
            return visit(.missing)
        }
        if i == components.count - 1 { return emitLeaf(v, &emitted, visit) }
        return descend(v, i + 1, &emitted, visit)
    }

    private func emitLeaf(_ v: RawValue, _ emitted: inout Bool, _ visit: (PathValue) -> Bool) -> Bool {
        emitted = true
        if v.type == .array {
            if visit(.wholeArray(v)) { return true }
            for e in v.documentValue! where visit(.value(e.value)) { return true }
            return false
        }
        return visit(.value(v))
    }

    /// `v` is the value at component i-1; continue with component i.
    private func descend(_ v: RawValue, _ i: Int, _ emitted: inout Bool, _ visit: (PathValue) -> Bool) -> Bool {
        switch v.type {
        case .document:
            return step(v.documentValue!, i, &emitted, visit)
        case .array:
            let array = v.documentValue!
            if let index = indexes[i] {
                var position = 0
                for e in array {
                    if position == index {
                        let stop = i == components.count - 1 ? emitLeaf(e.value, &emitted, visit)
                                                              : descend(e.value, i + 1, &emitted, visit)
                        if stop { return true }
                        break
                    }
                    position += 1
                }
            }
            for e in array where e.type == .document {
                if step(e.value.documentValue!, i, &emitted, visit) { return true }
            }
            return false
        default:
            return false
        }
    }
}
