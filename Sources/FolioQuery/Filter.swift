import FolioBSON

/// A compiled query filter: the parsed `MatchExpression` plus, for the common conjunction of
/// comparisons on top-level fields, a flat program that reads the document's bytes through
/// one borrowed pointer (no reference counting per field, no decoding).
///
/// Back-of-the-envelope for `{status: "active", age: {$gt: 30}, country: "FR"}` on a 1 KB
/// document: three key scans over at most ten short keys, value skips are O(1) by length,
/// three byte/number comparisons, zero allocations.
public struct Filter: Sendable {
    public let expression: MatchExpression
    let program: [FastComparison]
    /// Predicates the program does not cover, evaluated by the general matcher.
    let rest: [MatchExpression]

    /// Parses and compiles a filter document.
    public init(parsing filter: Document, constants: [String: BSON] = [:], collator: (any Collator)? = nil) throws(FolioError) {
        self.init(try MatchExpression(parsing: filter, constants: constants, collator: collator))
    }

    public init(_ expression: MatchExpression) {
        self.expression = expression
        var program: [FastComparison] = []
        var rest: [MatchExpression] = []
        let conjuncts: [MatchExpression]
        if case .and(let children) = expression { conjuncts = children } else { conjuncts = [expression] }
        for c in conjuncts {
            guard case .path(let path, let predicates) = c, path.count == 1 else { rest.append(c); continue }
            var leftovers: [PathPredicate] = []
            for p in predicates {
                if let fast = FastComparison(key: path.components[0], predicate: p, fallback: .path(path, [p])) {
                    program.append(fast)
                } else {
                    leftovers.append(p)
                }
            }
            if !leftovers.isEmpty { rest.append(.path(path, leftovers)) }
        }
        self.program = program
        self.rest = rest
    }

    /// Whether the raw document matches.
    public func matches(_ document: RawDocument) -> Bool {
        if !program.isEmpty {
            let ok = document.storage.withUnsafeBufferPointer { buf -> Bool in
                let base = buf.baseAddress!
                for step in program {
                    switch step.evaluate(base, start: document.start, end: document.start + document.byteCount - 1) {
                    case .yes: continue
                    case .no: return false
                    case .undecided: if !step.fallback.matches(document) { return false }
                    }
                }
                return true
            }
            if !ok { return false }
        }
        for e in rest where !e.matches(document) { return false }
        return true
    }

    public func matches(_ document: Document) -> Bool { matches(document.raw) }

    /// A verdict from borrowed bytes without copying them: false or true when the compiled
    /// program decides alone, nil when the general matcher must see the whole document.
    public func quickVerdict(_ bytes: UnsafeBufferPointer<UInt8>) -> Bool? {
        guard let base = bytes.baseAddress, bytes.count >= 5 else { return nil }
        var undecided = false
        for step in program {
            switch step.evaluate(base, start: 0, end: bytes.count - 1) {
            case .yes: continue
            case .no: return false
            case .undecided: undecided = true
            }
        }
        return undecided || !rest.isEmpty ? nil : true
    }
}

/// One comparison of a top-level field with a number, string or boolean operand.
struct FastComparison: Sendable {
    enum Operator: Sendable { case eq, ne, gt, gte, lt, lte }
    enum Operand: Sendable {
        case int(Int64)
        case double(Double)
        case string([UInt8])
        case bool(Bool)
    }
    enum Outcome { case yes, no, undecided }

    let key: [UInt8]
    let op: Operator
    let operand: Operand
    /// The general form, for arrays and NaN.
    let fallback: MatchExpression

    init?(key: String, predicate: PathPredicate, fallback: MatchExpression) {
        let value: BSON
        switch predicate {
        case .eq(let v): op = .eq; value = v
        case .ne(let v): op = .ne; value = v
        case .gt(let v): op = .gt; value = v
        case .gte(let v): op = .gte; value = v
        case .lt(let v): op = .lt; value = v
        case .lte(let v): op = .lte; value = v
        default: return nil
        }
        switch value {
        case .int32(let i): operand = .int(Int64(i))
        case .int64(let i): operand = .int(i)
        case .double(let d) where !d.isNaN: operand = .double(d)
        case .string(let s): operand = .string(Array(s.utf8))
        case .bool(let b): operand = .bool(b)
        default: return nil
        }
        self.key = Array(key.utf8)
        self.fallback = fallback
    }

    /// Result of `value op operand` for a value in the same type bracket.
    @inline(__always)
    func accept(_ c: Int) -> Bool {
        switch op {
        case .eq: return c == 0
        case .ne: return c != 0
        case .gt: return c > 0
        case .gte: return c >= 0
        case .lt: return c < 0
        case .lte: return c <= 0
        }
    }

    /// Evaluates on the document at `start` whose terminator is at `end`.
    @inline(__always)
    func evaluate(_ base: UnsafePointer<UInt8>, start: Int, end: Int) -> Outcome {
        guard let (typeByte, offset) = key.withUnsafeBufferPointer({ rawLookup(base, start: start, end: end, key: $0) }) else {
            // Missing: only $ne matches (the operand is never null here).
            return op == .ne ? .yes : .no
        }
        let c: Int
        switch (typeByte, operand) {
        case (0x10, .int(let b)):
            let a = Int64(Int32(littleEndian: UnsafeRawPointer(base + offset).loadUnaligned(as: Int32.self)))
            c = a == b ? 0 : (a < b ? -1 : 1)
        case (0x12, .int(let b)):
            let a = Int64(littleEndian: UnsafeRawPointer(base + offset).loadUnaligned(as: Int64.self))
            c = a == b ? 0 : (a < b ? -1 : 1)
        case (0x01, .int(let b)):
            let a = Double(bitPattern: UInt64(littleEndian: UnsafeRawPointer(base + offset).loadUnaligned(as: UInt64.self)))
            if a.isNaN { return .undecided }
            c = BSON.compareDoubleToInt64(a, b)
        case (0x01, .double(let b)):
            let a = Double(bitPattern: UInt64(littleEndian: UnsafeRawPointer(base + offset).loadUnaligned(as: UInt64.self)))
            if a.isNaN { return .undecided }
            c = a == b ? 0 : (a < b ? -1 : 1)
        case (0x10, .double(let b)):
            let a = Int64(Int32(littleEndian: UnsafeRawPointer(base + offset).loadUnaligned(as: Int32.self)))
            c = -BSON.compareDoubleToInt64(b, a)
        case (0x12, .double(let b)):
            let a = Int64(littleEndian: UnsafeRawPointer(base + offset).loadUnaligned(as: Int64.self))
            c = -BSON.compareDoubleToInt64(b, a)
        case (0x02, .string(let b)), (0x0E, .string(let b)):
            let n = Int(Int32(littleEndian: UnsafeRawPointer(base + offset).loadUnaligned(as: Int32.self))) - 1
            c = b.withUnsafeBufferPointer { compareByteBuffers(UnsafeBufferPointer(start: base + offset + 4, count: n), $0) }
        case (0x08, .bool(let b)):
            let a = base[offset] != 0
            c = a == b ? 0 : (!a ? -1 : 1)
        case (0x04, _), (0x13, _):
            // Arrays (element semantics) and decimals go the general way.
            return .undecided
        default:
            // A different type bracket: only $ne matches.
            return op == .ne ? .yes : .no
        }
        return accept(c) ? .yes : .no
    }
}
