import FolioBSON

/// One component of an update path: a field name (also an array index when numeric),
/// `$` (the position the query matched), `$[]` (every element) or `$[id]` (elements
/// selected by an array filter).
public enum UpdatePathElement: Sendable, Hashable {
    case field(String)
    case positional
    case allElements
    case filtered(String)

    var text: String {
        switch self {
        case .field(let s): return s
        case .positional: return "$"
        case .allElements: return "$[]"
        case .filtered(let id): return "$[\(id)]"
        }
    }

    var arrayIndex: Int? {
        if case .field(let s) = self { return FieldPath.arrayIndex(s) }
        return nil
    }
}

/// A parsed update path.
public struct UpdatePath: Sendable, Hashable, CustomStringConvertible {
    public let elements: [UpdatePathElement]

    public var description: String { elements.map(\.text).joined(separator: ".") }

    init(elements: [UpdatePathElement]) { self.elements = elements }

    /// Parses `a.b.$.c.$[].d.$[x]`, rejecting empty components.
    init(parsing text: String, operatorName: String) throws(FolioError) {
        var out: [UpdatePathElement] = []
        for part in text.split(separator: ".", omittingEmptySubsequences: false) {
            let s = String(part)
            if s.isEmpty {
                throw FolioError(.emptyFieldName, "The update path '\(text)' contains an empty field name, which is not allowed.")
            }
            if s == "$" {
                out.append(.positional)
            } else if s == "$[]" {
                out.append(.allElements)
            } else if s.hasPrefix("$[") && s.hasSuffix("]") {
                let id = String(s.dropFirst(2).dropLast())
                guard UpdatePath.isValidIdentifier(id) else {
                    throw FolioError(.badValue, "The array filter identifier '\(id)' must begin with a lowercase letter and contain only alphanumerics")
                }
                out.append(.filtered(id))
            } else {
                out.append(.field(s))
            }
        }
        elements = out
    }

    static func isValidIdentifier(_ id: String) -> Bool {
        guard let first = id.unicodeScalars.first, ("a"..."z").contains(first) else { return false }
        return id.unicodeScalars.allSatisfy { ("a"..."z").contains($0) || ("A"..."Z").contains($0) || ("0"..."9").contains($0) }
    }

    /// Whether one path is a prefix of the other (the conflict rule of update operators).
    func overlaps(_ other: UpdatePath) -> Bool {
        let n = min(elements.count, other.elements.count)
        for i in 0..<n where elements[i] != other.elements[i] { return false }
        return true
    }

    /// Orders paths as MongoDB applies them: component-wise, numeric components numerically.
    static func applicationOrder(_ a: UpdatePath, _ b: UpdatePath) -> Bool {
        let n = min(a.elements.count, b.elements.count)
        for i in 0..<n {
            let x = a.elements[i], y = b.elements[i]
            if x == y { continue }
            if let xi = x.arrayIndex, let yi = y.arrayIndex { return xi < yi }
            return compareUTF8(x.text, y.text) < 0
        }
        return a.elements.count < b.elements.count
    }
}
