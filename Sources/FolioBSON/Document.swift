/// An ordered, mutable BSON document: the owned form used to build and update documents.
///
/// Keys keep insertion order (MongoDB compares documents field by field in order). Keys are
/// compared byte-wise as UTF-8, never by Unicode equivalence.
public struct Document: Sendable {
    @usableFromInline var keys: [String]
    @usableFromInline var values: [BSON]

    /// An empty document.
    public init() {
        keys = []
        values = []
    }

    /// A document with the given fields in order. Later duplicates are kept as given
    /// (BSON allows repeated keys; lookups find the first).
    public init(_ elements: [(String, BSON)]) {
        keys = elements.map(\.0)
        values = elements.map(\.1)
    }

    /// Number of fields.
    public var count: Int { keys.count }
    public var isEmpty: Bool { keys.isEmpty }

    /// Field names in order.
    public var fieldNames: [String] { keys }
    /// Values in order.
    public var fieldValues: [BSON] { values }

    /// Reserves room for `n` fields.
    public mutating func reserveCapacity(_ n: Int) {
        keys.reserveCapacity(n)
        values.reserveCapacity(n)
    }

    /// The position of the first field named `key`.
    /// - Complexity: O(n) in the number of fields.
    @inlinable
    public func index(forKey key: String) -> Int? {
        var i = 0
        let n = keys.count
        while i < n {
            if utf8Equal(keys[i], key) { return i }
            i += 1
        }
        return nil
    }

    /// Reads or writes a top-level field. Setting `nil` removes it; setting an existing
    /// field keeps its position; a new field is appended.
    public subscript(key: String) -> BSON? {
        get { index(forKey: key).map { values[$0] } }
        set {
            if let i = index(forKey: key) {
                if let v = newValue { values[i] = v } else { keys.remove(at: i); values.remove(at: i) }
            } else if let v = newValue {
                keys.append(key)
                values.append(v)
            }
        }
    }

    /// Appends a field without checking for an existing one.
    public mutating func append(_ key: String, _ value: BSON) {
        keys.append(key)
        values.append(value)
    }

    /// Inserts a field at a position.
    public mutating func insert(_ key: String, _ value: BSON, at index: Int) {
        keys.insert(key, at: index)
        values.insert(value, at: index)
    }

    /// Removes the first field named `key` and returns its value.
    @discardableResult
    public mutating func removeValue(forKey key: String) -> BSON? {
        guard let i = index(forKey: key) else { return nil }
        keys.remove(at: i)
        return values.remove(at: i)
    }

    /// Removes the field at a position.
    public mutating func removeValue(at index: Int) {
        keys.remove(at: index)
        values.remove(at: index)
    }

    /// Replaces the value at a position.
    public mutating func setValue(_ value: BSON, at index: Int) { values[index] = value }

    /// The field at a position.
    public func element(at index: Int) -> (key: String, value: BSON) { (keys[index], values[index]) }

    /// Renames the field at a position, keeping its place.
    public mutating func setKey(_ key: String, at index: Int) { keys[index] = key }
}

extension Document: Sequence {
    public struct Iterator: IteratorProtocol {
        var index = 0
        let document: Document
        public mutating func next() -> (key: String, value: BSON)? {
            guard index < document.keys.count else { return nil }
            defer { index += 1 }
            return (document.keys[index], document.values[index])
        }
    }

    public func makeIterator() -> Iterator { Iterator(document: self) }
}

extension Document: Equatable {
    /// Structural equality: same keys (byte-wise) in the same order with structurally equal values.
    public static func == (lhs: Document, rhs: Document) -> Bool {
        guard lhs.keys.count == rhs.keys.count else { return false }
        for i in 0..<lhs.keys.count {
            guard utf8Equal(lhs.keys[i], rhs.keys[i]), lhs.values[i] == rhs.values[i] else { return false }
        }
        return true
    }
}

extension Document: ExpressibleByDictionaryLiteral {
    public init(dictionaryLiteral elements: (String, BSON)...) {
        self.init(elements)
    }
}

/// Byte-wise equality of two strings' UTF-8 (never Unicode canonical equivalence).
@inlinable
public func utf8Equal(_ a: String, _ b: String) -> Bool {
    // Native strings know their UTF-8 length in O(1): most keys differ already there.
    if a.utf8.count != b.utf8.count { return false }
    if let r = a.utf8.withContiguousStorageIfAvailable({ x in
        b.utf8.withContiguousStorageIfAvailable { y -> Bool in
            var i = 0
            while i < x.count {
                if x[i] != y[i] { return false }
                i += 1
            }
            return true
        }
    }), let result = r {
        return result
    }
    return a.utf8.elementsEqual(b.utf8)
}
